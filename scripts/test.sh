#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what .ci/run calls.
# Whatever a test needs is installed from here, so a fresh clone needs nothing else:
#  - from npm (package-lock.json): Azurite, the Azure Storage emulator, for the spill-queue tests,
#    and Microsoft's Kusto language service, to parse and type-check every query;
#  - from PyPI, into .tools/venv: pycep-parser and checkov, to parse and scan the Bicep;
#  - for the deploy package (scripts/package.py installs them on first use): Zig from PyPI and
#    cargo-zigbuild from crates.io, under .tools/, to build the Linux binary against glibc 2.17.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/azurite-queue ] || [ ! -d node_modules/@kusto/language-service-next ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -x .tools/venv/bin/checkov ]; then
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check pycep-parser==0.5.1 checkov==3.3.30
fi

cargo test --locked --all-targets
# The API tests again, every request relayed as the Functions host's proxying mode relays it.
HOST_MODE=proxying cargo test --locked --test api
node tests/kql/check.js
.tools/venv/bin/python tests/infra/check_bicep.py
# The release binary exactly as deployed, packaged, and checked with .funcignore.
python3 scripts/package.py --out target/package/app.zip
python3 tests/infra/check_package.py target/package/app.zip
