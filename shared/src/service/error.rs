//! Error answers shaped as RFC 6749 §5.2 and RFC 6750 §3 require.

use std::borrow::Cow;

use http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;

use super::{json_response, HttpResponse, MAX_BODY_BYTES};
use crate::store::StoreError;

/// The realm named in every `WWW-Authenticate` challenge.
const REALM: &str = "oauth2";

/// An error answer: status, OAuth error code, description and challenges.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    challenges: Vec<String>,
    retry_after: bool,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenges: Vec::new(),
            retry_after: false,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn challenge(mut self, challenge: String) -> Self {
        self.challenges.push(challenge);
        self
    }

    /// 400 `invalid_request`: missing, repeated or malformed parameters.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client` with a Basic challenge.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
            .challenge(format!("Basic realm=\"{REALM}\""))
    }

    /// 400 `unauthorized_client`: authenticated, but not allowed this.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }

    /// 400 `invalid_grant`: the password, or the refresh token, is not good.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// 400 `invalid_target` (RFC 8707 §2): a `resource` this server does
    /// not issue tokens for, or one the grant was not made for.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    /// 400 `invalid_client_metadata` (RFC 7591 §3.2.2).
    pub fn invalid_client_metadata(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", description)
    }

    /// 400 `invalid_redirect_uri` (RFC 7591 §3.2.2).
    pub fn invalid_redirect_uri(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
    }

    /// 403 `access_denied`: what this deployment does not offer.
    pub fn access_denied(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "access_denied", description)
    }

    /// RFC 8628 §3.5: 400 `authorization_pending`, `slow_down`,
    /// `access_denied` or `expired_token`, what a device's poll is told.
    pub fn device_poll(code: DevicePollError) -> Self {
        let (code, description) = match code {
            DevicePollError::AuthorizationPending => (
                "authorization_pending",
                "the user has not yet entered the code and decided",
            ),
            DevicePollError::SlowDown => (
                "slow_down",
                "polled too soon: wait 5 seconds longer between polls from now on",
            ),
            DevicePollError::AccessDenied => ("access_denied", "the user denied the request"),
            DevicePollError::ExpiredToken => ("expired_token", "the device code has expired: start again"),
        };
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// 401 with a challenge for each way a resource server may authenticate,
    /// when it sent no credentials at all (RFC 6750 §3.1: no error code).
    pub fn credentials_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "authentication is required",
        )
        .challenge(format!("Bearer realm=\"{REALM}\""))
        .challenge(format!("Basic realm=\"{REALM}\""))
    }

    /// 401 with a Bearer challenge, when no access token was sent at all
    /// (RFC 6750 §3.1: no error code in the challenge).
    pub fn bearer_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "an access token is required",
        )
        .challenge(format!("Bearer realm=\"{REALM}\""))
    }

    /// 401 `invalid_token`: the bearer token is unknown, expired or revoked.
    pub fn invalid_token(description: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description).challenge(format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
        ))
    }

    /// 403 `insufficient_scope`: authenticated, but without the `scope` needed.
    pub fn insufficient_scope(scope: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description).challenge(format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
        ))
    }

    /// 413 for bodies over [`MAX_BODY_BYTES`].
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    }

    /// 503 `temporarily_unavailable` with `Retry-After`, for a request that
    /// will succeed once others in flight are done.
    pub fn retry_shortly(description: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            description,
        );
        e.retry_after = true;
        e
    }

    /// 503 `temporarily_unavailable` with `Retry-After`; the cause is logged,
    /// never sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "storage failure");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; retry shortly",
        );
        e.retry_after = true;
        e
    }

    /// The HTTP answer.
    pub fn into_response(self) -> HttpResponse {
        let mut response = json_response(
            self.status,
            &json!({ "error": self.code, "error_description": self.description }),
        );
        let headers = response.headers_mut();
        for challenge in self.challenges {
            if let Ok(value) = HeaderValue::try_from(challenge) {
                headers.append(WWW_AUTHENTICATE, value);
            }
        }
        if self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::issue::IssueError> for OAuthError {
    fn from(e: crate::issue::IssueError) -> Self {
        match e {
            crate::issue::IssueError::Store(e) => OAuthError::from(e),
            crate::issue::IssueError::Randomness(e) => OAuthError::unavailable(&e),
            crate::issue::IssueError::Signing(why) => OAuthError::unavailable(&why),
        }
    }
}

/// Malformed parameters (not UTF-8, repeated) are `invalid_request`.
impl From<crate::form::FormError> for OAuthError {
    fn from(e: crate::form::FormError) -> Self {
        Self::invalid_request(e.to_string())
    }
}

impl From<crate::secret::RandomnessUnavailable> for OAuthError {
    fn from(e: crate::secret::RandomnessUnavailable) -> Self {
        Self::unavailable(&e)
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::unavailable(&e)
    }
}

/// What a device's poll is told while it has no tokens (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePollError {
    /// Nobody decided yet: poll again after the interval.
    AuthorizationPending,
    /// Polled too soon.
    SlowDown,
    /// The user denied it.
    AccessDenied,
    /// Too late: the device code has expired.
    ExpiredToken,
}

/// 404 for paths that are no endpoint.
pub fn not_found() -> HttpResponse {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({ "error": "not_found", "error_description": "no endpoint at this path" }),
    )
}

/// 405 with `Allow`.
pub fn method_not_allowed(allowed: &[Method]) -> HttpResponse {
    let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({
            "error": "method_not_allowed",
            "error_description": format!("this endpoint accepts {allow}"),
        }),
    );
    if let Ok(value) = HeaderValue::try_from(allow) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}
