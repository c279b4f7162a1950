//! RFC 7591 dynamic client registration at DOT's `/o/register/`, and RFC
//! 7592's management of a registration (`GET`, `PUT`, `DELETE` at
//! `/o/register/<client_id>/` with the registration access token).
//!
//! What registers is a public client of the authorization code grant (with
//! its refreshes), redirecting to `https` or to loopback, for scopes of
//! `REGISTRATION_SCOPES`: a client nobody vouched for gets nothing a
//! secret or a trusted redirect would protect. It never skips consent, and
//! is gone after `REGISTERED_CLIENT_EXPIRE_SECONDS` unused.

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::{json_response, HttpRequest, HttpResponse, OAuthError, TokenService, MAX_BODY_BYTES};
use crate::config::ClientRegistration;
use crate::credentials::{parse_authorization_value, Authorization};
use crate::model::{AccessTokenFormat, Client, ClientAuth, GrantType, Registration, TokenKind};
use crate::redirect_uri::{RedirectKind, RedirectUri};
use crate::scope::{format_scope, parse_scope, ScopeSet, REGISTRATION_SCOPE};
use crate::secret::{generate_id, generate_secret, sha256_hex};
use crate::store::{Item, Key, Store};

/// The most redirect URIs one registration may name.
const MAX_REDIRECT_URIS: usize = 10;

/// The name of a registered client that gives none.
const UNNAMED: &str = "Dynamically registered client";

/// The longest `client_name` kept.
const MAX_CLIENT_NAME_BYTES: usize = 200;

/// What a registration asks for, checked (RFC 7591 §2).
pub(super) struct Metadata {
    redirect_uris: Vec<RedirectUri>,
    name: String,
    scopes: ScopeSet,
}

fn invalid_metadata(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_client_metadata(description)
}

fn invalid_redirect_uri(description: String) -> OAuthError {
    OAuthError::invalid_redirect_uri(description)
}

/// RFC 7592 §2.1: a bad registration access token, or a client that is not
/// there (alike, so that client ids cannot be probed).
fn not_authorized() -> OAuthError {
    OAuthError::invalid_token("the registration access token is not valid for this client")
}

/// Whether `names` (a JSON array of strings, or absent) holds only `allowed`.
fn only(value: Option<&Value>, field: &str, allowed: &[&str]) -> Result<(), OAuthError> {
    let Some(value) = value else { return Ok(()) };
    let names = value
        .as_array()
        .ok_or_else(|| invalid_metadata(format!("{field} is not an array")))?;
    for name in names {
        match name.as_str() {
            Some(name) if allowed.contains(&name) => {}
            _ => {
                return Err(invalid_metadata(format!(
                    "{field} may name only {}",
                    allowed.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// What a client's metadata may say of its scopes.
#[derive(Clone, Copy)]
pub(super) enum ScopeRule<'a> {
    /// Only scopes of this set, or the registration is refused (RFC 7591:
    /// a registration names what it wants from this server).
    Within(&'a ScopeSet),
    /// The scopes of this set that it names (a metadata document is
    /// written for any server, and may name scopes this one lacks).
    NarrowedTo(&'a ScopeSet),
}

/// The JSON object a registration body holds.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(invalid_metadata("the body is not a JSON object")),
    }
}

impl Metadata {
    /// The metadata `fields` hold; unknown members are ignored (RFC 7591
    /// §2). A client that names no `client_name` is called `unnamed`.
    pub(super) fn parse(
        fields: &Map<String, Value>,
        scope_rule: ScopeRule<'_>,
        unnamed: &str,
    ) -> Result<Self, OAuthError> {
        let uris = fields
            .get("redirect_uris")
            .and_then(Value::as_array)
            .filter(|uris| !uris.is_empty())
            .ok_or_else(|| invalid_redirect_uri("redirect_uris must name at least one URI".into()))?;
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(invalid_redirect_uri(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        let mut redirect_uris = Vec::new();
        for uri in uris {
            let text = uri
                .as_str()
                .ok_or_else(|| invalid_redirect_uri("a redirect URI is not a string".into()))?;
            let parsed = RedirectUri::parse(text).map_err(|why| invalid_redirect_uri(why.to_string()))?;
            // A private-use scheme can be claimed by any app: only https
            // and loopback for a client that registered itself.
            if parsed.kind() == RedirectKind::PrivateUse {
                return Err(invalid_redirect_uri(
                    "a registered redirect URI is https, or http to loopback".into(),
                ));
            }
            redirect_uris.push(parsed);
        }
        only(
            fields.get("grant_types"),
            "grant_types",
            &["authorization_code", "refresh_token"],
        )?;
        only(fields.get("response_types"), "response_types", &["code"])?;
        match fields.get("token_endpoint_auth_method") {
            None => {}
            Some(Value::String(method)) if method == "none" => {}
            Some(_) => {
                return Err(invalid_metadata(
                    "only public clients register here: token_endpoint_auth_method is none",
                ))
            }
        }
        let (ScopeRule::Within(registrable) | ScopeRule::NarrowedTo(registrable)) = scope_rule;
        let scopes = match fields.get("scope") {
            None => registrable.clone(),
            Some(Value::String(scope)) => {
                let asked = parse_scope(scope)
                    .map_err(|bad| invalid_metadata(format!("{bad:?} is not a valid scope")))?;
                match scope_rule {
                    ScopeRule::Within(_) => {
                        if let Some(refused) = asked.iter().find(|s| !registrable.contains(*s)) {
                            return Err(invalid_metadata(format!(
                                "scope {refused:?} is not one a registered client may have"
                            )));
                        }
                        asked
                    }
                    ScopeRule::NarrowedTo(_) => asked.intersection(registrable).cloned().collect(),
                }
            }
            Some(_) => return Err(invalid_metadata("scope is not a string")),
        };
        if scopes.is_empty() {
            return Err(invalid_metadata(
                "it names no scope a registered client may have here",
            ));
        }
        let name = match fields.get("client_name") {
            None => unnamed.to_owned(),
            Some(Value::String(name))
                if name.len() <= MAX_CLIENT_NAME_BYTES
                    && !name.chars().any(char::is_control)
                    && !name.trim().is_empty() =>
            {
                name.trim().to_owned()
            }
            Some(_) => {
                return Err(invalid_metadata(format!(
                    "client_name is a name of at most {MAX_CLIENT_NAME_BYTES} bytes"
                )))
            }
        };
        Ok(Self {
            redirect_uris,
            name,
            scopes,
        })
    }
}

/// The client's metadata as RFC 7591 §3.2.1 answers it.
fn client_information(client: &Client, management_uri: &str) -> Value {
    json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": format_scope(&client.scopes),
        "registration_client_uri": management_uri,
    })
}

impl<S: Store> TokenService<S> {
    /// `POST /o/register/` (RFC 7591 §3).
    pub(super) async fn register(&self, request: &HttpRequest) -> Result<HttpResponse, OAuthError> {
        match self.config.client_registration {
            ClientRegistration::Off => {
                return Err(OAuthError::access_denied(
                    "dynamic client registration is off here (CLIENT_REGISTRATION)",
                ))
            }
            ClientRegistration::Open => {}
            ClientRegistration::InitialAccessToken => self.check_initial_access_token(request).await?,
        }
        let fields = json_object(body(request)?)?;
        let metadata = Metadata::parse(&fields, self.registration_scope_rule(), UNNAMED)?;
        let now = self.clock.now();
        let access_token = generate_secret()?;
        let registration = Registration::Dynamic {
            access_token_hash: sha256_hex(&access_token),
            expires_at: now + self.config.registered_client_expire_seconds,
        };
        let client = registered(metadata, generate_id()?, now, registration);
        self.store.register_client(&client).await?;
        tracing::info!(client_id = %client.client_id, "a client registered itself");
        let mut answer = client_information(&client, &self.management_uri(&client.client_id));
        answer["registration_access_token"] = access_token.into();
        Ok(json_response(StatusCode::CREATED, &answer))
    }

    /// `GET`, `PUT` and `DELETE /o/register/<client_id>/` (RFC 7592 §2).
    pub(super) async fn manage_registration(
        &self,
        request: &HttpRequest,
    ) -> Result<HttpResponse, OAuthError> {
        let client_id = request
            .uri()
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let Some(token_hash) = bearer(request).map(|token| sha256_hex(&token)) else {
            return Err(not_authorized());
        };
        let now = self.clock.now();
        let client = match self.store.get_client(client_id).await? {
            Some(client)
                if matches!(&client.registration, Registration::Dynamic { access_token_hash, .. }
                    if access_token_hash == &token_hash) =>
            {
                client
            }
            _ => return Err(not_authorized()),
        };
        let uri = self.management_uri(client_id);
        match *request.method() {
            Method::GET => Ok(json_response(StatusCode::OK, &client_information(&client, &uri))),
            Method::DELETE => {
                if !self
                    .store
                    .delete_registered_client(client_id, &token_hash)
                    .await?
                {
                    return Err(not_authorized());
                }
                tracing::info!(client_id = %client_id, "a client deleted its registration");
                let mut response = HttpResponse::new(String::new());
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(response)
            }
            _ => {
                let fields = json_object(body(request)?)?;
                let metadata = Metadata::parse(&fields, self.registration_scope_rule(), UNNAMED)?;
                // RFC 7592 §2.2: the body names the client it updates.
                if fields.get("client_id").and_then(Value::as_str) != Some(client_id) {
                    return Err(invalid_metadata("client_id must be this client's"));
                }
                let registration = Registration::Dynamic {
                    access_token_hash: token_hash.clone(),
                    expires_at: now + self.config.registered_client_expire_seconds,
                };
                let updated = Client {
                    // An administrator's `client disable` stands.
                    disabled: client.disabled,
                    ..registered(
                        metadata,
                        client.client_id.clone(),
                        client.created_at,
                        registration,
                    )
                };
                if !self
                    .store
                    .replace_registered_client(&updated, &token_hash, now)
                    .await?
                {
                    return Err(not_authorized());
                }
                Ok(json_response(StatusCode::OK, &client_information(&updated, &uri)))
            }
        }
    }

    /// RFC 7591 §3: a closed deployment's registration carries an initial
    /// access token: a client's own active access token with the
    /// `registration` scope, the client still enabled.
    async fn check_initial_access_token(&self, request: &HttpRequest) -> Result<(), OAuthError> {
        let Some(token) = bearer(request) else {
            return Err(OAuthError::bearer_required());
        };
        let invalid = || OAuthError::invalid_token("the initial access token is unknown, expired or revoked");
        let token = match self
            .store
            .load(&[Key::Token(sha256_hex(&token))])
            .await?
            .pop()
            .flatten()
        {
            // A client's own token (client_credentials, `oauthctl token mint`).
            Some(Item::Token(t)) if t.kind == TokenKind::Access && t.username.is_none() => t,
            _ => return Err(invalid()),
        };
        let owner = self.store.get_client(&token.client_id).await?;
        if owner.is_none_or(|owner| owner.disabled) {
            return Err(invalid());
        }
        if !token.scope.contains(REGISTRATION_SCOPE) {
            return Err(OAuthError::insufficient_scope(
                REGISTRATION_SCOPE,
                "the initial access token lacks the registration scope",
            ));
        }
        Ok(())
    }

    fn registration_scope_rule(&self) -> ScopeRule<'_> {
        ScopeRule::Within(&self.config.registration_scopes)
    }

    /// Where a registered client manages its registration.
    fn management_uri(&self, client_id: &str) -> String {
        self.config.endpoint(&format!("/o/register/{client_id}/"))
    }

    /// Keeps a dynamically registered client that is used from expiring:
    /// once less than half its unused lifetime is left, one write.
    pub(super) async fn renew_if_registered(&self, client: &Client) -> Result<(), OAuthError> {
        let (Registration::Dynamic { expires_at, .. } | Registration::MetadataDocument { expires_at, .. }) =
            client.registration
        else {
            return Ok(());
        };
        let now = self.clock.now();
        let lifetime = self.config.registered_client_expire_seconds;
        if expires_at.saturating_sub(now) < lifetime / 2 {
            self.store
                .renew_registered_client(&client.client_id, now + lifetime, now)
                .await?;
        }
        Ok(())
    }
}

/// The bearer token of the request's `Authorization` header.
fn bearer(request: &HttpRequest) -> Option<String> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    match parse_authorization_value(value) {
        Ok(Authorization::Bearer(token)) => Some(token),
        _ => None,
    }
}

/// The body of a registration request: JSON, bounded.
fn body(request: &HttpRequest) -> Result<&[u8], OAuthError> {
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(OAuthError::payload_too_large());
    }
    let is_json = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::invalid_request("the body must be application/json"));
    }
    Ok(body)
}

/// The public code-grant client `client_id` registered at `created_at` for
/// `metadata`.
pub(super) fn registered(
    metadata: Metadata,
    client_id: String,
    created_at: u64,
    registration: Registration,
) -> Client {
    Client {
        client_id,
        name: metadata.name,
        auth: ClientAuth::Public,
        grant_types: [GrantType::AuthorizationCode, GrantType::RefreshToken].into(),
        scopes: metadata.scopes,
        default_scopes: ScopeSet::new(),
        token_lifetime: None,
        disabled: false,
        created_at,
        redirect_uris: metadata.redirect_uris,
        // Nobody vouched for it: its users are always asked.
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: AccessTokenFormat::Opaque,
        registration,
        resources: Default::default(),
    }
}
