"""django-oauth-toolkit as the authorization server, for the authorizer to introspect against.

A throwaway Django project on a temporary SQLite file: it creates a user, a
confidential application and a few access tokens, prints them as one JSON
line ({"port", "client_id", "client_secret", "tokens": {...}}), then serves
DOT's own /o/introspect/ on a loopback port until it is killed.
"""

import json
import os
import sys
import tempfile
from datetime import timedelta

import django
from django.conf import settings

database = os.path.join(tempfile.mkdtemp(prefix="dot-as-"), "db.sqlite3")
settings.configure(
    SECRET_KEY="throwaway",
    USE_TZ=True,
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    OAUTH2_PROVIDER={
        "SCOPES": {"read": "Reading scope", "write": "Writing scope", "introspection": "Introspect token scope"},
    },
)
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application  # noqa: E402
from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: E402

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("jdoe", password="unused")
secret = "resource-server-secret"
app = Application.objects.create(
    name="Resource server",
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    client_secret=secret,
)


def token(value, scope, lifetime, owner=None):
    AccessToken.objects.create(
        token=value, user=owner, application=app, scope=scope, expires=timezone.now() + timedelta(seconds=lifetime)
    )
    return value


tokens = {
    "introspection": token("dot-introspection-token", "introspection", 3600),
    "user_read": token("dot-user-read-token", "read", 3600, owner=user),
    "write_only": token("dot-write-only-token", "write", 3600),
    "expired": token("dot-expired-token", "read", -60),
}


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
print(
    json.dumps(
        {"port": server.server_port, "client_id": app.client_id, "client_secret": secret, "tokens": tokens}
    ),
    flush=True,
)
sys.stdout.close()
server.serve_forever()
