#!/usr/bin/env bash
# Load benchmark: the release handler on loopback against a fast fake destination, driven by wrk
# with a signed mix of real fixtures. Every number is reported next to a baseline measured in the
# same run (a bare actix server that only reads the body), because the machines are shared.
#
#   bash bench/run.sh            # 10 s per run, 64 connections, fake destination latency 20 ms
#   DURATION=30 CONNECTIONS=128 DELAY_MS=50 bash bench/run.sh
#
# Only loopback addresses are used; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
DELAY_MS=${DELAY_MS:-20}
GROUP_MS=${GROUP_MS:-5}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null
cargo build --quiet --release --bin handler --example bench_server
HANDLER=target/release/handler
SERVER=target/release/examples/bench_server

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }

# Waits (at most 10 s) until GET $1 answers 200; prints the milliseconds since $2 (ns).
wait_ready() {
  for _ in $(seq 1 10000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; then
      echo $(( ($(now_ns) - $2) / 1000000 )); return 0
    fi
    sleep 0.001
  done
  echo "not ready: $1" >&2; return 1
}

# The request mix: path, extra headers, fixture. AuditWolf is signed the way AuditWolf signs.
SECRET=bench-secret
TOKEN=bench-token
requests=""
add() { # path file headers-lua
  requests+="  { path = \"$1\", headers = { [\"Content-Type\"] = \"application/json\"$3 }, body = [==[$(cat "tests/fixtures/$2")]==] },"$'\n'
}
# Signed over the body as sent ($(cat) drops the file's final newline, so sign the same bytes).
sig=$(printf '%s' "$(cat tests/fixtures/auditwolf-task-create.json)" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)
add /api/skytap skytap-audit.json ""
add /api/skytap skytap-usage.json ""
add /api/auditwolf auditwolf-task-create.json ", [\"x-auditwolf-webhook-sig\"] = \"$sig\""
add /api/azuremonitor azure-common-alert-log.json ""
add /api/azuremonitor azure-common-alert-metric.json ""
add /api/webhook azure-activitylog-administrative.json ""
add /api/stackstate stackstate-open.json ", [\"X-StackState-Webhook-Token\"] = \"$TOKEN\""
add /api/stackstate stackstate-close.json ", [\"X-StackState-Webhook-Token\"] = \"$TOKEN\""
awk -v r="$requests" '{ if ($0 == "@REQUESTS@") printf "%s", r; else print }' bench/mix.lua.in > "$work/mix.lua"

# Runs wrk against $1; prints "rps p50_ms p99_ms non2xx".
load() {
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/mix.lua" "$1" > "$work/wrk.txt"
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad + 0 }' "$work/wrk.txt"
}
rss_mb() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
outbound() { curl -s "http://127.0.0.1:$DEST_PORT/stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'; }

# Baseline: the bare server.
BARE_PORT=$(free_port)
t0=$(now_ns); "$SERVER" bare "$BARE_PORT" & pids+=($!); bare_pid=$!
bare_start=$(wait_ready "http://127.0.0.1:$BARE_PORT/stats" "$t0")
read -r bare_rps bare_p50 bare_p99 _ <<<"$(load "http://127.0.0.1:$BARE_PORT/api/webhook")"
bare_rss=$(rss_mb "$bare_pid")

DEST_PORT=$(free_port)
DELAY_MS=$DELAY_MS "$SERVER" destination "$DEST_PORT" & pids+=($!)
wait_ready "http://127.0.0.1:$DEST_PORT/stats" "$(now_ns)" >/dev/null

# Runs the handler with GROUP_COMMIT_MS=$1; prints "rps p50 p99 non2xx rss_mb startup_ms outbound".
handler_run() {
  local port; port=$(free_port)
  local before; before=$(outbound)
  t0=$(now_ns)
  env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" \
    LOG_ANALYTICS_WORKSPACE_ID=11111111-2222-3333-4444-555555555555 LOG_ANALYTICS_SHARED_KEY=dGVzdA== \
    LOG_ANALYTICS_ENDPOINT="http://127.0.0.1:$DEST_PORT" AUDITWOLF_SECRETS="$SECRET" STACKSTATE_TOKENS="$TOKEN" \
    GROUP_COMMIT_MS="$1" DEDUP_WINDOW_SECONDS=0 RUST_LOG=warn "$HANDLER" > "$work/handler.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  local startup; startup=$(cd "$work" && wait_ready "http://127.0.0.1:$port/api/health" "$t0")
  local result; result=$(load "http://127.0.0.1:$port")
  local rss; rss=$(rss_mb "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$result $rss $startup $(( $(outbound) - before ))"
}

read -r on_rps on_p50 on_p99 on_bad on_rss on_start on_out <<<"$(handler_run "$GROUP_MS")"
read -r off_rps off_p50 off_p99 off_bad off_rss off_start off_out <<<"$(handler_run 0)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
on_webhooks=$(awk -v r="$on_rps" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
off_webhooks=$(awk -v r="$off_rps" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')

cat <<TABLE

wrk -t2 -c$CONNECTIONS -d${DURATION}s, fixture mix of 8 signed webhooks, fake destination latency ${DELAY_MS} ms

| run | req/s | vs bare | p50 ms | p99 ms | non-2xx | peak RSS MB | start-up ms | outbound requests per webhook |
|---|---|---|---|---|---|---|---|---|
| bare actix server (baseline) | $bare_rps | 1.00 | $bare_p50 | $bare_p99 | - | $bare_rss | $bare_start | - |
| handler, group commit $GROUP_MS ms | $on_rps | $(ratio "$on_rps" "$bare_rps") | $on_p50 | $on_p99 | $on_bad | $on_rss | $on_start | $(ratio "$on_out" "$on_webhooks") |
| handler, group commit off | $off_rps | $(ratio "$off_rps" "$bare_rps") | $off_p50 | $off_p99 | $off_bad | $off_rss | $off_start | $(ratio "$off_out" "$off_webhooks") |

group commit on/off: throughput x$(ratio "$on_rps" "$off_rps"), outbound requests x$(ratio "$on_out" "$off_out"), p99 x$(ratio "$on_p99" "$off_p99")
TABLE
