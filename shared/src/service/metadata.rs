//! RFC 8414 authorization server metadata.

use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::{json_response, HttpResponse};
use crate::config::ServiceConfig;
use crate::model::GrantType;

/// The metadata document, built once at cold start.
pub(super) fn document(config: &ServiceConfig) -> Value {
    let client_auth = ["client_secret_basic", "client_secret_post"];
    let mut document = json!({
        "issuer": config.issuer,
        "authorization_endpoint": config.endpoint("/o/authorize/"),
        "token_endpoint": config.endpoint("/o/token/"),
        "introspection_endpoint": config.endpoint("/o/introspect/"),
        "revocation_endpoint": config.endpoint("/o/revoke_token/"),
        "device_authorization_endpoint": config.endpoint("/o/device-authorization/"),
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        // PKCE is required of every client, with S256 only.
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: every authorization response names the issuer.
        "authorization_response_iss_parameter_supported": true,
        // `none`: public clients, at the authorization code grant and its
        // refreshes, and revoking their own tokens.
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        // A resource server may also present a bearer token with the
        // `introspection` scope (django-oauth-toolkit's RESOURCE_SERVER_AUTH_TOKEN),
        // but the registry of these values (RFC 8414 §2) has no name for it.
        "introspection_endpoint_auth_methods_supported": client_auth,
        // Not `introspection` nor `registration`: they are for this server's
        // own endpoints, given by an administrator, and a client that asks
        // for every advertised scope (the MCP SDKs do, when a resource names
        // none) must not get them.
        "scopes_supported": config
            .known_scopes()
            .filter(|s| !crate::scope::is_reserved(s))
            .collect::<Vec<_>>(),
    });
    if config.client_registration != crate::config::ClientRegistration::Off {
        document["registration_endpoint"] = config.endpoint("/o/register/").into();
    }
    if config.client_metadata_documents != crate::config::ClientMetadataDocuments::Off {
        document["client_id_metadata_document_supported"] = true.into();
    }
    document
}

/// The OpenID Connect discovery document (Discovery §3): the metadata
/// above and what OpenID Connect adds, exactly as implemented; `None`
/// without OpenID Connect.
pub(super) fn openid_configuration(config: &ServiceConfig) -> Option<Value> {
    config.key_sealing.as_ref()?;
    let mut document = self::document(config);
    let oidc = json!({
        "userinfo_endpoint": config.endpoint("/o/userinfo/"),
        "jwks_uri": config.endpoint("/o/.well-known/jwks.json"),
        // RP-initiated logout, at DOT's path.
        "end_session_endpoint": config.endpoint("/o/logout/"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "given_name", "family_name", "preferred_username", "email", "email_verified"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let (Some(document), Some(oidc)) = (document.as_object_mut(), oidc.as_object()) {
        document.extend(oidc.clone());
    }
    Some(document)
}

/// Where RFC 8414 §3 puts the metadata of an issuer with a path component:
/// `https://host/tenant` → `/.well-known/oauth-authorization-server/tenant`.
/// `None` for an issuer without a path (the plain well-known path serves it).
pub(super) fn path_inserted(issuer: &str) -> Option<String> {
    let after_scheme = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    let path = after_scheme.find('/').map(|at| &after_scheme[at..])?;
    Some(format!("/.well-known/oauth-authorization-server{path}"))
}

/// A discovery document: public, readable from any origin (a single-page
/// app discovers its issuer from the browser), cacheable for an hour.
pub(super) fn response(document: &str, head: bool) -> HttpResponse {
    let mut response = json_response(StatusCode::OK, &Value::Null);
    *response.body_mut() = if head { String::new() } else { document.to_owned() };
    response.headers_mut().remove(http::header::PRAGMA);
    // Public and rarely changing: caches may keep it for an hour.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response.headers_mut().insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
