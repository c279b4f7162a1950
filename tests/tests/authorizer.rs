//! The authorizer end to end: API Gateway's three event kinds (the samples in
//! `events/`) into the handler, against the real token service served over
//! loopback HTTP (over the store `TEST_STORE` names), and against a fake
//! endpoint for failures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use authorizer::{Authorizer, AuthorizerConfig, Refusal};
use integration_tests::authorizer_support::{
    assert_refused, authorize, event, policy_allows, EventKind, FakeIntrospection, API_STAGE,
};
use integration_tests::{Served, TestClient, TestEnv};
use serde_json::Value;
use shared::{GrantType, SharedClock, SystemClock};

const RULES: &str = "GET /items/* = read\nPOST /items = write\n* /admin/* = admin";

async fn authorizer(vars: &[(&str, &str)]) -> Authorizer {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = AuthorizerConfig::from_lookup(|k| map.get(k).cloned()).expect("authorizer configuration");
    let clock: SharedClock = Arc::new(SystemClock);
    integration_tests::authorizer_support::cold_start(config, clock)
        .await
        .unwrap()
}

struct Fixture {
    env: TestEnv,
    server: Served,
    app: TestClient,
    rs: TestClient,
    rs_token: String,
}

impl Fixture {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let app = env.client("read write admin").await;
        let rs = env.client("introspection").await;
        let rs_token = env.token(&rs, Some("introspection")).await;
        let server = env.serve().await;
        Self {
            env,
            server,
            app,
            rs,
            rs_token,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/o/introspect/", self.server.addr)
    }

    /// An authorizer authenticating with RESOURCE_SERVER_AUTH_TOKEN.
    async fn with_token(&self, extra: &[(&str, &str)]) -> Authorizer {
        let url = self.url();
        let mut vars = vec![
            ("RESOURCE_SERVER_INTROSPECTION_URL", url.as_str()),
            ("RESOURCE_SERVER_AUTH_TOKEN", self.rs_token.as_str()),
            ("SCOPE_RULES", RULES),
        ];
        vars.extend_from_slice(extra);
        authorizer(&vars).await
    }

    /// An authorizer authenticating with RESOURCE_SERVER_INTROSPECTION_CREDENTIALS.
    async fn with_credentials(&self, extra: &[(&str, &str)]) -> Authorizer {
        let url = self.url();
        let credentials = format!("{}:{}", self.rs.id, self.rs.secret);
        let mut vars = vec![
            ("RESOURCE_SERVER_INTROSPECTION_URL", url.as_str()),
            ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", credentials.as_str()),
            ("SCOPE_RULES", RULES),
        ];
        vars.extend_from_slice(extra);
        authorizer(&vars).await
    }
}

/// Allowed (true) or denied (false) for `method path`, as API Gateway would
/// judge the answer; Err for a Lambda error.
async fn decide(
    a: &Authorizer,
    kind: EventKind,
    authorization: Option<&str>,
    method: &str,
    path: &str,
) -> Result<(bool, Value), Refusal> {
    let answer = authorize(a, event(kind, authorization, method, path)).await?;
    let allowed = match answer.get("isAuthorized") {
        Some(v) => v.as_bool().unwrap(),
        None => policy_allows(&answer, &format!("{API_STAGE}/{method}{path}")),
    };
    Ok((allowed, answer))
}

#[tokio::test]
async fn active_tokens_are_allowed_where_their_scopes_reach_in_every_event_kind() {
    let f = Fixture::new().await;
    let read = f.env.token(&f.app, Some("read")).await;
    let bearer = format!("Bearer {read}");
    for a in [f.with_token(&[]).await, f.with_credentials(&[]).await] {
        for kind in EventKind::ALL {
            let (allowed, answer) = decide(&a, kind, Some(&bearer), "GET", "/items/42").await.unwrap();
            assert!(allowed, "{kind:?}: {answer}");
            // The route the token's scope does not cover: denied (403), not 401.
            let (allowed, _) = decide(&a, kind, Some(&bearer), "POST", "/items").await.unwrap();
            assert!(!allowed, "{kind:?}");
            let (allowed, _) = decide(&a, kind, Some(&bearer), "DELETE", "/admin/users/1")
                .await
                .unwrap();
            assert!(!allowed, "{kind:?}");
            // No rule matches: any active token.
            let (allowed, _) = decide(&a, kind, Some(&bearer), "GET", "/health").await.unwrap();
            assert!(allowed, "{kind:?}");
        }
    }
}

#[tokio::test]
async fn policies_are_cache_safe_and_context_is_flat() {
    let f = Fixture::new().await;
    let read = f.env.token(&f.app, Some("read")).await;
    let a = f.with_token(&[("HTTP_API_RESPONSE", "iam")]).await;
    for kind in EventKind::ALL {
        let answer = authorize(
            &a,
            event(kind, Some(&format!("Bearer {read}")), "GET", "/items/42"),
        )
        .await
        .unwrap();
        // One answer, cached by API Gateway for this token, judges every route right.
        for (method, path, expected) in [
            ("GET", "/items/42", true),
            ("GET", "/items/7/tags", true),
            ("POST", "/items", false),
            ("PUT", "/admin/x", false),
            ("GET", "/", true),
        ] {
            assert_eq!(
                policy_allows(&answer, &format!("{API_STAGE}/{method}{path}")),
                expected,
                "{kind:?} {method} {path}"
            );
        }
        // Nothing outside this API and stage.
        assert!(!policy_allows(
            &answer,
            "arn:aws:execute-api:us-east-1:123456789012:otherapi/prod/GET/items/1"
        ));
        assert!(!policy_allows(
            &answer,
            "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/items/1"
        ));

        assert_eq!(answer["principalId"], f.app.id.as_str());
        let context = answer["context"].as_object().unwrap();
        assert_eq!(context["client_id"], f.app.id.as_str());
        assert_eq!(context["scope"], "read");
        assert_eq!(context["token_type"], "Bearer");
        assert!(context["exp"].as_u64().unwrap() > 0);
        assert!(
            context.values().all(|v| v.is_string() || v.is_number()),
            "{context:?}"
        );
    }

    // Without rules, any active token may call anything on this API and stage.
    let open = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &f.url()),
        ("RESOURCE_SERVER_AUTH_TOKEN", &f.rs_token),
    ])
    .await;
    let answer = authorize(
        &open,
        event(
            EventKind::RestToken,
            Some(&format!("Bearer {read}")),
            "GET",
            "/items/42",
        ),
    )
    .await
    .unwrap();
    assert_eq!(answer["policyDocument"]["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Resource"][0],
        format!("{API_STAGE}/*/*")
    );
}

/// The members of a JSON object, sorted.
fn members(value: &Value) -> Vec<&str> {
    let mut members: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    members
}

#[tokio::test]
async fn answers_have_only_the_members_aws_documents() {
    let f = Fixture::new().await;
    let read = f.env.token(&f.app, Some("read")).await;
    let bearer = format!("Bearer {read}");
    let url = f.url();
    // Simple answers are for authorizers without scope rules.
    for response in ["simple", "iam"] {
        let a = authorizer(&[
            ("RESOURCE_SERVER_INTROSPECTION_URL", &url),
            ("RESOURCE_SERVER_AUTH_TOKEN", &f.rs_token),
            ("HTTP_API_RESPONSE", response),
        ])
        .await;
        for kind in EventKind::ALL {
            let answer = authorize(&a, event(kind, Some(&bearer), "GET", "/items/42"))
                .await
                .unwrap();
            if kind == EventKind::HttpApi && response == "simple" {
                assert_eq!(members(&answer), ["context", "isAuthorized"], "{answer}");
            } else {
                // No `usageIdentifierKey: null`: API Gateway documents none.
                assert_eq!(
                    members(&answer),
                    ["context", "policyDocument", "principalId"],
                    "{kind:?} {answer}"
                );
                assert_eq!(members(&answer["policyDocument"]), ["Statement", "Version"]);
                for statement in answer["policyDocument"]["Statement"].as_array().unwrap() {
                    assert_eq!(
                        members(statement),
                        ["Action", "Effect", "Resource"],
                        "{statement}"
                    );
                }
            }
            assert_eq!(
                members(&answer["context"]),
                ["client_id", "exp", "scope", "token_type"],
                "{kind:?} {response}"
            );
        }
        // A token that is no good, on an HTTP API: refused, and nothing in the context.
        let answer = authorize(
            &a,
            event(
                EventKind::HttpApi,
                Some("Bearer no-such-token"),
                "GET",
                "/items/42",
            ),
        )
        .await
        .unwrap();
        assert_eq!(answer["context"], serde_json::json!({}), "{response}");
        let expected: &[&str] = if response == "simple" {
            &["context", "isAuthorized"]
        } else {
            &["context", "policyDocument", "principalId"]
        };
        assert_eq!(members(&answer), expected, "{answer}");
    }
}

#[tokio::test]
async fn unknown_revoked_and_expired_tokens_are_unauthorized() {
    let f = Fixture::new().await;
    let short = f
        .env
        .client_with("read", "", Some(1), &[GrantType::ClientCredentials])
        .await;
    let expiring = f.env.token(&short, None).await;
    let revoked = f.env.token(&f.app, Some("read")).await;
    let answer = f
        .env
        .post("/o/revoke_token/", &format!("token={revoked}"))
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let simple = f.with_credentials(&[]).await;
    let iam = f.with_credentials(&[("HTTP_API_RESPONSE", "iam")]).await;
    for a in [&simple, &iam] {
        for kind in EventKind::ALL {
            for token in ["neverIssued", revoked.as_str(), expiring.as_str()] {
                let outcome = decide(a, kind, Some(&format!("Bearer {token}")), "GET", "/items/42").await;
                assert_refused(outcome.map(|(_, answer)| answer), kind, token);
            }
        }
        assert_eq!(a.cached(), 0, "inactive answers are not cached");
    }
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_unauthorized_without_a_call() {
    let fake = FakeIntrospection::always(200, r#"{"active": true}"#).await;
    let a = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
        ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
    ])
    .await;
    for kind in EventKind::ALL {
        for header in [
            None,
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer"),
            Some("Bearer two tokens"),
            Some("tokenwithoutscheme"),
        ] {
            if kind == EventKind::HttpApi && header.is_none() {
                continue; // API Gateway answers 401 itself: the authorizer is never invoked.
            }
            let outcome = decide(&a, kind, header, "GET", "/items/42").await;
            assert_refused(
                outcome.map(|(_, answer)| answer),
                kind,
                header.unwrap_or("no header"),
            );
        }
    }
    // A token in the query string is never used (RFC 9700 §4.3.2).
    let mut request = event(EventKind::RestRequest, None, "GET", "/items/42");
    request["queryStringParameters"] = serde_json::json!({"access_token": "abc"});
    request["multiValueQueryStringParameters"] = serde_json::json!({"access_token": ["abc"]});
    assert_eq!(authorize(&a, request).await.unwrap_err(), Refusal::Unauthorized);
    assert_eq!(fake.calls(), 0);
    // The scheme is matched case-insensitively.
    assert!(
        decide(&a, EventKind::RestToken, Some("bEaReR abc"), "GET", "/x")
            .await
            .unwrap()
            .0
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn introspection_failures_fail_closed_with_a_non_401_error() {
    let slow = FakeIntrospection::start(Arc::new(|_| {
        (200, r#"{"active": true}"#.to_owned(), Duration::from_secs(3))
    }))
    .await;
    let failing = FakeIntrospection::always(500, r#"{"error": "server_error"}"#).await;
    let unauthorized = FakeIntrospection::always(401, r#"{"error": "invalid_client"}"#).await;
    let html = FakeIntrospection::always(200, "<html>maintenance</html>").await;
    let array = FakeIntrospection::always(200, "[true]").await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/o/introspect/", listener.local_addr().unwrap())
    };
    for (case, url) in [
        ("timeout", slow.url.as_str()),
        ("500", &failing.url),
        ("401", &unauthorized.url),
        ("not JSON", &html.url),
        ("not an object", &array.url),
        ("unreachable", &closed),
    ] {
        let a = authorizer(&[
            ("RESOURCE_SERVER_INTROSPECTION_URL", url),
            ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
            ("RESOURCE_SERVER_INTROSPECTION_TIMEOUT_SECONDS", "0.5"),
        ])
        .await;
        for kind in EventKind::ALL {
            let started = std::time::Instant::now();
            match decide(&a, kind, Some("Bearer abc"), "GET", "/items/42").await {
                Err(Refusal::Failed(why)) => assert!(!why.contains("abc"), "{case}: {why}"),
                other => panic!("{case} {kind:?}: expected a failure, got {other:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{case}: the timeout was not enforced"
            );
        }
    }
}

#[tokio::test]
async fn answers_are_judged_strictly() {
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600)
        .to_string();
    let cases = [
        (r#"{"active": "true", "exp": EXP}"#, None),
        (r#"{"active": 1}"#, None),
        (r#"{"active": false}"#, None),
        (r#"{"active": true, "exp": 1}"#, None),
        (
            r#"{"active": true, "exp": EXP, "token_type": "refresh_token"}"#,
            None,
        ),
        // RFC 7662 makes exp optional: allowed, cached for the caching time only.
        (r#"{"active": true, "scope": "read"}"#, Some(true)),
        (
            r#"{"active": true, "exp": EXP, "token_type": "access_token", "scope": "read"}"#,
            Some(true),
        ),
        (
            r#"{"active": true, "exp": EXP, "token_type": "Bearer", "scope": "write"}"#,
            Some(false),
        ),
    ];
    for (body, expected) in cases {
        let body = body.replace("EXP", &future);
        let fake = FakeIntrospection::always(200, &body).await;
        let a = authorizer(&[
            ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
            ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
            ("SCOPE_RULES", RULES),
        ])
        .await;
        let outcome = decide(&a, EventKind::RestToken, Some("Bearer abc"), "GET", "/items/1").await;
        match expected {
            None => assert_eq!(outcome.unwrap_err(), Refusal::Unauthorized, "{body}"),
            Some(allowed) => assert_eq!(outcome.unwrap().0, allowed, "{body}"),
        }
    }
}

#[tokio::test]
async fn the_introspection_request_is_rfc_7662_with_encoded_credentials() {
    let fake = FakeIntrospection::always(200, r#"{"active": true}"#).await;
    let a = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
        ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", "my id:p@ss+word"),
    ])
    .await;
    decide(&a, EventKind::HttpApi, Some("Bearer a/b+c="), "GET", "/x")
        .await
        .unwrap();
    let request = fake.last_request.lock().unwrap().clone();
    assert!(request.starts_with("POST /o/introspect/ HTTP/1.1"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded"),
        "{request}"
    );
    // base64("my+id:p%40ss%2Bword"): each part form-urlencoded (RFC 6749 §2.3.1).
    assert!(
        request.contains("Basic bXkraWQ6cCU0MHNzJTJCd29yZA=="),
        "{request}"
    );
    assert!(
        request.ends_with("token=a%2Fb%2Bc%3D&token_type_hint=access_token"),
        "{request}"
    );
}

#[tokio::test]
async fn warm_invocations_reuse_answers_until_exp_or_the_caching_time() {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let body = format!(r#"{{"active": true, "exp": {exp}, "scope": "read"}}"#);
    let fake = FakeIntrospection::always(200, &body).await;
    let a = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
        ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
    ])
    .await;
    for kind in EventKind::ALL {
        decide(&a, kind, Some("Bearer one"), "GET", "/x").await.unwrap();
    }
    assert_eq!(
        fake.calls(),
        1,
        "a cold decision costs one introspection call; warm ones none"
    );
    decide(&a, EventKind::RestToken, Some("Bearer two"), "GET", "/x")
        .await
        .unwrap();
    assert_eq!(fake.calls(), 2);

    let uncached = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
        ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
        ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0"),
    ])
    .await;
    decide(&uncached, EventKind::RestToken, Some("Bearer one"), "GET", "/x")
        .await
        .unwrap();
    decide(&uncached, EventKind::RestToken, Some("Bearer one"), "GET", "/x")
        .await
        .unwrap();
    assert_eq!(fake.calls(), 4);
}

/// Revocation reaches a protected API within RESOURCE_SERVER_TOKEN_CACHING_SECONDS
/// (plus API Gateway's own cache): with caching off, at once.
#[tokio::test]
async fn revocation_takes_effect_within_the_caching_time() {
    let f = Fixture::new().await;
    let token = f.env.token(&f.app, Some("read")).await;
    let bearer = format!("Bearer {token}");
    let cached = f.with_token(&[]).await;
    let uncached = f
        .with_token(&[("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0")])
        .await;
    assert!(
        decide(&cached, EventKind::RestToken, Some(&bearer), "GET", "/items/1")
            .await
            .unwrap()
            .0
    );
    assert!(
        decide(&uncached, EventKind::RestToken, Some(&bearer), "GET", "/items/1")
            .await
            .unwrap()
            .0
    );

    let answer = f
        .env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);
    assert!(
        decide(&cached, EventKind::RestToken, Some(&bearer), "GET", "/items/1")
            .await
            .unwrap()
            .0,
        "still cached"
    );
    let refusal = decide(&uncached, EventKind::RestToken, Some(&bearer), "GET", "/items/1")
        .await
        .unwrap_err();
    assert_eq!(refusal, Refusal::Unauthorized);
}

#[tokio::test]
async fn unknown_events_and_bad_arns_fail_closed() {
    let fake = FakeIntrospection::always(200, r#"{"active": true}"#).await;
    let a = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &fake.url),
        ("RESOURCE_SERVER_AUTH_TOKEN", "rs"),
    ])
    .await;
    // JSON that is no authorizer event, whatever its shape.
    for not_an_event in [
        serde_json::json!({"hello": "world"}),
        serde_json::json!({"type": 5, "version": ["2.0"]}),
        serde_json::json!([]),
        serde_json::json!("TOKEN"),
        serde_json::json!(null),
        serde_json::json!(42),
    ] {
        match authorize(&a, not_an_event.clone()).await {
            Err(Refusal::Failed(why)) => {
                assert!(why.contains("not an API Gateway authorizer event"), "{why}")
            }
            other => panic!("{not_an_event}: {other:?}"),
        }
    }
    // An event of a known kind whose members are of the wrong types.
    let mut arn_not_a_string = event(EventKind::RestToken, Some("Bearer abc"), "GET", "/x");
    arn_not_a_string["methodArn"] = 42.into();
    let mut headers_not_a_map = event(EventKind::HttpApi, Some("Bearer abc"), "GET", "/x");
    headers_not_a_map["headers"] = "authorization: Bearer abc".into();
    for malformed in [arn_not_a_string, headers_not_a_map] {
        match authorize(&a, malformed.clone()).await {
            Err(Refusal::Failed(why)) => assert!(why.contains("malformed authorizer event"), "{why}"),
            other => panic!("{malformed}: {other:?}"),
        }
    }
    let mut bad_arn = event(EventKind::RestToken, Some("Bearer abc"), "GET", "/x");
    bad_arn["methodArn"] = "arn:aws:s3:::bucket".into();
    assert!(matches!(authorize(&a, bad_arn).await, Err(Refusal::Failed(_))));
}

/// A bad configuration stops the cold start with one message naming the variable.
#[tokio::test]
#[ignore = "needs the workspace binaries: scripts/test builds them"]
async fn bad_configuration_stops_the_cold_start() {
    for (vars, named) in [
        (
            vec![("RESOURCE_SERVER_AUTH_TOKEN", "t")],
            "RESOURCE_SERVER_INTROSPECTION_URL",
        ),
        (
            vec![(
                "RESOURCE_SERVER_INTROSPECTION_URL",
                "https://a.example/o/introspect/",
            )],
            "RESOURCE_SERVER_AUTH_TOKEN",
        ),
        (
            vec![
                ("RESOURCE_SERVER_INTROSPECTION_URL", "https://a.example/"),
                ("RESOURCE_SERVER_AUTH_TOKEN", "t"),
                ("SCOPE_RULES", "GET /x"),
            ],
            "SCOPE_RULES",
        ),
    ] {
        let output = tokio::process::Command::new(integration_tests::binary("authorizer"))
            .env_clear()
            .envs(vars.iter().copied())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
}

/// The introspection credentials read from Secrets Manager at cold start: one
/// SigV4-signed GetSecretValue, then used like the plain variables.
#[tokio::test]
async fn credentials_from_secrets_manager() {
    let introspection = FakeIntrospection::start(Arc::new(|_| {
        (200, r#"{"active": true}"#.to_owned(), Duration::ZERO)
    }))
    .await;
    let secret_value = Arc::new(std::sync::Mutex::new((200u16, String::new())));
    let value = secret_value.clone();
    let secrets = FakeIntrospection::start(Arc::new(move |_| {
        let (status, body) = value.lock().unwrap().clone();
        (status, body, Duration::ZERO)
    }))
    .await;
    let endpoint = secrets.url.trim_end_matches("/o/introspect/").to_owned();
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:authorizer-creds-AbCdEf";
    let vars = [
        ("RESOURCE_SERVER_INTROSPECTION_URL", introspection.url.as_str()),
        ("RESOURCE_SERVER_CREDENTIALS_SECRET_ID", arn),
        // The SDKs' general override, as emulators set it in a function's environment.
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SESSION_TOKEN", "session-token-example"),
    ];
    let build = || async {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = AuthorizerConfig::from_lookup(|k| map.get(k).cloned()).unwrap();
        let clock: SharedClock = Arc::new(SystemClock);
        integration_tests::authorizer_support::cold_start(config, clock).await
    };

    let secret =
        serde_json::json!({ "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS": "rs-id:rs-secret" }).to_string();
    *secret_value.lock().unwrap() = (
        200,
        serde_json::json!({ "ARN": arn, "SecretString": secret }).to_string(),
    );
    let a = build().await.unwrap();
    assert!(
        decide(&a, EventKind::RestToken, Some("Bearer abc"), "GET", "/x")
            .await
            .unwrap()
            .0
    );
    // The secret's credentials reached the introspection endpoint...
    assert!(introspection
        .last_request
        .lock()
        .unwrap()
        .contains("Basic cnMtaWQ6cnMtc2VjcmV0"));
    // ...after one signed GetSecretValue for exactly that secret.
    assert_eq!(secrets.calls(), 1);
    let request = secrets.last_request.lock().unwrap().to_ascii_lowercase();
    assert!(
        request.contains("x-amz-target: secretsmanager.getsecretvalue"),
        "{request}"
    );
    assert!(
        request.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
        "{request}"
    );
    assert!(
        request.contains("/eu-west-1/secretsmanager/aws4_request"),
        "{request}"
    );
    assert!(
        request.contains("x-amz-security-token: session-token-example"),
        "{request}"
    );
    assert!(request.contains(&arn.to_ascii_lowercase()), "{request}");

    // An empty secret, a missing one, or an unreachable Secrets Manager: no authorizer.
    *secret_value.lock().unwrap() = (200, serde_json::json!({ "SecretString": "{}" }).to_string());
    assert!(build()
        .await
        .err()
        .unwrap()
        .contains("RESOURCE_SERVER_AUTH_TOKEN"));
    *secret_value.lock().unwrap() = (400, r#"{"__type": "ResourceNotFoundException"}"#.to_owned());
    assert!(build().await.err().unwrap().contains("ResourceNotFoundException"));
}
