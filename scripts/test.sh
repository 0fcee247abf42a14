#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what .ci/run calls.
# Anything a test needs is installed from here, so a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets
