"""A django-oauth-toolkit 3.4 authorization server with everything on: OpenID
Connect (an RSA key, and an inactive one), RFC 7591 registration, Client ID
Metadata Documents, RFC 8707 resources, the device grant, allowed_origins.
Users sign in through each flow (DOT's own views, driven by Django's test
client in this process, as a browser would drive them), DOT introspects each
token it issued, then the database is dumped as a migration would dump it:

    everything_on.py    prints one JSON object

{"dump": <dumpdata oauth2_provider auth.user>, "keys": {"signing": PEM,
"inactive": [PEM]}, "flows": {<flow>: {"client_id", "client_secret"?,
"redirect_uri", "access_token", "refresh_token", "id_token"?, "dot_introspection"}},
"registration_access_token": ..., "password": jdoe's}.
"""

import base64
import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import urllib.parse

import django
from django.conf import settings


def rsa_pem():
    """A 2048-bit RSA key in PEM, as DOT's docs make one (openssl genrsa)."""
    return subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, text=True, check=True).stdout


SIGNING, INACTIVE = rsa_pem(), rsa_pem()
# Where the test serves the document too (CIMD_CLIENT_ID), so that the
# migrated service can fetch it.
CIMD_CLIENT = os.environ.get("CIMD_CLIENT_ID", "https://app.example.com/oauth/client.json")
CIMD_REDIRECT = "http://127.0.0.1:9876/cb"
MCP = "https://mcp.example.com/mcp"

settings.configure(
    SECRET_KEY="throwaway",
    USE_TZ=True,
    DEBUG=False,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "oauth2_provider"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                   "django.contrib.auth.context_processors.auth"]}}],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": os.path.join(tempfile.mkdtemp(prefix="dot-everything-"), "db.sqlite3")}},
    ROOT_URLCONF=__name__,
    OAUTH2_PROVIDER={
        "SCOPES": {"read": "Reading scope", "write": "Writing scope", "openid": "OpenID Connect",
                   "introspection": "Introspect token scope"},
        "PKCE_REQUIRED": True,
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": SIGNING,
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [INACTIVE],
        "DCR_ENABLED": True,
        "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
        "CIMD_ENABLED": True,
        "CIMD_METADATA_FETCHER": f"{__name__}.FixtureFetcher",
        "DEVICE_FLOW_INTERVAL": 5,
    },
)
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]


class FixtureFetcher:
    """The metadata document a client publishes at its URL (the network is
    not this fixture's to reach): DOT's fetcher interface, answered locally."""

    def fetch(self, client_id):
        return ({"client_id": client_id, "client_name": "Documented", "redirect_uris": [CIMD_REDIRECT],
                 "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                 "token_endpoint_auth_method": "none"}, 3600)


call_command("migrate", verbosity=0)
User = get_user_model()
User.objects.create_user("first", password="x").delete()  # jdoe's pk (DOT's sub) is not 1
jdoe = User.objects.create_user("jdoe", password="jdoe-password", first_name="Jane", last_name="Doe",
                                email="jane@example.com")
browser = Client()
browser.force_login(jdoe)
api = Client()

web = Application.objects.create(
    name="Web", client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, redirect_uris="https://web.example/cb",
    client_secret="web-secret", algorithm=Application.RS256_ALGORITHM, allowed_origins="https://web.example",
    post_logout_redirect_uris="https://web.example/bye")
tv = Application.objects.create(
    name="TV", client_type=Application.CLIENT_PUBLIC,
    authorization_grant_type=Application.GRANT_DEVICE_CODE, client_secret="")
rs = Application.objects.create(
    name="Resource server", client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret="rs-secret")


def form(path, data, **extra):
    """A form POST as a client sends one (application/x-www-form-urlencoded)."""
    return api.post(path, urllib.parse.urlencode(data), content_type="application/x-www-form-urlencoded", **extra)


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def token(fields, auth=None):
    extra = {"HTTP_AUTHORIZATION": auth} if auth else {}
    answer = form("/o/token/", fields, **extra)
    assert answer.status_code == 200, (answer.status_code, answer.content)
    return answer.json()


def code_flow(client_id, redirect_uri, scope, secret=None, resource=None):
    """The person's sign-in and approval at DOT's /o/authorize/, then the code redeemed."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    if resource:
        params["resource"] = resource
    page = browser.get("/o/authorize/", params)
    assert page.status_code == 200, (page.status_code, page.content[:500])
    answer = browser.post("/o/authorize/", {**params, "allow": "Authorize"})
    assert answer.status_code == 302, (answer.status_code, answer.content[:500])
    code = urllib.parse.parse_qs(urllib.parse.urlparse(answer["Location"]).query)["code"][0]
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    if resource:
        fields["resource"] = resource
    if secret is None:
        return token({**fields, "client_id": client_id})
    return token(fields, basic(client_id, secret))


flows = {}
# OpenID Connect with a confidential web application.
got = code_flow(web.client_id, "https://web.example/cb", "openid read", secret="web-secret")
flows["web"] = {"client_id": web.client_id, "client_secret": "web-secret", "redirect_uri": "https://web.example/cb",
                **got}

# The device grant: the TV asks, the person enters the code at DOT's device page, the TV polls.
started = form("/o/device-authorization/", {"client_id": tv.client_id, "scope": "read"})
assert started.status_code == 200, (started.status_code, started.content)
started = started.json()
entered = browser.post("/o/device/", {"user_code": started["user_code"]})
assert entered.status_code in (302, 303), (entered.status_code, entered.content[:500])
confirmed = browser.post(entered["Location"], {"action": "accept"})
assert confirmed.status_code in (200, 302, 303), (confirmed.status_code, confirmed.content[:500])
got = token({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": started["device_code"],
             "client_id": tv.client_id})
flows["device"] = {"client_id": tv.client_id, **got}

# A client that registers itself (RFC 7591), then signs the person in for one resource (RFC 8707).
registered = api.post("/o/register/", json.dumps({
    "client_name": "Registered", "redirect_uris": ["http://127.0.0.1:8765/cb"], "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "scope": "read"}),
    content_type="application/json")
assert registered.status_code == 201, (registered.status_code, registered.content)
registered = registered.json()
got = code_flow(registered["client_id"], "http://127.0.0.1:8765/cb", "read", resource=MCP)
flows["dcr"] = {"client_id": registered["client_id"], "redirect_uri": "http://127.0.0.1:8765/cb", **got}

# A client known by its metadata document.
got = code_flow(CIMD_CLIENT, CIMD_REDIRECT, "read")
flows["cimd"] = {"client_id": CIMD_CLIENT, "redirect_uri": CIMD_REDIRECT, **got}

# What DOT says of each token it issued (RFC 7662), as its resource servers hear it.
for flow in flows.values():
    answer = form("/o/introspect/", {"token": flow["access_token"]}, HTTP_AUTHORIZATION=basic(rs.client_id, "rs-secret"))
    assert answer.status_code == 200, (answer.status_code, answer.content)
    flow["dot_introspection"] = answer.json()

out = __import__("io").StringIO()
call_command("dumpdata", "oauth2_provider", "auth.user", stdout=out)
print(json.dumps({
    "dump": json.loads(out.getvalue()),
    "keys": {"signing": SIGNING, "inactive": [INACTIVE]},
    "flows": flows,
    "registration_access_token": registered["registration_access_token"],
    "password": "jdoe-password",
    "jdoe_sub": str(jdoe.pk),
}))
