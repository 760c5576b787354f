#!/usr/bin/python3
"""Request bodies for bench/run.sh, from the held-out rows of the Adult data.

The same held-out rows (train_test_split(test_size=0.3, random_state=100), the split of
models/README.md and of the baseline) in two encodings:
  baseline: the 12 tutorial features, LabelEncoder codes (see baseline/train_baseline.py);
  grove:    the income model's 14 features, categories as their schema.json codes,
            '?' = missing (JSON null, msgpack nil, float32 NaN).
Each file is a sequence of [uint32 LE length][body] records (loadgen --multi uses them
round-robin, so the servers do not score the same row every time).

    /usr/bin/python3 bench/make_bodies.py --out DIR [--data models/adult.csv.gz] [--schema models/income/schema.json]
"""
import argparse
import json
import os
import struct
import sys

import msgpack
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "baseline"))
from train_baseline import load as load_baseline  # noqa: E402


def grove_rows(df, schema):
    cols = []
    for f in schema["features"]:
        col = df[f["name"]]
        if f["type"] == "categorical":
            code = {c: float(i) for i, c in enumerate(f["categories"])}
            cols.append(col.map(lambda v: code.get(v, np.nan)).astype(np.float64))
        else:
            cols.append(col.astype(np.float64))
    return np.stack([c.values for c in cols], axis=1)


def json_rows(block):
    return [[None if np.isnan(v) else (int(v) if float(v).is_integer() else float(v)) for v in r] for r in block]


def write(path, bodies):
    with open(path, "wb") as f:
        for b in bodies:
            f.write(struct.pack("<I", len(b)))
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="models/adult.csv.gz")
    ap.add_argument("--schema", default="models/income/schema.json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    schema = json.load(open(args.schema))

    df = pd.read_csv(args.data)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].str.strip()
    df = df.replace("?", np.nan)
    G = grove_rows(df, schema)
    Xb, y = load_baseline(args.data)
    B = Xb.values
    idx = np.arange(len(df))
    _, te = train_test_split(idx, test_size=0.3, random_state=100)
    G, B = G[te], B[te]

    n1 = 1000  # distinct single-row bodies
    write(os.path.join(args.out, "json1_base.bin"),
          [json.dumps({"rows": json_rows(B[i:i + 1])}).encode() for i in range(n1)])
    write(os.path.join(args.out, "json1_grove.bin"),
          [json.dumps({"rows": json_rows(G[i:i + 1])}).encode() for i in range(n1)])
    write(os.path.join(args.out, "mp1_grove.bin"),
          [msgpack.packb({"rows": json_rows(G[i:i + 1])}) for i in range(n1)])
    k = 8  # distinct 1000-row and 1024-row bodies
    write(os.path.join(args.out, "json1000_base.bin"),
          [json.dumps({"rows": json_rows(B[i * 1000:(i + 1) * 1000])}).encode() for i in range(k)])
    write(os.path.join(args.out, "json1000_grove.bin"),
          [json.dumps({"rows": json_rows(G[i * 1000:(i + 1) * 1000])}).encode() for i in range(k)])
    write(os.path.join(args.out, "mp1024_grove.bin"),
          [msgpack.packb({"shape": [1024, G.shape[1]],
                          "data": G[i * 1024:(i + 1) * 1024].astype("<f4").tobytes()}) for i in range(k)])
    # The rows of the 1024-row bodies as CSV (codes, empty = missing): the engine alone
    # scores the very rows the daemon was sent (grove predict --stats).
    names = [f["name"] for f in schema["features"]]
    with open(os.path.join(args.out, "heldout.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for r in json_rows(G[:k * 1024]):
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")
    print(f"bodies: {len(te)} held-out rows; grove {G.shape[1]} features, baseline {B.shape[1]} -> {args.out}")


if __name__ == "__main__":
    main()
