#!/usr/bin/python3
"""Train grove's bundled "income" model (Adult census income, >50K or not).

Why
---
grove ships a small, real-world model so the daemon, the UI, the regression
tests and the benchmarks all have something to load. It is an XGBoost
binary classifier that uses XGBoost's *native* categorical splits, with BOTH
kinds of categorical split in the model:

* one-hot splits (one category sent right) for low-cardinality features
  (fewer than ``max_cat_to_onehot`` categories: gender, race), and
* partition splits (a set of several categories sent right) for the others
  (education, occupation, native-country, ...).

So the model exercises every kind of node the engine has to evaluate:
numeric splits, categorical splits with 1 and with >1 categories, and missing
values (``?`` in the data is treated as missing, not as a category).

How
---
Run from the repository root with Debian's python (it has xgboost 1.7.4,
scikit-learn 1.2.1, pandas 1.5.3)::

    /usr/bin/python3 models/train_income.py [--data models/adult.csv.gz] [--out models/income/]

Steps:

1. read the gzip CSV with pandas, strip whitespace from every string, map
   ``?`` to NaN; target is ``income == ">50K"``;
2. 14 features in the CSV's column order; categorical columns become pandas
   ``category`` dtype with the categories sorted alphabetically (so the code
   of a category is its index in the sorted list), numeric columns float64;
3. split with ``train_test_split(X, y, test_size=0.3, random_state=100)``
   (the split used by the tutorial we compare against);
4. fit ``XGBClassifier(tree_method="hist", enable_categorical=True, ...)``
   with fixed seed and thread count (deterministic output);
5. write into --out:
   ``model.json``            the booster (XGBoost JSON, with feature names
                             and types: ``q`` numeric, ``c`` categorical),
   ``schema.json``           feature descriptions, category lists in code order,
                             numeric ranges, label names (see models/README.md),
   ``sample.csv``            the first 20 rows of the held-out split (no label),
   ``sample_expected.csv``   P(income > 50K) for each sample row, ``%.9g``;
6. print accuracy / ROC AUC on the held-out 30% for this model and for the
   tutorial baseline (label-encoded categoricals +
   ``GradientBoostingClassifier(n_estimators=100, random_state=0)``), and fail
   if the XGBoost model does not beat the baseline's accuracy.
"""

import argparse
import csv
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

TARGET = "income"
LABELS = ["<=50K", ">50K"]
POSITIVE = ">50K"

# (name, type, description) in model order == CSV column order.
FEATURES = [
    ("age", "numeric", "Age in years."),
    ("workclass", "categorical",
     "Class of worker: private employer, self-employed, government level, unpaid."),
    ("fnlwgt", "numeric",
     "Census final sampling weight: roughly how many people in the population "
     "this record represents (not a property of the person)."),
    ("education", "categorical", "Highest level of education completed."),
    ("educational-num", "numeric",
     "Education level as an ordinal code (1 = Preschool ... 16 = Doctorate); "
     "the numeric counterpart of 'education', roughly years of education."),
    ("marital-status", "categorical", "Marital status."),
    ("occupation", "categorical", "Occupation (broad group)."),
    ("relationship", "categorical",
     "Relationship of the person to the head of household (Husband, Wife, Own-child, ...)."),
    ("race", "categorical", "Race as recorded by the census."),
    ("gender", "categorical", "Sex as recorded by the census."),
    ("capital-gain", "numeric",
     "Capital gains in the year, in US dollars (99999 is the census top-code)."),
    ("capital-loss", "numeric", "Capital losses in the year, in US dollars."),
    ("hours-per-week", "numeric", "Usual hours worked per week."),
    ("native-country", "categorical", "Country of birth."),
]
FEATURE_NAMES = [f[0] for f in FEATURES]
CATEGORICAL = [f[0] for f in FEATURES if f[1] == "categorical"]
NUMERIC = [f[0] for f in FEATURES if f[1] == "numeric"]

SEED = 7
PARAMS = dict(
    objective="binary:logistic",
    tree_method="hist",
    enable_categorical=True,
    max_cat_to_onehot=6,   # < 6 categories -> one-hot split (gender: 2, race: 5)
    n_estimators=300,
    max_depth=6,
    learning_rate=0.05,
    subsample=0.8,
    colsample_bytree=0.8,
    min_child_weight=1,
    reg_lambda=1.0,
    max_bin=256,
    eval_metric="logloss",
    random_state=SEED,
    n_jobs=1,              # fixed thread count: bit-reproducible model
)

SAMPLE_ROWS = 20


def load(path):
    """Read the CSV, strip strings, return (raw string frame, X, y)."""
    df = pd.read_csv(path, skipinitialspace=False)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].str.strip()
    missing = sorted(set(df.columns) ^ set(FEATURE_NAMES + [TARGET]))
    if missing:
        sys.exit(f"unexpected/missing columns: {missing}")
    y = (df[TARGET] == POSITIVE).astype(np.int32)

    X = pd.DataFrame(index=df.index)
    for name, kind, _ in FEATURES:
        if kind == "categorical":
            col = df[name].replace("?", np.nan)
            cats = sorted(col.dropna().unique())
            X[name] = col.astype(pd.CategoricalDtype(categories=cats, ordered=False))
        else:
            X[name] = df[name].astype(np.float64)
    return df, X, y


def metrics(y_true, proba):
    return accuracy_score(y_true, proba > 0.5), roc_auc_score(y_true, proba)


def baseline(df, y):
    """The tutorial's model: label-encoded strings ('?' is its own label) + sklearn GBM."""
    Xb = df[FEATURE_NAMES].copy()
    for name in CATEGORICAL:
        Xb[name] = LabelEncoder().fit_transform(Xb[name])
    Xtr, Xte, ytr, yte = train_test_split(Xb, y, test_size=0.3, random_state=100)
    gbc = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(Xtr, ytr)
    return metrics(yte, gbc.predict_proba(Xte)[:, 1])


def fmt_num(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v)


def write_schema(path, X):
    feats = []
    for name, kind, desc in FEATURES:
        if kind == "categorical":
            feats.append({"name": name, "type": "categorical",
                          "categories": [str(c) for c in X[name].cat.categories],
                          "description": desc})
        else:
            col = X[name].dropna()
            is_int = bool((col == np.floor(col)).all())
            lo, hi = col.min(), col.max()
            feats.append({"name": name, "type": "numeric",
                          "min": int(lo) if is_int else float(lo),
                          "max": int(hi) if is_int else float(hi),
                          "step": 1 if is_int else None,
                          "description": desc})
            if feats[-1]["step"] is None:
                del feats[-1]["step"]
    schema = {
        "name": "income",
        "description": ("Predicts whether a person's annual income exceeds $50K "
                        "from 1994 US census attributes (UCI Adult data set). "
                        "XGBoost binary classifier with native categorical splits; "
                        "the output is P(income > 50K)."),
        "target": TARGET,
        "labels": LABELS,
        "missing": ["?"],  # the Adult data's own missing value, as the training read it
        "features": feats,
    }
    with open(path, "w") as f:
        json.dump(schema, f, indent=2)
        f.write("\n")


def write_sample(out, X_test, proba):
    rows = X_test.iloc[:SAMPLE_ROWS]
    with open(os.path.join(out, "sample.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FEATURE_NAMES)
        for _, r in rows.iterrows():
            cells = []
            for name in FEATURE_NAMES:
                v = r[name]
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    cells.append("")
                elif name in CATEGORICAL:
                    cells.append(str(v))
                else:
                    cells.append(fmt_num(float(v)))
            w.writerow(cells)
    with open(os.path.join(out, "sample_expected.csv"), "w") as f:
        for p in proba[:SAMPLE_ROWS]:
            f.write("%.9g\n" % p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="models/adult.csv.gz", help="Adult CSV (optionally .gz)")
    ap.add_argument("--out", default="models/income/", help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    print(f"xgboost {xgb.__version__}, scikit-learn {sklearn.__version__}, pandas {pd.__version__}")
    df, X, y = load(args.data)
    print(f"{len(X)} rows, {X.shape[1]} features, positive rate {y.mean():.4f}")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=100)

    clf = xgb.XGBClassifier(**PARAMS)
    clf.fit(X_train, y_train)
    booster = clf.get_booster()
    # pandas float columns are recorded as "float"; grove expects "q" (quantitative).
    booster.feature_types = ["c" if n in CATEGORICAL else "q" for n in FEATURE_NAMES]
    assert booster.feature_names == FEATURE_NAMES, booster.feature_names

    model_path = os.path.join(args.out, "model.json")
    booster.save_model(model_path)

    # Score with the booster as saved, so expected values match the file.
    saved = xgb.Booster()
    saved.load_model(model_path)
    proba = saved.inplace_predict(X_test)
    assert np.allclose(proba, clf.predict_proba(X_test)[:, 1], rtol=0, atol=1e-7)
    acc, auc = metrics(y_test, proba)

    write_schema(os.path.join(args.out, "schema.json"), X)
    write_sample(args.out, X_test, proba)

    base_acc, base_auc = baseline(df, y)
    print(f"held-out split: {len(X_test)} rows (test_size=0.3, random_state=100)")
    print(f"grove xgboost : accuracy {acc:.4f}  ROC AUC {auc:.4f}")
    print(f"baseline GBM  : accuracy {base_acc:.4f}  ROC AUC {base_auc:.4f}")
    print(f"wrote {model_path} ({os.path.getsize(model_path)} bytes), schema.json, "
          f"sample.csv, sample_expected.csv")
    if not acc > base_acc:
        sys.exit("FAIL: XGBoost model does not beat the baseline accuracy")


if __name__ == "__main__":
    main()
