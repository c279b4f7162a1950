//! The RFC 7662 call: one HTTP client, built at cold start and reused so warm
//! invocations keep their connection (and TLS session) alive.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};
use shared::form;

use shared::ConfigError;

/// The variable (and secret field) holding a bearer token for introspection.
pub const AUTH_TOKEN: &str = "RESOURCE_SERVER_AUTH_TOKEN";
/// The variable (and secret field) holding `client_id:client_secret` for introspection.
pub const CREDENTIALS: &str = "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS";

/// How the authorizer authenticates to the introspection endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum IntrospectionAuth {
    /// `RESOURCE_SERVER_AUTH_TOKEN`, sent as `Authorization: Bearer ...`.
    Bearer(String),
    /// `RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`, sent as HTTP Basic.
    Basic {
        /// client_id
        client_id: String,
        /// client_secret
        client_secret: String,
    },
}

// Credentials must never reach a log.
impl std::fmt::Debug for IntrospectionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntrospectionAuth::Bearer(_) => f.write_str("Bearer(<token>)"),
            IntrospectionAuth::Basic { client_id, .. } => write!(f, "Basic({client_id}, <secret>)"),
        }
    }
}

impl IntrospectionAuth {
    /// From exactly one of a bearer token ([`AUTH_TOKEN`]) or
    /// `client_id:client_secret` ([`CREDENTIALS`]), as DOT requires.
    pub fn from_settings(token: Option<String>, credentials: Option<String>) -> Result<Self, ConfigError> {
        match (token, credentials) {
            (Some(token), None) => Ok(IntrospectionAuth::Bearer(token.trim().to_owned())),
            (None, Some(credentials)) => {
                let (client_id, client_secret) = credentials
                    .trim()
                    .split_once(':')
                    .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                    .ok_or_else(|| ConfigError::new(CREDENTIALS, "must be client_id:client_secret"))?;
                Ok(IntrospectionAuth::Basic {
                    client_id: client_id.to_owned(),
                    client_secret: client_secret.to_owned(),
                })
            }
            (Some(_), Some(_)) => Err(ConfigError::new(
                AUTH_TOKEN,
                format!("set either {AUTH_TOKEN} or {CREDENTIALS}, not both"),
            )),
            (None, None) => Err(ConfigError::new(
                AUTH_TOKEN,
                format!("set either {AUTH_TOKEN} or {CREDENTIALS}"),
            )),
        }
    }
}

/// Largest introspection answer read; anything longer is not a sane answer.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why introspection gave no answer. The authorizer fails closed on all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionError {
    /// Connecting, sending or reading failed.
    Unreachable(String),
    /// No complete answer within the timeout.
    Timeout,
    /// An HTTP status other than 200.
    Status(u16),
    /// The body is not a JSON object (or is too large).
    NotJson,
}

impl std::fmt::Display for IntrospectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntrospectionError::Unreachable(why) => write!(f, "introspection endpoint unreachable: {why}"),
            IntrospectionError::Timeout => f.write_str("introspection endpoint timed out"),
            IntrospectionError::Status(code) => write!(f, "introspection endpoint answered HTTP {code}"),
            IntrospectionError::NotJson => {
                f.write_str("introspection endpoint answered something other than a JSON object")
            }
        }
    }
}

/// The one HTTP(S) client of the function, built at cold start and reused.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the HTTP client: TLS through rustls with the system's root
/// certificates, so a private CA in the trust store works too.
pub fn https_client() -> Result<HttpClient, String> {
    // ring, named explicitly: a build that also links aws-lc-rs (a workspace
    // build with the AWS SDK) would otherwise have no default provider.
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector))
}

/// A client for one introspection endpoint.
pub struct Introspector {
    client: HttpClient,
    url: Uri,
    authorization: HeaderValue,
    timeout: Duration,
}

impl Introspector {
    /// An introspector for `url`, authenticating with `auth`, over `client`.
    pub fn new(
        client: HttpClient,
        url: Uri,
        auth: &IntrospectionAuth,
        timeout: Duration,
    ) -> Result<Self, String> {
        let value = match auth {
            IntrospectionAuth::Bearer(token) => format!("Bearer {token}"),
            IntrospectionAuth::Basic {
                client_id,
                client_secret,
            } => {
                // RFC 6749 §2.3.1: each part form-urlencoded before base64.
                let pair = format!("{}:{}", form::encode(client_id), form::encode(client_secret));
                format!("Basic {}", STANDARD.encode(pair))
            }
        };
        let mut authorization = HeaderValue::try_from(value)
            .map_err(|_| "the introspection credentials are not valid in a header")?;
        authorization.set_sensitive(true);
        Ok(Self {
            client,
            url,
            authorization,
            timeout,
        })
    }

    /// Asks whether `token` is active; the answer is the endpoint's JSON object.
    pub async fn introspect(&self, token: &str) -> Result<Map<String, Value>, IntrospectionError> {
        let body = format!("token={}&token_type_hint=access_token", form::encode(token));
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| IntrospectionError::Unreachable(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| IntrospectionError::Unreachable(error_chain(&e)))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            if status != 200 {
                return Err(IntrospectionError::Status(status));
            }
            let body = body.map_err(|_| IntrospectionError::NotJson)?.to_bytes();
            match serde_json::from_slice(&body) {
                Ok(Value::Object(answer)) => Ok(answer),
                _ => Err(IntrospectionError::NotJson),
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(IntrospectionError::Timeout))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
