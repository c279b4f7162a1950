//! RFC 7662 token introspection, for resource servers.
//!
//! The caller authenticates with a bearer token carrying the `introspection`
//! scope (DOT's `RESOURCE_SERVER_AUTH_TOKEN`) or with the credentials of a
//! client allowed that scope (DOT's `RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`).
//!
//! One round trip reads the caller's credential, the token, and the clients
//! both name (known up front from the client hint in front of our tokens), so
//! each client's `disabled` flag is honoured without a second read. A token
//! issued to a user, or without a usable hint, costs a second read for its
//! user and client: a disabled or deleted user's tokens are inactive.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::client_auth::{caller, Caller};
use super::{json_response, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::{Form, FormError};
use crate::model::{Client, Family, Token, TokenKind, User};
use crate::scope::{format_scope, INTROSPECTION_SCOPE};
use crate::secret::{client_hint, sha256_hex};
use crate::store::{Item, Key, Store};

/// Items read for one introspection.
#[derive(Default)]
pub(super) struct Loaded {
    clients: Vec<Client>,
    tokens: Vec<Token>,
    users: Vec<User>,
    families: Vec<Family>,
}

impl Loaded {
    pub(super) fn add(&mut self, items: Vec<Option<Item>>) {
        for item in items.into_iter().flatten() {
            match item {
                Item::Client(c) => self.clients.push(c),
                Item::Token(t) => self.tokens.push(t),
                Item::User(u) => self.users.push(u),
                Item::Family(f) => self.families.push(f),
                // Introspection never asks for these.
                Item::Code(_)
                | Item::Session(_)
                | Item::Consent(_)
                | Item::SignInAttempts(_)
                | Item::SigningKeys(_)
                | Item::Device(_)
                | Item::UserCode(_) => {}
            }
        }
    }

    pub(super) fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub(super) fn token(&self, token_hash: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.token_hash == token_hash)
    }

    pub(super) fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    pub(super) fn family(&self, family_id: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.family_id == family_id)
    }

    /// Whether the token's client, its user and its family (when it has them)
    /// exist and are neither disabled nor revoked.
    pub(super) fn owners_enabled(&self, token: &Token) -> bool {
        self.client(&token.client_id).is_some_and(|c| !c.disabled)
            && token
                .username
                .as_deref()
                .is_none_or(|name| self.user(name).is_some_and(|u| !u.disabled))
            && token.family_id.as_deref().is_none_or(|id| {
                self.family(id).is_some_and(|f| {
                    // The grant was made to this very user, and still stands.
                    !f.revoked
                        && self
                            .user(&f.username)
                            .is_some_and(|u| u.honours(&f.user_grants_key))
                })
            })
    }

    /// The owners of `tokens` not read yet.
    pub(super) fn missing_owners<'a>(&self, tokens: impl Iterator<Item = &'a Token>) -> Vec<Key> {
        let mut keys = Vec::new();
        for t in tokens {
            let mut wanted = Vec::new();
            if self.client(&t.client_id).is_none() {
                wanted.push(Key::Client(t.client_id.clone()));
            }
            if let Some(name) = t.username.as_deref().filter(|name| self.user(name).is_none()) {
                wanted.push(Key::User(name.to_owned()));
            }
            if let Some(id) = t.family_id.as_deref().filter(|id| self.family(id).is_none()) {
                wanted.push(Key::Family(id.to_owned()));
            }
            for key in wanted {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }
}

/// The keys for a bearer token and the client it names in front.
fn token_keys(token: &str, keys: &mut Vec<Key>) -> String {
    let hash = sha256_hex(token);
    keys.push(Key::Token(hash.clone()));
    if let Some(client_id) = client_hint(token) {
        keys.push(Key::Client(client_id.to_owned()));
    }
    hash
}

impl<S: Store> TokenService<S> {
    pub(super) async fn introspect(
        &self,
        request: &HttpRequest,
        params: &Form,
    ) -> Result<HttpResponse, OAuthError> {
        let caller = caller(request.headers(), params)?;
        let token = params.get("token")?;

        let mut keys = Vec::new();
        let caller_token_hash = match &caller {
            // Introspection is for authenticated callers (RFC 7662 §2.1).
            Caller::Client(credentials) if credentials.is_id_only() => {
                return Err(OAuthError::invalid_client(
                    "client_secret is missing: introspection needs client authentication",
                ))
            }
            Caller::Client(credentials) => {
                keys.push(Key::Client(credentials.client_id.clone()));
                None
            }
            Caller::Bearer(bearer) => Some(token_keys(bearer, &mut keys)),
            Caller::Anonymous => return Err(OAuthError::credentials_required()),
        };
        let token_hash = token.map(|t| token_keys(t, &mut keys));
        keys.dedup();
        let mut loaded = Loaded::default();
        loaded.add(self.store.load(&keys).await?);

        // Authenticate the caller before anything about the token is used.
        let caller_token = match (&caller, &caller_token_hash) {
            (Caller::Client(credentials), _) => {
                let client = self
                    .authenticate(credentials, loaded.client(&credentials.client_id).cloned())
                    .await?;
                if !client.scopes.contains(INTROSPECTION_SCOPE) {
                    return Err(OAuthError::insufficient_scope(
                        INTROSPECTION_SCOPE,
                        "this client is not allowed the introspection scope",
                    ));
                }
                None
            }
            (_, Some(hash)) => {
                // Only an access token is a bearer token; a refresh token is not.
                let t = loaded
                    .token(hash)
                    .filter(|t| t.kind == TokenKind::Access)
                    .cloned()
                    .ok_or_else(|| {
                        OAuthError::invalid_token("the bearer token is unknown, expired or revoked")
                    })?;
                if !t.scope.contains(INTROSPECTION_SCOPE) {
                    return Err(OAuthError::insufficient_scope(
                        INTROSPECTION_SCOPE,
                        "the bearer token lacks the introspection scope",
                    ));
                }
                Some(t)
            }
            _ => return Err(OAuthError::credentials_required()),
        };
        let Some(token_hash) = token_hash else {
            return Err(FormError::Missing("token".into()).into());
        };
        // A refresh token is active only to the client it was issued to, so no
        // resource server can mistake it for an access token, and only until
        // it is spent (a spent one only serves reuse detection).
        let caller_client_id = match &caller {
            Caller::Client(credentials) => Some(credentials.client_id.as_str()),
            _ => None,
        };
        let target = loaded
            .token(&token_hash)
            .filter(|t| {
                t.kind == TokenKind::Access
                    || (caller_client_id == Some(t.client_id.as_str()) && t.rotated_at.is_none())
            })
            .cloned();

        // Owners not yet read (users, clients of tokens without a usable hint):
        // one more read.
        let missing = loaded.missing_owners(caller_token.iter().chain(target.iter()));
        if !missing.is_empty() {
            loaded.add(self.store.load(&missing).await?);
        }

        if caller_token.is_some_and(|t| !loaded.owners_enabled(&t)) {
            return Err(OAuthError::invalid_token(
                "the bearer token is unknown, expired or revoked",
            ));
        }
        let answer = match target {
            Some(t) if loaded.owners_enabled(&t) => self.active_answer(&t),
            _ => json!({ "active": false }),
        };
        Ok(json_response(StatusCode::OK, &answer))
    }

    fn active_answer(&self, token: &Token) -> Value {
        let mut answer = Map::new();
        answer.insert("active".into(), Value::Bool(true));
        answer.insert("scope".into(), format_scope(&token.scope).into());
        answer.insert("exp".into(), token.expires_at.into());
        answer.insert("iat".into(), token.issued_at.into());
        answer.insert("client_id".into(), token.client_id.clone().into());
        let token_type = match token.kind {
            TokenKind::Access => "Bearer",
            TokenKind::Refresh => "refresh_token",
        };
        answer.insert("token_type".into(), token_type.into());
        answer.insert("iss".into(), self.config.issuer.clone().into());
        if let Some(username) = &token.username {
            answer.insert("username".into(), username.clone().into());
        }
        if !token.audience.is_empty() {
            answer.insert("aud".into(), crate::issue::audience_claim(&token.audience));
        }
        Value::Object(answer)
    }
}
