//! The introspection credentials from AWS Secrets Manager, read once at cold
//! start with one SigV4-signed `GetSecretValue` call over the authorizer's own
//! HTTP client: no AWS SDK, so the function stays small and starts fast.
//!
//! The secret is a JSON object with exactly one of
//! `RESOURCE_SERVER_AUTH_TOKEN` or `RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`
//! (`client_id:client_secret`), the same names as the plain variables.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Value};

use crate::introspection::{HttpClient, IntrospectionAuth, AUTH_TOKEN, CREDENTIALS};

/// Where and as whom to read the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The secret's name or ARN (`SecretId`).
    pub secret_id: String,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, or the regional endpoint.
    pub endpoint: String,
    /// The region to sign for.
    pub region: String,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN` (always set in Lambda).
    pub session_token: Option<String>,
}

// Credentials must never reach a log.
impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSource")
            .field("secret_id", &self.secret_id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SecretSource {
    /// Reads the secret and the credentials in it.
    pub async fn fetch(&self, client: &HttpClient, timeout: Duration) -> Result<IntrospectionAuth, String> {
        let body = json!({ "SecretId": self.secret_id }).to_string();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint.trim_end_matches('/')))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "secretsmanager.GetSecretValue")
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| e.to_string())?;
        self.sign(&mut request, body.as_bytes())?;

        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| format!("Secrets Manager unreachable: {e}"))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), 256 * 1024)
                .collect()
                .await
                .map_err(|_| "Secrets Manager's answer could not be read".to_owned())?
                .to_bytes();
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if status != 200 {
                let kind = answer
                    .get("__type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(format!("Secrets Manager answered HTTP {status} ({kind})"));
            }
            answer
                .get("SecretString")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| "the secret has no SecretString".to_owned())
        };
        let secret = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err("Secrets Manager timed out".to_owned()))?;
        parse_secret(&secret)
    }

    fn sign(&self, request: &mut Request<Full<Bytes>>, body: &[u8]) -> Result<(), String> {
        let identity = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "environment",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new("POST", uri, headers, SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The credentials in a secret's JSON.
fn parse_secret(secret: &str) -> Result<IntrospectionAuth, String> {
    let value: Value =
        serde_json::from_str(secret).map_err(|_| "the secret is not a JSON object".to_owned())?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    IntrospectionAuth::from_settings(field(AUTH_TOKEN), field(CREDENTIALS))
        .map_err(|e| format!("the secret: {}", e.problem))
}
