"""What the bench scripts share (imported from their own folder, as bench_common.h is in C)."""


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, written beside every figure."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def client_args(ap, threads, label):
    """The options bench/loadgen's wrappers (h2load_run.py, wrk_run.py) share with it, added to
    the argparse parser AP; THREADS and LABEL: the client's defaults."""
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/predict")
    ap.add_argument("--body", required=True)
    ap.add_argument("--content-type", default="application/json")
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("-c", "--connections", type=int, default=64)
    ap.add_argument("-d", "--duration", type=int, default=10)
    ap.add_argument("-w", "--warmup", type=int, default=1)
    ap.add_argument("-t", "--threads", type=int, default=threads)
    ap.add_argument("--label", default=label)


def client_window(a, script):
    """Seconds measured of the parsed options A: -d is the whole run, the -w warm-up included,
    as for loadgen; SCRIPT exits when nothing is left."""
    import sys
    if a.duration <= a.warmup:
        sys.exit(f"{script}: -d must exceed -w")
    return a.duration - a.warmup


def cpu_children():
    """User + system CPU seconds of this process's waited-for children (the load client)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# Issue #17's full-depth forest: the recipe of its part 1, shared by engine_compare.py
# (model `fulldepth`) and explain_compare.py (model `500x8`).
FULLDEPTH_TRAIN = 200000
FULLDEPTH_PARAMS = {"objective": "binary:logistic", "max_depth": 8, "eta": 0.05,
                    "tree_method": "hist", "seed": 0}
FULLDEPTH_ROUNDS = 500


def fulldepth_draw(n_heldout):
    """make_classification(n_samples=200000 + n_heldout, n_features=28, n_informative=20,
    random_state=0) as float32: (X_train, y_train, X_heldout, y_heldout), the held-out rows
    being the last n_heldout of the draw (not seen in training). The draw depends on
    n_heldout, so each caller keeps its own."""
    import numpy as np
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=FULLDEPTH_TRAIN + n_heldout, n_features=28,
                               n_informative=20, random_state=0)
    X = X.astype(np.float32)
    n = FULLDEPTH_TRAIN
    return X[:n], y[:n], X[n:], y[n:]


def fulldepth_train(X, y, path, nthread):
    """XGBoost binary:logistic, max_depth 8, eta 0.05, hist, 500 rounds, seed 0; saved to path."""
    import xgboost as xgb
    params = dict(FULLDEPTH_PARAMS, nthread=nthread)
    xgb.train(params, xgb.DMatrix(X, label=y), FULLDEPTH_ROUNDS).save_model(path)


def leaf_depths(model_path):
    """Per tree of an XGBoost JSON model, a numpy array: depth of each node (root 0)."""
    import json
    import numpy as np
    trees = json.load(open(model_path))["learner"]["gradient_booster"]["model"]["trees"]
    out = []
    for t in trees:
        left, right = t["left_children"], t["right_children"]
        depth = np.zeros(len(left), dtype=np.int32)
        for i in range(len(left)):  # XGBoost numbers children after their parent
            if left[i] != -1:
                depth[left[i]] = depth[right[i]] = depth[i] + 1
        out.append(depth)
    return out
