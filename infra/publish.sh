#!/usr/bin/env bash
# Builds the Linux handler binary at the app root and publishes the app with Core Tools.
# azd runs this after provisioning (AZURE_FUNCTION_APP_NAME comes from the deployment outputs);
# run it by hand with AZURE_FUNCTION_APP_NAME=<app> bash infra/publish.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AZURE_FUNCTION_APP_NAME:?set AZURE_FUNCTION_APP_NAME to the Function App name}"
rustup target add x86_64-unknown-linux-musl
cargo build --release --locked --target x86_64-unknown-linux-musl --bin handler
cp target/x86_64-unknown-linux-musl/release/handler ./handler
func azure functionapp publish "$AZURE_FUNCTION_APP_NAME"
