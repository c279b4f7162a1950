"""A recording proxy in front of DynamoDB Local: forwards every request as it
is and notes, per caller, each IAM action the request needs, so the suite can
derive the least privilege each function's role must have from what the tests
actually did (check_template.py --dynamodb-actions).

The caller is the access key id of the SigV4 credential: the tests run the
token service as the access key `TokenService` (DynamoDB Local takes letters
and digits only), as a deployed function runs
as its role. IAM has no action for a transaction: TransactWriteItems needs
PutItem, UpdateItem, DeleteItem or ConditionCheckItem for each item it holds,
TransactGetItems GetItem, so those are recorded item by item.

    python3 dynamodb_recorder.py UPSTREAM_URL PORT_FILE ACTIONS_FILE

Listens on a free loopback port, writes it to PORT_FILE, and rewrites
ACTIONS_FILE (JSON: caller -> sorted actions) whenever a new action appears.
"""

import http.client
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
PORT_FILE, ACTIONS_FILE = sys.argv[2], sys.argv[3]

TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
CREDENTIAL = re.compile(r"Credential=([^/]+)/")

seen: dict[str, set[str]] = {}
lock = threading.Lock()
upstream = threading.local()


def actions_of(target: str, body: bytes) -> set[str]:
    operation = target.rsplit(".", 1)[-1]
    try:
        if operation == "TransactWriteItems":
            items = json.loads(body)["TransactItems"]
            return {"dynamodb:" + TRANSACT_WRITE[kind] for item in items for kind in item}
        if operation == "TransactGetItems":
            return {"dynamodb:GetItem"}
    except (ValueError, KeyError, TypeError):
        pass  # A malformed request: DynamoDB refuses it; record the operation itself.
    return {"dynamodb:" + operation}


def record(caller: str, actions: set[str]) -> None:
    with lock:
        known = seen.setdefault(caller, set())
        if actions <= known:
            return
        known |= actions
        snapshot = {c: sorted(a) for c, a in sorted(seen.items())}
        tmp = ACTIONS_FILE + ".tmp"
        with open(tmp, "w") as f:
            json.dump(snapshot, f, indent=1)
        os.replace(tmp, ACTIONS_FILE)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        credential = CREDENTIAL.search(self.headers.get("Authorization", ""))
        if target:
            record(credential.group(1) if credential else "anonymous", actions_of(target, body))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        for attempt in (1, 2):
            if getattr(upstream, "conn", None) is None:
                upstream.conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
            try:
                upstream.conn.request("POST", self.path, body, headers)
                response = upstream.conn.getresponse()
                answer = response.read()
                break
            except (OSError, http.client.HTTPException):
                # A kept-alive upstream connection that DynamoDB Local closed: once more on a new one.
                upstream.conn.close()
                upstream.conn = None
                if attempt == 2:
                    self.send_error(502)
                    return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass  # Requests carry nothing worth a line each.


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
with open(ACTIONS_FILE, "w") as f:
    f.write("{}")
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
