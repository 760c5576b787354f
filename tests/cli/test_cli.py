#!/usr/bin/python3
"""The grove command line as a user runs it: info, predict (and its errors), bench.

Prints TAP. Every check runs the real binary on the bundled income model or on files
written to a temporary directory.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

count = 0
failed = 0


def check(cond, what, detail=""):
    global count, failed
    count += 1
    if cond:
        print("ok %d - %s" % (count, what))
    else:
        failed += 1
        print("not ok %d - %s" % (count, what))
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()


def run(grove, args, stdin=None):
    p = subprocess.run([grove] + args, input=stdin, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grove", required=True)
    ap.add_argument("--source-root", required=True)
    a = ap.parse_args()
    g = a.grove
    income = os.path.join(a.source_root, "models", "income")
    sample = os.path.join(income, "sample.csv")
    tmp = tempfile.mkdtemp(prefix="grove-cli-")

    # info
    rc, out, err = run(g, ["info", income])
    check(rc == 0, "info exits 0", err)
    info = json.loads(out) if rc == 0 else {}
    check(info.get("format") == "xgboost-json" and info.get("objective") == "binary:logistic",
          "info names the format and objective", out)
    check(info.get("num_features") == 14 and len(info.get("features", [])) == 14,
          "info lists 14 features", out)
    feats = {f["name"]: f for f in info.get("features", [])}
    check(feats.get("workclass", {}).get("type") == "categorical" and feats.get("age", {}).get("type") == "numeric",
          "info gives feature types", out)
    check(info.get("classes") == ["<=50K", ">50K"], "info gives the schema's class labels", out)
    check(info.get("trees") == 300 and 1 <= info.get("max_depth", 0) <= 6, "info gives trees and depth", out)
    nodes = info.get("nodes", 0)
    check(nodes > 0 and info.get("leaves", 0) > nodes // 3, "info gives nodes and leaves", out)
    check(0 < info.get("memory_bytes", 0) <= 2 * nodes * 16 + 65536,
          "flat layout is at most 2 x nodes x 16 bytes (+ header)", out)
    check(bool(info.get("isa")) and bool(info.get("kernel")), "info names the ISA and kernel", out)

    # schema: the model directory's own schema.json, reproduced; for a model without one,
    # the split codes of each categorical feature stand in for its strings, and load back.
    rc, out, err = run(g, ["schema", income])
    with open(os.path.join(income, "schema.json")) as f:
        own = json.load(f)
    sch = json.loads(out) if rc == 0 else {}
    check(rc == 0 and [(x["name"], x.get("categories")) for x in sch.get("features", [])] ==
          [(x["name"], x.get("categories")) for x in own["features"]] and sch.get("labels") == own.get("labels"),
          "schema reprints the income model's schema.json (names, categories, labels)", out[:300] + err)
    cat_model = os.path.join(a.source_root, "tests", "fixtures", "categorical.json")
    rc, out, err = run(g, ["schema", cat_model])
    sch = json.loads(out) if rc == 0 else {}
    d = os.path.join(tmp, "catdir")
    os.makedirs(d)
    shutil.copy(cat_model, os.path.join(d, "model.json"))
    with open(os.path.join(d, "schema.json"), "w") as f:
        f.write(out)
    rc2, out2, err2 = run(g, ["info", d])
    colour = (sch.get("features") or [{}])[0]
    check(rc == 0 and colour.get("type") == "categorical" and colour.get("categories") and
          colour["categories"][0] == "0" and rc2 == 0 and json.loads(out2).get("schema") is True,
          "schema without a schema.json: codes as category names, and the file loads back", out[:300] + err + err2)

    # predict: the bundled sample equals XGBoost's own probabilities
    rc, out, err = run(g, ["predict", income, "--input", sample, "--stats"])
    check(rc == 0, "predict on the bundled sample exits 0", err)
    got = [float(x) for x in out.split()]
    with open(os.path.join(income, "sample_expected.csv")) as f:
        want = [float(x) for x in f.read().split()]
    check(len(got) == len(want) and all(abs(x - y) <= 1e-6 for x, y in zip(got, want)),
          "predictions equal XGBoost's on the sample (1e-6)", "got %s\nwant %s" % (got[:5], want[:5]))
    stats = {}
    try:
        stats = json.loads(err.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    check(stats.get("rows") == len(want) and stats.get("features") == 14 and stats.get("trees") == 300
          and "isa" in stats and stats.get("threads", 0) >= 1 and stats.get("predict_s", -1) >= 0
          and stats.get("parse_s", -1) >= 0, "--stats prints one JSON line with the run's figures", err)

    rc, out2, err = run(g, ["predict", income, "--input", sample, "--margin", "--threads", "1"])
    margins = [float(x) for x in out2.split()]
    import math
    check(rc == 0 and len(margins) == len(got) and
          all(abs(1 / (1 + math.exp(-m)) - p) < 1e-6 for m, p in zip(margins, got)),
          "--margin prints raw scores whose sigmoid is the probability", err)

    outfile = os.path.join(tmp, "out.csv")
    rc, _, err = run(g, ["predict", income, "--input", "-", "--output", outfile], stdin=open(sample).read())
    check(rc == 0 and open(outfile).read().split() == out.split(), "--input - and --output FILE", err)

    # bad input: exit 2, message names line and column, nothing written
    lines = open(sample).read().splitlines()
    bad = lines[:3] + [lines[3].replace(lines[3].split(",")[1], "Astronaut", 1)]
    bad_csv = os.path.join(tmp, "bad.csv")
    with open(bad_csv, "w") as f:
        f.write("\n".join(bad) + "\n")
    badout = os.path.join(tmp, "bad_out.csv")
    rc, out, err = run(g, ["predict", income, "--input", bad_csv, "--output", badout])
    check(rc == 2 and "line 4" in err and "column 2" in err and "Astronaut" in err,
          "unknown category exits 2 naming line and column", "rc=%d %s" % (rc, err))
    check(not os.path.exists(badout), "no output file is written on bad input")
    rc, out, err = run(g, ["predict", income, "--input", bad_csv])
    check(rc == 2 and out == "", "no partial output on stdout", out)

    with open(bad_csv, "w") as f:
        f.write("\n".join(lines[:2] + [lines[2] + ",7"]) + "\n")
    rc, out, err = run(g, ["predict", income, "--input", bad_csv])
    check(rc == 2 and "line 3" in err and "15 fields" in err, "wrong field count exits 2 naming the line", err)

    rc, out, err = run(g, ["predict", os.path.join(tmp, "nope.json"), "--input", sample])
    check(rc == 1 and "nope.json" in err, "a missing model file is named", err)
    ubj = os.path.join(tmp, "model.ubj")
    with open(ubj, "wb") as f:
        f.write(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{")
    rc, out, err = run(g, ["predict", ubj, "--input", sample])
    check(rc == 1 and "UBJSON at byte" in err and "model.ubj" in err, "a truncated UBJSON model is refused, naming the file and the byte", err)
    rc, out, err = run(g, ["predict", income])
    check(rc == 2 and "--input" in err, "missing --input is a usage error", err)
    rc, out, err = run(g, ["predict", income, "--input", sample, "--threads", "0"])
    check(rc == 2 and "--threads" in err, "--threads 0 is refused", err)
    rc, out, err = run(g, ["frobnicate"])
    check(rc == 2 and "unknown command" in err, "unknown command exits 2", err)

    # bench: one JSON line per batch size with a positive rate
    rc, out, err = run(g, ["bench", income, "--rows", "2000", "--batch", "1,64", "--min-time", "20"])
    recs = [json.loads(l) for l in out.splitlines() if l.startswith("{")] if rc == 0 else []
    check(rc == 0 and [r["batch"] for r in recs] == [1, 64] and all(r["rows_per_s"] > 0 for r in recs)
          and all(r["trees"] == 300 for r in recs), "bench prints one JSON line per batch size", out + err)

    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
