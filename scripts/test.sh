#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what .ci/run calls.
# Anything a test needs is installed from here, so a fresh clone needs nothing else:
# Azurite (the Azure Storage emulator, from npm) for the spill-queue tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/azurite-queue ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
cargo test --locked --all-targets
