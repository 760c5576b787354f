#!/usr/bin/python3
"""GET /metrics as Prometheus reads it, from a real daemon serving the bundled models
(income and income-sklearn): predictions to both over v1 and the Open Inference Protocol are
counted under their own model="..." label, exactly; requests for models that do not exist
add no series (the model label's values are the registry's models, however many names
clients make up); the page passes `promtool check metrics` (Debian's prometheus package)
and our own reading of the text format; the process_* families agree with what /proc says
of the daemon. Prints TAP.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_http as th  # noqa: E402  (the Daemon helper, TAP counters, the context)

MODELS = ("income", "income-sklearn")


def model_rows(ctx, model):
    """The complete rows of MODEL's sample.csv as numbers (categories as their codes)."""
    mdir = os.path.join(ctx.root, "models", model)
    with open(os.path.join(mdir, "schema.json")) as f:
        schema = json.load(f)
    missing = set(schema.get("missing", [])) | {""}
    rows = []
    with open(os.path.join(mdir, "sample.csv")) as f:
        for rec in csv.DictReader(f):
            row = []
            for feat in schema["features"]:
                v = rec[feat["name"]]
                if v in missing or v in feat.get("missing", []):
                    break
                if feat["type"] == "categorical":
                    if v not in feat["categories"]:
                        break
                    row.append(float(feat["categories"].index(v)))
                else:
                    row.append(float(v))
            else:
                rows.append(row)
    return rows


def scrape(d, conn=None):
    st, h, body = d.request("GET", "/metrics", conn=conn)
    th.check(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
             "GET /metrics: 200, text/plain; version=0.0.4", (st, h.get("content-type")))
    return body.decode()


def model_values(text):
    """Every model="..." label value on the page (as written, escapes and all)."""
    return set(re.findall(r'[{,]model="((?:[^"\\]|\\.)*)"', text))


def send_predictions(ctx, d, model, rows, v1_requests, oip_requests, per):
    """V1_REQUESTS v1 and OIP_REQUESTS OIP requests of PER rows each for MODEL on one
    connection; returns the statuses that were not 200."""
    bad = []
    c = d.conn()
    try:
        for k in range(v1_requests + oip_requests):
            chunk = [rows[(k * per + i) % len(rows)] for i in range(per)]
            if k < v1_requests:
                st, _, _ = th.jpost(d, "/v1/models/%s/predict" % model, {"rows": chunk}, conn=c)
            else:
                st, _, _ = th.jpost(d, "/v2/models/%s/infer" % model,
                                    {"inputs": [{"name": "input", "shape": [per, len(chunk[0])],
                                                 "datatype": "FP32", "data": chunk}]}, conn=c)
            if st != 200:
                bad.append((model, k, st))
    finally:
        c.close()
    return bad


def test_counts(ctx, d):
    """Each model's requests, latencies, rows, batches and queue waits count what it was sent."""
    plan = {"income": (7, 5, 3), "income-sklearn": (4, 6, 2)}  # v1 requests, OIP requests, rows each
    before = th.metric_values(scrape(d))
    bad = []
    for model, (v1, oip, per) in plan.items():
        bad += send_predictions(ctx, d, model, model_rows(ctx, model), v1, oip, per)
    th.check(not bad, "every prediction to both models over v1 and OIP is answered 200", bad)
    after = th.metric_values(scrape(d))

    def delta(name, **labels):
        return th.metric_sum(after, name, **labels) - th.metric_sum(before, name, **labels)

    for model, (v1, oip, per) in plan.items():
        got = (delta("grove_requests_total", route="predict", model=model, code="200"),
               delta("grove_requests_total", route="infer", model=model, code="200"),
               delta("grove_request_duration_seconds_count", route="predict", model=model),
               delta("grove_request_duration_seconds_count", route="infer", model=model))
        th.check(got == (v1, oip, v1, oip),
                 "%s: requests and latency counts by route equal what was sent (%d v1, %d OIP)"
                 % (model, v1, oip), got)
        rows = (v1 + oip) * per
        got = (delta("grove_rows_predicted_total", model=model), delta("grove_batch_rows_sum", model=model),
               delta("grove_batch_requests_sum", model=model),
               delta("grove_queue_wait_seconds_count", model=model))
        th.check(got == (rows, rows, v1 + oip, v1 + oip),
                 "%s: %d rows predicted and batched, %d requests batched and queued" % (model, rows, v1 + oip),
                 got)
        batches = delta("grove_batches_total", model=model)
        th.check(1 <= batches <= v1 + oip and delta("grove_batch_rows_count", model=model) == batches
                 and delta("grove_engine_seconds_count", model=model) == batches,
                 "%s: batches counted once each in every batch histogram (%d)" % (model, batches))
    th.check(th.metric_sum(after, "grove_rows_predicted_total")
             == sum(th.metric_sum(after, "grove_rows_predicted_total", model=m) for m in MODELS),
             "every row scored is some served model's")
    th.check(th.metric_sum(after, "grove_inflight_requests") == 0 and th.metric_sum(after, "grove_queued_rows") == 0,
             "nothing left in flight or queued")


def test_explain_counts(ctx, d):
    """Explained requests (#16) are counted apart: requests, rows and their engine time, by
    model; they still count as predictions too; a plain prediction moves none of them."""
    before = th.metric_values(scrape(d))
    sent = {}
    bad = []
    c = d.conn()
    for model in MODELS:
        rows = model_rows(ctx, model)[:4]
        nf = len(rows[0])
        # (path, body, rows it explains, rows it predicts)
        asks = [("/v1/models/%s/predict" % model, {"rows": rows, "explain": True}, len(rows), len(rows)),
                ("/v1/models/%s/predict" % model, {"rows": rows[:1], "leaves": True}, 1, 1),
                ("/v2/models/%s/infer" % model,
                 {"inputs": [{"name": "input", "shape": [2, nf], "datatype": "FP32", "data": rows[:2]}],
                  "outputs": [{"name": "contributions"}, {"name": "leaves"}]}, 2, 2),
                ("/v1/models/%s/predict" % model, {"rows": rows}, 0, len(rows))]
        for path, body, _, _ in asks:
            st, _, r = th.jpost(d, path, body, conn=c)
            if st != 200:
                bad.append((path, st, r))
        sent[model] = (sum(1 for a in asks if a[2]), sum(a[2] for a in asks), sum(a[3] for a in asks))
    c.close()
    th.check(not bad, "explained requests to both models are answered 200", bad)
    after = th.metric_values(scrape(d))

    def delta(name, **labels):
        return th.metric_sum(after, name, **labels) - th.metric_sum(before, name, **labels)

    for model, (requests, rows, predicted) in sent.items():
        got = (delta("grove_explain_requests_total", model=model), delta("grove_explain_rows_total", model=model),
               delta("grove_rows_predicted_total", model=model))
        th.check(got == (requests, rows, predicted),
                 "%s: grove_explain_requests_total +%d, grove_explain_rows_total +%d, and every row predicted"
                 % (model, requests, rows), got)
        batches = delta("grove_explain_engine_seconds_count", model=model)
        th.check(1 <= batches <= requests and delta("grove_explain_engine_seconds_sum", model=model) > 0,
                 "%s: grove_explain_engine_seconds counts the explained batches (%d) and their time" % (model, batches))


def test_unknown(ctx, d):
    """404s for models that do not exist: counted, without a model label, adding no series."""
    def not_found(names):
        sts = []
        for name in names:
            for path in ("/v1/models/%s/predict" % name, "/v2/models/%s/infer" % name):
                st, _, _ = d.request("POST", path, '{"rows": [[1]]}')
                sts.append(st)
        return sts

    # The 404 series without a model exist from here on ("../nope" is no prediction route
    # once h2o has normalised the path: route="other").
    sts = not_found(["nope", "..%2Fnope"])
    text1 = scrape(d)
    first = set(th.metric_values(text1))
    names = ["nope-%d" % k for k in range(20)] + ["we%22ird", "%E2%9C%93", "income%20", "INCOME",
                                                   "income-sklearn2", "..%2Fincome"]
    sts += not_found(names)
    text2 = scrape(d)
    second = th.metric_values(text2)
    th.check(sts == [404] * len(sts), "%d predictions for unknown models: 404" % len(sts), sts)
    added = sorted(set(second) - first)
    th.check(not added, "%d requests for %d made-up names add no series" % (2 * len(names), len(names)), added[:10])
    n404 = (th.metric_sum(second, "grove_requests_total", code="404")
            - th.metric_sum(th.metric_values(text1), "grove_requests_total", code="404"))
    th.check(n404 == 2 * len(names) and all(
        'model="' not in k for k in second if k.startswith("grove_requests_total") and 'code="404"' in k),
        "they are counted as 404s of their route, without a model label (+%d)" % n404)
    st, _, listing = th.jget(d, "/v1/models")
    served = {m.get("name") for m in listing.get("models", [])}
    th.check(st == 200 and model_values(text2) == served == set(MODELS),
             "the model label's values are exactly the registry's models", (model_values(text2), served))


def check_text_format(text):
    """Our own reading of the text format: every sample is in a family announced by one HELP
    and one TYPE line before it; counters end in _total; each histogram series has cumulative
    buckets ending in le="+Inf" that equals its _count, and a _sum. Returns the problems."""
    problems, help_, types = [], {}, {}
    hist = {}  # (family, labels without le) -> {"buckets": [...], "sum": bool, "count": v}
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+) (.*)$", line)
        if m:
            (help_ if m.group(1) == "HELP" else types).setdefault(m.group(2), []).append(m.group(3))
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$', line)
        if not m:
            problems.append("unreadable line: %r" % line)
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if types.get(family) != ["histogram"]:
            family = name
        if help_.get(family) is None or len(help_[family]) != 1 or len(types.get(family, [])) != 1:
            problems.append("%s: not after exactly one HELP and one TYPE" % name)
            continue
        kind = types[family][0]
        if kind == "counter" and not family.endswith("_total"):
            problems.append("counter %s does not end in _total" % family)
        if kind != "histogram":
            continue
        le = re.search(r'le="([^"]*)"', labels)
        key = (family, re.sub(r',?le="[^"]*"', "", labels).replace("{,", "{"))
        h = hist.setdefault(key, {"buckets": [], "sum": False, "count": None})
        if name.endswith("_bucket") and le:
            h["buckets"].append((le.group(1), value))
        elif name.endswith("_sum"):
            h["sum"] = True
        elif name.endswith("_count"):
            h["count"] = value
    for key, h in hist.items():
        counts = [v for _, v in h["buckets"]]
        if not counts or h["buckets"][-1][0] != "+Inf" or counts != sorted(counts) \
                or h["count"] != counts[-1] or not h["sum"]:
            problems.append("histogram %s%s: buckets %s, count %s, sum %s" % (key + (counts[-3:], h["count"], h["sum"])))
    return problems, types


def test_format(ctx, d):
    """promtool check metrics says nothing about a real page; our own reading agrees."""
    text = scrape(d)
    problems, types = check_text_format(text)
    th.check(not problems, "every family has HELP and TYPE, counters end in _total, histograms are whole",
             "\n".join(problems[:20]))
    wanted = {"grove_requests_total": "counter", "grove_request_duration_seconds": "histogram",
              "grove_rows_predicted_total": "counter", "grove_batches_total": "counter",
              "grove_batch_rows": "histogram", "grove_batch_requests": "histogram",
              "grove_queue_wait_seconds": "histogram", "grove_engine_seconds": "histogram",
              "grove_explain_requests_total": "counter", "grove_explain_rows_total": "counter",
              "grove_explain_engine_seconds": "histogram",
              "process_start_time_seconds": "gauge", "process_cpu_seconds_total": "counter",
              "process_resident_memory_bytes": "gauge", "process_virtual_memory_bytes": "gauge",
              "process_open_fds": "gauge", "process_max_fds": "gauge", "grove_build_info": "gauge"}
    got = {k: (types.get(k) or [None])[0] for k in wanted}
    th.check(got == wanted, "the families and their types", got)
    th.check("grove_uptime_seconds" not in text, "grove_uptime_seconds is gone (process_start_time_seconds)")
    promtool = shutil.which("promtool")
    if promtool is None:
        th.check(os.environ.get("CI") != "true", "promtool is installed (Debian's prometheus package)")
        th.skip("promtool check metrics", "promtool is not installed")
        return
    path = os.path.join(ctx.tmp, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    with open(path) as f:
        p = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True, text=True, timeout=60)
    th.check(p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "",
             "promtool check metrics prints nothing (%d lines checked)" % len(text.splitlines()),
             "rc %s\n%s%s" % (p.returncode, p.stdout, p.stderr))
    bad = subprocess.run([promtool, "check", "metrics"], input="# TYPE x_count counter\nx_count 1\n",
                         capture_output=True, text=True, timeout=60)
    th.check(bad.returncode != 0 and "_total" in bad.stdout + bad.stderr,
             "and it does complain about a counter without _total (the check can fail)",
             bad.stdout + bad.stderr)


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1]) * 1024
    return None


def test_process(ctx, d):
    """The process_* families against /proc/PID, read while the scrape's connection is open."""
    pid = d.proc.pid
    c = d.conn()
    try:
        m = th.metric_values(scrape(d, conn=c))
        rss, vsz = proc_status(pid, "VmRSS"), proc_status(pid, "VmSize")
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/limits" % pid) as f:
            limit = next(line.split()[3] for line in f if line.startswith("Max open files"))
    finally:
        c.close()
    with open("/proc/stat") as f:
        btime = next(float(line.split()[1]) for line in f if line.startswith("btime "))
    ticks = os.sysconf("SC_CLK_TCK")
    got = m.get("process_resident_memory_bytes", -1)
    th.check(abs(got - rss) <= 0.05 * rss, "process_resident_memory_bytes %d agrees with VmRSS %d (5%%)" % (got, rss))
    got = m.get("process_virtual_memory_bytes", -1)
    th.check(abs(got - vsz) <= 0.05 * vsz, "process_virtual_memory_bytes %d agrees with VmSize %d (5%%)" % (got, vsz))
    th.check(m.get("process_open_fds") == fds,
             "process_open_fds %s equals the entries of /proc/%d/fd (%d)" % (m.get("process_open_fds"), pid, fds))
    th.check(str(int(m.get("process_max_fds", -1))) == limit,
             "process_max_fds %s is the soft limit of open files (%s)" % (m.get("process_max_fds"), limit))
    start = btime + int(stat[19]) / ticks  # fields from 3 on: starttime is field 22
    th.check(abs(m.get("process_start_time_seconds", 0) - start) < 0.02,
             "process_start_time_seconds %.2f is boot time + the start in /proc/%d/stat (%.2f)"
             % (m.get("process_start_time_seconds", 0), pid, start))
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    th.check(0 < m.get("process_cpu_seconds_total", -1) <= cpu + 0.02,
             "process_cpu_seconds_total %s: utime + stime, never ahead of /proc (%.2f)"
             % (m.get("process_cpu_seconds_total"), cpu))


def main():
    th.run_suite("grove-metrics-", "metrics", ["--threads", "2", "--workers", "2"], lambda ctx, d: [
        ("counts by model", lambda: test_counts(ctx, d)),
        ("explain counts", lambda: test_explain_counts(ctx, d)),
        ("unknown models", lambda: test_unknown(ctx, d)),
        ("text format", lambda: test_format(ctx, d)),
        ("process", lambda: test_process(ctx, d))])


if __name__ == "__main__":
    main()
    sys.exit(1 if th.failed else 0)
