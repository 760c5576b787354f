#!/usr/bin/python3
"""grove serve against a hostile environment and hostile clients, over real sockets (TAP).

Model paths that block (a FIFO, a file under a lease), reloads that take long while SIGTERM
comes, SIGHUP storms, /admin reached through a proxy or a rebound DNS name, wrong and
lower-case tokens and their rate limit, a NUL in a model name, and the UI directory's
symbolic links, dotfiles, FIFOs and %00 paths (HTTP/1.1, and HTTP/2 with python3-h2 when it
is installed). Reuses test_http.py's Daemon and helpers; see tests/http/README.md.
"""
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_http as th  # noqa: E402
from test_http import Daemon, check, jget, jpost, metrics, note, skip  # noqa: E402


# ---------------------------------------------------------------- helpers

def model_dir(ctx, name):
    """A fresh models directory holding a copy of models/income; returns (dir, income dir)."""
    mdir = os.path.join(ctx.tmp, name)
    inc = os.path.join(mdir, "income")
    os.makedirs(inc)
    for f in ("model.json", "schema.json"):
        shutil.copy(os.path.join(ctx.root, "models", "income", f), inc)
    return mdir, inc


def wait_log(d, text, timeout):
    """Seconds until TEXT appears in D's stdout (None if it does not within TIMEOUT)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if text in d.stdout():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def wait_exit(d, timeout):
    """(exit code or 'hung', seconds waited)."""
    t0 = time.monotonic()
    try:
        rc = d.proc.wait(timeout)
    except Exception:  # noqa: BLE001 - TimeoutExpired
        rc = "hung"
    return rc, time.monotonic() - t0


def sigterm_checks(ctx, d, what, grace, extra=None):
    """SIGTERM now: acted on within 1 s (the log line), exit 0 within GRACE, no sanitizer report."""
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    acted = wait_log(d, "shutting down", 5 * ctx.slow)
    check(acted is not None and acted < 1.0, "%s: SIGTERM is acted on within 1 s" % what,
          "after %s s\n%s" % (acted, d.stdout()[-1500:]))
    if extra is not None:
        extra()
    rc, _ = wait_exit(d, grace + 10 * ctx.slow)
    el = time.monotonic() - t0
    if rc == "hung":
        d.kill()
    d.rc, d.checked = rc, True
    err = d.stderr()
    reports = [m for m in th.SANITIZER_MARKS if m in err or m in d.stdout()]
    note("%s: exit %s after %.2f s" % (what, rc, el))
    check(rc == 0 and el < grace + 1.0 * ctx.slow and not reports,
          "%s: exits 0 within the shutdown grace (%d s), no sanitizer report" % (what, grace),
          "rc=%s after %.2f s %s\n%s" % (rc, el, reports, err[-2000:]))


def reload_counts(d):
    m = metrics(d)
    return (m.get('grove_model_reloads_total{model="income"}', 0),
            m.get('grove_model_reload_failures_total{model="income"}', 0))


def big_model(ctx, path, copies):
    """model.json with models/income's trees COPIES times over (a reload that takes seconds)."""
    with open(os.path.join(ctx.root, "models", "income", "model.json")) as f:
        m = json.load(f)
    mm = m["learner"]["gradient_booster"]["model"]
    trees = mm["trees"]
    n = len(trees) * copies
    mm["tree_info"] = [0] * n
    mm["gbtree_model_param"]["num_trees"] = str(n)
    mm["trees"] = "@TREES@"
    texts = []
    for t in trees:
        t = dict(t, id=-4242)
        texts.append(json.dumps(t, separators=(",", ":")).split('"id":-4242'))
    with open(path, "w") as f:
        head, tail = json.dumps(m, separators=(",", ":")).split('"@TREES@"')
        f.write(head + "[")
        i = 0
        for _ in range(copies):
            for a, b in texts:
                f.write(("," if i else "") + a + '"id":%d' % i + b)
                i += 1
        f.write("]" + tail)


# ---------------------------------------------------------------- model paths that block

def test_fifo(ctx):
    """model.json replaced by a FIFO: SIGHUP and admin reloads fail at once; SIGTERM works."""
    mdir, inc = model_dir(ctx, "fifo-models")
    d = Daemon(ctx, "fifo", ["--threads", "1", "--workers", "1", "--shutdown-grace", "5", "--models", mdir])
    if not d.wait_ready():
        check(False, "fifo daemon starts", d.stderr())
        return
    os.unlink(os.path.join(inc, "model.json"))
    os.mkfifo(os.path.join(inc, "model.json"))
    t0 = time.monotonic()
    try:
        st, _, r = jpost(d, "/admin/models/income/reload", {}, timeout=5)
    except (OSError, http.client.HTTPException) as e:
        st, r = repr(e), {}
    el = time.monotonic() - t0
    check(st == 422 and "FIFO" in r.get("error", "") and el < 2 * ctx.slow,
          "FIFO model.json: POST reload answers 422 naming the FIFO at once", "%s %s after %.2fs" % (st, r, el))
    d.signal(signal.SIGHUP)
    got = wait_log(d, "reload finished", 3 * ctx.slow)
    line = next((l for l in d.stdout().splitlines() if "reload finished" in l), "")
    check(got is not None and "failed=1" in line, "FIFO model.json: SIGHUP's reload fails at once", d.stdout()[-1500:])
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records})
    st2, _, _ = d.request("GET", "/v2/health/ready")
    check(st == 200 and th.close_to(r.get("predictions", []), ctx.expected) and st2 == 200,
          "FIFO model.json: the old version serves, readiness stays true", "%s %s" % (st, st2))
    d.signal(signal.SIGHUP)  # one more, right before SIGTERM
    sigterm_checks(ctx, d, "FIFO model.json", 5)


def test_lease(ctx):
    """model.json under a write lease held by this process: open() would wait up to the
    kernel's lease-break-time (45 s); grove's non-blocking open fails at once instead."""
    mdir, inc = model_dir(ctx, "lease-models")
    d = Daemon(ctx, "lease", ["--threads", "1", "--workers", "1", "--shutdown-grace", "5", "--models", mdir])
    if not d.wait_ready():
        check(False, "lease daemon starts", d.stderr())
        return
    path = os.path.join(inc, "model.json")
    signal.signal(signal.SIGIO, signal.SIG_IGN)  # the kernel's lease-break notice: not fatal here
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except OSError as e:
        os.close(fd)
        skip("a model file under a lease: reload answers at once", "cannot take a lease here: %s" % e)
        d.check_exit(0)
        return
    try:
        t0 = time.monotonic()
        try:
            st, _, r = jpost(d, "/admin/models/income/reload", {}, timeout=8)
        except (OSError, http.client.HTTPException) as e:
            st, r = repr(e), {}
        el = time.monotonic() - t0
        check(st == 422 and "model.json" in r.get("error", "") and el < 2 * ctx.slow,
              "a model file under a lease: reload answers 422 at once (open does not wait)",
              "%s %s after %.2fs" % (st, r, el))
    finally:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(fd)
    st, _, r = jpost(d, "/admin/models/income/reload", {})
    check(st == 200 and r.get("reloaded") is True, "lease released: the reload works again", "%s %s" % (st, r))
    d.check_exit(0)


def test_slow_reload(ctx):
    """A reload that takes seconds (a huge model) under way at SIGTERM: the admin client
    waiting for it gets 503 at once, and the daemon exits 0 within the grace period without
    waiting for the load (the honest stand-in for a load stuck on a hung mount)."""
    mdir, inc = model_dir(ctx, "slow-models")
    d = Daemon(ctx, "slow-reload", ["--threads", "1", "--workers", "1", "--shutdown-grace", "2", "--models", mdir])
    copies = 60 if not ctx.asan else 20
    big_model(ctx, os.path.join(inc, "model.json.new"), copies)
    if not d.wait_ready():
        check(False, "slow-reload daemon starts", d.stderr())
        return
    os.rename(os.path.join(inc, "model.json.new"), os.path.join(inc, "model.json"))
    res = {}

    def waiting_admin():
        t = time.monotonic()
        try:
            st, _, r = jpost(d, "/admin/models/income/reload", {}, timeout=60)
            res.update(st=st, r=r)
        except (OSError, http.client.HTTPException) as e:
            res["exc"] = repr(e)
        res["t"] = time.monotonic()

    t = threading.Thread(target=waiting_admin)
    t.start()
    time.sleep(0.5)
    d.signal(signal.SIGHUP)  # joins the reload under way (pending), as a storm would
    time.sleep(0.2)
    st, _, _ = d.request("GET", "/v2/health/ready")
    check(st == 200 and t.is_alive(), "during a long reload readiness stays true and the admin client waits",
          "%s %s" % (st, res))
    t_term = time.monotonic()

    def admin_answered():
        t.join(5 * ctx.slow)
        el = res.get("t", time.monotonic()) - t_term
        check(res.get("st") == 503 and "shutting down" in res.get("r", {}).get("error", "") and el < 1.5,
              "the admin client waiting on the reload gets 503 at SIGTERM", "%s after %.2fs" % (res, el))

    sigterm_checks(ctx, d, "long reload under way", 2, extra=admin_answered)
    out = d.stdout()
    check("reload still running" in out and "abandoned" in out,
          "the daemon exited while the load was still running (it was not waited for)", out[-1500:])


# ---------------------------------------------------------------- SIGHUP storms

def sighup_storm(d, n, spread_s):
    pid = d.proc.pid
    t0 = time.monotonic()
    for i in range(n):
        os.kill(pid, signal.SIGHUP)
        if spread_s:
            delay = t0 + spread_s * (i + 1) / n - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def settle_reloads(d, timeout, lines_before=None, quiet=0.5):
    """Waits for a 'reload finished' line after LINES_BEFORE of them (when given), then until
    the reload counters stop moving for QUIET seconds (longer than a load, to be sure none is
    still running); returns them."""
    end = time.monotonic() + timeout
    while lines_before is not None and d.stdout().count("reload finished") <= lines_before and time.monotonic() < end:
        time.sleep(0.02)
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        cur = reload_counts(d)
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since > quiet:
            break
        time.sleep(0.05)
    return last


def reload_seconds(d):
    """The durations of the reloads the log reports (model reloaded ... seconds=S)."""
    out = []
    for line in d.stdout().splitlines():
        if 'msg="model reloaded"' in line and "seconds=" in line:
            out.append(float(line.rsplit("seconds=", 1)[1].split()[0]))
    return out


def test_sighup_storm(ctx):
    mdir, _ = model_dir(ctx, "storm-models")
    d = Daemon(ctx, "storm", ["--threads", "1", "--workers", "1", "--shutdown-grace", "5", "--models", mdir])
    if not d.wait_ready():
        check(False, "storm daemon starts", d.stderr())
        return
    # As fast as os.kill goes: the kernel merges most of them before grove sees them.
    before = reload_counts(d)
    sighup_storm(d, 1000, 0)
    after = settle_reloads(d, 60 * ctx.slow, 0)
    note("1000 SIGHUPs at once: %d reloads" % (after[0] - before[0]))
    check(1 <= after[0] - before[0] <= 3 and after[1] == before[1],
          "1000 SIGHUPs at once: at most 3 reloads", "reloads %s -> %s" % (before, after))
    # The shape: 1000 SIGHUPs spread over a while, each one seen by grove. Coalesced,
    # reloads run back to back (one running, at most one pending), so their number is about
    # the storm's length over a reload's duration; one reload per SIGHUP would be 1000.
    before, lines_before = after, d.stdout().count("reload finished")
    spread = 1.0 * ctx.slow
    t0 = time.monotonic()
    sighup_storm(d, 1000, spread)
    st, _, r = jpost(d, "/v1/models/income/predict", {"records": ctx.records}, timeout=10)
    ready, _, _ = d.request("GET", "/v2/health/ready")
    check(st == 200 and ready == 200 and time.monotonic() - t0 < spread + 3 * ctx.slow,
          "during a SIGHUP storm predictions are answered and readiness stays true", "%s %s" % (st, ready))
    after = settle_reloads(d, 60 * ctx.slow, lines_before)
    span = time.monotonic() - t0
    secs = reload_seconds(d)
    mean = sum(secs) / len(secs) if secs else 1.0
    bound = int(span / mean * 1.5) + 3
    grew, lines = after[0] - before[0], d.stdout().count("reload finished") - lines_before
    note("1000 SIGHUPs over %.1f s: %d reloads (mean %.3f s each, bound %d), %d 'reload finished' lines"
         % (spread, grew, mean, bound, lines))
    check(1 <= grew <= bound and after[1] == before[1],
          "1000 SIGHUPs over %.0f s: coalesced (reloads back to back, not one per SIGHUP)" % spread,
          "%d reloads, bound %d" % (grew, bound))
    check(1 <= lines <= grew + 2, "one 'reload finished' line per reload of every model, not per SIGHUP",
          "%d lines for %d reloads" % (lines, grew))
    # 40 POST reloads at once: per-model coalescing, and each answer says which load it got.
    # First no load of the storm may still run (under ASan one outlasts a short quiet spell).
    before = settle_reloads(d, 30 * ctx.slow, quiet=3 * mean + 0.5)
    answers, barrier = [], threading.Barrier(40)

    def post():
        c = d.conn(30)
        barrier.wait()
        try:
            answers.append(jpost(d, "/admin/models/income/reload", {}, conn=c, timeout=30))
        except (OSError, http.client.HTTPException) as e:
            answers.append((repr(e), {}, {}))
        c.close()

    ts = [threading.Thread(target=post) for _ in range(40)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    after = settle_reloads(d, 30 * ctx.slow)
    bodies = [a[2] for a in answers if a[0] == 200]
    loads = sorted({b.get("reload") for b in bodies})
    note("40 POST reloads at once: %d reloads; answers name loads %s, %d coalesced"
         % (after[0] - before[0], loads, sum(1 for b in bodies if b.get("coalesced"))))
    check(len(bodies) == 40 and all(b.get("reloaded") is True for b in bodies),
          "40 concurrent POST reloads: every one answered 200", [a[0] for a in answers])
    check(1 <= after[0] - before[0] <= 3, "40 concurrent POST reloads: coalesced into at most 3 loads",
          "%s -> %s" % (before, after))
    check(len(loads) == after[0] - before[0] and sum(1 for b in bodies if b.get("coalesced")) >= 40 - len(loads),
          "each answer names the load that answered it, and says when it was coalesced into one asked for earlier",
          bodies[:5])
    # And SIGTERM right after such a storm.
    sighup_storm(d, 1000, spread)
    sigterm_checks(ctx, d, "right after 1000 SIGHUPs over %.0f s" % spread, 5)


# ---------------------------------------------------------------- /admin trust

def admin(d, method="GET", path="/admin/config", headers=None, source=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10 * d.ctx.slow,
                                   source_address=(source, 0) if source else None)
    try:
        return d.request(method, path, body=body, headers=headers, conn=c)
    finally:
        c.close()


def err_of(body):
    return th.parse_json(body).get("error", "")


def test_admin_no_token(ctx, d):
    st, h, _ = admin(d)
    check(st == 200, "no token, a direct loopback client: /admin/config 200", st)
    for name, value in (("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=203.0.113.7"),
                        ("X-Real-IP", "203.0.113.7"), ("Via", "1.1 nginx")):
        st, _, b = admin(d, headers={name: value})
        check(st == 403 and "proxy" in err_of(b) and "--admin-token" in err_of(b),
              "no token, a request relayed with %s: 403 saying to set --admin-token" % name, "%s %s" % (st, b[:300]))
    st, _, b = admin(d, "POST", "/admin/models/income/reload", {"X-Forwarded-For": "203.0.113.7"}, body="{}")
    check(st == 403, "no token, a relayed reload: 403", st)
    st, _, b = admin(d, headers={"Host": "attacker.example:%d" % d.port})
    check(st == 403 and "Host" in err_of(b), "no token, a non-loopback Host (DNS rebinding): 403", "%s %s" % (st, b[:300]))
    st, _, b = admin(d, "POST", "/admin/models/income/reload", {"Origin": "http://attacker.example"}, body="{}")
    check(st == 403 and "cross-site" in err_of(b), "no token, a cross-site browser POST (Origin): 403", "%s %s" % (st, b[:300]))
    st, _, b = admin(d, "POST", "/admin/models/income/reload", {"Sec-Fetch-Site": "cross-site"}, body="{}")
    check(st == 403, "no token, Sec-Fetch-Site: cross-site: 403", st)
    same = {"Origin": "http://127.0.0.1:%d" % d.port, "Sec-Fetch-Site": "same-origin",
            "Referer": "http://127.0.0.1:%d/admin.html" % d.port}
    st, _, b = admin(d, "POST", "/admin/models/income/reload", same, body="{}")
    check(st == 200 and th.parse_json(b).get("reloaded") is True,
          "no token, the dashboard's own same-origin POST from this machine: reload 200", "%s %s" % (st, b[:300]))
    st, _, b = admin(d, headers={"Host": "localhost:%d" % d.port})
    check(st == 200, "no token, Host localhost: 200", st)


def test_admin_token(ctx):
    d = Daemon(ctx, "token", ["--threads", "2", "--workers", "1", "--admin-token", "s3cret-token",
                              "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        check(False, "token daemon starts", d.stderr())
        return
    path = "/admin/models/income/reload"
    for scheme in ("bearer", "BEARER", "Bearer"):
        st, _, b = admin(d, "POST", path, {"Authorization": scheme + " s3cret-token"}, body="{}")
        check(st == 200, "the auth scheme in any case: '%s TOKEN' -> 200" % scheme, "%s %s" % (st, b[:200]))
    st, h, b = admin(d, "POST", path, body="{}", source="127.0.0.3")
    check(st == 401 and "token" in err_of(b) and "bearer" in h.get("www-authenticate", "").lower(),
          "no credentials: 401 with WWW-Authenticate: Bearer", "%s %s %s" % (st, h, b[:200]))
    for _ in range(8):  # requests without credentials guess nothing: never blocked
        admin(d, body="{}", source="127.0.0.3")
    st, _, _ = admin(d, headers={"Authorization": "Bearer s3cret-token"}, source="127.0.0.3")
    check(st == 200, "requests without credentials are not counted against the address", st)
    statuses = []
    for i in range(5):
        st, _, _ = admin(d, headers={"Authorization": "Bearer wrong-%d" % i}, source="127.0.0.2")
        statuses.append(st)
    st, h, b = admin(d, headers={"Authorization": "Bearer wrong-x"}, source="127.0.0.2")
    statuses.append(st)
    retry = h.get("retry-after", "")
    check(statuses[:5] == [401] * 5 and st == 429 and retry.isdigit() and int(retry) > 0,
          "5 wrong tokens from one address: 401s, then 429 with Retry-After", "%s retry-after=%r %s" % (statuses, retry, b[:200]))
    st, _, _ = admin(d, headers={"Authorization": "Bearer s3cret-token"}, source="127.0.0.2")
    check(st == 429, "while refused, even the right token gets 429 (no more guesses)", st)
    st, _, _ = admin(d, headers={"Authorization": "Bearer s3cret-token"}, source="127.0.0.1")
    check(st == 200, "another address is not refused", st)
    for i, bad in enumerate(("Bearer s3cret-tokenX", "Bearer s3cret-toke", "Basic s3cret-token",
                             "Bearers3cret-token", "Bearer", "s3cret-token", "Bearer S3CRET-TOKEN")):
        st, _, _ = admin(d, headers={"Authorization": bad}, source="127.0.1.%d" % (i + 1))
        check(st == 401, "a wrong credential is 401: %r" % bad, st)
    d.check_exit(0)


def test_nul_names(ctx, d):
    before = reload_counts(d)
    for raw in ("income%00", "income%00.json", "income%0a", "%00income"):
        st, _, b = admin(d, "POST", "/admin/models/%s/reload" % raw, body="{}")
        check(st in (400, 404) and "error" in th.parse_json(b), "POST /admin/models/%s/reload: 400/404 JSON" % raw,
              "%s %s" % (st, b[:200]))
    time.sleep(0.3)
    check(reload_counts(d) == before, "no model was reloaded by a name with a control byte",
          "%s -> %s" % (before, reload_counts(d)))


# ---------------------------------------------------------------- static files

def ui_copy(ctx):
    ui = os.path.join(ctx.tmp, "ui")
    shutil.copytree(os.path.join(ctx.root, "ui"), ui, symlinks=True)
    os.symlink("/etc", os.path.join(ui, "etc-link"))
    outside = os.path.join(ctx.tmp, "outside-secret.txt")
    with open(outside, "w") as f:
        f.write("TOP-SECRET-OUTSIDE\n")
    os.symlink(outside, os.path.join(ui, "secret.txt"))
    with open(os.path.join(ui, ".env"), "w") as f:
        f.write("TOP-SECRET-DOTFILE\n")
    os.makedirs(os.path.join(ui, ".git"))
    with open(os.path.join(ui, ".git", "config"), "w") as f:
        f.write("TOP-SECRET-GIT\n")
    with open(os.path.join(ui, "vendor", ".hidden.js"), "w") as f:
        f.write("TOP-SECRET-NESTED\n")
    os.mkfifo(os.path.join(ui, "pipe.js"))
    return ui


def h2_get(d, path):
    """(status, headers dict) of GET PATH over h2c with prior knowledge, or None without h2."""
    try:
        import h2.config
        import h2.connection
        import h2.events
    except ImportError:
        return None
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5 * d.ctx.slow)
    try:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"),
                              (":authority", "127.0.0.1:%d" % d.port)], end_stream=True)
        s.sendall(conn.data_to_send())
        headers, body = None, b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    return int(headers.get(":status", 0)) if headers else 0, headers or {}, body
            s.sendall(conn.data_to_send())
        return 0, headers or {}, body
    finally:
        s.close()


def test_static(ctx):
    ui = ui_copy(ctx)
    d = Daemon(ctx, "static", ["--threads", "1", "--workers", "1", "--ui", ui,  # the last --ui wins
                               "--models", os.path.join(ctx.root, "models")])
    if not d.wait_ready():
        check(False, "static daemon starts", d.stderr())
        return
    st, h, b = d.request("GET", "/")
    check(st == 200 and b"<html" in b.lower() and h.get("content-type", "").startswith("text/html"),
          "GET / is index.html, text/html", "%s %s" % (st, h))
    check(h.get("x-content-type-options") == "nosniff", "static answers carry X-Content-Type-Options: nosniff", h)
    etag = h.get("etag")
    st2, h2, b2 = d.request("GET", "/", headers={"If-None-Match": etag or "x"})
    check(etag and st2 == 304 and b2 == b"", "ETag: a matching If-None-Match gets 304 with no body", "%s %s" % (etag, st2))
    for path, ctype in (("/app.js", "text/javascript"), ("/style.css", "text/css"), ("/admin.html", "text/html")):
        st, h, _ = d.request("GET", path)
        check(st == 200 and h.get("content-type", "").startswith(ctype), "%s: 200 %s" % (path, ctype),
              "%s %s" % (st, h.get("content-type")))
    secrets = (b"root:", b"TOP-SECRET")
    for path in ("/etc-link/passwd", "/etc-link/hostname", "/secret.txt", "/.env", "/.git/config",
                 "/vendor/.hidden.js", "/%2e%2e/outside-secret.txt", "/vendor/../../outside-secret.txt",
                 "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/etc-link/"):
        st, h, b = d.request("GET", path)
        check(st == 404 and not any(s in b for s in secrets) and h.get("x-content-type-options") == "nosniff",
              "GET %s: 404 (links out of the UI, dotfiles, traversal), nosniff" % path, "%s %s" % (st, b[:200]))
    t0 = time.monotonic()
    st, _, _ = d.request("GET", "/pipe.js", timeout=5)
    check(st == 404 and time.monotonic() - t0 < 2 * ctx.slow, "a FIFO in the UI directory: 404 at once", st)
    for path in ("/index.html%00.txt", "/admin.js%00", "/app.js%00.html", "/index.html%0a"):
        st, h, b = d.request("GET", path)
        check(st in (400, 404) and h.get("x-content-type-options") == "nosniff",
              "GET %s: not served (400/404)" % path, "%s %s %s" % (st, h.get("content-type"), b[:100]))
    st, h, _ = d.request("GET", "/admin")
    check(st == 302 and h.get("location") == "/admin.html" and h.get("x-content-type-options") == "nosniff",
          "GET /admin: 302 to /admin.html with nosniff", "%s %s" % (st, h))
    st, h, _ = d.request("GET", "/v1/models")
    check(h.get("x-content-type-options") == "nosniff", "API answers carry nosniff too", h)
    r = h2_get(d, "/index.html%00.txt")
    if r is None:
        skip("HTTP/2: %00 paths and nosniff", "python3-h2 not installed")
    else:
        st, h, _ = r
        check(st in (400, 404), "HTTP/2 GET /index.html%00.txt: not served", "%s %s" % (st, h))
        st, h, b = h2_get(d, "/etc-link/passwd")
        check(st == 404 and b"root:" not in b, "HTTP/2 GET /etc-link/passwd: 404", st)
        st, h, _ = h2_get(d, "/app.js")
        check(st == 200 and h.get("x-content-type-options") == "nosniff", "HTTP/2 GET /app.js: 200 with nosniff",
              "%s %s" % (st, h))
    d.check_exit(0)

    missing = Daemon(ctx, "no-ui", ["--threads", "1", "--workers", "1", "--ui", os.path.join(ctx.tmp, "no-such-ui"),
                                    "--models", os.path.join(ctx.root, "models")])
    if not missing.wait_ready():
        check(False, "a daemon with a missing --ui directory starts", missing.stderr())
        return
    out = missing.stdout()
    check("level=warn" in out and "UI directory" in out and "no-such-ui" in out,
          "a missing --ui directory is a warning at start-up", out[-800:])
    st, _, b = missing.request("GET", "/")
    check(st == 404 and b"UI is missing" in b, "without the UI, / says it is missing", "%s %s" % (st, b[:200]))
    missing.check_exit(0)


# ---------------------------------------------------------------- main

def sections(ctx, main_d):
    """The sections, all of them or the comma-separated GROVE_HOSTILE_ONLY (for debugging)."""
    every = [
        ("fifo", lambda: test_fifo(ctx)),
        ("lease", lambda: test_lease(ctx)),
        ("slow reload", lambda: test_slow_reload(ctx)),
        ("sighup storm", lambda: test_sighup_storm(ctx)),
        ("admin without token", lambda: test_admin_no_token(ctx, main_d)),
        ("admin token", lambda: test_admin_token(ctx)),
        ("nul names", lambda: test_nul_names(ctx, main_d)),
        ("static", lambda: test_static(ctx)),
    ]
    only = os.environ.get("GROVE_HOSTILE_ONLY")
    return [s for s in every if not only or s[0] in only.split(",")]


def main():
    th.run_suite("grove-hostile-server-", "main", ["--threads", "2", "--workers", "1"], sections)


if __name__ == "__main__":
    main()
    sys.exit(1 if th.failed else 0)
