"""The whole story of docs/deploying.md, through API Gateway and the deployed roles of a
stack that stack.py deployed onto the emulator (IAM enforced):

    story.py URLS.json

URLS.json is what `stack.py deploy` printed; the stack must have been
deployed with both authorizer caches at 0 (ApiAuthorizerCacheSeconds=0,
AuthorizerCachingSeconds=0) so that revocation reaches the edge at once, and
with LogLevel=WARN, so that the functions are seen to honour it.
Clients and users are made with oauthctl (OAUTHCTL) as an administrator
would, with the emulator's administrator credentials. Prints one line per
check and exits non-zero when any fails; on failure, prints the emulator's
functions' log lines that say which action IAM refused.
"""

import base64
import concurrent.futures
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from jwcrypto import jwk, jwt

with open(sys.argv[1]) as f:
    URLS = json.load(f)
TOKEN_API = URLS["TokenApi"].rstrip("/")
REST = URLS["ExampleApi"].rstrip("/")
HTTP = URLS["ExampleHttpApi"].rstrip("/")
JWT_ITEMS = URLS["JwtItems"]
failures = []
passed = 0


def check(condition, what, detail=""):
    global passed
    print(("ok      " if condition else "FAILED  ") + what + ("" if condition or not detail else f": {detail}"))
    if condition:
        passed += 1
    else:
        failures.append(what)


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:300]!r}"


def request(method, url, form=None, basic=None, bearer=None, json_body=None):
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return Answer(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read().decode())


def oauthctl(*args, stdin=""):
    result = subprocess.run([os.environ["OAUTHCTL"], "--table", URLS["TableName"], *args],
                            input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"oauthctl {' '.join(args)} failed: {result.stderr}")
    return json.loads(result.stdout) if result.stdout.strip() else None


def client(name, grant, scope):
    made = oauthctl("client", "create", "--name", name, "--grant", grant, "--scope", scope)
    return made["client_id"], made["client_secret"]


def token(app, **form):
    return request("POST", f"{TOKEN_API}/o/token/", form, basic=app)


# --- Set-up, as docs/deploying.md tells an administrator.
app = client("demo app", "client_credentials", "read write")
resource_server = client("API Gateway authorizer", "client_credentials", "introspection")
password_app = client("first-party app", "password", "read write")
# A new user each run, so the story can run again on the same stack.
USER = f"jdoe-{os.urandom(4).hex()}"
oauthctl("user", "create", USER, "--iterations", "1000", stdin="correct horse\n")
boto3.client("secretsmanager").put_secret_value(
    SecretId=URLS["AuthorizerCredentialsSecret"],
    SecretString=json.dumps({"RESOURCE_SERVER_INTROSPECTION_CREDENTIALS": ":".join(resource_server)}))

# --- The token API: only the service's routes, one stage.
metadata = request("GET", f"{TOKEN_API}/.well-known/oauth-authorization-server")
check(metadata.status == 200 and metadata.json().get("issuer") == URLS["Issuer"], "RFC 8414 metadata names the stack's issuer", metadata)
for method, path in (("GET", "/o/token/"), ("DELETE", "/o/introspect/"), ("POST", "/o/anything/"), ("GET", "/")):
    answer = request(method, f"{TOKEN_API}{path}")
    check(answer.status in (403, 404) and "error" not in answer.json(), f"API Gateway refuses {method} {path} without invoking the service", answer)
token_api_id = TOKEN_API.split("/_aws/execute-api/", 1)[1].split("/", 1)[0]
stages = [s["stageName"] for s in boto3.client("apigateway").get_stages(restApiId=token_api_id)["item"]]
check(stages == ["prod"], "the token API has one stage, prod (no unthrottled 'Stage')", stages)
other_stage = request("POST", TOKEN_API.replace("/prod", "/Stage") + "/o/token/", {"grant_type": "client_credentials"}, basic=app)
check(other_stage.status in (403, 404) and "error" not in other_stage.json(), "/Stage/o/token/ does not reach the service", other_stage)

# --- The authorization endpoint's pages are routed to the service, with
# their headers intact (an unknown client gets a page, never a redirect).
page = request("GET", f"{TOKEN_API}/o/authorize/?response_type=code&client_id=nobody")
check(page.status == 400 and page.headers.get("Content-Type", "").startswith("text/html")
      and page.headers.get("X-Frame-Options") == "DENY"
      and page.headers.get("Content-Security-Policy", "").startswith("default-src 'none'")
      and "cannot be completed" in page.body,
      "GET /o/authorize/ reaches the service: an unknown client gets its error page, unframeable", page)
signed_out = request("GET", f"{TOKEN_API}/o/logout/")
check(signed_out.status == 200 and "Signed out" in signed_out.body, "GET /o/logout/ reaches the service", signed_out)

# --- OpenID Connect through API Gateway: discovery, a sign-in with an ID
# token sealed and opened by KMS under the token service's role, UserInfo.
discovery = request("GET", f"{TOKEN_API}/.well-known/openid-configuration")
document = discovery.json()
check(discovery.status == 200 and document.get("issuer") == URLS["Issuer"]
      and document.get("jwks_uri") == f"{URLS['Issuer']}/o/.well-known/jwks.json"
      and discovery.headers.get("Access-Control-Allow-Origin") == "*",
      "OpenID Connect discovery at <issuer>/.well-known/openid-configuration, readable from any origin", discovery)
rp = oauthctl("client", "create", "--name", "relying party", "--grant", "authorization_code", "--scope", "openid profile email",
              "--redirect-uri", "https://rp.example.com/cb", "--skip-consent", "--allowed-origin", "https://rp.example.com")
rp = (rp["client_id"], rp["client_secret"])
oauthctl("user", "set", USER, "--first-name", "Jane", "--last-name", "Doe", "--email", "jane@example.com")


def sign_in_with_openid(nonce, scope="openid profile email", **extra):
    """A browser's code flow through API Gateway (cookies kept by hand: the emulator serves plain http); the token answer."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": rp[0], "redirect_uri": "https://rp.example.com/cb",
                                    "scope": scope, "nonce": nonce, "code_challenge": challenge,
                                    "code_challenge_method": "S256", **extra})
    page = request("GET", f"{TOKEN_API}/o/authorize/?{query}")
    cookies = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.body))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    fields.update(username=USER, password="correct horse")
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(f"{TOKEN_API}/o/authorize/", data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    try:
        urllib.request.build_opener(NoRedirect).open(req, timeout=30)
        return {}
    except urllib.error.HTTPError as e:
        location = e.headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code", [""])[0]
    return token(rp, grant_type="authorization_code", code=code, code_verifier=verifier,
                 redirect_uri="https://rp.example.com/cb").json()


def verified_claims(id_token):
    """The ID token's claims if it verifies (jwcrypto, RS256) against the JWKS served through API Gateway."""
    keys = request("GET", f"{TOKEN_API}/o/.well-known/jwks.json")
    try:
        checked = jwt.JWT(jwt=id_token, key=jwk.JWKSet.from_json(keys.body), algs=["RS256"])
        return json.loads(checked.claims)
    except Exception as e:  # Any failure to verify is a failed check.
        return {"error": repr(e)}


signed_in = sign_in_with_openid("n-1")
claims = verified_claims(signed_in.get("id_token", ""))
check(claims.get("iss") == URLS["Issuer"] and claims.get("aud") == rp[0] and claims.get("nonce") == "n-1",
      "the code flow with scope openid gives an ID token that verifies against the JWKS (jwcrypto)", claims)
userinfo = request("GET", f"{TOKEN_API}/o/userinfo/", bearer=signed_in.get("access_token"))
check(userinfo.status == 200 and userinfo.json().get("sub") == claims.get("sub") and userinfo.json().get("name") == "Jane Doe",
      "UserInfo through API Gateway gives the user's claims by scope", userinfo)
preflight = urllib.request.Request(f"{TOKEN_API}/o/token/", method="OPTIONS", headers={
    "Origin": "https://rp.example.com", "Access-Control-Request-Method": "POST"})
with urllib.request.urlopen(preflight, timeout=30) as answer:
    check(answer.status == 204 and answer.headers.get("Access-Control-Allow-Origin") == "https://rp.example.com",
          "a browser client's preflight of /o/token/ reaches the service through API Gateway", dict(answer.headers))
cross = urllib.request.Request(f"{TOKEN_API}/o/userinfo/", headers={
    "Origin": "https://rp.example.com", "Authorization": f"Bearer {signed_in.get('access_token')}"})
with urllib.request.urlopen(cross, timeout=30) as answer:
    check(answer.headers.get("Access-Control-Allow-Origin") == "https://rp.example.com",
          "UserInfo's answer is readable by the client's registered origin", dict(answer.headers))
# A client given JWT access tokens, for API Gateway's own JWT authorizer below.
jwt_app = oauthctl("client", "create", "--name", "JWT app", "--grant", "client_credentials", "--scope", "read write",
                   "--access-token-format", "jwt", "--token-lifetime", "3600")
jwt_app = (jwt_app["client_id"], jwt_app["client_secret"])
first_key_token = token(jwt_app, grant_type="client_credentials", scope="read").json().get("access_token", "")
keys = oauthctl("keys", "list")
check([k["state"] for k in keys].count("signing") == 1 and all(k["sealed_by"] == "kms" for k in keys),
      "the first signing key was made by the service and sealed by KMS (kms:Encrypt under its role)", keys)
# A key rotation (as an administrator, KMS sealing with the stack's key), then a
# cold start: the new container opens the signing key it did not make
# (kms:Decrypt under its role), the old ID token still verifies, the new key is published.
os.environ["SIGNING_KEY_KMS_KEY_ID"] = URLS["SigningKeyKmsKeyArn"]
rotation = oauthctl("keys", "rotate")
check(rotation["keys"][-1] == {**rotation["keys"][-1], "kid": rotation["rotated"], "state": "published, signs later"}
      and [k["state"] for k in rotation["keys"]].count("signing") == 1,
      "oauthctl keys rotate publishes a new key that signs later", rotation)


def cold_start_token_service():
    """A configuration update (the same timeout) puts the next invocation in a new execution environment."""
    service_function = f"{URLS['Stack']}-token-service"
    timeout = boto3.client("lambda").get_function_configuration(FunctionName=service_function)["Timeout"]
    boto3.client("lambda").update_function_configuration(FunctionName=service_function, Timeout=timeout)
    boto3.client("lambda").get_waiter("function_updated_v2").wait(FunctionName=service_function)


cold_start_token_service()
published = request("GET", f"{TOKEN_API}/o/.well-known/jwks.json").json().get("keys", [])
check(sorted(k["kid"] for k in published) == sorted(k["kid"] for k in rotation["keys"]), "after a cold start the JWKS has every published key", published)
again = sign_in_with_openid("n-2")
claims_again = verified_claims(again.get("id_token", ""))
check(claims_again.get("nonce") == "n-2" and claims_again.get("sub") == claims.get("sub"),
      "after the cold start the old key still signs (opened with kms:Decrypt) and its ID token verifies", claims_again)
check(verified_claims(signed_in.get("id_token", "")).get("nonce") == "n-1", "the ID token from before the rotation still verifies")

# --- API Gateway's own JWT authorizer (GET and POST /jwt/items on the HTTP
# API): JWT access tokens checked by API Gateway itself, its keys found
# through the issuer's discovery document, no function invoked. The keys
# change around it: the first key retired, a rotation while tokens are live.


def header(jwt_text):
    try:
        return json.loads(base64.urlsafe_b64decode(jwt_text.split(".")[0] + "=="))
    except ValueError:
        return {}


first_kid = next(k["kid"] for k in rotation["keys"] if k["state"] == "signing")
successor = rotation["rotated"]
oauthctl("keys", "retire", first_kid)
cold_start_token_service()
live = token(jwt_app, grant_type="client_credentials", scope="read").json().get("access_token", "")
states = {k["kid"]: k["state"] for k in oauthctl("keys", "list")}
check(states == {successor: "signing"},
      "retiring the signing key mid-rotation: its successor, published ahead, signs at once", states)
check(header(live).get("typ") == "at+jwt" and header(live).get("kid") == successor,
      "a JWT client gets an RFC 9068 access token signed by the signing key", header(live))
third_key = oauthctl("keys", "rotate", "--publish-ahead", "20")["rotated"]
rotated_at = time.time()
# A cold start stands for the five minutes in which every warm container
# reads the key set again (part of the default --publish-ahead).
cold_start_token_service()

allowed = request("GET", JWT_ITEMS, bearer=live)
context = allowed.json().get("authorizer", {})
check(allowed.status == 200 and context.get("jwt", {}).get("claims", {}).get("client_id") == jwt_app[0]
      and "read" in context.get("jwt", {}).get("scopes", []) and "lambda" not in context,
      "JWT authorizer: GET /jwt/items (scope read) is allowed by API Gateway itself, with the token's claims", allowed)
check(request("GET", JWT_ITEMS).status == 401, "JWT authorizer: no token is 401")
check(request("POST", JWT_ITEMS, bearer=live).status == 403, "JWT authorizer: POST /jwt/items needs write: 403")
still_active = request("POST", f"{TOKEN_API}/o/introspect/", {"token": first_key_token}, basic=resource_server).json()
check(request("GET", JWT_ITEMS, bearer=first_key_token).status == 401 and still_active.get("active") is True,
      "JWT authorizer: a live token signed by the retired key is 401", still_active)
id_token = sign_in_with_openid("n-3").get("id_token", "")
check(verified_claims(id_token).get("nonce") == "n-3" and request("GET", JWT_ITEMS, bearer=id_token).status == 401,
      "JWT authorizer: a genuine ID token (its audience the client, not the API) is 401")
brief = oauthctl("client", "create", "--name", "brief JWT app", "--grant", "client_credentials", "--scope", "read",
                 "--access-token-format", "jwt", "--token-lifetime", "1")
brief_token = token((brief["client_id"], brief["client_secret"]), grant_type="client_credentials").json().get("access_token", "")
time.sleep(3)
check(request("GET", JWT_ITEMS, bearer=brief_token).status == 401, "JWT authorizer: an expired token is 401")
revoked_jwt = token(jwt_app, grant_type="client_credentials", scope="read").json().get("access_token", "")
request("POST", f"{TOKEN_API}/o/revoke_token/", {"token": revoked_jwt}, basic=jwt_app)
check(request("GET", JWT_ITEMS, bearer=revoked_jwt).status == 200 and request("GET", f"{HTTP}/1", bearer=revoked_jwt).status == 403,
      "a revoked JWT passes API Gateway's JWT authorizer until it expires (docs/oidc.md), the introspecting authorizer refuses it at once")

# The rotation: the third key has been published since before API Gateway
# first read the key set; once it signs, its tokens pass, and so do the old ones.
time.sleep(max(0.0, rotated_at + 21 - time.time()))
cold_start_token_service()
rotated = token(jwt_app, grant_type="client_credentials", scope="read").json().get("access_token", "")
after_rotation = request("GET", JWT_ITEMS, bearer=rotated)
check(header(rotated).get("kid") == third_key and after_rotation.status == 200,
      "after the rotation the new key signs, and API Gateway accepts its tokens", (header(rotated), third_key, after_rotation))
check(request("GET", JWT_ITEMS, bearer=live).status == 200, "the token the old key signed before the rotation is still allowed")

# --- RFC 7591 dynamic registration and RFC 7592 management through the
# token API (ClientRegistration=open), the management URI a path-parameter route.
metadata = request("GET", f"{TOKEN_API}/.well-known/oauth-authorization-server").json()
check(metadata.get("registration_endpoint") == f"{URLS['Issuer']}/o/register/",
      "the metadata names the registration endpoint", metadata.get("registration_endpoint"))
registered = request("POST", f"{TOKEN_API}/o/register/", json_body={
    "redirect_uris": ["http://127.0.0.1:8765/callback"], "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    "client_name": "deployed MCP client", "scope": "read"})
registration = registered.json() if registered.status == 201 else {}
check(registered.status == 201 and registration.get("registration_access_token"),
      "a client registers itself through API Gateway (201)", registered)
management = registration.get("registration_client_uri", f"{TOKEN_API}/o/register/none/")
registration_token = registration.get("registration_access_token", "none")
read_back = request("GET", management, bearer=registration_token)
check(read_back.status == 200 and read_back.json().get("client_id") == registration.get("client_id"),
      "it reads its registration back at its registration_client_uri", read_back)
check(request("GET", management, bearer="not-its-token").status == 401,
      "another token reads nothing (401)")
listed = {c["client_id"]: c for c in oauthctl("client", "list")}
check(listed.get(registration.get("client_id"), {}).get("registered_by") == "dynamic",
      "oauthctl client list shows it as registered dynamically")
check(request("DELETE", management, bearer=registration_token).status == 204
      and request("GET", management, bearer=registration_token).status == 401,
      "it deletes its registration (204), which is then gone")
check(request("POST", f"{TOKEN_API}/o/register/", json_body={"redirect_uris": ["javascript:alert(1)"]}).json().get("error")
      == "invalid_redirect_uri", "a javascript: redirect URI is refused")

# --- client_credentials, introspection by the resource server.
issued = token(app, grant_type="client_credentials", scope="read")
check(issued.status == 200 and issued.json().get("scope") == "read", "client_credentials issues a read token", issued)
access = issued.json().get("access_token", "")
introspected = request("POST", f"{TOKEN_API}/o/introspect/", {"token": access}, basic=resource_server)
check(introspected.json().get("active") is True and introspected.json().get("client_id") == app[0],
      "the resource server introspects it as active", introspected)
check(request("POST", f"{TOKEN_API}/o/introspect/", {"token": access}, basic=app).status == 403,
      "a client without the introspection scope may not introspect")

# --- The REST example API (TOKEN authorizer, credentials from Secrets Manager).
allowed = request("GET", f"{REST}/1", bearer=access)
context = allowed.json().get("authorizer", {})
check(allowed.status == 200 and context.get("client_id") == app[0] and context.get("scope") == "read",
      "REST: GET /items/1 is allowed, and the authorizer's context reaches the backend", allowed)
missing = request("GET", f"{REST}/1")
check(missing.status == 401 and missing.headers.get("WWW-Authenticate") == "Bearer",
      "REST: no token is 401 with WWW-Authenticate: Bearer (RFC 6750 §3)", (missing, dict(missing.headers)))
check(request("GET", f"{REST}/1", bearer="not-a-token").status == 401, "REST: an unknown token is 401")
malformed = request("GET", f"{REST}/1", basic=app)
check(malformed.status == 401, "REST: a non-Bearer Authorization header is 401 (the authorizer's validation expression)", malformed)
check(request("DELETE", f"{REST}/7", bearer=access).status == 403,
      "REST: DELETE /items/7, which no rule names, is 403 (DenyUnmatchedRoutes)")
forbidden = request("POST", REST, bearer=access)
check(forbidden.status == 403 and forbidden.headers.get("WWW-Authenticate") == 'Bearer error="insufficient_scope"',
      "REST: POST /items needs write: 403 with error=\"insufficient_scope\"", (forbidden, dict(forbidden.headers)))

# --- The HTTP API example (payload 2.0, IAM policies).
allowed = request("GET", f"{HTTP}/1", bearer=access)
context = allowed.json().get("authorizer", {}).get("lambda", {})
check(allowed.status == 200 and context.get("client_id") == app[0], "HTTP API: GET /items/1 is allowed, with the context", allowed)
check(request("GET", f"{HTTP}/1").status == 401, "HTTP API: no token is 401")
unknown = request("GET", f"{HTTP}/1", bearer="not-a-token")
check(unknown.status == 403, "HTTP API: an unknown token is 403 (an HTTP API has no 401 from an authorizer; an error would be 500)", unknown)
check(request("POST", HTTP, bearer=access).status == 403, "HTTP API: POST /items needs write: 403")

# --- The example MCP server: its RFC 9728 metadata, and every 401 and 403 of
# its API saying where that is (API Gateway's own answers, gateway responses).
MCP, PRM = URLS["McpServer"], URLS["McpResourceMetadata"]
described = request("GET", PRM)
check(described.status == 200 and described.json() == {
    "resource": MCP, "authorization_servers": [URLS["Issuer"]], "scopes_supported": ["read"],
    "bearer_methods_supported": ["header"], "resource_name": "Example MCP server"},
      "MCP: the protected-resource metadata names the server, this issuer and only the scope its tools need", described)
check(request("GET", PRM.removesuffix("/mcp")).json().get("resource") == MCP,
      "MCP: ...also at /.well-known/oauth-protected-resource, where clients look next")
UNAUTHORIZED = f'Bearer resource_metadata="{PRM}", scope="read"'
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "story", "version": "1"}}}
for why, bearer in (("no token", None), ("an unknown token", "not-a-token"), ("a token for no resource", access)):
    refused = request("POST", MCP, json_body=INITIALIZE, bearer=bearer)
    check(refused.status == 401 and refused.headers.get("WWW-Authenticate") == UNAUTHORIZED,
          f"MCP: {why} is 401 with resource_metadata and scope (RFC 9728 §5.1)", (refused, dict(refused.headers)))
issued = token(app, grant_type="client_credentials", scope="read", resource=MCP)
mcp_token = issued.json().get("access_token")
check(issued.status == 200 and request("POST", f"{TOKEN_API}/o/introspect/", {"token": mcp_token}, basic=resource_server)
      .json().get("aud") == MCP, "MCP: a token asked for the server (resource) is bound to it (aud)", issued)
initialized = request("POST", MCP, json_body=INITIALIZE, bearer=mcp_token)
check(initialized.status == 200 and initialized.json().get("result", {}).get("protocolVersion") == "2025-06-18",
      "MCP: initialize through API Gateway with that token", initialized)
listed = request("POST", MCP, json_body={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, bearer=mcp_token)
check([t["name"] for t in listed.json().get("result", {}).get("tools", [])] == ["whoami"], "MCP: tools/list names whoami", listed)
called = request("POST", MCP, json_body={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami"}},
                 bearer=mcp_token)
check(called.json().get("result", {}).get("structuredContent", {}) == {"username": None, "client_id": app[0], "scope": "read"},
      "MCP: whoami answers the caller as the authorizer saw it", called)
check(request("GET", MCP, bearer=mcp_token).status == 405, "MCP: GET /mcp is 405 (a stateless server offers no event stream)")
openid_only = sign_in_with_openid("n-mcp", scope="openid", resource=MCP).get("access_token")
forbidden = request("POST", MCP, json_body=INITIALIZE, bearer=openid_only)
check(forbidden.status == 403 and forbidden.headers.get("WWW-Authenticate")
      == f'Bearer error="insufficient_scope", scope="read", resource_metadata="{PRM}"',
      "MCP: a user's token for the server without its scope is 403 insufficient_scope, naming the scope", (forbidden, dict(forbidden.headers)))
request("POST", f"{TOKEN_API}/o/revoke_token/", {"token": mcp_token}, basic=app)
revoked = request("POST", MCP, json_body=INITIALIZE, bearer=mcp_token)
check(revoked.status == 401 and revoked.headers.get("WWW-Authenticate") == UNAUTHORIZED,
      "MCP: the revoked token is 401 at once, sending the client back to authorize", revoked)

# --- RFC 8628 through API Gateway: a device (panva's openid-client, as in
# browser.rs) polls while a person connects it at the device page.
tv = oauthctl("client", "create", "--name", "Living Room TV", "--grant", "device_code", "--scope", "read write", "--public")
device = subprocess.Popen(["node", os.path.join(os.path.dirname(__file__), "..", "relying-party", "device.mjs")],
                          env={**os.environ, "ISSUER": URLS["Issuer"], "CLIENT_ID": tv["client_id"], "CLIENT_SECRET": "",
                               "SCOPE": "read write"},
                          stdout=subprocess.PIPE, text=True)
shown = json.loads(device.stdout.readline() or "{}")
check(shown.get("verification_uri") == f"{URLS['Issuer']}/o/device/" and len(shown.get("user_code", "")) == 9,
      "a device gets its codes through API Gateway (openid-client)", shown)


def person_allows(url, untick=()):
    """A person at the pages (cookies kept by hand): signs USER in, allows with `untick` unticked; the last page."""
    cookies = {}

    def visit(target, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(target, data=data, method="POST" if data else "GET", headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            **({"Content-Type": "application/x-www-form-urlencoded"} if data else {})})
        try:
            answer = urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as e:
            answer = e
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            cookies[name] = value
        return answer.read().decode()

    def submit(page, **fields):
        inputs = re.findall(r'<input type="(hidden|checkbox)" name="([^"]+)" value="([^"]*)"( checked)?>', page)
        sent = [(k, html.unescape(v)) for kind, k, v, ticked in inputs
                if (kind == "hidden" or ticked) and k not in fields and (k, v) not in untick]
        return visit(f"{TOKEN_API}/o/device/", sent + list(fields.items()))

    page = visit(url)
    page = submit(page, username=USER, password="correct horse")
    return submit(page, decision="allow"), page


done, consent = person_allows(shown.get("verification_uri_complete", f"{TOKEN_API}/o/device/"),
                              untick=[("granted_scope", "write")])
check("Living Room TV" in consent and "Device connected" in done,
      "a person signs in at the device page through API Gateway, unticks write and allows", done[-300:])
got = json.loads(device.stdout.readline() or "{}")
device.wait(timeout=30)
check(got.get("tokens", {}).get("scope") == "read" and got.get("refreshed", {}).get("rotated") is True,
      "the device gets a token for what was allowed, and refreshes it (rotated)", got)
on_edge = request("GET", f"{REST}/1", bearer=got.get("refreshed", {}).get("access_token"))
check(on_edge.status == 200 and on_edge.json().get("authorizer", {}).get("username") == USER,
      "REST: the device's token is allowed at the edge, for the person who connected it", on_edge)

# --- Revocation reaches the edge (both caches at 0).
revoked = request("POST", f"{TOKEN_API}/o/revoke_token/", {"token": access}, basic=app)
check(revoked.status == 200, "the client revokes its token", revoked)
check(request("GET", f"{REST}/1", bearer=access).status == 401, "REST: the revoked token is 401 at once")
check(request("GET", f"{HTTP}/1", bearer=access).status == 403, "HTTP API: the revoked token is 403 at once")

# --- A user's grant: password, refresh rotation, reuse, revocation.
pair = token(password_app, grant_type="password", username=USER, password="correct horse", scope="read")
check(pair.status == 200 and "refresh_token" in pair.json(), "the password grant issues an access and a refresh token", pair)
first = pair.json()
allowed = request("GET", f"{REST}/1", bearer=first.get("access_token"))
check(allowed.status == 200 and allowed.json().get("authorizer", {}).get("username") == USER,
      "REST: the user's token is allowed, with the username in the context", allowed)
rotated = token(password_app, grant_type="refresh_token", refresh_token=first.get("refresh_token"))
check(rotated.status == 200 and rotated.json().get("refresh_token") not in (None, first.get("refresh_token")),
      "refresh rotation issues a new pair (UpdateItem inside TransactWriteItems)", rotated)
second = rotated.json()
check(request("GET", f"{REST}/1", bearer=second.get("access_token")).status == 200, "REST: the rotated access token is allowed")
reuse = token(password_app, grant_type="refresh_token", refresh_token=first.get("refresh_token"))
check(reuse.status == 400 and reuse.json().get("error") == "invalid_grant", "replaying the spent refresh token is invalid_grant", reuse)
check(token(password_app, grant_type="refresh_token", refresh_token=second.get("refresh_token")).status == 400,
      "the reuse revoked the family: its live refresh token is refused")
check(request("GET", f"{REST}/1", bearer=second.get("access_token")).status == 401,
      "the reuse revoked the family: its live access token is 401 at the edge")

third = token(password_app, grant_type="password", username=USER, password="correct horse").json()
revoked = request("POST", f"{TOKEN_API}/o/revoke_token/", {"token": third.get("access_token")}, basic=password_app)
check(revoked.status == 200, "the app revokes the user's access token", revoked)
check(request("GET", f"{REST}/1", bearer=third.get("access_token")).status == 401, "REST: the user's revoked token is 401")
after = token(password_app, grant_type="refresh_token", refresh_token=third.get("refresh_token"))
check(after.status == 400, "revoking the access token revoked its grant: the refresh token is refused", after)

# --- Introspection has a throttle of its own: a flood of junk at /o/token
# (credential guessing) must not starve the authorizers' introspections.
survivor = token(app, grant_type="client_credentials", scope="read").json().get("access_token")


def junk(_):
    return request("POST", f"{TOKEN_API}/o/token/", {"grant_type": "client_credentials"}, basic=("guess", "guess")).status


throttled = False
with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
    for _ in range(10):  # At most 10 rounds of 64 requests, stopping at the first 429.
        if 429 in pool.map(junk, range(64)):
            throttled = True
            break
check(throttled, "a flood of junk at /o/token is throttled (429)")
introspected = request("POST", f"{TOKEN_API}/o/introspect/", {"token": survivor}, basic=resource_server)
check(introspected.status == 200 and introspected.json().get("active") is True, "meanwhile introspection still answers", introspected)
check(request("GET", f"{REST}/1", bearer=survivor).status == 200, "meanwhile the protected API still allows a good token")

# --- What operators get: kept logs in JSON at the chosen level, alarms.
logs = boto3.client("logs")
groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{URLS['Stack']}-")["logGroups"]}
service_group = f"/aws/lambda/{URLS['Stack']}-token-service"
check(groups.get(service_group, {}).get("retentionInDays") == 30, "the token service's log group is the stack's, kept 30 days",
      {k: v.get("retentionInDays") for k, v in groups.items()})
lines = []
for event in logs.filter_log_events(logGroupName=service_group).get("events", []) if service_group in groups else []:
    try:
        lines.append(json.loads(event["message"]))
    except ValueError:
        pass  # The runtime's own lines (START, END...) are not the function's.
levels = sorted({line.get("level") for line in lines})
check(any(line.get("message", "").startswith("a spent refresh token was presented again") and line.get("level") == "WARN"
          and line.get("timestamp") for line in lines),
      "the token service logs JSON lines with timestamp and level (the refresh token replay, at WARN)", lines[-3:])
check(levels and "INFO" not in levels and "DEBUG" not in levels, "at LogLevel WARN, no INFO or DEBUG line is logged", levels)
alarms = {a["AlarmName"] for a in boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=URLS["Stack"])["MetricAlarms"]}
for alarm in ("TokenServiceErrorsAlarm", "TokenServiceThrottlesAlarm", "AuthorizerThrottlesAlarm", "IntrospectionFailuresAlarm",
              "TokenApi5xxAlarm", "TokenApiLatencyAlarm", "TableReadThrottlesAlarm", "TableWriteThrottlesAlarm"):
    check(any(alarm in name for name in alarms), f"the stack has its {alarm}", sorted(alarms))
filters = logs.describe_metric_filters(logGroupName=f"/aws/lambda/{URLS['Stack']}-authorizer").get("metricFilters", [])
check(any(f["metricTransformations"][0]["metricName"] == "IntrospectionFailures" for f in filters),
      "the authorizer's log feeds the IntrospectionFailures metric", filters)

if failures:
    # What IAM refused, as the functions logged it: the action a role lacks.
    refused_actions = set()
    prefix = f"/aws/lambda/{URLS['Stack']}-"
    for group in logs.describe_log_groups(logGroupNamePrefix=prefix).get("logGroups", []):
        events = logs.filter_log_events(logGroupName=group["logGroupName"], filterPattern="not authorized")
        for event in events.get("events", []):
            for action in re.findall(r"not authorized to perform: ([\w:*-]+)", event["message"]):
                refused_actions.add(f"{group['logGroupName'][len('/aws/lambda/'):]} was refused {action}")
    log = os.environ.get("EMULATOR_LOG")
    if log and os.path.exists(log):
        for line in open(log, errors="replace"):
            if URLS["Stack"] in line and ("not authorized" in line or "AccessDenied" in line):
                refused_actions.add(line.strip())
    for line in sorted(refused_actions):
        print(f"IAM: {line}")
print(f"deployed stack: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
