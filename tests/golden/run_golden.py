#!/usr/bin/python3
"""Golden tests: compare `grove predict` with XGBoost's own predictions.

Usage:
  /usr/bin/python3 tests/golden/run_golden.py --grove build/grove --workdir /tmp/grove-golden
      [--cases a,b,...] [--regen] [--python /usr/bin/python3] [-v]

Generates the cases with gen_models.py into WORKDIR (skipped when WORKDIR/.done
holds the sha256 of the current gen_models.py), then for each case runs

  grove predict WORKDIR/case/model.json --input WORKDIR/case/input.csv --output -
  ... --margin
  ... --threads 2

and compares with expected.csv / expected_margin.csv:
  prob  (binary:logistic, reg:logistic, multi:softprob): |a-b| <= 1e-5
  value (regression, ranking, logitraw, ...) and all margins: |a-b| <= 1e-5*max(1,|b|)
  class (multi:softmax, binary:hinge): exact
Prints TAP; exit status 1 if any test failed.  Only the standard library is
used here; gen_models.py needs a Python with xgboost (default /usr/bin/python3).
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_models.py")
ABS_TOL = 1e-5
REL_TOL = 1e-5
TIMEOUT = 120


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ensure_generated(args):
    done = os.path.join(args.workdir, ".done")
    h = sha256(GEN)
    if not args.regen and os.path.exists(done):
        with open(done) as f:
            if f.read().strip() == h:
                return
    if os.path.isdir(args.workdir):
        for name in os.listdir(args.workdir):
            p = os.path.join(args.workdir, name)
            if os.path.isdir(p) and os.path.exists(os.path.join(p, "meta.json")):
                shutil.rmtree(p)
        if os.path.exists(done):
            os.remove(done)
    os.makedirs(args.workdir, exist_ok=True)
    r = subprocess.run([args.python, GEN, args.workdir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    for line in r.stdout.splitlines():
        print("# " + line)
    if r.returncode != 0:
        print("Bail out! gen_models.py failed (exit %d)" % r.returncode)
        sys.exit(2)
    with open(done, "w") as f:
        f.write(h + "\n")


def parse_num(s):
    s = s.strip()
    try:
        return float(s)
    except ValueError:
        return None


def read_matrix_text(text):
    rows = []
    for line in text.splitlines():
        if line.strip() == "":
            continue
        rows.append([parse_num(x) for x in line.split(",")])
    return rows


def read_matrix(path):
    with open(path) as f:
        return read_matrix_text(f.read())


def err_of(a, b, kind):
    """Return (error, tolerance-normalised error); normalised > 1 means failure."""
    if a is None:
        return math.inf, math.inf
    if math.isnan(b) or math.isnan(a):
        return (0.0, 0.0) if (math.isnan(a) and math.isnan(b)) else (math.inf, math.inf)
    if math.isinf(b) or math.isinf(a):
        return (0.0, 0.0) if a == b else (math.inf, math.inf)
    d = abs(a - b)
    if kind == "class":
        return d, (0.0 if d == 0 else math.inf)
    if kind == "prob":
        return d, d / ABS_TOL
    return d, d / (REL_TOL * max(1.0, abs(b)))


def compare(got, exp, kind):
    """Return None if OK, else a diagnostic string."""
    if len(got) != len(exp):
        return "row count: grove=%d xgboost=%d" % (len(got), len(exp))
    first = None
    worst = None  # (norm, row, col, a, b)
    nbad = 0
    for i, (g, e) in enumerate(zip(got, exp)):
        if len(g) != len(e):
            return "row %d: column count grove=%d xgboost=%d" % (i, len(g), len(e))
        bad_row = False
        for j, (a, b) in enumerate(zip(g, e)):
            _, n = err_of(a, b, kind)
            if n > 1:
                bad_row = True
                if first is None:
                    first = (n, i, j, a, b)
                if worst is None or n > worst[0]:
                    worst = (n, i, j, a, b)
        nbad += bad_row
    if first is None:
        return None

    def show(t):
        _, i, j, a, b = t
        return "row %d col %d grove=%s xgboost=%s" % (
            i, j, "<unparsable>" if a is None else "%.9g" % a, "%.9g" % b)
    msg = "%s (%d/%d rows differ" % (show(first), nbad, len(exp))
    if worst is not first:
        msg += "; worst: %s" % show(worst)
    return msg + ")"


def run_grove(args, argv, stdin_data=None):
    cmd = [args.grove, "predict"] + argv
    if args.verbose:
        print("# $ " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, input=stdin_data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", "timeout after %ds" % TIMEOUT
    return r.returncode, r.stdout, r.stderr


def tail(s, n=3):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []

    def ok(self, desc, directive=""):
        self.n += 1
        print("ok %d - %s%s" % (self.n, desc, directive))

    def not_ok(self, desc, why, directive=""):
        self.n += 1
        print("not ok %d - %s: %s%s" % (self.n, desc, why, directive))
        if not directive:
            self.failed.append(desc)


def check_run(tap, args, desc, argv, expected_path, kind, stdin_data=None, out_file=None):
    rc, out, err = run_grove(args, argv, stdin_data)
    if rc != 0:
        why = "exit %s" % rc if rc is not None else err
        if rc is not None and rc < 0:
            why = "killed by signal %d" % -rc
        tap.not_ok(desc, "%s; stderr: %s" % (why, tail(err)))
        return
    if out_file is not None:
        with open(out_file) as f:
            out = f.read()
    diag = compare(read_matrix_text(out), read_matrix(expected_path), kind)
    if diag:
        tap.not_ok(desc, diag)
    else:
        tap.ok(desc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grove", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="Python with xgboost for gen_models.py")
    ap.add_argument("--cases", help="comma-separated subset of cases")
    ap.add_argument("--regen", action="store_true", help="force regeneration")
    ap.add_argument("--no-misc", action="store_true", help="skip the CLI misc tests")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.grove = os.path.abspath(args.grove)
    args.workdir = os.path.abspath(args.workdir)
    if not os.access(args.grove, os.X_OK):
        print("Bail out! grove binary not found/executable: %s" % args.grove)
        return 2

    ensure_generated(args)
    W = args.workdir
    cases = sorted(c for c in os.listdir(W) if os.path.exists(os.path.join(W, c, "meta.json")))
    skipped = {}
    sp = os.path.join(W, "skipped.json")
    if os.path.exists(sp):
        with open(sp) as f:
            skipped = json.load(f)
    if args.cases:
        want = set(args.cases.split(","))
        cases = [c for c in cases if c in want]
        skipped = {k: v for k, v in skipped.items() if k in want}

    modes = [("predict", []), ("margin", ["--margin"]), ("threads2", ["--threads", "2"])]
    misc = [] if args.no_misc or "binary_logistic" not in cases else [
        "model dir", "stdin input", "output file", "bad value exits 2", "missing column exits 2",
        "extra column without --ignore-extra exits 2"]
    # Cases saved by XGBoost itself also come as UBJSON (model.ubj): one more run each.
    ubj_cases = [c for c in cases if os.path.exists(os.path.join(W, c, "model.ubj"))]
    print("1..%d" % (len(cases) * len(modes) + len(ubj_cases) + len(skipped) + len(misc)))
    tap = Tap()
    for c in cases:
        d = os.path.join(W, c)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        extra = meta.get("extra_args", [])
        base = [os.path.join(d, "model.json"), "--input", os.path.join(d, "input.csv"),
                "--output", "-"] + extra
        for mname, margs in modes:
            if mname == "margin":
                exp, kind = os.path.join(d, "expected_margin.csv"), "value"
            else:
                exp, kind = os.path.join(d, "expected.csv"), meta["kind"]
            desc = "%s %s (%s, %s)" % (c, mname, meta["objective"], "margin" if mname == "margin" else meta["kind"])
            check_run(tap, args, desc, base + margs, exp, kind)
        if c in ubj_cases:
            check_run(tap, args, "%s ubjson (%s, %s)" % (c, meta["objective"], meta["kind"]),
                      [os.path.join(d, "model.ubj")] + base[1:], os.path.join(d, "expected.csv"),
                      meta["kind"])
    for c, why in sorted(skipped.items()):
        tap.ok("%s" % c, " # SKIP not generated: %s" % why)

    if misc:
        d = os.path.join(W, "binary_logistic")
        model, inp = os.path.join(d, "model.json"), os.path.join(d, "input.csv")
        exp = os.path.join(d, "expected.csv")
        check_run(tap, args, "misc model dir (MODEL = directory holding model.json)",
                  [d, "--input", inp, "--output", "-"], exp, "prob")
        with open(inp) as f:
            data = f.read()
        check_run(tap, args, "misc stdin input (--input -)",
                  [model, "--input", "-", "--output", "-"], exp, "prob", stdin_data=data)
        outf = os.path.join(W, ".out_file_test.csv")
        if os.path.exists(outf):
            os.remove(outf)
        check_run(tap, args, "misc output file (--output FILE)",
                  [model, "--input", inp, "--output", outf], exp, "prob", out_file=outf)
        lines = data.splitlines()
        header = lines[0].split(",")
        bad_cases = [
            ("misc bad value exits 2", "\n".join([lines[0], lines[1],
                                                 ",".join(["abc"] * len(header))]) + "\n", ""),
            ("misc missing column exits 2",
             "\n".join(",".join(l.split(",")[1:]) for l in lines[:5]) + "\n",
             ""),
            ("misc extra column without --ignore-extra exits 2",
             "\n".join(l + ("," + ("extra_col" if i == 0 else "1")) for i, l in
                       enumerate(lines[:5])) + "\n",
             ""),
        ]
        for desc, text, directive in bad_cases:
            rc, out, err = run_grove(args, [model, "--input", "-", "--output", "-"], text)
            if rc == 2 and err.strip():
                tap.ok(desc, directive)
            else:
                tap.not_ok(desc, "exit %s, stderr %r" % (rc, tail(err)), directive)

    if tap.failed:
        print("# %d of %d tests failed" % (len(tap.failed), tap.n))
        return 1
    print("# all %d tests passed" % tap.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
