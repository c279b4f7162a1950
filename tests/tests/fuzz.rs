//! Property-based fuzzing of what parses attacker input, through the entry
//! points an attacker reaches: whole HTTP requests into the token service
//! (form bodies, queries, Basic and Bearer credentials, scope strings) and
//! whole API Gateway events into the authorizer (headers, method and route
//! ARNs, scope rules and the policies built from them).
//!
//! Properties: never a panic; never a 500; every error is RFC 6749 / 6750
//! shaped JSON; and the authorizer never allows without an active
//! introspection answer. `scripts/test` runs a bounded number of cases
//! (`PROPTEST_CASES`, default 256 per property); `scripts/fuzz` runs long.

use std::collections::HashMap;
use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use integration_tests::authorizer_support::{
    authorize, event, policy_allows, EventKind, FakeIntrospection, API_STAGE,
};
use integration_tests::TestEnv;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use shared::{GrantType, SharedClock, SystemClock};

/// Error codes an answer may carry: RFC 6749 §5.2, RFC 6750 §3, RFC 7009
/// §2.2.1, and this service's own for paths and methods.
const ERROR_CODES: [&str; 12] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_token",
    "insufficient_scope",
    "unsupported_token_type",
    "temporarily_unavailable",
    "not_found",
    "method_not_allowed",
];

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text an attacker might send: printable, odd bytes, percent escapes and
/// separators, and the names the service looks for.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[a-zA-Z0-9%+=&._:/\\-]{0,60}",
        ".{0,20}",
        Just("client_credentials".to_owned()),
        Just("password".to_owned()),
        Just("refresh_token".to_owned()),
        Just("read write introspection".to_owned()),
        Just("a".repeat(3000)),
    ]
}

/// `text()` as an HTTP header can carry it (visible ASCII and spaces).
fn header_text() -> impl Strategy<Value = String> {
    text().prop_map(|t| {
        t.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .collect()
    })
}

/// A form whose values may or may not be percent-encoded (a body).
fn form() -> impl Strategy<Value = String> {
    form_with(any::<bool>())
}

/// A form as a URI query carries it: every value encoded.
fn query() -> impl Strategy<Value = String> {
    form_with(Just(true))
}

fn form_with(encode: impl Strategy<Value = bool> + Clone) -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("grant_type"),
        Just("scope"),
        Just("client_id"),
        Just("client_secret"),
        Just("token"),
        Just("token_type_hint"),
        Just("username"),
        Just("password"),
        Just("refresh_token"),
        Just("x"),
    ];
    proptest::collection::vec((key, text(), encode), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, encode)| {
                let v = if encode { shared::form::encode(&v) } else { v };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| Some(format!("Basic {}", STANDARD.encode(b)))),
        (text(), text())
            .prop_map(|(id, secret)| Some(format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))))),
        header_text().prop_map(|t| Some(format!("Bearer {t}"))),
        header_text().prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Request {
    method: &'static str,
    path: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Request> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("HEAD"),
        Just("PUT"),
        Just("DELETE")
    ];
    let endpoint = prop_oneof![
        Just("/o/token/".to_owned()),
        Just("/o/introspect/".to_owned()),
        Just("/o/revoke_token".to_owned()),
        Just("/.well-known/oauth-authorization-server".to_owned()),
        Just("/o/authorize/".to_owned()),
        Just("/o/logout/".to_owned()),
        "/[a-z/._%-]{0,30}",
    ];
    let path = (endpoint, proptest::option::of(query())).prop_map(|(p, q)| match q {
        Some(q) => format!("{p}?{q}"),
        None => p,
    });
    let content_type = prop_oneof![
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("application/json".to_owned())),
        Just(None),
        header_text().prop_map(Some),
    ];
    let body = prop_oneof![
        form().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
        Just(vec![b'a'; 20_000]),
    ];
    (method, path, content_type, authorization(), body).prop_map(
        |(method, path, content_type, authorization, body)| Request {
            method,
            path,
            content_type,
            authorization,
            body,
        },
    )
}

/// Whole HTTP requests into the token service: never a 500, and every error
/// RFC-shaped JSON.
#[test]
fn the_token_service_answers_any_request_with_a_shaped_status() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(async {
        let env = TestEnv::new().await;
        // Real clients, so that some requests get past authentication.
        env.register(
            "fuzzclient",
            "fuzzsecret",
            "read write introspection",
            "",
            None,
            &GrantType::ALL,
        )
        .await;
        env
    });
    runner()
        .run(&request(), |r| {
            let answer = rt.block_on(async {
                let mut builder = env.request(r.method, &r.path).body(&r.body);
                if let Some(ct) = &r.content_type {
                    builder = builder.header("content-type", ct);
                }
                if let Some(a) = &r.authorization {
                    builder = builder.header("authorization", a);
                }
                builder.send().await
            });
            prop_assert!(
                answer.status != 500 && (200..600).contains(&answer.status),
                "{r:?} -> {}",
                answer.status
            );
            // The pages people see answer errors with an HTML page that
            // no frame, script or other site can use.
            let route = r.path.split('?').next().unwrap_or("").trim_end_matches('/');
            let is_page = route.ends_with("/o/authorize") || route.ends_with("/o/logout");
            if is_page && answer.status >= 400 && answer.status != 405 {
                prop_assert!(
                    answer.header("content-type") == Some("text/html; charset=utf-8")
                        && answer.header("x-frame-options") == Some("DENY")
                        && answer
                            .header("content-security-policy")
                            .is_some_and(|c| c.starts_with("default-src 'none'")),
                    "{r:?}: {} {:?}",
                    answer.status,
                    answer.headers
                );
                return Ok(());
            }
            if answer.status >= 400 && !answer.body.is_empty() {
                let json: Value = serde_json::from_str(&answer.body)
                    .map_err(|e| TestCaseError::fail(format!("{r:?}: not JSON ({e}): {}", answer.body)))?;
                let code = json["error"].as_str().unwrap_or_default();
                prop_assert!(ERROR_CODES.contains(&code), "{r:?}: {}", answer.body);
            }
            Ok(())
        })
        .unwrap();
}

/// Whole authorizer events, of the three kinds, with any header, method and
/// path, against an endpoint that never says a token is active: never Allow.
#[test]
fn the_authorizer_never_allows_without_an_active_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answers = [
        r#"{"active": false}"#,
        r#"{"active": "true", "scope": "read write admin"}"#,
        r#"{"active": 1}"#,
        r#"{"active": true, "exp": 1, "scope": "read write admin"}"#,
        r#"{"active": true, "token_type": "refresh_token", "scope": "read write admin"}"#,
        r#"[true]"#,
        "not json",
    ];
    let authorizers: Vec<(FakeIntrospection, Authorizer)> = rt.block_on(async {
        let mut all = Vec::new();
        for body in answers {
            let fake = FakeIntrospection::always(200, body).await;
            let vars = HashMap::from([
                ("RESOURCE_SERVER_INTROSPECTION_URL", fake.url.clone()),
                ("RESOURCE_SERVER_AUTH_TOKEN", "rs".to_owned()),
                ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0".to_owned()),
                (
                    "SCOPE_RULES",
                    "GET /items/* = read; * /admin/* = admin".to_owned(),
                ),
            ]);
            let config = AuthorizerConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
            let clock: SharedClock = Arc::new(SystemClock);
            let authorizer = integration_tests::authorizer_support::cold_start(config, clock)
                .await
                .unwrap();
            all.push((fake, authorizer));
        }
        all
    });
    let kind = prop_oneof![
        Just(EventKind::RestToken),
        Just(EventKind::RestRequest),
        Just(EventKind::HttpApi)
    ];
    let method = prop_oneof![Just("GET"), Just("POST"), Just("DELETE"), Just("PATCH")];
    let path = prop_oneof![
        Just("/items/1".to_owned()),
        Just("/admin/x".to_owned()),
        "/[a-zA-Z0-9/*%._-]{0,30}"
    ];
    let strategy = (0..answers.len(), kind, authorization(), method, path);
    runner()
        .run(&strategy, |(which, kind, authorization, method, path)| {
            let (_, a) = &authorizers[which];
            let outcome = rt.block_on(authorize(a, event(kind, authorization.as_deref(), method, &path)));
            if let Ok(answer) = outcome {
                let allowed = match answer.get("isAuthorized") {
                    Some(v) => v.as_bool() != Some(false),
                    None => policy_allows(&answer, &format!("{API_STAGE}/{method}{path}")),
                };
                prop_assert!(!allowed, "{kind:?} {authorization:?} {method} {path}: {answer}");
            }
            Ok(())
        })
        .unwrap();
}

/// Scope rules and the policies built from them: whatever rules parse, the
/// policy the authorizer returns agrees with its own decision for the route
/// (so API Gateway's cached answer never allows what the rules refuse).
#[test]
fn policies_agree_with_the_rules_for_any_rules_and_route() {
    use authorizer::policy::{policy_document, ApiArn};
    use authorizer::rules::Rules;
    let method = prop_oneof![Just("GET"), Just("POST"), Just("DELETE"), Just("*"), Just("ANY")];
    let pattern = prop_oneof![Just("*".to_owned()), "/[a-z*/]{0,12}"];
    let scopes = prop_oneof![Just("read"), Just("write"), Just("read write"), Just("admin")];
    let rule = (method, pattern, scopes).prop_map(|(m, p, s)| format!("{m} {p} = {s}"));
    let rules = (proptest::collection::vec(rule, 0..5), any::<bool>());
    let route = (
        prop_oneof![Just("GET"), Just("POST"), Just("DELETE")],
        "/[a-z/]{0,12}",
        prop_oneof![
            Just(""),
            Just("read"),
            Just("write"),
            Just("read write"),
            Just("admin")
        ],
    );
    runner()
        .run(
            &(rules, route),
            |((lines, deny_unmatched), (method, path, token_scopes))| {
                let Ok(mut rules) = Rules::parse(&lines.join("\n")) else {
                    return Ok(());
                };
                if deny_unmatched {
                    rules.deny_unmatched();
                }
                let scopes = shared::scope::parse_scope(token_scopes).unwrap();
                let arn_text = format!("{API_STAGE}/{method}{path}");
                let arn = ApiArn::parse(&arn_text).unwrap();
                let decided = rules.allows(&scopes, method, &arn.path);
                let policy = serde_json::json!({ "policyDocument": policy_document(&rules, &scopes, &arn) });
                prop_assert_eq!(
                    policy_allows(&policy, &arn_text),
                    decided,
                    "{:?} {} {} {}",
                    lines,
                    method,
                    path,
                    token_scopes
                );
                Ok(())
            },
        )
        .unwrap();
}
