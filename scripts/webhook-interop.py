"""Webhook signatures checked by an independent implementation.

A running keyport-server (started with --allow-private-webhooks) sends its
events to a receiver here, and the reference library of Standard Webhooks
(`standardwebhooks` from PyPI) verifies each one with the secret the API
showed: a test event and a key.created. A tampered body, a tampered id and a
wrong secret must be refused. Usage: webhook-interop.py BASE_URL ADMIN_KEY
"""

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

base, admin = sys.argv[1], sys.argv[2]
got = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        got.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def api(method, path, body=None):
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode() or "null")


def wait_for(event_type):
    deadline = time.time() + 15
    while time.time() < deadline:
        for headers, body in list(got):
            if json.loads(body)["type"] == event_type:
                return headers, body
        time.sleep(0.1)
    sys.exit(f"error: no {event_type} delivery within 15 s (got {len(got)})")


def refused(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return True
    return False


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hook"

created = api("POST", "/v1/webhooks", {"url": url, "events": ["key.created", "key.revoked"]})
secret, endpoint = created["secret"], created["endpoint"]["id"]
key = api("POST", "/v1/keys", {"name": "interop", "environment": "live", "scopes": ["read"]})
api("POST", f"/v1/webhooks/{endpoint}/test")

other = Webhook("whsec_" + "QUJD" * 8)
for event_type in ["webhook.test", "key.created"]:
    headers, body = wait_for(event_type)
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == event_type, payload
    assert key["secret"].encode() not in body, "a raw key in a webhook"
    tampered = body.replace(b'"data"', b'"DATA"')
    assert refused(secret, tampered, headers), "a tampered body verified"
    assert refused(secret, body, {**headers, "webhook-id": "msg_other"}), "another id verified"
    try:
        other.verify(body, headers)
        sys.exit("error: a wrong secret verified")
    except WebhookVerificationError:
        pass
    print(f"standardwebhooks verified {event_type} ({headers['webhook-id']})")

deliveries = api("GET", f"/v1/webhooks/{endpoint}/deliveries")["deliveries"]
assert all(d["status"] == "delivered" for d in deliveries), deliveries
print(f"{len(deliveries)} deliveries logged as delivered")
