#!/usr/bin/env bash
# Paired A/B of two handler builds: runs them in turn, ROUNDS times, at CONNECTIONS connections
# against the fast fake destination with the benchmark's mix, and prints each run and the mean
# CPU per webhook of each. Alternating in one run is what makes a difference of a few percent
# visible on a shared, noisy machine, where runs minutes apart differ by more than that.
#
#   bash bench/ab.sh OLD_BINARY NEW_BINARY            # Data Collector, 64 connections, 4 rounds
#   API=li ROUNDS=6 bash bench/ab.sh old new
#
# Build a binary of another commit with `git worktree add /tmp/old REV` and
# `cargo build --release --bin handler` there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
API=${API:-dc}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null
cargo build --quiet --release --example bench_server
source bench/common.sh
python3 bench/bodies.py "$work/bodies.tsv" bench-secret bench-token $(( DURATION * ROUNDS * 2 * 40000 / 8 ))
export BODIES="$work/bodies.tsv"
destination=$(free_port)
target/release/examples/bench_server destination "$destination" >/dev/null 2>&1 & pids+=($!)
wait_ready "http://127.0.0.1:$destination/stats"

# One run of binary $1; prints "req/s p99 cpu_us_per_webhook".
run() {
  local port; port=$(free_port)
  # shellcheck disable=SC2046
  env -i PATH="$PATH" FUNCTIONS_CUSTOMHANDLER_PORT="$port" AUDITWOLF_SECRETS=bench-secret STACKSTATE_TOKENS=bench-token \
    $(destination_settings "$API" "$destination") "$1" > "$work/handler.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_ready "http://127.0.0.1:$port/api/health"
  local cpu0; cpu0=$(cpu_us "$pid")
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/mix.lua "http://127.0.0.1:$port" > "$work/wrk.txt"
  local cpu=$(( $(cpu_us "$pid") - cpu0 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if grep -q "Non-2xx" "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; exit 1; fi
  awk -v cpu="$cpu" -v d="$DURATION" '
    /Requests\/sec/ { rps = $2 } $1 == "99%" { p99 = $2 }
    END { printf "%.0f %s %.1f\n", rps, p99, cpu / (rps * d) }' "$work/wrk.txt"
}

echo "$API, $CONNECTIONS connections, ${DURATION}s runs, $ROUNDS rounds: req/s, p99, CPU µs per webhook"
for round in $(seq 1 "$ROUNDS"); do
  for side in old new; do
    binary=$1; [ "$side" = new ] && binary=$2
    echo "$side $(run "$binary")" | tee -a "$work/runs"
  done
done
awk '{ rps[$1] += $2; cpu[$1] += $4; n[$1]++ }
  END { printf "mean: old %.0f req/s, %.1f µs per webhook; new %.0f req/s, %.1f µs per webhook (%+.1f%% CPU)\n",
    rps["old"] / n["old"], cpu["old"] / n["old"], rps["new"] / n["new"], cpu["new"] / n["new"],
    100 * (cpu["new"] / n["new"] - cpu["old"] / n["old"]) / (cpu["old"] / n["old"]) }' "$work/runs"
