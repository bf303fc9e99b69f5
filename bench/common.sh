# Shared by bench/run and bench/scale: the daemon's start, one wrk run per table row.
# Expects DURATION, DAEMON_CPU, LOAD_CPU and ONLY to be set; sets BIN, LUA, WORK.
command -v wrk >/dev/null || { echo "bench: wrk is required (Debian: apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench: taskset is required (util-linux)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is required" >&2; exit 1; }

BIN=${BENCH_BIN:-$PWD/target/release}
LUA=$PWD/bench/lua/check.lua
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 8192
TICK=$(getconf CLK_TCK)
PASSWORD="a-benchmark-password"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# start NAME EXTRA_TOML [DATA_DIR]: starts a daemon (on a fresh data directory unless
# DATA_DIR is given; BENCH_STORAGE adds lines to [storage]) and waits up to a minute
# for it to listen; sets PID, BASE, SOCKET and STARTED_S (seconds from spawn until it
# answered /healthz).
start() {
  local dir=$WORK/$1 data=${3:-$WORK/$1/data}
  mkdir -p "$dir"
  cat >"$dir/tessera.toml" <<TOML
[server]
listen = "127.0.0.1:0"
max_connections = 4096
issuer = "http://bench.test"
[storage]
data_dir = "$data"
${BENCH_STORAGE:-}
[admin]
socket = "$dir/admin.sock"
[throttle]
max_failures = ${BENCH_MAX_FAILURES:-1000}
window = "${BENCH_THROTTLE_WINDOW:-15m}"
$2
TOML
  local spawned
  spawned=$(date +%s.%N)
  taskset -c "$DAEMON_CPU" "$BIN/tesserad" --config "$dir/tessera.toml" 2>"$dir/log" &
  PID=$!
  PIDS+=("$PID")
  BASE=
  for _ in $(seq 6000); do
    [ -z "$BASE" ] && BASE=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$dir/log" | head -1)
    [ -n "$BASE" ] && curl -sf "$BASE/healthz" >/dev/null && break
    sleep 0.01
  done
  [ -n "$BASE" ] || { cat "$dir/log" >&2; echo "bench: tesserad did not start" >&2; exit 1; }
  STARTED_S=$(python3 -c "import time; print(f'{time.time() - $spawned:.2f}')")
  SOCKET=$dir/admin.sock
}

post_json() { curl -sf -H 'content-type: application/json' -d "$2" "$BASE$1"; }

# run NAME CONNECTIONS [VAR=VALUE ...]: one wrk run against $PID; prints a table row.
run() {
  local name=$1 connections=$2
  shift 2
  if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then return; fi
  echo 5 >"/proc/$PID/clear_refs" 2>/dev/null || true # resets the peak RSS
  local before after out
  before=$(cpu_ticks "$PID")
  out=$(env "$@" taskset -c "$LOAD_CPU" wrk -t1 -c"$connections" -d"${DURATION}s" --timeout 30s -s "$LUA" "$BASE" 2>"$WORK/wrk.err") || {
    cat "$WORK/wrk.err" >&2
    exit 1
  }
  after=$(cpu_ticks "$PID")
  local line
  line=$(grep '^WRK_RESULT' <<<"$out")
  python3 - "$name" "$connections" "$((after - before))" "$TICK" "$(rss_kib "$PID" VmHWM)" "$line" <<'PY'
import sys
name, conns, ticks, tick, hwm, line = sys.argv[1:]
r = dict(kv.split("=") for kv in line.split()[1:])
requests, seconds, ok = int(r["requests"]), float(r["seconds"]), int(r["ok"])
cpu_us = int(ticks) * 1e6 / int(tick) / max(requests, 1)
print(f"| {name} | {conns} | {requests / seconds:,.0f} | {ok / seconds:,.0f} | {int(r['bad'])} | {int(r['s503'])} "
      f"| {int(r['p50_us']) / 1000:.2f} | {int(r['p99_us']) / 1000:.2f} | {cpu_us:.1f} | {int(hwm) / 1024:.1f} |")
PY
  [ -s "$WORK/wrk.err" ] && sed 's/^/    /' "$WORK/wrk.err" >&2 || true
}

