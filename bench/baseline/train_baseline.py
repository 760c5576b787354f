#!/usr/bin/python3
"""The tutorial's model, rebuilt for bench/run.sh: the baseline grove is compared against.

Adult census data (models/adult.csv.gz), strings stripped, the 12 features the tutorial
used (every column but fnlwgt and education; educational-num is kept), each string
column LabelEncoder-encoded over the whole file ('?' is a label of its own, as in the
tutorial), train_test_split(test_size=0.3, random_state=100),
GradientBoostingClassifier(n_estimators=100, random_state=0). The fitted model is pickled
to --out (a temporary directory: the pickle is never committed).

    /usr/bin/python3 bench/baseline/train_baseline.py --out /tmp/dir [--data models/adult.csv.gz]
"""
import argparse
import os
import pickle
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

FEATURES = ["age", "workclass", "educational-num", "marital-status", "occupation",
            "relationship", "race", "gender", "capital-gain", "capital-loss",
            "hours-per-week", "native-country"]


def load(path):
    df = pd.read_csv(path)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].str.strip()
    X = df[FEATURES].copy()
    for col in FEATURES:
        if X[col].dtype == object:
            X[col] = LabelEncoder().fit_transform(X[col])
    y = (df["income"] == ">50K").astype(np.int32)
    return X.astype(np.float64), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="models/adult.csv.gz")
    ap.add_argument("--out", required=True, help="directory for model.pkl")
    args = ap.parse_args()
    X, y = load(args.data)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=100)
    t = time.time()
    # Fitted on plain arrays: the app is sent plain rows (no feature-name warning per call).
    gbc = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(Xtr.values, ytr.values)
    fit_s = time.time() - t
    p = gbc.predict_proba(Xte.values)[:, 1]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.pkl")
    with open(path, "wb") as f:
        pickle.dump(gbc, f)
    print(f"baseline: {len(FEATURES)} features, {len(Xtr)} train / {len(Xte)} test rows, "
          f"fit {fit_s:.1f} s, accuracy {accuracy_score(yte, p > 0.5):.4f}, "
          f"ROC AUC {roc_auc_score(yte, p):.4f} -> {path}")


if __name__ == "__main__":
    main()
