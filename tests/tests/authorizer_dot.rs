//! The authorizer against a real django-oauth-toolkit authorization server
//! (DOT's own /o/introspect/), authenticating both ways DOT resource servers
//! do. scripts/test installs DOT (pinned) and sets DOT_PYTHON.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerConfig, Refusal};
use integration_tests::authorizer_support::{
    assert_refused, authorize, event, policy_allows, EventKind, API_STAGE,
};
use serde_json::Value;
use shared::{SharedClock, SystemClock};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn authorizer(vars: &[(&str, &str)]) -> Authorizer {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = AuthorizerConfig::from_lookup(|k| map.get(k).cloned()).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    integration_tests::authorizer_support::cold_start(config, clock)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the pinned django-oauth-toolkit: scripts/test installs it"]
async fn dot_as_the_introspection_server() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dot/authorization_server.py");
    let mut server = integration_tests::dot_python()
        .arg(script)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await;
    let setup: Value = serde_json::from_str(
        &first
            .expect("DOT started")
            .unwrap()
            .expect("DOT printed its setup"),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{}/o/introspect/", setup["port"]);
    let token = |name: &str| format!("Bearer {}", setup["tokens"][name].as_str().unwrap());
    let credentials = format!(
        "{}:{}",
        setup["client_id"].as_str().unwrap(),
        setup["client_secret"].as_str().unwrap()
    );
    let introspection_token = setup["tokens"]["introspection"].as_str().unwrap().to_owned();

    let rules = "GET /items/* = read\nPOST /items = write";
    for auth in [
        ("RESOURCE_SERVER_AUTH_TOKEN", introspection_token.as_str()),
        ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", credentials.as_str()),
    ] {
        let a = authorizer(&[
            ("RESOURCE_SERVER_INTROSPECTION_URL", &url),
            auth,
            ("SCOPE_RULES", rules),
            ("HTTP_API_RESPONSE", "iam"),
        ])
        .await;
        for kind in EventKind::ALL {
            // A user's token: allowed where `read` reaches, with DOT's username as principal.
            let answer = authorize(&a, event(kind, Some(&token("user_read")), "GET", "/items/1"))
                .await
                .unwrap();
            assert!(
                policy_allows(&answer, &format!("{API_STAGE}/GET/items/1")),
                "{}: {answer}",
                auth.0
            );
            assert!(!policy_allows(&answer, &format!("{API_STAGE}/POST/items")));
            assert_eq!(answer["principalId"], "jdoe");
            assert_eq!(answer["context"]["username"], "jdoe");
            assert_eq!(answer["context"]["scope"], "read");

            let answer = authorize(&a, event(kind, Some(&token("write_only")), "GET", "/items/1"))
                .await
                .unwrap();
            assert!(!policy_allows(&answer, &format!("{API_STAGE}/GET/items/1")));
            assert!(policy_allows(&answer, &format!("{API_STAGE}/POST/items")));

            for inactive in ["expired", "unknown"] {
                let header = if inactive == "unknown" {
                    "Bearer not-a-dot-token".to_owned()
                } else {
                    token(inactive)
                };
                let outcome = authorize(&a, event(kind, Some(&header), "GET", "/items/1")).await;
                assert_refused(outcome, kind, inactive);
            }
        }
    }

    // DOT refuses a caller without the introspection scope (403): fail closed.
    let a = authorizer(&[
        ("RESOURCE_SERVER_INTROSPECTION_URL", &url),
        ("RESOURCE_SERVER_AUTH_TOKEN", "dot-user-read-token"),
    ])
    .await;
    let outcome = authorize(
        &a,
        event(EventKind::RestToken, Some(&token("user_read")), "GET", "/items/1"),
    )
    .await;
    assert!(matches!(outcome, Err(Refusal::Failed(_))), "{outcome:?}");
    server.kill().await.unwrap();
}
