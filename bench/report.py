#!/usr/bin/python3
"""Turns bench/run.sh's results.jsonl into the markdown summary (tables + target verdicts).

    report.py RESULTS.jsonl MACHINE.txt > summary.md
"""
import json
import sys


def load(path):
    rows = {}
    for line in open(path):
        r = json.loads(line)
        key = (r["server"], r["label"]) if r["server"] != "engine" else ("engine", r["label"], r["threads"])
        rows[key] = r
    return rows


def f0(x):
    return f"{x:,.0f}"


def ms(x):
    return f"{x:.2f}"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def main():
    R = load(sys.argv[1])
    machine = open(sys.argv[2]).read().strip()
    get = lambda s, l: R.get((s, l))
    out = []
    w = out.append
    w(f"_{machine}_")
    w("")
    cfg = {s: (get(s, "json1-closed64") or get(s, "batch-on-c1") or {}).get("config", s) for s in ("base", "g1", "gd")}
    cfg["gnb"] = "grove default, --max-batch-rows 1"
    w("Servers: `base` = " + cfg["base"] + " + Flask + sklearn GBC (100 trees, 12 features); "
      "`g1` = " + cfg["g1"] + "; `gd` = " + cfg["gd"] + "; `gnb` = " + cfg["gnb"] + ". "
      "grove serves the 300-tree XGBoost `income` model (14 features). Latencies in ms; "
      "errors = non-2xx / transport errors / incomplete.")
    w("")

    def cpu(r):
        if not r:
            return ""
        s = f"srv {r['server_cpu_s']:.1f}"
        if "cpu_by_role" in r:
            c = r["cpu_by_role"]
            s += f" (io {c.get('io', 0):.1f}, workers {c.get('workers', 0):.1f})"
        return s + f", loadgen {r['loadgen_cpu_s']:.1f}, other {r.get('other_cpu_s', 0):.1f}"

    w("| measurement | server | mode | req/s | rows/s | p50 | p99 | p99.9 | errors | CPU s during the run |")
    w("|---|---|---|---:|---:|---:|---:|---:|---|---|")
    order = ["json1-closed64", "json1-wrk64", "json1-open-80pct", "json1-open-30x", "json1-open-50pct", "mp1-closed64",
             "json1000-closed8", "mp1024-closed8"]
    for label in order:
        for s in ("base", "g1", "gd"):
            r = get(s, label)
            if not r:
                continue
            mode = r["mode"] + (f" @{f0(r['rate'])}/s" if r["mode"] == "open" else f" c={r['connections']}")
            if "wrk" in r.get("client", ""):
                mode += f" ({r['client'].split('/')[0].strip()} -t{r['threads']})"
            w(f"| {label} | {s} | {mode} | {f0(r['req_per_s'])} | {f0(r['rows_per_s'])} | {ms(r['p50_ms'])} | "
              f"{ms(r['p99_ms'])} | {ms(r['p999_ms'])} | {r['non2xx']}/{r['errors']}/{r['incomplete']} | {cpu(r)} |")
    w("")
    opens = [r for r in R.values() if r.get("mode") == "open"]
    if opens:
        w("Open loop: latency is measured from each request's scheduled send time. Scheduled -> "
          "written, p99 (waiting for a free connection, plus the client's own lateness): " +
          ", ".join(f"{r['server']} {r['label']} {ms(r['send_lag_p99_ms'])} ms" for r in opens) + ".")
        w("")

    eng = {(k[1], k[2]): v for k, v in R.items() if k[0] == "engine"}
    if eng:
        w("| engine alone | threads | rows/s |")
        w("|---|---:|---:|")
        for (label, t), r in sorted(eng.items()):
            what = ("`grove bench --batch 1024` (synthetic rows at split thresholds)" if label == "engine-bench-1024"
                    else "`grove predict --stats` on the 8192 held-out rows sent to the daemon (one call)")
            w(f"| {what} | {t} | {f0(r['rows_per_s'])} |")
        w("")

    w("Micro-batching (single-row JSON, closed loop): `gd` (default, batching on) vs `gnb` (`--max-batch-rows 1`).")
    w("")
    w("| connections | on: req/s | on: p99 | off: req/s | off: p99 | on/off req/s |")
    w("|---:|---:|---:|---:|---:|---:|")
    for c in (1, 16, 64, 256):
        on, off = get("gd", f"batch-on-c{c}"), get("gnb", f"batch-off-c{c}")
        if on and off:
            w(f"| {c} | {f0(on['req_per_s'])} | {ms(on['p99_ms'])} | {f0(off['req_per_s'])} | {ms(off['p99_ms'])} | "
              f"{on['req_per_s'] / max(off['req_per_s'], 1e-9):.2f} |")
    w("")

    noisy = [r for r in R.values() if r.get("other_cpu_s", 0) > 0.1 * r.get("window_s", 1e9)]
    if noisy:
        w("**Noise:** other work used more than 10% of a CPU during: " +
          ", ".join(f"{r['server']} {r['label']} ({r['other_cpu_s']:.1f} s)" for r in noisy) +
          ". Those figures are low.")
        w("")

    # section 7: one model, both stacks (bodies identical, predictions checked equal by run.sh)
    same = [(srv, get(srv, "same-json1-closed64")) for srv in ("bsk", "g1", "gd")]
    if all(r for _, r in same):
        w("The same model on both stacks: `bsk` = " + same[0][1]["config"] + " + Flask; `g1`/`gd` = grove "
          "serving `income-sklearn` (that pickle converted by models/convert_sklearn.py). Every request is "
          "the same single-row JSON body `{\"rows\": [[12 label-encoded values]]}`, closed loop, 64 connections.")
        w("")
        w("| measurement | server | req/s | p50 | p99 | p99.9 | errors | vs bsk | CPU s during the run |")
        w("|---|---|---:|---:|---:|---:|---|---:|---|")
        for srv, r in same:
            w(f"| same-json1-closed64 | {srv} | {f0(r['req_per_s'])} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
              f"{ms(r['p999_ms'])} | {r['non2xx']}/{r['errors']}/{r['incomplete']} | "
              f"{r['req_per_s'] / same[0][1]['req_per_s']:.1f}x | {cpu(r)} |")
        w("")

    # section 8: HTTP/2 (h2load), the same single-row bodies' first record, closed loop
    base = get("base", "json1-closed64")
    h2 = [r for r in R.values() if r.get("protocol") == "h2c"]
    if h2:
        w(f"HTTP/2 (h2c with prior knowledge; `{h2[0].get('client', 'h2load')}`, one thread, closed loop: "
          "every connection keeps m streams in flight; every request carries the same body, the first "
          "record of the HTTP/1.1 runs' single-row file). vs base = req/s over the baseline's json1-closed64 (HTTP/1.1). "
          "Percentiles over the requests started after the warm-up.")
        w("")
        w("| body | server | c x m | req/s | vs base | p50 | p99 | p99.9 | errors | CPU s during the run |")
        w("|---|---|---|---:|---:|---:|---:|---:|---|---|")
        for r in sorted(h2, key=lambda r: (r["label"].split("-")[1], r["server"], r["connections"], r["streams"])):
            vs = f"{r['req_per_s'] / base['req_per_s']:.1f}x" if base else ""
            w(f"| {r['label'].split('-')[1]} | {r['server']} | {r['connections']} x {r['streams']} | "
              f"{f0(r['req_per_s'])} | {vs} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['p999_ms'])} | "
              f"{r['non2xx']}/{r['errors']}/{r['incomplete']} | {cpu(r)} |")
        w("")

    def best_h2(s, body, p99_max=None):
        """The server's best HTTP/2 configuration for BODY: the most req/s (within p99_max, if any does)."""
        rs = [r for r in h2 if r["server"] == s and r["label"].startswith(f"h2-{body}-")]
        within = [r for r in rs if p99_max is None or r["p99_ms"] <= p99_max]
        return max(within or rs, key=lambda r: r["req_per_s"], default=None)

    def vs_base(what, r, times, p99_max=None):
        """A target line: R's req/s against the baseline's single-row JSON, TIMES or more (and p99 within P99_MAX)."""
        if not (base and r):
            return
        ratio = r["req_per_s"] / base["req_per_s"]
        ok = ratio >= times and (p99_max is None or r["p99_ms"] <= p99_max)
        w(f"| {what} | {ratio:.1f}x ({f0(r['req_per_s'])} vs {f0(base['req_per_s'])}), p99 {ms(r['p99_ms'])} ms | {verdict(ok)} |")

    def h2_config(r):
        return f"best c x m: {r['connections']} x {r['streams']}" if r else ""

    # targets
    w("| target | figure | verdict |")
    w("|---|---|---|")
    for s in ("g1", "gd"):
        vs_base(f"single-row JSON >= 30x baseline req/s, p99 <= 5 ms ({s}, closed c=64)", get(s, "json1-closed64"), 30, 5)
        o = get(s, "json1-open-30x")
        if o:
            ok = o["incomplete"] == 0 and o["p99_ms"] <= 5 and o["req_per_s"] >= 0.98 * o["rate"]
            w(f"| the same as an open loop at 30x the baseline's rate ({s}, {f0(o['rate'])}/s) | "
              f"achieved {f0(o['req_per_s'])}/s, p99 {ms(o['p99_ms'])} ms, {o['incomplete']} incomplete | {verdict(ok)} |")
    wrk_base = get("base", "json1-wrk64")
    for s in ("g1", "gd"):
        r = get(s, "json1-wrk64")
        if wrk_base and r:  # wrk against wrk: the ratio #17 asks for next to loadgen's
            ratio = r["req_per_s"] / wrk_base["req_per_s"]
            w(f"| the same with wrk -t{r['threads']} -c{r['connections']}, against the baseline under wrk ({s}) | "
              f"{ratio:.1f}x ({f0(r['req_per_s'])} vs {f0(wrk_base['req_per_s'])}), p99 {ms(r['p99_ms'])} ms | "
              f"{verdict(ratio >= 30 and r['p99_ms'] <= 5)} |")
    for s in ("g1", "gd"):
        g = best_h2(s, "json1", 5)
        vs_base(f"single-row JSON >= 30x baseline req/s, p99 <= 5 ms, over HTTP/2 ({s}, {h2_config(g)})", g, 30, 5)
    for s in ("g1", "gd"):
        vs_base(f"single-row msgpack >= 50x baseline (JSON) req/s ({s})", get(s, "mp1-closed64"), 50)
    for s in ("g1", "gd"):
        m = best_h2(s, "mp1")
        vs_base(f"single-row msgpack >= 50x baseline (JSON) req/s over HTTP/2 ({s}, {h2_config(m)})", m, 50)
    b1000 = get("base", "json1000-closed8")
    for s in ("g1", "gd"):
        g = get(s, "json1000-closed8")
        if b1000 and g:
            w(f"| 1000-row JSON rows/s vs baseline ({s}; no target) | {g['rows_per_s'] / b1000['rows_per_s']:.1f}x "
              f"({f0(g['rows_per_s'])} vs {f0(b1000['rows_per_s'])}) | - |")
    for s, t in (("g1", 1), ("gd", None)):
        g = get(s, "mp1024-closed8")
        if not g:
            continue
        if t is None:
            t = max(k[1] for k in eng) if eng else 1
        eb, ep = eng.get(("engine-bench-1024", t)), eng.get(("engine-predict-heldout", t))
        if eb:
            pct = 100 * g["rows_per_s"] / eb["rows_per_s"]
            w(f"| 1024-row msgpack bin >= 60% of engine-only rows/s ({s} vs `grove bench --batch 1024 --threads {t}`) | "
              f"{pct:.0f}% ({f0(g['rows_per_s'])} vs {f0(eb['rows_per_s'])}) | {verdict(pct >= 60)} |")
        if ep:
            pct = 100 * g["rows_per_s"] / ep["rows_per_s"]
            w(f"| the same against the engine on the very rows sent (`grove predict --stats --threads {t}`) | "
              f"{pct:.0f}% ({f0(g['rows_per_s'])} vs {f0(ep['rows_per_s'])}) | {verdict(pct >= 60)} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
