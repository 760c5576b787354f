#!/usr/bin/python3
"""Explanations (#16): `grove predict --contribs` and `--leaves` against the libraries.

Usage:
  /usr/bin/python3 tests/explain/run_explain.py --grove build/grove --workdir /tmp/grove-explain

1. XGBoost: models of every split kind grove accepts, made by tests/golden/gen_models.py
   (numeric, missing values and default directions, categorical one-hot and partition,
   dart, forests, multi-class, base scores), each compared with XGBoost's own
   `predict(pred_contribs=True)` and `predict(pred_leaf=True)` on the same rows, JSON and
   UBJSON. Tolerance per value: 1e-5 x max(1, the row's sum of |reference contributions|);
   leaves exact. Every group's contributions must also sum to XGBoost's margin.
2. LightGBM: the fixtures' contrib.csv / leaves.csv, written by LightGBM 4.6 itself
   (tests/lightgbm/fixtures, first 300 rows), within each meta's tolerance.
3. Refusals: linear trees, and a model without covers (which still predicts).
Prints TAP; exit status 1 if any test failed.
"""
import argparse
import contextlib
import gzip
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import cpu_isa  # noqa: E402
GOLDEN = os.path.join(HERE, "..", "golden")
LGB_FIXTURES = os.path.join(HERE, "..", "lightgbm", "fixtures")
TIMEOUT = 300
# gen_models.py cases that cover the split kinds and model shapes.
XGB_CASES = ["binary_logistic", "reg_squarederror", "multi_softprob", "dart_binary",
             "dart_multiclass_weighted", "rf_classifier", "boosted_forest", "multi_forest",
             "lossguide_deep", "cat_onehot_and_partition", "cat_partition", "cat_train_missing",
             "train_missing", "base_score_logistic", "base_score_poisson", "no_feature_names",
             "named_shuffled_columns", "no_trees"]
LGB_CONTRIBS = ["adult_binary_cat", "multiclass4_missing", "regression_missing", "zero_band",
                "big_sum_1500", "rf_binary_raw"]
LGB_LEAVES = LGB_CONTRIBS + ["linear_tree_regression", "linear_tree_binary"]

count = 0
failed = 0


def check(ok, name, detail=None):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", count, name))
    if not ok:
        failed += 1
        if detail:
            for line in str(detail).splitlines()[:20]:
                print("#   " + line)
    sys.stdout.flush()


# The contributions' walks differ by ISA and batch (explain.c's own, the scalar oracle;
# explain_lanes.h's rows in vector lanes, in double or float; explain_trees_avx512.c's and
# explain_trees_avx2.c's trees in lanes, for small batches): each is held to the library's
# values. A walk that does not apply (an ISA the CPU lacks, a forest without the trees'
# tables) falls back to one that does, which is then checked twice. A walk is one or more
# NAME=VALUE settings, comma-separated.
AVX2_TREES = "GROVE_ISA=avx2,GROVE_EXPLAIN_WALK=trees"
WALKS = (None, "GROVE_EXPLAIN_WALK=trees", AVX2_TREES, "GROVE_ISA=avx2", "GROVE_ISA=scalar")


# The ISA each walk needs: on a CPU without it the engine would quietly run another walk.
WALK_ISA = {"GROVE_EXPLAIN_WALK=trees": "avx512", AVX2_TREES: "avx2", "GROVE_ISA=avx2": "avx2"}


def runnable_walks(args):
    """WALKS without those whose ISA this CPU lacks (each reported by cannot_run)."""
    isa = cpu_isa.cpu_isa(args.grove)
    walks = []
    for walk in WALKS:
        need = WALK_ISA.get(walk)
        if need and not cpu_isa.runs(isa, need):
            cpu_isa.cannot_run(check, "contributions by the walk of %s" % walk,
                               "the CPU runs %s kernels, the walk needs %s" % (isa, need), need)
        else:
            walks.append(walk)
    return tuple(walks)


def walk_label(walk):
    return " [%s]" % walk if walk else ""


def grove(args, *argv, walk=None):
    env = dict(os.environ)
    for setting in walk.split(",") if walk else ():
        name, value = setting.split("=")
        env[name] = value
    return subprocess.run([args.grove] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=TIMEOUT, env=env)


def grove_values(args, model, csv, flag, walk=None):
    r = grove(args, "predict", model, "--input", csv, flag, walk=walk)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return [[float(v) for v in line.split(",") if v] for line in r.stdout.splitlines()], None


def read_matrix(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [[float(v) for v in line.strip().split(",")] if line.strip() else None
                for line in f]


def worst_contrib(got, want, rel):
    """(values out of tolerance, largest |diff| / max(1, row's sum |want|)); rows that are
    None in WANT are skipped."""
    bad, big = 0, 0.0
    if len(got) != len(want):
        return len(want) + 1, math.inf
    for g, w in zip(got, want):
        if w is None:
            continue
        if len(g) != len(w):
            return len(want) + 1, math.inf
        scale = max(1.0, sum(abs(v) for v in w))
        for a, b in zip(g, w):
            d = abs(a - b) / scale
            big = max(big, d)
            bad += not d <= rel
    return bad, big


def leaves_differ(got, want):
    if len(got) != len(want):
        return len(want) + 1
    return sum(1 for g, w in zip(got, want) if w is not None and g != w)


# ------------------------------------------------------------------ 1. XGBoost

def generate_xgboost(workdir):
    """Runs the chosen gen_models.py cases with an emit() that also writes XGBoost's
    contributions and leaves (rows with inf are left out: XGBoost's DMatrix refuses them)."""
    sys.path.insert(0, GOLDEN)
    import numpy as np
    import xgboost as xgb
    import gen_models as gm
    emit = gm.emit

    def emit_explained(outdir, name, booster, X, *a, **kw):
        mj = emit(outdir, name, booster, X, *a, **kw)
        finite = ~np.isinf(X).any(axis=1)
        types = booster.feature_types
        dm = xgb.DMatrix(X[finite], feature_names=booster.feature_names, feature_types=types,
                         missing=np.nan, enable_categorical=bool(types and "c" in types))
        contribs = booster.predict(dm, pred_contribs=True).reshape(int(finite.sum()), -1)
        leaves = booster.predict(dm, pred_leaf=True).reshape(int(finite.sum()), -1)
        margins = booster.predict(dm, output_margin=True).reshape(int(finite.sum()), -1)
        for fname, m in (("contribs.csv", contribs), ("leaves.csv", leaves),
                         ("margins.csv", margins)):
            it = iter(m)
            with open(os.path.join(outdir, name, fname), "w") as f:
                for ok in finite:
                    f.write(",".join(repr(float(v)) for v in next(it)) + "\n" if ok else "\n")
        return mj

    gm.emit = emit_explained
    with contextlib.redirect_stdout(sys.stderr):  # its notes are not TAP
        for case in gm.CASES:
            if case.__name__ in XGB_CASES:
                case(workdir)


def test_xgboost(args):
    work = os.path.join(args.workdir, "xgboost")
    os.makedirs(work, exist_ok=True)
    generate_xgboost(work)
    for name in XGB_CASES:
        d = os.path.join(work, name)
        csv = os.path.join(d, "input.csv")
        want = read_matrix(os.path.join(d, "contribs.csv"))
        want_leaves = read_matrix(os.path.join(d, "leaves.csv"))
        margins = read_matrix(os.path.join(d, "margins.csv"))
        for walk in WALKS[1:]:
            got, err = grove_values(args, os.path.join(d, "model.json"), csv, "--contribs", walk)
            bad, big = worst_contrib(got or [], want, 1e-5)
            check(got is not None and bad == 0,
                  "%s: contributions agree with XGBoost's pred_contribs (max diff %.3g of the "
                  "row's scale)%s" % (name, big, walk_label(walk)), err or "%d values off" % bad)
        # Every lane of the trees walks does the float rows walk's operations in its order:
        # the same bits, so the same text (shortest round trip) whichever walk answers.
        rows_walk = grove(args, "predict", os.path.join(d, "model.json"), "--input", csv,
                          "--contribs", walk="GROVE_ISA=avx2,GROVE_EXPLAIN_WALK=rows")
        for walk in (w for w in WALKS if w and "trees" in w):
            r = grove(args, "predict", os.path.join(d, "model.json"), "--input", csv, "--contribs",
                      walk=walk)
            same = r.returncode == 0 and rows_walk.returncode == 0 and r.stdout == rows_walk.stdout
            check(same, "%s: the trees walk's contributions are the rows walk's, bit for bit%s"
                  % (name, walk_label(walk)), (r.stderr + rows_walk.stderr).strip() or
                  "first differing line: %s" % next(
                      (i for i, (a, b) in enumerate(zip(r.stdout.splitlines(),
                                                        rows_walk.stdout.splitlines())) if a != b),
                      "(lengths)"))
        for model in ("model.json", "model.ubj"):
            got, err = grove_values(args, os.path.join(d, model), csv, "--contribs")
            if got is None:
                check(False, "%s/%s: grove predict --contribs" % (name, model), err)
                continue
            bad, big = worst_contrib(got, want, 1e-5)
            check(bad == 0, "%s/%s: contributions agree with XGBoost's pred_contribs "
                  "(max diff %.3g of the row's scale)" % (name, model, big), "%d values off" % bad)
            ngroups = len(next(m for m in margins if m))
            width = len(got[0]) // ngroups
            sums = [[sum(g[k * width:(k + 1) * width]) for k in range(len(m))] if m else None
                    for g, m in zip(got, margins)]
            bad, big = worst_contrib(sums, margins, 1e-5)
            check(bad == 0, "%s/%s: each group's contributions sum to XGBoost's margin "
                  "(max diff %.3g)" % (name, model, big))
            got, err = grove_values(args, os.path.join(d, model), csv, "--leaves")
            bad = leaves_differ(got or [], want_leaves)
            check(got is not None and bad == 0,
                  "%s/%s: leaves are XGBoost's pred_leaf node ids" % (name, model),
                  err or "%d rows differ" % bad)


# ------------------------------------------------------------------ 2. LightGBM

def lgb_model(args, name):
    path = os.path.join(args.workdir, name + ".txt")
    with gzip.open(os.path.join(LGB_FIXTURES, name + ".model.txt.gz"), "rt") as f, \
            open(path, "w") as out:
        out.write(f.read())
    return path


def test_lightgbm(args):
    for name in LGB_LEAVES:
        model = lgb_model(args, name)
        csv = os.path.join(LGB_FIXTURES, name + ".in.csv")
        with open(os.path.join(LGB_FIXTURES, name + ".meta")) as f:
            meta = json.load(f)
        tol_abs, tol_rel = meta.get("tol_abs", 1e-5), meta.get("tol_rel", 1e-5)
        for walk in WALKS if name in LGB_CONTRIBS else ():
            want = read_matrix(os.path.join(LGB_FIXTURES, name + ".contrib.csv.gz"))
            got, err = grove_values(args, model, csv, "--contribs", walk)
            bad, big = len(want), math.inf
            if got is not None and len(got) == len(want):
                diffs = [(abs(a - b), tol_abs + tol_rel * abs(b))
                         for g, w in zip(got, want) for a, b in zip(g, w)]
                bad = sum(1 for d, t in diffs if not d <= t) + sum(
                    1 for g, w in zip(got, want) if len(g) != len(w))
                big = max(d for d, _ in diffs)
            check(bad == 0, "%s: contributions agree with LightGBM 4.6's predict_contrib "
                  "(max |diff| %.3g, tolerance %g + %g relative)%s"
                  % (name, big, tol_abs, tol_rel, walk_label(walk)), err or "%d values off" % bad)
        want = read_matrix(os.path.join(LGB_FIXTURES, name + ".leaves.csv.gz"))
        got, err = grove_values(args, model, csv, "--leaves")
        bad = leaves_differ(got or [], want)
        check(got is not None and bad == 0,
              "%s: leaves are LightGBM 4.6's predict_leaf_index" % name, err or "%d rows differ" % bad)


# ------------------------------------------------------------------ scikit-learn

def brute_force_contribs(mj, row):
    """Path-dependent Shapley values by definition, every subset of features enumerated:
    E[tree | x_S] follows the row at splits on features in S and averages the children by
    cover elsewhere; phi_i = sum over S of |S|! (n-|S|-1)! / n! (E[S + i] - E[S]). An oracle
    independent of TreeSHAP's path algebra, for a few features only."""
    import itertools
    import numpy as np
    nf = len(row)
    trees = mj["learner"]["gradient_booster"]["model"]["trees"]
    info = mj["learner"]["gradient_booster"]["model"]["tree_info"]
    groups = max(info) + 1 if info else 1
    out = [0.0] * (groups * (nf + 1))

    def expect(t, node, subset):
        left, right = t["left_children"][node], t["right_children"][node]
        if left == -1:
            return float(np.float32(t["split_conditions"][node]))
        f = t["split_indices"][node]
        if f in subset:
            x = row[f]
            go_left = bool(t["default_left"][node]) if math.isnan(x) else \
                np.float32(x) < np.float32(t["split_conditions"][node])
            return expect(t, left if go_left else right, subset)
        c = t["sum_hessian"]
        return (c[left] * expect(t, left, subset) + c[right] * expect(t, right, subset)) / c[node]

    weight = [math.factorial(k) * math.factorial(nf - k - 1) / math.factorial(nf) for k in range(nf)]
    for t, g in zip(trees, info):
        base = g * (nf + 1)
        out[base + nf] += expect(t, 0, set())
        for k in range(nf):
            for subset in itertools.combinations(range(nf), k):
                e = expect(t, 0, set(subset))
                for i in range(nf):
                    if i not in subset:
                        out[base + i] += weight[k] * (expect(t, 0, set(subset) | {i}) - e)
    return out


def test_sklearn(args):
    """Converted scikit-learn models (covers: the weighted sample counts the converter writes
    as sum_hessian) against Shapley values computed by definition on the converted JSON (XGBoost
    1.7 does not score the converter's JSON as scikit-learn does, so it is no oracle here)."""
    import pickle
    import numpy as np
    from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestRegressor)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((600, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    w = rng.uniform(0.5, 2.0, len(X))
    estimators = {
        "gradient_boosting_binary": (GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                                                random_state=0), y > 0),
        "random_forest_weighted": (RandomForestRegressor(n_estimators=10, max_depth=6,
                                                         random_state=0), X[:, 0] + X[:, 4]),
        "hist_gradient_boosting_3class": (HistGradientBoostingClassifier(max_iter=10,
                                                                         random_state=0), y),
    }
    for name, (est, target) in estimators.items():
        est.fit(X, target, sample_weight=w if name == "random_forest_weighted" else None)
        pkl, model = (os.path.join(args.workdir, name + ext) for ext in (".pkl", ".json"))
        with open(pkl, "wb") as f:
            pickle.dump(est, f)
        r = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "models",
                                                         "convert_sklearn.py"), pkl,
                            "--output", model], stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode != 0:
            check(False, "%s: converted" % name, r.stderr)
            continue
        rows = X[:200].copy()
        rows[rng.random(rows.shape) < 0.05] = np.nan
        csv = os.path.join(args.workdir, name + ".csv")
        with open(csv, "w") as f:
            f.write(",".join("f%d" % i for i in range(5)) + "\n")
            for row in rows:
                f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
        with open(model) as f:
            mj = json.load(f)
        want = [brute_force_contribs(mj, [float(v) for v in row]) for row in rows[:40]]
        for walk in WALKS:
            got, err = grove_values(args, model, csv, "--contribs", walk)
            bad, big = worst_contrib((got or [])[:40], want, 1e-5)
            check(got is not None and bad == 0,
                  "scikit-learn %s, converted: contributions are the Shapley values computed by "
                  "definition (max diff %.3g of the row's scale)%s" % (name, big, walk_label(walk)),
                  err or "%d values off" % bad)


# ------------------------------------------------------------------ 3. refusals

def test_refusals(args):
    model = lgb_model(args, "linear_tree_regression")
    csv = os.path.join(LGB_FIXTURES, "linear_tree_regression.in.csv")
    r = grove(args, "predict", model, "--input", csv, "--contribs")
    check(r.returncode == 1 and "linear trees" in r.stderr and r.stdout == "",
          "linear trees: --contribs is refused saying why", r.stderr)
    src = os.path.join(args.workdir, "xgboost", "binary_logistic")
    with open(os.path.join(src, "model.json")) as f:
        mj = json.load(f)
    for tree in mj["learner"]["gradient_booster"]["model"]["trees"]:
        del tree["sum_hessian"]
    path = os.path.join(args.workdir, "no_covers.json")
    with open(path, "w") as f:
        json.dump(mj, f)
    csv = os.path.join(src, "input.csv")
    r = grove(args, "predict", path, "--input", csv, "--contribs")
    check(r.returncode == 1 and "no node covers" in r.stderr and r.stdout == "",
          "a model without sum_hessian: --contribs is refused saying why", r.stderr)
    r2 = grove(args, "predict", path, "--input", csv)
    r3 = grove(args, "predict", os.path.join(src, "model.json"), "--input", csv)
    check(r2.returncode == 0 and r2.stdout == r3.stdout and r2.stdout,
          "a model without sum_hessian still predicts as with it", r2.stderr)
    r = grove(args, "predict", model, "--input", csv, "--contribs", "--leaves")
    check(r.returncode == 2 and "exclude each other" in r.stderr,
          "--contribs with --leaves is refused as bad usage", r.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for option in ("--grove", "--workdir"):
        ap.add_argument(option, required=True)
    args = ap.parse_args()
    args.grove = os.path.abspath(args.grove)
    os.makedirs(args.workdir, exist_ok=True)
    global WALKS
    WALKS = runnable_walks(args)
    for part in (test_xgboost, test_lightgbm, test_sklearn, test_refusals):
        part(args)  # test_refusals reads a model test_xgboost wrote
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
