#!/usr/bin/python3
"""Adds up the TAP checks of meson test logs and TAP files and prints "N passed, N failed"
(then ", N skipped" when some checks were skipped).

Each argument is a meson testlog.json (one JSON object per test, its TAP in "stdout") or a
TAP file (*.tap, as tests/container/test_container.py writes). A test program that failed
without printing any "not ok" line (a crash, a timeout, a sanitizer report) counts as one
failure, and so does a TAP file that is missing or whose plan does not match its checks (a
run that stopped half-way), so nothing that broke is hidden. "ok N ... # SKIP" lines count
as skipped, not passed.
"""
import json
import re
import sys

OK = re.compile(r"^ok \d+", re.M)
NOT_OK = re.compile(r"^not ok \d+", re.M)
SKIP = re.compile(r"^ok \d+[^\n]*#\s*SKIP", re.M | re.I)


def count_tap(out):
    """(passed, failed, skipped) of a TAP stream."""
    skipped = len(SKIP.findall(out))
    return len(OK.findall(out)) - skipped, len(NOT_OK.findall(out)), skipped


def count_meson_log(lines):
    passed = failed = skipped = 0
    for line in lines:
        t = json.loads(line)
        ok, bad, skip = count_tap(t.get("stdout") or "")
        if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
            bad = 1
        if ok == 0 and bad == 0 and skip == 0 and t.get("result") == "OK":
            ok = 1  # an exit-code test
        passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    return passed, failed, skipped


def count_tap_file(path, text):
    ok, bad, skip = count_tap(text)
    plan = re.search(r"^1\.\.(\d+)", text, re.M)
    if plan is None or int(plan.group(1)) != ok + bad + skip:
        print("incomplete TAP file: %s (plan %s, %d checks)" %
              (path, plan.group(1) if plan else "missing", ok + bad + skip))
        bad += 1
    return ok, bad, skip


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            text = open(path).read()
        except OSError:
            print("missing test log: %s" % path)
            failed += 1
            continue
        if path.endswith(".tap"):
            ok, bad, skip = count_tap_file(path, text)
        else:
            ok, bad, skip = count_meson_log(text.splitlines())
        passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
