#!/usr/bin/python3
"""Convert a fitted scikit-learn tree ensemble into an XGBoost-style JSON model grove loads.

    /usr/bin/python3 models/convert_sklearn.py MODEL.pkl --output OUT.json
        [--feature-names a,b,...] [--schema-output schema.json]

MODEL.pkl is a file written by ``pickle.dump`` or ``joblib.dump``. Supported: the
GradientBoosting, HistGradientBoosting, RandomForest, ExtraTrees and DecisionTree
classifiers and regressors, and IsolationForest (models/README.md, "Converting a
scikit-learn model", says how each maps). The fitted trees are read directly (``tree_`` arrays, HistGradientBoosting's
predictor ``nodes`` and category bitsets); nothing is ever predicted, so a pickle whose
``predict`` no longer works in this scikit-learn (a private attribute renamed between
versions) still converts.

Exactness: scikit-learn sends ``x <= t`` left (``t`` a double, ``x`` a float32 for the
tree ensembles, a double for HistGradientBoosting); grove sends ``x < c`` left with float32
``c`` and float32 ``x``. For every float32 ``x``, ``x <= t`` holds exactly when ``x < c``
with ``c`` the float32 after the largest float32 ``<= t`` (split_thresholds), so the
converted model takes the same path as scikit-learn for every float32 input. Leaf values
(learning rate and forest averaging folded in) are computed in float64 and rounded once
to float32.

Unpickling runs code from the file: convert only files you trust.

Exit status: 0 converted; 2 the file cannot be read or holds something this converter
does not support (one line on stderr says what).
"""

import argparse
import json
import os
import re
import sys
import warnings

import numpy as np

F32 = np.float32


class ConversionError(Exception):
    """What the user is told, on one line, before exit status 2."""


# ---- one converted tree --------------------------------------------------------------------

class Tree:
    """One tree in XGBoost's array layout (node i's fields at index i; -1 = no child)."""

    def __init__(self, n):
        self.left = np.full(n, -1, dtype=np.int64)
        self.right = np.full(n, -1, dtype=np.int64)
        self.feature = np.zeros(n, dtype=np.int64)
        self.cond = np.zeros(n, dtype=F32)       # float32 threshold, or the leaf value
        self.default_left = np.zeros(n, dtype=np.int8)
        self.categorical = np.zeros(n, dtype=np.int8)
        self.cats = {}                           # split node -> sorted categories sent right
        self.count = np.zeros(n, dtype=np.float64)  # training samples (XGBoost's sum_hessian)


def split_thresholds(t):
    """float32 c per double t such that, for every float32 x, (x <= t) == (x < c).

    c is the float32 just above the largest float32 <= t. t beyond float32's range works
    too (t > FLT_MAX gives +inf, t < -FLT_MAX gives -FLT_MAX: only -inf is <= t). t = +inf
    (HistGradientBoosting's split of missing values from all the others) has no such c,
    since +inf <= +inf: the caller handles it (numeric_split)."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as intended
        f = t.astype(F32)  # round to nearest: one float32 step too high when it rounded up
        f = np.where(f.astype(np.float64) > t, np.nextafter(f, F32(-np.inf)), f)
        return np.nextafter(f, F32(np.inf))


def numeric_split(tree, i, threshold, left, right, nan_left):
    """Node i of TREE: scikit-learn's `x <= threshold` goes to LEFT, NaN to LEFT iff NAN_LEFT."""
    if np.isnan(threshold):
        raise ConversionError("node %d has a NaN threshold" % i)
    if threshold == np.inf:
        # Every non-NaN x goes left. grove's `x < c` cannot say that for x = +inf, but
        # `x < -inf` sends every non-NaN x right: swap the children.
        left, right, nan_left, c = right, left, not nan_left, F32(-np.inf)
    else:
        c = split_thresholds(threshold)
    tree.left[i], tree.right[i], tree.cond[i] = left, right, c
    tree.default_left[i] = 1 if nan_left else 0


def from_sklearn_tree(sk, leaf_values):
    """A fitted sklearn.tree._tree.Tree with LEAF_VALUES[node] as the leaf outputs."""
    n = sk.node_count
    left, right = sk.children_left, sk.children_right
    feature, threshold = sk.feature, sk.threshold
    samples = sk.weighted_n_node_samples
    # scikit-learn >= 1.3 records where NaN goes; before that trees refuse NaN, so grove
    # sends it to the child that saw more (weighted) training samples, ties left: the
    # rule 1.3+ documents for splits that saw no missing value in training.
    nan_left = getattr(sk, "missing_go_to_left", None)
    out = Tree(n)
    out.count[:] = samples
    for i in range(n):
        if left[i] == -1:
            out.cond[i] = leaf_values[i]
            continue
        go_left = bool(nan_left[i]) if nan_left is not None else samples[left[i]] >= samples[right[i]]
        out.feature[i] = feature[i]
        numeric_split(out, i, threshold[i], left[i], right[i], go_left)
    return out


def from_hgb_predictor(pred, known):
    """A HistGradientBoosting TreePredictor; KNOWN[f] = the set of category values seen in
    training for categorical feature f.

    scikit-learn at a categorical split: NaN, negative and unknown values go the missing
    side; known categories go left when in the node's left bitset, right otherwise. grove
    sends NaN the default way, a value in the node's listed set right and anything else
    (unknown, negative, >= 2^24) left. So the listed set is the known categories that do
    NOT go the missing side, and the children are swapped when the missing side is
    scikit-learn's right: grove's left child is then always the missing side."""
    nodes = pred.nodes
    names = nodes.dtype.names
    n = len(nodes)
    out = Tree(n)
    out.count[:] = nodes["count"]
    for i in range(n):
        nd = nodes[i]
        if nd["is_leaf"]:
            out.cond[i] = nd["value"]
            continue
        f = int(nd["feature_idx"])
        out.feature[i] = f
        nan_left = bool(nd["missing_go_to_left"])
        if "is_categorical" in names and nd["is_categorical"]:
            bits = pred.raw_left_cat_bitsets[nd["bitset_idx"]]
            goes_left = {c for c in known[f] if (int(bits[c // 32]) >> (c % 32)) & 1}
            listed = (known[f] - goes_left) if nan_left else goes_left
            left, right = (nd["left"], nd["right"]) if nan_left else (nd["right"], nd["left"])
            out.left[i], out.right[i] = left, right
            out.categorical[i] = 1
            out.default_left[i] = 1
            out.cats[i] = sorted(listed)
        else:
            numeric_split(out, i, nd["num_threshold"], nd["left"], nd["right"], nan_left)
    return out


def constant_tree(value):
    """A one-leaf tree: how a prior (GradientBoosting's init_, HGB's baseline) is added,
    exact in float32 whatever the objective's link."""
    t = Tree(1)
    t.cond[0] = value
    return t


# ---- estimators ----------------------------------------------------------------------------

def fitted(est, attr):
    if not hasattr(est, attr):
        raise ConversionError("%s is not fitted (no %s)" % (type(est).__name__, attr))
    return getattr(est, attr)


def class_fractions(sk):
    """Per node, the class probabilities one tree predicts (rows of value normalised)."""
    v = sk.value[:, 0, :].astype(np.float64)
    s = v.sum(axis=1, keepdims=True)
    s[s == 0] = 1.0  # as sklearn's predict_proba: an all-zero row stays zero
    return v / s


def convert_forest(est, classifier):
    """RandomForest / ExtraTrees / DecisionTree: the output is the mean over trees."""
    name = type(est).__name__
    trees = [est] if hasattr(est, "tree_") else list(fitted(est, "estimators_"))
    if not trees:
        raise ConversionError("%s has no trees" % name)
    fitted(trees[0], "tree_")
    n_outputs = int(getattr(est, "n_outputs_", 1))
    scale = 1.0 / len(trees)
    out, groups = [], []
    if classifier:
        if n_outputs != 1:
            raise ConversionError("multi-output %s (n_outputs_=%d) is not supported" % (name, n_outputs))
        k = len(est.classes_)
        if k < 2:
            raise ConversionError("%s was fitted on a single class" % name)
        for t in trees:
            frac = class_fractions(t.tree_) * scale
            if k == 2:  # one output: the positive class's probability
                out.append(from_sklearn_tree(t.tree_, frac[:, 1]))
                groups.append(0)
            else:
                for c in range(k):
                    out.append(from_sklearn_tree(t.tree_, frac[:, c]))
                    groups.append(c)
        return dict(objective="grove:probability", num_class=0 if k == 2 else k, trees=out, groups=groups)
    for t in trees:
        for j in range(n_outputs):
            out.append(from_sklearn_tree(t.tree_, t.tree_.value[:, j, 0] * scale))
            groups.append(j)
    return dict(objective="reg:squarederror", num_target=n_outputs, trees=out, groups=groups)


def gb_init_raw(est, k, loss):
    """GradientBoosting's initial raw prediction per output (None for init='zero'),
    computed from the DummyClassifier / DummyRegressor's fitted constants."""
    init = fitted(est, "init_")
    if isinstance(init, str) and init == "zero":
        return None
    iname = type(init).__name__
    if iname == "DummyRegressor":
        return [float(np.ravel(init.constant_)[0])]
    if iname != "DummyClassifier" or getattr(init, "strategy", None) != "prior":
        what = iname if iname != "DummyClassifier" else "DummyClassifier(strategy=%r)" % init.strategy
        raise ConversionError("%s: init estimator %s is not supported (only DummyClassifier/DummyRegressor "
                              "priors, the default, or init='zero')" % (type(est).__name__, what))
    # Clipped as scikit-learn clips them before taking logs.
    eps = np.finfo(np.float32).eps
    p = np.clip(np.asarray(init.class_prior_, dtype=np.float64), eps, 1 - eps)
    if k == 1:
        raw = np.log(p[1] / (1 - p[1]))
        return [0.5 * raw if loss == "exponential" else raw]
    return list(np.log(p))


def convert_gb(est, classifier):
    """GradientBoostingClassifier / Regressor: raw = init + learning_rate * sum of trees."""
    name = type(est).__name__
    stages = fitted(est, "estimators_")
    # The `loss` parameter, not the private `_loss` object: older pickles may lack the latter.
    loss = getattr(est, "loss", None)
    lr = float(est.learning_rate)
    k = stages.shape[1]
    factor = 1.0
    if classifier:
        if loss in ("log_loss", "deviance"):
            objective = "binary:logistic" if k == 1 else "multi:softprob"
        elif loss == "exponential" and k == 1:
            # P(y=1) = expit(2 * raw): fold the 2 into every leaf and into the prior.
            objective, factor = "binary:logistic", 2.0
        else:
            raise ConversionError("%s with loss=%r is not supported" % (name, loss))
    else:
        if loss not in ("squared_error", "ls", "absolute_error", "lad", "huber", "quantile"):
            raise ConversionError("%s with loss=%r is not supported" % (name, loss))
        objective = "reg:squarederror"  # every regression loss predicts the raw value
    out, groups = [], []
    init = gb_init_raw(est, k, loss)
    if init is not None:
        for g, v in enumerate(init):
            out.append(constant_tree(factor * v))
            groups.append(g)
    for stage in stages:
        for g, t in enumerate(stage):
            out.append(from_sklearn_tree(t.tree_, t.tree_.value[:, 0, 0] * (factor * lr)))
            groups.append(g)
    return dict(objective=objective, num_class=k if k > 1 else 0, trees=out, groups=groups)


HGB_REGRESSION = {"squared_error": "reg:squarederror", "least_squares": "reg:squarederror",
                  "absolute_error": "reg:squarederror", "least_absolute_deviation": "reg:squarederror",
                  "quantile": "reg:squarederror", "poisson": "count:poisson", "gamma": "reg:gamma"}


def convert_hgb(est, classifier):
    """HistGradientBoosting: raw = baseline + sum of trees (learning rate already in the leaves)."""
    name = type(est).__name__
    predictors = fitted(est, "_predictors")
    loss = est.loss if isinstance(est.loss, str) else type(est.loss).__name__
    k = int(est.n_trees_per_iteration_)
    if classifier:
        if loss not in ("log_loss", "auto", "binary_crossentropy", "categorical_crossentropy"):
            raise ConversionError("%s with loss=%r is not supported" % (name, loss))
        objective = "binary:logistic" if k == 1 else "multi:softprob"
    else:
        if loss not in HGB_REGRESSION:
            raise ConversionError("%s with loss=%r is not supported" % (name, loss))
        objective = HGB_REGRESSION[loss]
    mapper = est._bin_mapper
    is_cat = getattr(est, "is_categorical_", None)
    if is_cat is None:
        is_cat = getattr(mapper, "is_categorical_", None)
    known = {}
    if is_cat is not None:
        for f in np.flatnonzero(is_cat):
            # For a categorical feature the "thresholds" are the raw categories seen in fit.
            known[int(f)] = {int(c) for c in mapper.bin_thresholds_[f]}
    out, groups = [], []
    for g, v in enumerate(np.ravel(est._baseline_prediction)):
        out.append(constant_tree(float(v)))
        groups.append(g)
    for it in predictors:
        for g, pred in enumerate(it):
            out.append(from_hgb_predictor(pred, known))
            groups.append(g)
    types = ["c" if int(f) in known else "q" for f in range(n_features(est))]
    return dict(objective=objective, num_class=k if k > 1 else 0, trees=out, groups=groups,
                feature_types=types, categories=known)


def average_path_length(n):
    """scikit-learn's _average_path_length: the mean path length of an unsuccessful
    search in a binary search tree of n points (0 for n <= 1, 1 for n = 2)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def convert_isolation(est, classifier):
    """IsolationForest: the output is score_samples, -2^-(mean path length / c(max_samples)).

    A leaf holds (its depth + c(its training samples)) / (trees * c(max_samples)), so the
    summed margin is the normalized mean path length and grove:isolation_score's transform
    gives -2^-margin. When trees were grown on column subsets (max_features < 1), a tree's
    features index its own subset (estimators_features_): mapped back to the model's
    columns here, exactly when scikit-learn's scoring applies the subset."""
    trees = list(fitted(est, "estimators_"))
    subsets = list(fitted(est, "estimators_features_"))
    denominator = len(trees) * float(average_path_length([fitted(est, "max_samples_")])[0])
    if not trees or denominator == 0:
        raise ConversionError("IsolationForest with max_samples_=%s has no path length to normalize by"
                              % getattr(est, "max_samples_", "?"))
    subsampled = int(fitted(est, "_max_features")) != n_features(est)
    out = []
    for t, features in zip(trees, subsets):
        sk = t.tree_
        depth = np.zeros(sk.node_count, dtype=np.float64)
        for i in range(sk.node_count):  # parents come before their children in tree_
            for c in (sk.children_left[i], sk.children_right[i]):
                if c >= 0:
                    depth[c] = depth[i] + 1
        leaf = (depth + average_path_length(sk.n_node_samples)) / denominator
        tree = from_sklearn_tree(sk, leaf)
        if subsampled:
            split = tree.left >= 0
            tree.feature[split] = np.asarray(features)[tree.feature[split]]
        out.append(tree)
    return dict(objective="grove:isolation_score", trees=out, groups=[0] * len(out),
                extra={"offset": float(est.offset_)})


CONVERTERS = {
    "IsolationForest": (convert_isolation, False),
    "GradientBoostingClassifier": (convert_gb, True),
    "GradientBoostingRegressor": (convert_gb, False),
    "HistGradientBoostingClassifier": (convert_hgb, True),
    "HistGradientBoostingRegressor": (convert_hgb, False),
    "RandomForestClassifier": (convert_forest, True),
    "RandomForestRegressor": (convert_forest, False),
    "ExtraTreesClassifier": (convert_forest, True),
    "ExtraTreesRegressor": (convert_forest, False),
    "DecisionTreeClassifier": (convert_forest, True),
    "DecisionTreeRegressor": (convert_forest, False),
    "ExtraTreeClassifier": (convert_forest, True),
    "ExtraTreeRegressor": (convert_forest, False),
}

HINTS = {
    "Pipeline": "grove scores trees only: apply the preprocessing before sending rows, "
                "and convert the final estimator (pipeline[-1]) on its own",
    "XGBClassifier": "save the booster (get_booster().save_model('model.json')): grove loads XGBoost models as they are",
    "XGBRegressor": "save the booster (get_booster().save_model('model.json')): grove loads XGBoost models as they are",
}


def n_features(est):
    for attr in ("n_features_in_", "n_features_", "_n_features"):
        if hasattr(est, attr):
            return int(getattr(est, attr))
    raise ConversionError("%s: number of features not found" % type(est).__name__)


def supported_names():
    return ", ".join(sorted(CONVERTERS))


def convert(est, feature_names=None):
    """The model as a dict ready for write_model(), plus a little metadata."""
    name = type(est).__name__
    if name not in CONVERTERS or not type(est).__module__.startswith("sklearn."):
        hint = HINTS.get(name)
        raise ConversionError("%s (%s) is not supported%s" % (
            name, type(est).__module__, ": " + hint if hint else "; supported: " + supported_names()))
    fn, classifier = CONVERTERS[name]
    try:
        m = fn(est, classifier)
        m["num_feature"] = n_features(est)
        names = feature_names
        if names is None and hasattr(est, "feature_names_in_"):
            names = [str(s) for s in est.feature_names_in_]
        if names is not None and len(names) != m["num_feature"]:
            raise ConversionError("%d feature names given, %s has %d features" % (len(names), name, m["num_feature"]))
        m["feature_names"] = names
        m["classes"] = [c.item() if hasattr(c, "item") else c for c in est.classes_] if classifier else None
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
        # A pickle from a scikit-learn version whose private layout differs from what is read here.
        raise ConversionError("%s: cannot read the fitted model (%s: %s)" % (name, type(e).__name__, e))
    for t in m["trees"]:
        bad = t.feature[t.left >= 0]
        if bad.size and (bad.min() < 0 or bad.max() >= m["num_feature"]):
            raise ConversionError("%s: a split uses a feature outside [0, %d)" % (name, m["num_feature"]))
        if not np.all(np.isfinite(t.cond[t.left < 0])):
            raise ConversionError("%s: a leaf value is not finite in float32" % name)
    m["source_model"] = name
    return m


# ---- writing -------------------------------------------------------------------------------

def num(v):
    """A float32 as JSON text that grove's strtof (and XGBoost) reads back bit for bit."""
    v = float(v)
    if np.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"  # JSON has no inf; json-c and XGBoost accept these
    return "%.9g" % v


def ints(a):
    return "[" + ",".join(str(int(x)) for x in a) + "]"


TREES = "@trees@"  # placeholder in model_json's document


def tree_json(t, tid, num_feature):
    n = len(t.left)
    parents = np.full(n, 2147483647, dtype=np.int64)  # XGBoost's "no parent"
    for i in range(n):
        for c in (t.left[i], t.right[i]):
            if c >= 0:
                parents[c] = i
    cat_nodes = sorted(t.cats)
    segments, sizes, cats = [], [], []
    for i in cat_nodes:
        segments.append(len(cats))
        sizes.append(len(t.cats[i]))
        cats.extend(t.cats[i])
    leaf = t.left < 0
    weights = np.where(leaf, t.cond, 0)  # XGBoost also keeps the leaf value in base_weights
    fields = [
        ("base_weights", "[" + ",".join(num(v) for v in weights) + "]"),
        ("categories", ints(cats)),
        ("categories_nodes", ints(cat_nodes)),
        ("categories_segments", ints(segments)),
        ("categories_sizes", ints(sizes)),
        ("default_left", ints(t.default_left)),
        ("id", str(tid)),
        ("left_children", ints(t.left)),
        ("loss_changes", "[" + ",".join("0" for _ in range(n)) + "]"),
        ("parents", ints(parents)),
        ("right_children", ints(t.right)),
        ("split_conditions", "[" + ",".join(num(v) for v in t.cond) + "]"),
        ("split_indices", ints(np.where(leaf, 0, t.feature))),
        ("split_type", ints(t.categorical)),
        ("sum_hessian", "[" + ",".join("%.9g" % v for v in t.count) + "]"),
        ("tree_param", json.dumps({"num_deleted": "0", "num_feature": str(num_feature), "num_nodes": str(n),
                                   "size_leaf_vector": "0"})),
    ]
    return "{" + ",".join('"%s":%s' % kv for kv in fields) + "}"


def model_json(m):
    """XGBoost 1.7's JSON layout; the extras grove reads are the "grove" block, the
    grove:probability objective and one constant tree per output for the prior."""
    nf = m["num_feature"]
    num_class = m.get("num_class", 0)
    # A base score whose margin is 0 under the objective's link: the prior is a tree.
    base = {"binary:logistic": "5E-1", "count:poisson": "1", "reg:gamma": "1"}.get(m["objective"], "0")
    objective = {"name": m["objective"]}
    if m["objective"] == "multi:softprob":
        objective["softmax_multiclass_param"] = {"num_class": str(num_class)}
    learner = {
        "attributes": {},
        "feature_names": m["feature_names"] or [],
        "feature_types": m.get("feature_types") or (["q"] * nf if m["feature_names"] else []),
        "learner_model_param": {"base_score": base, "boost_from_average": "1", "num_class": str(num_class),
                                "num_feature": str(nf), "num_target": str(m.get("num_target", 1))},
        "objective": objective,
    }
    grove = {"source_format": "scikit-learn", "source_model": m["source_model"]}
    if m.get("sklearn_version"):
        grove["sklearn_version"] = m["sklearn_version"]
    if m["classes"] is not None:
        grove["classes"] = m["classes"]
    grove.update(m.get("extra", {}))
    gbtree = {"num_parallel_tree": "1", "num_trees": str(len(m["trees"])), "size_leaf_vector": "0"}
    learner["gradient_booster"] = {"name": "gbtree", "model": {
        "gbtree_model_param": gbtree, "tree_info": [int(g) for g in m["groups"]], "trees": TREES}}
    text = json.dumps({"grove": grove, "learner": learner, "version": [1, 7, 4]})
    # The trees are written by tree_json (float32 numbers as %.9g), one per line.
    trees = ",\n".join(tree_json(t, i, nf) for i, t in enumerate(m["trees"]))
    return text.replace(json.dumps(TREES), "[\n" + trees + "\n]") + "\n"


def schema_json(m, name):
    """A schema.json (models/README.md) from what the model knows: names, categories as
    their integer codes, class labels."""
    names = m["feature_names"] or ["f%d" % i for i in range(m["num_feature"])]
    cats = m.get("categories", {})
    feats = []
    for i, fname in enumerate(names):
        if i in cats:
            top = max(cats[i]) if cats[i] else -1
            feats.append({"name": fname, "type": "categorical",
                          "categories": [str(c) for c in range(top + 1)],
                          "description": "categorical: integer codes 0-%d (codes seen in training: %s)"
                                         % (top, ",".join(str(c) for c in sorted(cats[i])))})
        else:
            feats.append({"name": fname, "type": "numeric", "description": ""})
    s = {"name": name, "description": "%s converted from scikit-learn by models/convert_sklearn.py"
                                      % m["source_model"], "features": feats}
    if m["classes"] is not None:
        s["labels"] = [str(c) for c in m["classes"]]
    return json.dumps(s, indent=2) + "\n"


def load(path):
    """Unpickle PATH (joblib reads plain pickles too), with one clear error for anything
    unreadable. Returns (estimator, the scikit-learn version that pickled it)."""
    import joblib
    import sklearn
    if not os.path.isfile(path):
        raise ConversionError("cannot read %s: no such file" % path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = joblib.load(path)
    except Exception as e:  # noqa: BLE001 - whatever unpickling raises, the file is not usable
        detail = str(e).splitlines()[0] if str(e) else ""
        raise ConversionError("%s is not a readable pickle or joblib file (%s: %s)" % (path, type(e).__name__, detail))
    # scikit-learn warns "Trying to unpickle estimator X from version A when using version B"
    # when the versions differ; silence means the pickle came from this version.
    for w in caught:
        found = re.search(r"from version (\S+) when using version", str(w.message))
        if found:
            return est, found.group(1)
    return est, sklearn.__version__


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="pickle or joblib file holding a fitted estimator")
    ap.add_argument("--output", required=True, help="model JSON to write")
    ap.add_argument("--feature-names", help="comma-separated feature names (default: feature_names_in_)")
    ap.add_argument("--schema-output", help="also write a schema.json")
    args = ap.parse_args(argv)
    try:
        names = args.feature_names.split(",") if args.feature_names else None
        if names is not None and len(set(names)) != len(names):
            raise ConversionError("--feature-names: names must be unique")
        est, version = load(args.model)
        m = convert(est, names)
        m["sklearn_version"] = version
        text = model_json(m)
        schema = schema_json(m, os.path.basename(os.path.dirname(os.path.abspath(args.output))))
        try:
            with open(args.output, "w") as f:
                f.write(text)
            if args.schema_output:
                with open(args.schema_output, "w") as f:
                    f.write(schema)
        except OSError as e:
            raise ConversionError("cannot write %s: %s" % (e.filename, e.strerror))
    except ConversionError as e:
        print("convert_sklearn: %s" % e, file=sys.stderr)
        return 2
    print("convert_sklearn: %s -> %s (%s, %d trees, %d features)" % (
        m["source_model"], args.output, m["objective"], len(m["trees"]), m["num_feature"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
