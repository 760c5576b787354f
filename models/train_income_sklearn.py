#!/usr/bin/python3
"""Train the tutorial's scikit-learn income model and convert it for grove: models/income-sklearn/.

Why
---
grove replaces a tutorial's Flask app that serves a pickled scikit-learn
GradientBoostingClassifier. This script rebuilds that pickle the tutorial's way and
converts it with models/convert_sklearn.py, so the daemon serves the very model the Flask
app serves (bench/run.sh compares the two stacks on it) and the converter has a real model
under regression test.

How
---
From the repository root, with Debian's python (scikit-learn 1.2.1, pandas 1.5.3)::

    /usr/bin/python3 models/train_income_sklearn.py [--data models/adult.csv.gz] [--out models/income-sklearn/]

1. read the gzip CSV, strip whitespace from every string; target is ``income == ">50K"``;
2. the tutorial's 12 features (every column but ``fnlwgt`` and ``education``), each
   string column encoded with its own ``LabelEncoder`` fitted on the whole file, so
   ``?`` (unknown) is a category of its own and codes follow sorted string order;
3. ``train_test_split(X, y, test_size=0.3, random_state=100)``;
4. ``GradientBoostingClassifier(n_estimators=100, random_state=0)`` fitted on the plain
   arrays (as bench/baseline/app.py is then sent plain rows);
5. write into --out: ``model.pkl`` (``pickle.dump``), ``model.json`` (convert_sklearn.py),
   ``schema.json`` (category strings in LabelEncoder code order, labels), ``sample.csv``
   (the first 20 held-out rows, categories as strings) and ``sample_expected.csv``
   (``predict_proba`` of the positive class, ``%.9g``);
6. print held-out accuracy and ROC AUC.
"""

import argparse
import csv
import json
import os
import pickle
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_sklearn  # noqa: E402

LABELS = ["<=50K", ">50K"]
SAMPLE_ROWS = 20

# (name, type, description) in model order: the tutorial's 12 features.
FEATURES = [
    ("age", "numeric", "Age in years."),
    ("workclass", "categorical", "Class of worker; '?' (not recorded) is a category of its own."),
    ("educational-num", "numeric", "Education level as an ordinal code (1 = Preschool ... 16 = Doctorate)."),
    ("marital-status", "categorical", "Marital status."),
    ("occupation", "categorical", "Occupation (broad group); '?' (not recorded) is a category of its own."),
    ("relationship", "categorical", "Relationship of the person to the head of household."),
    ("race", "categorical", "Race as recorded by the census."),
    ("gender", "categorical", "Sex as recorded by the census."),
    ("capital-gain", "numeric", "Capital gains in the year, in US dollars (99999 is the census top-code)."),
    ("capital-loss", "numeric", "Capital losses in the year, in US dollars."),
    ("hours-per-week", "numeric", "Usual hours worked per week."),
    ("native-country", "categorical", "Country of birth; '?' (not recorded) is a category of its own."),
]
NAMES = [f[0] for f in FEATURES]


def load(path):
    """(strings frame, encoded X, y, {column: LabelEncoder classes in code order})."""
    df = pd.read_csv(path)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].str.strip()
    X = df[NAMES].copy()
    classes = {}
    for name, kind, _ in FEATURES:
        if kind == "categorical":
            enc = LabelEncoder()
            X[name] = enc.fit_transform(df[name])
            classes[name] = [str(c) for c in enc.classes_]
    y = (df["income"] == ">50K").astype(np.int32)
    return df, X.astype(np.float64), y, classes


def write_schema(path, X, classes):
    feats = []
    for name, kind, desc in FEATURES:
        if kind == "categorical":
            feats.append({"name": name, "type": "categorical", "categories": classes[name], "description": desc})
        else:
            col = X[name]
            feats.append({"name": name, "type": "numeric", "min": int(col.min()), "max": int(col.max()),
                          "step": 1, "description": desc})
    schema = {
        "name": "income-sklearn",
        "description": ("Predicts whether a person's annual income exceeds $50K (UCI Adult). The tutorial's "
                        "scikit-learn GradientBoostingClassifier (100 trees of depth 3, label-encoded "
                        "categories), converted by models/convert_sklearn.py; the output is P(income > 50K)."),
        "target": "income",
        "labels": LABELS,
        "features": feats,
    }
    with open(path, "w") as f:
        json.dump(schema, f, indent=2)
        f.write("\n")


def write_sample(out, df_test, proba):
    with open(os.path.join(out, "sample.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(NAMES)
        for _, r in df_test.iloc[:SAMPLE_ROWS].iterrows():
            w.writerow([str(r[n]) for n in NAMES])
    with open(os.path.join(out, "sample_expected.csv"), "w") as f:
        for p in proba[:SAMPLE_ROWS]:
            f.write("%.9g\n" % p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="models/adult.csv.gz", help="Adult CSV (optionally .gz)")
    ap.add_argument("--out", default="models/income-sklearn/", help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    df, X, y, classes = load(args.data)
    idx = np.arange(len(df))
    itr, ite = train_test_split(idx, test_size=0.3, random_state=100)
    gbc = GradientBoostingClassifier(n_estimators=100, random_state=0)
    gbc.fit(X.values[itr], y.values[itr])
    proba = gbc.predict_proba(X.values[ite])[:, 1]

    pkl = os.path.join(args.out, "model.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(gbc, f)
    m = convert_sklearn.convert(gbc, NAMES)
    m["sklearn_version"] = sklearn.__version__
    model = os.path.join(args.out, "model.json")
    with open(model, "w") as f:
        f.write(convert_sklearn.model_json(m))
    write_schema(os.path.join(args.out, "schema.json"), X, classes)
    write_sample(args.out, df.iloc[ite], proba)

    acc, auc = accuracy_score(y.values[ite], proba > 0.5), roc_auc_score(y.values[ite], proba)
    print(f"scikit-learn {sklearn.__version__}: {len(itr)} training rows, {len(ite)} held out")
    print(f"GradientBoostingClassifier(n_estimators=100): accuracy {acc:.4f}  ROC AUC {auc:.4f}")
    print(f"wrote {pkl} ({os.path.getsize(pkl)} bytes), {model} ({os.path.getsize(model)} bytes), "
          "schema.json, sample.csv, sample_expected.csv")


if __name__ == "__main__":
    main()
