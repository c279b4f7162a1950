//! The HTTP face of the OAuth core: one entry point, [`TokenService::handle`],
//! that both the Lambda adapter and the standalone server call. One module
//! per endpoint and grant; `client_auth` and `user_auth` authenticate
//! clients and users for all of them, `grant_scope` is the one scope rule.

mod authorization_code;
mod authorize;
mod client_auth;
mod client_credentials;
mod client_metadata;
mod cors;
mod device_authorization;
mod device_code;
mod error;
mod grant_scope;
mod introspect;
mod metadata;
mod oidc;
mod password;
mod pkce;
mod refresh_token;
mod register;
mod revoke;
mod token;
mod user_auth;

use std::time::Instant;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::clock::SharedClock;
use crate::config::{KeySealing, ServiceConfig};
use crate::form::Form;
use crate::keys::{AutomaticRotation, KeyRing, Sealer};
use crate::store::Store;

pub(crate) use client_metadata::never_fetched;
pub use error::OAuthError;

/// A request as the core sees it; the body is at most [`MAX_BODY_BYTES`] + 1
/// bytes (adapters may cut longer bodies there: they are refused unread).
pub type HttpRequest = http::Request<Vec<u8>>;
/// A response as the core produces it.
pub type HttpResponse = http::Response<String>;

/// The longest client id a registration management path may name (more
/// than any stored key can hold).
const MAX_CLIENT_ID_BYTES: usize = 1024;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The endpoints, by path (DOT's paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Token,
    Introspect,
    Revoke,
    Metadata,
    Authorize,
    Logout,
    OpenIdConfiguration,
    Jwks,
    UserInfo,
    Register,
    /// `/o/register/<client_id>/`: RFC 7592's client configuration endpoint.
    RegisteredClient,
    /// RFC 8628's device authorization endpoint.
    DeviceAuthorization,
    /// RFC 8628's verification URI: the device page.
    Device,
}

impl Route {
    const ALL: [(Route, &'static str); 12] = [
        (Route::Token, "/o/token"),
        (Route::Introspect, "/o/introspect"),
        (Route::Revoke, "/o/revoke_token"),
        (Route::Metadata, "/.well-known/oauth-authorization-server"),
        (Route::Authorize, "/o/authorize"),
        (Route::Logout, "/o/logout"),
        // `<issuer>/.well-known/openid-configuration` (Discovery §4), under
        // any issuer path: the one URL every relying party and MCP client tries.
        (Route::OpenIdConfiguration, "/.well-known/openid-configuration"),
        (Route::Jwks, "/o/.well-known/jwks.json"),
        (Route::UserInfo, "/o/userinfo"),
        (Route::Register, "/o/register"),
        (Route::DeviceAuthorization, "/o/device-authorization"),
        (Route::Device, "/o/device"),
    ];

    /// The route a path ends with. Matching the end lets the service run under
    /// an API Gateway stage or a custom-domain base path; a trailing slash is
    /// optional. `metadata_at` is where RFC 8414 §3 puts the metadata of an
    /// issuer with a path (the well-known segment inserted before it).
    fn find(path: &str, metadata_at: Option<&str>) -> Option<Route> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if metadata_at.is_some_and(|inserted| path.ends_with(inserted)) {
            return Some(Route::Metadata);
        }
        if let Some((head, client_id)) = path.rsplit_once('/') {
            if head.ends_with("/o/register")
                && !client_id.is_empty()
                && client_id.len() <= MAX_CLIENT_ID_BYTES
                && client_id.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Some(Route::RegisteredClient);
            }
        }
        Self::ALL
            .iter()
            .find(|(_, suffix)| path.ends_with(suffix))
            .map(|(route, _)| *route)
    }

    fn name(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Introspect => "introspect",
            Route::Revoke => "revoke",
            Route::Metadata => "metadata",
            Route::Authorize => "authorize",
            Route::Logout => "logout",
            Route::OpenIdConfiguration => "openid-configuration",
            Route::Jwks => "jwks",
            Route::UserInfo => "userinfo",
            Route::Register => "register",
            Route::RegisteredClient => "registered-client",
            Route::DeviceAuthorization => "device-authorization",
            Route::Device => "device",
        }
    }

    fn allowed_methods(self) -> &'static [Method] {
        match self {
            // OPTIONS: the preflight of a browser client (`cors`).
            Route::Token | Route::Revoke => &[Method::POST, Method::OPTIONS],
            Route::Introspect => &[Method::GET, Method::POST],
            Route::Metadata | Route::OpenIdConfiguration | Route::Jwks => &[Method::GET, Method::HEAD],
            Route::Authorize | Route::Logout => &[Method::GET, Method::POST],
            Route::UserInfo => &[Method::GET, Method::POST, Method::OPTIONS],
            Route::Register => &[Method::POST],
            Route::RegisteredClient => &[Method::GET, Method::PUT, Method::DELETE],
            Route::DeviceAuthorization => &[Method::POST],
            Route::Device => &[Method::GET, Method::POST],
        }
    }
}

/// The OAuth 2.0 token service: token issuance, introspection, revocation and
/// metadata over a [`Store`].
pub struct TokenService<S> {
    config: ServiceConfig,
    store: S,
    clock: SharedClock,
    metadata: String,
    /// `/.well-known/oauth-authorization-server/<issuer path>`, when the issuer has a path.
    metadata_at: Option<String>,
    /// The OpenID Connect discovery document, when OpenID Connect is on.
    openid_configuration: Option<String>,
    /// The keys that sign ID tokens, when OpenID Connect is on.
    keys: Option<KeyRing>,
    /// Client metadata documents that could not be used lately.
    failed_documents: client_metadata::FailedDocuments,
}

impl<S: Store> TokenService<S> {
    /// Builds the service once, at cold start, sealing signing keys as
    /// `config` says; keys sealed by KMS need [`TokenService::with_sealer`].
    pub fn new(config: ServiceConfig, store: S, clock: SharedClock) -> Self {
        let sealer = match &config.key_sealing {
            Some(KeySealing::Secret(secret)) => Some(Sealer::secret(secret)),
            Some(KeySealing::Kms { .. }) => {
                tracing::error!(
                    "signing keys are sealed by KMS, but no KMS client was given: OpenID Connect is off"
                );
                None
            }
            None => None,
        };
        Self::with_sealer(config, store, sealer, clock)
    }

    /// Builds the service once, at cold start, with `sealer` sealing and
    /// opening signing keys (OpenID Connect is on with one).
    pub fn with_sealer(config: ServiceConfig, store: S, sealer: Option<Sealer>, clock: SharedClock) -> Self {
        let metadata_at = metadata::path_inserted(&config.issuer);
        let rotation = AutomaticRotation::for_config(&config);
        let keys = sealer.map(|sealer| KeyRing::new(sealer, rotation));
        let openid_configuration = keys
            .as_ref()
            .and_then(|_| metadata::openid_configuration(&config))
            .map(|document| document.to_string());
        // One document at both well-known URLs: RFC 8414 takes OpenID
        // Connect's members as its own.
        let metadata = openid_configuration
            .clone()
            .unwrap_or_else(|| metadata::document(&config).to_string());
        Self {
            config,
            store,
            clock,
            metadata,
            metadata_at,
            openid_configuration,
            keys,
            failed_documents: Default::default(),
        }
    }

    /// The store, for tools and tests that manage clients directly.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one HTTP request. Never panics on input and never answers 500.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let started = Instant::now();
        let route = Route::find(request.uri().path(), self.metadata_at.as_deref());
        let response = match route {
            None => error::not_found(),
            Some(route) if !route.allowed_methods().contains(request.method()) => {
                error::method_not_allowed(route.allowed_methods())
            }
            Some(route) if request.method() == Method::OPTIONS => {
                cors::preflight(&request, route.allowed_methods())
            }
            Some(route) => self
                .dispatch(route, request)
                .await
                .unwrap_or_else(OAuthError::into_response),
        };
        // Never the path's query or the body: they can hold tokens.
        tracing::info!(
            route = route.map_or("none", Route::name),
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        response
    }

    async fn dispatch(&self, route: Route, request: HttpRequest) -> Result<HttpResponse, OAuthError> {
        match route {
            Route::Metadata => Ok(metadata::response(
                &self.metadata,
                request.method() == Method::HEAD,
            )),
            Route::Token | Route::Revoke | Route::UserInfo => {
                // What browser clients call: readable by their origins only.
                let origin = cors::origin_of(&request);
                let client = cors::ClientOrigins::default();
                let answer = async {
                    let params = read_params(&request)?;
                    match route {
                        Route::Token => self.token(&request, &params, &client).await,
                        Route::Revoke => self.revoke(&request, &params, &client).await,
                        _ => self.userinfo(&request, &params, &client).await,
                    }
                }
                .await;
                let mut response = answer.unwrap_or_else(OAuthError::into_response);
                cors::expose(&mut response, origin.as_ref(), &client);
                Ok(response)
            }
            Route::Introspect => {
                let params = read_params(&request)?;
                self.introspect(&request, &params).await
            }
            Route::Authorize => Ok(self.authorize(&request).await),
            Route::Logout => Ok(self.logout(&request).await),
            Route::OpenIdConfiguration => Ok(match &self.openid_configuration {
                Some(document) => metadata::response(document, request.method() == Method::HEAD),
                None => error::not_found(),
            }),
            Route::Jwks => self.jwks(request.method() == Method::HEAD).await,
            Route::Register => self.register(&request).await,
            Route::RegisteredClient => self.manage_registration(&request).await,
            Route::DeviceAuthorization => self.device_authorization(&request).await,
            Route::Device => Ok(self.device_page(&request).await),
        }
    }
}

/// The request parameters: the query of a GET, the form body of a POST.
fn read_params(request: &HttpRequest) -> Result<Form, OAuthError> {
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(OAuthError::payload_too_large());
    }
    let form = if request.method() == Method::GET {
        let form = Form::parse(request.uri().query().unwrap_or("").as_bytes())?;
        // RFC 6749 §2.3.1: client credentials MUST NOT be in the request URI,
        // where logs, proxies and browser histories keep them.
        if form.get("client_secret").map_or(true, |secret| secret.is_some()) {
            return Err(OAuthError::invalid_request(
                "client_secret must not be sent in the URL; use HTTP Basic or a POST body",
            ));
        }
        return Ok(form);
    } else {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let is_form = content_type.is_some_and(|ct| {
            ct.split(';').next().is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        let empty_without_type = body.is_empty() && content_type.is_none();
        if !(is_form || empty_without_type) {
            return Err(OAuthError::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        Form::parse(body)
    };
    Ok(form?)
}

/// A JSON response that no cache may keep (RFC 6749 §5.1).
fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    // Straight into the buffer (a `Value` always serialises; its keys are
    // strings); `to_string()` would go through `Display` and a formatter.
    let mut response = http::Response::new(serde_json::to_string(body).unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn routes_match_under_any_prefix_with_optional_slash() {
        let find = |path| Route::find(path, None);
        assert_eq!(find("/o/token/"), Some(Route::Token));
        assert_eq!(find("/prod/o/token"), Some(Route::Token));
        assert_eq!(find("/prod/o/introspect/"), Some(Route::Introspect));
        assert_eq!(
            find("/.well-known/oauth-authorization-server"),
            Some(Route::Metadata)
        );
        assert_eq!(find("/xo/token"), None);
        assert_eq!(find("/o/token/extra"), None);
        assert_eq!(find("/o/token//"), None);
        assert_eq!(find("/.well-known/oauth-authorization-server/tenant"), None);
    }
}
