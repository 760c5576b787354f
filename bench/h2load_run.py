#!/usr/bin/python3
"""Runs one h2load measurement (HTTP/2 over cleartext, prior knowledge) and prints one JSON
line with the fields of bench/loadgen's, so that measure.py wraps it as it wraps loadgen.

    h2load_run.py --port P --body FILE [--host 127.0.0.1] [--path /predict] [--content-type CT]
                  [--rows R] [-c CONNECTIONS] [-m STREAMS] [-d SECONDS] [-w WARMUP_S] [-t THREADS]
                  [--label L]

-d is the whole run including the -w warm-up, as for loadgen (h2load gets -D d-w and
--warm-up-time w). h2load sends the one body in FILE (no round-robin), with Content-Type
and Accept set to CT (as loadgen does). Closed loop: each of the -c connections keeps -m
streams in flight.

Counts (requests, ok, req/s) are h2load's own: the requests completed during the measured
window. Latency percentiles come from h2load's --log-file, restricted to the requests that
also started after the warm-up (those started during the warm-up and answered after it
would otherwise count a latency partly spent before the window). h2load counts 4xx/5xx
answers as "failed": any failed, errored or timed-out request, or a protocol other than
h2c, stops the run with a non-zero exit (loadgen reports them instead).
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import bench_common  # bench/, the script's own folder


def main():
    ap = argparse.ArgumentParser()
    bench_common.client_args(ap, threads=1, label="h2")  # one thread, like loadgen
    ap.add_argument("-m", "--streams", type=int, default=1)
    ap.add_argument("--h2load", default=shutil.which("h2load") or "/usr/bin/h2load")
    a = ap.parse_args()
    window = bench_common.client_window(a, "h2load_run.py")

    version = subprocess.run([a.h2load, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="h2load-")
    log = os.path.join(tmp, "requests.tsv")
    ct = a.content_type
    cmd = [a.h2load, "-c", str(a.connections), "-m", str(a.streams), "-t", str(a.threads),
           "-D", str(window), "--warm-up-time", str(a.warmup), f"--log-file={log}",
           "-d", a.body, "-H", f"content-type: {ct}", "-H", f"accept: {ct}",
           f"http://{a.host}:{a.port}{a.path}"]
    try:
        cpu0 = bench_common.cpu_children()
        # bounded: a stuck server must not hang the benchmark
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=a.duration + 30)
        cpu = bench_common.cpu_children() - cpu0
        text = res.stdout

        def fail(why):
            sys.stderr.write(text)
            sys.exit(f"h2load_run.py: {a.label}: {why}")

        if res.returncode != 0:
            fail(f"h2load exited with {res.returncode}")
        if "Application protocol: h2c" not in text:
            fail("h2load did not speak h2c")
        m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
        if not m:
            fail("no 'requests:' line in h2load's output")
        total, started, done, succeeded, failed, errored, timeout = map(int, m.groups())
        if failed or errored or timeout:
            fail(f"{failed} failed, {errored} errored, {timeout} timed out (h2load counts 4xx/5xx as failed)")
        if done == 0:  # e.g. an HTTP/1.1-only server: h2load says h2c, then nothing completes
            fail("no request completed")
        h2_rps = float(re.search(r"^finished in \S+, ([\d.]+) req/s", text, re.M).group(1))

        # columns: start (µs since the epoch), HTTP status, µs until the end of the response
        with open(log, "rb") as f:
            v = np.fromstring(f.read().replace(b"\t", b" "), dtype=np.int64, sep=" ")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the log is ~30 bytes a request
    v = v.reshape(-1, 3)
    if len(v) != done:
        sys.exit(f"h2load_run.py: {a.label}: the log has {len(v)} requests, h2load says {done} done")
    start, status, lat = v[:, 0], v[:, 1], v[:, 2]
    # h2load logs the requests that ended inside the window; the first of them to end marks
    # the window's start closely enough (at these rates, within microseconds)
    keep = np.sort(lat[start >= (start + lat).min()]) / 1e3  # ms
    if len(keep) == 0:
        sys.exit(f"h2load_run.py: {a.label}: no request started after the warm-up")
    non2xx = int(np.count_nonzero((status < 200) | (status > 299)))
    pct = lambda q: float(keep[min(len(keep) - 1, int(q * len(keep)))])
    out = {
        "label": a.label, "mode": "closed", "protocol": "h2c", "client": version, "connections": a.connections,
        "streams": a.streams, "rate": 0.0, "rows_per_req": a.rows, "window_s": float(window),
        "requests": done, "ok": done - non2xx, "non2xx": non2xx, "errors": errored + timeout,
        "incomplete": started - done, "req_per_s": round(done / window, 1),
        "ok_req_per_s": round((done - non2xx) / window, 1),
        "rows_per_s": round((done - non2xx) * a.rows / window, 1),
        "h2load_req_per_s": h2_rps, "latency_samples": len(keep),
        "mean_ms": round(float(keep.mean()), 3), "p50_ms": round(pct(0.50), 3), "p90_ms": round(pct(0.90), 3),
        "p99_ms": round(pct(0.99), 3), "p999_ms": round(pct(0.999), 3), "max_ms": round(float(keep[-1]), 3),
        "loadgen_cpu_s": round(cpu, 2),
        # this script's own CPU (numpy, parsing the log): measure.py keeps it out of other_cpu_s
        "wrapper_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
