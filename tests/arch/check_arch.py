#!/usr/bin/env python3
"""The architecture's promises, checked on the built objects and the sources (TAP).

- No two source files call into each other in a cycle: the file-level graph of symbol
  references between the objects of kernels/, engine/, api/, http/ and cli/ (calls and functions
  taken by address, e.g. the route table's handlers) is acyclic.
- No top-level folder holds more than MAX_SHARE of the C lines outside tests/.
- No function of the daemon or the command line (api/, http/, cli/) is longer than
  MAX_FUNCTION_LINES lines.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

MAX_SHARE = 0.40
MAX_FUNCTION_LINES = 60
MODULES = ("kernels", "engine", "api", "http", "cli")

n_checks = 0
failures = 0


def check(ok, what, detail=""):
    global n_checks, failures
    n_checks += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n_checks, what))
    if not ok:
        failures += 1
        for line in str(detail).splitlines()[:40]:
            print("# " + line)


def module_objects(build, root):
    """{source path relative to ROOT: object path} for every object of the modules."""
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    out = {}
    for c in commands:
        src = os.path.relpath(os.path.join(c["directory"], c["file"]), root)
        if src.split(os.sep)[0] in MODULES:
            out[src] = os.path.join(c["directory"], c["output"])
    return out


def symbols(obj):
    """(defined global symbols, undefined symbols) of object OBJ."""
    text = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, undefined


def cycles(edges):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def file_graph(build, root):
    objs = module_objects(build, root)
    missing = sorted(src for src, obj in objs.items() if not os.path.exists(obj))
    check(not missing, "every module object is built", "missing: " + ", ".join(missing))
    objs = {src: obj for src, obj in objs.items() if src not in missing}
    defs, uses = {}, {}
    for src, obj in objs.items():
        defs[src], uses[src] = symbols(obj)
    owner = {}
    for src, names in defs.items():
        for n in names:
            owner[n] = src
    edges = collections.defaultdict(set)
    why = {}
    for src, names in uses.items():
        for n in names:
            dst = owner.get(n)
            if dst is not None and dst != src:
                edges[src].add(dst)
                why.setdefault((src, dst), n)
    return objs, edges, why


def tracked_c_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "*.c", "*.h"], capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith((".c", ".h"))]
    return [f for f in out if not f.startswith("tests/") and os.path.exists(os.path.join(root, f))]


def function_lengths(path):
    """(name, first line, lines) of each function defined in PATH (K&R layout: the body
    ends at the first '}' in column 0)."""
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    out, start, name = [], None, None
    head = re.compile(r"^(?!typedef|#|extern|struct\b|enum\b|union\b)[A-Za-z_][\w \*]*?\b(\w+)\(")
    for i, line in enumerate(lines):
        if start is None:
            m = head.match(line)
            if not m:
                continue
            j = i
            while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and "{" in lines[j]:
                if lines[j].rstrip().endswith("}"):
                    out.append((m.group(1), i + 1, j - i + 1))
                else:
                    start, name = i, m.group(1)
        elif line.startswith("}"):
            out.append((name, start + 1, i - start + 1))
            start = None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-root", required=True)
    a = ap.parse_args()
    root = os.path.realpath(a.source_root)

    objs, edges, why = file_graph(a.build_dir, root)
    check(len(objs) >= 30, "the modules' objects are found (%d)" % len(objs), sorted(objs))
    comps = cycles(edges)
    detail = []
    for comp in comps:
        detail.append("cycle: " + ", ".join(comp))
        for s in comp:
            for d in sorted(edges[s] & set(comp)):
                detail.append("  %s -> %s (%s)" % (s, d, why[(s, d)]))
    check(not comps, "no two source files call into each other in a cycle (%d files, %d edges)" %
          (len(objs), sum(len(v) for v in edges.values())), "\n".join(detail))

    per_folder = collections.Counter()
    for f in tracked_c_files(root):
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            per_folder[f.split("/")[0] if "/" in f else "."] += sum(1 for _ in fh)
    total = sum(per_folder.values())
    shares = ", ".join("%s %.1f%%" % (k, 100.0 * v / total) for k, v in per_folder.most_common())
    print("# C lines outside tests/: %d (%s)" % (total, shares))
    worst = per_folder.most_common(1)[0] if per_folder else ("", 0)
    check(total > 0 and worst[1] <= MAX_SHARE * total,
          "no top-level folder holds more than %d%% of the C lines outside tests/ (largest: %s %.1f%%)" %
          (MAX_SHARE * 100, worst[0], 100.0 * worst[1] / max(total, 1)), shares)

    long_ones = []
    for f in tracked_c_files(root):
        if f.split("/")[0] in ("api", "http", "cli") and f.endswith(".c"):
            for name, line, n in function_lengths(os.path.join(root, f)):
                if n > MAX_FUNCTION_LINES:
                    long_ones.append("%s:%d %s: %d lines" % (f, line, name, n))
    check(not long_ones, "no function in api/, http/ or cli/ is longer than %d lines" % MAX_FUNCTION_LINES,
          "\n".join(long_ones))
    print("1..%d" % n_checks)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
