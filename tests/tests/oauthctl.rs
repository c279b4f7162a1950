//! `oauthctl` run as a person runs it, against DynamoDB Local.

// The long end-to-end tests await many child processes; their futures'
// layout goes deeper than the compiler's default limit.
#![recursion_limit = "256"]

use integration_tests::{binary, TestClient, TestEnv};
use serde_json::{json, Value};
use shared::store::Store;
use tokio::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "oauthctl failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

async fn oauthctl(table: &str, args: &[&str]) -> Run {
    oauthctl_with(table, &[], "", args).await
}

/// `oauthctl` with more environment variables and a standard input.
async fn oauthctl_with(table: &str, vars: &[(&str, &str)], stdin: &str, args: &[&str]) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", table)
        .envs(vars.iter().copied())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn unique_table() -> String {
    format!(
        "cli-{}-{}",
        std::process::id(),
        shared::secret::random_alphanumeric(8).unwrap()
    )
}

#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn client_lifecycle_end_to_end() {
    let table = unique_table();
    assert_eq!(
        oauthctl(&table, &["table", "create"]).await.json(),
        json!({ "table": table, "created": true })
    );
    let again = oauthctl(&table, &["table", "create"]).await;
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let created = oauthctl(
        &table,
        &[
            "client",
            "create",
            "--name",
            "Billing API",
            "--grant",
            "client_credentials",
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--token-lifetime",
            "600",
        ],
    )
    .await
    .json();
    let app = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(created["name"], "Billing API");
    assert_eq!(created["scope"], "read write");
    assert_eq!(created["default_scope"], "read");
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert!(app.secret.len() >= 43);

    let rs_created = oauthctl(
        &table,
        &[
            "client",
            "create",
            "--name",
            "RS",
            "--grant",
            "client_credentials",
            "--scope",
            "introspection",
        ],
    )
    .await
    .json();
    let rs_id = rs_created["client_id"].as_str().unwrap().to_owned();

    // The secret is shown once: never by list or show.
    let list = oauthctl(&table, &["client", "list"]).await;
    let listed = list.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !list.stdout.contains(&app.secret) && !list.stdout.contains("secret"),
        "{}",
        list.stdout
    );
    let shown = oauthctl(&table, &["client", "show", &app.id]).await.json();
    assert_eq!(shown["token_lifetime"], 600);
    assert!(shown.get("client_secret").is_none());

    // The service on the same table accepts the client as created.
    let env = TestEnv::on_table(table.clone(), &[]).await;
    let token = env.token(&app, None).await;

    // A minted long-lived introspection token works as RESOURCE_SERVER_AUTH_TOKEN.
    let minted = oauthctl(
        &table,
        &[
            "token",
            "mint",
            "--client",
            &rs_id,
            "--scope",
            "introspection",
            "--expires-in",
            "31536000",
        ],
    )
    .await
    .json();
    assert_eq!(minted["expires_in"], 31536000);
    assert_eq!(minted["scope"], "introspection");
    let rs_token = minted["access_token"].as_str().unwrap();
    let introspect = |t: String| {
        let env = &env;
        async move {
            env.post("/o/introspect/", &format!("token={t}"))
                .bearer(rs_token)
                .send()
                .await
                .json()
        }
    };
    assert_eq!(introspect(token.clone()).await["active"], true);

    // Rotation: the old secret stops working, the new one works.
    let rotated = oauthctl(&table, &["client", "rotate-secret", &app.id])
        .await
        .json();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, app.secret);
    let old = env
        .post("/o/token/", "grant_type=client_credentials")
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(old.status, 401);
    let app = TestClient {
        secret: new_secret,
        ..app
    };
    env.token(&app, None).await;

    // Disable, enable, delete.
    assert_eq!(
        oauthctl(&table, &["client", "disable", &app.id]).await.json()["disabled"],
        true
    );
    assert_eq!(introspect(token.clone()).await["active"], false);
    assert_eq!(
        oauthctl(&table, &["client", "enable", &app.id]).await.json()["disabled"],
        false
    );
    assert_eq!(introspect(token.clone()).await["active"], true);
    assert_eq!(
        oauthctl(&table, &["client", "delete", &app.id]).await.json()["deleted"],
        true
    );
    assert_eq!(introspect(token.clone()).await["active"], false);
    let gone = oauthctl(&table, &["client", "show", &app.id]).await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("no client"), "{}", gone.stderr);

    // A client known by its metadata document: disabled, it is kept (no
    // expiry), so its document cannot bring it back; enabled, it expires
    // unused again, after the lifetime given.
    let url = "https://app.example.com/oauth/client.json";
    let now = shared::Clock::now(&shared::SystemClock);
    let documented = shared::model::Client {
        client_id: url.into(),
        name: "Documented".into(),
        auth: shared::model::ClientAuth::Public,
        grant_types: [shared::model::GrantType::AuthorizationCode].into(),
        scopes: shared::scope::parse_scope("read").unwrap(),
        default_scopes: Default::default(),
        token_lifetime: None,
        disabled: false,
        created_at: now,
        redirect_uris: vec!["https://app.example.com/cb".parse().unwrap()],
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: Default::default(),
        registration: shared::model::Registration::MetadataDocument {
            fresh_until: now + 3600,
            expires_at: now + 3600,
        },
        resources: Default::default(),
    };
    assert!(env.admin.put_metadata_document_client(&documented).await.unwrap());
    let shown = oauthctl(&table, &["client", "show", url]).await.json();
    assert_eq!(shown["expires_at"], now + 3600);
    let banned = oauthctl(&table, &["client", "disable", url]).await.json();
    assert_eq!(
        (banned["disabled"].clone(), banned["expires_at"].clone()),
        (json!(true), Value::Null)
    );
    let enabled = oauthctl(
        &table,
        &["client", "enable", url, "--registered-client-lifetime", "600"],
    )
    .await
    .json();
    assert_eq!(enabled["disabled"], false);
    let expires_at = enabled["expires_at"].as_u64().expect("an expiry again");
    assert!((now + 600..now + 700).contains(&expires_at), "{enabled}");
    // A document's URL no client used yet: disabled before its first use.
    let unseen = "https://unseen.example.com/client.json";
    let banned = oauthctl(&table, &["client", "disable", unseen]).await.json();
    assert_eq!(
        (
            &banned["client_id"],
            &banned["disabled"],
            &banned["registered_by"],
            &banned["expires_at"]
        ),
        (
            &json!(unseen),
            &json!(true),
            &json!("metadata_document"),
            &Value::Null
        )
    );
}

#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn bad_input_fails_with_a_message_on_stderr() {
    let table = unique_table();
    oauthctl(&table, &["table", "create"]).await.json();
    let rs = oauthctl(
        &table,
        &[
            "client",
            "create",
            "--name",
            "RS",
            "--grant",
            "client_credentials",
            "--scope",
            "introspection",
        ],
    )
    .await
    .json();
    let rs_id = rs["client_id"].as_str().unwrap();

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "scope not allowed",
            vec![
                "token",
                "mint",
                "--client",
                rs_id,
                "--scope",
                "read",
                "--expires-in",
                "60",
            ],
            "not allowed",
        ),
        (
            "lifetime",
            vec![
                "token",
                "mint",
                "--client",
                rs_id,
                "--scope",
                "introspection",
                "--expires-in",
                "0",
            ],
            "seconds",
        ),
        (
            "unknown client",
            vec![
                "token",
                "mint",
                "--client",
                "nobody",
                "--scope",
                "read",
                "--expires-in",
                "60",
            ],
            "no client",
        ),
        (
            "default not in scope",
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "client_credentials",
                "--scope",
                "read",
                "--default-scope",
                "write",
            ],
            "--default-scope",
        ),
        (
            "bad scope name",
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "client_credentials",
                "--scope",
                "a\"b",
            ],
            "--scope",
        ),
        (
            "unknown grant",
            vec![
                "client", "create", "--name", "x", "--grant", "implicit", "--scope", "read",
            ],
            "grant",
        ),
        (
            "unknown client id",
            vec!["client", "disable", "nobody"],
            "no client",
        ),
    ];
    for (case, args, message) in cases {
        let run = oauthctl(&table, &args).await;
        assert_ne!(run.code, 0, "{case}");
        assert!(run.stdout.is_empty(), "{case}: {}", run.stdout);
        assert!(run.stderr.contains(message), "{case}: {}", run.stderr);
    }

    let output = Command::new(binary("oauthctl"))
        .env_remove("TABLE_NAME")
        .args(["client", "list"])
        .output()
        .await
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("TABLE_NAME"));
}

#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["table", "create", "--help"],
        vec!["client", "--help"],
        vec!["client", "create", "--help"],
        vec!["client", "list", "--help"],
        vec!["client", "show", "--help"],
        vec!["client", "disable", "--help"],
        vec!["client", "enable", "--help"],
        vec!["client", "delete", "--help"],
        vec!["client", "rotate-secret", "--help"],
        vec!["token", "mint", "--help"],
        vec!["user", "set", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "retire", "--help"],
    ] {
        let run = oauthctl("unused", &args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.contains("Usage:"), "{args:?}");
    }
}

/// Clients for the authorization code grant: redirect URIs, public clients
/// (no secret is generated or shown) and consent skipped, as registered by
/// an administrator; unsafe redirect URIs are refused, named.
#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn authorization_code_clients_are_registered_with_their_redirect_uris() {
    let table = unique_table();
    oauthctl(&table, &["table", "create"]).await.json();
    let spa = oauthctl(
        &table,
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--grant",
            "authorization_code",
            "--scope",
            "read",
            "--redirect-uri",
            "https://spa.example.com/callback",
            "--redirect-uri",
            "http://127.0.0.1:8765/callback",
            "--public",
            "--skip-consent",
        ],
    )
    .await
    .json();
    assert_eq!(spa["public"], true);
    assert_eq!(spa["skip_consent"], true);
    assert_eq!(
        spa["redirect_uris"],
        json!([
            "https://spa.example.com/callback",
            "http://127.0.0.1:8765/callback"
        ])
    );
    assert!(spa.get("client_secret").is_none(), "{spa}");
    let shown = oauthctl(&table, &["client", "show", spa["client_id"].as_str().unwrap()])
        .await
        .json();
    assert_eq!(shown, spa);

    for (extra, message) in [
        (
            vec!["--redirect-uri", "http://spa.example.com/cb"],
            "--redirect-uri",
        ),
        (
            vec![],
            "--redirect-uri: the authorization code grant needs at least one",
        ),
        (
            vec![
                "--redirect-uri",
                "https://spa.example.com/cb",
                "--grant",
                "client_credentials",
                "--public",
            ],
            "--public",
        ),
    ] {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "x",
            "--grant",
            "authorization_code",
            "--scope",
            "read",
        ];
        args.extend(extra);
        let run = oauthctl(&table, &args).await;
        assert_ne!(run.code, 0, "{args:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

/// The signing keys as an administrator handles them: the first rotation of
/// an empty set signs at once, the next is published ahead; a retired key is
/// gone; rotating needs a way to seal, named when missing. And a user's
/// profile, as OpenID Connect releases it.
#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn signing_keys_are_listed_rotated_and_retired_and_profiles_set() {
    let table = unique_table();
    oauthctl(&table, &["table", "create"]).await.json();
    assert_eq!(oauthctl(&table, &["keys", "list"]).await.json(), json!([]));
    let unsealed = oauthctl(&table, &["keys", "rotate"]).await;
    assert_ne!(unsealed.code, 0);
    assert!(
        unsealed.stderr.contains("SIGNING_KEY_KMS_KEY_ID"),
        "{}",
        unsealed.stderr
    );

    let secret = [("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET)];
    let first = oauthctl_with(&table, &secret, "", &["keys", "rotate"])
        .await
        .json();
    assert_eq!(first["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        first["keys"][0]["state"], "signing",
        "nothing signed before: it signs at once"
    );
    assert_eq!(first["keys"][0]["sealed_by"], "secret");
    let second = oauthctl_with(
        &table,
        &secret,
        "",
        &["keys", "rotate", "--publish-ahead", "7200"],
    )
    .await
    .json();
    let states: Vec<&str> = second["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["signing", "published, signs later"]);
    let new_kid = second["rotated"].as_str().unwrap();
    assert_eq!(second["keys"][1]["kid"], new_kid);
    assert_eq!(
        second["keys"][0]["published_until"],
        second["keys"][1]["signs_from"].as_u64().unwrap() + 36_000
    );

    assert_eq!(
        oauthctl(&table, &["keys", "retire", new_kid]).await.json(),
        json!({ "kid": new_kid, "retired": true })
    );
    assert_eq!(
        oauthctl(&table, &["keys", "list"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let unknown = oauthctl(&table, &["keys", "retire", new_kid]).await;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("no published signing key"),
        "{}",
        unknown.stderr
    );
    // A kid is base64url: one in 64 begins with a hyphen, and is a kid all the same.
    let hyphen = oauthctl(
        &table,
        &["keys", "retire", "-lKRnAr6hJ3ZBXr2-KJ9nM0u0cFv0X6Cwyf_D9yMD4A"],
    )
    .await;
    assert!(
        hyphen.stderr.contains("no published signing key"),
        "{}",
        hyphen.stderr
    );

    oauthctl_with(
        &table,
        &[],
        "pw\n",
        &["user", "create", "jdoe", "--iterations", "1000"],
    )
    .await
    .json();
    let set = oauthctl(
        &table,
        &[
            "user",
            "set",
            "jdoe",
            "--first-name",
            "Jane",
            "--last-name",
            "Doe",
            "--email",
            "jane@example.com",
            "--email-verified",
        ],
    )
    .await
    .json();
    assert_eq!(
        (
            set["first_name"].clone(),
            set["last_name"].clone(),
            set["email"].clone(),
            set["email_verified"].clone()
        ),
        (
            json!("Jane"),
            json!("Doe"),
            json!("jane@example.com"),
            json!(true)
        )
    );
    assert!(set["sub"].as_str().is_some_and(|sub| sub.len() == 24));
    let bad = oauthctl(&table, &["user", "set", "jdoe", "--email", "not an address"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--email"), "{}", bad.stderr);
}
