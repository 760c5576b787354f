#!/usr/bin/python3
"""Cold start of `grove serve`: ms from exec to the first 200 from /v2/health/ready, and RSS.

    cold_start.py [--runs 3] [--requests 100000] [--loadgen PATH] [--label NAME=GROVE[@ARGS] ...]
                  [-- SERVE ARGS...]

Each --label NAME=GROVE is a grove binary (default: build/grove as "grove"), optionally with
its own serve arguments after '@' (split on spaces; else SERVE ARGS); with two or more their
runs alternate (A B A B ...), so a busy moment of the shared machine hits all alike. A run spawns `GROVE serve --host 127.0.0.1 --port P SERVE ARGS` on a free loopback
port (SERVE ARGS default to --models models, the bundled ones) and polls the ready endpoint
in a tight connect-and-ask loop; the time counts from just before the spawn (posix_spawn) to
the first 200, so exec, dynamic linking, model loading and the listeners are all in it.
Prints one JSON line per binary: best and all runs in ms, the RSS (KB, /proc/PID/status
VmRSS) when ready, and with --requests N (0: skip) the RSS after N single-row requests
sent by build/bench/loadgen (64 keep-alive connections) to POST /v1/models/income/predict,
plus the CPU model name from /proc/cpuinfo.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from bench_common import cpu_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
BODY = (b'{"records": [{"age": 39, "workclass": "State-gov", "fnlwgt": 77516, "education": '
        b'"Bachelors", "educational-num": 13, "marital-status": "Never-married", "occupation": '
        b'"Adm-clerical", "relationship": "Not-in-family", "race": "White", "gender": "Male", '
        b'"capital-gain": 2174, "capital-loss": 0, "hours-per-week": 40, "native-country": '
        b'"United-States"}]}')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ready(port):
    """True on a 200 from /v2/health/ready; False when refused or not (yet) 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(READY)
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def load(port, requests, loadgen):
    """Sends at least REQUESTS single-row predicts with loadgen; returns how many were ok."""
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(BODY)
        body.flush()
        ok = 0
        while ok < requests:
            out = subprocess.run([loadgen, "--port", str(port), "--path", "/v1/models/income/predict",
                                  "--body", body.name, "--connections", "64", "--duration", "3",
                                  "--warmup", "0"], capture_output=True, text=True, check=True)
            ok += int(json.loads(out.stdout)["ok"])
    return ok


def run_once(grove, args, requests, env, loadgen):
    port = free_port()
    argv = [grove, "serve", "--host", "127.0.0.1", "--port", str(port)] + args
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        pid = os.posix_spawn(grove, argv, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, null.fileno(), 1), (os.POSIX_SPAWN_DUP2, null.fileno(), 2)])
    try:
        while not ready(port):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                sys.exit(f"cold_start: {grove} exited with status {status} before it was ready")
            if time.perf_counter() - t0 > 30:
                sys.exit(f"cold_start: {grove} not ready after 30 s")
        ms = (time.perf_counter() - t0) * 1e3
        rss_ready = rss_kb(pid)
        served = load(port, requests, loadgen) if requests else 0
        return ms, rss_ready, served, rss_kb(pid) if requests else None
    finally:
        os.kill(pid, 15)
        os.waitpid(pid, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--label", action="append", default=[], help="NAME=GROVE[@ARGS]")
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build", "bench", "loadgen"))
    ap.add_argument("serve_args", nargs="*")
    a = ap.parse_args()
    args = a.serve_args or ["--models", "models"]
    labels = []
    for spec in a.label or ["grove=" + os.path.join(ROOT, "build", "grove")]:
        name, rest = spec.split("=", 1)
        grove, _, own = rest.partition("@")
        labels.append((name, grove, own.split() if own else args))
    env = dict(os.environ)
    results = {name: {"ms": [], "rss_ready_kb": [], "rss_after_kb": None, "requests": 0}
               for name, _, _ in labels}
    for i in range(a.runs):
        for name, grove, largs in labels:
            # The RSS after load is measured once per binary, on its last run.
            reqs = a.requests if i == a.runs - 1 else 0
            ms, rss, served, rss_after = run_once(os.path.abspath(grove), largs, reqs, env, a.loadgen)
            r = results[name]
            r["ms"].append(round(ms, 1))
            r["rss_ready_kb"].append(rss)
            if reqs:
                r["rss_after_kb"], r["requests"] = rss_after, served
    for name, grove, largs in labels:
        r = results[name]
        print(json.dumps({"label": name, "grove": grove, "args": largs, "best_ms": min(r["ms"]),
                          **r, "cpu": cpu_name()}))


if __name__ == "__main__":
    main()
