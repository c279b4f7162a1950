//! The `token-service` binary started outside Lambda: a plain HTTP server on
//! LISTEN_ADDR serving the same routes, checked over real sockets.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::time::Duration;

use integration_tests::{binary, start_standalone, start_standalone_with, Standalone, TestEnv};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// One HTTP/1.1 request over a fresh connection: (status, body).
async fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before reading an oversized body.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn issue_introspect_and_revoke_over_http_without_logging_secrets() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let app = env.client("read write").await;
    let rs = env.client("introspection").await;
    let server = start_standalone(&env.table).await;
    let app_basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", app.id, app.secret)));
    let rs_basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", rs.id, rs.secret)));

    let (status, body) = http(
        &server.addr,
        "POST",
        "/o/token/",
        &[FORM, ("Authorization", &app_basic)],
        b"grant_type=client_credentials&scope=read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let form = format!("token={token}");
    let (status, body) = http(
        &server.addr,
        "POST",
        "/o/introspect/",
        &[FORM, ("Authorization", &rs_basic)],
        form.as_bytes(),
    )
    .await;
    assert_eq!(
        (status, body["active"].clone(), body["scope"].clone()),
        (200, Value::Bool(true), "read".into())
    );

    let (status, _) = http(
        &server.addr,
        "POST",
        "/o/revoke_token/",
        &[FORM, ("Authorization", &app_basic)],
        form.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = http(
        &server.addr,
        "GET",
        &format!("/o/introspect/?token={token}"),
        &[("Authorization", &rs_basic)],
        b"",
    )
    .await;
    assert_eq!(body, serde_json::json!({ "active": false }));

    let (status, body) = http(
        &server.addr,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        b"",
    )
    .await;
    assert_eq!((status, body["issuer"].clone()), (200, "http://127.0.0.1".into()));
    let (status, _) = http(&server.addr, "GET", "/nowhere", &[], b"").await;
    assert_eq!(status, 404);

    // A body far past 16 KiB is refused without being read whole.
    let big = vec![b'a'; 256 * 1024];
    let (status, body) = http(
        &server.addr,
        "POST",
        "/o/token/",
        &[FORM, ("Authorization", &app_basic)],
        &big,
    )
    .await;
    assert_eq!((status, body["error"].clone()), (413, "invalid_request".into()));

    let Standalone { mut child, logs, .. } = server;
    child.kill().await.unwrap();
    let logs = logs.await.unwrap();
    assert!(logs.contains("request"), "the server logs requests:\n{logs}");
    for secret in [&token, &app.secret, &rs.secret] {
        assert!(
            !logs.contains(secret.as_str()),
            "a token or secret reached the log"
        );
    }
}

/// A bad configuration stops the start with one message naming the
/// variable, before any request: among them an issuer in plain http to
/// another host than this machine (codes and tokens would cross the
/// network in clear, and `__Host-` cookies cannot work).
#[tokio::test]
#[ignore = "needs the workspace binaries: scripts/test builds them"]
async fn bad_configuration_stops_the_cold_start_naming_the_variable() {
    for (variable, value) in [
        ("ACCESS_TOKEN_EXPIRE_SECONDS", "1h"),
        ("SCOPES", "read,write"),
        ("ISSUER", "auth.example.com"),
        ("ISSUER", "http://auth.example.com"),
        ("ISSUER", "http://127.0.0.1.example.com:3000"),
        ("ISSUER", "https://user@auth.example.com"),
    ] {
        let output = Command::new(binary("token-service"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("TABLE_NAME", "any")
            .env("ISSUER", "https://auth.example.com")
            .env(variable, value)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
    let output = Command::new(binary("token-service"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("TABLE_NAME")
        .env("ISSUER", "https://auth.example.com")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("TABLE_NAME"));
}

/// DynamoDB that accepts connections but never answers: the service gives up
/// within its timeouts and answers 503 with Retry-After.
#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn stalled_dynamodb_answers_503_promptly() {
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", black_hole.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = black_hole.accept().await {
            held.push(socket);
        }
    });
    let server =
        start_standalone_with(&[("AWS_ENDPOINT_URL_DYNAMODB", &endpoint), ("TABLE_NAME", "any")]).await;
    let addr = server.addr.clone();
    let started = std::time::Instant::now();
    let (status, body) = http(
        &addr,
        "POST",
        "/o/token/",
        &[FORM, ("Authorization", "Basic aWQ6c2VjcmV0")],
        b"grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (503, "temporarily_unavailable".into())
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    holder.abort();
}
