"""django-oauth-toolkit as a separate resource server, pointed at our token service.

A throwaway Django project, configured only through environment variables the
way a DOT user configures OAUTH2_PROVIDER:

  DOT_INTROSPECTION_URL    RESOURCE_SERVER_INTROSPECTION_URL
  DOT_AUTH_TOKEN           RESOURCE_SERVER_AUTH_TOKEN, or
  DOT_CLIENT_ID/SECRET     RESOURCE_SERVER_INTROSPECTION_CREDENTIALS

Each argument is a bearer token; for each, the script GETs a view protected by
DOT with required scope "read" and prints the list of HTTP statuses as JSON.
"""

import json
import os
import sys

import django
from django.conf import settings

provider = {
    "RESOURCE_SERVER_INTROSPECTION_URL": os.environ["DOT_INTROSPECTION_URL"],
    "SCOPES": {"read": "Reading scope", "write": "Writing scope"},
}
if os.environ.get("DOT_AUTH_TOKEN"):
    provider["RESOURCE_SERVER_AUTH_TOKEN"] = os.environ["DOT_AUTH_TOKEN"]
else:
    provider["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"] = (
        os.environ["DOT_CLIENT_ID"],
        os.environ["DOT_CLIENT_SECRET"],
    )

settings.configure(
    SECRET_KEY="throwaway",
    USE_TZ=True,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    OAUTH2_PROVIDER=provider,
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from oauth2_provider.views.generic import ScopedProtectedResourceView  # noqa: E402


class Resource(ScopedProtectedResourceView):
    required_scopes = ["read"]

    def get(self, request):
        return JsonResponse({"ok": True})


urlpatterns = [path("resource/", Resource.as_view())]

call_command("migrate", verbosity=0)
client = Client()
print(json.dumps([client.get("/resource/", HTTP_AUTHORIZATION=f"Bearer {t}").status_code for t in sys.argv[1:]]))
