"""What the scripts that run a check once per ISA (GROVE_ISA, the explanation walks) share:
the ISA this CPU runs, and how a check the CPU cannot run is reported. On a CPU without an
ISA the engine quietly runs another one's kernels, so such a check would pass without
testing what it names."""
import json
import os
import subprocess

RANK = {"scalar": 0, "avx2": 1, "avx512": 2}
HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_isa(grove):
    """The ISA whose kernels GROVE runs here when not told otherwise ("scalar" if unknown)."""
    r = subprocess.run([grove, "info", os.path.join(HERE, "..", "models", "income")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=60, env={k: v for k, v in os.environ.items() if k != "GROVE_ISA"})
    try:
        return json.loads(r.stdout)["isa"]
    except (ValueError, KeyError):
        return "scalar"


def runs(isa, need):
    return RANK.get(isa, 0) >= RANK[need]


def cannot_run(check, what, why, isa=None):
    """Reports WHAT through the script's CHECK(ok, name, detail): a TAP skip, or under
    CI=true (where every test must run) a failure; a skip again when WHAT needs ISA and the
    suite runs it in a tree whose kernels of that ISA are emulated (GROVE_TEST_EMULATED_ISA,
    set by scripts/test.sh when it builds one)."""
    if isa is not None and os.environ.get("GROVE_TEST_EMULATED_ISA") == isa:
        check(True, "%s # SKIP %s: the tree with emulated %s kernels runs it" % (what, why, isa))
    elif os.environ.get("CI") == "true":
        check(False, what, "%s (CI=true: it must run)" % why)
    else:
        check(True, "%s # SKIP %s" % (what, why))
