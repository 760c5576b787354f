#!/usr/bin/python3
"""grove serve over real HTTP on loopback: every route, format, limit and lifecycle event.

Prints TAP. Starts its own daemons on free 127.0.0.1 ports (explicit flags, a clean
environment apart from the sanitizer options), always kills them, and fails when a daemon
exits badly or prints a sanitizer report. See tests/http/README.md.
"""
import argparse
import csv
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

count = 0
failed = 0
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ERROR: ThreadSanitizer")


def check(cond, what, detail="", todo=None):
    global count, failed
    count += 1
    suffix = " # TODO %s" % todo if todo else ""
    if cond:
        print("ok %d - %s%s" % (count, what, suffix))
    else:
        if not todo:
            failed += 1
        print("not ok %d - %s%s" % (count, what, suffix))
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()


def skip(what, why):
    global count
    count += 1
    print("ok %d - %s # SKIP %s" % (count, what, why))
    sys.stdout.flush()


def note(msg):
    for line in str(msg).splitlines():
        print("# " + line)
    sys.stdout.flush()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- daemons

class Daemon:
    """One `grove serve` process; stdout/stderr go to files in the work directory."""

    all = []

    def __init__(self, ctx, name, args, tls=False):
        self.ctx = ctx
        self.name = name
        self.port = free_port()
        self.tls = tls
        self.out_path = os.path.join(ctx.tmp, name + ".out")
        self.err_path = os.path.join(ctx.tmp, name + ".err")
        self.argv = [ctx.grove, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                     "--ui", os.path.join(ctx.root, "ui"), "--shutdown-grace", "10"] + args
        self.proc = subprocess.Popen(self.argv, stdout=open(self.out_path, "wb"), stderr=open(self.err_path, "wb"),
                                     stdin=subprocess.DEVNULL, env=ctx.env, cwd=ctx.tmp)
        self.rc = None
        self.checked = False
        self.terminated = False  # a second SIGTERM kills grove at once: send one only
        Daemon.all.append(self)

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=None):
        timeout = timeout or 20 * self.ctx.slow
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                st, _, _ = self.request("GET", "/v2/health/ready", timeout=2)
                if st == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def conn(self, timeout=10):
        if self.tls:
            c = ssl.create_default_context()
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout * self.ctx.slow, context=c)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * self.ctx.slow)

    def request(self, method, path, body=None, headers=None, timeout=10, conn=None):
        """Returns (status, headers as a lower-cased dict, body bytes)."""
        own = conn is None
        c = conn or self.conn(timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            h = dict(headers or {})
            if body is not None and not any(k.lower() == "content-type" for k in h):
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig == signal.SIGTERM:
                self.terminated = True

    def stop(self, timeout=None):
        """SIGTERM, wait; SIGKILL if it does not go. Returns the exit code."""
        if self.rc is not None:
            return self.rc
        timeout = timeout or 15 * self.ctx.slow
        if not self.terminated:
            self.signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.rc = "hung (killed after %ss)" % timeout
        return self.rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def check_exit(self, expect_rc=0):
        """TAP check: exited with EXPECT_RC and printed no sanitizer report."""
        if self.checked:
            return
        self.checked = True
        rc = self.stop()
        err = self.stderr()
        out = self.stdout()
        reports = [m for m in SANITIZER_MARKS if m in err or m in out]
        check(rc == expect_rc and not reports,
              "daemon '%s' exits %s with no sanitizer report" % (self.name, expect_rc),
              "rc=%s reports=%s\n%s" % (rc, reports, err[-3000:]))


def jpost(d, path, obj, headers=None, conn=None, timeout=10):
    st, h, body = d.request("POST", path, json.dumps(obj), headers, conn=conn, timeout=timeout)
    return st, h, parse_json(body)


def jget(d, path, conn=None):
    st, h, body = d.request("GET", path, conn=conn)
    return st, h, parse_json(body)


def parse_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return {"_raw": body[:300]}


def close_to(a, b, tol=1e-6):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def metric_values(text):
    """Prometheus text -> {'name{labels}': float}."""
    vals = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            vals[k] = float(v)
        except ValueError:
            pass
    return vals


def metrics(d):
    st, _, body = d.request("GET", "/metrics")
    return metric_values(body.decode()) if st == 200 else {}


def series_labels(key):
    """'name{a="x",b="y"}' (a metric_values key) -> ('name', {'a': 'x', 'b': 'y'})."""
    name, _, rest = key.partition("{")
    labels = {}
    for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', rest):
        labels[k] = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)
    return name, labels


def metric_sum(m, name, **labels):
    """The sum of NAME's series in M (metric_values) whose labels include LABELS, e.g. every
    model's grove_requests_total{route="predict",code="200"}; 0 when there is none."""
    total = 0
    for key, v in m.items():
        n, ls = series_labels(key)
        if n == name and all(ls.get(k) == want for k, want in labels.items()):
            total += v
    return total


# ---------------------------------------------------------------- data

class Ctx:
    pass


def load_data(ctx):
    inc = os.path.join(ctx.root, "models", "income")
    with open(os.path.join(inc, "schema.json")) as f:
        ctx.schema = json.load(f)
    feats = ctx.schema["features"]
    ctx.fnames = [f["name"] for f in feats]
    with open(os.path.join(inc, "sample.csv")) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    assert header == ctx.fnames, header
    ctx.records, ctx.rows = [], []
    for line in lines[1:]:
        rec, row = {}, []
        for feat, v in zip(feats, line.split(",")):
            if v == "":
                row.append(None)
                continue
            if feat["type"] == "categorical":
                rec[feat["name"]] = v
                row.append(feat["categories"].index(v))
            else:
                rec[feat["name"]] = float(v) if "." in v else int(v)
                row.append(float(v))
        ctx.records.append(rec)
        ctx.rows.append(row)
    with open(os.path.join(inc, "sample_expected.csv")) as f:
        ctx.expected = [float(x) for x in f.read().split()]
    ctx.complete = [i for i, r in enumerate(ctx.rows) if None not in r]
    ctx.cat_index = {f["name"]: i for i, f in enumerate(feats)}


def synth_rows(ctx, n, seed=0):
    """N distinct complete rows derived from the sample (age and hours-per-week vary)."""
    base = [ctx.rows[i] for i in ctx.complete]
    ia, ih, iw = ctx.fnames.index("age"), ctx.fnames.index("hours-per-week"), ctx.fnames.index("fnlwgt")
    out = []
    for k in range(n):
        r = list(base[(k + seed) % len(base)])
        r[ia] = float(17 + (k * 7 + seed) % 74)
        r[ih] = float(1 + (k * 13 + seed) % 99)
        r[iw] = float(12285 + (k * 7919) % 1000000)
        out.append(r)
    return out


def pack_tensor(rows):
    flat = [float("nan") if v is None else v for r in rows for v in r]
    return msgpack.packb({"shape": [len(rows), len(rows[0])], "data": struct.pack("<%df" % len(flat), *flat)})


def decode_predictions(p):
    """msgpack predictions: a list, or {"shape", "data": float32 bin}."""
    if isinstance(p, dict):
        data = p.get("data", b"")
        return list(struct.unpack("<%df" % (len(data) // 4), data))
    return p


# ---------------------------------------------------------------- tests

def test_cli(ctx):
    p = subprocess.run([ctx.grove, "serve", "--help"], capture_output=True, text=True, timeout=30, env=ctx.env)
    opts = ["--models", "--port", "--threads", "--workers", "--max-batch-rows", "--max-body", "--max-queue-rows",
            "--max-request-rows", "--deadline-ms", "--tls-cert", "--tls-key", "--admin-token", "--shutdown-grace"]
    missing = [o for o in opts if o not in p.stdout]
    check(p.returncode == 0 and not missing, "serve --help exits 0 and lists every option", "missing %s" % missing)
    envs = ["GROVE_PORT", "GROVE_WORKERS", "GROVE_THREADS", "GROVE_MAX_BODY", "GROVE_DEADLINE_MS", "GROVE_ADMIN_TOKEN"]
    check(all(e in p.stdout for e in envs), "serve --help names the environment variables", p.stdout[:800])
    for flag, value in (("--workers", "0"), ("--port", "70000"), ("--max-body", "lots"), ("--deadline-ms", "-5")):
        p = subprocess.run([ctx.grove, "serve", flag, value, "--models", os.path.join(ctx.root, "models")],
                           capture_output=True, text=True, timeout=30, env=ctx.env)
        check(p.returncode != 0 and flag in p.stderr, "serve %s %s exits non-zero naming the flag" % (flag, value),
              "rc=%d stderr=%s" % (p.returncode, p.stderr))
    p = subprocess.run([ctx.grove, "serve", "--models", os.path.join(ctx.tmp, "no-such-dir"), "--port",
                        str(free_port())], capture_output=True, text=True, timeout=30, env=ctx.env)
    check(p.returncode == 1 and "level=error" in p.stdout and "no-such-dir" in p.stdout and p.stderr == "",
          "serve with a missing models dir exits 1, logging the error naming it (#14: logfmt on stdout)",
          "rc=%d %s%s" % (p.returncode, p.stdout, p.stderr))


def test_banner(ctx, d):
    out = d.stdout()
    line = next((l for l in out.splitlines() if 'msg="grove starting"' in l), "")
    st, _, info = jget(d, "/v1/models/income")
    want = ["version=", "isa=", "io_threads=2", "workers=2",
            "income(300 trees, 14 features, %s)" % (info.get("kernel") if st == 200 else "?"),
            "url=http://127.0.0.1:%d" % d.port]
    check(all(w in line for w in want), "start-up banner names version, isa, threads, workers, models "
          "with the kernel each walks (as /v1/models/income says), url", out)
    check('msg="ready"' in out, "a ready line follows", out)


def test_v1(ctx, d):
    c = d.conn()
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records}, conn=c)
    preds = r.get("predictions", [])
    check(st == 200 and close_to(preds, ctx.expected), "v1 records: predictions equal XGBoost's (1e-6)",
          "%s %s" % (st, r))
    check(r.get("model") == "income" and r.get("labels") == [">50K" if p > 0.5 else "<=50K" for p in preds]
          and len(preds) == 20, "v1 records: labels are \">50K\" exactly when p > 0.5", r)
    st, _, r2 = jpost(d, "/v1/models/income/predict", {"rows": ctx.rows}, conn=c)
    check(st == 200 and r2.get("predictions") == preds, "v1 rows (category codes, null = missing) equal the records",
          "%s %s" % (st, r2))
    st, _, r3 = jpost(d, "/predict", {"records": ctx.records}, conn=c)
    check(st == 200 and r3.get("predictions") == preds and r3.get("model") == "income",
          "POST /predict answers with the default model", r3)
    st, _, r4 = jpost(d, "/v1/models/income/predict", {"rows": ctx.rows, "margin": True}, conn=c)
    logit = [math.log(p / (1 - p)) for p in ctx.expected]
    check(st == 200 and close_to(r4.get("predictions", []), logit, 1e-4),
          "\"margin\": true gives logit(p)", "%s %s" % (st, r4))
    st, _, r5 = jpost(d, "/v1/models/income/predict", {"rows": ctx.rows, "labels": False}, conn=c)
    check(st == 200 and "labels" not in r5 and r5.get("predictions") == preds, "\"labels\": false omits labels", r5)
    # a record with a null value and integer category codes equals the string form
    recs = []
    for rec in ctx.records[:3]:
        rr = {k: (ctx.schema["features"][ctx.cat_index[k]]["categories"].index(v) if isinstance(v, str) else v)
              for k, v in rec.items()}
        rr["occupation"] = rr.get("occupation") if "occupation" in rr else None
        recs.append(rr)
    st, _, r6 = jpost(d, "/v1/models/income/predict", {"records": recs}, conn=c)
    check(st == 200 and r6.get("predictions") == preds[:3], "records with integer codes and null equal the strings", r6)
    c.close()


def test_msgpack(ctx, d):
    c = d.conn()
    mp = {"Content-Type": "application/msgpack"}
    st, h, body = d.request("POST", "/v1/models/income/predict", msgpack.packb({"rows": ctx.rows}), mp, conn=c)
    r = parse_json(body)
    check(st == 200 and h.get("content-type", "").startswith("application/json")
          and close_to(r.get("predictions", []), ctx.expected), "msgpack rows in, JSON out", "%s %s" % (st, r))
    st, h, body = d.request("POST", "/v1/models/income/predict", pack_tensor(ctx.rows),
                            dict(mp, Accept="application/msgpack"), conn=c)
    ok = st == 200 and "msgpack" in h.get("content-type", "")
    r = msgpack.unpackb(body, raw=False) if ok else {}
    preds = decode_predictions(r.get("predictions", []))
    check(ok and close_to(preds, ctx.expected), "msgpack {shape, data: float32 bin} in, msgpack out",
          "%s %s %s" % (st, h, body[:200]))
    check(r.get("labels") in (None, [">50K" if p > 0.5 else "<=50K" for p in preds]),
          "msgpack labels (if any) agree with the predictions", r)
    rows = synth_rows(ctx, 3000)
    st, h, body = d.request("POST", "/v1/models/income/predict", msgpack.packb({"rows": rows}),
                            dict(mp, Accept="application/msgpack"), conn=c)
    r = msgpack.unpackb(body, raw=False) if st == 200 else {}
    big = decode_predictions(r.get("predictions", []))
    st2, _, j = jpost(d, "/v1/models/income/predict", {"rows": rows}, conn=c)
    check(st == 200 and len(big) == 3000 and big == [f32(x) for x in j.get("predictions", [])],
          "msgpack 3000-row answer (bin predictions) equals the JSON answer", "%s %s" % (st, st2))
    c.close()


def v2_output(answer, name="predict_proba"):
    """The OIP output called NAME in an infer answer or model metadata ({} when absent)."""
    for out in answer.get("outputs") or []:
        if isinstance(out, dict) and out.get("name") == name:
            return out
    return {}


def v2_probs(answer):
    """P(positive class) per row from an infer answer's predict_proba: its second column for
    a binary classifier ([n, 2], as scikit-learn's), else its data."""
    out = v2_output(answer)
    shape, data = out.get("shape", []), out.get("data", [])
    return data[1::2] if len(shape) == 2 and shape[1] == 2 else data


def test_v2(ctx, d):
    c = d.conn()
    st, _, r = jget(d, "/v2/health/live", conn=c)
    check(st == 200 and r.get("live") is True, "GET /v2/health/live", r)
    st, _, r = jget(d, "/v2/health/ready", conn=c)
    check(st == 200 and r.get("ready") is True, "GET /v2/health/ready", r)
    st, _, r = jget(d, "/v2", conn=c)
    check(st == 200 and r.get("name") == "grove" and "binary_tensor_data" in r.get("extensions", []),
          "GET /v2 names the server and the binary extension", r)
    st, _, r = jget(d, "/v2/models/income", conn=c)
    check(st == 200 and r.get("name") == "income" and r.get("inputs", [{}])[0].get("shape") == [-1, 14]
          and v2_output(r).get("datatype") == "FP32", "GET /v2/models/income metadata", r)
    check(any(o.get("name") == "contributions" for o in r.get("outputs", []))
          and "explain_error" not in r.get("parameters", {}),
          "GET /v2/models/income lists contributions and no explain_error parameter", r)
    st, _, r = jget(d, "/v2/models/income/ready", conn=c)
    check(st == 200 and r.get("ready") is True, "GET /v2/models/income/ready", r)
    st, _, r = jget(d, "/v2/models/nope/ready", conn=c)
    check(st == 404, "GET /v2/models/nope/ready is 404", r)

    idx = ctx.complete
    rows = [ctx.rows[i] for i in idx]
    want = [ctx.expected[i] for i in idx]
    n = len(rows)
    flat = [v for r in rows for v in r]
    for dtype, data, what in (("FP32", flat, "flat"), ("FP64", rows, "nested"),
                              ("INT64", [[int(v) for v in r] for r in rows], "nested"),
                              ("INT64", [int(v) for v in flat], "flat")):
        body = {"id": "req-%s-%s" % (dtype, what),
                "inputs": [{"name": "input", "shape": [n, 14], "datatype": dtype, "data": data}]}
        st, _, r = jpost(d, "/v2/models/income/infer", body, conn=c)
        out = v2_output(r)
        check(st == 200 and r.get("id") == body["id"] and r.get("model_name") == "income"
              and out.get("shape") == [n, 2] and out.get("datatype") == "FP32" and close_to(v2_probs(r), want),
              "v2 infer %s %s: id echoed, shape [n, 2], values match" % (dtype, what), "%s %s" % (st, r))
    st, _, r = jpost(d, "/v2/models/income/versions/1/infer",
                     {"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32", "data": flat}]}, conn=c)
    check(st == 200 and close_to(v2_probs(r), want), "v2 /versions/1/infer", r)

    # Triton binary tensor extension, both ways
    hdr = json.dumps({"id": "bin", "inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32",
                                               "parameters": {"binary_data_size": n * 14 * 4}}],
                      "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}]}).encode()
    body = hdr + struct.pack("<%df" % len(flat), *flat)
    st, h, resp = d.request("POST", "/v2/models/income/infer", body,
                            {"Inference-Header-Content-Length": str(len(hdr)),
                             "Content-Type": "application/octet-stream"}, conn=c)
    ok = st == 200 and "inference-header-content-length" in h
    jl = int(h.get("inference-header-content-length", 0)) if ok else 0
    meta = parse_json(resp[:jl]) if ok else {}
    out = v2_output(meta)
    vals = list(struct.unpack("<%df" % (2 * n), resp[jl:]))[1::2] if ok and len(resp) - jl == 8 * n else []
    check(ok and meta.get("id") == "bin" and out.get("parameters", {}).get("binary_data_size") == 8 * n
          and out.get("shape") == [n, 2] and close_to(vals, want),
          "v2 binary input + binary_data_output: header length, size, float32 values", "%s %s %s" % (st, h, resp[:300]))
    # binary input, JSON output
    hdr2 = json.dumps({"inputs": [{"name": "input", "shape": [n, 14], "datatype": "FP32",
                                   "parameters": {"binary_data_size": n * 14 * 4}}]}).encode()
    st, h, resp = d.request("POST", "/v2/models/income/infer", hdr2 + struct.pack("<%df" % len(flat), *flat),
                            {"Inference-Header-Content-Length": str(len(hdr2))}, conn=c)
    r = parse_json(resp)
    check(st == 200 and close_to(v2_probs(r), want),
          "v2 binary input, JSON output", "%s %s" % (st, resp[:300]))
    st, h, resp = d.request("POST", "/v2/models/income/infer", hdr2,
                            {"Inference-Header-Content-Length": str(len(hdr2) + 50)}, conn=c)
    check(400 <= st < 500 and "error" in parse_json(resp), "v2 header length beyond the body is a 4xx",
          "%s %s" % (st, resp[:300]))
    c.close()


def test_metadata(ctx, d):
    st, _, r = jget(d, "/v1/models")
    names = [m.get("name") for m in r.get("models", [])]
    check(st == 200 and names == ["income", "income-sklearn"], "GET /v1/models lists income and income-sklearn", r)
    sk = next((m for m in r.get("models", []) if m.get("name") == "income-sklearn"), {})
    check(sk.get("format") == "scikit-learn" and sk.get("source_model") == "GradientBoostingClassifier"
          and sk.get("num_features") == 12, "income-sklearn is listed as a converted scikit-learn model", sk)
    # Records by name (category strings through its schema) give scikit-learn's probabilities.
    sdir = os.path.join(ctx.root, "models", "income-sklearn")
    with open(os.path.join(sdir, "sample.csv")) as f:
        recs = list(csv.DictReader(f))
    with open(os.path.join(sdir, "sample_expected.csv")) as f:
        want_p = [float(x) for x in f.read().split()]
    recs = [{k: (float(v) if k in ("age", "educational-num", "capital-gain", "capital-loss", "hours-per-week") else v)
             for k, v in rec.items()} for rec in recs]
    pst, _, pr = jpost(d, "/v1/models/income-sklearn/predict", {"records": recs})
    got_p = pr.get("predictions") or []
    check(pst == 200 and len(got_p) == len(want_p) and all(abs(a - b) <= 1e-5 for a, b in zip(got_p, want_p)),
          "income-sklearn: records by name give scikit-learn's predict_proba (sample_expected.csv)", pr)
    m = (r.get("models") or [{}])[0]
    check(m.get("trees") == 300 and m.get("num_features") == 14 and "schema" not in m,
          "the model list gives trees and features, not the schema", m)
    st, _, r = jget(d, "/v1/models/income")
    sch = r.get("schema", {})
    got = {f.get("name"): f.get("categories") for f in sch.get("features", [])}
    want = {f["name"]: f.get("categories") for f in ctx.schema["features"]}
    check(st == 200 and got == want and r.get("objective") == "binary:logistic" and r.get("classes") == ["<=50K", ">50K"],
          "GET /v1/models/income has the schema with its category strings", json.dumps(r)[:1000])
    check(r.get("explainable") is True and "explain_error" not in r,
          "GET /v1/models/income says it can be explained (\"explainable\": true, no \"explain_error\")",
          {k: r.get(k) for k in ("explainable", "explain_error")})
    st, _, r = jget(d, "/v1/models/nope")
    check(st == 404 and "nope" in r.get("error", ""), "GET /v1/models/nope is 404 naming it", r)


ctx_root = [None]  # the source tree, for helpers that read fixtures


def test_lightgbm(ctx):
    """LightGBM model directories (model.txt) served next to each other, schema from the trailer."""
    import gzip
    fx = os.path.join(ctx.root, "tests", "lightgbm", "fixtures")
    ctx_root[0] = ctx.root
    models = os.path.join(ctx.tmp, "lgb-models")
    exact = ["big_sum_1500", "linear_tree_binary", "linear_tree_regression", "zero_band",
             "numeric_category_labels", "rf_binary_raw", "legacy_no_version"]
    for name, fixture in [("adult-lgb", "adult_binary_cat"), ("multi-lgb", "multiclass4_missing")] + \
            [(x, x) for x in exact]:
        os.makedirs(os.path.join(models, name), exist_ok=True)
        with gzip.open(os.path.join(fx, fixture + ".model.txt.gz"), "rb") as src, \
                open(os.path.join(models, name, "model.txt"), "wb") as dst:
            dst.write(src.read())
    # One model as its directory, one as its file: dir/model.txt is named after dir too.
    d = Daemon(ctx, "lightgbm", ["--threads", "1", "--workers", "1", os.path.join(models, "adult-lgb"),
                                 os.path.join(models, "multi-lgb", "model.txt")] +
               [os.path.join(models, x) for x in exact])
    if not d.wait_ready():
        check(False, "daemon serving LightGBM models starts", d.stderr())
        return
    st, _, r = jget(d, "/v1/models")
    check(st == 200 and [m.get("name") for m in r.get("models", [])][:2] == ["adult-lgb", "multi-lgb"],
          "models served from a directory and from dir/model.txt are both named after the directory",
          json.dumps(r)[:300])

    def rows_of(fixture, n):
        with open(os.path.join(fx, fixture + ".in.csv")) as f:
            header = f.readline().strip().split(",")
            rows = [[float(v) if v else None for v in line.strip().split(",")] for line in f][:n]
        with open(os.path.join(fx, fixture + ".out.csv")) as f:
            want = [[float(v) for v in line.split(",")] for line in f][:n]
        return header, rows, want

    cats = json.load(open(os.path.join(fx, "adult_binary_cat.categories.json")))
    st, _, r = jget(d, "/v1/models/adult-lgb")
    got = {f.get("name"): f.get("categories") for f in r.get("schema", {}).get("features", []) if f.get("categories")}
    check(st == 200 and r.get("format") == "lightgbm-text" and got == cats,
          "GET /v1/models/adult-lgb: format lightgbm-text, category strings from pandas_categorical",
          json.dumps(r)[:600])
    header, rows, want = rows_of("adult_binary_cat", 60)
    records = [{h: (cats[h][int(v)] if h in cats else v) for h, v in zip(header, row) if v is not None}
               for row in rows]
    st, _, r = jpost(d, "/v1/models/adult-lgb/predict", {"records": records})
    preds = r.get("predictions", [])
    check(st == 200 and len(preds) == len(want) and all(abs(p - w[0]) <= 1e-5 for p, w in zip(preds, want)),
          "records with category strings predict as LightGBM 4.6 (60 rows, 1e-5)", json.dumps(r)[:400])
    st, _, r = jpost(d, "/v1/models/adult-lgb/predict", {"rows": rows})
    check(st == 200 and r.get("predictions") == preds, "the same rows as codes give the same answers", r)
    complete = [row for row in rows if None not in row]
    st, _, r = jpost(d, "/v2/models/adult-lgb/infer",
                     {"id": "lgb", "inputs": [{"name": "x", "shape": [len(complete), len(header)], "datatype": "FP32",
                                               "data": [v for row in complete for v in row]}]})
    out = v2_probs(r)
    check(st == 200 and r.get("id") == "lgb" and len(out) == len(complete) and
          all(abs(a - b) <= 1e-5 for a, b in zip(out, [preds[i] for i, row in enumerate(rows) if None not in row])),
          "OIP v2 infer on the LightGBM model gives the same probabilities", json.dumps(r)[:400])
    header, rows, want = rows_of("multiclass4_missing", 40)
    st, _, r = jpost(d, "/v1/models/multi-lgb/predict", {"rows": rows})
    preds = r.get("predictions", [])
    check(st == 200 and len(preds) == len(want) and
          all(abs(a - b) <= 1e-5 for p, w in zip(preds, want) for a, b in zip(p, w)),
          "multi-class LightGBM with missing values (null) over HTTP: 40 rows x 4 classes within 1e-5",
          json.dumps(r)[:400])
    test_lightgbm_doubles(d, rows_of, exact)
    test_lightgbm_explain(d, rows_of)
    d.check_exit(0)


def test_lightgbm_explain(d, rows_of):
    """Explanations of LightGBM models over HTTP (#16): JSON numbers are doubles, explained as
    LightGBM decides them: contributions equal LightGBM 4.6's predict_contrib within each
    fixture's tolerance, leaves its predict_leaf_index exactly; linear trees are refused (422)
    but give their leaves."""
    import gzip
    fx = os.path.join(ctx_root[0], "tests", "lightgbm", "fixtures")

    def matrix(name, kind, n):
        with gzip.open(os.path.join(fx, "%s.%s.csv.gz" % (name, kind)), "rt") as f:
            return [[float(v) for v in line.strip().split(",")] for line in f][:n]

    for model, fixture, n in (("adult-lgb", "adult_binary_cat", 60), ("multi-lgb", "multiclass4_missing", 40),
                              ("big_sum_1500", "big_sum_1500", 20), ("zero_band", "zero_band", 300),
                              ("rf_binary_raw", "rf_binary_raw", 100)):
        with open(os.path.join(fx, fixture + ".meta")) as f:
            meta = json.load(f)
        tol_abs, tol_rel = meta.get("tol_abs", 1e-5), meta.get("tol_rel", 1e-5)
        header, rows, _ = rows_of(fixture, n)
        st, _, r = jpost(d, "/v1/models/%s/predict" % model, {"rows": rows, "explain": True, "leaves": True},
                         timeout=120)
        got = [[v for g in flat_groups(c) for v in g] for c in r.get("contributions", [])]
        want = matrix(fixture, "contrib", n)
        bad = [(i, a, b) for i, (g, w) in enumerate(zip(got, want)) for a, b in zip(g, w)
               if not abs(a - b) <= tol_abs + tol_rel * abs(b)]
        check(st == 200 and len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want)) and not bad,
              "%s over HTTP: contributions equal LightGBM's predict_contrib (%d rows, %g + %g relative)"
              % (model, n, tol_abs, tol_rel), "%s %s %s" % (st, bad[:3], json.dumps(r)[:300]))
        wl = [[int(v) for v in row] for row in matrix(fixture, "leaves", n)]
        check(r.get("leaves") == wl, "%s over HTTP: leaves equal LightGBM's predict_leaf_index" % model,
              str(r.get("leaves"))[:200])
    header, rows, _ = rows_of("linear_tree_binary", 50)
    st, _, r = jpost(d, "/v1/models/linear_tree_binary/predict", {"rows": rows, "explain": True})
    check(st == 422 and "linear trees" in r.get("error", ""),
          "a linear-tree model: explain is 422 with the engine's reason", "%s %s" % (st, r))
    refusal = r.get("error", "")
    # Its metadata says so beforehand, in the same words, so that a client asks once (#16).
    st, _, r = jget(d, "/v1/models/linear_tree_binary")
    why = r.get("explain_error")
    check(st == 200 and r.get("explainable") is False and isinstance(why, str) and "linear trees" in why
          and why in refusal,
          "a linear-tree model's metadata: \"explainable\": false and \"explain_error\", the 422's reason",
          "%s %s" % (st, {k: r.get(k) for k in ("explainable", "explain_error")}))
    st, _, r = jget(d, "/v1/models")
    listed = {m.get("name"): m for m in r.get("models", [])}
    check(listed.get("linear_tree_binary", {}).get("explainable") is False
          and listed.get("adult-lgb", {}).get("explainable") is True
          and "explain_error" not in listed.get("adult-lgb", {}),
          "GET /v1/models says which models can be explained", {k: m.get("explainable") for k, m in listed.items()})
    st, _, r = jget(d, "/v2/models/linear_tree_binary")
    check(st == 200 and r.get("parameters", {}).get("explain_error") == why
          and all(o.get("name") != "contributions" for o in r.get("outputs", [])),
          "its OIP metadata lists no contributions output and gives the reason as a string parameter",
          json.dumps(r)[:600])
    st, _, r = jpost(d, "/v1/models/linear_tree_binary/predict", {"rows": rows, "leaves": True})
    check(st == 200 and r.get("leaves") == [[int(v) for v in row] for row in matrix("linear_tree_binary", "leaves", 50)],
          "a linear-tree model: its leaves equal LightGBM's, doubles decided as LightGBM does", str(r)[:300])


def test_lightgbm_doubles(d, rows_of, fixtures):
    """LightGBM decides decimal text in double (#15 items 2, 3, 5, 6, 8): JSON numbers, sent as
    the fixtures' own decimal text, must give LightGBM 4.6's outputs rounded once to float32,
    on inputs that probe the models' thresholds (big_sum_1500), the zero band, linear leaves
    and numeric category labels (a number is a code); rf's raw score is the sum over trees."""
    for name in fixtures:
        header, rows, want = rows_of(name, 300)
        st, _, r = jpost(d, "/v1/models/%s/predict" % name, {"rows": rows, "labels": False}, timeout=60)
        got = r.get("predictions", [])
        bad = [(i, g, w[0]) for i, (g, w) in enumerate(zip(got, want)) if f32(g) != f32(w[0])]
        check(st == 200 and len(got) == len(want) and not bad,
              "%s over HTTP: %d rows as JSON numbers = LightGBM's outputs as float32" % (name, len(want)),
              "%s %d differ: %s" % (st, len(bad), bad[:5]))
        # The same values as OIP FP64 (float64 is a double too).
        flat = [v for row in rows for v in row]
        st, _, r = jpost(d, "/v2/models/%s/infer" % name,
                         {"inputs": [{"name": "x", "shape": [len(rows), len(header)], "datatype": "FP64",
                                      "data": flat}], "outputs": [{"name": "output__0"}]}, timeout=60)
        out = v2_output(r, "output__0")
        vals = out.get("data", [])[1::2] if out.get("shape", [0, 0])[-1] == 2 and len(out.get("shape", [])) == 2 \
            else out.get("data", [])
        check(st == 200 and len(vals) == len(want) and all(f32(g) == f32(w[0]) for g, w in zip(vals, want)),
              "%s over OIP FP64: the same outputs" % name, json.dumps(r)[:300])
    # Rows whose every value is a decimal no float holds: a linear leaf must compute with the
    # double, so these are scored from their doubles alone (no float pass first), one row a
    # request (scored on the I/O thread) and 12 a request (by the worker).
    header, rows, want = rows_of("linear_tree_binary", 300)
    pairs = [(row, w[0]) for row, w in zip(rows, want)
             if all(v is not None and f32(v) != v for v in row)][:12]
    singles = [jpost(d, "/v1/models/linear_tree_binary/predict", {"rows": [row], "labels": False})
               for row, _ in pairs]
    got = [r.get("predictions", [None])[0] for st, _, r in singles]
    st, _, r = jpost(d, "/v1/models/linear_tree_binary/predict", {"rows": [row for row, _ in pairs], "labels": False})
    check(len(pairs) == 12 and all(st == 200 for st, _, _ in singles) and
          [f32(g) for g in got] == [f32(w) for _, w in pairs] and st == 200 and
          [f32(g) for g in r.get("predictions", [])] == [f32(w) for _, w in pairs],
          "linear_tree_binary: rows of decimals no float holds, alone and 12 a request, give LightGBM's outputs",
          "%d rows; single %s; batch %s" % (len(pairs), got[:3], json.dumps(r)[:200]))
    st, _, r = jget(d, "/v1/models/linear_tree_binary")
    check(st == 200 and r.get("kernel") == "scalar-exact",
          "a linear-tree model says it is scored by the exact walk (kernel scalar-exact)", r.get("kernel"))
    header, rows, _ = rows_of("rf_binary_raw", 300)
    with open(os.path.join(ctx_root[0], "tests", "lightgbm", "fixtures", "rf_binary_raw.raw.csv")) as f:
        raw = [float(line.split(",")[0]) for line in f]
    st, _, r = jpost(d, "/v1/models/rf_binary_raw/predict", {"rows": rows, "margin": True})
    got = r.get("predictions", [])
    check(st == 200 and len(got) == len(raw) and all(f32(g) == f32(w) for g, w in zip(got, raw)),
          "rf: \"margin\": true is LightGBM's raw score, the sum over trees", json.dumps(r)[:300])


# ---------------------------------------------------------------- explanations (#16)

def contrib_close(got, want):
    """run_explain.py's tolerance: each value within 1e-5 x max(1, the row's sum |want|)."""
    scale = max(1.0, sum(abs(v) for v in want))
    return len(got) == len(want) and all(abs(a - b) <= 1e-5 * scale for a, b in zip(got, want))


def flat_groups(c):
    """One row's contributions as a list of groups (a single-output row is one group)."""
    return c if c and isinstance(c[0], list) else [c]


def xgb_reference(model_path, rows):
    """XGBoost's own pred_contribs ([n, groups, F + 1]), pred_leaf and margins on ROWS."""
    import numpy as np
    import xgboost as xgb
    booster = xgb.Booster(model_file=model_path)
    x = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)
    types = booster.feature_types
    dm = xgb.DMatrix(x, feature_names=booster.feature_names, feature_types=types, missing=np.nan,
                     enable_categorical=bool(types and "c" in types))
    contribs = booster.predict(dm, pred_contribs=True)
    contribs = contribs.reshape(len(rows), -1, x.shape[1] + 1)
    leaves = booster.predict(dm, pred_leaf=True).reshape(len(rows), -1)
    margins = booster.predict(dm, output_margin=True).reshape(len(rows), -1)
    return contribs.tolist(), leaves.astype(int).tolist(), margins.tolist()


def explain_models(ctx):
    """A directory of models to explain: income, the 3-class fixture, and binary_logistic
    without its covers (sum_hessian), which predicts but cannot be explained."""
    root = os.path.join(ctx.tmp, "explain-models")
    for name in ("multi", "no-covers"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    shutil.copytree(os.path.join(ctx.root, "models", "income"), os.path.join(root, "income"))
    shutil.copy(os.path.join(ctx.root, "tests", "fixtures", "multi_softprob.json"),
                os.path.join(root, "multi", "model.json"))
    with open(os.path.join(ctx.root, "tests", "fixtures", "binary_logistic.json")) as f:
        m = json.load(f)
    for tree in m["learner"]["gradient_booster"]["model"]["trees"]:
        del tree["sum_hessian"]
    with open(os.path.join(root, "no-covers", "model.json"), "w") as f:
        json.dump(m, f)
    return root


def test_explain(ctx):
    """v1 JSON / msgpack / form and OIP explanations against XGBoost's pred_contribs and
    pred_leaf, the refusals, explained requests micro-batched, and their metrics."""
    root = explain_models(ctx)
    d = Daemon(ctx, "explain", ["--threads", "2", "--workers", "1", "--max-delay-us", "20000", "--models", root])
    if not d.wait_ready():
        check(False, "daemon serving models to explain starts", d.stderr())
        return
    before = metrics(d)
    rows = ctx.rows
    want_c, want_l, want_m = xgb_reference(os.path.join(root, "income", "model.json"), rows)
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records, "explain": True, "leaves": True})
    got = r.get("contributions", [])
    check(st == 200 and len(got) == len(rows) and
          all(contrib_close(g, w[0]) for g, w in zip(got, want_c)),
          "v1 JSON explain: income's contributions equal XGBoost's pred_contribs (20 rows, 1e-5 x sum)",
          "%s %s" % (st, json.dumps(r)[:600]))
    check(all(abs(sum(g) - m[0]) <= 1e-5 * max(1, sum(abs(v) for v in g)) for g, m in zip(got, want_m)),
          "v1 JSON explain: each row's contributions sum to its margin", got[:2])
    check(r.get("feature_names") == ctx.fnames and all(len(g) == len(ctx.fnames) + 1 for g in got),
          "v1 JSON explain: feature_names, the model's in order, one fewer than each row's values (bias)",
          r.get("feature_names"))
    check(r.get("leaves") == want_l, "v1 JSON leaves equal XGBoost's pred_leaf", str(r.get("leaves"))[:300])
    check(close_to(r.get("predictions", []), ctx.expected) and len(r.get("labels", [])) == len(rows),
          "v1 JSON explain: predictions and labels as without it", r.get("predictions"))
    # The UI's contract: one record, margin predictions
    st, _, r1 = jpost(d, "/v1/models/income/predict", {"records": ctx.records[:1], "explain": True, "margin": True})
    c1 = (r1.get("contributions") or [[]])[0]
    check(st == 200 and set(r1) >= {"model", "predictions", "labels", "contributions", "feature_names"} and
          abs(sum(c1) - r1["predictions"][0]) <= 1e-5 * max(1, sum(abs(v) for v in c1)),
          "one record, explain + margin: the contributions sum to the margin predicted", r1)

    # per-row errors: a bad row's contributions and leaves are null, the others unchanged
    recs = [ctx.records[0], dict(ctx.records[1], age="old"), ctx.records[2]]
    st, _, r = jpost(d, "/v1/models/income/predict",
                     {"records": recs, "explain": True, "leaves": True, "errors": "per_row"})
    c, lv = r.get("contributions", [None] * 3), r.get("leaves", [None] * 3)
    check(st == 200 and c[1] is None and lv[1] is None and r.get("predictions", [0, 0])[1] is None and
          contrib_close(c[0] or [], want_c[0][0]) and contrib_close(c[2] or [], want_c[2][0]) and
          lv[0] == want_l[0] and lv[2] == want_l[2] and (r.get("errors") or [None, None])[1],
          "explain + errors=per_row: the bad row gets null, the others their contributions and leaves",
          json.dumps(r)[:500])

    # multi-class: [rows][groups][F + 1], each group summing to its margin
    mrows = [[0.5, -1.0, 2.0], [None, 3.0, 0.25], [1.5, 0.0, None]]
    mc, ml, mm = xgb_reference(os.path.join(root, "multi", "model.json"), mrows)
    st, _, r = jpost(d, "/v1/models/multi/predict", {"rows": mrows, "explain": True, "leaves": True})
    got = r.get("contributions", [])
    check(st == 200 and len(got) == 3 and all(len(g) == 3 and all(len(x) == 4 for x in g) for g in got) and
          all(contrib_close(x, y) for g, w in zip(got, mc) for x, y in zip(g, w)),
          "multi-class explain: rows x 3 classes x (3 features + bias), equal to XGBoost's", json.dumps(r)[:400])
    check(all(abs(sum(x) - m) <= 1e-5 * max(1, sum(map(abs, x))) for g, ms in zip(got, mm) for x, m in zip(g, ms)),
          "multi-class explain: each class's contributions sum to its margin", got[:1])
    check(r.get("leaves") == ml, "multi-class leaves equal XGBoost's pred_leaf", r.get("leaves"))

    # msgpack: float32 tensor [n, F + 1] and int32 leaves, feature names beside them
    st, h, body = d.request("POST", "/v1/models/income/predict",
                            msgpack.packb({"rows": rows, "explain": True, "leaves": True}),
                            {"Content-Type": "application/msgpack", "Accept": "application/msgpack"})
    m = msgpack.unpackb(body, raw=False) if st == 200 else {}
    ct, lt = m.get("contributions", {}), m.get("leaves", {})
    nf1 = len(ctx.fnames) + 1
    vals = struct.unpack("<%df" % (len(ct.get("data", b"")) // 4), ct.get("data", b""))
    lvals = struct.unpack("<%di" % (len(lt.get("data", b"")) // 4), lt.get("data", b""))
    check(st == 200 and ct.get("shape") == [len(rows), nf1] and len(vals) == len(rows) * nf1 and
          all(contrib_close(vals[i * nf1:(i + 1) * nf1], want_c[i][0]) for i in range(len(rows))),
          "msgpack explain: contributions a float32 bin [n, F + 1] equal to XGBoost's", "%s %s" % (st, str(m)[:300]))
    ntrees = len(want_l[0])
    check(lt.get("shape") == [len(rows), ntrees] and [list(lvals[i * ntrees:(i + 1) * ntrees])
                                                      for i in range(len(rows))] == want_l,
          "msgpack leaves: an int32 bin [n, trees] equal to pred_leaf", lt.get("shape"))
    check(m.get("feature_names") == ctx.fnames, "msgpack explain: feature_names", m.get("feature_names"))

    # a form posted by the browser: explain=on
    st, _, body = d.request("POST", "/v1/models/income/predict", "age=39&education=Bachelors&explain=on",
                            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    r = parse_json(body)
    check(st == 200 and len((r.get("contributions") or [[]])[0]) == nf1 and r.get("feature_names") == ctx.fnames,
          "form with explain=on: contributions and feature_names in the JSON answer", r)

    # OIP: contributions FP32 and leaves INT32, JSON and binary
    complete = [rows[i] for i in ctx.complete]
    cc = [want_c[i][0] for i in ctx.complete]
    req = {"inputs": [{"name": "input", "shape": [len(complete), len(ctx.fnames)], "datatype": "FP32",
                       "data": [v for r in complete for v in r]}],
           "outputs": [{"name": "contributions"}, {"name": "leaves"}, {"name": "predict_proba"}]}
    st, _, r = jpost(d, "/v2/models/income/infer", req)
    co, lo = v2_output(r, "contributions"), v2_output(r, "leaves")
    data = co.get("data", [])
    check(st == 200 and co.get("datatype") == "FP32" and co.get("shape") == [len(complete), nf1] and
          all(contrib_close(data[i * nf1:(i + 1) * nf1], cc[i]) for i in range(len(complete))),
          "OIP JSON: contributions FP32 [n, F + 1] equal to XGBoost's", json.dumps(r)[:400])
    check(lo.get("datatype") == "INT32" and lo.get("shape") == [len(complete), ntrees] and
          lo.get("data") == [x for i in ctx.complete for x in want_l[i]],
          "OIP JSON: leaves INT32 [n, trees] equal to pred_leaf", json.dumps(lo)[:300])
    req["outputs"] = [{"name": "contributions", "parameters": {"binary_data": True}}, {"name": "leaves"}]
    req["parameters"] = {"binary_data_output": True}
    st, h, body = d.request("POST", "/v2/models/income/infer", json.dumps(req))
    hl = int(h.get("inference-header-content-length", "0"))
    head = parse_json(body[:hl])
    co, lo = v2_output(head, "contributions"), v2_output(head, "leaves")
    cs = co.get("parameters", {}).get("binary_data_size", 0)
    bvals = struct.unpack("<%df" % (cs // 4), body[hl:hl + cs])
    blv = struct.unpack("<%di" % ((len(body) - hl - cs) // 4), body[hl + cs:])
    check(st == 200 and cs == len(complete) * nf1 * 4 and
          all(contrib_close(bvals[i * nf1:(i + 1) * nf1], cc[i]) for i in range(len(complete))) and
          list(blv) == [x for i in ctx.complete for x in want_l[i]],
          "OIP binary_data: contributions float32 and leaves int32 after the JSON header, equal to XGBoost's",
          "%s %s" % (st, head))
    st, _, r = jpost(d, "/v2/models/multi/infer",
                     {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [0.5, -1.0, 2.0]}],
                      "outputs": [{"name": "contributions"}]})
    co = v2_output(r, "contributions")
    check(st == 200 and co.get("shape") == [1, 3, 4] and
          all(contrib_close(co.get("data", [])[g * 4:(g + 1) * 4], mc[0][g]) for g in range(3)),
          "OIP multi-class contributions: FP32 [n, 3, F + 1]", json.dumps(r)[:300])
    st, _, meta = jget(d, "/v2/models/multi")
    check(v2_output(meta, "contributions").get("shape") == [-1, 3, 4] and
          v2_output(meta, "leaves").get("datatype") == "INT32",
          "OIP metadata lists contributions [-1, 3, 4] and leaves", meta.get("outputs"))
    st, _, r = jpost(d, "/v2/models/income/infer", {"inputs": req["inputs"]})
    check(st == 200 and [o.get("name") for o in r.get("outputs", [])] == ["predict", "predict_proba"],
          "OIP: no outputs asked for still answers predict and predict_proba only", r.get("outputs"))

    # a model without covers: 422 with the engine's reason; it still predicts and gives leaves
    for path, body in (("/v1/models/no-covers/predict", {"rows": [[1, 2, 3, 4]], "explain": True}),
                       ("/v2/models/no-covers/infer",
                        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                         "outputs": [{"name": "contributions"}]})):
        st, h, r = jpost(d, path, body)
        check(st == 422 and "no node covers" in r.get("error", "") and
              h.get("content-type", "").startswith("application/json"),
              "%s: explaining a model without covers is 422 {\"error\"} naming why" % path, "%s %s" % (st, r))
    st, _, r = jpost(d, "/v1/models/no-covers/predict", {"rows": [[1, 2, 3, 4]], "leaves": True})
    check(st == 200 and len(r.get("predictions", [])) == 1 and len((r.get("leaves") or [[]])[0]) == 3,
          "the model without covers still predicts and gives leaves", r)
    test_explain_batched(ctx, d, before)
    d.check_exit(0)


def test_explain_batched(ctx, d, before):
    """Concurrent explained requests (micro-batched together) answer as single ones; metrics move."""
    rows = synth_rows(ctx, 48, seed=5)
    single = []
    for r in rows:
        st, _, resp = jpost(d, "/v1/models/income/predict", {"rows": [r], "explain": True, "leaves": True})
        single.append((resp.get("contributions") or [None])[0] if st == 200 else None)
    mid = metrics(d)
    got = [None] * len(rows)
    errors = []

    def worker(t):
        conn = d.conn(timeout=60)
        try:
            for i in range(t, len(rows), 12):
                st, _, resp = jpost(d, "/v1/models/income/predict", {"rows": [rows[i]], "explain": True,
                                                                     "leaves": True}, conn=conn, timeout=60)
                if st != 200:
                    errors.append((i, st, resp))
                got[i] = (resp.get("contributions") or [None])[0]
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not errors and None not in single and got == single,
          "12 concurrent clients x 4 explained rows: each answer equals its row's single answer", errors[:3])
    after = metrics(d)

    def delta(name, since):
        """How much income's series NAME moved from the scrape SINCE to the last."""
        return metric_sum(after, name, model="income") - metric_sum(since, name, model="income")

    reqs, batches = delta("grove_explain_requests_total", mid), delta("grove_explain_engine_seconds_count", mid)
    note("%d concurrent explained requests: %d explain batches" % (len(rows), batches))
    check(reqs == len(rows) and 1 <= batches < len(rows),
          "concurrent explained requests are merged: fewer explain batches than requests",
          "requests +%s batches +%s" % (reqs, batches))
    total, erows = delta("grove_explain_requests_total", before), delta("grove_explain_rows_total", before)
    # before the 2 x 48 above: 7 explained income requests (JSON x3, msgpack, form, OIP x2)
    check(total == len(rows) * 2 + 7 and erows >= len(rows) * 2 + 20 and
          metric_sum(after, "grove_explain_engine_seconds_sum", model="income") > 0,
          "grove_explain_requests_total, grove_explain_rows_total and grove_explain_engine_seconds move",
          "requests +%s rows +%s" % (total, erows))


def expect_error(d, what, status, words, method="POST", path="/v1/models/income/predict", body=None, headers=None):
    try:
        st, h, resp = d.request(method, path, body, headers)
    except (OSError, http.client.HTTPException) as e:
        check(False, what, "request failed: %r" % e)
        return
    r = parse_json(resp)
    msg = r.get("error", "") if isinstance(r, dict) else ""
    okw = all(w.lower() in msg.lower() for w in words)
    check(st == status and isinstance(msg, str) and msg and okw and h.get("content-type", "").startswith("application/json"),
          "%s -> %d JSON error naming %s" % (what, status, words), "got %s %s" % (st, resp[:400]))


def test_errors(ctx, d, small):
    row = ctx.rows[1]
    expect_error(d, "malformed JSON", 400, ["JSON"], body='{rows: 1}')
    expect_error(d, "truncated JSON", 400, ["JSON", "end"], body='{"rows": [[1,2,')
    expect_error(d, "NaN token", 400, ["NaN"], body='{"rows":[[NaN' + ",1" * 13 + "]]}")
    expect_error(d, "wrong feature count", 400, ["3 values", "14"], body='{"rows":[[1,2,3]]}')
    expect_error(d, "unknown category", 400, ["Astronaut", "workclass"],
                 body=json.dumps({"records": [{"workclass": "Astronaut"}]}))
    expect_error(d, "unknown feature key", 400, ["nope"], body=json.dumps({"records": [{"nope": 1}]}))
    expect_error(d, "unknown body key", 400, ["colums"], body=json.dumps({"colums": [row]}))
    expect_error(d, "unknown model", 404, ["zebra"], path="/v1/models/zebra/predict", body=json.dumps({"rows": [row]}))
    expect_error(d, "GET on a predict route", 405, ["POST"], method="GET")
    expect_error(d, "GET on /predict", 405, ["POST"], method="GET", path="/predict")
    expect_error(d, "unknown endpoint under /v1", 404, ["endpoint"], method="GET", path="/v1/nothing/here")
    expect_error(d, "empty body", 400, ["empty"], body=b"")
    expect_error(d, "no body at all", 400, ["empty"], body=None)
    expect_error(d, "string where a number goes", 400, ["row 0"], body='{"rows":[["abc"' + ",1" * 13 + "]]}")
    mp = {"Content-Type": "application/msgpack"}
    expect_error(d, "msgpack array32 of 2^28 items (dd 10 00 00 00)", 400, ["msgpack"], body=b"\xdd\x10\x00\x00\x00",
                 headers=mp)
    expect_error(d, "msgpack map32 of 2^28 pairs (df 10 00 00 00)", 400, [], body=b"\xdf\x10\x00\x00\x00", headers=mp)
    deep = b"\x81\xa4rows" + b"\x91" * 100000 + b"\x01"
    expect_error(d, "msgpack nested 100000 deep", 400, [], body=deep, headers=mp)
    trunc = b"\x82\xa5shape\x92\x01\x0e\xa4data\xc6\x00\x00\x00\x38" + b"\x00" * 10
    expect_error(d, "msgpack truncated bin", 400, ["data"], body=trunc, headers=mp)
    wrong = msgpack.packb({"shape": [2, 14], "data": b"\x00" * 56})
    expect_error(d, "msgpack bin shorter than its shape", 400, ["data"], body=wrong, headers=mp)
    expect_error(d, "msgpack trailing garbage", 400, [], body=msgpack.packb({"rows": [row]}) + b"garbage", headers=mp)
    expect_error(d, "v2 shape mismatch", 400, ["shape", "28"], path="/v2/models/income/infer",
                 body=json.dumps({"inputs": [{"name": "input", "shape": [2, 14], "datatype": "FP32",
                                              "data": [0.0] * 14}]}))
    expect_error(d, "v2 wrong feature count", 400, ["14"], path="/v2/models/income/infer",
                 body=json.dumps({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32",
                                              "data": [0.0] * 3}]}))
    expect_error(d, "v2 unknown datatype", 400, ["BF99"], path="/v2/models/income/infer",
                 body=json.dumps({"inputs": [{"name": "input", "shape": [1, 14], "datatype": "BF99",
                                              "data": [0.0] * 14}]}))
    # limits: a daemon with --max-body 64k --max-request-rows 100
    big = json.dumps({"rows": [row] * 1200})  # ~80 kB
    try:
        st, _, resp = small.request("POST", "/v1/models/income/predict", big)
    except (OSError, http.client.HTTPException) as e:
        st, resp = None, repr(e).encode()
    check(st == 413, "a body over --max-body 64k is 413", "%s %s" % (st, resp[:300]))
    expect_error(small, "101 rows over --max-request-rows 100", 413, ["100"], body=json.dumps({"rows": [row] * 101}))
    expect_error(small, "msgpack tensor of 101 rows over --max-request-rows", 413, ["100"],
                 body=pack_tensor([row] * 101), headers=mp)
    st, _, r = jpost(small, "/v1/models/income/predict", {"rows": [row] * 100})
    check(st == 200 and len(r.get("predictions", [])) == 100, "100 rows (the limit) are fine", st)
    for dd in (d, small):
        st, _, r = jget(dd, "/v2/health/live")
        check(st == 200, "after the errors, '%s' still answers /v2/health/live" % dd.name, st)
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected), "and still predicts correctly", r)


def test_concurrency(ctx, d):
    n_threads, per = 16, 40
    rows = synth_rows(ctx, n_threads * per, seed=3)
    before = metrics(d)
    # expected values: one sequential single-row request each
    c = d.conn()
    expected = []
    for r in rows:
        st, _, resp = jpost(d, "/v1/models/income/predict", {"rows": [r]}, conn=c)
        expected.append(resp.get("predictions", [None])[0] if st == 200 else None)
    c.close()
    check(None not in expected and len(set(expected)) > 100, "640 distinct rows have sequential answers",
          "%d distinct" % len(set(x for x in expected if x is not None)))
    errors = []
    mismatches = []

    def worker(t):
        conn = d.conn(timeout=30)
        try:
            for k in range(per):
                i = t * per + k
                r = rows[i]
                kind = (t + k) % 3
                try:
                    if kind == 0:
                        st, _, resp = jpost(d, "/v1/models/income/predict", {"rows": [r]}, conn=conn)
                        got = resp.get("predictions", [None])[0]
                    elif kind == 1:
                        st, _, body = d.request("POST", "/v1/models/income/predict", msgpack.packb({"rows": [r]}),
                                                {"Content-Type": "application/msgpack",
                                                 "Accept": "application/msgpack"}, conn=conn)
                        got = decode_predictions(msgpack.unpackb(body).get("predictions"))[0] if st == 200 else None
                        got = None if got is None else got
                        if got is not None and f32(expected[i]) == got:
                            got = expected[i]
                    else:
                        st, _, resp = jpost(d, "/v2/models/income/infer",
                                            {"id": "t%d-%d" % (t, k), "inputs": [{"name": "input", "shape": [1, 14],
                                                                                  "datatype": "FP32", "data": r}]},
                                            conn=conn)
                        got = (v2_probs(resp) or [None])[0]
                        if resp.get("id") != "t%d-%d" % (t, k):
                            mismatches.append((i, "id", resp.get("id")))
                    if st != 200:
                        errors.append((i, st))
                    elif got != expected[i]:
                        mismatches.append((i, got, expected[i]))
                except Exception as e:  # noqa: BLE001 - report every failure
                    errors.append((i, repr(e)))
                    conn.close()
                    conn = d.conn(timeout=30)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    el = time.monotonic() - t0
    check(not any(t.is_alive() for t in threads), "16 threads x 40 requests finish", "%.1fs" % el)
    check(not errors, "every concurrent request is 200", errors[:10])
    check(not mismatches, "every concurrent answer equals its own row's sequential answer", mismatches[:10])
    after = metrics(d)
    drows = metric_sum(after, "grove_rows_predicted_total") - metric_sum(before, "grove_rows_predicted_total")
    dbatch = metric_sum(after, "grove_batches_total") - metric_sum(before, "grove_batches_total")
    check(drows >= 2 * 640 and 1 <= dbatch <= drows, "grove_rows_predicted_total and grove_batches_total moved",
          "rows +%s batches +%s" % (drows, dbatch))
    inc = {"model": "income"}
    check(metric_sum(after, "grove_batch_rows_count", **inc) == metric_sum(after, "grove_batches_total", **inc)
          and metric_sum(after, "grove_batch_rows_sum", **inc) == metric_sum(after, "grove_rows_predicted_total", **inc)
          and metric_sum(after, "grove_batch_rows_bucket", le="+Inf", **inc)
          == metric_sum(after, "grove_batch_rows_count", **inc),
          "income's grove_batch_rows histogram: _count == batches, _sum == rows, +Inf == _count",
          {k: v for k, v in after.items() if k.startswith("grove_batch") or k.startswith("grove_rows")})
    buckets = [v for k, v in after.items() if k.startswith('grove_batch_rows_bucket{model="income",')]
    check(buckets == sorted(buckets) and len(buckets) >= 10, "grove_batch_rows buckets are cumulative", buckets)
    req200 = metric_sum(after, "grove_requests_total", route="predict", model="income", code="200")
    inf200 = metric_sum(after, "grove_requests_total", route="infer", model="income", code="200")
    check(req200 >= 640 and inf200 >= 200 and after.get("grove_inflight_requests") == 0
          and after.get("grove_queued_rows") == 0,
          "grove_requests_total counts routes (model income); nothing left in flight or queued",
          "predict %s infer %s inflight %s" % (req200, inf200, after.get("grove_inflight_requests")))


def test_large(ctx, d):
    rows = synth_rows(ctx, 20000, seed=11)
    t0 = time.monotonic()
    st, _, r = jpost(d, "/v1/models/income/predict", {"rows": rows, "labels": False}, timeout=60)
    big = r.get("predictions", [])
    el = time.monotonic() - t0
    parts = []
    c = d.conn()
    for i in range(0, 20000, 2500):
        st2, _, r2 = jpost(d, "/v1/models/income/predict", {"rows": rows[i:i + 2500]}, conn=c, timeout=60)
        parts += r2.get("predictions", []) if st2 == 200 else [None]
    c.close()
    check(st == 200 and len(big) == 20000 and big == parts,
          "20000 rows in one request equal the concatenation of 2500-row requests", "%s %.2fs" % (st, el))


def raw_connect(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5 * ctx_slow[0])
    return s


ctx_slow = [1]


def test_disconnects(ctx, d):
    rows = synth_rows(ctx, 20000, seed=5)
    body = json.dumps({"rows": rows}).encode()
    req = (b"POST /v1/models/income/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body))
    errs = []
    try:
        for _ in range(3):  # whole request sent, socket closed before the answer
            s = raw_connect(d)
            s.sendall(req + body)
            s.close()
        for _ in range(3):  # half a body
            s = raw_connect(d)
            s.sendall(req + body[:len(body) // 2])
            s.close()
        s = raw_connect(d)  # RST instead of FIN, with the request in flight
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(req + body)
        time.sleep(0.05)
        s.close()
        socks = []
        for i in range(100):  # many connections, some with partial request lines
            s = raw_connect(d)
            if i % 3 == 1:
                s.sendall(b"POST /v1/models/income/pre")
            elif i % 3 == 2:
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.close()
        # pipelined requests, then close without reading
        s = raw_connect(d)
        small = json.dumps({"rows": [ctx.rows[1]]}).encode()
        one = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % len(small)) + small
        s.sendall(one * 20)
        s.close()
    except OSError as e:
        errs.append(repr(e))
    check(not errs, "disconnecting clients: sends succeed", errs)
    time.sleep(0.3 * ctx.slow)
    st, _, r = jget(d, "/v2/health/live")
    check(st == 200 and d.proc.poll() is None, "after disconnects the daemon is alive and answers", st)
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected), "and still predicts correctly", r)
    end = time.monotonic() + 10 * ctx.slow
    m = metrics(d)
    while (m.get("grove_inflight_requests") != 0 or m.get("grove_queued_rows") != 0) and time.monotonic() < end:
        time.sleep(0.05)
        m = metrics(d)
    check(m.get("grove_inflight_requests") == 0 and m.get("grove_queued_rows") == 0,
          "abandoned requests drain: nothing in flight or queued", {k: v for k, v in m.items() if "inflight" in k})
    out = d.stderr()
    check(not any(mk in out for mk in SANITIZER_MARKS), "no sanitizer report so far", out[-2000:])


def test_slow_client(ctx, d):
    """A client that trickles its request in over ~1.5 s holds only its own connection:
    others are answered meanwhile, and the slow request is answered right in the end."""
    small = json.dumps({"rows": [ctx.rows[0]]}).encode()
    req = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
           b"Connection: close\r\n\r\n" % len(small)) + small
    result = {}

    def trickle():
        try:
            s = raw_connect(d)
            step = max(1, len(req) // 30)
            for i in range(0, len(req), step):
                s.sendall(req[i:i + step])
                time.sleep(0.05)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            result["answer"] = data
        except OSError as e:
            result["error"] = repr(e)

    t = threading.Thread(target=trickle)
    t.start()
    times = []
    c = d.conn()
    while t.is_alive() and len(times) < 200:
        t0 = time.monotonic()
        st, _, r = jpost(d, "/predict", {"rows": [ctx.rows[1]]}, conn=c)
        times.append((st, time.monotonic() - t0))
    c.close()
    t.join(30 * ctx.slow)
    ok_fast = len(times) >= 5 and all(st == 200 and el < 0.5 * ctx.slow for st, el in times)
    check(ok_fast, "while a client trickles its request, others are answered at once",
          "%d answers, slowest %.3f s" % (len(times), max((el for _, el in times), default=0)))
    data = result.get("answer", b"")
    head, _, body = data.partition(b"\r\n\r\n")
    pred = json.loads(body).get("predictions") if head.startswith(b"HTTP/1.1 200") else None
    check(pred is not None and close_to(pred, ctx.expected[:1]), "the trickled request gets its right answer",
          "%s %s" % (result.get("error"), data[:300]))


def test_backpressure(ctx):
    d = Daemon(ctx, "backpressure", ["--threads", "2", "--workers", "1", "--max-queue-rows", "1000",
                                     "--max-request-rows", "1000", "--max-batch-rows", "4096",
                                     "--max-delay-us", "400000", "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        check(False, "backpressure daemon starts", d.stderr())
        return d
    rows = synth_rows(ctx, 1000, seed=7)
    body = json.dumps({"rows": rows})
    results = []
    lock = threading.Lock()

    def fire(delay):
        time.sleep(delay)
        t0 = time.monotonic()
        try:
            st, h, resp = d.request("POST", "/v1/models/income/predict", body, timeout=20)
            res = (st, h, parse_json(resp), time.monotonic() - t0)
        except (OSError, http.client.HTTPException) as e:
            res = (None, {}, {"exc": repr(e)}, time.monotonic() - t0)
        with lock:
            results.append(res)

    # The first 1000 rows wait in the queue up to 400 ms for a fuller batch (--max-delay-us):
    # everything that arrives meanwhile finds the queue full.
    threads = [threading.Thread(target=fire, args=(0 if i == 0 else 0.1,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads) and all(r[0] is not None for r in results),
          "backpressure: no request hangs", [(r[0], r[2].get("exc")) for r in results])
    codes = sorted(r[0] or 0 for r in results)
    rej = [r for r in results if r[0] == 503]
    check(codes.count(200) >= 1 and len(rej) >= 1, "at least one 200 and at least one 503", codes)
    check(rej and all(r[1].get("retry-after") == "1" and "queue" in r[2].get("error", "") for r in rej),
          "every 503 has Retry-After and a JSON error about the queue", [(r[1], r[2]) for r in rej][:2])
    check(rej and all(r[3] < 2 * ctx.slow for r in rej), "503s come back at once",
          [round(r[3], 3) for r in rej])
    ok = [r for r in results if r[0] == 200]
    check(all(len(r[2].get("predictions", [])) == 1000 for r in ok), "the accepted requests get all 1000 predictions")
    m = metrics(d)
    check(m.get('grove_rejected_total{reason="queue_full"}', 0) == len(rej)
          and metric_sum(m, "grove_requests_total", route="predict", code="503") == len(rej),
          "grove_rejected_total{reason=\"queue_full\"} counts the 503s", m.get('grove_rejected_total{reason="queue_full"}'))
    return d


H2O_KEEPALIVE_S = 10  # h2o.h: H2O_DEFAULT_HTTP1_REQ_TIMEOUT_IN_SECS, which grove keeps


def deadline_request(ctx, d, rows):
    """One big msgpack request on a fresh keep-alive connection: (conn, status, json, seconds)."""
    body = pack_tensor(rows)
    c = d.conn(timeout=20)
    c.connect()
    t0 = time.monotonic()
    st, h, resp = d.request("POST", "/v1/models/income/predict", body, {"Content-Type": "application/msgpack"}, conn=c)
    return c, st, parse_json(resp), time.monotonic() - t0


def test_deadline(ctx):
    ds = []
    models = os.path.join(ctx.root, "models")
    # 1. batches of 16 rows: the worker drops the job's remaining chunks once the deadline passed
    d = Daemon(ctx, "deadline", ["--threads", "1", "--workers", "1", "--deadline-ms", "50", "--max-batch-rows", "16",
                                 "--models", models])
    # 2. one 400000-row batch: the worker is busy for ~0.4 s or more, the loop answers at the
    # deadline. (The rows must take far longer than 50 ms however fast the engine gets.)
    d2 = Daemon(ctx, "deadline-busy", ["--threads", "1", "--workers", "1", "--deadline-ms", "50",
                                       "--max-batch-rows", "1048576", "--models", models])
    ds = [d, d2]
    if not (d.wait_ready() and d2.wait_ready()):
        check(False, "deadline daemons start", d.stderr() + d2.stderr())
        return ds
    rows = synth_rows(ctx, 400000, seed=9)
    c, st, r, el = deadline_request(ctx, d, rows)
    check(st == 504 and "deadline" in r.get("error", ""), "400000 rows with --deadline-ms 50 --max-batch-rows 16: "
          "504 JSON error", "%s %s" % (st, r))
    check(el < 1.0 * ctx.slow, "the 504 comes within ~1 s", "%.3f s" % el)
    note("deadline: 504 after %.3f s" % el)
    st, _, r = jpost(d, "/v1/models/income/predict", {"rows": ctx.rows[:3]}, conn=c)
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected[:3]),
          "the same keep-alive connection then predicts a small request", "%s %s" % (st, r))
    c.close()
    # The 504 went out at the deadline; its job stays in flight until the worker hands it
    # back (it drops the chunks left), which under load may be just after the small answer.
    end = time.monotonic() + 5 * ctx.slow
    while (m := metrics(d)).get("grove_inflight_requests") != 0 and time.monotonic() < end:
        time.sleep(0.05)
    n504 = metric_sum(m, "grove_requests_total", route="predict", code="504")
    nrej = m.get('grove_rejected_total{reason="deadline"}', 0)
    check(n504 == 1 and m.get("grove_inflight_requests") == 0, "the 504 is counted in grove_requests_total",
          (n504, m.get("grove_inflight_requests")))
    check(nrej == n504, "grove_rejected_total{reason=\"deadline\"} counts every deadline 504",
          "504s %s, rejected{deadline} %s" % (n504, nrej))

    c, st, r, el = deadline_request(ctx, d2, rows)
    idle_since = time.monotonic()
    check(st == 504 and "deadline" in r.get("error", ""), "one 400000-row batch past --deadline-ms 50: 504 JSON error",
          "%s %s" % (st, r))
    check(el < 1.0 * ctx.slow, "the 504 comes within ~1 s while the worker is still busy", "%.3f s" % el)
    note("deadline (busy worker): 504 after %.3f s" % el)
    end = time.monotonic() + 20 * ctx.slow  # the worker finishes the abandoned batch, then is free again
    while metrics(d2).get("grove_inflight_requests", 0) != 0 and time.monotonic() < end:
        time.sleep(0.05)
    # h2o closes a keep-alive connection idle for H2O_DEFAULT_HTTP1_REQ_TIMEOUT (10 s), as it
    # should: where the worker took that long (ASan on a busy machine) the request goes on a
    # new connection.
    idle = time.monotonic() - idle_since
    if idle > H2O_KEEPALIVE_S - 2:
        c.close()
        c = d2.conn(timeout=30)
        note("deadline (busy worker): the connection was idle %.1f s: a new one" % idle)
    st, _, r = jpost(d2, "/v1/models/income/predict", {"rows": ctx.rows[:3]}, conn=c, timeout=30)
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected[:3]),
          "once the worker is free, a small request (on the same connection unless it idled past "
          "h2o's keep-alive timeout) is answered", "%s %s" % (st, r))
    c.close()
    m = metrics(d2)
    check(m.get('grove_rejected_total{reason="deadline"}', 0) >= 1
          and metric_sum(m, "grove_requests_total", route="predict", code="504") == 1
          and m.get("grove_inflight_requests") == 0,
          "busy worker: grove_rejected_total{reason=\"deadline\"} and the 504 counted",
          {k: v for k, v in m.items() if "504" in k or "rejected" in k or "inflight" in k})
    return ds


def test_reload(ctx, main_d):
    st, _, r = jpost(main_d, "/admin/models/income/reload", {})
    check(st == 200 and r.get("reloaded") is True, "POST /admin/models/income/reload -> 200", r)
    st, _, r = jget(main_d, "/admin/models/income/reload")
    check(st == 405, "GET on reload is 405", r)
    st, _, r = jpost(main_d, "/admin/models/nope/reload", {})
    check(st == 404 and "error" in r, "reloading an unknown model is 404", "%s %s" % (st, r))

    mdir = os.path.join(ctx.tmp, "reload-models")
    inc = os.path.join(mdir, "income")
    os.makedirs(inc)
    for f in ("model.json", "schema.json"):
        shutil.copy(os.path.join(ctx.root, "models", "income", f), inc)
    d = Daemon(ctx, "reload", ["--threads", "1", "--workers", "1", "--admin-token", "secret", "--models", mdir])
    if not d.wait_ready():
        check(False, "reload daemon starts", d.stderr())
        return d
    path = "/admin/models/income/reload"
    st, _, r = jpost(d, path, {})
    check(st == 401 and "token" in r.get("error", ""), "--admin-token: no token -> 401 JSON error", "%s %s" % (st, r))
    st, _, r = jpost(d, path, {}, {"Authorization": "Bearer wrong"})
    check(st == 401, "wrong token -> 401", st)
    st, _, r = jpost(d, path, {}, {"Authorization": "Bearer secretX"})
    check(st == 401, "token with a suffix -> 401", st)
    st, _, r = jpost(d, path, {}, {"Authorization": "Bearer secret"})
    check(st == 200 and r.get("reloaded") is True, "right token -> 200", "%s %s" % (st, r))
    st, _, r = jget(d, "/v1/models/income")
    check(st == 200 and r.get("reloads") == 1, "the model's metadata counts the reload", r.get("reloads"))
    good = open(os.path.join(inc, "model.json"), "rb").read()
    with open(os.path.join(inc, "model.json"), "wb") as f:
        f.write(good[:len(good) // 2])
    st, _, r = jpost(d, path, {}, {"Authorization": "Bearer secret"})
    check(st == 422 and "model.json" in r.get("error", ""), "a corrupt model.json: reload -> 422 naming the file",
          "%s %s" % (st, r))
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected), "the previous model keeps serving", st)
    out = d.stdout()
    check("model reload failed" in out, "the failed reload is logged", out[-1000:])
    with open(os.path.join(inc, "model.json"), "wb") as f:
        f.write(good)
    d.signal(signal.SIGHUP)
    end = time.monotonic() + 10 * ctx.slow
    while "reload finished" not in d.stdout() and time.monotonic() < end:
        time.sleep(0.05)
    line = next((l for l in d.stdout().splitlines() if "reload finished" in l), "")
    check("failed=0" in line and "SIGHUP" in d.stdout(), "SIGHUP reloads every model and logs it", d.stdout()[-1000:])
    m = metrics(d)
    check(m.get('grove_model_reloads_total{model="income"}') == 2
          and m.get('grove_model_reload_failures_total{model="income"}') == 1,
          "grove_model_reloads_total 2 and grove_model_reload_failures_total 1",
          {k: v for k, v in m.items() if "reload" in k})
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
    check(st == 200 and close_to(r.get("predictions", []), ctx.expected), "predictions after the SIGHUP reload", st)
    # reload while requests are in flight
    rows = synth_rows(ctx, 5000, seed=2)
    st, _, ref = jpost(d, "/v1/models/income/predict", {"rows": rows})
    res = []

    def loop():
        c = d.conn()
        for _ in range(10):
            s2, _, r2 = jpost(d, "/v1/models/income/predict", {"rows": rows}, conn=c)
            res.append(s2 == 200 and r2.get("predictions") == ref.get("predictions"))
        c.close()

    t = threading.Thread(target=loop)
    t.start()
    rl = []
    for _ in range(5):
        s3, _, _ = jpost(d, path, {}, {"Authorization": "Bearer secret"})
        rl.append(s3)
    t.join(60)
    check(len(res) == 10 and all(res) and rl == [200] * 5, "reloads during traffic: every answer is right",
          "%s %s" % (res, rl))
    return d


def test_h2load(ctx, d):
    h2load = shutil.which("h2load")
    if h2load is None:
        skip("h2load: 2000 h2c requests succeed", "h2load not installed (nghttp2-client)")
        return
    bodyfile = os.path.join(ctx.tmp, "h2body.json")
    with open(bodyfile, "w") as f:
        json.dump({"rows": ctx.rows[:4]}, f)
    p = subprocess.run([h2load, "-n", "2000", "-c", "2", "-m", "8", "-d", bodyfile, "-H",
                        "content-type: application/json", "http://127.0.0.1:%d/predict" % d.port],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and "2000 succeeded" in p.stdout and "Application protocol: h2c" in p.stdout,
          "h2load: 2000 h2c requests succeed", p.stdout[-1500:] + p.stderr[-500:])
    m = metrics(d)
    h2c = metric_sum(m, "grove_requests_total", route="predict", code="200")
    check(h2c >= 2000, "the h2c requests are counted", h2c)


def test_tls(ctx):
    openssl = shutil.which("openssl")
    if openssl is None:
        skip("TLS", "openssl not installed")
        return None
    cert, key = os.path.join(ctx.tmp, "cert.pem"), os.path.join(ctx.tmp, "key.pem")
    p = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        check(False, "openssl makes a self-signed certificate", p.stderr)
        return None
    d = Daemon(ctx, "tls", ["--threads", "1", "--workers", "1", "--tls-cert", cert, "--tls-key", key,
                            "--models", os.path.join(ctx.root, "models")], tls=True)
    check(d.wait_ready(), "TLS daemon starts and answers /v2/health/ready over HTTPS", d.stderr())
    check("url=https://127.0.0.1:%d" % d.port in d.stdout(), "its banner says https", d.stdout())
    try:
        st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
        check(st == 200 and close_to(r.get("predictions", []), ctx.expected), "HTTPS predict -> 200, right values", st)
    except (OSError, http.client.HTTPException) as e:
        check(False, "HTTPS predict -> 200, right values", repr(e))
    try:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        c.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
            with c.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                alpn = s.selected_alpn_protocol()
                # Speak HTTP/2 before closing: h2 negotiated and closed before the client
                # preface leaks the TLS connection under LeakSanitizer (reported separately).
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                frame = s.recv(9)
        check(alpn == "h2", "ALPN selects h2", alpn)
        check(len(frame) == 9 and frame[3] == 4, "the server's first HTTP/2 frame over TLS is SETTINGS", frame)
    except (OSError, ssl.SSLError) as e:
        check(False, "ALPN selects h2", repr(e))
    try:  # plain HTTP to the TLS port: refused, daemon unharmed
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        s.close()
    except OSError:
        pass
    st, _, _ = d.request("GET", "/v2/health/live")
    check(st == 200, "plain HTTP sent to the TLS port does not hurt it", st)
    return d


def idle_keepalive_start(ctx):
    """A daemon whose only client holds an idle HTTP/1.1 keep-alive connection across SIGTERM."""
    d = Daemon(ctx, "shutdown-idle", ["--threads", "2", "--workers", "1", "--shutdown-grace", "8",
                                      "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        check(False, "idle keep-alive daemon starts", d.stderr())
        return None
    c = d.conn()
    st, _, _ = d.request("GET", "/v2/health/live", conn=c)
    d.keepalive = c
    d.t_term = time.monotonic()
    d.t_exit = None

    def watch():  # the exit time, however long the other shutdown test keeps us busy
        try:
            d.proc.wait(60 * ctx.slow)
            d.t_exit = time.monotonic()
        except subprocess.TimeoutExpired:
            pass

    threading.Thread(target=watch, daemon=True).start()
    d.signal(signal.SIGTERM)
    return d


def idle_keepalive_finish(ctx, d):
    if d is None:
        return
    try:
        rc = d.proc.wait(20 * ctx.slow)
    except subprocess.TimeoutExpired:
        rc = "still running"
    el = (d.t_exit or time.monotonic()) - d.t_term
    d.keepalive.close()
    d.rc = rc
    d.checked = True
    err = d.stderr()
    reports = [m for m in SANITIZER_MARKS if m in err]
    note("idle keep-alive: exit after %.2fs, rc=%s" % (el, rc))
    check(el < 4, "an idle keep-alive connection does not hold SIGTERM up to --shutdown-grace (8 s)",
          "exited after %.2fs" % el)
    check(rc == 0 and not reports, "with an idle keep-alive connection at SIGTERM the daemon exits 0, "
          "no sanitizer report", "rc=%s %s\n%s" % (rc, reports, err[-1500:]))


def test_shutdown(ctx):
    idle = idle_keepalive_start(ctx)
    d = Daemon(ctx, "shutdown", ["--threads", "2", "--workers", "2", "--max-request-rows", "400000",
                                 "--shutdown-grace", "20", "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        check(False, "shutdown daemon starts", d.stderr())
        return d
    n = 200000 if ctx.slow == 1 else 100000
    rows = synth_rows(ctx, 1000, seed=4) * (n // 1000)
    body = pack_tensor(rows)
    res = {}

    def big():
        t0 = time.monotonic()
        try:
            st, _, resp = d.request("POST", "/v1/models/income/predict", body,
                                    {"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
                                    timeout=60)
            res["st"] = st
            res["r"] = msgpack.unpackb(resp, raw=False) if st == 200 else resp[:300]
        except (OSError, http.client.HTTPException) as e:
            res["exc"] = repr(e)
        res["t"] = time.monotonic() - t0

    t = threading.Thread(target=big)
    t.start()
    end = time.monotonic() + 20 * ctx.slow
    inflight = False
    while time.monotonic() < end and t.is_alive():
        if metrics(d).get("grove_inflight_requests", 0) >= 1:
            inflight = True
            break
        time.sleep(0.01)
    check(inflight and t.is_alive(), "a %d-row request is in flight" % n, res)
    t_term = time.monotonic()
    d.signal(signal.SIGTERM)
    time.sleep(0.1)
    try:
        st, _, _ = d.request("GET", "/v2/health/ready", timeout=2)
    except (OSError, http.client.HTTPException) as e:
        st = repr(e)
    check(st != 200, "/v2/health/ready during shutdown is 503 or refused", st)
    t.join(60)
    r = res.get("r", {})
    preds = decode_predictions(r.get("predictions", [])) if isinstance(r, dict) else []
    check(res.get("st") == 200 and len(preds) == n, "the in-flight request still gets its 200 with all predictions",
          {k: v for k, v in res.items() if k != "r"})
    check(len(preds) == n and preds[:1000] * (n // 1000) == preds, "its predictions are consistent")
    try:
        rc = d.proc.wait(25 * ctx.slow)
    except subprocess.TimeoutExpired:
        rc = "still running"
    el = time.monotonic() - t_term
    check(rc == 0 and el < 20 + 5 * ctx.slow, "the daemon exits 0 within the grace period", "rc=%s after %.1fs" % (rc, el))
    note("shutdown: request %.2fs, exit %.2fs after SIGTERM" % (res.get("t", -1), el))
    out = d.stdout()
    check("shutting down" in out and 'msg="stopped"' in out, "the log has the shutdown lines", out[-800:])
    idle_keepalive_finish(ctx, idle)
    return d


def start(prefix):
    """The suite's context from its command line (--grove, --source-root) and the time it
    started; the build it tests is noted."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--grove", required=True)
    ap.add_argument("--source-root", required=True)
    a = ap.parse_args()
    ctx = make_ctx(a.grove, a.source_root, prefix)
    note("grove %s (%s build)" % (ctx.grove, "ASan" if ctx.asan else "release"))
    return ctx, time.monotonic()


def run_sections(sections):
    """Runs each (name, fn) in turn: a section that raises is one failed check, not the end of
    the run; its time is noted."""
    for name, fn in sections:
        t0 = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - a crashing section is a failure, not an abort
            import traceback
            check(False, "section %s runs to the end" % name, traceback.format_exc())
        note("section %s: %.2fs" % (name, time.monotonic() - t0))


def stop_daemons():
    """SIGTERM to every daemon at once (each takes ~1 s: HTTP/2 graceful shutdown), then checks
    each exits 0 with no sanitizer report."""
    for dd in Daemon.all:
        dd.signal(signal.SIGTERM)
    for dd in Daemon.all:
        dd.check_exit(0)


def run_suite(prefix, name, args, make_sections):
    """A suite's main: its context, daemon NAME on the bundled models with ARGS, the sections
    MAKE_SECTIONS(ctx, daemon) lists, run in turn, then every daemon stopped and the plan
    printed."""
    ctx, started = start(prefix)
    try:
        d = Daemon(ctx, name, list(args) + ["--models", os.path.join(ctx.root, "models")])
        check(d.wait_ready(), "daemon %s (%s) starts" % (name, " ".join(args)), d.stderr())
        run_sections(make_sections(ctx, d))
        stop_daemons()
    finally:
        finish(ctx, started)


def finish(ctx, started):
    """Kills what is left, keeps the daemons' logs when something failed, prints the plan."""
    for dd in Daemon.all:
        dd.kill()
    note("total %.1fs" % (time.monotonic() - started))
    if failed == 0:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    else:
        note("daemon logs kept in %s" % ctx.tmp)
    print("1..%d" % count)
    sys.stdout.flush()


def make_ctx(grove, source_root, prefix):
    """The test context: the binary (ASan or not), the source tree, a temp directory, a clean
    environment with the sanitizer options, the income model's data. Shared with the other
    suites in this directory."""
    ctx = Ctx()
    ctx.grove = os.path.abspath(grove)
    ctx.root = os.path.abspath(source_root)
    ctx.tmp = tempfile.mkdtemp(prefix=prefix)
    with open(ctx.grove, "rb") as f:
        image = f.read()
        ctx.asan = b"libasan.so" in image or b"__asan_init" in image
    ctx.slow = 4 if ctx.asan else 1
    ctx_slow[0] = ctx.slow
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROVE_") and k != "PORT"}
    supp = os.path.join(ctx.root, "tests", "lsan.supp")  # h2o's own leaks, one list for every test
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "allocator_may_return_null=1"
    lsan = env.get("LSAN_OPTIONS", "")
    env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + supp
    ctx.env = env
    load_data(ctx)
    return ctx


def main():
    ctx, started = start("grove-http-")
    try:
        test_cli(ctx)
        main_d = Daemon(ctx, "main", ["--threads", "2", "--workers", "2", "--models", os.path.join(ctx.root, "models")])
        small = Daemon(ctx, "limits", ["--threads", "1", "--workers", "1", "--max-body", "64k",
                                       "--max-request-rows", "100", "--models", os.path.join(ctx.root, "models")])
        ready = main_d.wait_ready() and small.wait_ready()
        check(ready, "daemons start and answer /v2/health/ready", main_d.stderr() + small.stderr())
        if not ready:
            return
        sections = [
            ("banner", lambda: test_banner(ctx, main_d)),
            ("v1", lambda: test_v1(ctx, main_d)),
            ("msgpack", lambda: test_msgpack(ctx, main_d)),
            ("v2", lambda: test_v2(ctx, main_d)),
            ("metadata", lambda: test_metadata(ctx, main_d)),
            ("explain", lambda: test_explain(ctx)),
            ("lightgbm", lambda: test_lightgbm(ctx)),
            ("errors", lambda: test_errors(ctx, main_d, small)),
            ("concurrency", lambda: test_concurrency(ctx, main_d)),
            ("large", lambda: test_large(ctx, main_d)),
            ("disconnects", lambda: test_disconnects(ctx, main_d)),
            ("slow client", lambda: test_slow_client(ctx, main_d)),
            ("h2load", lambda: test_h2load(ctx, main_d)),
            ("backpressure", lambda: test_backpressure(ctx)),
            ("deadline", lambda: test_deadline(ctx)),
            ("reload", lambda: test_reload(ctx, main_d)),
            ("tls", lambda: test_tls(ctx)),
            ("shutdown", lambda: test_shutdown(ctx)),
        ]
        run_sections(sections)
        stop_daemons()
    finally:
        finish(ctx, started)


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
