"""A real django-oauth-toolkit database, dumped the way a DOT deployment would
migrate: `manage.py dumpdata oauth2_provider auth.user`.

Prints one JSON object: {"dump": <the dumpdata output>, "secrets": <the raw
passwords, client secrets and tokens the test presents afterwards>}.
"""

import io
import json
import os
import tempfile
from datetime import timedelta

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="throwaway",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": os.path.join(tempfile.mkdtemp(prefix="dot-dump-"), "db.sqlite3")}},
    OAUTH2_PROVIDER={"SCOPES": {"read": "Reading scope", "write": "Writing scope"}},
)
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, DeviceGrant, RefreshToken  # noqa: E402
from oauth2_provider.views.dynamic_client_registration import _issue_registration_token  # noqa: E402

call_command("migrate", verbosity=0)
User = get_user_model()
# Another user first, so that jdoe's primary key (DOT's `sub`) is not 1.
User.objects.create_user("first", password="first-password", is_active=False).delete()
jdoe = User.objects.create_user("jdoe", password="jdoe-password", first_name="Jane", last_name="Doe",
                                email="jane@example.com")
gone = User.objects.create_user("gone", password="gone-password", is_active=False)

cc = Application.objects.create(name="Billing", client_type=Application.CLIENT_CONFIDENTIAL,
                                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret="cc-secret")
pw = Application.objects.create(name="Mobile", client_type=Application.CLIENT_CONFIDENTIAL,
                                authorization_grant_type=Application.GRANT_PASSWORD, client_secret="pw-secret")
web = Application.objects.create(name="SPA", client_type=Application.CLIENT_PUBLIC,
                                 authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                                 redirect_uris="https://spa.example/cb http://127.0.0.1:8765/cb http://spa.example/insecure https://*.spa.example/cb",
                                 client_secret="", skip_authorization=True,
                                 allowed_origins="https://spa.example http://spa.example",
                                 post_logout_redirect_uris="https://spa.example/signed-out javascript:alert(1)")
# DOT 3.2's device grant, for a public client as DOT allows.
tv = Application.objects.create(name="Living Room TV", client_type=Application.CLIENT_PUBLIC,
                                authorization_grant_type=Application.GRANT_DEVICE_CODE, client_secret="")
# DOT 3.4: a client that registered itself (RFC 7591), with the registration
# access token DOT issued it; one known by its metadata document; one whose
# ID tokens were HS256.
dcr = Application.objects.create(name="Registered", client_type=Application.CLIENT_PUBLIC,
                                 authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                                 redirect_uris="http://127.0.0.1/cb", client_secret="",
                                 registration_source=Application.RegistrationSource.DCR)
dcr_token = _issue_registration_token(dcr, None)
cimd = Application.objects.create(client_id="https://app.example.com/oauth/client.json", name="Documented",
                                  client_type=Application.CLIENT_PUBLIC,
                                  authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                                  redirect_uris="https://app.example.com/cb", client_secret="",
                                  registration_source=Application.RegistrationSource.CIMD)
Application.objects.create(name="Legacy OIDC", client_type=Application.CLIENT_CONFIDENTIAL,
                           authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                           redirect_uris="https://legacy.example/cb", client_secret="legacy-secret",
                           algorithm=Application.HS256_ALGORITHM)

now = timezone.now()
hour = timedelta(hours=1)
AccessToken.objects.create(token="dot-client-token", application=cc, scope="read", expires=now + hour)
AccessToken.objects.create(token="dot-expired-token", application=cc, scope="read", expires=now - hour)
user_access = AccessToken.objects.create(token="dot-user-access", application=pw, user=jdoe, scope="read write",
                                         expires=now + hour)
RefreshToken.objects.create(token="dot-user-refresh", application=pw, user=jdoe, access_token=user_access)
RefreshToken.objects.create(token="dot-revoked-refresh", application=pw, user=jdoe, revoked=now)
AccessToken.objects.create(token="dot-spa-token", application=web, user=jdoe, scope="read", expires=now + hour)
AccessToken.objects.create(token="dot-gone-token", application=pw, user=gone, scope="read", expires=now + hour)
# DOT 3.4's RFC 8707: a token, and its refresh token, for one resource.
mcp_access = AccessToken.objects.create(token="dot-mcp-access", application=dcr, user=jdoe, scope="read",
                                        expires=now + hour, resource=["https://mcp.example.com/mcp"])
RefreshToken.objects.create(token="dot-mcp-refresh", application=dcr, user=jdoe, access_token=mcp_access)
# A device authorization in flight.
DeviceGrant.objects.create(client_id=tv.client_id, device_code="in-flight", user_code="BCDF-GHJK",
                           expires=now + hour, scope="read")

out = io.StringIO()
call_command("dumpdata", "oauth2_provider", "auth.user", stdout=out)
print(json.dumps({
    "dump": json.loads(out.getvalue()),
    "secrets": {
        "cc": {"client_id": cc.client_id, "client_secret": "cc-secret"},
        "pw": {"client_id": pw.client_id, "client_secret": "pw-secret"},
        "spa": {"client_id": web.client_id},
        "tv": {"client_id": tv.client_id},
        "dcr": {"client_id": dcr.client_id, "registration_access_token": dcr_token},
        "cimd": {"client_id": cimd.client_id},
        "jdoe_password": "jdoe-password",
        "jdoe_sub": str(jdoe.pk),
    },
}))
