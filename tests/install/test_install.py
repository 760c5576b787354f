#!/usr/bin/python3
"""`meson install` as a user runs it: a fresh build of the source tree configured with a
prefix in a temporary directory, installed there, then the installed `grove serve` run from
an unrelated working directory with no flags or variables naming its files: it must find
the installed UI and the bundled models by itself (the datadir meson compiled in).

Prints TAP. Nothing here is skipped: a step that cannot run (no meson, a failed build, a
server that never gets ready) is a failed check, and the run then exits non-zero.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from test_cli import clean_env, http, start_serve, stop_serve  # noqa: E402  (the same helpers)

count = 0
failed = 0


def check(cond, what, detail=""):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, what))
    if not cond:
        failed += 1
        for line in str(detail).splitlines()[-20:]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def step(args, cwd=None, timeout=900):
    """Runs ARGS; (ok, output). A missing program is a failure, never a skip."""
    try:
        p = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode == 0, p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, "%s: %s" % (" ".join(args), e)


def serve(grove, cwd, env=None):
    """The installed `grove serve` on a free loopback port from CWD, with no GROVE_* or PORT
    but ENV's; (process, base URL or None when it never got ready within 30 s)."""
    p, port = start_serve(grove, [], env, cwd=cwd, clean=True, wait_s=30)
    return p, "http://127.0.0.1:%d" % port if port else None


def stop(p):
    """SIGTERM; (exit code or None, stdout, stderr)."""
    code = stop_serve(p)
    return code, p.stdout.read(), p.stderr.read()


def build_and_install(root, work):
    """Configures ROOT into WORK/build with prefix WORK/prefix, builds the binary and
    installs; returns the prefix, or None (said why)."""
    build, prefix = os.path.join(work, "build"), os.path.join(work, "prefix")
    meson = shutil.which("meson")
    ok, out = step([meson or "meson", "setup", build, root, "--prefix", prefix, "-Dbuildtype=debug",
                    "-Doptimization=0"])
    if not check(ok, "meson setup --prefix TMP of the source tree", out):
        return None
    ok, out = step(["ninja", "-C", build, "grove"])
    if not check(ok, "the grove binary builds", out):
        return None
    ok, out = step([meson or "meson", "install", "-C", build, "--no-rebuild"])
    return prefix if check(ok, "meson install", out) else None


def check_files(root, prefix):
    """What is installed, and what is not (training data, scripts, pickles, READMEs)."""
    share = os.path.join(prefix, "share", "grove")
    grove = os.path.join(prefix, "bin", "grove")
    check(os.access(grove, os.X_OK), "PREFIX/bin/grove is installed", grove)
    want = ["ui/index.html", "ui/admin.html", "ui/app.js", "ui/style.css", "ui/vendor/uPlot/uPlot.iife.min.js",
            "ui/vendor/uPlot/LICENSE", "models/income/model.json", "models/income/schema.json",
            "models/income/sample.csv", "models/income-sklearn/model.json", "models/income-sklearn/schema.json"]
    missing = [w for w in want if not os.path.isfile(os.path.join(share, w))]
    check(not missing, "the UI and the two bundled models are under PREFIX/share/grove", missing)
    same = all(open(os.path.join(share, w), "rb").read() == open(os.path.join(root, w), "rb").read() for w in want
               if w not in missing)
    check(same and not missing, "the installed files are the source tree's bytes")
    found = [os.path.relpath(os.path.join(d, f), share) for d, _, fs in os.walk(share) for f in fs]
    unwanted = [f for f in found if f.endswith((".gz", ".pkl", ".py", ".md", ".sh"))]
    check(found and not unwanted, "no training data, scripts, pickles or READMEs installed (%d files)" % len(found),
          unwanted)
    return grove


def check_man(grove, prefix):
    page = os.path.join(prefix, "share", "man", "man1", "grove.1")
    text = open(page).read() if os.path.isfile(page) else ""
    check(text.startswith(".\\\"") and ".TH GROVE 1" in text, "grove.1 is installed under PREFIX/share/man/man1",
          page)
    share = os.path.join(prefix, "share", "grove")
    check(share in text and "@DATADIR@" not in text and "@VERSION@" not in text,
          "the man page names the installed data directory")
    # Every option of `grove serve --help` is in the man page, with its variable.
    help_out = subprocess.run([grove, "serve", "--help"], capture_output=True, text=True, env=clean_env()).stdout
    rows = re.findall(r"^  --([a-z-]+)(?: [A-Z]+)?\s+([A-Z_]+)", help_out, re.M)
    plain = text.replace("\\-", "-")
    absent = [f for f, env in rows if ("--" + f) not in plain or env not in plain]
    check(len(rows) >= 20 and not absent, "the man page lists every serve option and its variable (%d)" % len(rows),
          absent)
    # And every option of `grove predict --help`.
    help_out = subprocess.run([grove, "predict", "--help"], capture_output=True, text=True, env=clean_env()).stdout
    opts = re.findall(r"^  (?:-[a-z], )?--([a-z-]+)", help_out, re.M)
    absent = [f for f in opts if f != "help" and ("--" + f) not in plain]
    check(len(opts) >= 10 and not absent, "the man page lists every predict option (%d)" % len(opts), absent)
    for word in ("predict", "info", "schema", "bench", "serve", "health", "version", "EXIT STATUS", "FILES"):
        if ("\n.B %s" % word) not in text and (".SH %s" % word) not in text:
            check(False, "the man page has %s" % word)
            break
    else:
        check(True, "the man page has every subcommand, EXIT STATUS and FILES")
    man = shutil.which("man")
    if man is None:
        check(False, "man is installed (man-db), to render grove.1")
        return
    r = subprocess.run([man, "-l", page], capture_output=True, text=True, env=dict(clean_env(), MANWIDTH="80"))
    check(r.returncode == 0 and "SERVE OPTIONS" in r.stdout and "--models DIR, GROVE_MODELS" in r.stdout
          and not r.stderr.strip(), "man -l renders grove.1 without warnings", r.stderr[-500:])


def first_record(share):
    """The first row of the installed income sample as a {"records": [...]} body, and
    XGBoost's probability for it."""
    with open(os.path.join(share, "models", "income", "sample.csv")) as f:
        row = next(csv.DictReader(f))
    schema = json.load(open(os.path.join(share, "models", "income", "schema.json")))
    kinds = {x["name"]: x.get("type") for x in schema["features"]}
    rec = {k: (v if kinds.get(k) == "categorical" else float(v)) for k, v in row.items() if v != ""}  # absent: missing
    with open(os.path.join(share, "models", "income", "sample_expected.csv")) as f:
        want = float(f.read().split()[0])
    return json.dumps({"records": [rec]}).encode(), want


def check_serve(root, grove, prefix, elsewhere):
    """The installed grove serve from an empty directory: the installed UI and models."""
    share = os.path.join(prefix, "share", "grove")
    p, base = serve(grove, elsewhere)
    check(base is not None, "the installed grove serve gets ready from an unrelated directory")
    status, page = http("GET", base + "/") if base else (0, b"")
    index = open(os.path.join(root, "ui", "index.html"), "rb").read()
    check(status == 200 and page == index, "GET / serves the installed UI's index.html", "%s %s" % (status, page[:200]))
    status, _ = http("GET", base + "/vendor/uPlot/uPlot.iife.min.js") if base else (0, b"")
    check(status == 200, "the UI's vendored files are served", status)
    body, want = first_record(share)
    status, ans = http("POST", base + "/v1/models/income/predict", body) if base else (0, b"")
    got = json.loads(ans).get("predictions", [None])[0] if status == 200 else None
    check(got is not None and abs(got - want) <= 1e-6,
          "a predict on the bundled income model answers XGBoost's probability", "%s %s want %s" % (status, ans[:200], want))
    status, ans = http("GET", base + "/v1/models") if base else (0, b"")
    names = sorted(m["name"] for m in json.loads(ans).get("models", [])) if status == 200 else ans
    check(names == ["income", "income-sklearn"], "both bundled models are served", names)
    code, out, err = stop(p)
    start = [l for l in out.splitlines() if 'msg="grove starting"' in l]
    check(len(start) == 1 and 'models_dir="%s/models"' % share in start[0] and 'ui_dir="%s/ui"' % share in start[0],
          "the start-up line names the installed directories", out[-800:] + err[-300:])
    check(code == 0 and "level=warn" not in out and err == "", "SIGTERM: exit 0, no warning, nothing on stderr",
          "code=%s %s %s" % (code, out[-500:], err[-300:]))


def check_datadir_variable(root, grove, work, elsewhere):
    """GROVE_DATADIR points the defaults at another copy (a --destdir tree, say)."""
    other = os.path.join(work, "other")
    os.makedirs(os.path.join(other, "models", "only"))
    shutil.copy(os.path.join(root, "tests", "fixtures", "binary_logistic.json"),
                os.path.join(other, "models", "only", "model.json"))
    p, base = serve(grove, elsewhere, {"GROVE_DATADIR": other})
    status, ans = http("GET", base + "/v1/models") if base else (0, b"")
    names = [m["name"] for m in json.loads(ans).get("models", [])] if status == 200 else ans
    status, page = http("GET", base + "/") if base else (0, b"")
    code, out, _ = stop(p)
    check(names == ["only"], "GROVE_DATADIR's models replace the compiled-in ones", names)
    check(status == 404 and b"web UI is missing" in page and "GROVE_UI" in out,
          "without a UI there, / says it is missing and the log says how to set it", "%s %s" % (status, page[:200]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    a = ap.parse_args()
    root = os.path.abspath(a.source_root)
    work = tempfile.mkdtemp(prefix="grove-install-")
    elsewhere = os.path.join(work, "x")
    os.makedirs(elsewhere)
    try:
        prefix = build_and_install(root, work)
        if prefix is None:
            check(False, "the installed grove can be checked (the build or install failed)")
        else:
            grove = check_files(root, prefix)
            check_man(grove, prefix)
            check_serve(root, grove, prefix, elsewhere)
            check_datadir_variable(root, grove, work, elsewhere)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
