"""An ID token signed as django-oauth-toolkit 3.4 signs one (its
OAuth2Validator.finalize_id_token): the key from its OIDC_RSA_PRIVATE_KEY PEM
by DOT's own jwk_from_pem, `kid` its thumbprint, header {typ: JWT, alg: RS256}.

    sign_as_dot.py KEY.pem CLAIMS_JSON    prints the compact JWT
"""

import json
import sys

import django
from django.conf import settings

settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"])
django.setup()

from jwcrypto import jwt  # noqa: E402
from oauth2_provider.utils import jwk_from_pem  # noqa: E402

with open(sys.argv[1]) as f:
    key = jwk_from_pem(f.read())
token = jwt.JWT(header=json.dumps({"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}), claims=sys.argv[2])
token.make_signed_token(key)
print(json.dumps({"id_token": token.serialize(), "kid": key.thumbprint()}))
