"""Writes the benchmark's request mix for wrk: real fixtures with a fresh message id in every
request, so the handler's de-duplication never answers from memory.

Each line of the output is `path <TAB> extra header <TAB> body`. Bodies whose id wrk can fill
in carry the placeholder @ID@; AuditWolf bodies are signed here (wrk's Lua has no HMAC), one
distinct body per line, as many as the run can use.

    python3 bench/bodies.py OUT_FILE SECRET TOKEN AUDITWOLF_COUNT
"""

import base64
import datetime
import hashlib
import hmac
import json
import re
import sys

out, secret, token, auditwolf_count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


NOW = datetime.datetime.now(datetime.timezone.utc)
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
EPOCH_MS = re.compile(r"(?<![\d.])1\d{12}(?![\d.])")


def fixture(name):
    """A fixture with every time moved to now, as live traffic has: Logs Ingestion groups rows
    by time, so the fixtures' dates years apart would split every group."""
    with open(f"tests/fixtures/{name}.json") as f:
        text = f.read()
    text = ISO_TIME.sub(NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), text)
    text = EPOCH_MS.sub(str(int(NOW.timestamp() * 1000)), text)
    return json.loads(text)


def with_id(name, path):
    value = fixture(name)
    node = value
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@ID@"
    return json.dumps(value, separators=(",", ":"))


templates = [
    ("/api/skytap", "", with_id("skytap-audit", ["message_id"])),
    ("/api/skytap", "", with_id("skytap-usage", ["message_id"])),
    ("/api/azuremonitor", "", with_id("azure-common-alert-log", ["data", "essentials", "alertId"])),
    ("/api/azuremonitor", "", with_id("azure-common-alert-metric", ["data", "essentials", "alertId"])),
    ("/api/webhook", "", with_id("azure-activitylog-administrative", ["data", "context", "activityLog", "eventDataId"])),
    ("/api/stackstate", f"X-StackState-Webhook-Token: {token}", with_id("stackstate-open", ["notificationId"])),
    ("/api/stackstate", f"X-StackState-Webhook-Token: {token}", with_id("stackstate-close", ["notificationId"])),
]

auditwolf = fixture("auditwolf-task-create")
with open(out, "w") as f:
    for path, header, body in templates:
        f.write(f"T\t{path}\t{header}\t{body}\n")
    for i in range(auditwolf_count):
        auditwolf["id"] = f"bench-{i}"
        body = json.dumps(auditwolf, separators=(",", ":"))
        mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        signature = base64.b64encode(mac).decode()
        f.write(f"S\t/api/auditwolf\tx-auditwolf-webhook-sig: {signature}\t{body}\n")
