//! OpenID Connect on the code flow: the ID token (Core §2, §3.1.3.6), the
//! UserInfo endpoint (Core §5.3) with claims by scope (§5.4), and the JWKS
//! the tokens verify against. On whenever a way to seal signing keys is
//! configured.

use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use super::cors::ClientOrigins;
use super::introspect::Loaded;
use super::{json_response, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::credentials::{parse_authorization, Authorization};
use crate::form::Form;
use crate::jose::left_half_hash;
use crate::keys::SigningError;
use crate::model::{AuthorizationCode, Client, TokenKind, User};
use crate::scope::OPENID_SCOPE;
use crate::secret::{client_hint, sha256_hex};
use crate::store::{Key, Store};

impl From<SigningError> for OAuthError {
    fn from(e: SigningError) -> Self {
        OAuthError::unavailable(&e)
    }
}

/// The claims `scope` releases about `user` (Core §5.4), beside `sub`.
fn claims_by_scope(user: &User, scope: &crate::scope::ScopeSet, claims: &mut Map<String, Value>) {
    let profile = &user.profile;
    if scope.contains("profile") {
        let name = format!("{} {}", profile.first_name, profile.last_name);
        for (claim, value) in [
            ("name", name.trim()),
            ("given_name", profile.first_name.as_str()),
            ("family_name", profile.last_name.as_str()),
        ] {
            if !value.is_empty() {
                claims.insert(claim.into(), value.into());
            }
        }
        claims.insert("preferred_username".into(), user.username.clone().into());
    }
    if scope.contains("email") && !profile.email.is_empty() {
        claims.insert("email".into(), profile.email.clone().into());
        claims.insert("email_verified".into(), profile.email_verified.into());
    }
}

/// What the UserInfo endpoint answers for a bad bearer token (RFC 6750 §3.1).
fn no_access() -> OAuthError {
    OAuthError::invalid_token("the access token is unknown, expired or revoked")
}

impl<S: Store> TokenService<S> {
    /// The ID token for `code`, redeemed by `client` for `access_token`,
    /// signed with the key signing now.
    pub(super) async fn id_token(
        &self,
        client: &Client,
        code: &AuthorizationCode,
        user: &User,
        access_token: &str,
        now: u64,
    ) -> Result<String, OAuthError> {
        let Some(keys) = &self.keys else {
            // The scope is unknown without OpenID Connect; a code granted it
            // before the configuration changed gets no ID token.
            return Err(OAuthError::invalid_scope("OpenID Connect is not configured here"));
        };
        let key = keys.active(&self.store, now).await?;
        let mut claims = Map::new();
        claims.insert("iss".into(), self.config.issuer.clone().into());
        claims.insert("sub".into(), user.subject.clone().into());
        claims.insert("aud".into(), client.client_id.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert(
            "exp".into(),
            key.expiry(now, self.config.id_token_expire_seconds).into(),
        );
        claims.insert("auth_time".into(), code.auth_time.into());
        if let Some(nonce) = &code.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        claims.insert("at_hash".into(), left_half_hash(access_token).into());
        if !code.sid.is_empty() {
            claims.insert("sid".into(), code.sid.clone().into());
        }
        let signed = key.signer.sign(&key.kid, "JWT", &Value::Object(claims));
        Ok(signed.map_err(SigningError::Key)?)
    }

    /// `/o/userinfo/` (GET or POST): the signed-in user's claims, for an
    /// access token with the `openid` scope, sent as a bearer token in the
    /// header (RFC 6750 §2.1) or, in a POST, the body (§2.2).
    pub(super) async fn userinfo(
        &self,
        request: &HttpRequest,
        params: &Form,
        origins: &ClientOrigins,
    ) -> Result<HttpResponse, OAuthError> {
        let header = parse_authorization(request.headers()).map_err(OAuthError::invalid_request)?;
        let token = match (header, params.get("access_token")?) {
            (Authorization::Bearer(token), None) => token,
            (Authorization::Absent, Some(token)) if request.method() == http::Method::POST => {
                token.to_owned()
            }
            (Authorization::Absent, None) => {
                return Err(OAuthError::bearer_required());
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "send the access token once: in the Authorization header (Bearer), or in a POST body",
                ))
            }
        };
        let hash = sha256_hex(&token);
        let mut keys = vec![Key::Token(hash.clone())];
        if let Some(client_id) = client_hint(&token) {
            keys.push(Key::Client(client_id.to_owned()));
        }
        let mut loaded = Loaded::default();
        loaded.add(self.store.load(&keys).await?);
        // The answer is readable by the origins of the client the token names
        // in front (a hint only: it decides nothing but who may read).
        if let Some(client) = client_hint(&token).and_then(|id| loaded.client(id)) {
            origins.of(client);
        }
        let found = loaded
            .token(&hash)
            .filter(|t| t.kind == TokenKind::Access && t.username.is_some())
            .cloned()
            .ok_or_else(no_access)?;
        let missing = loaded.missing_owners(std::iter::once(&found));
        if !missing.is_empty() {
            loaded.add(self.store.load(&missing).await?);
        }
        if !loaded.owners_enabled(&found) {
            return Err(no_access());
        }
        if !found.scope.contains(OPENID_SCOPE) {
            return Err(OAuthError::insufficient_scope(
                OPENID_SCOPE,
                "the access token lacks the openid scope",
            ));
        }
        let user = found
            .username
            .as_deref()
            .and_then(|name| loaded.user(name))
            .ok_or_else(no_access)?;
        let mut claims = Map::new();
        claims.insert("sub".into(), user.subject.clone().into());
        claims_by_scope(user, &found.scope, &mut claims);
        Ok(json_response(StatusCode::OK, &Value::Object(claims)))
    }

    /// `/o/.well-known/jwks.json`: every key published now. Readable from
    /// any origin, and cacheable briefly: a new key is published long
    /// before it signs, so a cache a few minutes old is never missing one.
    pub(super) async fn jwks(&self, head: bool) -> Result<HttpResponse, OAuthError> {
        let Some(keys) = &self.keys else {
            return Ok(super::error::not_found());
        };
        let now = self.clock.now();
        let set = keys.keys(&self.store, now).await?;
        let jwks = json!({ "keys": set.published(now).map(|k| k.public.to_jwk(&k.kid)).collect::<Vec<_>>() });
        let mut response = json_response(StatusCode::OK, &jwks);
        if head {
            response.body_mut().clear();
        }
        let headers = response.headers_mut();
        headers.remove(http::header::PRAGMA);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        Ok(response)
    }
}
