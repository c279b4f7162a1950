//! Users: Django-compatible password hashes both ways, `oauthctl user`, and a
//! disabled or deleted user's tokens going inactive.

use std::process::Stdio;

use integration_tests::{binary, TestEnv};
use serde_json::{json, Value};
use shared::model::GrantType;
use shared::password::check_password;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// `oauthctl` with `stdin` piped in: (exit code, stdout JSON or Null, stderr).
async fn oauthctl(table: &str, args: &[&str], stdin: &str) -> (i32, Value, String) {
    let mut child = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", table)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused for its arguments exits before reading: a broken pipe
    // here is its answer, not a failure of the test.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes()).await;
    let output = child.wait_with_output().await.unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Django's own `check_password` (or `make_password` with `--make`), in the pinned venv.
async fn django(args: &[&str]) -> String {
    let script = r#"
import sys
from django.conf import settings
settings.configure()
from django.contrib.auth.hashers import check_password, make_password
if sys.argv[1] == "--make":
    print(make_password(sys.argv[2]))
else:
    print(check_password(sys.argv[1], sys.argv[2]))
"#;
    let output = integration_tests::dot_python()
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn stored_hash(env: &TestEnv, username: &str) -> String {
    let item = env
        .raw_item(&format!("user#{username}"))
        .await
        .expect("user item");
    item["password"].as_s().unwrap().clone()
}

#[tokio::test]
#[ignore = "needs the workspace binaries, the pinned Django and DynamoDB Local: scripts/test runs it"]
async fn passwords_are_django_compatible_both_ways() {
    let env = TestEnv::on_dynamodb(&[]).await;
    // Made here at Django's default work factor, checked by Django.
    let (code, user, stderr) = oauthctl(&env.table, &["user", "create", "jdoe"], "s3cret pässword\n").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        user,
        json!({
            "username": "jdoe", "disabled": false, "created_at": user["created_at"], "sub": user["sub"],
            "first_name": "", "last_name": "", "email": "", "email_verified": false,
        })
    );
    assert!(
        user["sub"].as_str().is_some_and(|sub| sub.len() == 24),
        "a subject of its own"
    );
    let hash = stored_hash(&env, "jdoe").await;
    assert!(hash.starts_with("pbkdf2_sha256$1000000$"), "{hash}");
    assert_eq!(django(&["s3cret pässword", &hash]).await, "True");
    assert_eq!(django(&["s3cret password", &hash]).await, "False");

    // Made by Django, checked here.
    let made_by_django = django(&["--make", "correct horse battery"]).await;
    assert!(check_password("correct horse battery", Some(&made_by_django), 1000).matches);
    assert!(!check_password("correct horse", Some(&made_by_django), 1000).matches);

    // A new password replaces the old one.
    let (code, _, stderr) = oauthctl(
        &env.table,
        &["user", "set-password", "jdoe", "--iterations", "1000"],
        "n3w\n",
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let hash = stored_hash(&env, "jdoe").await;
    assert_eq!(django(&["n3w", &hash]).await, "True");
    assert_eq!(django(&["s3cret pässword", &hash]).await, "False");
}

#[tokio::test]
#[ignore = "needs the workspace binaries, the pinned Django and DynamoDB Local: scripts/test runs it"]
async fn oauthctl_user_errors() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let table = env.table.as_str();
    assert_eq!(
        oauthctl(table, &["user", "create", "ann", "--iterations", "1000"], "pw\n")
            .await
            .0,
        0
    );
    for (args, stdin, message) in [
        (
            vec!["user", "create", "ann", "--iterations", "1000"],
            "pw\n",
            "already exists",
        ),
        (
            vec!["user", "create", "bob", "--iterations", "1000"],
            "\n",
            "empty",
        ),
        (
            vec!["user", "create", "bob", "--iterations", "0"],
            "pw\n",
            "iterations",
        ),
        (vec!["user", "show", "nobody"], "", "no user"),
        (
            vec!["user", "set-password", "nobody", "--iterations", "1000"],
            "pw\n",
            "no user",
        ),
        (vec!["user", "disable", "nobody"], "", "no user"),
        (vec!["user", "delete", "nobody"], "", "no user"),
    ] {
        let (code, _, stderr) = oauthctl(table, &args, stdin).await;
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // The password never reaches output.
    let (_, shown, _) = oauthctl(table, &["user", "show", "ann"], "").await;
    assert_eq!(shown["username"], "ann");
    assert!(shown.get("password").is_none() && !shown.to_string().contains("pbkdf2"));
}

/// A user's grants introspect with their `username` while the user stands;
/// disabling the user, a new password, `oauthctl user revoke-grants` and
/// deleting the user each end every grant made before, for good: enabling the
/// user again, or creating another under the same name, brings none back.
#[tokio::test]
#[ignore = "needs the workspace binaries, the pinned Django and DynamoDB Local: scripts/test runs it"]
async fn a_users_grants_end_with_the_user() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let app = env.client_with("read", "", None, &[GrantType::Password]).await;
    let rs = env.client("introspection").await;
    // The helpers below borrow these.
    let (env, app, rs) = (&env, &app, &rs);
    let ctl = |args: &'static [&'static str], stdin: &'static str| oauthctl(&env.table, args, stdin);
    assert_eq!(
        ctl(&["user", "create", "jdoe", "--iterations", "1000"], "pw\n")
            .await
            .0,
        0
    );
    let grant = |password: &'static str| async move {
        let answer = env
            .post(
                "/o/token/",
                &format!("grant_type=password&username=jdoe&password={password}"),
            )
            .basic(&app.id, &app.secret)
            .send()
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let pair = answer.json();
        (
            pair["access_token"].as_str().unwrap().to_owned(),
            pair["refresh_token"].as_str().unwrap().to_owned(),
        )
    };
    let ended = |pair: (String, String)| async move {
        assert_eq!(
            env.introspect(rs, &pair.0).await.json(),
            json!({ "active": false })
        );
        let refresh = env
            .post(
                "/o/token/",
                &format!("grant_type=refresh_token&refresh_token={}", pair.1),
            )
            .basic(&app.id, &app.secret)
            .send()
            .await;
        assert_eq!(refresh.error(), "invalid_grant", "{}", refresh.body);
    };

    let first = grant("pw").await;
    env.calls.take();
    let answer = env.introspect(rs, &first.0).await.json();
    assert_eq!(
        (answer["active"].clone(), answer["username"].clone()),
        (json!(true), json!("jdoe"))
    );
    assert_eq!(
        env.calls.take().0,
        2,
        "a user token costs one more read, for its user and grant"
    );

    assert_eq!(ctl(&["user", "disable", "jdoe"], "").await.1["disabled"], true);
    assert_eq!(ctl(&["user", "enable", "jdoe"], "").await.1["disabled"], false);
    ended(first).await;

    let second = grant("pw").await;
    assert_eq!(
        ctl(&["user", "set-password", "jdoe", "--iterations", "1000"], "new\n")
            .await
            .0,
        0
    );
    ended(second).await;

    let third = grant("new").await;
    assert_eq!(ctl(&["user", "revoke-grants", "jdoe"], "").await.0, 0);
    ended(third).await;

    let fourth = grant("new").await;
    assert_eq!(ctl(&["user", "delete", "jdoe"], "").await.1["deleted"], true);
    assert_eq!(
        ctl(&["user", "create", "jdoe", "--iterations", "1000"], "new\n")
            .await
            .0,
        0
    );
    ended(fourth).await;
    let fifth = grant("new").await;
    assert_eq!(env.introspect(rs, &fifth.0).await.json()["active"], true);
}

/// `oauthctl user unlock` lets a username locked out by failed sign-ins sign
/// in again at once (the trade-off of a per-username lockout: anyone can
/// lock a known username out for a window; an administrator can lift it).
#[tokio::test]
#[ignore = "needs the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn an_administrator_unlocks_a_locked_username() {
    let env = TestEnv::on_dynamodb(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    let app = env.client_with("read", "", None, &[GrantType::Password]).await;
    assert_eq!(
        oauthctl(
            &env.table,
            &["user", "create", "jdoe", "--iterations", "1000"],
            "pw\n"
        )
        .await
        .0,
        0
    );
    let grant = |password: &'static str| {
        env.post(
            "/o/token/",
            &format!("grant_type=password&username=jdoe&password={password}"),
        )
        .basic(&app.id, &app.secret)
        .send()
    };
    for _ in 0..5 {
        grant("wrong").await.assert_error(400, "invalid_grant");
    }
    let locked = grant("pw").await;
    locked.assert_error(400, "invalid_grant");
    assert!(
        locked.body.contains("too many failed sign-ins"),
        "{}",
        locked.body
    );
    let (code, answer, stderr) = oauthctl(&env.table, &["user", "unlock", "jdoe"], "").await;
    assert_eq!(
        (code, answer),
        (0, json!({ "username": "jdoe", "unlocked": true })),
        "{stderr}"
    );
    assert_eq!(grant("pw").await.status, 200);
}
