//! CORS for browser clients (single-page apps): the answers of the token,
//! revocation and UserInfo endpoints are readable by scripts of the origins
//! their client registered (DOT's `allowed_origins`), and by no other;
//! discovery and the JWKS by any (`metadata`, `oidc`). Nothing else sends
//! CORS headers.
//!
//! A preflight carries no credentials, so it cannot name the client: it is
//! answered for any origin a client could register. That lets the browser
//! send the request, which needs the client's credentials (or a code and its
//! verifier, or a token) like any other; only the answer's headers decide
//! whether the page may read it.

use std::sync::OnceLock;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ALLOW, ORIGIN,
    VARY,
};
use http::{HeaderValue, Method, StatusCode};

use super::{HttpRequest, HttpResponse};
use crate::model::Client;
use crate::origin::Origin;

/// The origins of the client a request turned out to be for, once known.
#[derive(Default)]
pub(super) struct ClientOrigins(OnceLock<Vec<Origin>>);

impl ClientOrigins {
    /// The request is `client`'s (authenticated, or named by its token).
    pub fn of(&self, client: &Client) {
        let _ = self.0.set(client.allowed_origins.clone());
    }

    fn admit(&self, origin: &Origin) -> bool {
        self.0.get().is_some_and(|origins| origins.contains(origin))
    }
}

/// The request's `Origin`, when it is one a client could have registered.
pub(super) fn origin_of(request: &HttpRequest) -> Option<Origin> {
    let value = request.headers().get(ORIGIN)?.to_str().ok()?;
    Origin::parse(value).ok()
}

/// Lets scripts of `origin` read `response`, if the request's client registered it.
pub(super) fn expose(response: &mut HttpResponse, origin: Option<&Origin>, client: &ClientOrigins) {
    let headers = response.headers_mut();
    // The answer depends on Origin, whether or not it names an allowed one.
    headers.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|origin| client.admit(origin)) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(origin.as_str()) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        // A 401's challenge says why (RFC 6750 §3).
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
}

/// The answer to a preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) for an endpoint taking `methods`.
pub(super) fn preflight(request: &HttpRequest, methods: &[Method]) -> HttpResponse {
    let listed = methods
        .iter()
        .filter(|m| **m != Method::OPTIONS)
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = http::Response::new(String::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&listed) {
        headers.insert(ALLOW, value.clone());
        let asked = request
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| methods.iter().any(|allowed| allowed.as_str() == m));
        if let (Some(origin), true) = (origin_of(request), asked) {
            if let Ok(origin) = HeaderValue::from_str(origin.as_str()) {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
                headers.insert(
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("Authorization, Content-Type"),
                );
                headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            }
        }
    }
    headers.append(VARY, HeaderValue::from_static("Origin"));
    response
}
