//! Every file in `events/` through the real Lambda runtime API: `cargo lambda
//! watch` runs both functions, `cargo lambda invoke --data-file` sends the
//! events (with tokens this test creates), against DynamoDB Local.
//! scripts/test installs cargo-lambda (pinned) and puts it on PATH.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use integration_tests::{sample_event, start_standalone, TestEnv, TOKEN_SERVICE_PRINCIPAL};
use serde_json::Value;
use tokio::process::{Child, Command};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

struct Watch {
    _child: Child,
    port: u16,
    dir: PathBuf,
}

async fn cargo_lambda_watch(vars: &[(&str, String)]) -> Watch {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--quiet",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string(), "--timeout", "600"])
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in vars {
        command.args(["--env-var", &format!("{name}={value}")]);
    }
    let child = command
        .spawn()
        .expect("cargo lambda is not installed: run the tests with scripts/test");
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            let dir = std::env::temp_dir().join(format!("lambda-events-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            return Watch {
                _child: child,
                port,
                dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cargo lambda watch did not listen on {port} within 60 s");
}

impl Watch {
    /// `cargo lambda invoke FUNCTION --data-file ...`: the answer, or the error output.
    async fn invoke(&self, function: &str, name: &str, payload: &str) -> Result<Value, String> {
        let file = self.dir.join(name);
        std::fs::write(&file, payload).unwrap();
        let output = Command::new("cargo")
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .arg(function)
            .arg("--data-file")
            .arg(&file)
            .current_dir(workspace())
            .output()
            .await
            .unwrap();
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "{name}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&output.stdout)
                )
            }))
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
#[ignore = "needs cargo-lambda, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn every_sample_event_through_the_lambda_runtime_api() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let app = env.client("read write").await;
    let rs = env.client("introspection").await;
    let rs_token = env.token(&rs, Some("introspection")).await;
    let server = start_standalone(&env.table).await;

    let mut vars: Vec<(&str, String)> = vec![
        ("TABLE_NAME", env.table.clone()),
        ("ISSUER", "https://auth.example.test".into()),
        (
            "RESOURCE_SERVER_INTROSPECTION_URL",
            format!("http://{}/o/introspect/", server.addr),
        ),
        ("RESOURCE_SERVER_AUTH_TOKEN", rs_token.clone()),
        ("SCOPE_RULES", "GET /items/* = read; POST /items = write".into()),
        // No warm cache, so the revocation below shows at once.
        ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0".into()),
        ("RUST_LOG", "warn".into()),
    ];
    // The function runs as the token service, as it would with its role.
    vars.push(("AWS_ACCESS_KEY_ID", TOKEN_SERVICE_PRINCIPAL.to_owned()));
    for name in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        vars.push((
            name,
            std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run through scripts/test")),
        ));
    }
    let watch = cargo_lambda_watch(&vars).await;
    let basic = STANDARD.encode(format!("{}:{}", app.id, app.secret));

    // Token service: metadata, a token, its introspection, revocation, an error.
    let answer = watch
        .invoke(
            "token-service",
            "metadata.json",
            &sample_event("token-service-metadata.json", &[]),
        )
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(body(&answer)["issuer"], "https://auth.example.test");

    let answer = watch
        .invoke(
            "token-service",
            "token.json",
            &sample_event(
                "token-service-token.json",
                &[("REPLACE_WITH_CLIENT_BASIC", &basic)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let token = body(&answer)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body(&answer)["scope"], "read");

    let introspect = sample_event(
        "token-service-introspect.json",
        &[
            ("REPLACE_WITH_INTROSPECTION_TOKEN", &rs_token),
            ("REPLACE_WITH_ACCESS_TOKEN", &token),
        ],
    );
    let answer = watch
        .invoke("token-service", "introspect.json", &introspect)
        .await
        .unwrap();
    assert_eq!(body(&answer)["active"], true, "{answer}");

    // The authorizer, all three event kinds: Allow for GET /items/42 with `read`.
    let bearer = format!("Bearer {token}");
    for file in [
        "authorizer-rest-token.json",
        "authorizer-rest-request.json",
        "authorizer-http-api.json",
    ] {
        let payload = sample_event(file, &[("Bearer REPLACE_WITH_ACCESS_TOKEN", &bearer)]);
        let answer = watch.invoke("authorizer", file, &payload).await.unwrap();
        let statements = answer["policyDocument"]["Statement"].as_array();
        let allowed = answer["isAuthorized"].as_bool().unwrap_or_else(|| {
            statements.unwrap().iter().any(|s| s["Effect"] == "Allow")
                && answer["principalId"] == app.id.as_str()
        });
        assert!(allowed, "{file}: {answer}");
        assert_eq!(answer["context"]["scope"], "read", "{file}");
    }

    let revoke = sample_event(
        "token-service-revoke.json",
        &[
            ("REPLACE_WITH_CLIENT_BASIC", &basic),
            ("REPLACE_WITH_ACCESS_TOKEN", &token),
        ],
    );
    let answer = watch
        .invoke("token-service", "revoke.json", &revoke)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let answer = watch
        .invoke("token-service", "introspect.json", &introspect)
        .await
        .unwrap();
    assert_eq!(body(&answer), serde_json::json!({ "active": false }));

    let answer = watch
        .invoke(
            "token-service",
            "error.json",
            &sample_event("token-service-error.json", &[]),
        )
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 400, "{answer}");
    assert_eq!(body(&answer)["error"], "unsupported_grant_type");

    // The revoked token: the authorizer answers the error `Unauthorized` (401).
    let payload = sample_event(
        "authorizer-rest-token.json",
        &[("Bearer REPLACE_WITH_ACCESS_TOKEN", &bearer)],
    );
    let error = watch
        .invoke("authorizer", "revoked.json", &payload)
        .await
        .unwrap_err();
    assert!(error.contains("Unauthorized"), "{error}");
    std::fs::remove_dir_all(&watch.dir).ok();
}
