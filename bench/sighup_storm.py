#!/usr/bin/python3
"""A SIGHUP storm against a serving daemon, then SIGTERM (bench/RESULTS.md, "SIGHUP storm").

  /usr/bin/python3 bench/sighup_storm.py --grove build/grove --loadgen build/bench/loadgen

Starts `grove serve` on the bundled models (both: income loads in ~80 ms, income-sklearn in
~3 ms), runs bench/loadgen with one connection sending single-row predictions (closed loop)
while 1000 SIGHUPs are sent over 2.4 s, then for 3 s more, then sends SIGTERM. Prints one
JSON line: the daemon's peak RSS (VmHWM) before and after the storm, the client's latency
percentiles during and after it, the reload log lines counted at SIGTERM, and how long SIGTERM
took to be acted on (its log line) and to end the process.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


def vm_hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) // 1024
    return None


def loadgen(args, port, body, duration, warmup):
    out = subprocess.run([args.loadgen, "--port", str(port), "--path", "/v1/models/income/predict",
                          "--body", body, "--content-type", "application/json", "--rows", "1",
                          "--connections", "1", "--duration", str(duration), "--warmup", str(warmup)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {k: r.get(k) for k in ("requests", "p50_ms", "p99_ms", "p999_ms", "max_ms", "errors", "non2xx")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grove", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--source-root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--signals", type=int, default=1000)
    ap.add_argument("--over", type=float, default=2.4, help="seconds the SIGHUPs are spread over")
    args = ap.parse_args()
    root = args.source_root
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    tmp = tempfile.mkdtemp(prefix="grove-sighup-storm-")
    body = os.path.join(tmp, "row.json")
    with open(os.path.join(root, "models", "income", "sample.csv")) as f:
        names, values = f.readline().strip().split(","), f.readline().strip().split(",")
    record = {}
    for k, v in zip(names, values):
        if v != "":
            try:
                record[k] = float(v)
            except ValueError:
                record[k] = v
    with open(body, "w") as f:
        json.dump({"records": [record]}, f)
    log_path = os.path.join(tmp, "grove.out")
    p = subprocess.Popen([args.grove, "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--models", os.path.join(root, "models"), "--ui", os.path.join(root, "ui"),
                          "--shutdown-grace", "10"], stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    for _ in range(400):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/v2/health/ready" % port, timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    rss_before = vm_hwm_mb(p.pid)
    during = {}

    def storm():
        t0 = time.monotonic()
        for i in range(args.signals):
            os.kill(p.pid, signal.SIGHUP)
            delay = t0 + args.over * (i + 1) / args.signals - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    import threading
    client = threading.Thread(target=lambda: during.update(loadgen(args, port, body, args.over + 1.0, 0.5)))
    client.start()
    time.sleep(0.5)
    storm()
    client.join()
    after = loadgen(args, port, body, 3, 0)
    rss_after = vm_hwm_mb(p.pid)
    with open(log_path, errors="replace") as f:
        log = f.read()
    reload_lines = log.count("reload finished")
    income_loads = log.count('msg="model reloaded" model=income ')
    t_term = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    acted = None
    while time.monotonic() - t_term < 300 and p.poll() is None:
        if acted is None and "shutting down" in open(log_path, errors="replace").read():
            acted = time.monotonic() - t_term
        time.sleep(0.01)
    rc = p.poll()
    if rc is None:
        p.kill()
        rc = "killed after 300 s"
    print(json.dumps({"signals": args.signals, "over_s": args.over, "peak_rss_mb_before": rss_before,
                      "peak_rss_mb_after": rss_after, "client_during": during, "client_next_3s": after,
                      "reload_finished_lines_at_sigterm": reload_lines,
                      "income_reloads_logged_at_sigterm": income_loads,
                      "sigterm_acted_s": None if acted is None else round(acted, 2),
                      "exit_s": round(time.monotonic() - t_term, 2), "rc": rc,
                      "load1": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
