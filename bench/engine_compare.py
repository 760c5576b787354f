#!/usr/bin/python3
"""grove's engine against XGBoost's own CPU predictor and scikit-learn, on the same rows.

    /usr/bin/python3 bench/engine_compare.py [--min-time MS] [--batch 1,16,256,4096,65536]
                                             [--models income,income-sklearn,500x8,1000x6x5] [--workdir DIR]

Run from anywhere with Debian's python (xgboost 1.7.4, scikit-learn 1.2.1), after
`ninja -C build`. Four XGBoost models (``fulldepth`` only when named in --models):

* ``income``: the bundled models/income/model.json as is (300 trees, depth 6, native
  categorical splits); rows = the held-out 30% of models/adult.csv.gz (the split of
  models/train_income.py), categories as codes from models/income/schema.json, "?" missing;
* ``500x8``: 500 trees, depth 8, binary:logistic, 28 standard normal features,
  ``y = x0 + x1*x2 + noise > 0`` (the recipe of bench/README.md), 20000 training rows;
* ``1000x6x5``: 1000 rounds, depth 6, multi:softprob with 5 classes (5000 trees), 28
  features, 8000 training rows;
* ``fulldepth``: issue #17 part 1's full-depth forest (bench_common.fulldepth_*: sklearn
  make_classification(n_samples=300000, n_features=28, n_informative=20, random_state=0),
  the first 200,000 rows trained with binary:logistic, max_depth 8, eta 0.05, hist, 500
  rounds), on two row sets, each its own entry of the tables: ``fulldepth-normal``,
  100,000 rows drawn from N(0, 1.5^2) per feature (most rows walk all 8 levels), and
  ``fulldepth-heldout``, the draw's last 100,000 rows (not seen in training). No
  scikit-learn peer there; the script prints the model's nodes as a share of 500 complete
  trees (500 x 511) and the depth the rows' walks reach (XGBoost's pred_leaf), and the
  verdict against #17's target (>= 8x XGBoost at batch >= 256).

And one scikit-learn model: ``income-sklearn``, the bundled models/income-sklearn (the
tutorial's GradientBoostingClassifier converted by models/convert_sklearn.py): grove on
its model.json against scikit-learn's ``predict_proba`` on its model.pkl, the held-out rows
of models/train_income_sklearn.py's split (no XGBoost there).

The synthetic models are trained with ``tree_method="hist"``, nthread 2, fixed seeds, and
cached with their rows in --workdir (default: $TMPDIR/grove-engine-compare), so a second
run only measures. scikit-learn cannot load an XGBoost model, so it is measured on its own
``HistGradientBoostingClassifier`` of the same shape (max_iter = rounds, same max_depth and
learning rate, max_leaf_nodes=None, no early stopping) fitted on the same training rows:
``GradientBoostingClassifier`` would take minutes per model to train and has no missing
values in 1.2.1.

The rows every engine scores are written once as CSV (%.9g: float32 round-trips) and read
by `grove bench --input` with `grove predict`'s reader, cycled to --rows; the peers get the
same float32 array, cycled the same way. First `grove predict` on the CSV must agree with
XGBoost's `inplace_predict` within 1e-5 on every output. Then, per batch size, each engine
scores consecutive slices of the rows until --min-time has passed (grove: `grove bench`,
whole passes; Python: `booster.inplace_predict(X[i:i+b])` and `predict_proba`, Python call
overhead included, since that is how a Python server calls them). With --rounds N the
engines take turns N times (grove, then XGBoost, then scikit-learn, N times over) and each
keeps its best figure per batch size: the issue's "best of 5 alternated runs", which a
shared VM's bursts of load otherwise put on one engine only. OMP_NUM_THREADS=1 is set
before sklearn and xgboost are imported (sklearn's predictor then runs on one thread);
XGBoost's thread count is set with booster.set_param({"nthread": n}).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy / sklearn / xgboost load libgomp

import numpy as np  # noqa: E402
import bench_common  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NCPU = os.cpu_count() or 1
TOL = 1e-5
CACHE_VERSION = 1

# name -> how to build it. rows: how many rows each engine cycles through.
SPECS = {
    "income": {"rows": 65536, "desc": "income (bundled: 300 trees, depth 6, 14 features, categorical)"},
    "500x8": {"rows": 65536, "rounds": 500, "depth": 8, "classes": 2, "train": 20000,
              "desc": "500 trees, depth 8, 28 features, binary:logistic"},
    "1000x6x5": {"rows": 16384, "rounds": 1000, "depth": 6, "classes": 5, "train": 8000,
                 "desc": "1000 rounds x 5 classes (5000 trees), depth 6, 28 features, multi:softprob"},
    # Issue #17 part 1's full-depth forest (bench_common.fulldepth_*), one model, two row sets.
    "fulldepth-normal": {"rows": 100000, "fulldepth": "normal",
                         "desc": "fulldepth (#17: make_classification 200k rows, 500 trees, depth 8, eta 0.05), "
                                 "rows N(0, 1.5^2) per feature"},
    "fulldepth-heldout": {"rows": 100000, "fulldepth": "heldout",
                          "desc": "fulldepth (#17: make_classification 200k rows, 500 trees, depth 8, eta 0.05), "
                                  "rows: 100k held-out samples of the same draw"},
    # The tutorial's own pickle, converted: grove against scikit-learn on the same model.
    "income-sklearn": {"rows": 65536, "sklearn_only": True,
                       "desc": "income-sklearn (bundled: the tutorial's GradientBoostingClassifier, 100 trees "
                               "of depth 3, 12 label-encoded features)"},
}
# --models shorthands
ALIASES = {"fulldepth": ["fulldepth-normal", "fulldepth-heldout"]}
FULLDEPTH_HELDOUT = 100000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def grove_env():
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    return env


def write_csv(path, names, X):
    """float32 rows as CSV, %.9g (round-trips float32), empty field = missing."""
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join("" if v != v else "%.9g" % v for v in row.tolist()) + "\n")


# ---- models and rows ---------------------------------------------------------

def synth(spec, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 28)).astype(np.float32)
    if spec["classes"] == 2:
        y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.standard_normal(n) > 0).astype(np.int32)
    else:
        W = np.random.default_rng(7).standard_normal((28, 5)).astype(np.float32) * 0.5
        s = X @ W + 0.8 * X[:, 0:5] * X[:, 5:10] + rng.gumbel(size=(n, 5)) * 0.7
        y = s.argmax(axis=1).astype(np.int32)
    return X, y


def hgb(rounds, depth, lr, categorical=None):
    return HistGradientBoostingClassifier(max_iter=rounds, max_depth=depth, learning_rate=lr,
                                          max_leaf_nodes=None, early_stopping=False,
                                          categorical_features=categorical, random_state=0)


def prepare(name, workdir):
    """Returns dict(model=grove/xgb model path, csv, X (float32, the distinct rows), y, sk)."""
    import pickle
    if name == "income-sklearn":
        return prepare_income_sklearn(workdir)
    if "fulldepth" in SPECS[name]:
        return prepare_fulldepth(name, workdir)
    spec = SPECS[name]
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    stamp = os.path.join(d, "stamp.json")
    want = {"v": CACHE_VERSION, "xgboost": xgb.__version__, "sklearn": sklearn.__version__,
            "spec": {k: v for k, v in spec.items() if k != "desc"}}
    paths = {"csv": os.path.join(d, "rows.csv"), "npz": os.path.join(d, "rows.npz"),
             "sk": os.path.join(d, "sklearn.pkl"),
             "model": os.path.join(ROOT, "models/income/model.json") if name == "income"
             else os.path.join(d, "model.json")}
    cached = os.path.exists(stamp) and json.load(open(stamp)) == want
    if not cached:
        t0 = time.time()
        if name == "income":
            X, y, Xtr, ytr, names, cat_mask = income_rows()
            sk = hgb(300, 6, 0.05, cat_mask)
        else:
            Xtr, ytr = synth(spec, spec["train"], seed=1)
            X, y = synth(spec, spec["rows"], seed=2)
            names = ["f%d" % i for i in range(28)]
            params = {"max_depth": spec["depth"], "eta": 0.1, "tree_method": "hist", "nthread": 2, "seed": 0}
            if spec["classes"] == 2:
                params["objective"] = "binary:logistic"
            else:
                params.update(objective="multi:softprob", num_class=spec["classes"])
            dtrain = xgb.DMatrix(Xtr, label=ytr, feature_names=names)
            bst = xgb.train(params, dtrain, spec["rounds"])
            bst.save_model(paths["model"])
            log("  %s: XGBoost trained in %.1f s" % (name, time.time() - t0))
            sk = hgb(spec["rounds"], spec["depth"], 0.1)
        t1 = time.time()
        with threadpool_limits(limits=2, user_api="openmp"):
            sk.fit(Xtr, ytr)
        log("  %s: scikit-learn trained in %.1f s" % (name, time.time() - t1))
        with open(paths["sk"], "wb") as f:
            pickle.dump(sk, f)
        write_csv(paths["csv"], names, X)
        np.savez(paths["npz"], X=X, y=y)
        json.dump(want, open(stamp, "w"))
    data = np.load(paths["npz"])
    with open(paths["sk"], "rb") as f:
        sk = pickle.load(f)
    return dict(paths, X=data["X"], y=data["y"], skmodel=sk, cached=cached)


def prepare_fulldepth(name, workdir):
    """Issue #17's model (bench_common's recipe; 200,000 training rows of a 300,000-row
    make_classification draw) and one of its row sets: ``normal``, 100,000 rows drawn from
    N(0, 1.5^2) per feature (seed 3), or ``heldout``, the draw's last 100,000 rows. No
    scikit-learn model (its HistGradientBoosting on 200k rows would cost minutes to train)."""
    which = SPECS[name]["fulldepth"]
    d = os.path.join(workdir, "fulldepth")
    os.makedirs(d, exist_ok=True)
    stamp = os.path.join(d, "stamp.json")
    want = {"v": CACHE_VERSION, "xgboost": xgb.__version__, "sklearn": sklearn.__version__,
            "params": bench_common.FULLDEPTH_PARAMS, "rounds": bench_common.FULLDEPTH_ROUNDS,
            "train": bench_common.FULLDEPTH_TRAIN, "heldout": FULLDEPTH_HELDOUT}
    model = os.path.join(d, "model.json")
    cached = os.path.exists(stamp) and json.load(open(stamp)) == want
    if not cached:
        t0 = time.time()
        Xtr, ytr, Xheld, yheld = bench_common.fulldepth_draw(FULLDEPTH_HELDOUT)
        bench_common.fulldepth_train(Xtr, ytr, model, 2)
        log("  fulldepth: XGBoost trained in %.1f s" % (time.time() - t0))
        names = ["f%d" % i for i in range(28)]
        Xn = (1.5 * np.random.default_rng(3).standard_normal((FULLDEPTH_HELDOUT, 28))).astype(np.float32)
        for tag, X, y in (("normal", Xn, np.full(len(Xn), -1, np.int32)), ("heldout", Xheld, yheld)):
            write_csv(os.path.join(d, "rows-%s.csv" % tag), names, X)
            np.savez(os.path.join(d, "rows-%s.npz" % tag), X=X, y=y)
        json.dump(want, open(stamp, "w"))
    data = np.load(os.path.join(d, "rows-%s.npz" % which))
    return dict(model=model, csv=os.path.join(d, "rows-%s.csv" % which), X=data["X"], y=data["y"],
                skmodel=None, cached=cached)


def walk_depths(model, X):
    """Mean depth of the leaf each row reaches, over rows and trees, and the share of
    (row, tree) walks that reach depth 8, from XGBoost's pred_leaf on X."""
    depths = bench_common.leaf_depths(model)
    bst = xgb.Booster(model_file=model)
    bst.set_param({"nthread": NCPU})
    leaves = bst.predict(xgb.DMatrix(X), pred_leaf=True).astype(np.int64)  # rows x trees
    d = np.stack([depths[t][leaves[:, t]] for t in range(leaves.shape[1])], axis=1)
    return float(d.mean()), float(np.mean(d == 8))


def prepare_income_sklearn(workdir):
    """The bundled pickle and its conversion; rows: the held-out Adult rows of its split."""
    import pickle
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import train_income_sklearn as tis
    df, X, y, _ = tis.load(os.path.join(ROOT, "models/adult.csv.gz"))
    _, ite = train_test_split(np.arange(len(df)), test_size=0.3, random_state=100)
    d = os.path.join(workdir, "income-sklearn")
    os.makedirs(d, exist_ok=True)
    csv = os.path.join(d, "rows.csv")
    Xte = X.to_numpy()[ite].astype(np.float32)
    write_csv(csv, tis.NAMES, Xte)
    with open(os.path.join(ROOT, "models/income-sklearn/model.pkl"), "rb") as f:
        sk = pickle.load(f)
    return dict(model=os.path.join(ROOT, "models/income-sklearn/model.json"), csv=csv, X=Xte,
                y=y.to_numpy()[ite], skmodel=sk, cached=True)


def income_rows():
    """Held-out Adult rows (models/train_income.py's split), categories as schema codes."""
    schema = json.load(open(os.path.join(ROOT, "models/income/schema.json")))
    df = pd.read_csv(os.path.join(ROOT, "models/adult.csv.gz"))
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].str.strip()
    y = (df["income"] == ">50K").astype(np.int32).to_numpy()
    names, cat_mask, cols = [], [], []
    for f in schema["features"]:
        names.append(f["name"])
        if f["type"] == "categorical":
            codes = {c: i for i, c in enumerate(f["categories"])}
            col = df[f["name"]].map(lambda s: codes.get(s, np.nan)).astype(np.float64)  # "?" -> missing
            cat_mask.append(True)
        else:
            col = df[f["name"]].astype(np.float64)
            cat_mask.append(False)
        cols.append(col.to_numpy())
    Xall = np.stack(cols, axis=1).astype(np.float32)
    idx = np.arange(len(df))
    itr, ite = train_test_split(idx, test_size=0.3, random_state=100)
    return Xall[ite], y[ite], Xall[itr], y[itr], names, np.array(cat_mask)


# ---- measurements -----------------------------------------------------------

def cycle(X, n):
    reps = -(-n // len(X))
    return np.ascontiguousarray(np.tile(X, (reps, 1))[:n])


def time_py(fn, X, batch, min_time):
    """Consecutive slices of X, cycling, until min_time has passed (checked every call)."""
    n = len(X)
    batch = min(batch, n)
    starts = list(range(0, n - batch + 1, batch))
    fn(X[0:batch])  # warm-up (first-call allocations)
    calls = rows = 0
    clock = time.perf_counter
    t0 = clock()
    done = False
    while not done:
        for s in starts:
            fn(X[s:s + batch])
            calls += 1
            rows += batch
            if clock() - t0 >= min_time:
                done = True
                break
    el = clock() - t0
    return {"batch": batch, "rows_per_s": rows / el, "us_per_call": el * 1e6 / calls}


def time_grove(grove, model, csv, nrows, batches, threads, min_time_ms):
    cmd = [grove, "bench", model, "--input", csv, "--rows", str(nrows), "--threads", str(threads),
           "--batch", ",".join(str(b) for b in batches), "--min-time", str(min_time_ms)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=grove_env(), check=True)
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert all(r["source"] == "csv" for r in recs), p.stdout
    return recs


def keep_best(results, key, recs):
    """Each batch's fastest record over the rounds so far (--rounds: best of alternated runs)."""
    old = results.get(key, {})
    results[key] = {b: r if b not in old or r["rows_per_s"] > old[b]["rows_per_s"] else old[b]
                    for b, r in recs.items()}


def check_equal(grove, m, bst):
    """grove predict on the CSV against XGBoost on the same float32 rows."""
    p = subprocess.run([grove, "predict", m["model"], "--input", m["csv"], "--threads", str(NCPU)],
                       capture_output=True, text=True, env=grove_env(), check=True)
    g = np.loadtxt(p.stdout.splitlines(), delimiter=",", ndmin=2)
    bst.set_param({"nthread": NCPU})
    x = np.asarray(bst.inplace_predict(m["X"]), dtype=np.float64)
    x = x.reshape(len(m["X"]), -1)
    ok = g.shape == x.shape
    diff = float(np.max(np.abs(g - x))) if ok else float("inf")
    return ok and diff <= TOL, diff, g.shape


def check_equal_sklearn(grove, m, sk):
    """grove predict on the CSV against scikit-learn's own predict_proba (positive class)."""
    p = subprocess.run([grove, "predict", m["model"], "--input", m["csv"], "--threads", str(NCPU)],
                       capture_output=True, text=True, env=grove_env(), check=True)
    g = np.loadtxt(p.stdout.splitlines(), delimiter=",", ndmin=2)
    s = sk.predict_proba(m["X"])[:, 1:]
    ok = g.shape == s.shape
    diff = float(np.max(np.abs(g - s))) if ok else float("inf")
    return ok and diff <= TOL, diff, g.shape


def fmt_rate(r):
    return "{:,.0f}".format(r)


def fmt_us(u):
    return "%.2f" % u if u < 10 else "{:,.1f}".format(u) if u < 1000 else "{:,.0f}".format(u)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grove", default=os.path.join(ROOT, "build/grove"))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "grove-engine-compare"))
    ap.add_argument("--models", default="income,income-sklearn,500x8,1000x6x5")
    ap.add_argument("--batch", default="1,16,256,4096,65536")
    ap.add_argument("--min-time", type=int, default=500, help="ms per engine and batch size")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the engines this many times, keeping each one's best")
    args = ap.parse_args()
    t_start = time.time()
    batches = [int(b) for b in args.batch.split(",")]
    names = [n for a in args.models.split(",") for n in ALIASES.get(a, [a])]
    if not os.access(args.grove, os.X_OK):
        sys.exit("%s not found: run `ninja -C build` first" % args.grove)
    mt = args.min_time / 1000.0

    cpu = bench_common.cpu_name()
    isa = json.loads(subprocess.run([args.grove, "info", os.path.join(ROOT, "models/income")],
                                    capture_output=True, text=True, env=grove_env()).stdout)
    print("# engine_compare: %s, %d CPUs; grove isa=%s kernel=%s; xgboost %s, scikit-learn %s, numpy %s, "
          "python %s; --min-time %d ms; best of %d alternated rounds" % (
              cpu, NCPU, isa["isa"], isa["kernel"], xgb.__version__, sklearn.__version__, np.__version__,
              platform.python_version(), args.min_time, args.rounds))
    results = {}  # (model, engine) -> {batch: rec}
    checks = []
    infos = {}
    for name in names:
        log("%s: preparing" % name)
        m = prepare(name, args.workdir)
        nrows = SPECS[name]["rows"]
        info = json.loads(subprocess.run([args.grove, "info", m["model"]], capture_output=True, text=True,
                                         env=grove_env(), check=True).stdout)
        sk = m["skmodel"]
        if SPECS[name].get("sklearn_only"):
            ok, diff, shape = check_equal_sklearn(args.grove, m, sk)
            checks.append((name, ok, diff, shape))
            print("check %-9s grove predict vs scikit-learn predict_proba on %d distinct rows: max |diff| = %.3g -> %s"
                  % (name, shape[0], diff, "OK" if ok else "FAILED"))
            if not ok:
                sys.exit("outputs differ: the timings would not compare the same work")
            print("model %-9s %s | grove: %d trees, %d nodes | rows: %d distinct, cycled to %d"
                  % (name, SPECS[name]["desc"], info["trees"], info["nodes"], len(m["X"]), nrows))
            X = cycle(m["X"], nrows)
            bs = [min(b, nrows) for b in batches]
            for rnd in range(args.rounds):
                for threads in (1, NCPU):
                    log("%s: grove, %d thread(s), round %d" % (name, threads, rnd + 1))
                    recs = time_grove(args.grove, m["model"], m["csv"], nrows, bs, threads, args.min_time)
                    keep_best(results, (name, "grove", threads), {r["batch"]: r for r in recs})
                log("%s: scikit-learn, 1 thread, round %d" % (name, rnd + 1))
                keep_best(results, (name, "sklearn", 1), {b: time_py(sk.predict_proba, X, b, mt) for b in bs})
            continue
        bst = xgb.Booster(model_file=m["model"])
        if sk is not None:
            sk_nodes = sum(len(p.nodes) for it in sk._predictors for p in it)
            sk_trees = sum(len(it) for it in sk._predictors)
        ok, diff, shape = check_equal(args.grove, m, bst)
        checks.append((name, ok, diff, shape))
        print("check %-9s grove predict vs XGBoost inplace_predict on %d distinct rows x %d outputs: "
              "max |diff| = %.3g -> %s" % (name, shape[0], shape[1], diff, "OK" if ok else "FAILED"))
        if not ok:
            sys.exit("outputs differ: the timings would not compare the same work")
        # Same model quality? log loss / accuracy on the bench rows, XGBoost vs sklearn's own model.
        px = np.asarray(bst.inplace_predict(m["X"])).reshape(len(m["X"]), -1)
        if px.shape[1] == 1:
            px = np.hstack([1 - px, px])
        acc = lambda p: float(np.mean(p.argmax(axis=1) == m["y"]))  # noqa: E731
        if sk is None:  # fulldepth: no scikit-learn peer; the N(0, 1.5^2) rows have no labels
            full = info["trees"] * (2 ** (info["max_depth"] + 1) - 1)
            depth, at8 = walk_depths(m["model"], m["X"][:20000])
            print("model %-9s %s | grove (kernel %s)/XGBoost: %d trees, max depth %d, %d nodes = %.1f%% of complete trees "
                  "(%d), accuracy %s | walks (first 20000 rows x %d trees, XGBoost pred_leaf): mean leaf depth "
                  "%.2f, %.1f%% at depth 8 | rows: %d distinct, cycled to %d"
                  % (name, SPECS[name]["desc"], info["kernel"], info["trees"], info["max_depth"], info["nodes"],
                     100.0 * info["nodes"] / full, full,
                     "n/a (no labels)" if m["y"][0] < 0 else "%.4f" % acc(px), info["trees"], depth, 100 * at8,
                     len(m["X"]), nrows))
        else:
            ps = sk.predict_proba(m["X"])
            infos[name] = dict(info=info, sk_trees=sk_trees, sk_nodes=sk_nodes, acc_x=acc(px), acc_s=acc(ps),
                               nrows=nrows, distinct=len(m["X"]))
            print("model %-9s %s | grove (kernel %s)/XGBoost: %d trees, %d nodes, accuracy %.4f | sklearn "
                  "HistGradientBoostingClassifier: %d trees, %d nodes, accuracy %.4f | rows: %d distinct, "
                  "cycled to %d" % (name, SPECS[name]["desc"], info["kernel"], info["trees"], info["nodes"],
                                    infos[name]["acc_x"],
                                    sk_trees, sk_nodes, infos[name]["acc_s"], len(m["X"]), nrows))
        sys.stdout.flush()
        X = cycle(m["X"], nrows)
        bs = [min(b, nrows) for b in batches]
        for rnd in range(args.rounds):
            for threads in (1, NCPU):
                log("%s: grove, %d thread(s), round %d" % (name, threads, rnd + 1))
                recs = time_grove(args.grove, m["model"], m["csv"], nrows, bs, threads, args.min_time)
                keep_best(results, (name, "grove", threads), {r["batch"]: r for r in recs})
            for threads in (1, NCPU):
                log("%s: XGBoost, %d thread(s), round %d" % (name, threads, rnd + 1))
                bst.set_param({"nthread": threads})
                keep_best(results, (name, "xgboost", threads),
                          {b: time_py(bst.inplace_predict, X, b, mt) for b in bs})
            if sk is None:
                continue
            log("%s: scikit-learn, 1 thread, round %d" % (name, rnd + 1))
            keep_best(results, (name, "sklearn", 1), {b: time_py(sk.predict_proba, X, b, mt) for b in bs})

    # ---- report ----
    label = {"grove": "grove", "xgboost": "XGBoost inplace_predict", "sklearn": "sklearn HGB predict_proba",
             "sklearn-gbc": "sklearn GBC predict_proba (the same model)"}
    print()
    print("rows/s (µs per call), higher rows/s is better; %d CPUs" % NCPU)
    print()
    hdr = "| model | engine | threads | " + " | ".join("batch %d" % b for b in batches) + " |"
    print(hdr)
    print("|" + "---|" * (3 + len(batches)))
    for name in names:
        nrows = SPECS[name]["rows"]
        for eng, th in (("grove", 1), ("grove", NCPU), ("xgboost", 1), ("xgboost", NCPU), ("sklearn", 1)):
            if (name, eng, th) not in results:  # income-sklearn: no XGBoost
                continue
            r = results[(name, eng, th)]
            cells = []
            for b in batches:
                rec = r[min(b, nrows)]
                cells.append("%s (%s)%s" % (fmt_rate(rec["rows_per_s"]), fmt_us(rec["us_per_call"]),
                                            "" if b <= nrows else " [batch %d]" % nrows))
            eng_label = label["sklearn-gbc" if eng == "sklearn" and SPECS[name].get("sklearn_only") else eng]
            print("| %s | %s | %d | %s |" % (name, eng_label, th, " | ".join(cells)))
    print()
    xgb_names = [n for n in names if not SPECS[n].get("sklearn_only")]
    ratio = {}
    if xgb_names:
        print("grove / XGBoost rows/s at each batch size (same thread count):")
        print()
        print("| model | threads | " + " | ".join("batch %d" % b for b in batches) + " |")
        print("|" + "---|" * (2 + len(batches)))
        for name in xgb_names:
            nrows = SPECS[name]["rows"]
            for th in (1, NCPU):
                cells = []
                for b in batches:
                    bb = min(b, nrows)
                    q = results[(name, "grove", th)][bb]["rows_per_s"] / results[(name, "xgboost", th)][bb]["rows_per_s"]
                    ratio[(name, th, b)] = q
                    cells.append("%.1f×" % q)
                print("| %s | %d | %s |" % (name, th, " | ".join(cells)))
        print()
    print("grove / scikit-learn rows/s, 1 thread: " + "; ".join(
        "%s %s" % (name, " / ".join("%.0f×" % (results[(name, "grove", 1)][min(b, SPECS[name]["rows"])]["rows_per_s"] /
                                              results[(name, "sklearn", 1)][min(b, SPECS[name]["rows"])]["rows_per_s"])
                                   for b in batches)) for name in names if (name, "sklearn", 1) in results))
    print()
    print("Verdicts (targets of the engine-speed issue; grove on 1 thread):")
    if "500x8" in names:
        big = [b for b in batches if b >= 256]
        worst = min(ratio[("500x8", 1, b)] for b in big)
        print("- 500x8, batch >= 256: >= 5x XGBoost rows/s: %s (lowest %.1f× at %s)" % (
            "MET" if worst >= 5 else "NOT MET", worst, ", ".join("%d: %.1f×" % (b, ratio[("500x8", 1, b)]) for b in big)))
        if 1 in batches:
            q = ratio[("500x8", 1, 1)]
            print("- 500x8, batch 1: >= 20x XGBoost: %s (%.1f×)" % ("MET" if q >= 20 else "NOT MET", q))
    for name in [n for n in names if "fulldepth" in SPECS[n]]:
        big = [b for b in batches if b >= 256]
        if big:
            worst = min(ratio[(name, 1, b)] for b in big)
            print("- %s, batch >= 256: >= 8x XGBoost rows/s (#17 part 1): %s (lowest %.1f× at %s)" % (
                name, "MET" if worst >= 8 else "NOT MET", worst,
                ", ".join("%d: %.1f×" % (b, ratio[(name, 1, b)]) for b in big)))
    if "income" in names:
        r = results[("income", "grove", 1)]
        big = [b for b in batches if b >= 16]
        worst = max(1e6 / r[min(b, SPECS["income"]["rows"])]["rows_per_s"] for b in big)
        print("- income, batch >= 16: < 1 µs/row: %s (worst %.2f µs/row; %s)" % (
            "MET" if worst < 1 else "NOT MET", worst,
            ", ".join("%d: %.2f" % (b, 1e6 / r[min(b, SPECS["income"]["rows"])]["rows_per_s"]) for b in big)))
        if 1 in batches:
            u = r[1]["us_per_call"]
            print("- income, batch 1: <= 2 µs per row (#17 part 1): %s (%.2f µs)" % ("MET" if u <= 2 else "NOT MET", u))
    print()
    print("equality checks: " + "; ".join("%s %s (max diff %.2g)" % (n, "OK" if ok else "FAILED", d)
                                          for n, ok, d, _ in checks))
    print("run time: %.0f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
