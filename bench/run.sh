#!/usr/bin/env bash
# Koprade benchmark runner: starts each server pinned to CPU 0, drives it with loadgen.mjs pinned
# to CPU 1, appends one JSON line per (server, workload) to bench/results/<timestamp>.jsonl and
# prints a side-by-side table. Reads no stdin; every wait is bounded.
#
#   bench/run.sh                      all servers, all workloads (20 s windows, ~15 min)
#   bench/run.sh --quick              8 s windows (~6 min)
#   bench/run.sh --servers hocuspocus,koprade --workloads one-room
#
# Options:
#   --servers LIST      comma list of koprade, koprade-base, y-websocket-server, hocuspocus,
#                       pycrdt-websocket (koprade-base: another Koprade tree, KOPRADE_BASE_ROOT,
#                       e.g. a checkout of main, for before/after figures in the same run)
#   --workloads LIST    comma list of one-room, many-rooms, join-storm
#   --duration S        measurement window per steady run (default 20; --quick: 8)
#   --warmup S          (default 5; --quick: 3)
#   --drain S           (default 5; --quick: 3)
#   --client-mode M     full | lite for every workload (default: lite for one-room and
#                       join-storm, full for many-rooms; see docs/benchmarks.md)
#   --out FILE          JSONL file to append to (default bench/results/<timestamp>.jsonl)
#   --loadgen-args "…"  extra arguments for loadgen.mjs (e.g. "--deflate")
#   --max-other PCT     this machine may be shared: when other processes used more than PCT %
#                       of a core during the window (default 25), wait 20 s and run that
#                       (server, workload) again, up to --attempts times (default 3)
# Environment: KOPRADE_PYTHON (default <repo>/.venv/bin/python), KOPRADE_ARGS (extra serve args),
#   KOPRADE_BASE_ROOT (the tree koprade-base runs from, with the same KOPRADE_PYTHON).

set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
KOPRADE_PYTHON="${KOPRADE_PYTHON:-$ROOT/.venv/bin/python}"

SERVERS="koprade,y-websocket-server,hocuspocus,pycrdt-websocket"
WORKLOADS="one-room,many-rooms,join-storm"
DURATION=20 WARMUP=5 DRAIN=5
CLIENT_MODE=""
OUT=""
LOADGEN_ARGS=""
MAX_OTHER=25
ATTEMPTS=3

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) DURATION=8 WARMUP=3 DRAIN=3 ;;
    --servers) SERVERS="$2"; shift ;;
    --workloads) WORKLOADS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --drain) DRAIN="$2"; shift ;;
    --client-mode) CLIENT_MODE="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --loadgen-args) LOADGEN_ARGS="$2"; shift ;;
    --max-other) MAX_OTHER="$2"; shift ;;
    --attempts) ATTEMPTS="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ "$(nproc)" -lt 2 ]]; then
  echo "need at least 2 CPUs (server on CPU 0, load generator on CPU 1)" >&2
  exit 2
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$BENCH/results"
mkdir -p "$RESULTS"
OUT="${OUT:-$RESULTS/$STAMP.jsonl}"
LOGDIR="$RESULTS/$STAMP-logs"
mkdir -p "$LOGDIR"
CLK_TCK="$(getconf CLK_TCK)"

# --- dependencies (idempotent; the lockfiles pin every version) -------------------------------
if [[ ! -d "$BENCH/node_modules/yjs" ]]; then
  echo "[run] installing npm dependencies (npm ci)"
  (cd "$BENCH" && timeout 300 npm ci --no-audit --no-fund >"$LOGDIR/npm-ci.log" 2>&1)
fi
if [[ ",$SERVERS," == *",pycrdt-websocket,"* && ! -x "$BENCH/.venv-peers/bin/python" ]]; then
  echo "[run] creating bench/.venv-peers for pycrdt-websocket"
  timeout 60 python3 -m venv "$BENCH/.venv-peers"
  timeout 300 "$BENCH/.venv-peers/bin/pip" install -q -r "$BENCH/peers/requirements.txt" \
    >"$LOGDIR/pip.log" 2>&1
fi

# --- server lifecycle --------------------------------------------------------------------------
SERVER_PID=""
DATA_DIR=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [[ -n "$DATA_DIR" ]]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# start_server NAME PORT LOG -> sets SERVER_PID, URL, STYLE; returns 1 if it did not come up.
start_server() {
  local name="$1" port="$2" log="$3"
  case "$name" in
    koprade|koprade-base)
      local tree="$ROOT"
      if [[ "$name" == koprade-base ]]; then
        tree="${KOPRADE_BASE_ROOT:?koprade-base needs KOPRADE_BASE_ROOT (another Koprade tree)}"
      fi
      DATA_DIR="$(mktemp -d /tmp/koprade-bench.XXXXXX)"
      # `python -m server` from the tree's directory imports that tree's `server` package.
      # shellcheck disable=SC2086  # KOPRADE_ARGS is a list of extra arguments
      (cd "$tree" && exec taskset -c 0 "$KOPRADE_PYTHON" -m server serve --host 127.0.0.1 \
        --port "$port" --data-dir "$DATA_DIR" ${KOPRADE_ARGS:-}) >"$log" 2>&1 &
      STYLE=koprade ;;
    y-websocket-server)
      (cd "$BENCH" && HOST=127.0.0.1 PORT="$port" exec taskset -c 0 node \
        node_modules/@y/websocket-server/src/server.js) >"$log" 2>&1 &
      STYLE=plain ;;
    hocuspocus)
      (cd "$BENCH" && HOST=127.0.0.1 PORT="$port" exec taskset -c 0 node peers/hocuspocus.mjs) >"$log" 2>&1 &
      STYLE=hocuspocus ;;
    pycrdt-websocket)
      (cd "$BENCH" && HOST=127.0.0.1 PORT="$port" exec taskset -c 0 .venv-peers/bin/python \
        peers/pycrdt_ws.py) >"$log" 2>&1 &
      STYLE=plain ;;
    *) echo "unknown server $name" >&2; return 1 ;;
  esac
  SERVER_PID=$!
  URL="ws://127.0.0.1:$port"
  # Ready = Koprade answers GET /healthz with 200; the peers accept a TCP connection. 30 s max.
  for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    if [[ "$name" == koprade* ]]; then
      if curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
    elif timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# run_one SERVER WORKLOAD MODE ATTEMPT -> sets LAST to one JSON line (a result or an error).
run_one() {
  local server="$1" workload="$2" mode="$3" attempt="$4"
  local port log tag rc limit
  port="$(free_port)"
  tag="$server-$workload-$attempt"
  log="$LOGDIR/$tag.server.log"
  echo "[run] === $server / $workload ($mode clients) on port $port, attempt $attempt"
  # A fresh server per run, so peak RSS and CPU belong to that run alone.
  if ! start_server "$server" "$port" "$log"; then
    echo "[run] $server did not become ready; see $log" >&2
    LAST="$(printf '{"server":"%s","workload":"%s","error":"server did not start","date":"%s"}' \
      "$server" "$workload" "$(date -u +%FT%TZ)")"
    stop_server
    return 0
  fi
  # Bounded: the load generator has its own phase timeouts; this is the outer limit.
  limit=$(( WARMUP + DURATION + DRAIN + 300 ))
  set +e
  # shellcheck disable=SC2086  # LOADGEN_ARGS is a list of extra arguments
  timeout "$limit" taskset -c 1 node --max-semi-space-size=64 "$BENCH/loadgen.mjs" \
    --url "$URL" --url-style "$STYLE" --server-name "$server" --workload "$workload" \
    --client-mode "$mode" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
    --server-pid "$SERVER_PID" --clk-tck "$CLK_TCK" $LOADGEN_ARGS \
    >"$LOGDIR/$tag.out" 2> >(tee "$LOGDIR/$tag.loadgen.log" >&2)
  rc=$?
  set -e
  if grep -q '^RESULT ' "$LOGDIR/$tag.out"; then
    LAST="$(grep '^RESULT ' "$LOGDIR/$tag.out" | tail -n 1 | cut -c8-)"
  else
    echo "[run] no result from the load generator (exit $rc)" >&2
    LAST="$(printf '{"server":"%s","workload":"%s","error":"loadgen exit %s","date":"%s"}' \
      "$server" "$workload" "$rc" "$(date -u +%FT%TZ)")"
  fi
  stop_server
}

# --- runs --------------------------------------------------------------------------------------
echo "[run] results -> $OUT (logs in $LOGDIR)"
IFS=, read -r -a server_list <<<"$SERVERS"
IFS=, read -r -a workload_list <<<"$WORKLOADS"

for server in "${server_list[@]}"; do
  for workload in "${workload_list[@]}"; do
    mode="$CLIENT_MODE"
    if [[ -z "$mode" ]]; then
      # One Node process cannot apply ~100k Yjs updates/s for 200 simulated users, nor build
      # a 5,000-card document for 100 joiners at once: those two use lite clients.
      case "$workload" in many-rooms) mode=full ;; *) mode=lite ;; esac
    fi
    for attempt in $(seq 1 "$ATTEMPTS"); do
      run_one "$server" "$workload" "$mode" "$attempt"
      other="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("other_cpu_pct") or 0)' "$LAST" 2>/dev/null || echo 0)"
      if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$other" "$MAX_OTHER"; then
        break
      fi
      if [[ "$attempt" -lt "$ATTEMPTS" ]]; then
        echo "[run] other processes used $other % of a core during the window: noisy, retrying in 20 s" >&2
        sleep 20
      else
        echo "[run] still noisy ($other % of a core) after $ATTEMPTS attempts; keeping the last result" >&2
      fi
    done
    echo "$LAST" >>"$OUT"
  done
done

echo
node "$BENCH/report.mjs" "$OUT"
