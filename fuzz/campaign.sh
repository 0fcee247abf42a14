#!/usr/bin/env bash
# The fuzzing campaign: runs each target still short of GOAL executions (default 10 million)
# for SLICE seconds (default 600) from its corpus, ROUNDS times (default 1), two at a time, at low priority, and appends one line per run
# to campaign.tsv: date, target, executions, coverage (cov), finding (none, or the artifact).
# Executions add up across runs and sessions: `bash fuzz/campaign.sh totals` sums them.
#
#   bash fuzz/campaign.sh                    # one 10-minute slice of every target
#   SLICE=1800 ROUNDS=4 bash fuzz/campaign.sh answers settings
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=(admit bearer spill bodies answers settings)

if [ "${1:-}" = totals ]; then
  awk -F'\t' 'NR > 1 { runs[$2]++; execs[$2] += $3; if ($4 > cov[$2]) cov[$2] = $4; if ($5 != "none") found[$2]++ }
    END { for (t in execs) printf "%-9s %12d executions in %3d runs, cov up to %5d, findings %d\n", t, execs[t], runs[t], cov[t], found[t] + 0 }' campaign.tsv | sort
  exit 0
fi
[ $# -gt 0 ] && TARGETS=("$@")
source ./toolchain.sh
cargo "${FUZZ_TOOLCHAIN[@]}" fuzz build >/dev/null 2>&1 || cargo "${FUZZ_TOOLCHAIN[@]}" fuzz build
[ -f campaign.tsv ] || printf 'date\ttarget\texecutions\tcov\tfinding\n' > campaign.tsv

run() {
  local target=$1 log; log=$(mktemp)
  mkdir -p "corpus/$target" "artifacts/$target"
  nice -n 19 cargo "${FUZZ_TOOLCHAIN[@]}" fuzz run "$target" "corpus/$target" -- \
    -max_total_time="${SLICE:-600}" -print_final_stats=1 -rss_limit_mb=4096 > "$log" 2>&1 || true
  local execs cov finding
  execs=$(awk -F: '/stat::number_of_executed_units/ { gsub(/ /, "", $2); print $2 }' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{ print $2 }')
  finding=$(grep -o 'artifact_prefix=[^;]*; Test unit written to [^ ]*' "$log" | sed 's/.*written to //' | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${execs:-0}" "${cov:-0}" "${finding:-none}" >> campaign.tsv
  [ -z "$finding" ] || { echo "finding in $target: $finding"; tail -40 "$log"; }
  rm -f "$log"
}

# Executions so far of target $1.
total() { awk -F'\t' -v t="$1" '$2 == t { n += $3 } END { print n + 0 }' campaign.tsv; }

for _ in $(seq 1 "${ROUNDS:-1}"); do
  # Targets still short of GOAL executions (default 10 million), two at a time.
  pending=()
  for target in "${TARGETS[@]}"; do
    [ "$(total "$target")" -lt "${GOAL:-10000000}" ] && pending+=("$target")
  done
  [ ${#pending[@]} -eq 0 ] && break
  for ((i = 0; i < ${#pending[@]}; i += 2)); do
    run "${pending[i]}" &
    if [ -n "${pending[i + 1]:-}" ]; then run "${pending[i + 1]}" & fi
    wait
  done
done
bash "$0" totals
