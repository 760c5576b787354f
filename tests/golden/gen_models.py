#!/usr/bin/python3
"""Generate golden test cases: small XGBoost models + eval inputs + XGBoost's predictions.

Usage: /usr/bin/python3 tests/golden/gen_models.py OUTDIR [--only CASE[,CASE...]]

For every case writes OUTDIR/<case>/{model.json,input.csv,expected.csv,
expected_margin.csv,meta.json}.  Cases whose objective this XGBoost build does
not know (e.g. reg:quantileerror before XGBoost 2.0) are listed in
OUTDIR/skipped.json instead.

Everything is deterministic (numpy default_rng seeds, seed=0, nthread=2).
Eval inputs are float32 values (what XGBoost's DMatrix stores), written with
%.9g so grove's strtod+float cast sees bit-identical values.  They contain
NaN (written as "", "nan", "NaN" or "NA"), +-inf, values exactly equal to
the model's split thresholds (and the float32 just below them), and, for
categorical features, invalid codes (-1, 2.5, beyond training cardinality,
1e9, 3e7, 1e30, inf, ...).

Expected values come from Booster.predict(DMatrix(X, missing=nan, ...)).
XGBoost 1.7's DMatrix refuses +-inf ("Input data contains `inf` or `nan`"),
so rows containing +-inf are predicted with Booster.inplace_predict(X,
missing=nan) instead; the script checks that inplace_predict agrees exactly
with DMatrix predict on all the other rows of the case.
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb

NTHREAD = 2
F32 = np.float32

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


class Skip(Exception):
    pass


# ----------------------------------------------------------------- data ----

def make_x(rng, n, p):
    """float32 features: a mix of normal, uniform and coarse (many ties) columns."""
    cols = []
    for j in range(p):
        k = j % 3
        if k == 0:
            c = rng.normal(size=n)
        elif k == 1:
            c = rng.uniform(-3, 3, size=n)
        else:
            c = rng.integers(0, 12, size=n) * 0.25  # ties -> thresholds between grid values
        cols.append(c)
    return np.stack(cols, axis=1).astype(F32)


def signal(X):
    """A nonlinear score used to build labels."""
    X = X.astype(np.float64)
    s = 1.2 * X[:, 0] - 0.8 * (X[:, 1] > 0.5) + 0.5 * X[:, 2] * (X[:, 0] > 0)
    if X.shape[1] > 3:
        s += 0.6 * np.sin(2 * X[:, 3])
    if X.shape[1] > 4:
        s += 0.4 * np.abs(X[:, 4]) - 0.3
    return s


def walk_tree(tree, x, plant, rng):
    """Follow one tree for row x (modified in place).  At each numeric split
    whose feature was not set yet, set it to the threshold (or just below it)."""
    left, right = tree["left_children"], tree["right_children"]
    idx, cond = tree["split_indices"], tree["split_conditions"]
    stype = tree.get("split_type", [0] * len(left))
    dleft = tree["default_left"]
    node, done = 0, set()
    while left[node] != -1:
        f = idx[node]
        if stype[node] != 0 or f not in plant:
            break
        thr = F32(cond[node])
        if f not in done:
            done.add(f)
            r = rng.random()
            if r < 0.6:
                x[f] = thr
            elif r < 0.8:
                x[f] = np.nextafter(thr, F32(-np.inf), dtype=F32)
            # else: keep the original value
        v = x[f]
        if np.isnan(v):
            node = left[node] if dleft[node] else right[node]
        else:
            node = left[node] if v < thr else right[node]


def thresholds(model_json):
    out = {}
    for t in model_json["learner"]["gradient_booster"]["model"]["trees"]:
        st = t.get("split_type", [0] * len(t["left_children"]))
        for i, l in enumerate(t["left_children"]):
            if l != -1 and st[i] == 0:
                out.setdefault(t["split_indices"][i], set()).add(float(F32(t["split_conditions"][i])))
    return out


def trees_of(model_json):
    gb = model_json["learner"]["gradient_booster"]
    return (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]["trees"]


CAT_SPECIALS = [-1.0, -0.5, 2.5, 0.999, 1e9, 3e7, 1e30, np.inf, -np.inf, np.nan,
                16777215.0, 16777216.0, 31.0, 32.0, 33.0, 50.0, 63.0, 64.0, 65.0, 1000.0]


def eval_input(rng, booster, X, cat_cols=(), cat_card=None, nan_rate=0.06, inf=True):
    """Take clean eval rows X (float32, n x p) and plant edge cases."""
    X = X.copy()
    n, p = X.shape
    mj = json.loads(booster.save_raw("json"))
    trees = trees_of(mj)
    num_cols = [j for j in range(p) if j not in cat_cols]
    thr = thresholds({"learner": {"gradient_booster": {"model": {"trees": trees}}}})
    # 1) rows 0..n/3: walk a random tree, planting exact thresholds on the path
    for r in range(n // 3):
        t = trees[rng.integers(len(trees))]
        walk_tree(t, X[r], set(num_cols), rng)
    # 2) rows n/3..n/2: every numeric feature set to a random threshold of that feature
    for r in range(n // 3, n // 2):
        for f, s in thr.items():
            if f in num_cols and rng.random() < 0.7:
                X[r, f] = F32(rng.choice(sorted(s)))
    # 3) NaNs everywhere (numeric + categorical)
    mask = rng.random(X.shape) < nan_rate
    X[mask] = np.nan
    # a few fully-missing rows
    X[n - 1, :] = np.nan
    # 4) +-inf on numeric features in ~3% of rows
    if inf and num_cols:
        for r in rng.choice(n, size=max(2, n // 30), replace=False):
            X[r, rng.choice(num_cols)] = F32(np.inf if rng.random() < 0.5 else -np.inf)
    # 5) categorical specials
    for c in cat_cols:
        card = cat_card[c]
        specials = CAT_SPECIALS + [float(card), float(card + 1), float(card - 1) + 0.5]
        rows = rng.choice(n, size=n // 4, replace=False)
        for r in rows:
            X[r, c] = F32(specials[rng.integers(len(specials))])
        # make sure every special appears at least once
        for k, v in enumerate(specials):
            X[(7 * k + 3) % n, c] = F32(v)
    return X


# --------------------------------------------------------------- writing ----

KIND = {
    "binary:logistic": "prob", "reg:logistic": "prob", "multi:softprob": "prob",
    "binary:hinge": "class", "multi:softmax": "class",
}

NA_TOKENS = ["", "nan", "NaN", "NA"]


def fmt(v):
    return "%.9g" % v


def write_csv_matrix(path, M):
    M = np.asarray(M, dtype=np.float64)
    if M.ndim == 1:
        M = M[:, None]
    with open(path, "w") as f:
        for row in M:
            f.write(",".join(fmt(v) for v in row) + "\n")


def write_input(path, header, X, rng):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in X:
            out = []
            for v in row:
                if np.isnan(v):
                    out.append(NA_TOKENS[rng.integers(len(NA_TOKENS))])
                elif np.isinf(v):
                    out.append("inf" if v > 0 else "-inf")
                else:
                    out.append(fmt(float(v)))
            f.write(",".join(out) + "\n")


def predict_both(booster, X, feature_names, feature_types, margin):
    """Booster.predict on a DMatrix for finite rows, inplace_predict for rows with inf."""
    has_inf = np.isinf(X).any(axis=1)
    kw = dict(missing=np.nan, nthread=NTHREAD)
    if feature_types is not None and "c" in feature_types:
        kw["enable_categorical"] = True
    dm = xgb.DMatrix(X[~has_inf], feature_names=feature_names, feature_types=feature_types, **kw)
    p_dm = booster.predict(dm, output_margin=margin)
    p_ip = booster.inplace_predict(X, missing=np.nan,
                                   predict_type="margin" if margin else "value")
    p_ip = np.asarray(p_ip)
    if p_ip.shape[1:] != p_dm.shape[1:]:
        p_ip = p_ip.reshape((X.shape[0],) + p_dm.shape[1:])
    # Bit-identical except for dart multi-class, where the two paths round the
    # weighted sums differently (observed ~2e-7 with 1.7.4).
    a, b_ = p_ip[~has_inf].astype(np.float64), p_dm.astype(np.float64)
    d = np.abs(a - b_) / np.maximum(1.0, np.abs(b_))
    if d.size and d.max() > 2e-6:
        raise AssertionError("inplace_predict != DMatrix predict (max rel diff %g)" % d.max())
    out = p_ip.copy()
    out[~has_inf] = p_dm
    return out


def emit(outdir, name, booster, X, objective, rng, feature_names=None, header=None,
         col_order=None, extra_cols=None, extra_args=None, notes=None):
    """Write the case.  X is the float32 eval matrix in *model* feature order.
    col_order: permutation of model columns for input.csv; extra_cols: (name, values)
    appended as additional CSV columns."""
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    booster.save_model(os.path.join(d, "model.json"))
    booster.save_model(os.path.join(d, "model.ubj"))  # the same model as UBJSON
    fnames = booster.feature_names
    ftypes = booster.feature_types
    pred = predict_both(booster, X, fnames, ftypes, margin=False)
    marg = predict_both(booster, X, fnames, ftypes, margin=True)
    write_csv_matrix(os.path.join(d, "expected.csv"), pred)
    write_csv_matrix(os.path.join(d, "expected_margin.csv"), marg)
    if header is None:
        header = list(fnames) if fnames else ["f%d" % i for i in range(X.shape[1])]
    Xw, hw = X, list(header)
    if col_order is not None:
        Xw, hw = X[:, col_order], [header[i] for i in col_order]
    if extra_cols:
        for cname, vals in extra_cols:
            Xw = np.concatenate([Xw, np.asarray(vals, dtype=F32)[:, None]], axis=1)
            hw.append(cname)
    write_input(os.path.join(d, "input.csv"), hw, Xw, rng)
    mj = json.loads(booster.save_raw("json"))
    meta = {
        "kind": KIND.get(objective, "value"),
        "objective": objective,
        "rows": int(X.shape[0]),
        "num_features": int(X.shape[1]),
        "num_trees": len(trees_of(mj)),
        "booster": mj["learner"]["gradient_booster"]["name"],
        "base_score": mj["learner"]["learner_model_param"]["base_score"],
        "feature_names": bool(fnames),
        "pred_cols": int(1 if pred.ndim == 1 else pred.shape[1]),
        "margin_cols": int(1 if marg.ndim == 1 else marg.shape[1]),
    }
    if extra_args:
        meta["extra_args"] = extra_args
    if notes:
        meta["notes"] = notes
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return mj


def train(params, dtrain, rounds):
    p = {"nthread": NTHREAD, "seed": 0}
    p.update(params)
    try:
        return xgb.train(p, dtrain, rounds)
    except xgb.core.XGBoostError as e:
        msg = str(e).splitlines()[0]
        if msg.startswith("[") and "] " in msg:  # drop the "[hh:mm:ss] " log prefix
            msg = msg.split("] ", 1)[1]
        if "Unknown objective" in msg or "Unknown parameter" in msg:
            raise Skip(msg)
        raise


# ----------------------------------------------------------------- cases ----

NAMES6 = ["age", "income_k", "score.1", "ratio", "tenure_m", "z"]


def simple_case(outdir, name, objective, label_fn, seed, params=None, rounds=20,
                p=6, n_train=1500, n_eval=600, names=True, group=None):
    rng = np.random.default_rng(seed)
    X = make_x(rng, n_train, p)
    s = signal(X)
    y = label_fn(rng, s)
    fn = NAMES6[:p] if names else None
    dtrain = xgb.DMatrix(X, y, feature_names=fn, nthread=NTHREAD)
    if group is not None:
        qid = np.repeat(np.arange(n_train // group), group)
        dtrain.set_info(qid=qid)
    prm = {"objective": objective, "max_depth": 5, "eta": 0.3}
    prm.update(params or {})
    b = train(prm, dtrain, rounds)
    Xe = eval_input(rng, b, make_x(rng, n_eval, p))
    emit(outdir, name, b, Xe, objective, rng)


def binlabel(rng, s):
    return (s + 0.5 * rng.normal(size=s.shape) > 0).astype(np.float64)


def reglabel(rng, s):
    return 3 * s + 5 + 0.3 * rng.normal(size=s.shape)


@case
def binary_logistic(o):
    simple_case(o, "binary_logistic", "binary:logistic", binlabel, 1)


@case
def binary_logitraw(o):
    simple_case(o, "binary_logitraw", "binary:logitraw", binlabel, 2,
                params={"tree_method": "exact"})


@case
def binary_hinge(o):
    simple_case(o, "binary_hinge", "binary:hinge", binlabel, 3,
                params={"tree_method": "approx"})


@case
def reg_squarederror(o):
    simple_case(o, "reg_squarederror", "reg:squarederror", reglabel, 4, rounds=30)


@case
def reg_squaredlogerror(o):
    simple_case(o, "reg_squaredlogerror", "reg:squaredlogerror",
                lambda r, s: np.exp(0.5 * s) + 0.1 * r.random(size=s.shape), 5,
                params={"eta": 0.5})


@case
def reg_logistic(o):
    simple_case(o, "reg_logistic", "reg:logistic",
                lambda r, s: 1 / (1 + np.exp(-s + 0.2 * r.normal(size=s.shape))), 6)


@case
def reg_pseudohubererror(o):
    def lab(r, s):
        y = reglabel(r, s)
        out = r.random(size=s.shape) < 0.05
        y[out] += 30 * r.normal(size=out.sum())
        return y
    simple_case(o, "reg_pseudohubererror", "reg:pseudohubererror", lab, 7,
                params={"huber_slope": 2.0, "eta": 0.5}, rounds=30)


@case
def reg_absoluteerror(o):
    # base_score left unset: XGBoost 1.7 estimates it (median) and stores it
    simple_case(o, "reg_absoluteerror", "reg:absoluteerror",
                lambda r, s: reglabel(r, s) + r.laplace(size=s.shape), 8)


@case
def reg_quantileerror(o):
    simple_case(o, "reg_quantileerror", "reg:quantileerror", reglabel, 9,
                params={"quantile_alpha": 0.8})


@case
def count_poisson(o):
    simple_case(o, "count_poisson", "count:poisson",
                lambda r, s: r.poisson(np.exp(0.6 * s)).astype(np.float64), 10,
                params={"max_delta_step": 0.7})


@case
def reg_gamma(o):
    simple_case(o, "reg_gamma", "reg:gamma",
                lambda r, s: r.gamma(2.0, np.exp(0.5 * s) / 2.0), 11)


@case
def reg_tweedie(o):
    def lab(r, s):
        k = r.poisson(np.exp(0.4 * s))
        return np.array([r.gamma(2.0, 1.0, size=m).sum() for m in k])
    simple_case(o, "reg_tweedie", "reg:tweedie", lab, 12,
                params={"tweedie_variance_power": 1.4})


@case
def survival_cox(o):
    def lab(r, s):
        t = r.exponential(np.exp(-0.7 * s)) + 1e-3
        cens = r.random(size=s.shape) < 0.3
        t[cens] = -t[cens]
        return t
    simple_case(o, "survival_cox", "survival:cox", lab, 13, params={"eta": 0.1}, rounds=25)


def multilabel(k):
    def lab(r, s):
        z = s + 0.4 * r.normal(size=s.shape)
        qs = np.quantile(z, np.linspace(0, 1, k + 1)[1:-1])
        return np.searchsorted(qs, z).astype(np.float64)
    return lab


@case
def multi_softprob(o):
    simple_case(o, "multi_softprob", "multi:softprob", multilabel(4), 14,
                params={"num_class": 4, "max_depth": 4}, rounds=12)


@case
def multi_softmax(o):
    simple_case(o, "multi_softmax", "multi:softmax", multilabel(3), 15,
                params={"num_class": 3, "max_depth": 4, "tree_method": "hist"}, rounds=12)


def ranklabel(levels):
    def lab(r, s):
        z = s + 0.5 * r.normal(size=s.shape)
        if levels == 2:
            return (z > 0.3).astype(np.float64)
        return np.clip(np.floor(z + 2), 0, levels - 1)
    return lab


@case
def rank_pairwise(o):
    simple_case(o, "rank_pairwise", "rank:pairwise", ranklabel(5), 16, group=15)


@case
def rank_ndcg(o):
    simple_case(o, "rank_ndcg", "rank:ndcg", ranklabel(5), 17, group=20,
                params={"tree_method": "hist"})


@case
def rank_map(o):
    simple_case(o, "rank_map", "rank:map", ranklabel(2), 18, group=10)


@case
def dart_binary(o):
    name = "dart_binary"
    rng = np.random.default_rng(19)
    X = make_x(rng, 1500, 6)
    y = binlabel(rng, signal(X))
    d = xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD)
    b = train({"booster": "dart", "objective": "binary:logistic", "max_depth": 4, "eta": 0.3,
               "rate_drop": 0.3, "skip_drop": 0.0, "sample_type": "uniform",
               "normalize_type": "tree"}, d, 25)
    Xe = eval_input(rng, b, make_x(rng, 600, 6))
    mj = emit(o, name, b, Xe, "binary:logistic", rng)
    check_dart(b, mj, Xe)


@case
def dart_multiclass_weighted(o):
    name = "dart_multiclass_weighted"
    rng = np.random.default_rng(20)
    X = make_x(rng, 1500, 6)
    y = multilabel(3)(rng, signal(X))
    d = xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD)
    b = train({"booster": "dart", "objective": "multi:softprob", "num_class": 3, "max_depth": 3,
               "eta": 0.3, "rate_drop": 0.2, "skip_drop": 0.0, "sample_type": "weighted",
               "normalize_type": "forest", "tree_method": "hist"}, d, 15)
    Xe = eval_input(rng, b, make_x(rng, 500, 6))
    emit(o, name, b, Xe, "multi:softprob", rng)


def check_dart(b, mj, Xe):
    """Verify margin = base_margin + sum(weight_drop[t] * leaf_value[t]) (leaf values stored unweighted)."""
    gb = mj["learner"]["gradient_booster"]
    w = np.asarray(gb["weight_drop"], dtype=np.float64)
    trees = gb["gbtree"]["model"]["trees"]
    fin = ~np.isinf(Xe).any(axis=1)
    dm = xgb.DMatrix(Xe[fin], feature_names=b.feature_names, missing=np.nan)
    leaves = b.predict(dm, pred_leaf=True)
    m = b.predict(dm, output_margin=True)
    base = float(mj["learner"]["learner_model_param"]["base_score"])
    base = np.log(base / (1 - base))
    ref = np.full(len(m), base)
    for t, tr in enumerate(trees):
        ref += w[t] * np.asarray(tr["split_conditions"], dtype=np.float64)[leaves[:, t].astype(int)]
    err = np.abs(ref - m).max()
    assert err < 1e-4, "dart weighting assumption failed: %g" % err
    assert np.any(np.abs(w - 1) > 1e-6), "all dart weights are 1"


@case
def rf_classifier(o):
    name = "rf_classifier"
    rng = np.random.default_rng(21)
    X = make_x(rng, 1500, 6)
    y = binlabel(rng, signal(X))
    df = pd.DataFrame(X, columns=NAMES6)
    clf = xgb.XGBRFClassifier(n_estimators=8, max_depth=5, subsample=0.8, colsample_bynode=0.8,
                              n_jobs=NTHREAD, random_state=0, tree_method="hist")
    clf.fit(df, y)
    b = clf.get_booster()
    Xe = eval_input(rng, b, make_x(rng, 500, 6))
    emit(o, name, b, Xe, "binary:logistic", rng)


@case
def boosted_forest(o):
    simple_case(o, "boosted_forest", "binary:logistic", binlabel, 22, rounds=6,
                params={"num_parallel_tree": 4, "subsample": 0.7, "colsample_bynode": 0.7,
                        "max_depth": 4})


@case
def multi_forest(o):
    simple_case(o, "multi_forest", "multi:softprob", multilabel(4), 23, rounds=5,
                params={"num_class": 4, "num_parallel_tree": 3, "subsample": 0.7,
                        "colsample_bytree": 0.8, "max_depth": 3, "tree_method": "hist"})


@case
def lossguide_deep(o):
    name = "lossguide_deep"
    rng = np.random.default_rng(24)
    p = 10
    X = make_x(rng, 6000, p)
    y = reglabel(rng, signal(X)) + X[:, 5] * X[:, 6] + np.sin(3 * X[:, 7])
    d = xgb.DMatrix(X, y, feature_names=["g%d" % i for i in range(p)], nthread=NTHREAD)
    b = train({"objective": "reg:squarederror", "tree_method": "hist", "grow_policy": "lossguide",
               "max_leaves": 256, "max_depth": 0, "eta": 0.2, "min_child_weight": 1,
               "max_bin": 256}, d, 8)
    Xe = eval_input(rng, b, make_x(rng, 1000, p))
    mj = emit(o, name, b, Xe, "reg:squarederror", rng)
    depth = max(tree_depth(t) for t in trees_of(mj))
    leaves = max(sum(1 for l in t["left_children"] if l == -1) for t in trees_of(mj))
    assert leaves > 150, leaves
    print("   lossguide max depth %d, max leaves %d" % (depth, leaves))


def tree_depth(t):
    left, right = t["left_children"], t["right_children"]
    best, stack = 0, [(0, 0)]
    while stack:
        n, dd = stack.pop()
        best = max(best, dd)
        if left[n] != -1:
            stack += [(left[n], dd + 1), (right[n], dd + 1)]
    return best


def cat_frame(rng, n, cards, n_num):
    """DataFrame: n_num numeric float32 columns then categorical columns with integer
    categories 0..card-1 (so pandas codes == values)."""
    cols = {}
    Xn = make_x(rng, n, n_num)
    for j in range(n_num):
        cols["num%d" % j] = Xn[:, j]
    for j, k in enumerate(cards):
        cols["cat%d" % j] = pd.Categorical(rng.integers(0, k, size=n), categories=list(range(k)))
    return pd.DataFrame(cols)


def cat_signal(df, cards, rng):
    s = signal(np.stack([df["num%d" % j].to_numpy() for j in range(3)], axis=1))
    for j, k in enumerate(cards):
        codes = df["cat%d" % j].cat.codes.to_numpy()
        effect = rng.normal(size=k) * 1.5
        s = s + effect[codes]
    return s


def cat_case(o, name, seed, cards, params, objective="binary:logistic", rounds=15, n=3000,
             train_nan=0.0):
    rng = np.random.default_rng(seed)
    df = cat_frame(rng, n, cards, 3)
    s = cat_signal(df, cards, np.random.default_rng(seed + 1000))
    if objective == "binary:logistic":
        y = binlabel(rng, s)
    else:
        y = reglabel(rng, s)
    if train_nan:
        # informative missing categories: missing mostly where y is high/low,
        # alternating per feature, so default_left of categorical nodes varies
        hi = y > np.median(y)
        for j in range(len(cards)):
            c = "cat%d" % j
            m = (rng.random(n) < train_nan) & (hi if j % 2 == 0 else ~hi)
            df.loc[m, c] = np.nan
    d = xgb.DMatrix(df, y, enable_categorical=True, nthread=NTHREAD)
    prm = {"objective": objective, "tree_method": "hist", "max_depth": 5, "eta": 0.3}
    prm.update(params)
    b = train(prm, d, rounds)
    ev = cat_frame(rng, 800, cards, 3)
    Xe = np.stack([ev[c].to_numpy(dtype=np.float64) if ev[c].dtype.name != "category"
                   else ev[c].cat.codes.to_numpy().astype(np.float64) for c in ev.columns],
                  axis=1).astype(F32)
    cat_cols = [i for i, c in enumerate(ev.columns) if c.startswith("cat")]
    card = {i: cards[k] for k, i in enumerate(cat_cols)}
    Xe = eval_input(rng, b, Xe, cat_cols=cat_cols, cat_card=card)
    mj = emit(o, name, b, Xe, objective, rng)
    return mj


def cat_stats(mj):
    sizes, n_cat = [], 0
    for t in trees_of(mj):
        n_cat += sum(1 for v in t.get("split_type", []) if v == 1)
        sizes += t.get("categories_sizes", [])
    return n_cat, sizes


@case
def cat_onehot_and_partition(o):
    # cardinality-3 features -> one-hot splits (3 <= max_cat_to_onehot=8);
    # cardinality-30 feature -> partition splits (30 > 8)
    mj = cat_case(o, "cat_onehot_and_partition", 25, [3, 3, 30],
                  {"max_cat_to_onehot": 8, "max_cat_threshold": 64})
    n_cat, sizes = cat_stats(mj)
    assert n_cat > 0 and 1 in sizes and any(s > 1 for s in sizes), (n_cat, sorted(set(sizes)))
    print("   categorical splits %d, categories_sizes %s" % (n_cat, sorted(set(sizes))))


@case
def cat_partition(o):
    mj = cat_case(o, "cat_partition", 26, [40, 6, 20], {"max_cat_to_onehot": 1},
                  objective="reg:squarederror", rounds=20)
    n_cat, sizes = cat_stats(mj)
    assert n_cat > 0 and any(s > 1 for s in sizes), (n_cat, sorted(set(sizes)))
    print("   categorical splits %d, categories_sizes %s" % (n_cat, sorted(set(sizes))))


@case
def cat_train_missing(o):
    """Categorical model trained with missing categories: default_left varies on
    categorical nodes, which tells 'invalid category -> default direction'
    apart from 'invalid category -> left'."""
    mj = cat_case(o, "cat_train_missing", 37, [4, 25, 12], {"max_cat_to_onehot": 5},
                  rounds=20, train_nan=0.3)
    dl = [t["default_left"][nid] for t in trees_of(mj) for nid in t["categories_nodes"]]
    n_cat, sizes = cat_stats(mj)
    assert 0 < sum(dl) < len(dl), (sum(dl), len(dl))
    assert 1 in sizes and any(s > 1 for s in sizes), sorted(set(sizes))
    print("   categorical splits %d (default_left on %d), categories_sizes %s"
          % (n_cat, sum(dl), sorted(set(sizes))))


@case
def train_missing(o):
    name = "train_missing"
    rng = np.random.default_rng(27)
    X = make_x(rng, 2000, 6)
    y = binlabel(rng, signal(X))
    Xm = X.copy()
    # missingness informative and feature dependent -> default_left differs between nodes
    Xm[(rng.random(X.shape) < 0.25) & (y[:, None] > 0) & (np.arange(6) % 2 == 0)] = np.nan
    Xm[(rng.random(X.shape) < 0.25) & (y[:, None] == 0) & (np.arange(6) % 2 == 1)] = np.nan
    d = xgb.DMatrix(Xm, y, feature_names=NAMES6, missing=np.nan, nthread=NTHREAD)
    b = train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.3, "tree_method": "hist"},
              d, 20)
    Xe = eval_input(rng, b, make_x(rng, 600, 6), nan_rate=0.2)
    mj = emit(o, name, b, Xe, "binary:logistic", rng)
    dl = [v for t in trees_of(mj) for i, v in enumerate(t["default_left"])
          if t["left_children"][i] != -1]
    assert 0 < sum(dl) < len(dl), (sum(dl), len(dl))


@case
def base_score_logistic(o):
    simple_case(o, "base_score_logistic", "binary:logistic", binlabel, 28,
                params={"base_score": 0.3}, rounds=10)


@case
def base_score_regression(o):
    simple_case(o, "base_score_regression", "reg:squarederror", reglabel, 29,
                params={"base_score": 10.0, "eta": 0.1}, rounds=15)


@case
def base_score_poisson(o):
    simple_case(o, "base_score_poisson", "count:poisson",
                lambda r, s: r.poisson(np.exp(0.6 * s)).astype(np.float64), 30,
                params={"base_score": 2.5}, rounds=10)


@case
def no_feature_names(o):
    simple_case(o, "no_feature_names", "reg:squarederror", reglabel, 31, names=False,
                params={"tree_method": "approx"})


@case
def no_feature_names_multi(o):
    simple_case(o, "no_feature_names_multi", "multi:softmax", multilabel(5), 32, names=False,
                params={"num_class": 5, "max_depth": 3}, rounds=8)


@case
def named_shuffled_columns(o):
    """Model with feature names; input.csv columns in a different order (matched by name)."""
    name = "named_shuffled_columns"
    rng = np.random.default_rng(33)
    X = make_x(rng, 1500, 6)
    y = reglabel(rng, signal(X))
    b = train({"objective": "reg:squarederror", "max_depth": 4},
              xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD), 15)
    Xe = eval_input(rng, b, make_x(rng, 500, 6))
    emit(o, name, b, Xe, "reg:squarederror", rng, col_order=[3, 0, 5, 1, 4, 2])


@case
def named_extra_column(o):
    """Input has an extra column not in the model; run with --ignore-extra."""
    name = "named_extra_column"
    rng = np.random.default_rng(34)
    X = make_x(rng, 1500, 6)
    y = binlabel(rng, signal(X))
    b = train({"objective": "binary:logistic", "max_depth": 4},
              xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD), 15)
    Xe = eval_input(rng, b, make_x(rng, 400, 6))
    emit(o, name, b, Xe, "binary:logistic", rng, col_order=[5, 4, 3, 2, 1, 0],
         extra_cols=[("row_id", np.arange(400))], extra_args=["--ignore-extra"])


@case
def sklearn_regressor(o):
    """XGBRegressor from a DataFrame (model saved via the sklearn wrapper's booster)."""
    name = "sklearn_regressor"
    rng = np.random.default_rng(35)
    X = make_x(rng, 1500, 5)
    y = reglabel(rng, signal(X))
    df = pd.DataFrame(X, columns=["alpha", "beta", "gamma", "delta", "epsilon"])
    m = xgb.XGBRegressor(n_estimators=20, max_depth=4, n_jobs=NTHREAD, random_state=0)
    m.fit(df, y)
    b = m.get_booster()
    Xe = eval_input(rng, b, make_x(rng, 400, 5))
    emit(o, name, b, Xe, "reg:squarederror", rng)


@case
def format_v3_quantile(o):
    """XGBoost 2.x/3.x shapes that 1.7 cannot write: reg:quantileerror with two quantiles
    (num_target 2, one tree per target per round) and base_score as a "[a,b]" vector.
    Built by merging two 1.7 regression models: target k's column must equal model k's
    output, so the expected values come from XGBoost itself."""
    name = "format_v3_quantile"
    rng = np.random.default_rng(38)
    X = make_x(rng, 1500, 6)
    y = reglabel(rng, signal(X))
    d = xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD)
    b0 = train({"objective": "reg:squarederror", "max_depth": 4, "base_score": 0.5}, d, 12)
    b1 = train({"objective": "reg:squarederror", "max_depth": 3, "base_score": 1.5, "eta": 0.2}, d, 9)
    Xe = eval_input(rng, b0, make_x(rng, 500, 6))
    mj = emit(o, name, b0, Xe, "reg:quantileerror", rng)
    m1 = json.loads(b1.save_raw("json"))
    cols = []
    for b in (b0, b1):
        cols.append([predict_both(b, Xe, b.feature_names, b.feature_types, margin=m) for m in (False, True)])
    dd = os.path.join(o, name)
    write_csv_matrix(os.path.join(dd, "expected.csv"), np.column_stack([cols[0][0], cols[1][0]]))
    write_csv_matrix(os.path.join(dd, "expected_margin.csv"), np.column_stack([cols[0][1], cols[1][1]]))
    gb0 = mj["learner"]["gradient_booster"]["model"]
    gb1 = m1["learner"]["gradient_booster"]["model"]
    trees = gb0["trees"] + gb1["trees"]
    for i, t in enumerate(trees):
        t["id"] = i
    gb0["trees"] = trees
    gb0["tree_info"] = [0] * len(gb0["tree_info"]) + [1] * len(gb1["tree_info"])
    gb0["gbtree_model_param"]["num_trees"] = str(len(trees))
    lmp = mj["learner"]["learner_model_param"]
    lmp["num_target"] = "2"
    lmp["base_score"] = "[5E-1,1.5E0]"
    mj["learner"]["objective"] = {"name": "reg:quantileerror",
                                  "quantile_loss_param": {"quantile_alpha": "[0.3, 0.7]"}}
    mj["version"] = [3, 0, 0]
    with open(os.path.join(dd, "model.json"), "w") as f:
        json.dump(mj, f)
    os.remove(os.path.join(dd, "model.ubj"))  # that one is b0 alone
    with open(os.path.join(dd, "meta.json")) as f:
        meta = json.load(f)
    meta.update(pred_cols=2, margin_cols=2, num_trees=len(trees), base_score=lmp["base_score"],
                notes="hand-merged 3.x-style multi-quantile model")
    with open(os.path.join(dd, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


def merge_targets(o, name, boosters, Xe, objective, objective_json, base_score, version):
    """Writes case NAME: BOOSTERS (1.7 regression models) merged into one multi-target
    model of OBJECTIVE as XGBoost VERSION writes it, target k's trees being booster k's.
    Returns each booster's (output, margin) columns on Xe, for the caller's expectations."""
    rng = np.random.default_rng(7)
    mj = emit(o, name, boosters[0], Xe, objective, rng)
    cols = [predict_both(b, Xe, b.feature_names, b.feature_types, margin=True) for b in boosters]
    gb0 = mj["learner"]["gradient_booster"]["model"]
    trees, info = [], []
    for k, b in enumerate(boosters):
        bt = json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["model"]
        trees += bt["trees"]
        info += [k] * len(bt["tree_info"])
    for i, t in enumerate(trees):
        t["id"] = i
    gb0["trees"], gb0["tree_info"] = trees, info
    gb0["gbtree_model_param"]["num_trees"] = str(len(trees))
    lmp = mj["learner"]["learner_model_param"]
    lmp["num_target"] = str(len(boosters))
    lmp["base_score"] = base_score
    mj["learner"]["objective"] = objective_json
    mj["version"] = version
    dd = os.path.join(o, name)
    with open(os.path.join(dd, "model.json"), "w") as f:
        json.dump(mj, f)
    os.remove(os.path.join(dd, "model.ubj"))  # that one is booster 0 alone
    with open(os.path.join(dd, "meta.json")) as f:
        meta = json.load(f)
    meta.update(pred_cols=len(boosters), margin_cols=len(boosters), num_trees=len(trees), base_score=base_score,
                notes="hand-merged XGBoost %s-style multi-target model" % ".".join(map(str, version)))
    with open(os.path.join(dd, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return np.column_stack(cols).astype(F32)


@case
def format_v34_quantile_sorted(o):
    """reg:quantileerror as XGBoost 3.4 writes it: from 3.4.0 (#12386,
    src/objective/quantile_obj.cu) QuantileRegression::PredTransform sorts each row's
    quantile outputs ascending (insertion sort), so they never cross; the margins stay as
    the trees give them. Two 1.7 models whose outputs cross on many rows, merged; expected
    outputs = each row's margins sorted."""
    name = "format_v34_quantile_sorted"
    rng = np.random.default_rng(41)
    X = make_x(rng, 1500, 6)
    y = reglabel(rng, signal(X))
    d = xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD)
    b0 = train({"objective": "reg:squarederror", "max_depth": 4, "base_score": 0.5}, d, 12)
    b1 = train({"objective": "reg:squarederror", "max_depth": 2, "base_score": 0.5, "eta": 0.5}, d, 5)
    Xe = eval_input(rng, b0, make_x(rng, 500, 6))
    marg = merge_targets(o, name, [b0, b1], Xe, "reg:quantileerror",
                         {"name": "reg:quantileerror", "quantile_loss_param": {"quantile_alpha": "[0.3, 0.7]"}},
                         "[5E-1,5E-1]", [3, 4, 0])
    crossed = int(np.sum(marg[:, 0] > marg[:, 1]))
    assert crossed > 20, "the two quantiles must cross on some rows (%d)" % crossed
    dd = os.path.join(o, name)
    write_csv_matrix(os.path.join(dd, "expected_margin.csv"), marg)
    write_csv_matrix(os.path.join(dd, "expected.csv"), np.sort(marg, axis=1))


def softplus32(x):
    """XGBoost's common::SoftPlus (src/common/math.h) in float32: x + log1p(exp(-x)) for
    x > 0, else log1p(exp(x))."""
    x = F32(x)
    return np.where(x > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x))).astype(F32)


def softplus_inv32(x):
    """common::SoftPlusInv: x = max(x, kRtEps); x + log(-expm1(-x)), in float32."""
    x = np.maximum(F32(x), F32(1e-6))
    return F32(x + np.log(-np.expm1(-x)))


@case
def format_v34_expectile(o):
    """reg:expectileerror with three alphas, as XGBoost 3.3/3.4 write it (read in the
    v3.4.0 and v3.4.1 tags: src/objective/regression_obj.cu, ExpectileRegression; the same
    code moved to src/objective/expectile_obj.cc on master, 3.5.0-dev):
      PredTransform: out[0] = m[0]; out[j] = out[j-1] + kRtEps + SoftPlus(m[j]) (float32,
        kRtEps = 1e-6f): each output builds on the previous one, so they never cross;
      ProbToMargin: base_score [s0, s1, s2] (output space) becomes the margins
        [s0, SoftPlusInv(s1 - s0 - kRtEps), SoftPlusInv(s2 - s1 - kRtEps)].
    1.7 cannot train it: three 1.7 regression models, each trained with base_score equal to
    the margin its target gets from the chosen base_score vector, are merged; the margins
    are theirs (XGBoost's own sums) and the outputs follow PredTransform in float32."""
    name = "format_v34_expectile"
    rng = np.random.default_rng(43)
    X = make_x(rng, 1500, 6)
    y = reglabel(rng, signal(X))
    d = xgb.DMatrix(X, y, feature_names=NAMES6, nthread=NTHREAD)
    s = np.array([-0.25, 0.5, 2.0], dtype=F32)
    m = [F32(s[0])] + [softplus_inv32(s[j] - s[j - 1] - F32(1e-6)) for j in (1, 2)]
    boosters = [train({"objective": "reg:squarederror", "max_depth": 3 + k, "base_score": float(m[k]),
                       "eta": 0.1 * (k + 1)}, d, 6 + 2 * k) for k in range(3)]
    Xe = eval_input(rng, boosters[0], make_x(rng, 500, 6))
    marg = merge_targets(o, name, boosters, Xe, "reg:expectileerror",
                         {"name": "reg:expectileerror", "expectile_loss_param": {"expectile_alpha": "[0.1,0.5,0.9]"}},
                         "[%s]" % ",".join(repr(float(v)) for v in s), [3, 4, 0])
    out = marg.copy()
    pred = marg[:, 0].copy()
    for j in (1, 2):
        pred = (pred + (F32(1e-6) + softplus32(marg[:, j]))).astype(F32)
        out[:, j] = pred
    dd = os.path.join(o, name)
    write_csv_matrix(os.path.join(dd, "expected_margin.csv"), marg)
    write_csv_matrix(os.path.join(dd, "expected.csv"), out)


@case
def no_trees(o):
    """Zero boosting rounds: output is just the (transformed) base_score."""
    name = "no_trees"
    rng = np.random.default_rng(36)
    X = make_x(rng, 200, 4)
    y = binlabel(rng, signal(X))
    b = train({"objective": "binary:logistic", "base_score": 0.25},
              xgb.DMatrix(X, y, feature_names=NAMES6[:4], nthread=NTHREAD), 0)
    Xe = make_x(rng, 200, 4)
    Xe[rng.random(Xe.shape) < 0.1] = np.nan
    emit(o, name, b, Xe, "binary:logistic", rng)


# ------------------------------------------------------------------ main ----

def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    outdir = argv[1]
    only = None
    if len(argv) > 3 and argv[2] == "--only":
        only = set(argv[3].split(","))
    os.makedirs(outdir, exist_ok=True)
    t0 = time.time()
    skipped = {}
    made = []
    for fn in CASES:
        if only and fn.__name__ not in only:
            continue
        t = time.time()
        try:
            fn(outdir)
            made.append(fn.__name__)
            print("gen %-28s %.2fs" % (fn.__name__, time.time() - t), flush=True)
        except Skip as e:
            skipped[fn.__name__] = str(e)
            print("skip %-27s %s" % (fn.__name__, e), flush=True)
    with open(os.path.join(outdir, "skipped.json"), "w") as f:
        json.dump(skipped, f, indent=1, sort_keys=True)
        f.write("\n")
    print("generated %d cases (%d skipped) in %.1fs with xgboost %s"
          % (len(made), len(skipped), time.time() - t0, xgb.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
