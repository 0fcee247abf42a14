#!/usr/bin/env python3
"""Writes the seed corpora from the project's fixtures and realistic Azure answers. Run once;
the seeds (and what the campaign found worth keeping, minimised) are committed under corpus/."""
import base64, gzip, json, pathlib

here = pathlib.Path(__file__).parent
fixtures = here.parent / "tests" / "fixtures"

def put(target, name, data):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)

ROUTES = {"skytap": 1, "auditwolf": 2, "azure": 3, "stackstate": 4}
for fixture in sorted(fixtures.glob("*.json")):
    body = fixture.read_bytes()
    route = next(v for k, v in ROUTES.items() if fixture.name.startswith(k))
    # route, flags (bit 1: prove), empty query, no headers, body
    put("admit", f"{fixture.stem}-routed", bytes([route, 2, 0, 0]) + body)
    put("admit", f"{fixture.stem}-detected", bytes([0, 2, 0, 0]) + body)
    put("admit", f"{fixture.stem}-unproven", bytes([route, 0, 0, 0]) + body)

    rows = [{"TimeGenerated": "2026-11-29T10:00:00Z", "Source": "fuzz", "RawEvent": body.decode()}]
    message = json.dumps({"v": 1, "table": "SkytapAudit_CL", "rows": rows}).encode()
    put("spill", f"{fixture.stem}", b"\x00" + base64.b64encode(gzip.compress(message)))

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")

header = json.dumps({"typ": "JWT", "alg": "RS256", "kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg"}).encode()
claims = json.dumps({"aud": "api://fuzz-alerts", "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
                     "iat": 1764400000, "nbf": 1764400000, "exp": 1764403600, "appid": "461e8683-5575-4561-ac7f-899cc907d62a",
                     "roles": ["ActionGroupsSecureWebhook"], "ver": "1.0"}).encode()
jwks = json.dumps({"keys": [{"kty": "RSA", "use": "sig", "kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg",
                             "n": b64url(bytes(range(1, 255)))[:342].decode(), "e": "AQAB"}]}).encode()
token = b".".join([b64url(header), b64url(claims), b64url(b"\x01" * 256)])
put("bearer", "raw-token", b"\x00Bearer " + token + b"\x00" + jwks)
put("bearer", "parts", b"\x01" + header + b"\x01" + claims + b"\x01" + b"\x02" * 256 + b"\x00" + jwks)
put("bearer", "basic", b"\x00Basic dXNlcjpwYXNz\x00{\"keys\":[]}")

put("answers", "token-msi", b"\x00" + json.dumps({"access_token": "eyJ0", "expires_on": "1800003600", "resource": "https://monitor.azure.com", "token_type": "Bearer"}).encode())
put("answers", "token-sp", b"\x00" + json.dumps({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0"}).encode())
put("answers", "retry-after", b"\x017")
put("answers", "retry-after-date", b"\x01Wed, 21 Oct 2015 07:28:00 GMT")
put("answers", "jwks", b"\x02" + jwks)
put("answers", "queue", b"\x05" + b"""<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage><MessageId>5974b586-0df3-4e2d-ad0c-18e3892bfca2</MessageId><InsertionTime>Fri, 09 Oct 2026 21:04:30 GMT</InsertionTime><ExpirationTime>Fri, 16 Oct 2026 21:04:30 GMT</ExpirationTime><PopReceipt>YzQ4Yzg1MDItYTc0Ny00OWNjLTkxYTUtZGM0MDFiZDAwYzEw</PopReceipt><TimeNextVisible>Fri, 09 Oct 2026 23:29:20 GMT</TimeNextVisible><DequeueCount>1</DequeueCount><MessageText>SGVsbG8=</MessageText></QueueMessage></QueueMessagesList>""")

put("answers", "entity", b"\x03" + json.dumps({"PartitionKey": "e2", "RowKey": "e2f962bacc4d0d167d6fcb5572a6b3e9", "Timestamp": "2026-11-29T21:20:30.1234567Z", "State": "Committed", "Owner": "a", "ClaimId": "b", "Attempt": 1, "LeaseSeconds": 0, "Delivered": ""}).encode())
put("answers", "excerpt", b"\x04\x40" + "é".encode() * 100)
put("settings", "local", b"AUDITWOLF_SECRETS=a,b\nSTACKSTATE_TOKENS=t\nLOCAL_SINK_DIR=./rows\nLOG_ANALYTICS_WORKSPACE_ID=\n")
put("settings", "logs-ingestion", b"LOGS_INGESTION_ENDPOINT=https://my-dce.eastus-1.ingest.monitor.azure.com\nLOGS_INGESTION_DCR_ID=dcr-00000000000000000000000000000000\nAZURE_CLIENT_ID=00000000-0000-0000-0000-000000000001\nAzureWebJobsStorage=UseDevelopmentStorage=true\nDURABLE_CLAIMS=required\n")
put("settings", "data-collector", b"LOG_ANALYTICS_WORKSPACE_ID=11111111-2222-3333-4444-555555555555\nLOG_ANALYTICS_SHARED_KEY=dGVzdA==\nDEDUP_WINDOW_SECONDS=60\nAZURE_MONITOR_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47\nAZURE_MONITOR_AUDIENCE=api://alerts\n")
put("bodies", "empty", b"")
