#!/usr/bin/python3
"""Runs one loadgen measurement and adds the server's CPU use to its JSON line.

    measure.py --pid PID [--kind grove --workers W --io T] [--tag K=V ...] -- LOADGEN ARGS...

(LOADGEN: build/bench/loadgen, bench/h2load_run.py for HTTP/2 or bench/wrk_run.py: each prints
one JSON line.)

Before and after the run it reads /proc/PID/task/*/stat of the server (and of every
descendant process: gunicorn's workers) and reports CPU seconds used during the run.
For grove the threads are told apart by creation order (tids ascending): the main thread
(signals only), then the --workers engine workers (the batcher starts them first), then
the --io I/O threads (event loops: HTTP parsing, decoding, encoding). Prints the loadgen's
JSON object with "server_cpu_s", "cpu_by_role", "server_ctx_switches" and "other_cpu_s"
(CPU the rest of the machine used during the run: other work sharing the cores) added.
"""
import argparse
import json
import os
import subprocess
import sys

TCK = os.sysconf("SC_CLK_TCK")


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def snapshot(pid):
    """{(pid, tid): (cpu_ticks, ctx_switches)} for PID and its descendants."""
    snap = {}
    for p in descendants(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])  # utime + stime
                ctx = 0
                with open(f"/proc/{p}/task/{t}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            ctx += int(line.split()[1])
                snap[(p, int(t))] = (ticks, ctx)
            except (OSError, IndexError, ValueError):
                pass
    return snap


def busy_ticks():
    """CPU ticks the whole machine spent busy (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: measure.py --pid PID [...] -- LOADGEN ARGS")
    i = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--kind", default="other")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--io", type=int, default=0)
    ap.add_argument("--tag", action="append", default=[])
    args = ap.parse_args(argv[:i])
    cmd = argv[i + 1:]

    before, busy0 = snapshot(args.pid), busy_ticks()
    res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    after, busy1 = snapshot(args.pid), busy_ticks()
    if res.returncode != 0 or not res.stdout.strip():
        sys.exit(f"measure.py: loadgen failed ({res.returncode})")
    out = json.loads(res.stdout.strip().splitlines()[-1])

    delta = {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1]) for k, v in after.items()}
    out["server_cpu_s"] = round(sum(d[0] for d in delta.values()) / TCK, 2)
    out["server_ctx_switches"] = sum(d[1] for d in delta.values())
    # CPU the rest of the machine used meanwhile (other work sharing the cores): noise.
    # h2load_run.py's own CPU (reading h2load's log) is the client's, not other work's.
    out["other_cpu_s"] = round(max(0.0, (busy1 - busy0) / TCK - out["server_cpu_s"] - out["loadgen_cpu_s"]
                                   - out.get("wrapper_cpu_s", 0)), 2)
    if args.kind == "grove":
        tids = sorted(t for (p, t) in delta if p == args.pid)
        roles = {}
        for n, t in enumerate(tids):
            role = ("main" if n == 0 else "workers" if n <= args.workers
                    else "io" if n <= args.workers + args.io else "other")
            roles[role] = roles.get(role, 0) + delta[(args.pid, t)][0]
        out["cpu_by_role"] = {k: round(v / TCK, 2) for k, v in roles.items()}
    for kv in args.tag:
        k, v = kv.split("=", 1)
        out[k] = v
    print(json.dumps(out))


if __name__ == "__main__":
    main()
