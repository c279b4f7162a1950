//! Authorizer configuration, with django-oauth-toolkit's resource-server
//! names, read once at cold start.

use std::time::Duration;

use http::Uri;

use crate::introspection::{HttpClient, IntrospectionAuth, AUTH_TOKEN as TOKEN, CREDENTIALS};
use crate::jwt::JwtSettings;
use crate::rules::Rules;
use crate::secret::SecretSource;

/// Where the introspection credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    /// Straight from the environment.
    Direct(IntrospectionAuth),
    /// From AWS Secrets Manager (`RESOURCE_SERVER_CREDENTIALS_SECRET_ID`), read at cold start.
    Secret(SecretSource),
}

impl AuthSource {
    /// The credentials, read from Secrets Manager if they are there: the
    /// authorizer's one cold-start I/O besides connecting.
    pub async fn resolve(&self, client: &HttpClient, timeout: Duration) -> Result<IntrospectionAuth, String> {
        match self {
            AuthSource::Direct(auth) => Ok(auth.clone()),
            AuthSource::Secret(source) => source.fetch(client, timeout).await,
        }
    }
}

/// What an HTTP API (payload 2.0) authorizer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpApiResponse {
    /// `{"isAuthorized": ..., "context": ...}` (enableSimpleResponses).
    Simple,
    /// An IAM policy, as for REST APIs.
    Iam,
}

/// Everything the authorizer needs.
#[derive(Debug, Clone)]
pub struct AuthorizerConfig {
    /// `RESOURCE_SERVER_INTROSPECTION_URL`.
    pub introspection_url: Uri,
    /// `RESOURCE_SERVER_AUTH_TOKEN`, `RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`,
    /// or `RESOURCE_SERVER_CREDENTIALS_SECRET_ID`.
    pub auth: AuthSource,
    /// `RESOURCE_SERVER_TOKEN_CACHING_SECONDS` (default 60; 0 turns the cache off).
    pub caching_seconds: u64,
    /// `RESOURCE_SERVER_INTROSPECTION_TIMEOUT_SECONDS` (default 5).
    pub timeout: Duration,
    /// `SCOPE_RULES`, plus DOT's read/write rules when `READ_WRITE_SCOPES` is true.
    pub rules: Rules,
    /// `HTTP_API_RESPONSE`: `simple` (the default without rules) or `iam`
    /// (the default, and the only choice, with rules).
    pub http_api_response: HttpApiResponse,
    /// `JWT_ISSUER` and what goes with it: JWT access tokens verified here.
    pub jwt: Option<JwtSettings>,
    /// `RESOURCE`: this API's resource identifiers (RFC 8707). When set, a
    /// token is accepted only if its `aud` names one of them, exactly.
    pub resources: Vec<String>,
}

/// The longest resource identifier `RESOURCE` may hold, as the token service's.
const MAX_RESOURCE_BYTES: usize = 2048;

pub use shared::ConfigError;

/// The variable naming the secret: its name or ARN, as `GetSecretValue`'s `SecretId` takes.
pub const SECRET_ID: &str = "RESOURCE_SERVER_CREDENTIALS_SECRET_ID";

/// The secret plus what signing the read needs, from the Lambda environment.
///
/// The region is the ARN's, or for a bare name the function's own
/// (`AWS_REGION`, which Lambda always sets). The endpoint follows the AWS SDKs'
/// rules: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, then `AWS_ENDPOINT_URL`, then the
/// regional endpoint.
fn secret_source(
    secret_id: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<SecretSource, ConfigError> {
    let region = if secret_id.starts_with("arn:") {
        match secret_id.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", _, "secretsmanager", region, _, "secret", name, ..]
                if !region.is_empty() && !name.is_empty() =>
            {
                (*region).to_owned()
            }
            _ => {
                return Err(error(
                    SECRET_ID,
                    format!("{secret_id:?} is not a Secrets Manager secret ARN"),
                ))
            }
        }
    } else {
        get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .map(|r| r.trim().to_owned())
            .ok_or_else(|| error("AWS_REGION", "is not set (needed to find the secret by name)"))?
    };
    // Names are letters, digits and /_+=.@- (at most 512): nothing else can name a secret.
    let valid_name = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if !secret_id.starts_with("arn:") && (secret_id.len() > 512 || !secret_id.chars().all(valid_name)) {
        return Err(error(
            SECRET_ID,
            format!("{secret_id:?} is neither a secret name nor an ARN"),
        ));
    }
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let endpoint = get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|| get("AWS_ENDPOINT_URL"))
        .map(|e| e.trim().to_owned())
        .unwrap_or_else(|| format!("https://secretsmanager.{region}.{domain}"));
    Ok(SecretSource {
        secret_id: secret_id.to_owned(),
        endpoint,
        region,
        access_key_id: get("AWS_ACCESS_KEY_ID")
            .ok_or_else(|| error("AWS_ACCESS_KEY_ID", "is not set (needed to read the secret)"))?,
        secret_access_key: get("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| error("AWS_SECRET_ACCESS_KEY", "is not set (needed to read the secret)"))?,
        session_token: get("AWS_SESSION_TOKEN"),
    })
}

/// A `true` / `false` variable; unset is false.
fn flag(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(error(variable, format!("{other:?} is neither true nor false"))),
    }
}

/// `localhost`, or an IPv4 / IPv6 loopback address (`127.0.0.0/8`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(variable, problem)
}

impl AuthorizerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        const URL: &str = "RESOURCE_SERVER_INTROSPECTION_URL";
        let url = get(URL).ok_or_else(|| error(URL, "is not set"))?;
        let introspection_url: Uri = url
            .trim()
            .parse()
            .map_err(|_| error(URL, format!("{url:?} is not a URL")))?;
        let Some(host) = introspection_url.host() else {
            return Err(error(URL, format!("{url:?} is not an http(s) URL")));
        };
        match introspection_url.scheme_str() {
            Some("https") => {}
            // Plain HTTP would carry the credentials and every token in clear:
            // only to this machine (a local peer, an emulator, a sidecar).
            Some("http") if is_loopback(host) => {}
            Some("http") => {
                return Err(error(
                    URL,
                    format!("{url:?} is plain HTTP to another host: credentials and tokens would cross the network in clear; use https"),
                ))
            }
            _ => return Err(error(URL, format!("{url:?} is not an http(s) URL"))),
        }

        let auth = match get(SECRET_ID) {
            None => AuthSource::Direct(IntrospectionAuth::from_settings(get(TOKEN), get(CREDENTIALS))?),
            Some(_) if get(TOKEN).is_some() || get(CREDENTIALS).is_some() => {
                return Err(error(
                    SECRET_ID,
                    format!("set {SECRET_ID}, or {TOKEN} / {CREDENTIALS}, not both"),
                ));
            }
            Some(id) => AuthSource::Secret(secret_source(id.trim(), &get)?),
        };

        const CACHING: &str = "RESOURCE_SERVER_TOKEN_CACHING_SECONDS";
        let caching_seconds = match get(CACHING) {
            None => 60,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 3600)
                .ok_or_else(|| {
                    error(
                        CACHING,
                        format!("{v:?} is not a whole number of seconds from 0 to 3600"),
                    )
                })?,
        };

        const TIMEOUT: &str = "RESOURCE_SERVER_INTROSPECTION_TIMEOUT_SECONDS";
        let timeout = match get(TIMEOUT) {
            None => Duration::from_secs(5),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 60.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    error(
                        TIMEOUT,
                        format!("{v:?} is not a number of seconds above 0 and up to 60"),
                    )
                })?,
        };

        let mut rules = match get("SCOPE_RULES") {
            None => Rules::default(),
            Some(text) => Rules::parse(&text).map_err(|p| error("SCOPE_RULES", p))?,
        };
        const READ_WRITE: &str = "READ_WRITE_SCOPES";
        let read_write = flag(READ_WRITE, get(READ_WRITE))?;
        if read_write {
            let read = get("READ_SCOPE").unwrap_or_else(|| "read".to_owned());
            let write = get("WRITE_SCOPE").unwrap_or_else(|| "write".to_owned());
            let read_write_rules = format!(
                "GET * = {read}\nHEAD * = {read}\nOPTIONS * = {read}\nPOST * = {write}\nPUT * = {write}\nPATCH * = {write}\nDELETE * = {write}"
            );
            rules.extend(Rules::parse(&read_write_rules).map_err(|p| error("READ_SCOPE", p))?);
        }
        const DENY_UNMATCHED: &str = "DENY_UNMATCHED_ROUTES";
        if flag(DENY_UNMATCHED, get(DENY_UNMATCHED))? {
            if rules.is_empty() {
                return Err(error(
                    DENY_UNMATCHED,
                    "with no SCOPE_RULES nor READ_WRITE_SCOPES every route would be denied",
                ));
            }
            rules.deny_unmatched();
        }

        let resources: Vec<String> = get("RESOURCE")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if let Some(bad) = resources
            .iter()
            .find(|r| r.len() > MAX_RESOURCE_BYTES || r.contains('#') || !r.contains(':'))
        {
            return Err(error(
                "RESOURCE",
                format!(
                    "{bad:?} is not an absolute URI without a fragment, at most {MAX_RESOURCE_BYTES} bytes"
                ),
            ));
        }

        let jwt = match get("JWT_ISSUER") {
            None => None,
            Some(issuer) => {
                let issuer = issuer.trim().trim_end_matches('/').to_owned();
                const JWKS: &str = "JWT_JWKS_URL";
                let url = get(JWKS).map_or_else(
                    || format!("{issuer}/o/.well-known/jwks.json"),
                    |u| u.trim().to_owned(),
                );
                let jwks_url: Uri = url
                    .parse()
                    .map_err(|_| error(JWKS, format!("{url:?} is not a URL")))?;
                let secure = match (jwks_url.scheme_str(), jwks_url.host()) {
                    (Some("https"), Some(_)) => true,
                    (Some("http"), Some(host)) => is_loopback(host),
                    _ => false,
                };
                if !secure {
                    return Err(error(
                        JWKS,
                        format!("{url:?} is not https (or http to this machine)"),
                    ));
                }
                let audiences: Vec<String> = match get("JWT_AUDIENCE") {
                    None if !resources.is_empty() => resources.clone(),
                    None => vec![issuer.clone()],
                    Some(list) => list.split_whitespace().map(str::to_owned).collect(),
                };
                const TRUST: &str = "JWT_TRUST_UNTIL_EXPIRY";
                Some(JwtSettings {
                    issuer,
                    jwks_url,
                    audiences,
                    trust_until_expiry: flag(TRUST, get(TRUST))?,
                })
            }
        };

        // API Gateway caches one answer per token and reuses it for every
        // route: a simple answer is the first route's verdict, so with rules
        // only a policy is right everywhere.
        const HTTP_API_RESPONSE: &str = "HTTP_API_RESPONSE";
        let http_api_response = match get(HTTP_API_RESPONSE).as_deref().map(str::trim) {
            None if rules.is_empty() => HttpApiResponse::Simple,
            None => HttpApiResponse::Iam,
            Some("simple") if !rules.is_empty() => {
                return Err(error(
                    HTTP_API_RESPONSE,
                    "simple answers cannot carry scope rules: API Gateway caches the answer for one route \
                     and reuses it for every route; use iam with SCOPE_RULES or READ_WRITE_SCOPES",
                ));
            }
            Some("simple") => HttpApiResponse::Simple,
            Some("iam") => HttpApiResponse::Iam,
            Some(other) => {
                return Err(error(
                    "HTTP_API_RESPONSE",
                    format!("{other:?} is neither simple nor iam"),
                ));
            }
        };

        Ok(Self {
            introspection_url,
            auth,
            caching_seconds,
            timeout,
            rules,
            http_api_response,
            jwt,
            resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<AuthorizerConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AuthorizerConfig::from_lookup(|k| map.get(k).cloned())
    }

    const URL: (&str, &str) = (
        "RESOURCE_SERVER_INTROSPECTION_URL",
        "https://auth.example.com/o/introspect/",
    );

    #[test]
    fn resource_names_this_apis_identifiers_and_the_jwt_audience_follows() {
        let base = [URL, ("RESOURCE_SERVER_AUTH_TOKEN", "tok")];
        assert!(
            config(&base).unwrap().resources.is_empty(),
            "any audience unless RESOURCE is set"
        );
        let mut vars = base.to_vec();
        vars.push(("RESOURCE", "https://mcp.example.com/mcp urn:example:api"));
        vars.push(("JWT_ISSUER", "https://auth.example.com"));
        let c = config(&vars).unwrap();
        assert_eq!(c.resources, ["https://mcp.example.com/mcp", "urn:example:api"]);
        assert_eq!(c.jwt.unwrap().audiences, c.resources);
        for bad in ["/mcp", "https://mcp.example.com/mcp#x"] {
            let mut vars = base.to_vec();
            vars.push(("RESOURCE", bad));
            assert_eq!(config(&vars).unwrap_err().variable, "RESOURCE", "{bad}");
        }
    }

    #[test]
    fn jwt_verification_is_configured_by_its_issuer() {
        let base = [URL, ("RESOURCE_SERVER_AUTH_TOKEN", "tok")];
        assert_eq!(config(&base).unwrap().jwt, None, "off unless JWT_ISSUER is set");
        let mut vars = base.to_vec();
        vars.push(("JWT_ISSUER", "https://auth.example.com/"));
        let jwt = config(&vars).unwrap().jwt.unwrap();
        assert_eq!(jwt.issuer, "https://auth.example.com");
        assert_eq!(jwt.jwks_url, "https://auth.example.com/o/.well-known/jwks.json");
        assert_eq!(jwt.audiences, ["https://auth.example.com"]);
        assert!(!jwt.trust_until_expiry, "revocation stays immediate by default");
        vars.push(("JWT_AUDIENCE", "https://a.example https://b.example"));
        vars.push(("JWT_TRUST_UNTIL_EXPIRY", "true"));
        let jwt = config(&vars).unwrap().jwt.unwrap();
        assert_eq!(jwt.audiences, ["https://a.example", "https://b.example"]);
        assert!(jwt.trust_until_expiry);
        for (name, value) in [
            ("JWT_JWKS_URL", "http://auth.example.com/jwks"),
            ("JWT_JWKS_URL", "not a url"),
            ("JWT_TRUST_UNTIL_EXPIRY", "yes"),
        ] {
            let mut bad = vars.clone();
            bad.push((name, value));
            assert_eq!(config(&bad).unwrap_err().variable, name, "{value}");
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[URL, ("RESOURCE_SERVER_AUTH_TOKEN", "tok")]).unwrap();
        assert_eq!(c.caching_seconds, 60);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.rules.is_empty());
        assert_eq!(c.http_api_response, HttpApiResponse::Simple);
        assert_eq!(
            c.auth,
            AuthSource::Direct(IntrospectionAuth::Bearer("tok".into()))
        );
    }

    #[test]
    fn exactly_one_way_to_authenticate() {
        let both = config(&[
            URL,
            ("RESOURCE_SERVER_AUTH_TOKEN", "t"),
            ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", "a:b"),
        ]);
        assert!(both.unwrap_err().to_string().contains("not both"));
        assert!(config(&[URL]).unwrap_err().to_string().contains("either"));
        let basic = config(&[URL, ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", "id:se:cret")]).unwrap();
        let expected = IntrospectionAuth::Basic {
            client_id: "id".into(),
            client_secret: "se:cret".into(),
        };
        assert_eq!(basic.auth, AuthSource::Direct(expected));
        let bad = config(&[URL, ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", "nocolon")]).unwrap_err();
        assert_eq!(bad.variable, "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS");
    }

    #[test]
    fn credentials_may_come_from_a_secret_instead() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-creds-AbCdEf";
        let keys = [("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "SECRET")];
        let mut vars = vec![URL, ("RESOURCE_SERVER_CREDENTIALS_SECRET_ID", arn)];
        vars.extend_from_slice(&keys);
        let AuthSource::Secret(source) = config(&vars).unwrap().auth else {
            panic!("not a secret source")
        };
        assert_eq!(source.region, "eu-west-1");
        assert_eq!(source.endpoint, "https://secretsmanager.eu-west-1.amazonaws.com");
        vars.push(("RESOURCE_SERVER_AUTH_TOKEN", "t"));
        assert!(config(&vars).unwrap_err().to_string().contains("not both"));
        let bad = config(&[
            URL,
            ("RESOURCE_SERVER_CREDENTIALS_SECRET_ID", "arn:aws:s3:::b"),
            keys[0],
            keys[1],
        ]);
        assert_eq!(bad.unwrap_err().variable, "RESOURCE_SERVER_CREDENTIALS_SECRET_ID");
    }

    /// `GetSecretValue` takes a name as well as an ARN, and the endpoint
    /// follows the AWS SDKs' variables (which emulators and VPC setups set).
    #[test]
    fn secret_by_name_and_the_sdk_endpoint_variables() {
        let keys = [("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "SECRET")];
        let source = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![URL, keys[0], keys[1]];
            vars.extend_from_slice(extra);
            match config(&vars).map(|c| c.auth) {
                Ok(AuthSource::Secret(source)) => Ok(source),
                Ok(_) => panic!("not a secret source"),
                Err(e) => Err(e),
            }
        };
        let by_name = source(&[
            (SECRET_ID, "prod/authorizer-credentials"),
            ("AWS_REGION", "cn-north-1"),
        ])
        .unwrap();
        assert_eq!(by_name.secret_id, "prod/authorizer-credentials");
        assert_eq!(by_name.region, "cn-north-1");
        assert_eq!(
            by_name.endpoint,
            "https://secretsmanager.cn-north-1.amazonaws.com.cn"
        );

        let general = source(&[
            (SECRET_ID, "creds"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ])
        .unwrap();
        assert_eq!(general.endpoint, "http://127.0.0.1:4566");
        let specific = source(&[
            (SECRET_ID, "creds"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9999"),
        ])
        .unwrap();
        assert_eq!(specific.endpoint, "http://127.0.0.1:9999");

        // A name needs the function's region; a name with spaces names nothing.
        assert_eq!(
            source(&[(SECRET_ID, "creds")]).unwrap_err().variable,
            "AWS_REGION"
        );
        let bad = source(&[(SECRET_ID, "no such name"), ("AWS_REGION", "us-east-1")]);
        assert_eq!(bad.unwrap_err().variable, SECRET_ID);
    }

    /// Plain HTTP only to this machine: elsewhere the credentials and every
    /// token would cross the network in clear.
    #[test]
    fn plain_http_only_to_loopback() {
        let token = ("RESOURCE_SERVER_AUTH_TOKEN", "t");
        for url in [
            "http://127.0.0.1:3000/o/introspect/",
            "http://127.9.9.9/o/introspect/",
            "http://localhost/o/introspect/",
            "http://[::1]:8000/o/introspect/",
            "https://auth.example.com/o/introspect/",
        ] {
            assert!(
                config(&[("RESOURCE_SERVER_INTROSPECTION_URL", url), token]).is_ok(),
                "{url}"
            );
        }
        for url in [
            "http://auth.example.com/o/introspect/",
            "http://10.0.0.5/o/introspect/",
            "http://localhost.example.com/o/introspect/",
        ] {
            let err = config(&[("RESOURCE_SERVER_INTROSPECTION_URL", url), token]).unwrap_err();
            assert_eq!(err.variable, "RESOURCE_SERVER_INTROSPECTION_URL", "{url}");
            assert!(err.to_string().contains("https"), "{err}");
        }
    }

    /// Simple answers with scope rules would let API Gateway's cache reuse
    /// one route's verdict for every route: refused at cold start.
    #[test]
    fn simple_answers_and_scope_rules_do_not_mix() {
        let token = ("RESOURCE_SERVER_AUTH_TOKEN", "t");
        let rules = ("SCOPE_RULES", "POST /items = write");
        assert_eq!(
            config(&[URL, token, rules]).unwrap().http_api_response,
            HttpApiResponse::Iam
        );
        let refused = config(&[URL, token, rules, ("HTTP_API_RESPONSE", "simple")]).unwrap_err();
        assert_eq!(refused.variable, "HTTP_API_RESPONSE");
        assert!(refused.to_string().contains("every route"), "{refused}");
        let read_write = ("READ_WRITE_SCOPES", "true");
        assert!(config(&[URL, token, read_write, ("HTTP_API_RESPONSE", "simple")]).is_err());
        assert_eq!(
            config(&[URL, token, ("HTTP_API_RESPONSE", "simple")])
                .unwrap()
                .http_api_response,
            HttpApiResponse::Simple
        );
    }

    #[test]
    fn unmatched_routes_are_denied_only_with_rules() {
        let token = ("RESOURCE_SERVER_AUTH_TOKEN", "t");
        let deny = ("DENY_UNMATCHED_ROUTES", "true");
        let c = config(&[URL, token, deny, ("SCOPE_RULES", "GET /items/* = read")]).unwrap();
        assert!(c.rules.denies_unmatched());
        assert!(!c
            .rules
            .allows(&shared::scope::parse_scope("read").unwrap(), "DELETE", "/items/7"));
        assert_eq!(
            config(&[URL, token, deny]).unwrap_err().variable,
            "DENY_UNMATCHED_ROUTES"
        );
        assert!(config(&[URL, token, ("DENY_UNMATCHED_ROUTES", "yes")]).is_err());
    }

    #[test]
    fn each_bad_variable_is_named() {
        let token = ("RESOURCE_SERVER_AUTH_TOKEN", "t");
        for (var, value) in [
            ("RESOURCE_SERVER_INTROSPECTION_URL", "ftp://x/"),
            ("RESOURCE_SERVER_INTROSPECTION_URL", "not a url"),
            ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "-1"),
            ("RESOURCE_SERVER_INTROSPECTION_TIMEOUT_SECONDS", "0"),
            ("SCOPE_RULES", "GET /items"),
            ("READ_WRITE_SCOPES", "yes"),
            ("HTTP_API_RESPONSE", "jwt"),
        ] {
            let mut vars = vec![URL, token];
            vars.retain(|(k, _)| *k != var);
            vars.push((var, value));
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, var, "{value}");
        }
    }

    #[test]
    fn read_write_mode_adds_dot_rules() {
        let c = config(&[
            URL,
            ("RESOURCE_SERVER_AUTH_TOKEN", "t"),
            ("READ_WRITE_SCOPES", "true"),
            ("WRITE_SCOPE", "rw"),
        ])
        .unwrap();
        let read: shared::scope::ScopeSet = ["read".to_owned()].into();
        assert!(c.rules.allows(&read, "GET", "/anything"));
        assert!(!c.rules.allows(&read, "DELETE", "/anything"));
        let rw: shared::scope::ScopeSet = ["rw".to_owned()].into();
        assert!(c.rules.allows(&rw, "POST", "/x"));
    }
}
