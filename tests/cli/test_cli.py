#!/usr/bin/python3
"""The grove command line as a user runs it: info, predict (and its errors), bench.

Prints TAP. Every check runs the real binary on the bundled income model or on files
written to a temporary directory.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

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
    g = os.path.abspath(a.grove)  # some checks run it from another directory
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

    test_conventions(g)
    test_predict_rows(g, income, tmp)
    test_adult_cli_matches_api(g, income, tmp)
    test_serve_model_name_and_health(g, a.source_root, tmp)
    test_serve_startup_errors(g, a.source_root, tmp)
    test_serve_models_and_ui_dirs(g, a.source_root, tmp)
    test_serve_help_matches_readme(g, a.source_root)
    test_compile_and_cache(g, a.source_root, tmp)

    print("1..%d" % count)
    return 1 if failed else 0


COMMANDS = ["predict", "info", "schema", "compile", "bench", "serve", "health"]


def test_conventions(g):
    """Every subcommand has its own help (exit 0, stdout), --version/-V work, and bad
    usage is plain text on stderr with exit 2 and nothing on stdout."""
    rc, usage, err = run(g, ["--help"])
    check(rc == 0 and all("\n  %s " % c in usage for c in COMMANDS + ["version"]),
          "grove --help lists every command, health and version included", usage)
    for c in COMMANDS:
        for flag in ("--help", "-h"):
            rc, out, err = run(g, [c, flag])
            check(rc == 0 and out.startswith("usage: grove %s" % c) and err == "",
                  "grove %s %s: its own usage on stdout, exit 0" % (c, flag), "rc=%d %s %s" % (rc, out[:200], err))
        rc, out2, _ = run(g, ["help", c])
        check(rc == 0 and out2 == out, "grove help %s is grove %s --help" % (c, c), out2[:200])
    versions = [run(g, [v]) for v in ("--version", "-V", "version")]
    check(all(v[0] == 0 and re.match(r"grove \d+\.\d+\.\d+ ", v[1]) for v in versions) and
          len({v[1] for v in versions}) == 1, "grove --version, -V and version print the version", versions)
    rc, out, err = run(g, [])
    check(rc == 2 and out == "" and err.startswith("usage: grove"), "grove alone: usage on stderr, exit 2", err)
    for args, needle in ((["predict", "-x"], 'unknown option "-x"'),
                         (["info", "--frob"], 'unknown option "--frob"'),
                         (["bench", "--rows"], 'missing value for option "--rows"'),
                         (["predict", "m", "--input", "f", "--categories", "both"], "auto, labels or codes"),
                         (["predict", "m", "--input", "f", "--errors", "some"], "stop or per-row")):
        rc, out, err = run(g, args)
        check(rc == 2 and out == "" and needle in err, "grove %s: exit 2, says %s" % (" ".join(args), needle),
              "rc=%d out=%r err=%r" % (rc, out[:100], err))


def predict_lines(g, args, stdin=None):
    rc, out, err = run(g, ["predict"] + args, stdin=stdin)
    return rc, out.splitlines(), err


def test_predict_rows(g, income, tmp):
    """--errors per-row, --unknown-categories and --categories on the income model."""
    header = open(os.path.join(income, "sample.csv")).readline().strip()
    good = "39,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States"
    rows = [good, good.replace("State-gov", "Martian"), "41,Private", good.replace("77516", "abc"),
            good.replace("State-gov", " ?")]
    text = header + "\n" + "\n".join(rows) + "\n"
    rc, lines, err = predict_lines(g, [income, "--input", "-", "--errors", "per-row"], stdin=text)
    check(rc == 0 and len(lines) == 5, "--errors per-row: one line per row, exit 0", "rc=%d %s" % (rc, err))
    cells = [l.split(",", 1) for l in lines]
    rc1, one, _ = predict_lines(g, [income, "--input", "-"], stdin=header + "\n" + good + "\n")
    rc2, missing, _ = predict_lines(g, [income, "--input", "-"], stdin=header + "\n" + good.replace("State-gov", "") + "\n")
    if len(cells) == 5 and rc1 == 0 and rc2 == 0:
        check(cells[0] == [one[0], ""] and cells[4] == [missing[0], ""],
              "per-row: good rows score as alone, with an empty error column; the schema's '?' is missing", lines)
        check(cells[1][0] == "" and "line 3, column 2" in cells[1][1] and "Martian" in cells[1][1],
              "per-row: an unknown category: empty prediction and the reason", lines[1])
        check(cells[2][0] == "" and "line 4: 2 fields, the header has 14" in cells[2][1],
              "per-row: a short line: empty prediction and the reason", lines[2])
        check(cells[3][0] == "" and 'not a number: ""abc""' in cells[3][1],
              "per-row: not a number, the reason quoted as a CSV field", lines[3])
    check("3 of 5 rows not scored" in err, "per-row: stderr counts the rows not scored", err)
    rc, lines, err = predict_lines(g, [income, "--input", "-", "--unknown-categories", "missing"],
                                   stdin=header + "\n" + rows[1] + "\n")
    check(rc == 0 and lines == missing, "--unknown-categories missing: an unknown label scores as missing", err)
    sparse = "39,State-gov,77516,,13,,,,,,2174,0,40,"
    rc, by_label, err = predict_lines(g, [income, "--input", "-"], stdin=header + "\n" + sparse + "\n")
    rc2, lines, err2 = predict_lines(g, [income, "--input", "-", "--categories", "codes"],
                                     stdin=header + "\n" + sparse.replace("State-gov", "6") + "\n")
    check(rc == 0 and rc2 == 0 and lines == by_label, "--categories codes: 6 is State-gov's code", err + err2)
    rc, lines, err = predict_lines(g, [income, "--input", "-", "--categories", "codes"], stdin=header + "\n" + good + "\n")
    check(rc == 2 and "not a category code" in err and "--categories codes" in err,
          "--categories codes refuses a label, naming the option", err)


def test_adult_cli_matches_api(g, income, tmp):
    """The tutorial's whole adult.csv (32,561 rows, ' ?' for missing, an income column):
    grove predict scores every row, and the same rows sent to the API as JSON records give
    the same predictions."""
    data = os.path.join(os.path.dirname(income), "adult.csv.gz")
    import csv
    import gzip
    with gzip.open(data, "rt") as f:
        text = f.read()
    rc, lines, err = predict_lines(g, [income, "--input", "-", "--ignore-extra"], stdin=text)
    check(rc == 0 and len(lines) == 32561, "grove predict scores all of adult.csv (%d rows)" % len(lines), err[:300])
    recs = []
    for r in csv.DictReader(text.splitlines()):
        r.pop("income", None)
        recs.append({k: (float(v) if k in ("age", "fnlwgt", "educational-num", "capital-gain", "capital-loss",
                                           "hours-per-week") else v.strip()) for k, v in r.items()})
    p, port = start_serve(g, [income])
    try:
        status, body = http("POST", "http://127.0.0.1:%d/v1/models/income/predict" % port,
                            json.dumps({"records": recs}).encode()) if port else (0, b"")
    finally:
        stop_serve(p)
    api = json.loads(body).get("predictions", []) if status == 200 else []
    diff = max((abs(float(a) - b) for a, b in zip(lines, api)), default=1.0)
    check(status == 200 and len(api) == len(lines) and diff == 0.0,
          "adult.csv through grove predict equals the API's predictions for the same records (max |diff| %g)" % diff,
          "status %s %s" % (status, body[:200]))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def clean_env(extra=None):
    """The environment without GROVE_* and PORT (so that only defaults decide), plus EXTRA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROVE_") and k != "PORT"}
    return dict(env, **(extra or {}))


def start_serve(grove, args, env=None, cwd=None, clean=False, wait_s=20):
    """`grove serve ARGS` on a free loopback port (from CWD; with CLEAN, no GROVE_* or PORT
    but ENV's); (process, port) once it is ready, or (process, None) when it never got
    ready within WAIT_S seconds."""
    port = free_port()
    p = subprocess.Popen([grove, "serve", "--host", "127.0.0.1", "--port", str(port)] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                         env=clean_env(env) if clean else dict(os.environ, **(env or {})))
    deadline = time.time() + wait_s
    while time.time() < deadline and p.poll() is None:
        if http("GET", "http://127.0.0.1:%d/v2/health/ready" % port)[0] == 200:
            return p, port
        time.sleep(0.05)
    return p, None


def stop_serve(p):
    """SIGTERM; the exit code (None if it had to be killed)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def oip_probabilities(ans):
    """A binary classifier's positive-class probabilities in an OIP v2 answer: an FP32 output
    of shape [n], or column 1 of a [n, 2] one (predict_proba, beside an INT64 class output)."""
    for o in ans.get("outputs") or []:
        shape = o.get("shape") or []
        if o.get("datatype") in ("FP32", "FP64") and len(shape) == 1:
            return o.get("data", [])
        if o.get("datatype") in ("FP32", "FP64") and len(shape) == 2 and shape[1] == 2:
            return o.get("data", [])[1::2]
    return []


def test_serve_model_name_and_health(g, root, tmp):
    """--model-name / GROVE_MODEL_NAME over a directory holding the model file directly (as
    KServe mounts it at /mnt/models), its refusals, and `grove health` against that server,
    a closed port and a silent one."""
    mnt = os.path.join(tmp, "mnt", "models")
    os.makedirs(mnt)
    shutil.copy(os.path.join(root, "tests", "fixtures", "binary_logistic.json"), os.path.join(mnt, "model.json"))
    rows = [[0.5, -1.25, 3.0, 0.125], [-2.0, 0.75, 0.0, 1.5], [1.0, 1.0, 1.0, 1.0]]
    csv_path = os.path.join(tmp, "rows.csv")
    with open(csv_path, "w") as f:
        f.write("alpha,beta,gamma,delta\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows))
    rc, out, err = run(g, ["predict", mnt, "--input", csv_path])
    want = [float(x) for x in out.split()] if rc == 0 else []

    p, port = start_serve(g, [mnt], env={"GROVE_MODEL_NAME": "my-isvc"})
    base = "http://127.0.0.1:%d" % port if port else None
    status, body = http("GET", base + "/v2/models/my-isvc") if base else (0, b"")
    check(port is not None and status == 200 and json.loads(body).get("name") == "my-isvc",
          "GROVE_MODEL_NAME names the model of a directory that holds model.json directly", body[:300])
    infer = {"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": [v for r in rows for v in r]}]}
    status, body = http("POST", base + "/v2/models/my-isvc/infer", json.dumps(infer).encode()) if base else (0, b"")
    got = oip_probabilities(json.loads(body)) if status == 200 else []
    check(len(want) == 3 and len(got) == 3 and all(abs(x - y) <= 1e-9 for x, y in zip(got, want)),
          "POST /v2/models/NAME/infer scores as grove predict does", "%s %s / %s" % (status, body[:200], want))
    status, _ = http("GET", base + "/v2/models/models") if base else (0, b"")
    check(status == 404, "the directory's own name is not served beside NAME", status)

    # grove health: 0 against the ready server (by --port, PORT, GROVE_PORT over PORT), 1
    # for another status, a closed port and a server that never answers; 2 for bad usage.
    hp = str(port or 1)
    rc, out, err = run(g, ["health", "--port", hp])
    check(rc == 0 and "/v2/health/ready: 200" in out, "health --port N exits 0 against a ready server", out + err)
    env_run = lambda extra, args=(): subprocess.run([g, "health"] + list(args), capture_output=True, text=True,
                                                    timeout=30, env=dict(os.environ, **extra))
    r1 = env_run({"PORT": hp, "GROVE_PORT": ""})
    r2 = env_run({"PORT": "1", "GROVE_PORT": hp}, ["--path", "/v2/models/my-isvc/ready"])
    check(r1.returncode == 0 and r2.returncode == 0, "health takes the port from PORT, and GROVE_PORT over PORT",
          r1.stderr + r2.stderr)
    rc, out, err = run(g, ["health", "--port", hp, "--path", "/v2/models/nope/ready"])
    check(rc == 1 and "answered 404" in err, "health exits 1 when the answer is not 200", err)
    closed = free_port()
    rc, out, err = run(g, ["health", "--port", str(closed), "--host", "127.0.0.1"])
    check(rc == 1 and "refused" in err.lower(), "health exits 1 on a closed port", err)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    t0 = time.time()
    rc, out, err = run(g, ["health", "--port", str(silent.getsockname()[1]), "--timeout-ms", "300"])
    took = time.time() - t0
    silent.close()
    check(rc == 1 and "no answer within 300 ms" in err and took < 3, "health gives up on a silent server after --timeout-ms (%.2f s)" % took, err)
    bad = [run(g, ["health", "--host", "example.com"]), run(g, ["health", "--port", "0"]), run(g, ["health", "extra"])]
    check([b[0] for b in bad] == [2, 2, 2], "health: a host name, port 0, a stray argument are usage errors (2)",
          [b[2] for b in bad])
    code = stop_serve(p)
    check(code == 0, "serve exits 0 on SIGTERM", p.stderr.read()[-500:] if code != 0 else "")

    # --models DIR holding one model, renamed by the flag; refusals, each naming the problem.
    one = os.path.join(tmp, "one")
    os.makedirs(os.path.join(one, "a"))
    shutil.copy(os.path.join(mnt, "model.json"), os.path.join(one, "a", "model.json"))
    p, port = start_serve(g, ["--models", one, "--model-name", "renamed"])
    status, body = http("GET", "http://127.0.0.1:%d/v1/models" % port) if port else (0, b"")
    names = [m.get("name") for m in json.loads(body).get("models", [])] if status == 200 else body
    check(names == ["renamed"], "--model-name renames the only model under --models", names)
    stop_serve(p)
    income = os.path.join(root, "models", "income")
    # Too many models for one name is found after the flags parse: logged, exit 1. A name
    # that cannot be one is a bad flag value: stderr, exit 2.
    cases = [
        (["serve", "--model-name", "x", income, mnt], "names one model, but 2 MODEL paths were given"),
        (["serve", "--model-name", "x", "--models", os.path.join(root, "models")], "holds 2"),
        (["serve", "--model-name", "x", "--models", one, income], "1 MODEL path(s) and 1 model(s) under --models"),
    ]
    for args, msg in cases:
        rc, out, err = run(g, args)
        check(rc == 1 and msg in out and logged_error(out) and err == "",
              "serve %s is refused in the log (exit 1): %s" % (" ".join(args[1:3]), msg), "rc=%d %s%s" % (rc, out, err))
    rc, out, err = run(g, ["serve", "--model-name", "a/b", mnt])
    check(rc == 2 and "a model name is 1 to 200 letters" in err and out == "",
          "serve --model-name a/b is a usage error (stderr, exit 2)", "rc=%d %s%s" % (rc, out, err))


LOGFMT_ERROR = re.compile(r'^ts=\S+ level=error msg="[^"]+" error="(?:[^"\\]|\\.)*"$')


def logged_error(out):
    """Whether OUT (serve's stdout) ends with one logfmt line with level=error."""
    lines = out.strip().splitlines()
    return bool(lines) and LOGFMT_ERROR.match(lines[-1]) is not None


def run_in(grove, args, cwd, env=None):
    """`grove ARGS` from CWD with no GROVE_* or PORT variable but ENV's."""
    p = subprocess.run([grove] + args, capture_output=True, text=True, timeout=120, cwd=cwd,
                       env=clean_env(env))
    return p.returncode, p.stdout, p.stderr


def test_serve_startup_errors(g, root, tmp):
    """One rule: a flag or value config parsing refuses is plain text on stderr, exit 2;
    everything after it (models, directories, the port, TLS files) is a logfmt
    level=error line on stdout like the rest of the log, exit 1."""
    income = os.path.join(root, "models", "income")
    work = os.path.join(tmp, "startup")
    os.makedirs(work)
    for args, what in [(["--port", "0"], "--port 0"), (["--frobnicate"], "an unknown flag"),
                       (["--tls-cert", "c.pem"], "--tls-cert without --tls-key")]:
        rc, out, err = run_in(g, ["serve"] + args, work)
        check(rc == 2 and err.startswith("grove serve: ") and out == "",
              "%s is a usage error: stderr, exit 2" % what, "rc=%d out=%s err=%s" % (rc, out, err))
    port = str(free_port())
    base = ["serve", "--host", "127.0.0.1", "--port", port]
    cases = [
        ([], {"GROVE_DATADIR": os.path.join(tmp, "no-datadir")}, "no model to serve",
         "no MODEL paths, and neither ./models nor"),
        (["--models", os.path.join(tmp, "nope")], {}, "cannot start", "nope: not a readable directory"),
        ([income], {"GROVE_MODELS": os.path.join(tmp, "nope")}, "cannot start", "--models (GROVE_MODELS)"),
        ([os.path.join(tmp, "missing.json")], {}, "cannot load a model", "missing.json"),
        (["--default-model", "zz", income], {}, "no default model", '--default-model \\"zz\\"'),
        (["--models", os.path.join(root, "models"), income], {}, "cannot load a model",
         'a model named \\"income\\" is already loaded'),
        (["--tls-cert", os.path.join(tmp, "c.pem"), "--tls-key", os.path.join(tmp, "k.pem"), income], {},
         "cannot start", "TLS: cannot use"),
    ]
    for args, env, msg, detail in cases:
        rc, out, err = run_in(g, base + args, work, env)
        check(rc == 1 and logged_error(out) and 'msg="%s"' % msg in out and detail in out and err == "",
              "serve %s: logged at level=error on stdout (%s), exit 1" % (" ".join(args)[-40:] or "(nothing)", msg),
              "rc=%d out=%s err=%s" % (rc, out[-600:], err))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    rc, out, err = run_in(g, ["serve", "--host", "127.0.0.1", "--port", str(busy.getsockname()[1]), income], work)
    busy.close()
    check(rc == 1 and logged_error(out) and "Address already in use" in out and err == "",
          "a port in use is logged at level=error on stdout, exit 1", "rc=%d out=%s err=%s" % (rc, out[-600:], err))


def test_serve_models_and_ui_dirs(g, root, tmp):
    """An explicit --models beside MODEL paths serves both; a default one does not; a
    missing --ui is a warning naming the flag, and every UI path says the UI is missing."""
    more = os.path.join(tmp, "more")
    os.makedirs(os.path.join(more, "bl"))
    shutil.copy(os.path.join(root, "tests", "fixtures", "binary_logistic.json"), os.path.join(more, "bl", "model.json"))
    income = os.path.join(root, "models", "income")
    names = {}
    for label, args, env in [("flag", ["--models", more, income], None), ("variable", [income], {"GROVE_MODELS": more}),
                             ("default", [income], None)]:
        p, port = start_serve(g, args + ["--ui", os.path.join(tmp, "no-ui")], env)
        status, body = http("GET", "http://127.0.0.1:%d/v1/models" % port) if port else (0, b"")
        names[label] = sorted(m.get("name") for m in json.loads(body).get("models", [])) if status == 200 else body
        if label == "flag":
            status1, page = http("GET", "http://127.0.0.1:%d/" % port) if port else (0, b"")
            status2, page2 = http("GET", "http://127.0.0.1:%d/admin.html" % port) if port else (0, b"")
        stop_serve(p)
        log = p.stdout.read()
        if label == "flag":
            warn = [l for l in log.splitlines() if "level=warn" in l and "UI directory" in l]
            start = [l for l in log.splitlines() if 'msg="grove starting"' in l]
    check(names["flag"] == ["bl", "income"] and names["variable"] == ["bl", "income"],
          "MODEL paths and an explicit --models (flag or GROVE_MODELS) are both served", names)
    check(names["default"] == ["income"], "the default --models adds nothing beside MODEL paths", names)
    check(len(start) == 1 and 'models_dir="%s"' % more in start[0] and "ui_dir=" in start[0],
          "the start-up line names the models and UI directories", start)
    check(len(warn) == 1 and "no-ui" in warn[0] and "--ui" in warn[0] and "GROVE_UI" in warn[0],
          "a missing --ui directory is a start-up warning naming it, --ui and GROVE_UI", warn)
    check(status1 == 404 and status2 == 404 and b"web UI is missing" in page and b"--ui" in page and page == page2,
          "GET / and other UI paths say the UI is missing and how to set it", "%s %s / %s" % (status1, page[:200], status2))


def test_serve_help_matches_readme(g, root):
    """README's Configuration block lists the flags and variables `grove serve --help` does,
    in the same order (both come from http/config.c's table)."""
    rc, out, err = run(g, ["serve", "--help"])
    opt = re.compile(r"^  (--[a-z-]+(?: [A-Z]+)?)\s+((?:[A-Z_]+)(?:, [A-Z_]+)*)\s+default:", re.M)
    help_rows = opt.findall(out)
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    block = readme.split("### Configuration", 1)[-1].split("```", 2)[1] if "### Configuration" in readme else ""
    readme_rows = opt.findall(block)
    check(rc == 0 and len(help_rows) >= 19 and help_rows == readme_rows,
          "README's Configuration block matches grove serve --help (%d options)" % len(help_rows),
          "help only: %s\nREADME only: %s" % ([r for r in help_rows if r not in readme_rows],
                                             [r for r in readme_rows if r not in help_rows]))
    check(("--model-name NAME", "GROVE_MODEL_NAME") in help_rows, "--model-name NAME / GROVE_MODEL_NAME is an option")


def test_compile_and_cache(g, root, tmp):
    """`grove compile` writes model.grove beside the model file; commands map it while it
    is current and warn when it is stale or corrupt (answers unchanged); `grove serve
    --cache-dir` writes images on first start and maps them on the next; a cache directory
    that cannot be created is one warning, never a failed start."""
    src = os.path.join(root, "models", "income-sklearn")
    d = os.path.join(tmp, "compiled", "income-sklearn")
    os.makedirs(d)
    for f in ("model.json", "schema.json", "sample.csv"):
        shutil.copy(os.path.join(src, f), d)
    sample = os.path.join(d, "sample.csv")
    rc, want, err = run(g, ["predict", d, "--input", sample])
    check(rc == 0 and want.strip(), "predict from the source", err)
    rc_src, info_src, _ = run(g, ["info", d])
    rc_file, info_file, _ = run(g, ["info", os.path.join(d, "model.json")])
    rc, out, err = run(g, ["compile", d])
    image = os.path.join(d, "model.grove")
    check(rc == 0 and os.path.exists(image) and image in out and "hash" in out,
          "compile writes model.grove beside model.json and says so", out + err)
    rc, got, err = run(g, ["predict", d, "--input", sample])
    check(rc == 0 and got == want and err == "", "predict from model.grove prints the same bytes, no warning",
          err + got[:200])
    rc, info_img, _ = run(g, ["info", d])
    # Both must have answered: two failed runs would print the same nothing.
    check(rc == 0 and rc_src == 0 and info_src and info_img == info_src, "info from the image is the source's",
          info_img[:300])
    other = os.path.join(tmp, "compiled", "other.grove")
    rc, out, err = run(g, ["compile", d, "-o", other])
    rc2, info_other, _ = run(g, ["info", other])
    check(rc == 0 and rc2 == 0 and rc_file == 0 and info_other == info_file and info_file,
          "compile -o OUT, and OUT loads as a model file (the info of the bare model file)", err + info_other[:300])
    rc, out, err = run(g, ["compile", other])
    check(rc == 2 and "already an image" in err and out == "", "compiling an image is refused (exit 2)", err)

    with open(os.path.join(d, "model.json"), "a") as f:
        f.write("\n")
    rc, got, err = run(g, ["predict", d, "--input", sample])
    check(rc == 0 and got == want and "warning" in err and "another source" in err,
          "a stale model.grove is ignored with a warning; the source answers", err)
    with open(image, "r+b") as f:
        f.truncate(100)
    rc, got, err = run(g, ["predict", d, "--input", sample])
    check(rc == 0 and got == want and "warning" in err and "shorter" in err,
          "a truncated model.grove is ignored with a warning", err)
    os.unlink(image)

    cache = os.path.join(tmp, "cache")
    logs = []
    for _ in range(2):
        p, port = start_serve(g, [d, "--cache-dir", cache, "--ui", os.path.join(root, "ui")])
        stop_serve(p)
        logs.append(p.stdout.read())
        check(port is not None, "serve --cache-dir starts", logs[-1][-500:])
    files = os.listdir(cache) if os.path.isdir(cache) else []
    check(len(files) == 1 and files[0].endswith(".grove"), "the first start wrote the model's image to the cache",
          files)
    check("images=0" in logs[0] and "images=1" in logs[1] and "level=warn" not in logs[1],
          "the second start maps it (images=1 on the start-up line)", logs[1][-600:])
    p, port = start_serve(g, [d, "--ui", os.path.join(root, "ui")], env={"GROVE_CACHE_DIR": "/proc/grove-no-cache"})
    stop_serve(p)
    log = p.stdout.read()
    warns = [l for l in log.splitlines() if "level=warn" in l]
    check(port is not None and len(warns) == 1 and "cache directory" in warns[0] and "/proc/grove-no-cache" in warns[0],
          "a cache directory that cannot be made is one warning, and serving starts", log[-800:])


if __name__ == "__main__":
    sys.exit(main())
