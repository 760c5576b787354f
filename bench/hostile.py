#!/usr/bin/python3
"""What a hostile request costs the daemon and its other clients, for bench/RESULTS.md.

For each binary given (e.g. the one before a hardening change and the one after), starts
`grove serve` on loopback with one I/O thread and one worker, runs a single-row client
(keep-alive, one request at a time) and, while it runs, one attack:
  json:  POST a 3 MB body of a million empty records (--max-request-rows 100000: refused);
  reset: an HTTP/2 connection sending predictions each followed by RST_STREAM in the same
         write, 5 s (python3-h2);
  empty: an HTTP/2 stream's headers, then empty DATA frames as fast as they go, 5 s.
Prints one JSON line per binary and attack: the daemon's peak RSS during the attack (MB,
VmHWM reset just before it), the single-row client's p50 / p99 / worst latency (ms) while
the attack lasts, and what the attack itself saw. CPU model name printed first.

Usage: /usr/bin/python3 bench/hostile.py --source-root . BUILD_A/grove [BUILD_B/grove ...]
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "http"))
import test_hostile_requests as hr  # noqa: E402
import test_http as th  # noqa: E402
from bench_common import cpu_name  # noqa: E402


class Client(threading.Thread):
    def __init__(self, d, body):
        super().__init__(daemon=True)
        self.d, self.body, self.stop, self.lat, self.total = d, body, False, [], 0

    def run(self):
        c = self.d.conn(60)
        while not self.stop:
            t0 = time.monotonic()
            try:
                self.d.request("POST", "/v1/models/income/predict", self.body, conn=c, timeout=60)
                self.total += 1
            except OSError:
                c = self.d.conn(60)
            self.lat.append(time.monotonic() - t0)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


def attack_json(d):
    body = hr.hostile_body("records", 1_000_000)
    st, _, _ = d.request("POST", "/v1/models/income/predict", body, timeout=300)
    return {"status": st, "body_mb": round(len(body) / (1 << 20), 1)}


def attack_reset(d, seconds=5.0):
    s, c = hr.h2_connection(d)
    body = hr.single_row_body(d.ctx).encode()
    sent, closed, end = 0, False, time.monotonic() + seconds
    try:
        while time.monotonic() < end and not closed:
            for _ in range(50):
                sid = hr.h2_post(s, c, "/v1/models/income/predict", body, flush=False)
                c.reset_stream(sid)
                sent += 1
            s.sendall(c.data_to_send())
            _, closed = hr.h2_pump(s, c, 0.001)
    except Exception:  # noqa: BLE001 - the server closing the connection ends the attack
        closed = True
    s.close()
    return {"sent": sent, "closed_by_server": closed}


def attack_empty_data(d, seconds=5.0):
    """CVE-2019-9518's shape: one stream's headers, then empty DATA frames as fast as the
    socket takes them (raw frames: 9-byte header, length 0, no END_STREAM)."""
    s, c = hr.h2_connection(d)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":path", "/v1/models/income/predict"), (":scheme", "http"),
                         (":authority", "127.0.0.1"), ("content-type", "application/json")])
    s.sendall(c.data_to_send())
    frame = (0).to_bytes(3, "big") + b"\x00\x00" + sid.to_bytes(4, "big")  # DATA, no flags
    burst = frame * 4096
    frames, closed, end = 0, False, time.monotonic() + seconds
    s.settimeout(1.0)
    try:
        while time.monotonic() < end:
            s.sendall(burst)
            frames += 4096
    except OSError:
        closed = True
    s.close()
    return {"empty_frames_sent": frames, "closed_by_server": closed}


def run(ctx, grove, attack):
    ctx.grove = os.path.abspath(grove)
    d = th.Daemon(ctx, "bench-" + attack, ["--threads", "1", "--workers", "1", "--max-request-rows", "100000",
                                            "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        return {"error": d.stderr()[-300:]}
    body1 = hr.single_row_body(ctx)
    for _ in range(200):
        d.request("POST", "/v1/models/income/predict", body1)
    client = Client(d, body1)
    client.start()
    time.sleep(0.5)
    client.lat.clear()
    m0, total0 = th.metrics(d), client.total
    hr.reset_peak(d.proc.pid)
    t0 = time.monotonic()
    seen = {"json": attack_json, "reset": attack_reset, "empty": attack_empty_data}[attack](d)
    took = time.monotonic() - t0
    peak = hr.proc_kb(d.proc.pid, "VmHWM") / 1024
    m1, total1 = th.metrics(d), client.total
    client.stop = True
    client.join(60)
    rss_after = hr.proc_kb(d.proc.pid, "VmRSS") / 1024
    d.stop()
    return {"binary": grove, "attack": attack, "attack_s": round(took, 2), "peak_rss_mb": round(peak, 1),
            "rss_after_mb": round(rss_after, 1), "client_requests": len(client.lat),
            "client_p50_ms": round(pct(client.lat, 0.5), 2), "client_p99_ms": round(pct(client.lat, 0.99), 2),
            "client_worst_ms": round(max(client.lat) * 1e3 if client.lat else float("nan"), 1),
            "attack_rows_scored": th.metric_sum(m1, "grove_rows_predicted_total") - th.metric_sum(m0, "grove_rows_predicted_total")
            - (total1 - total0),
            "resets_counted": m1.get("grove_requests_reset_total", 0) - m0.get("grove_requests_reset_total", 0),
            **seen}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", default=".")
    ap.add_argument("--attacks", default="json,reset,empty")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    ctx = th.make_ctx(a.binaries[0], a.source_root, "grove-bench-hostile-")
    print(json.dumps({"cpu": cpu_name(), "cores": os.cpu_count()}))
    try:
        for attack in a.attacks.split(","):
            for grove in a.binaries:
                print(json.dumps(run(ctx, grove, attack)))
                sys.stdout.flush()
    finally:
        for d in th.Daemon.all:
            d.kill()


if __name__ == "__main__":
    main()
