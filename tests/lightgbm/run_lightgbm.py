#!/usr/bin/python3
"""LightGBM text models: `grove predict` against LightGBM's own outputs, and against a
double-precision transliteration of LightGBM's rules (lgb_reference.py) on models with the
split kinds, layouts and objectives the fixtures lack.

Usage: /usr/bin/python3 tests/lightgbm/run_lightgbm.py --grove build/grove --workdir DIR

1. fixtures/ (LightGBM 4.6; the first three are 300 rows of the original fixtures, the
   others whole ../shared/data/lightgbm fixtures with raw scores to 17 digits: zero band,
   a 1,500-tree sum, rf raw scores, linear trees, legacy layouts, numeric category
   labels): the reference reproduces LightGBM's outputs and raw scores bit for bit from
   the fixture's doubles; grove predict's outputs and margins on the rows rounded to
   float32 are, bit for bit, the reference's on those float32 values, with every kernel;
   grove predict on the decimal rows themselves is LightGBM's (a SKIP, saying so, while
   the CSV reader still rounds to float32 first: the double path is checked on the same
   fixtures by tests/test_predict.c through grove_forest_predict_f64()).
2. Layouts: LightGBM 2.0.7-2.0.11 and 2.0.12-2.1.x files made from the fixtures as those
   versions wrote them, tree_sizes deciding which trees there are, a model of no trees,
   headers without the lines LightGBM does not need.
3. Variants of the fixture models, expected outputs from the reference: thresholds in and
   around the zero band with every missing type, linear trees with NaN and with leaves of
   0, 1 or all features, every missing type and default direction, thresholds between
   float32 values with inputs on their float neighbours, categorical edge values (NaN,
   negatives, (-1, 0), past the bitset, 2^31), every objective, rf outputs and raw sums,
   a one-leaf tree.
4. Model directories: model.txt with its schema from the pandas_categorical trailer, so
   category strings work like codes.
5. Refusals with a clear message: sigmoid != 1, reg_sqrt, unknown objective or version,
   what LightGBM's reader refuses (no label_index / feature_infos, a header line with two
   '=', tree_sizes that do not match the file), malformed fields, and every truncation of
   a model with and without tree_sizes.
Prints TAP; exit status 1 if any check failed.
"""
import argparse
import gzip
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import cpu_isa  # noqa: E402
import lgb_reference  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
# The first three are the first 300 rows of the original fixtures (outputs printed to 9-10
# digits); the others are whole LightGBM 4.6 fixtures with raw scores to 17 digits.
FIXTURE_NAMES = ["adult_binary_cat", "multiclass4_missing", "regression_missing"]
NEW_FIXTURES = ["zero_band", "big_sum_1500", "rf_binary_raw", "linear_tree_regression", "linear_tree_binary",
                "legacy_no_end_of_trees", "legacy_no_version", "numeric_category_labels"]
TIMEOUT = 120

count = 0
failed = 0


def check(ok, name, detail=None):
    global count, failed
    count += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", count, name))
    if not ok and detail:
        for line in str(detail).splitlines()[:20]:
            print("# " + line)
    sys.stdout.flush()


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def f32_next(x, up):
    """The float32 after (UP) or before X, a float32 value."""
    if math.isnan(x) or math.isinf(x):
        return x
    bits = struct.unpack("<i", struct.pack("<f", x))[0]
    if x == 0.0:
        bits = 1 if up else -2147483647
        return struct.unpack("<f", struct.pack("<i", bits))[0]
    bits += 1 if (x > 0) == up else -1
    return struct.unpack("<f", struct.pack("<i", bits))[0]


def read_csv(path, has_header=True):
    with open(path) as f:
        header = f.readline().strip().split(",") if has_header else None
        rows = []
        for line in f:
            if line.strip():
                rows.append([float(v) if v != "" else math.nan for v in line.strip().split(",")])
    return header, rows


def fmt(v):
    if math.isnan(v):
        return ""
    return repr(v)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(fmt(v) for v in r) + "\n")


def grove(args, *argv, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([args.grove] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=TIMEOUT, env=e)


def grove_predict(args, model, header, rows, env=None, name="input.csv", flags=()):
    path = os.path.join(args.workdir, name)
    write_csv(path, header, rows)
    r = grove(args, "predict", model, "--input", path, *flags, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return [[float(v) for v in line.split(",")] for line in r.stdout.splitlines() if line], None


def worst(got, want, tol_abs, tol_rel):
    """(number of values out of tolerance, largest |diff|, where)."""
    bad, big, at = 0, 0.0, None
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            return len(got), math.inf, i
        for a, b in zip(g, w):
            d = abs(a - b)
            if not d <= tol_abs + tol_rel * abs(b):
                bad += 1
                at = at if at is not None else i
            big = max(big, d)
    return bad, big, at


def model_text(name):
    with gzip.open(os.path.join(FIXTURES, name + ".model.txt.gz"), "rt") as f:
        return f.read()


def write_model(args, name, text):
    path = os.path.join(args.workdir, name + ".txt")
    with open(path, "w") as f:
        f.write(text)
    return path


def reference(text, rows):
    m = lgb_reference.Model(text)
    return [m.predict([f32(v) for v in r]) for r in rows]


# ------------------------------------------------------------------ 1. fixtures

def f32_rows(rows):
    return [[f32(v) for v in r] for r in rows]


def f32_differences(got, want):
    """How many values differ once both are rounded to float32 (grove's outputs are float32)."""
    bad, at = 0, None
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w) or any(f32(a) != f32(b) for a, b in zip(g, w)):
            bad += 1
            at = i if at is None else at
    return bad + abs(len(got) - len(want)), at


def read_fixture(name):
    text = model_text(name)
    with open(os.path.join(FIXTURES, name + ".meta")) as f:
        meta = json.load(f)
    header, rows = read_csv(os.path.join(FIXTURES, name + ".in.csv"))
    _, want = read_csv(os.path.join(FIXTURES, name + ".out.csv"), has_header=False)
    raw = None
    if os.path.exists(os.path.join(FIXTURES, name + ".raw.csv")):
        _, raw = read_csv(os.path.join(FIXTURES, name + ".raw.csv"), has_header=False)
    return text, meta, header, rows, want, raw


def check_reference(name, text, rows, want, raw):
    """The reference, given the fixture's doubles, must give LightGBM's own outputs: bit for
    bit where LightGBM printed 17 digits (raw.csv exists), to print precision otherwise."""
    m = lgb_reference.Model(text)
    got = [m.predict(r) for r in rows]
    if raw is None:
        bad, big, at = worst(got, want, 1e-12, 1e-8)
        check(bad == 0 and len(got) == len(want) == len(rows),
              "%s: the reference reproduces LightGBM 4.6 to print precision (max |diff| %.3g)" % (name, big),
              "row %s" % at)
        return
    got_raw = [m.raw(r) for r in rows]
    bad = sum(1 for a, b in zip(got, want) if a != b) + sum(1 for a, b in zip(got_raw, raw) if a != b)
    check(bad == 0 and len(got) == len(want) == len(raw) == len(rows),
          "%s: the reference reproduces LightGBM 4.6's outputs and raw scores bit for bit on its %d rows"
          % (name, len(rows)), "%d rows differ" % bad)


def test_fixtures(args):
    isa_here = cpu_isa.cpu_isa(args.grove)
    isas = [isa for isa in ("scalar", "avx2", "avx512") if cpu_isa.runs(isa_here, isa)]
    for isa in ("avx2", "avx512"):
        if isa not in isas:
            cpu_isa.cannot_run(check, "the fixtures with GROVE_ISA=%s" % isa,
                               "the CPU runs %s kernels" % isa_here, isa)
    for name in FIXTURE_NAMES + NEW_FIXTURES:
        text, meta, header, rows, want, raw = read_fixture(name)
        if name == "numeric_category_labels":
            # Its inputs are codes, some past the saved labels (10-12): LightGBM's "not in
            # the set". Without the trailer `grove predict` takes every number as a code;
            # with it, the CSV reader's --categories decides (cli/csv_rows.c).
            text = without_trailer(text)
        path = write_model(args, name, text)
        check_reference(name, text, rows, want, raw)
        # grove predict reads CSV values as float32: given the rows rounded to float32, its
        # outputs and margins must be the reference's (LightGBM's rules on those float32
        # values) rounded to float32, bit for bit, with every kernel.
        m = lgb_reference.Model(text)
        rows32 = f32_rows(rows)
        expect = {"outputs": [m.predict(r) for r in rows32], "--margin": [m.raw(r) for r in rows32]}
        for isa in isas:
            for what, flags in (("outputs", []), ("--margin", ["--margin"])):
                got, err = grove_predict(args, path, header, rows32, env={"GROVE_ISA": isa}, flags=flags)
                if got is None:
                    check(False, "%s: grove predict %s (GROVE_ISA=%s)" % (name, what, isa), err)
                    continue
                bad, at = f32_differences(got, expect[what])
                check(bad == 0, "%s, GROVE_ISA=%s, float32 rows: %s are LightGBM's rounded to float32, bit for bit "
                      "(%d rows)" % (name, isa, what, len(got)),
                      "%d rows differ, first %s: grove %s reference %s" % (
                          bad, at, got[at] if at is not None else "", expect[what][at] if at is not None else ""))
        check_cli_doubles(args, name, path, meta, header, rows, want)
        if name == "numeric_category_labels":
            check_category_modes(args, name, read_fixture(name)[0], meta, header, rows, want)
        r = grove(args, "info", path)
        info = json.loads(r.stdout) if r.returncode == 0 else {}
        check(info.get("format") == "lightgbm-text" and info.get("objective") == meta["objective"]
              and info.get("num_features") == len(header)
              and info.get("booster") == ("rf" if "average_output" in text.split("\nTree=")[0] else "gbdt"),
              "%s: grove info says lightgbm-text, objective %s, %d features, its booster" %
              (name, meta["objective"], len(header)), r.stdout[:300] + r.stderr)


def check_cli_doubles(args, name, path, meta, header, rows, want):
    """grove predict on the fixture's own decimal text against LightGBM's outputs: LightGBM
    reads those decimals as doubles, and so does grove's CSV reader, which hands them to
    grove_forest_predict_f64() (rows that would round to float32 across a threshold included)."""
    got, err = grove_predict(args, path, header, rows)
    if got is None:
        check(False, "%s: grove predict on the fixture's decimal inputs" % name, err)
        return
    # grove's outputs are float32: a value counts as LightGBM's when it is within the meta's
    # tolerance or is LightGBM's double rounded to float32 (big_sum_1500's 1e-9 is below
    # float32's resolution at its magnitudes).
    tol_abs, tol_rel = meta["tol_abs"], meta["tol_rel"]
    bad, big, at = 0, 0.0, None
    for i, (g, w) in enumerate(zip(got, want)):
        for a, b in zip(g, w):
            if not (abs(a - b) <= tol_abs + tol_rel * abs(b) or f32(a) == f32(b)):
                bad += 1
                at = i if at is None else at
                big = max(big, abs(a - b))
    check(bad == 0 and len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want)),
          "%s: grove predict on the fixture's decimal inputs is LightGBM's within tol_abs %g + tol_rel %g, "
          "or LightGBM's double rounded to float32" % (name, tol_abs, tol_rel),
          "%d values out (largest |diff| %.3g), first at row %s" % (bad, big, at))


def check_category_modes(args, name, text, meta, header, rows, want):
    """The model with its numeric pandas_categorical labels: the inputs are codes, so
    `--categories codes` must give LightGBM's outputs; `auto` must refuse a value that is
    both a label and another label's code, naming the option (never a silent choice)."""
    path = write_model(args, name + "_labels", text)
    got, err = grove_predict(args, path, header, rows, flags=["--categories", "codes"])
    bad, big, at = worst(got or [], want, meta["tol_abs"], meta["tol_rel"])
    check(got is not None and bad == 0 and len(got) == len(want),
          "%s with its numeric labels, --categories codes: LightGBM's outputs (max |diff| %.3g)" % (name, big),
          err or "%d values out, first at row %s" % (bad, at))
    got, err = grove_predict(args, path, header, rows)
    check(got is None and "--categories labels or --categories codes" in (err or ""),
          "%s with its numeric labels, --categories auto: an ambiguous value is refused naming the option"
          % name, err or "accepted")


# ------------------------------------------------------------------ 2. variants

def edit_trees(text, key, fn):
    """Applies FN(list of tokens) to every tree's KEY line."""
    def sub(m):
        return key + "=" + " ".join(fn(m.group(1).split()))
    return re.sub(r"(?m)^" + key + r"=(.*)$", sub, text)


def edit_header(text, key, value):
    return re.sub(r"(?m)^" + key + r"=.*$", key + "=" + value, text, count=1)


def fix_tree_sizes(text):
    """TEXT with its tree_sizes line recomputed as LightGBM writes it (each tree's bytes from
    its "Tree=" line to the next tree or "end of trees"), after edits changed the trees."""
    if not re.search(r"(?m)^tree_sizes=", text):
        return text
    starts = [m.start() + 1 for m in re.finditer(r"\nTree=", text)]
    end = text.find("\nend of trees")
    if not starts or end < 0:
        return text
    bounds = starts + [end + 1]
    sizes = " ".join(str(b - a) for a, b in zip(bounds, bounds[1:]))
    return re.sub(r"(?m)^tree_sizes=.*$", "tree_sizes=" + sizes, text, count=1)


def compare_variant(args, label, text, header, rows, flags=()):
    """grove predict on TEXT (its tree_sizes made right) against the reference on float32
    ROWS: LightGBM's answers for those values, rounded to float32, bit for bit."""
    text = fix_tree_sizes(text)
    path = write_model(args, "variant", text)
    m = lgb_reference.Model(text)
    rows = f32_rows(rows)
    want = [m.raw(r) if "--margin" in flags else m.predict(r) for r in rows]
    got, err = grove_predict(args, path, header, rows, flags=flags)
    if got is None:
        check(False, label, err)
        return
    bad, at = f32_differences(got, want)
    check(bad == 0 and len(got) == len(want),
          "%s: %d rows are the reference's, bit for bit as float32" % (label, len(rows)),
          "%d rows differ, first %s: grove %s reference %s" % (bad, at, got[at] if at is not None else "",
                                                               want[at] if at is not None else ""))


def thresholds_of(text):
    """(feature, threshold) of every numeric split in the model."""
    out = []
    for block in text.split("\nTree=")[1:]:
        fields = dict(line.split("=", 1) for line in block.split("\n")[1:] if "=" in line)
        if "threshold" not in fields:
            continue
        for f, t, d in zip(fields["split_feature"].split(), fields["threshold"].split(),
                           fields["decision_type"].split()):
            if not int(d) & 1:
                out.append((int(f), float(t)))
    return out


def test_missing_types(args):
    text = model_text("regression_missing")
    header, rows = read_csv(os.path.join(FIXTURES, "regression_missing.in.csv"))
    rows = rows[:120]
    # Rows on and around zero and the zero band, and all-NaN.
    zero_band = f32(1e-35)  # LightGBM's kZeroThreshold is the float 1e-35f
    specials = [0.0, -0.0, 1e-36, -1e-36, zero_band, -zero_band, f32_next(zero_band, True),
                -f32_next(zero_band, True), f32_next(zero_band, False), math.nan]
    for k, v in enumerate(specials):
        rows.append([v] * len(header))
        rows.append([v if (j + k) % 2 else r for j, r in enumerate(rows[k])])
    for dt in [0, 2, 4, 6, 8, 10]:
        kind = {0: "None", 1: "Zero", 2: "NaN"}[dt >> 2]
        variant = edit_trees(text, "decision_type", lambda toks: [str(dt) for _ in toks])
        compare_variant(args, "regression, every split missing type %s, default %s" %
                        (kind, "left" if dt & 2 else "right"), variant, header, rows)


def test_thresholds_between_floats(args):
    text = model_text("regression_missing")
    header, rows = read_csv(os.path.join(FIXTURES, "regression_missing.in.csv"))
    # Move every threshold off the float grid: half way to the next float32, or just above.
    counter = [0]

    def move(toks):
        out = []
        for t in toks:
            v = float(t)
            counter[0] += 1
            if math.isfinite(v) and v != 0.0:
                a = f32(v)
                b = f32_next(a, True)
                v = (a + b) / 2 if counter[0] % 2 else a + (b - a) * 1e-6
            out.append(repr(v))
        return out
    variant = edit_trees(text, "threshold", move)
    # Inputs at each threshold's float32 neighbours (below, at/around, above).
    base = rows[0]
    probe = []
    for f, t in thresholds_of(variant)[:400]:
        a = f32(t)
        for v in (f32_next(a, False), a, f32_next(a, True), f32_next(f32_next(a, True), True)):
            r = list(base)
            r[f] = v
            probe.append(r)
    compare_variant(args, "regression, thresholds between float32 values, inputs on their neighbours",
                    variant, header, probe)
    # The same probes on the original model (thresholds LightGBM wrote, e.g. 5036.5000000000009).
    orig = []
    for f, t in thresholds_of(text)[:400]:
        a = f32(t)
        for v in (f32_next(a, False), a, f32_next(a, True)):
            r = list(base)
            r[f] = v
            orig.append(r)
    compare_variant(args, "regression, inputs on the float32 neighbours of LightGBM's own thresholds",
                    text, header, orig)


def without_trailer(text):
    """The model without its pandas_categorical schema, so any code reaches the trees."""
    return re.sub(r"(?m)^pandas_categorical:.*$", "pandas_categorical:null", text)


def test_categorical_edges(args):
    text = without_trailer(model_text("adult_binary_cat"))
    header, rows = read_csv(os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    cats = json.load(open(os.path.join(FIXTURES, "adult_binary_cat.categories.json")))
    cat_cols = [header.index(c) for c in cats]
    edges = [math.nan, -1.0, -0.5, -0.0, 0.0, 0.7, 1.0, 2.5, 31.0, 32.0, 33.0, 40.0, 63.0, 64.0, 1e6,
             16777216.0, 2147483648.0, 1e20, math.inf, -math.inf]
    probe = []
    for k, v in enumerate(edges):
        for j in cat_cols:
            r = list(rows[k % len(rows)])
            r[j] = v
            probe.append(r)
        probe.append([v if j in cat_cols else x for j, x in enumerate(rows[k])])
    compare_variant(args, "adult categorical splits: NaN, negatives, (-1, 0), past the bitset, 2^31, inf",
                    text, header, probe)
    # Category 0 in every set: (-1, 0) must then go where 0 goes.
    with_zero = edit_trees(text, "cat_threshold", lambda toks: [str(int(t) | 1) for t in toks])
    compare_variant(args, "adult with category 0 in every set: (-1, 0) truncates to 0 as LightGBM's int cast",
                    with_zero, header, probe)
    # Missing type NaN on the categorical splits (decision_type 9, 11): NaN still goes right.
    nan_type = edit_trees(text, "decision_type", lambda toks: [str(int(t) | 8) if int(t) & 1 else t for t in toks])
    compare_variant(args, "adult, categorical splits with missing type NaN", nan_type, header, probe)


def test_objectives(args):
    adult = model_text("adult_binary_cat")
    header, rows = read_csv(os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    rows = rows[:150]
    for obj, kind in [("regression", "value"), ("regression_l1", "value"), ("huber", "value"), ("fair", "value"),
                      ("quantile", "value"), ("mape", "value"), ("poisson", "exp"), ("gamma", "exp"),
                      ("tweedie", "exp"), ("cross_entropy", "sigmoid"), ("lambdarank", "value"),
                      ("rank_xendcg", "value"), ("binary sigmoid:1", "sigmoid")]:
        variant = edit_header(adult, "objective", obj)
        compare_variant(args, "objective %s (%s)" % (obj, kind), variant, header, rows)
        if obj in ("poisson", "lambdarank"):
            r = grove(args, "info", write_model(args, "variant", variant))
            info = json.loads(r.stdout) if r.returncode == 0 else {}
            want_task = {"poisson": "regression", "lambdarank": "ranking"}[obj]
            check(info.get("task") == want_task, "objective %s: grove info task %s" % (obj, want_task), r.stdout[:200])
    multi = model_text("multiclass4_missing")
    mheader, mrows = read_csv(os.path.join(FIXTURES, "multiclass4_missing.in.csv"))
    ova = edit_header(multi, "objective", "multiclassova num_class:4 sigmoid:1")
    compare_variant(args, "objective multiclassova (a sigmoid per class)", ova, mheader, mrows[:150])
    # boosting=rf: "average_output" in the header: the outputs average over iterations before
    # the link, the raw score (--margin) is the sum, as LightGBM's predict_raw_score says.
    for label, text, h, r in [("adult", adult, header, rows), ("multiclass4", multi, mheader, mrows[:150])]:
        rf = text.replace("\nfeature_names=", "\naverage_output\nfeature_names=", 1)
        compare_variant(args, "%s as an averaged forest (average_output)" % label, rf, h, r)
        compare_variant(args, "%s as an averaged forest, --margin: the sum over trees" % label, rf, h, r,
                        flags=["--margin"])
        info = json.loads(grove(args, "info", write_model(args, "variant", rf)).stdout or "{}")
        check(info.get("booster") == "rf", "%s averaged: grove info booster rf" % label, info)
    # LightGBM 3.x writes the same layout as version=v3.
    compare_variant(args, "adult as a LightGBM 3.x file (version=v3)", edit_header(adult, "version", "v3"),
                    header, rows)
    # A tree of one leaf (LightGBM writes these when nothing splits).
    one_leaf = adult.replace("\nend of trees", "\nTree=100\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\n"
                             "threshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=0.25\n"
                             "leaf_weight=\nleaf_count=\ninternal_value=\ninternal_weight=\ninternal_count=\n"
                             "is_linear=0\nshrinkage=1\n\n\nend of trees", 1)
    compare_variant(args, "adult plus a one-leaf tree", one_leaf, header, rows)


def legacy_layouts(text):
    """TEXT as LightGBM 2.0.12-2.1.x wrote it (no "end of trees": the trees run into the
    feature importances, spelled "feature importances:"), and as 2.0.7-2.0.11 did (also no
    version= and no tree_sizes=): the two layouts the fixtures legacy_* have."""
    body = text.split("\nend of trees\n")[0]
    importances = "\nfeature importances:\nf0=12\nf1=3\n"
    v2 = body + "\n" + importances
    v1 = re.sub(r"(?m)^(version|tree_sizes)=.*\n", "", v2)
    return v2, v1


def test_layouts(args):
    for name in ("adult_binary_cat", "multiclass4_missing"):
        text = model_text(name)
        header, rows = read_csv(os.path.join(FIXTURES, name + ".in.csv"))
        rows = rows[:150]
        v2, v1 = legacy_layouts(text)
        compare_variant(args, "%s in LightGBM 2.0.12-2.1.x's layout (no end of trees)" % name, v2, header, rows)
        compare_variant(args, "%s in LightGBM 2.0.7-2.0.11's layout (no version, no tree_sizes)" % name, v1, header,
                        rows)
        # The legacy layouts score exactly as the file they were made from.
        got = [grove_predict(args, write_model(args, "layout", t), header, f32_rows(rows), flags=["--margin"])[0]
               for t in (text, v2, v1)]
        check(got[0] is not None and got[0] == got[1] == got[2],
              "%s: the three layouts give the same margins" % name)
    adult = model_text("adult_binary_cat")
    header, rows = read_csv(os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    rows = rows[:100]
    # tree_sizes decides which trees there are: LightGBM reads as many as it lists.
    sizes = re.search(r"(?m)^tree_sizes=(.*)$", adult).group(1).split()
    fewer = re.sub(r"(?m)^tree_sizes=.*$", "tree_sizes=" + " ".join(sizes[:60]), adult, count=1)
    m = lgb_reference.Model(fewer)
    check(len(m.trees) == 60, "reference: a tree_sizes of 60 entries reads 60 trees")
    got, err = grove_predict(args, write_model(args, "fewer", fewer), header, f32_rows(rows), flags=["--margin"])
    want = [m.raw(r) for r in f32_rows(rows)]
    check(got is not None and f32_differences(got, want)[0] == 0,
          "tree_sizes listing 60 of the 100 trees: grove scores those 60, as LightGBM does", err)
    # A model without trees (tree_sizes empty) predicts 0 everywhere, as LightGBM does.
    empty = adult.split("\nTree=0\n")[0] + "\nend of trees\n"
    empty = re.sub(r"(?m)^tree_sizes=.*$", "tree_sizes=", empty, count=1)
    got, err = grove_predict(args, write_model(args, "empty", empty), header, rows[:5], flags=["--margin"])
    check(got == [[0.0]] * 5, "a model of no trees (tree_sizes=) loads and scores 0", err)
    # Header lines LightGBM does not need: no version=, no num_tree_per_iteration=.
    for key in ("version", "num_tree_per_iteration"):
        variant = re.sub(r"(?m)^%s=.*\n" % key, "", adult, count=1)
        compare_variant(args, "adult without its %s line" % key, variant, header, rows)


def test_zero_band(args):
    """LightGBM reads |x| <= 1e-35f as 0 before every split: thresholds in and around that
    band, every missing type, inputs on both sides of its edges."""
    text = model_text("zero_band")
    header, rows = read_csv(os.path.join(FIXTURES, "zero_band.in.csv"))
    band = f32(1e-35)
    values = [0.0, -0.0, 1e-36, -1e-36, band, -band, f32_next(band, True), -f32_next(band, True),
              f32_next(band, False), -f32_next(band, False), 1e-30, -1e-30, math.nan]
    probe = []
    for k, v in enumerate(values):
        for r in rows[k * 7:(k + 1) * 7]:
            probe.append([v if (j + k) % 3 else x for j, x in enumerate(r)])
        probe.append([v] * len(header))
    cuts = [repr(-band), repr(band), "0", "-0", repr(f32_next(band, False)), "-1e-36", "5e-36"]
    counter = [0]

    def into_band(toks):
        out = []
        for t in toks:
            counter[0] += 1
            out.append(cuts[counter[0] % len(cuts)] if counter[0] % 2 else t)
        return out
    variant = edit_trees(text, "threshold", into_band)
    for dt in [0, 2, 4, 6, 8, 10]:
        kind = {0: "None", 1: "Zero", 2: "NaN"}[dt >> 2]
        typed = edit_trees(variant, "decision_type", lambda toks: [str(dt) for _ in toks])
        compare_variant(args, "zero_band with thresholds in the band, missing type %s, default %s" %
                        (kind, "left" if dt & 2 else "right"), typed, header, probe, flags=["--margin"])


def test_linear_trees(args):
    text = model_text("linear_tree_regression")
    header, rows = read_csv(os.path.join(FIXTURES, "linear_tree_regression.in.csv"))
    # NaN in every feature in turn (the leaf's own value where a linear feature is NaN).
    probe = []
    for j in range(len(header)):
        for r in rows[:30]:
            probe.append([math.nan if k == j else x for k, x in enumerate(r)])
    compare_variant(args, "linear trees, NaN in each feature in turn", text, header, probe, flags=["--margin"])
    # Leaves without features, and a feature count that differs from leaf to leaf.
    def fewer_features(block):
        counts = [int(c) for c in re.search(r"(?m)^num_features=(.*)$", block).group(1).split()]
        feats = re.search(r"(?m)^leaf_features=(.*)$", block).group(1).split()
        coeffs = re.search(r"(?m)^leaf_coeff=(.*)$", block).group(1).split()
        new_counts, new_feats, new_coeffs, at = [], [], [], 0
        for i, c in enumerate(counts):
            keep = c if i % 3 == 0 else (0 if i % 3 == 1 else min(c, 1))
            new_counts.append(str(keep))
            new_feats += feats[at:at + keep] + [""]
            new_coeffs += coeffs[at:at + keep] + [""]
            at += c
        block = re.sub(r"(?m)^num_features=.*$", "num_features=" + " ".join(new_counts), block)
        block = re.sub(r"(?m)^leaf_features=.*$", "leaf_features=" + " ".join(new_feats), block)
        return re.sub(r"(?m)^leaf_coeff=.*$", "leaf_coeff=" + " ".join(new_coeffs), block)
    parts = text.split("\nTree=")
    variant = "\nTree=".join([parts[0]] + [fewer_features(b) if "is_linear=1" in b else b for b in parts[1:]])
    compare_variant(args, "linear trees with 0, 1 and all of their features per leaf", variant, header, rows,
                    flags=["--margin"])
    binary = model_text("linear_tree_binary")
    bheader, brows = read_csv(os.path.join(FIXTURES, "linear_tree_binary.in.csv"))
    compare_variant(args, "linear trees, binary: the sigmoid of the linear leaves' sum", binary, bheader, brows)


# ------------------------------------------------------------------ 3. model directories

def test_model_dir(args):
    text = model_text("adult_binary_cat")
    d = os.path.join(args.workdir, "adult-lgb")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.txt"), "w") as f:
        f.write(text)
    cats = json.load(open(os.path.join(FIXTURES, "adult_binary_cat.categories.json")))
    r = grove(args, "info", d)
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    feats = {f["name"]: f for f in info.get("features", [])}
    check(r.returncode == 0 and all(feats.get(c, {}).get("categories") == len(v) for c, v in cats.items()),
          "model dir with model.txt: schema from pandas_categorical gives every categorical feature its %d..%d "
          "categories" % (min(map(len, cats.values())), max(map(len, cats.values()))), r.stdout[:400] + r.stderr)
    header, rows = read_csv(os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    _, want = read_csv(os.path.join(FIXTURES, "adult_binary_cat.out.csv"), has_header=False)
    # The same rows with category strings instead of codes.
    path = os.path.join(args.workdir, "strings.csv")
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(cats[h][int(v)] if h in cats and not math.isnan(v) else fmt(v)
                             for h, v in zip(header, row)) + "\n")
    r = grove(args, "predict", d, "--input", path)
    got = [[float(v) for v in line.split(",")] for line in r.stdout.splitlines()] if r.returncode == 0 else []
    bad, big, _ = worst(got, want, 1e-5, 1e-5)
    check(r.returncode == 0 and bad == 0 and len(got) == len(want),
          "model dir: category strings from the trailer predict as LightGBM's codes (max |diff| %.3g)" % big,
          r.stderr[:300])
    r = grove(args, "predict", d, "--input", os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    check(r.returncode == 0 and len(r.stdout.splitlines()) == len(rows),
          "model dir: numeric codes still accepted with the schema", r.stderr[:300])
    # `grove schema` writes that schema out as a schema.json, which then loads as the model's own.
    r = grove(args, "schema", d)
    sch = json.loads(r.stdout) if r.returncode == 0 else {}
    got = {f["name"]: f.get("categories") for f in sch.get("features", []) if f.get("categories")}
    with open(os.path.join(d, "schema.json"), "w") as f:
        f.write(r.stdout)
    r2 = grove(args, "info", d)
    info = json.loads(r2.stdout) if r2.returncode == 0 else {}
    check(got == cats and len(sch.get("features", [])) == len(header) and info.get("schema") is True,
          "grove schema: the trailer's categories as a schema.json that loads back", r.stdout[:300] + r2.stderr)
    # A schema.json beside model.txt wins over the trailer and is checked against the model.
    with open(os.path.join(d, "schema.json"), "w") as f:
        json.dump({"features": [{"name": "x", "type": "numeric"}]}, f)
    r = grove(args, "info", d)
    check(r.returncode != 0 and "schema.json" in r.stderr, "a schema.json that disagrees with model.txt is refused",
          r.stderr[:300])
    os.remove(os.path.join(d, "schema.json"))
    # No trailer: still loads, categories are plain codes.
    with open(os.path.join(d, "model.txt"), "w") as f:
        f.write(without_trailer(text))
    r = grove(args, "predict", d, "--input", os.path.join(FIXTURES, "adult_binary_cat.in.csv"))
    got = [[float(v) for v in line.split(",")] for line in r.stdout.splitlines()] if r.returncode == 0 else []
    bad, big, _ = worst(got, want, 1e-5, 1e-5)
    check(r.returncode == 0 and bad == 0, "pandas_categorical:null: loads, codes predict as LightGBM", r.stderr[:300])
    shutil.rmtree(d)


# ------------------------------------------------------------------ 4. refusals

def expect_refusal(args, label, text, pattern):
    path = write_model(args, "bad", text)
    r = grove(args, "info", path)
    ok = r.returncode == 1 and re.search(pattern, r.stderr) is not None and "bad.txt" in r.stderr \
        and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr
    check(ok, "%s: refused, message matches /%s/" % (label, pattern), "rc=%d stderr=%s" % (r.returncode, r.stderr[:400]))


def test_refusals(args):
    adult = model_text("adult_binary_cat")
    expect_refusal(args, "sigmoid:2", edit_header(adult, "objective", "binary sigmoid:2"), r"sigmoid:2.*only sigmoid:1")
    expect_refusal(args, "reg_sqrt", edit_header(adult, "objective", "regression sqrt"), r"reg_sqrt")
    expect_refusal(args, "unknown objective", edit_header(adult, "objective", "cross_entropy_lambda"),
                   r"objective \"cross_entropy_lambda\" is not supported")
    expect_refusal(args, "future format", edit_header(adult, "version", "v9"), r"version v9 is not supported")
    expect_refusal(args, "num_class disagreeing", edit_header(adult, "objective", "multiclass num_class:3"),
                   r"num_class")
    expect_refusal(args, "unknown decision_type", edit_trees(adult, "decision_type", lambda t: ["12"] + t[1:]),
                   r"decision_type 0 is 12")
    expect_refusal(args, "split feature out of range", edit_trees(adult, "split_feature", lambda t: ["99"] + t[1:]),
                   r"split_feature 0 is not a feature index below 12")
    expect_refusal(args, "a cycle", edit_trees(adult, "left_child", lambda t: t[:1] + ["0"] + t[2:]),
                   r"reached twice|cycle")
    expect_refusal(args, "short leaf_value", edit_trees(adult, "leaf_value", lambda t: t[:-1]),
                   r"leaf_value: expected 31 numbers")
    expect_refusal(args, "not a number", edit_trees(adult, "threshold", lambda t: ["abc"] + t[1:]),
                   r"Tree=0 \(line \d+\): threshold: value 1 \(\"abc\"\) is not a number")
    expect_refusal(args, "NaN threshold", edit_trees(adult, "threshold", lambda t: t[:2] + ["nan"] + t[3:]),
                   r"threshold 2 is NaN")
    expect_refusal(args, "category set index out of range", edit_trees(adult, "threshold", lambda t: ["50"] + t[1:]),
                   r"not a set index below num_cat")
    expect_refusal(args, "tree numbering", adult.replace("\nTree=1\n", "\nTree=7\n", 1), r"expected \"Tree=1\"")
    expect_refusal(args, "NUL byte", adult[:5000] + "\0" + adult[5000:], r"NUL byte")
    expect_refusal(args, "no header", "tree\nTree=0\nnum_leaves=1\nleaf_value=1\n\nend of trees\n", r"header has no")
    # What LightGBM 4.6's reader refuses: a header without label_index or feature_infos, a
    # header line with two '=', a tree without num_cat, trees where tree_sizes says they are
    # not, and more trees listed than the file holds.
    for key in ("label_index", "feature_infos"):
        expect_refusal(args, "no %s line" % key, re.sub(r"(?m)^%s=.*\n" % key, "", adult, count=1),
                       r"header has no %s line" % key)
    expect_refusal(args, "a header line with two '='", adult.replace("\nlabel_index=0\n", "\nlabel_index=0=1\n", 1),
                   r"more than one '='")
    expect_refusal(args, "a tree without num_cat", adult.replace("\nnum_cat=", "\nnum_cats=", 1), r"no num_cat line")
    sizes = re.search(r"(?m)^tree_sizes=(.*)$", adult).group(1).split()
    shifted = edit_header(adult, "tree_sizes", " ".join([str(int(sizes[0]) + 1)] + sizes[1:]))
    expect_refusal(args, "tree_sizes one byte off", shifted, r"expected \"Tree=1\"")
    more = edit_header(adult, "tree_sizes", " ".join(sizes + ["3300", "3300"]))
    expect_refusal(args, "tree_sizes listing 102 trees of 100", more, r"expected \"Tree=100\", found \"end of trees\"")
    expect_refusal(args, "tree_sizes listing trees past the end of the file",
                   edit_header(adult, "tree_sizes", " ".join(sizes + ["3300"] * 30)), r"expected \"Tree=100\"")
    cut_trees = adult.split("\nTree=98\n")[0] + "\n"
    expect_refusal(args, "tree_sizes listing 100 trees of a file cut after 98",
                   cut_trees, r"truncated: tree_sizes lists tree 98")
    expect_refusal(args, "tree_sizes pointing back into a tree",
                   edit_header(adult, "tree_sizes", " ".join(["10"] + sizes[1:])), r"tree_sizes: tree 1 starts inside")
    # Every truncation of a small model is refused, never loaded half: with tree_sizes (the
    # sizes are then longer than the file), and without (a file cut after a tree has nothing
    # after its trees, which no LightGBM writes).
    small = fix_tree_sizes("\n".join(adult.split("\nTree=2\n")[0].split("\n")) + "\n\nend of trees\n")
    for label, text in (("with tree_sizes", small), ("without tree_sizes", legacy_layouts(small)[1])):
        path = write_model(args, "small", text)
        ok_small = grove(args, "info", path).returncode == 0
        last = text.index("\nend of trees") if "\nend of trees" in text else text.index("\nfeature importances:")
        # Without tree_sizes, a file that ends right after its last tree (last + 1) has been
        # cut too; with it, that file holds every tree it lists (LightGBM loads it).
        cuts = sorted(set(list(range(0, last, 97)) + [last] + ([] if "tree_sizes" in text else [last + 1])))
        bad = []
        for n in cuts:
            p = write_model(args, "cut", text[:n])
            r = grove(args, "info", p)
            if r.returncode != 1 or "cut.txt" not in r.stderr or "Sanitizer" in r.stderr or "runtime error" in r.stderr:
                bad.append((n, r.returncode, r.stderr[:200]))
        check(ok_small and not bad,
              "a 2-tree model %s cut at %d places is refused each time with a message" % (label, len(cuts)), bad[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grove", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    args.grove = os.path.abspath(args.grove)
    os.makedirs(args.workdir, exist_ok=True)
    test_fixtures(args)
    test_layouts(args)
    test_zero_band(args)
    test_linear_trees(args)
    test_missing_types(args)
    test_thresholds_between_floats(args)
    test_categorical_edges(args)
    test_objectives(args)
    test_model_dir(args)
    test_refusals(args)
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
