#!/usr/bin/python3
"""Adds up the TAP checks of meson test logs and prints "N passed, N failed".

A test program that failed without printing any "not ok" line (a crash, a timeout, a
sanitizer report) counts as one failure, so nothing that broke is hidden.
"""
import json
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print("missing test log: %s" % path)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
            bad = 1
        if ok == 0 and bad == 0 and t.get("result") == "OK":
            ok = 1  # an exit-code test
        passed += ok
        failed += bad
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
