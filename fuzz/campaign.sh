#!/usr/bin/env bash
# The fuzzing campaign: runs each target still short of GOAL executions (default 10 million)
# for SLICE seconds (default 600) from its corpus, ROUNDS times (default 1), two at a time, at
# low priority, and appends one line per run to campaign.tsv: date, target, executions,
# coverage (cov), finding (none, or the artifact), build. Executions add up across runs and
# sessions.
#
# BUILD=asan (the default) is cargo-fuzz's own build: AddressSanitizer and compare tracing.
# BUILD=fast builds without either (-s none --no-trace-compares, in target/fast), about ten
# times faster for targets whose time goes into gzip (spill, bodies): their code is safe Rust,
# and the properties they assert do not need a sanitizer. NICE sets the priority (default 19).
#
#   bash fuzz/campaign.sh                    # one 10-minute slice of every target short of 10M
#   SLICE=1800 ROUNDS=4 bash fuzz/campaign.sh answers settings
#   BUILD=fast bash fuzz/campaign.sh spill bodies
#   bash fuzz/campaign.sh totals             # executions, best coverage and findings per target
#   bash fuzz/campaign.sh record TARGET LOG  # records a run from libFuzzer's output
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=(admit bearer spill bodies answers settings)
[ -f campaign.tsv ] || printf 'date\ttarget\texecutions\tcov\tfinding\tbuild\n' > campaign.tsv
BUILD=${BUILD:-asan}
case "$BUILD" in
  asan) BUILD_FLAGS=() ;;
  fast) BUILD_FLAGS=(-s none --no-trace-compares --target-dir target/fast) ;;
  *) echo "BUILD is asan or fast, not $BUILD" >&2; exit 2 ;;
esac

# Appends one line to campaign.tsv for target $1 from libFuzzer's output in $2.
record() {
  local target=$1 log=$2 execs cov finding
  execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log" | tail -1)
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | awk '{ print $2 }')
  # Crashes, leaks, timeouts and out-of-memory inputs; a slow unit is not a finding.
  finding=$( (grep -oE 'Test unit written to [^ ]*/(crash|leak|timeout|oom)-[^ ]*' "$log" || true) |
    sed 's/.*written to //' | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${execs:-0}" "${cov:-0}" "${finding:-none}" "$BUILD" >> campaign.tsv
  if [ -n "$finding" ]; then echo "finding in $target: $finding"; tail -40 "$log"; fi
}

# Runs target $1 for one slice and records it.
run() {
  local target=$1 log
  log=$(mktemp)
  mkdir -p "corpus/$target" "artifacts/$target"
  nice -n "${NICE:-19}" cargo "${FUZZ_TOOLCHAIN[@]}" fuzz run "${BUILD_FLAGS[@]}" "$target" "corpus/$target" -- \
    -max_total_time="${SLICE:-600}" -print_final_stats=1 -rss_limit_mb=4096 > "$log" 2>&1 || true
  record "$target" "$log"
  rm -f "$log"
}

# Executions so far of target $1.
total() { awk -F'\t' -v t="$1" '$2 == t { n += $3 } END { print n + 0 }' campaign.tsv; }

totals() {
  awk -F'\t' 'NR > 1 { runs[$2]++; execs[$2] += $3; if ($4 > cov[$2]) cov[$2] = $4; if ($5 != "none") found[$2]++ }
    END { for (t in execs) printf "%-9s %12d executions in %3d runs, cov up to %5d, findings %d\n", t, execs[t], runs[t], cov[t], found[t] + 0 }' campaign.tsv | sort
}

case "${1:-}" in
  totals) totals; exit 0 ;;
  record) record "$2" "$3"; exit 0 ;;
esac
[ $# -gt 0 ] && TARGETS=("$@")
source ./toolchain.sh
cargo "${FUZZ_TOOLCHAIN[@]}" fuzz build "${BUILD_FLAGS[@]}" >/dev/null 2>&1 ||
  cargo "${FUZZ_TOOLCHAIN[@]}" fuzz build "${BUILD_FLAGS[@]}"

for _ in $(seq 1 "${ROUNDS:-1}"); do
  # Targets still short of GOAL executions, two at a time.
  pending=()
  for target in "${TARGETS[@]}"; do
    if [ "$(total "$target")" -lt "${GOAL:-10000000}" ]; then pending+=("$target"); fi
  done
  [ ${#pending[@]} -eq 0 ] && break
  for ((i = 0; i < ${#pending[@]}; i += 2)); do
    run "${pending[i]}" &
    if [ -n "${pending[i + 1]:-}" ]; then run "${pending[i + 1]}" & fi
    wait
  done
done
totals
