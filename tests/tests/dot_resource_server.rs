//! A real django-oauth-toolkit resource server, configured with either
//! RESOURCE_SERVER_AUTH_TOKEN or RESOURCE_SERVER_INTROSPECTION_CREDENTIALS and
//! pointed at the standalone token service, accepts our active tokens and
//! refuses the rest. scripts/test installs DOT (pinned) and sets DOT_PYTHON.

use integration_tests::TestEnv;

async fn resource_server(env_vars: &[(&str, &str)], tokens: &[&str]) -> Vec<u16> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dot/resource_server.py");
    let output = integration_tests::dot_python()
        .arg(script)
        .args(tokens)
        .envs(env_vars.iter().copied())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "resource server failed:\n{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("bad output ({e}): {stderr}"))
}

#[tokio::test]
#[ignore = "needs the pinned django-oauth-toolkit: scripts/test installs it"]
async fn dot_resource_server_works_unchanged_in_both_modes() {
    let env = TestEnv::new().await;
    let app = env.client("read write").await;
    let rs = env.client("introspection").await;
    let rs_token = env.token(&rs, Some("introspection")).await;
    let read = env.token(&app, Some("read write")).await;
    let write_only = env.token(&app, Some("write")).await;
    let revoked = env.token(&app, Some("read")).await;
    let answer = env
        .post("/o/revoke_token/", &format!("token={revoked}"))
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);

    let server = env.serve().await;
    let url = format!("http://{}/o/introspect/", server.addr);
    let tokens = [
        read.as_str(),
        write_only.as_str(),
        revoked.as_str(),
        "neverIssued",
    ];

    let with_token = resource_server(
        &[("DOT_INTROSPECTION_URL", &url), ("DOT_AUTH_TOKEN", &rs_token)],
        &tokens,
    )
    .await;
    assert_eq!(with_token, [200, 403, 403, 403]);

    let with_credentials = resource_server(
        &[
            ("DOT_INTROSPECTION_URL", &url),
            ("DOT_CLIENT_ID", &rs.id),
            ("DOT_CLIENT_SECRET", &rs.secret),
        ],
        &tokens,
    )
    .await;
    assert_eq!(with_credentials, [200, 403, 403, 403]);

    // Credentials of a client without the introspection scope get nothing through.
    let refused = resource_server(
        &[
            ("DOT_INTROSPECTION_URL", &url),
            ("DOT_CLIENT_ID", &app.id),
            ("DOT_CLIENT_SECRET", &app.secret),
        ],
        &tokens[..1],
    )
    .await;
    assert_eq!(refused, [403]);
}
