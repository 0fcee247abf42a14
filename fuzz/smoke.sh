#!/usr/bin/env bash
# CI's fuzz smoke: builds every target (installing cargo-fuzz if missing) and runs each for
# SMOKE_SECONDS (default 20) from its committed corpus, so that a regression in a parser fails
# CI. New inputs go to a scratch directory, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")"
source ./toolchain.sh
cargo "${FUZZ_TOOLCHAIN[@]}" fuzz build
for target in $(cargo "${FUZZ_TOOLCHAIN[@]}" fuzz list); do
  scratch=$(mktemp -d)
  status=0
  cargo "${FUZZ_TOOLCHAIN[@]}" fuzz run "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="${SMOKE_SECONDS:-20}" -rss_limit_mb=4096 -print_final_stats=1 \
    > "$scratch.log" 2>&1 || status=$?
  execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$scratch.log")
  echo "fuzz smoke: $target, ${execs:-0} executions, exit $status"
  if [ "$status" -ne 0 ]; then tail -60 "$scratch.log"; exit "$status"; fi
  rm -rf "$scratch" "$scratch.log"
done
