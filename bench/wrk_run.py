#!/usr/bin/python3
"""Runs one wrk measurement (HTTP/1.1 keep-alive, closed loop) and prints one JSON line with
the fields of bench/loadgen's, so that measure.py wraps it as it wraps loadgen.

    wrk_run.py --port P --body FILE [--host 127.0.0.1] [--path /predict] [--content-type CT]
               [--rows R] [-c CONNECTIONS] [-t THREADS] [-d SECONDS] [-w WARMUP_S] [--label L]

#17 asks for its HTTP/1.1 figures from wrk as well as from loadgen: wrk (2 threads by
default here, as the issue's `wrk -t2 -c64`) POSTs the one body in FILE on every request.
-d is the whole run including the -w warm-up, as for loadgen: a wrk run of w seconds, then
the measured run of d - w seconds on new connections. The counts and latency percentiles
are wrk's own, printed by the Lua script's done() (wrk's --latency table has no p99.9);
non-2xx answers and socket errors are reported, not fatal, as loadgen reports them.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

import bench_common  # bench/, the script's own folder

# wrk's Lua: the body from a file, and done() printing wrk's summary as one JSON line.
SCRIPT = """
local f = assert(io.open(%(body)s, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = %(ct)s
wrk.headers["Accept"] = %(ct)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"mean_us":%%f,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"p999_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser()
    bench_common.client_args(ap, threads=2, label="wrk")  # the wrk -t2
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    a = ap.parse_args()
    window = bench_common.client_window(a, "wrk_run.py")
    version = subprocess.run([a.wrk, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout.strip().splitlines()[0].split(" [")[0]
    tmp = tempfile.mkdtemp(prefix="wrk-")
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write(SCRIPT % {"body": lua_string(os.path.abspath(a.body)), "ct": lua_string(a.content_type)})
    url = f"http://{a.host}:{a.port}{a.path}"
    base = [a.wrk, "-t", str(a.threads), "-c", str(a.connections), "-s", script]
    try:
        if a.warmup > 0:  # bounded: a stuck server must not hang the benchmark
            subprocess.run(base + ["-d", f"{a.warmup}s", url], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=a.warmup + 30, check=True)
        cpu0 = bench_common.cpu_children()
        res = subprocess.run(base + ["-d", f"{window}s", url], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=window + 30)
        cpu = bench_common.cpu_children() - cpu0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [l for l in res.stdout.splitlines() if l.startswith("WRK_JSON ")]
    if res.returncode != 0 or not lines:
        sys.stderr.write(res.stdout)
        sys.exit(f"wrk_run.py: {a.label}: wrk exited with {res.returncode} and no summary")
    s = json.loads(lines[-1][len("WRK_JSON "):])
    secs = s["duration_us"] / 1e6
    non2xx = s["status"]  # wrk counts answers with a status above 399
    errors = s["connect"] + s["read"] + s["write"] + s["timeout"]
    ok = s["requests"] - non2xx
    out = {
        "label": a.label, "mode": "closed", "protocol": "http/1.1", "client": version,
        "connections": a.connections, "threads": a.threads, "rate": 0.0, "rows_per_req": a.rows,
        "window_s": round(secs, 3), "requests": s["requests"], "ok": ok, "non2xx": non2xx,
        "errors": errors, "incomplete": 0, "req_per_s": round(s["requests"] / secs, 1),
        "ok_req_per_s": round(ok / secs, 1), "rows_per_s": round(ok * a.rows / secs, 1),
        "mean_ms": round(s["mean_us"] / 1e3, 3), "p50_ms": round(s["p50_us"] / 1e3, 3),
        "p90_ms": round(s["p90_us"] / 1e3, 3), "p99_ms": round(s["p99_us"] / 1e3, 3),
        "p999_ms": round(s["p999_us"] / 1e3, 3), "max_ms": round(s["max_us"] / 1e3, 3),
        "loadgen_cpu_s": round(cpu, 2),
        "wrapper_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
