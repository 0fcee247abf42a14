#!/usr/bin/env bash
# Instructions per webhook: the release handler (with line tables) under callgrind, driven by
# wrk with the benchmark's mix (fresh message id per request) against the fake destination.
# Instruction counts do not depend on machine noise, so they compare across runs and commits.
# Startup is measured by a second run with no load and subtracted.
#
#   bash bench/instructions.sh            # Data Collector, 8 connections, 20 s under callgrind
#   API=li CONNECTIONS=64 bash bench/instructions.sh
#
# Leaves the profile in target/prof/callgrind.out (callgrind_annotate --inclusive=yes it).
set -euo pipefail
cd "$(dirname "$0")/.."
API=${API:-dc}
CONNECTIONS=${CONNECTIONS:-8}
SECONDS_UNDER_LOAD=${SECONDS_UNDER_LOAD:-20}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; } >/dev/null
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=false \
  cargo build --quiet --release --target-dir target/prof --bin handler --example bench_server
HANDLER=target/prof/release/handler
SERVER=target/prof/release/examples/bench_server

source bench/common.sh

SECRET=bench-secret
TOKEN=bench-token
python3 bench/bodies.py "$work/bodies.tsv" "$SECRET" "$TOKEN" 20000
export BODIES="$work/bodies.tsv"

destination=$(free_port)
"$SERVER" destination "$destination" >/dev/null 2>&1 & pids+=($!)
wait_ready "http://127.0.0.1:$destination/stats"
settings=$(destination_settings "$API" "$destination")

# Runs the handler under callgrind, with load for $1 seconds (0: none); prints
# "instructions requests".
profiled() {
  local port; port=$(free_port)
  # shellcheck disable=SC2086
  env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" AUDITWOLF_SECRETS="$SECRET" STACKSTATE_TOKENS="$TOKEN" \
    $settings valgrind --tool=callgrind --callgrind-out-file="$work/out.$1" "$HANDLER" > "$work/handler.$1.log" 2>&1 &
  local pid=$!
  wait_ready "http://127.0.0.1:$port/api/health" 60
  local requests=0
  if [ "$1" -gt 0 ]; then
    wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout 30s -s bench/mix.lua "http://127.0.0.1:$port" > "$work/wrk.txt"
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
    if grep -q "Non-2xx" "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; exit 1; fi
  fi
  kill -INT "$pid"; wait "$pid" || true
  echo "$(awk '/^(summary|totals):/ { print $2; exit }' "$work/out.$1") $requests"
}

read -r idle _ <<<"$(profiled 0)"
read -r loaded requests <<<"$(profiled "$SECONDS_UNDER_LOAD")"
cp "$work/out.$SECONDS_UNDER_LOAD" target/prof/callgrind.out
awk -v a="$loaded" -v b="$idle" -v n="$requests" -v api="$API" -v c="$CONNECTIONS" 'BEGIN {
  printf "%s, %d connections: %d webhooks, %.0f instructions per webhook (startup %d subtracted)\n", api, c, n, (a - b) / n, b }'
