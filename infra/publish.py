#!/usr/bin/env python3
"""Builds the deploy package and publishes it to the Function App with Core Tools.

azd runs this after provisioning (`postprovision` in azure.yaml), with AZURE_FUNCTION_APP_NAME
and AZURE_SUBSCRIPTION_ID from the deployment; run it by hand with

    AZURE_FUNCTION_APP_NAME=<app> python3 infra/publish.py

It works the same on Linux, macOS and Windows. Every prerequisite is checked before the build,
which takes minutes: Core Tools (`func`), the Azure CLI (`az`) logged in (Core Tools takes its
token from `az`, not from azd), and the Rust target. When azd names a subscription, `az` is
switched to it, so the app is looked up where azd created it.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Role assignments made by the deployment can take minutes to reach the storage the package is
# uploaded to: a refused publish is retried with growing waits, about five minutes in all.
WAITS = [15, 30, 60, 90, 120]


def fail(message: str) -> None:
    sys.exit(f"publish: {message}")


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        hints = {
            "func": "install Azure Functions Core Tools 4 (https://learn.microsoft.com/azure/azure-functions/functions-run-local)",
            "az": "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli)",
            "cargo": "install Rust with rustup (https://rustup.rs)",
        }
        fail(f"`{name}` is not on PATH: {hints[name]}.")
    return found


def check_prerequisites() -> tuple:
    app = os.environ.get("AZURE_FUNCTION_APP_NAME")
    if not app:
        fail("set AZURE_FUNCTION_APP_NAME to the Function App's name (azd sets it after provisioning).")
    func, az = tool("func"), tool("az")
    tool("cargo")
    account = subprocess.run([az, "account", "show", "--output", "none"], capture_output=True, text=True)
    if account.returncode != 0:
        fail("the Azure CLI is not logged in: run `az login` (Core Tools publishes with az's token, not azd's).")
    subscription = os.environ.get("AZURE_SUBSCRIPTION_ID")
    if subscription:
        selected = subprocess.run([az, "account", "set", "--subscription", subscription], capture_output=True, text=True)
        if selected.returncode != 0:
            fail(f"`az account set --subscription {subscription}` failed: {selected.stderr.strip()}")
    return app, func


def main() -> None:
    app, func = check_prerequisites()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py")], check=True, cwd=ROOT)
    for attempt, wait in enumerate([0] + WAITS):
        if wait:
            print(f"publish: refused (attempt {attempt}); role assignments may still be propagating, retrying in {wait} s.", flush=True)
            time.sleep(wait)
        if subprocess.run([func, "azure", "functionapp", "publish", app], cwd=ROOT).returncode == 0:
            return
    fail(f"`func azure functionapp publish {app}` kept failing; see its output above.")


if __name__ == "__main__":
    main()
