#!/usr/bin/python3
"""Golden tests for models/convert_sklearn.py: grove's predictions against scikit-learn's.

    /usr/bin/python3 tests/sklearn/run_sklearn.py --grove build/grove --workdir /tmp/grove-sklearn [--cases a,b] [-v]

Every supported estimator is trained here on small synthetic data or a slice of
models/adult.csv.gz (deterministic seeds, about 20 s on 2 cores), pickled, converted with
convert_sklearn.py, scored with `grove predict`, and compared with predict_proba (the
positive class for binary classifiers) or predict on every row: 1e-5 absolute for
probabilities, 1e-5 * max(1, |y|) for regression.

The rows: held-out data, plus rows planted along real tree paths so that they reach a
split node with the split's feature set to the float32 values just below, at, and above
the threshold (the largest float32 <= t, its neighbours, and the one after), plus, for
HistGradientBoosting, NaN, +-inf and awkward category codes (-1, -0.5, 0.5, 2.5, unknown
codes up to 255). Also checked: a GradientBoostingClassifier pickle without its `_loss`
attribute (predict_proba raises, as for the tutorial's older pickle) still converts and
matches; a joblib file; --schema-output gives a model directory grove loads; `grove info`
names the source; unsupported estimators and unreadable files exit 2 with a message
naming the problem and no traceback. Prints TAP; exit status 1 if a test failed.
"""
import os

# One OpenMP thread for HistGradientBoosting: on a small, shared machine more threads
# only spin against each other (set before scikit-learn loads libgomp).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pickle
import re
import subprocess
import sys
import time
import zlib

import joblib
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier, ExtraTreesRegressor,
                              GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              IsolationForest, RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERTER = os.path.join(ROOT, "models", "convert_sklearn.py")
sys.path.insert(0, os.path.dirname(CONVERTER))
import convert_sklearn  # noqa: E402

F32 = np.float32
ABS_TOL = 1e-5
REL_TOL = 1e-5
PROBES_PER_MODEL = 400  # split nodes probed per model (4 rows each)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []

    def check(self, cond, desc, why=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            print("not ok %d - %s: %s" % (self.n, desc, why))
            self.failed.append(desc)
        sys.stdout.flush()

    def note(self, msg):
        print("# " + msg)


# ---- data ----------------------------------------------------------------------------------

def make_x(rng, n, p):
    """float32 columns of different kinds: normal, uniform, a coarse grid (many ties, so
    thresholds fall midway between two float32 values), large (1e6: float32 spacing 0.06)."""
    cols = []
    for j in range(p):
        k = j % 4
        if k == 0:
            c = rng.normal(size=n)
        elif k == 1:
            c = rng.uniform(-3, 3, size=n)
        elif k == 2:
            c = rng.integers(0, 12, size=n) * 0.25
        else:
            c = 1e6 + rng.normal(size=n) * 50
        cols.append(c)
    return np.stack(cols, axis=1).astype(F32)


def score(X):
    X = X.astype(np.float64)
    return (1.2 * X[:, 0] - 0.8 * (X[:, 1] > 0.5) + 0.5 * X[:, 2] * (X[:, 0] > 0)
            + 0.02 * (X[:, 3] - 1e6) + 0.3 * np.sin(2 * X[:, 4]))


def labels(rng, X, k):
    s = score(X) + rng.normal(size=len(X)) * 0.5
    if k == 2:
        return (s > 0).astype(int)
    return np.digitize(s, np.quantile(s, np.linspace(0, 1, k + 1)[1:-1]))


def with_nan(rng, X, frac):
    X = X.copy()
    X[rng.random(X.shape) < frac] = np.nan
    return X


def filled(X):
    """X with each NaN replaced by its column's mean: targets for training data with NaN."""
    return np.where(np.isnan(X), np.nanmean(X, axis=0), X)


def adult_slice(n_train, n_eval):
    """The first rows of Adult, label-encoded as the tutorial did ('?' a label of its own),
    and as categorical codes with '?' missing (for HistGradientBoosting)."""
    df = pd.read_csv(os.path.join(ROOT, "models", "adult.csv.gz"), nrows=n_train + n_eval)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.strip()
    y = (df.pop("income") == ">50K").astype(int).to_numpy()
    cat = [c for c in df.columns if df[c].dtype == object]
    enc = df.copy()
    codes = df.copy()
    for c in cat:
        enc[c] = LabelEncoder().fit_transform(df[c])
        s = df[c].replace("?", np.nan)
        codes[c] = s.astype(pd.CategoricalDtype(sorted(s.dropna().unique()))).cat.codes.replace(-1, np.nan)
    mask = np.array([c in cat for c in df.columns])
    return (list(df.columns), enc.to_numpy(np.float64).astype(F32), codes.to_numpy(np.float64).astype(F32),
            y, mask, n_train)


# ---- probe rows ----------------------------------------------------------------------------

class Walk:
    """One fitted tree as scikit-learn evaluates it, for planting and checking probe rows."""

    # HGB leaves have children 0, not -1: SPLIT says which nodes are splits.
    def __init__(self, left, right, feature, threshold, split, nan_left=None, categorical=None):
        self.left, self.right, self.feature, self.threshold = left, right, feature, threshold
        self.nan_left = nan_left              # per node (HistGradientBoosting; trees refuse NaN)
        self.split = split                    # internal node mask
        self.categorical = categorical or {}  # node -> (categories going left, known categories, NaN left)
        self.parent = {}
        for i in np.flatnonzero(split):
            self.parent[int(left[i])] = (i, True)
            self.parent[int(right[i])] = (i, False)

    def goes_left(self, i, x):
        if i in self.categorical:
            cats_left, known, nan_left = self.categorical[i]
            if np.isnan(x) or x < 0 or int(x) not in known:
                return nan_left
            return int(x) in cats_left
        if np.isnan(x):
            return bool(self.nan_left[i])
        return bool(float(x) <= self.threshold[i])

    def value_for(self, i, go_left, x):
        """X, or a value that sends a row down the GO_LEFT side of split I."""
        if self.goes_left(i, x) == go_left:
            return x
        if i in self.categorical:
            cats_left, known, nan_left = self.categorical[i]
            side = sorted(cats_left if go_left else known - cats_left)
            return F32(side[0]) if side else F32(np.nan) if nan_left == go_left else x
        lo = f32_floor(self.threshold[i])
        return lo if go_left else up(lo)

    def reaches(self, row, node):
        i = 0
        while i != node:
            if not self.split[i]:
                return False
            i = self.left[i] if self.goes_left(i, row[self.feature[i]]) else self.right[i]
        return True


def walks(est):
    out = []
    if hasattr(est, "_predictors"):
        mapper = est._bin_mapper
        known = {f: {int(c) for c in mapper.bin_thresholds_[f]} for f in np.flatnonzero(mapper.is_categorical_)} \
            if mapper.is_categorical_ is not None else {}
        for it in est._predictors:
            for p in it:
                nd = p.nodes
                cats = {}
                for i in np.flatnonzero(nd["is_categorical"] & (nd["is_leaf"] == 0)):
                    f, bits = int(nd["feature_idx"][i]), p.raw_left_cat_bitsets[nd["bitset_idx"][i]]
                    left = {c for c in range(256) if (int(bits[c // 32]) >> (c % 32)) & 1}
                    cats[i] = (left, known[f], bool(nd["missing_go_to_left"][i]))
                out.append(Walk(nd["left"].astype(np.int64), nd["right"].astype(np.int64), nd["feature_idx"],
                                nd["num_threshold"], nd["is_leaf"] == 0, nd["missing_go_to_left"], cats))
        return out
    # Bagging ensembles (IsolationForest) may train each tree on a subset of the columns.
    subsets = getattr(est, "estimators_features_", None)
    if subsets is not None and est._max_features == est.n_features_in_:
        subsets = None  # scikit-learn then scores every tree on all columns as they are
    for k, e in enumerate([est] if hasattr(est, "tree_") else list(np.ravel(est.estimators_))):
        t = e.tree_
        split = t.children_left >= 0
        feature = t.feature if subsets is None else np.where(split, np.asarray(subsets[k])[np.maximum(t.feature, 0)], -2)
        out.append(Walk(t.children_left, t.children_right, feature, t.threshold, split))
    return out


def f32_floor(t):
    """The largest float32 <= t."""
    with np.errstate(over="ignore"):
        f = F32(t)
    return np.nextafter(f, F32(-np.inf)) if float(f) > t else f


def up(f):
    return np.nextafter(F32(f), F32(np.inf))


def down(f):
    return np.nextafter(F32(f), F32(-np.inf))


def probe_rows(est, base, rng, limit=PROBES_PER_MODEL):
    """Rows that reach sampled numeric split nodes, the split feature at the float32 values
    around the threshold. Returns (rows, fraction of probes that reach their node)."""
    trees = walks(est)
    cand = [(w, i) for w in trees for i in np.flatnonzero(w.split) if i not in w.categorical]
    if not cand:
        return np.empty((0, base.shape[1]), F32), 1.0
    rows, reached = [], 0
    for ci in rng.choice(len(cand), size=min(limit, len(cand)), replace=False):
        w, node = cand[ci]
        path, j = [], int(node)
        while j in w.parent:
            path.append(w.parent[j])
            j = w.parent[j][0]
        row = base[rng.integers(len(base))].copy()
        for a, go_left in reversed(path):  # root first: each ancestor sends the row the right way
            row[w.feature[a]] = w.value_for(a, go_left, row[w.feature[a]])
        f, t = w.feature[node], w.threshold[node]
        if np.isinf(t):  # HistGradientBoosting's split of missing values from the rest
            values = [np.nan, F32(np.inf), F32(3.0e38)]
        else:
            lo = f32_floor(t)
            values = [down(lo), lo, up(lo), up(up(lo))]
        for v in values:
            r = row.copy()
            r[f] = v
            rows.append(r)
            reached += w.reaches(r, node)
    return np.array(rows, dtype=F32), reached / len(rows)


def category_rows(base, mask, rng, known_max):
    """Rows with awkward values in each categorical column: negative, fractional, unknown
    codes up to 255 (scikit-learn keeps codes as uint8, so 256+ wrap there: not probed)."""
    rows = []
    for f in np.flatnonzero(mask):
        for v in (-1.0, -0.5, 0.0, 0.5, 1.0, 2.5, known_max[f] + 1, 200.0, 255.0, np.nan):
            for _ in range(3):
                r = base[rng.integers(len(base))].copy()
                r[f] = v
                rows.append(r)
    return np.array(rows, dtype=F32)


# ---- running -------------------------------------------------------------------------------

def write_csv(path, names, X):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X.tolist():
            f.write(",".join("" if v != v else "%.9g" % v for v in row) + "\n")


def expected(est, X):
    """What scikit-learn says: P(positive) for binary, all classes' probabilities,
    IsolationForest's score_samples, or values."""
    if isinstance(est, IsolationForest):
        return est.score_samples(X).reshape(len(X), 1)
    if hasattr(est, "predict_proba"):
        p = est.predict_proba(X)
        return p[:, 1:] if p.shape[1] == 2 else p
    y = est.predict(X)
    return y.reshape(len(X), -1)


def convert_in_process(argv):
    """convert_sklearn's CLI entry point without a new interpreter: (status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = convert_sklearn.main(argv)
    return rc, err.getvalue()


def grove_predict(args, model, csv):
    r = subprocess.run([args.grove, "predict", model, "--input", csv], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        return None, "grove exit %d: %s" % (r.returncode, r.stderr.strip()[-300:])
    return np.loadtxt(r.stdout.splitlines(), delimiter=",", ndmin=2), ""


def compare(got, exp, prob):
    """None when every value agrees within the tolerance, else a diagnostic; and the max |diff|."""
    if got.shape != exp.shape:
        return "shape: grove %s, scikit-learn %s" % (got.shape, exp.shape), np.inf
    d = np.abs(got - exp)
    tol = ABS_TOL if prob else REL_TOL * np.maximum(1.0, np.abs(exp))
    bad = np.argwhere(~(d <= tol))
    worst = float(d.max()) if d.size else 0.0
    if len(bad) == 0:
        return None, worst
    i, j = bad[0]
    return ("row %d col %d: grove %.9g, scikit-learn %.9g (%d of %d rows differ, max |diff| %.3g)"
            % (i, j, got[i, j], exp[i, j], len(np.unique(bad[:, 0])), len(exp), worst)), worst


def run_case(tap, args, name, est, names, X_eval, extra_rows=None, min_reach=0.5):
    """Pickle EST, convert it, score X_eval plus probe rows with grove, compare."""
    d = os.path.join(args.workdir, name)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    probes, reach = probe_rows(est, X_eval, rng)
    parts = [X_eval, probes] + ([extra_rows] if extra_rows is not None else [])
    X = np.concatenate(parts).astype(F32)
    pkl = os.path.join(d, "model.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(est, f)
    model = os.path.join(d, "model.json")
    rc, err = convert_in_process([pkl, "--output", model, "--feature-names", ",".join(names)])
    kind = type(est).__name__
    if rc != 0:
        tap.check(False, "%s (%s) converts" % (name, kind), err.strip())
        return None
    csv = os.path.join(d, "input.csv")
    write_csv(csv, names, X)
    got, why = grove_predict(args, model, csv)
    if got is None:
        tap.check(False, "%s (%s): grove predict" % (name, kind), why)
        return None
    exp = expected(est, X.astype(np.float64) if hasattr(est, "_predictors") else X)
    diag, worst = compare(got, exp, hasattr(est, "predict_proba"))
    tap.check(diag is None, "%s (%s): %d rows (%d probes, %.0f%% reach their node) x %d outputs, max |diff| %.2g"
              % (name, kind, len(X), len(probes), 100 * reach, exp.shape[1], worst), diag)
    # The probes must do their job: most of them reach the split they were built for.
    tap.check(reach >= min_reach, "%s: threshold probes reach their split node" % name,
              "only %.0f%% of probes reach their node" % (100 * reach))
    return worst


def cases(rng):
    """(name, estimator, training X, y, eval X, feature names, extra eval rows or None)."""
    out = []
    names6 = ["x%d" % i for i in range(6)]
    Xtr, Xev = make_x(rng, 3000, 6), make_x(rng, 600, 6)
    y2, y4 = labels(rng, Xtr, 2), labels(rng, Xtr, 4)
    yr = score(Xtr) * 10 + 50

    out += [
        ("gbc_binary", GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0), Xtr, y2),
        ("gbc_multiclass", GradientBoostingClassifier(n_estimators=25, max_depth=4, subsample=0.8,
                                                      max_features=0.5, random_state=0), Xtr, y4),
        ("gbc_exponential", GradientBoostingClassifier(loss="exponential", n_estimators=40, random_state=0), Xtr, y2),
        ("gbc_init_zero", GradientBoostingClassifier(init="zero", n_estimators=30, random_state=0), Xtr, y2),
        ("gbc_init_dummy_prior", GradientBoostingClassifier(init=DummyClassifier(strategy="prior"),
                                                            n_estimators=20, random_state=0), Xtr, y4),
        ("gbr_squared_error", GradientBoostingRegressor(n_estimators=50, max_depth=4, learning_rate=0.2,
                                                        random_state=0), Xtr, yr),
        ("gbr_huber", GradientBoostingRegressor(loss="huber", n_estimators=30, min_samples_leaf=5,
                                                random_state=0), Xtr, yr),
        ("gbr_quantile", GradientBoostingRegressor(loss="quantile", alpha=0.8, n_estimators=30,
                                                   random_state=0), Xtr, yr),
        ("rf_binary", RandomForestClassifier(n_estimators=25, max_features="sqrt", min_samples_leaf=3,
                                             random_state=0), Xtr, y2),
        ("rf_multiclass_deep", RandomForestClassifier(n_estimators=12, max_depth=None, random_state=0), Xtr, y4),
        ("et_binary", ExtraTreesClassifier(n_estimators=20, max_features=0.5, random_state=0), Xtr, y2),
        ("et_multiclass", ExtraTreesClassifier(n_estimators=15, min_samples_leaf=2, random_state=0), Xtr, y4),
        ("rf_regressor", RandomForestRegressor(n_estimators=15, max_depth=12, random_state=0), Xtr, yr),
        ("et_regressor", ExtraTreesRegressor(n_estimators=15, random_state=0), Xtr, yr),
        ("rf_regressor_2_outputs", RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0), Xtr,
         np.c_[yr, -2 * yr + Xtr[:, 1]]),
        ("dt_classifier_deep", DecisionTreeClassifier(random_state=0), Xtr, y4),
        ("dt_regressor", DecisionTreeRegressor(max_depth=10, min_samples_leaf=2, random_state=0), Xtr, yr),
        # score_samples; every tree sees its own column order (and, with max_features < 1, subset).
        ("iso_forest", IsolationForest(n_estimators=60, random_state=0), Xtr, None),
        ("iso_forest_subsets", IsolationForest(n_estimators=40, max_samples=128, max_features=0.5,
                                               contamination=0.05, random_state=1), Xtr, None),
    ]
    out = [(n, e, X, y, Xev, names6, None) for n, e, X, y in out]

    # HistGradientBoosting: NaN in training and in the eval rows, categorical features.
    Xn, Xevn = with_nan(rng, Xtr, 0.05), with_nan(rng, Xev, 0.05)
    cat = Xtr.copy()
    cat[:, 2] = rng.integers(0, 9, len(cat))   # categorical, codes 0..8, code 4 never seen
    cat[cat[:, 2] == 4, 2] = 3
    cat[:, 5] = rng.integers(0, 40, len(cat))  # categorical, 40 codes
    cat = with_nan(rng, cat, 0.04)
    ycat = ((score(filled(cat)) + 0.8 * np.isin(cat[:, 2], [1, 5, 7]) - 0.03 * np.nan_to_num(cat[:, 5])
             + rng.normal(size=len(cat)) * 0.4) > 0).astype(int)
    ycat3 = np.digitize(score(filled(cat)) + (cat[:, 2] == 2) * 1.5, [-1, 1])
    evcat = Xev.copy()
    evcat[:, 2] = rng.integers(0, 9, len(evcat))
    evcat[:, 5] = rng.integers(0, 40, len(evcat))
    evcat = with_nan(rng, evcat, 0.04)
    cmask = np.zeros(6, bool)
    cmask[[2, 5]] = True
    known_max = {2: 8, 5: 39}
    odd = category_rows(evcat, cmask, rng, known_max)
    inf_rows = Xevn[:20].copy()
    inf_rows[:10, 0], inf_rows[10:, 1] = np.inf, -np.inf
    hgb = dict(max_iter=40, max_leaf_nodes=15, random_state=0)
    out += [
        ("hgb_binary_nan", HistGradientBoostingClassifier(**hgb), Xn, y2, Xevn, names6, inf_rows),
        ("hgb_multiclass_nan", HistGradientBoostingClassifier(max_iter=15, max_depth=5, random_state=0),
         Xn, y4, Xevn, names6, inf_rows),
        ("hgb_binary_categorical", HistGradientBoostingClassifier(categorical_features=cmask, **hgb),
         cat, ycat, evcat, names6, odd),
        ("hgb_multiclass_categorical", HistGradientBoostingClassifier(categorical_features=cmask, max_iter=15,
                                                                      random_state=0), cat, ycat3, evcat, names6, odd),
        ("hgb_regressor_categorical", HistGradientBoostingRegressor(categorical_features=cmask, **hgb),
         cat, score(filled(cat)) * 10 + 3 * (cat[:, 2] == 6), evcat, names6, odd),
        ("hgb_poisson", HistGradientBoostingRegressor(loss="poisson", **hgb), Xn,
         np.exp(np.clip(score(filled(Xn)), -3, 3)), Xevn, names6, None),
        ("hgb_absolute_error", HistGradientBoostingRegressor(loss="absolute_error", **hgb), Xn, yr,
         Xevn, names6, None),
    ]

    # Adult: label-encoded as the tutorial did, and as categorical codes with '?' missing.
    names, enc, codes, ya, amask, n = adult_slice(4000, 800)
    amax = {f: float(np.nanmax(codes[:, f])) for f in np.flatnonzero(amask)}
    out += [
        ("adult_gbc", GradientBoostingClassifier(n_estimators=100, random_state=0), enc[:n], ya[:n], enc[n:],
         names, None),
        ("adult_rf", RandomForestClassifier(n_estimators=20, min_samples_leaf=2, random_state=0), enc[:n], ya[:n],
         enc[n:], names, None),
        ("adult_hgb_categorical", HistGradientBoostingClassifier(categorical_features=amask, max_iter=50,
                                                                 random_state=0),
         codes[:n], ya[:n], codes[n:], names, category_rows(codes[n:], amask, rng, amax)),
    ]
    return out


# ---- checks beyond the golden comparisons ---------------------------------------------------

def run_cli(argv):
    r = subprocess.run([sys.executable, CONVERTER] + argv, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


def check_refused(tap, args, desc, path, pattern, extra=()):
    """convert_sklearn.py (a real process) exits 2 with a one-line message matching PATTERN."""
    rc, err = run_cli([path, "--output", os.path.join(args.workdir, "refused.json")] + list(extra))
    lines = err.strip().splitlines()
    ok = rc == 2 and len(lines) == 1 and re.search(pattern, lines[0]) and "Traceback" not in err
    tap.check(bool(ok), "refused: %s -> exit 2, %r" % (desc, lines[0] if lines else ""),
              "exit %s, stderr %r (want /%s/)" % (rc, err.strip()[-400:], pattern))


def check_misc(tap, args, rng):
    W = args.workdir
    X, Xev = make_x(rng, 1500, 6), make_x(rng, 300, 6)
    y = labels(rng, X, 2)
    names = ["x%d" % i for i in range(6)]
    csv = os.path.join(W, "misc_input.csv")
    write_csv(csv, names, Xev)

    # The tutorial's failure: a pickle whose predict_proba raises AttributeError because a
    # private attribute of another version is missing. The expected values are taken
    # before the attribute is deleted: the tree walk the converted model must reproduce.
    gbc = GradientBoostingClassifier(n_estimators=40, random_state=0).fit(X, y)
    want = gbc.predict_proba(Xev)[:, 1:]
    del gbc._loss
    try:
        gbc.predict_proba(Xev)
        raised = False
    except AttributeError:
        raised = True
    tap.check(raised, "GBC without _loss: predict_proba raises AttributeError (the older pickle's symptom)")
    pkl = os.path.join(W, "gbc_no_loss.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(gbc, f)
    model = os.path.join(W, "gbc_no_loss.json")
    rc, err = run_cli([pkl, "--output", model])
    tap.check(rc == 0, "GBC without _loss converts (CLI)", err.strip())
    got, why = grove_predict(args, model, csv) if rc == 0 else (None, "not converted")
    diag, worst = compare(got, want, True) if got is not None else (why, np.inf)
    tap.check(diag is None, "GBC without _loss: grove matches the tree walk (max |diff| %.2g)" % worst, diag)

    # joblib (compressed) files, the feature names scikit-learn recorded, --schema-output,
    # and the model directory they make.
    rf = RandomForestClassifier(n_estimators=8, random_state=0).fit(pd.DataFrame(X, columns=names), y)
    mdir = os.path.join(W, "rf-dir")
    os.makedirs(mdir, exist_ok=True)
    jl = os.path.join(W, "rf.joblib")
    joblib.dump(rf, jl, compress=3)
    rc, err = run_cli([jl, "--output", os.path.join(mdir, "model.json"), "--schema-output",
                       os.path.join(mdir, "schema.json")])
    tap.check(rc == 0, "compressed joblib file converts with --schema-output", err.strip())
    got, why = grove_predict(args, mdir, csv)
    want = rf.predict_proba(pd.DataFrame(Xev, columns=names))[:, 1:]
    diag, worst = compare(got, want, True) if got is not None else (why, np.inf)
    tap.check(diag is None, "model directory (model.json + generated schema.json) loads and matches "
              "(feature names from feature_names_in_)", diag)
    r = subprocess.run([args.grove, "info", mdir], capture_output=True, text=True)
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    tap.check(info.get("format") == "scikit-learn" and info.get("source_model") == "RandomForestClassifier"
              and info.get("classes") == ["0", "1"] and [f["name"] for f in info.get("features", [])] == names,
              "grove info: format scikit-learn, source model, classes from the schema, feature names",
              r.stdout[:300] + r.stderr[-300:])
    with open(os.path.join(mdir, "model.json")) as f:
        block = json.load(f)["grove"]
    import sklearn
    tap.check(block.get("sklearn_version") == sklearn.__version__ and block.get("classes") == [0, 1],
              "grove block records the pickling scikit-learn version and the classes", str(block))

    # The bundled models/income-sklearn: model.json is what the converter makes of model.pkl
    # today, and grove scores sample.csv (category strings through schema.json) as
    # scikit-learn did.
    bundled = os.path.join(ROOT, "models", "income-sklearn")
    with open(os.path.join(bundled, "schema.json")) as f:
        bnames = [f_["name"] for f_ in json.load(f)["features"]]
    fresh = os.path.join(W, "income-sklearn.json")
    rc, err = convert_in_process([os.path.join(bundled, "model.pkl"), "--output", fresh,
                                  "--feature-names", ",".join(bnames)])
    with open(fresh) as f, open(os.path.join(bundled, "model.json")) as g:
        same = rc == 0 and f.read() == g.read()
    tap.check(same, "models/income-sklearn/model.json is the conversion of model.pkl",
              err.strip() or "differs: rerun models/train_income_sklearn.py")
    got, why = grove_predict(args, bundled, os.path.join(bundled, "sample.csv"))
    want = np.loadtxt(os.path.join(bundled, "sample_expected.csv"), ndmin=2)
    diag, worst = compare(got, want, True) if got is not None else (why, np.inf)
    tap.check(diag is None, "models/income-sklearn: grove on sample.csv matches sample_expected.csv "
              "(max |diff| %.2g)" % worst, diag)

    # Exactness of the threshold rule itself, at the edges of float32's range.
    ts = np.array([0.1, -0.1, 1e-45, -1e-45, 0.0, 3.4e38, 3.5e38, -3.5e38, 1e300, -np.inf,
                   float(F32(0.1)), 0.5 * (float(F32(1.0)) + float(np.nextafter(F32(1.0), F32(2))))])
    cs = convert_sklearn.split_thresholds(ts)
    xs = np.concatenate([[F32(-np.inf), F32(np.inf), F32(0.0), F32(-0.0)],
                         np.array([f32_floor(t) for t in ts if np.isfinite(f32_floor(t))], F32)])
    with np.errstate(over="ignore"):
        xs = np.unique(np.concatenate([xs, np.nextafter(xs, F32(np.inf)), np.nextafter(xs, F32(-np.inf))]))
    bad = [(float(x), t) for t, c in zip(ts, cs) for x in xs if (float(x) <= t) != (x < c)]
    tap.check(not bad, "split_thresholds: x <= t equals x < c for float32 x around %d thresholds" % len(ts),
              str(bad[:5]))

    # What is refused, each with a message naming it.
    def dump(name, obj):
        p = os.path.join(W, name)
        with open(p, "wb") as f:
            pickle.dump(obj, f)
        return p
    small = X[:300], y[:300]
    check_refused(tap, args, "a Pipeline", dump("pipe.pkl", make_pipeline(StandardScaler(),
                  GradientBoostingClassifier(n_estimators=3)).fit(*small)), r"^convert_sklearn: Pipeline .*not supported")
    check_refused(tap, args, "LogisticRegression", dump("lr.pkl", LogisticRegression().fit(*small)),
                  r"LogisticRegression .*is not supported; supported: .*GradientBoostingClassifier")
    check_refused(tap, args, "AdaBoostClassifier", dump("ada.pkl", AdaBoostClassifier(n_estimators=3).fit(*small)),
                  r"AdaBoostClassifier .*is not supported")
    check_refused(tap, args, "GBC with a LogisticRegression init",
                  dump("gbc_init.pkl", GradientBoostingClassifier(n_estimators=3, init=LogisticRegression())
                       .fit(*small)), r"init estimator LogisticRegression is not supported")
    check_refused(tap, args, "GBC with a DummyClassifier(strategy='most_frequent') init",
                  dump("gbc_mf.pkl", GradientBoostingClassifier(n_estimators=3, init=DummyClassifier(
                      strategy="most_frequent")).fit(*small)), r"DummyClassifier\(strategy='most_frequent'\)")
    check_refused(tap, args, "a multi-output RandomForestClassifier",
                  dump("rf_mo.pkl", RandomForestClassifier(n_estimators=3).fit(small[0], np.c_[small[1], 1 - small[1]])),
                  r"multi-output RandomForestClassifier")
    check_refused(tap, args, "an unfitted GradientBoostingRegressor", dump("unfit.pkl", GradientBoostingRegressor()),
                  r"GradientBoostingRegressor is not fitted")
    check_refused(tap, args, "a dict", dump("dict.pkl", {"model": 1}), r"dict .*is not supported")
    garbage = os.path.join(W, "garbage.pkl")
    with open(garbage, "wb") as f:
        f.write(b"this is not a pickle\n" * 10)
    check_refused(tap, args, "a text file", garbage, r"garbage\.pkl is not a readable pickle or joblib file")
    truncated = os.path.join(W, "truncated.pkl")
    with open(pkl, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read(200))
    check_refused(tap, args, "a truncated pickle", truncated, r"truncated\.pkl is not a readable pickle")
    check_refused(tap, args, "a missing file", os.path.join(W, "no-such.pkl"), r"cannot read .*no-such\.pkl")
    check_refused(tap, args, "--feature-names of the wrong length", pkl, r"2 feature names given, .* has 6 features",
                  ["--feature-names", "a,b"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grove", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--cases", help="comma-separated subset of the golden cases (the other checks still run)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.grove = os.path.abspath(args.grove)
    args.workdir = os.path.abspath(args.workdir)
    if not os.access(args.grove, os.X_OK):
        print("Bail out! grove binary not found/executable: %s" % args.grove)
        return 2
    os.makedirs(args.workdir, exist_ok=True)
    t0 = time.time()
    tap = Tap()
    rng = np.random.default_rng(0)
    want = set(args.cases.split(",")) if args.cases else None
    worst = {}
    for name, est, X, y, Xev, names, extra in cases(rng):
        if want is not None and name not in want:
            continue
        t = time.time()
        est.fit(X, y)
        w = run_case(tap, args, name, est, names, Xev, extra)
        if w is not None:
            worst[name] = w
        if args.verbose:
            tap.note("%s: %.1f s" % (name, time.time() - t))
    check_misc(tap, args, np.random.default_rng(1))
    print("1..%d" % tap.n)
    tap.note("max |grove - scikit-learn| per case: " + ", ".join("%s %.2g" % kv for kv in worst.items()))
    tap.note("%.1f s" % (time.time() - t0))
    if tap.failed:
        print("# %d of %d tests failed" % (len(tap.failed), tap.n))
        return 1
    print("# all %d tests passed" % tap.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
