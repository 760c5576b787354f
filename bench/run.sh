#!/usr/bin/env bash
# grove's daemon against the tutorial's stack (Flask + gunicorn -w 2 + a pickled sklearn
# GradientBoostingClassifier), side by side, on loopback. One command, about 8 minutes:
#
#   bash bench/run.sh            # print the summary (raw JSON lines kept in $BENCH_OUT)
#   bash bench/run.sh --write    # and replace the generated section of bench/RESULTS.md
#
# Environment: BENCH_DURATION (s per measurement, default 10, of which BENCH_WARMUP=1 is
# not counted), BENCH_PORT (first of 5 loopback ports, default 18700), BENCH_OUT (directory
# for results.jsonl and summary.md, default a temporary directory that is kept), BENCH_BUILD
# (meson build directory, default build).
# Every server listens on 127.0.0.1 only and is stopped on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-1}
PORT0=${BENCH_PORT:-18700}
BUILD=${BENCH_BUILD:-build}
WRITE=0
[[ ${1:-} == --write ]] && WRITE=1
OUT=${BENCH_OUT:-$(mktemp -d /tmp/grove-bench.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/grove-bench-work.XXXXXX)
RES=$OUT/results.jsonl
: > "$RES"
T0=$(date +%s)
PIDS=()

log() { printf '[%4ss] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- what is needed ----------------------------------------------------------------------
if ! command -v gunicorn >/dev/null || ! $PY -c 'import flask' 2>/dev/null; then
  log "installing python3-flask gunicorn (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-flask gunicorn >/dev/null
fi
if ! command -v h2load >/dev/null; then
  log "installing nghttp2-client (apt, for h2load)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nghttp2-client >/dev/null
fi
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
fi
$PY -c 'import sklearn, pandas, numpy, msgpack' || { echo "need $PY with sklearn, pandas, numpy, msgpack" >&2; exit 1; }

log "building grove (ninja -C $BUILD)"
[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" --werror >/dev/null
ninja -C "$BUILD" >/dev/null
LOADGEN=$BUILD/bench/loadgen
if [[ ! -x $LOADGEN ]]; then   # not wired into the meson build: build it by hand
  cc -O2 -std=gnu11 -o "$WORK/loadgen" bench/loadgen.c $(pkg-config --cflags --libs libuv)
  LOADGEN=$WORK/loadgen
fi

for p in 0 1 2 3 4; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$((PORT0 + p))/"; then
    echo "port $((PORT0 + p)) is in use; set BENCH_PORT" >&2; exit 1
  fi
done

# Other work on the machine skews every figure: wait (at most BENCH_QUIET_WAIT s, default
# 90) until the CPUs are under 15% busy for 2 s, then go on either way (measure.py records
# the CPU other processes used during each measurement; the summary flags noisy ones).
busy_pct() { $PY -c 'import time
def b():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4], sum(v[:8])
b0, t0 = b(); time.sleep(2); b1, t1 = b()
print(int(100 * (b1 - b0) / max(1, t1 - t0)))'; }
QUIET_DEADLINE=$(( $(date +%s) + ${BENCH_QUIET_WAIT:-90} ))
while :; do
  BUSY=$(busy_pct)
  (( BUSY < 15 )) && break
  if (( $(date +%s) >= QUIET_DEADLINE )); then log "machine still ${BUSY}% busy with other work: measuring anyway"; break; fi
  log "machine ${BUSY}% busy with other work, waiting"
done

log "training the baseline (pickle in $WORK) and writing request bodies"
$PY bench/baseline/train_baseline.py --out "$WORK" >&2
$PY bench/make_bodies.py --out "$WORK" >&2
# h2load -d and wrk send one fixed body: the first record of each single-row file
$PY -c 'import struct,sys
for src, dst in (("json1_grove.bin", "json1.json"), ("mp1_grove.bin", "mp1.msgpack"),
                 ("json1_base.bin", "json1_base.json")):
    b = open(sys.argv[1] + "/" + src, "rb").read()
    open(sys.argv[1] + "/" + dst, "wb").write(b[4:4 + struct.unpack_from("<I", b)[0]])' "$WORK"

# ---- servers -----------------------------------------------------------------------------
wait_up() {  # URL PID
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server for $1 died" >&2; return 1; }
    sleep 0.1
  done
  echo "server for $1 did not come up" >&2; return 1
}

P_BASE=$PORT0 P_G1=$((PORT0 + 1)) P_GD=$((PORT0 + 2)) P_GNB=$((PORT0 + 3)) P_BSK=$((PORT0 + 4))
(cd bench/baseline && exec env BASELINE_MODEL="$WORK/model.pkl" gunicorn -w 2 -b "127.0.0.1:$P_BASE" \
  --log-level warning app:app) > "$OUT/gunicorn.log" 2>&1 &
PID_BASE=$!; PIDS+=("$PID_BASE")
# The same app serving the bundled models/income-sklearn/model.pkl, the very model grove
# serves as income-sklearn (converted by models/convert_sklearn.py).
(cd bench/baseline && exec env BASELINE_MODEL="$ROOT/models/income-sklearn/model.pkl" gunicorn -w 2 \
  -b "127.0.0.1:$P_BSK" --log-level warning app:app) > "$OUT/gunicorn-income-sklearn.log" 2>&1 &
PID_BSK=$!; PIDS+=("$PID_BSK")
"$BUILD"/grove serve --models models --host 127.0.0.1 --port "$P_G1" --threads 1 --workers 1 > "$OUT/grove-t1.log" 2>&1 &
PID_G1=$!; PIDS+=("$PID_G1")
"$BUILD"/grove serve --models models --host 127.0.0.1 --port "$P_GD" > "$OUT/grove-default.log" 2>&1 &
PID_GD=$!; PIDS+=("$PID_GD")
"$BUILD"/grove serve --models models --host 127.0.0.1 --port "$P_GNB" --max-batch-rows 1 > "$OUT/grove-nobatch.log" 2>&1 &
PID_GNB=$!; PIDS+=("$PID_GNB")
wait_up "http://127.0.0.1:$P_G1/v2/health/ready" "$PID_G1"
wait_up "http://127.0.0.1:$P_GD/v2/health/ready" "$PID_GD"
wait_up "http://127.0.0.1:$P_GNB/v2/health/ready" "$PID_GNB"
curl -s -o /dev/null --retry 50 --retry-connrefused --retry-delay 0 --max-time 10 \
  -H 'Content-Type: application/json' -d '{"rows": [[27, 0, 8, 2, 0, 0, 2, 1, 0, 0, 45, 39]]}' \
  "http://127.0.0.1:$P_BASE/predict"
# Both stacks must give the same answer for the same body before their speeds are compared.
SAME_BODY='{"rows": [[27, 0, 8, 2, 0, 0, 2, 1, 0, 0, 45, 39]]}'
A=$(curl -s --retry 50 --retry-connrefused --retry-delay 0 --max-time 10 -H 'Content-Type: application/json' \
  -d "$SAME_BODY" "http://127.0.0.1:$P_BSK/predict")
B=$(curl -s --max-time 10 -d "$SAME_BODY" "http://127.0.0.1:$P_GD/v1/models/income-sklearn/predict")
$PY -c 'import json,sys; a=json.loads(sys.argv[1])["predictions"]; b=json.loads(sys.argv[2])["predictions"]
assert len(a) == len(b) == 1 and abs(a[0] - b[0]) <= 1e-5, (a, b)' "$A" "$B" ||
  { echo "income-sklearn: Flask says $A, grove says $B" >&2; exit 1; }
GD_LINE=$(grep -m1 'grove starting' "$OUT/grove-default.log")
NCPU=$(nproc)
GD_IO=$(sed -n 's/.*io_threads=\([0-9]*\).*/\1/p' <<<"$GD_LINE"); GD_W=$(sed -n 's/.* workers=\([0-9]*\).*/\1/p' <<<"$GD_LINE")
log "servers up: gunicorn :$P_BASE, grove t1 :$P_G1, grove default (io=$GD_IO workers=$GD_W) :$P_GD, grove --max-batch-rows 1 :$P_GNB"

# ---- measurements ------------------------------------------------------------------------
J=application/json M=application/msgpack
# run SERVER LABEL LOADGEN-ARGS...   (SERVER: base | g1 | gd | gnb | bsk)
# run_h2 SERVER LABEL H2LOAD_RUN-ARGS...: the same over HTTP/2, h2load as the client
# run --wrk SERVER LABEL WRK_RUN-ARGS...: the same with wrk as the client
run() {
  local lg=("$LOADGEN")
  [[ $1 == --h2 ]] && { lg=("$PY" bench/h2load_run.py); shift; }
  [[ $1 == --wrk ]] && { lg=("$PY" bench/wrk_run.py); shift; }
  local srv=$1 label=$2; shift 2
  local port pid kind=grove w=0 io=0 config
  case $srv in
    base) port=$P_BASE pid=$PID_BASE kind=gunicorn config="gunicorn -w 2 (sync)" ;;
    g1)   port=$P_G1 pid=$PID_G1 w=1 io=1 config="grove --threads 1 --workers 1" ;;
    gd)   port=$P_GD pid=$PID_GD w=$GD_W io=$GD_IO config="grove default (threads $GD_IO, workers $GD_W)" ;;
    gnb)  port=$P_GNB pid=$PID_GNB w=$GD_W io=$GD_IO config="grove default, --max-batch-rows 1" ;;
    bsk)  port=$P_BSK pid=$PID_BSK kind=gunicorn config="gunicorn -w 2 (sync), models/income-sklearn/model.pkl" ;;
  esac
  local line
  line=$($PY bench/measure.py --pid "$pid" --kind "$kind" --workers "$w" --io "$io" \
         --tag "server=$srv" --tag "config=$config" -- \
         "${lg[@]}" --port "$port" --label "$label" -d "$DUR" -w "$WARM" "$@")
  echo "$line" >> "$RES"
  $PY -c 'import json,sys; r=json.loads(sys.argv[1]); print("  %-22s %-4s %-6s %10.0f req/s %12.0f rows/s  p50 %8.2f  p99 %8.2f  p99.9 %8.2f ms  err %d/%d/%d" % (r["label"], r["server"], r.get("protocol", r["mode"]), r["req_per_s"], r["rows_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["non2xx"], r["errors"], r["incomplete"]))' "$line" >&2
}
run_h2() { run --h2 "$@"; }
get() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["label"] == sys.argv[2] and r["server"] == sys.argv[3]: print(r[sys.argv[4]])' "$RES" "$2" "$1" "$3" | tail -1; }

log "1. single-row JSON, closed loop, 64 connections"
run base json1-closed64 --body "$WORK/json1_base.bin" --multi -c 64
run g1   json1-closed64 --body "$WORK/json1_grove.bin" --multi -c 64
run gd   json1-closed64 --body "$WORK/json1_grove.bin" --multi -c 64

log "1b. the same with wrk (2 threads, 64 connections, one static body: each file's first record)"
run --wrk base json1-wrk64 --body "$WORK/json1_base.json"
run --wrk g1   json1-wrk64 --body "$WORK/json1.json"
run --wrk gd   json1-wrk64 --body "$WORK/json1.json"

BASE_RPS=$(get base json1-closed64 req_per_s)
R_BASE=$($PY -c "print(round(0.8 * $BASE_RPS))")
R_TGT=$($PY -c "print(round(30 * $BASE_RPS))")
R_G1=$($PY -c "print(round(0.5 * $(get g1 json1-closed64 req_per_s)))")
R_GD=$($PY -c "print(round(0.5 * $(get gd json1-closed64 req_per_s)))")
log "2. single-row JSON, open loop (64 connections): baseline at 80% of its capacity ($R_BASE/s); grove at 30x the baseline ($R_TGT/s) and at 50% of its own capacity"
run base json1-open-80pct --body "$WORK/json1_base.bin" --multi -c 64 -R "$R_BASE"
run g1   json1-open-30x   --body "$WORK/json1_grove.bin" --multi -c 64 -R "$R_TGT"
run g1   json1-open-50pct --body "$WORK/json1_grove.bin" --multi -c 64 -R "$R_G1"
run gd   json1-open-30x   --body "$WORK/json1_grove.bin" --multi -c 64 -R "$R_TGT"
run gd   json1-open-50pct --body "$WORK/json1_grove.bin" --multi -c 64 -R "$R_GD"

log "3. single-row msgpack to grove, closed loop, 64 connections"
run g1 mp1-closed64 --body "$WORK/mp1_grove.bin" --multi --content-type $M -c 64
run gd mp1-closed64 --body "$WORK/mp1_grove.bin" --multi --content-type $M -c 64

log "4. 1000-row JSON, closed loop, 8 connections"
run base json1000-closed8 --body "$WORK/json1000_base.bin" --multi -c 8 -r 1000
run g1   json1000-closed8 --body "$WORK/json1000_grove.bin" --multi -c 8 -r 1000
run gd   json1000-closed8 --body "$WORK/json1000_grove.bin" --multi -c 8 -r 1000

log "5. 1024-row msgpack bin batches, closed loop, 8 connections, and the engine alone"
run g1 mp1024-closed8 --body "$WORK/mp1024_grove.bin" --multi --content-type $M -c 8 -r 1024
run gd mp1024-closed8 --body "$WORK/mp1024_grove.bin" --multi --content-type $M -c 8 -r 1024
for t in 1 "$GD_W"; do
  "$BUILD"/grove bench models/income --batch 1024 --threads "$t" --min-time 3000 |
    $PY -c 'import json,sys; r=json.loads(sys.stdin.read()); r["label"]="engine-bench-1024"; r["server"]="engine"; r["threads"]=int(sys.argv[1]); print(json.dumps(r))' "$t" >> "$RES"
  # the same held-out rows the daemon was sent, engine time only (best of 5 runs)
  for _ in 1 2 3 4 5; do
    "$BUILD"/grove predict models/income/model.json --input "$WORK/heldout.csv" --output /dev/null --threads "$t" --stats 2>&1 >/dev/null | tail -1
  done | $PY -c 'import json,sys; rs=[json.loads(l) for l in sys.stdin if l.startswith("{")]; r=min(rs, key=lambda r: r["predict_s"]); r["rows_per_s"]=r["rows"]/r["predict_s"]; r["label"]="engine-predict-heldout"; r["server"]="engine"; r["threads"]=int(sys.argv[1]); print(json.dumps(r))' "$t" >> "$RES"
done
tail -4 "$RES" | $PY -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); print("  %-22s threads %d %12.0f rows/s" % (r["label"], r["threads"], r["rows_per_s"]))' >&2

log "6. micro-batching: grove default vs --max-batch-rows 1, single-row JSON, closed loop"
for c in 1 16 64 256; do
  run gd  batch-on-c$c  --body "$WORK/json1_grove.bin" --multi -c "$c"
  run gnb batch-off-c$c --body "$WORK/json1_grove.bin" --multi -c "$c"
done

log "7. the same model: Flask + gunicorn on models/income-sklearn/model.pkl vs grove's income-sklearn, the same single-row JSON bodies, closed loop, 64 connections"
SK_PATH=/v1/models/income-sklearn/predict
run bsk same-json1-closed64 --body "$WORK/json1_base.bin" --multi -c 64
run g1  same-json1-closed64 --body "$WORK/json1_base.bin" --multi -c 64 --path "$SK_PATH"
run gd  same-json1-closed64 --body "$WORK/json1_base.bin" --multi -c 64 --path "$SK_PATH"

log "8. HTTP/2 (h2c, prior knowledge): single-row JSON and msgpack, h2load closed loop, 16 connections x 8 streams and 64 x 16"
for srv in g1 gd; do
  for cm in 16x8 64x16; do
    c=${cm%x*} m=${cm#*x}
    run_h2 "$srv" "h2-json1-c${c}m$m" --body "$WORK/json1.json" -c "$c" -m "$m"
    run_h2 "$srv" "h2-mp1-c${c}m$m"   --body "$WORK/mp1.msgpack" --content-type $M -c "$c" -m "$m"
  done
done

# ---- summary -----------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - T0 ))
{
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $NCPU CPUs, $(uname -r); grove $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'); $(date -u +%Y-%m-%dT%H:%MZ); run.sh took ${ELAPSED}s, ${DUR}s per measurement (first ${WARM}s not counted)"
} > "$OUT/machine.txt"
$PY bench/report.py "$RES" "$OUT/machine.txt" > "$OUT/summary.md"
cat "$OUT/summary.md"
if [[ $WRITE == 1 ]]; then
  $PY - "$OUT/summary.md" bench/RESULTS.md <<'PYEOF'
import sys
summary, path = open(sys.argv[1]).read(), sys.argv[2]
text = open(path).read()
b, e = "<!-- run.sh:begin -->", "<!-- run.sh:end -->"
i, j = text.index(b) + len(b), text.index(e)
open(path, "w").write(text[:i] + "\n" + summary.rstrip() + "\n" + text[j:])
PYEOF
  log "wrote the generated section of bench/RESULTS.md"
fi
log "raw results: $RES"
