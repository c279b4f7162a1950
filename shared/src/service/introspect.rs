//! RFC 7662 token introspection, for resource servers.
//!
//! The caller authenticates with a bearer token carrying the `introspection`
//! scope (DOT's `RESOURCE_SERVER_AUTH_TOKEN`) or with the credentials of a
//! client allowed that scope (DOT's `RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`).
//! Reads: one batch for the caller's credential and the token, then one batch
//! for the clients they name, to honour each client's `disabled` flag.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::client_auth::{authenticate, caller, Caller};
use super::{json_response, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::Form;
use crate::model::{AccessToken, Client};
use crate::scope::{format_scope, INTROSPECTION_SCOPE};
use crate::secret::sha256_hex;
use crate::store::{Item, Key, Store};

impl<S: Store> TokenService<S> {
    pub(super) async fn introspect(
        &self,
        request: &HttpRequest,
        params: &Form,
    ) -> Result<HttpResponse, OAuthError> {
        let caller = caller(request.headers(), params)?;
        let token = params
            .get("token")
            .map_err(|e| OAuthError::invalid_request(e.to_string()))?;

        let caller_key = match &caller {
            Caller::Client(credentials) => Key::Client(credentials.client_id.clone()),
            Caller::Bearer(bearer) => Key::Token(sha256_hex(bearer)),
            Caller::Anonymous => return Err(OAuthError::credentials_required()),
        };
        let mut keys = vec![caller_key];
        if let Some(token) = token {
            keys.push(Key::Token(sha256_hex(token)));
        }
        let mut items = self.store.load(&keys).await?.into_iter();
        let caller_item = items.next().flatten();
        let target = match items.next().flatten() {
            Some(Item::Token(t)) => Some(t),
            _ => None,
        };

        // Authenticate the caller before anything about the token is used.
        let (caller_client, caller_token) = match (&caller, caller_item) {
            (Caller::Client(credentials), item) => {
                let stored = match item {
                    Some(Item::Client(c)) => Some(c),
                    _ => None,
                };
                let client = authenticate(credentials, stored)?;
                if !client.scopes.contains(INTROSPECTION_SCOPE) {
                    return Err(OAuthError::insufficient_scope(
                        INTROSPECTION_SCOPE,
                        "this client is not allowed the introspection scope",
                    ));
                }
                (Some(client), None)
            }
            (_, Some(Item::Token(t))) => {
                if !t.scope.contains(INTROSPECTION_SCOPE) {
                    return Err(OAuthError::insufficient_scope(
                        INTROSPECTION_SCOPE,
                        "the bearer token lacks the introspection scope",
                    ));
                }
                (None, Some(t))
            }
            _ => {
                return Err(OAuthError::invalid_token(
                    "the bearer token is unknown, expired or revoked",
                ))
            }
        };
        if token.is_none() {
            return Err(OAuthError::invalid_request("token is missing"));
        }

        // The clients still to read: the bearer's, and the token's (unless known).
        let mut client_ids: Vec<&str> = Vec::new();
        if let Some(t) = &caller_token {
            client_ids.push(&t.client_id);
        }
        if let Some(t) = &target {
            let known = caller_client.as_ref().is_some_and(|c| c.client_id == t.client_id);
            if !known && !client_ids.contains(&t.client_id.as_str()) {
                client_ids.push(&t.client_id);
            }
        }
        let clients: Vec<Client> = if client_ids.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<Key> = client_ids
                .iter()
                .map(|id| Key::Client((*id).to_owned()))
                .collect();
            self.store
                .load(&keys)
                .await?
                .into_iter()
                .filter_map(|item| match item {
                    Some(Item::Client(c)) => Some(c),
                    _ => None,
                })
                .chain(caller_client)
                .collect()
        };
        let enabled = |client_id: &str| clients.iter().any(|c| c.client_id == client_id && !c.disabled);

        if let Some(t) = &caller_token {
            if !enabled(&t.client_id) {
                return Err(OAuthError::invalid_token(
                    "the bearer token is unknown, expired or revoked",
                ));
            }
        }
        let answer = match target {
            Some(t) if enabled(&t.client_id) => self.active_answer(&t),
            _ => json!({ "active": false }),
        };
        Ok(json_response(StatusCode::OK, &answer))
    }

    fn active_answer(&self, token: &AccessToken) -> Value {
        let mut answer = Map::new();
        answer.insert("active".into(), Value::Bool(true));
        answer.insert("scope".into(), format_scope(&token.scope).into());
        answer.insert("exp".into(), token.expires_at.into());
        answer.insert("iat".into(), token.issued_at.into());
        answer.insert("client_id".into(), token.client_id.clone().into());
        answer.insert("token_type".into(), "Bearer".into());
        answer.insert("iss".into(), self.config.issuer.clone().into());
        if let Some(username) = &token.username {
            answer.insert("username".into(), username.clone().into());
        }
        Value::Object(answer)
    }
}
