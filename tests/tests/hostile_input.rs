//! What an attacker can send to the token service: each finding of the
//! security review, through the same HTTP entry point a client uses.

use integration_tests::{Answer, TestClient, TestEnv};
use shared::model::{GrantType, User};
use shared::password::make_password;
use shared::secret::sha256_hex;
use shared::store::{AdminStore, Item, Key, Store};

/// A client allowed the password grant and `scope`, and the user `jdoe`
/// (password `pw`), as an administrator registers them.
async fn password_client(env: &TestEnv, scope: &str) -> TestClient {
    let app = env.client_with(scope, "", None, &[GrantType::Password]).await;
    env.admin
        .create_user(&User::new("jdoe", make_password("pw", 1000).unwrap(), 0).unwrap())
        .await
        .unwrap();
    app
}

/// `form` POSTed to the token endpoint with `app`'s HTTP Basic credentials.
async fn token(env: &TestEnv, app: &TestClient, form: &str) -> Answer {
    env.post("/o/token/", form)
        .basic(&app.id, &app.secret)
        .send()
        .await
}

/// Identifiers longer than DynamoDB's key limit are unknown, not a storage
/// failure: 401 / 400 / inactive, never 503 with Retry-After.
#[tokio::test]
async fn oversized_identifiers_are_refused_not_unavailable() {
    let env = TestEnv::new().await;
    let app = env
        .client_with(
            "read",
            "",
            None,
            &[GrantType::ClientCredentials, GrantType::Password],
        )
        .await;
    let rs = env.client("introspection").await;
    env.admin
        .create_user(&User::new("jdoe", make_password("pw", 1000).unwrap(), 0).unwrap())
        .await
        .unwrap();
    let huge = "a".repeat(3000);

    let answer = env
        .post("/o/token/", "grant_type=client_credentials")
        .basic(&huge, "secret")
        .send()
        .await;
    answer.assert_error(401, "invalid_client");
    let answer = env
        .post(
            "/o/token/",
            &format!("grant_type=client_credentials&client_id={huge}&client_secret=x"),
        )
        .send()
        .await;
    answer.assert_error(401, "invalid_client");

    let answer = token(
        &env,
        &app,
        &format!("grant_type=password&username={huge}&password=pw"),
    )
    .await;
    answer.assert_error(400, "invalid_grant");

    // A token whose client hint is oversized, and an oversized caller.
    let answer = env.introspect(&rs, &format!("{huge}.abc")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), serde_json::json!({"active": false}));
    let answer = env
        .post("/o/introspect/", "token=abc")
        .basic(&huge, "secret")
        .send()
        .await;
    answer.assert_error(401, "invalid_client");
    let answer = env
        .post("/o/revoke_token/", &format!("token={huge}"))
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// A spent refresh token is inactive, even to its own client.
#[tokio::test]
async fn a_spent_refresh_token_introspects_inactive() {
    let env = TestEnv::new().await;
    // A client that may introspect its own refresh tokens.
    let app = password_client(&env, "read introspection").await;
    let pair = token(
        &env,
        &app,
        "grant_type=password&username=jdoe&password=pw&scope=read",
    )
    .await
    .json();
    let first = pair["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(env.introspect(&app, &first).await.json()["active"], true);
    let rotated = token(
        &env,
        &app,
        &format!("grant_type=refresh_token&refresh_token={first}"),
    )
    .await
    .json();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        env.introspect(&app, &first).await.json(),
        serde_json::json!({"active": false})
    );
    let live = env.introspect(&app, &second).await.json();
    assert_eq!(
        (live["active"].as_bool(), live["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
}

/// Revoking a user's token is retry-safe (RFC 7009 §2.1): whichever write
/// fails, the client's retry ends the whole grant, never leaving its other
/// token live behind a deleted one.
#[tokio::test]
async fn revoking_a_users_token_is_retry_safe() {
    use std::sync::atomic::Ordering;
    let env = TestEnv::new().await;
    let app = password_client(&env, "read introspection").await;
    // The first write of the revocation fails, then the second.
    for failing_write in [1, 2] {
        let pair = token(
            &env,
            &app,
            "grant_type=password&username=jdoe&password=pw&scope=read",
        )
        .await
        .json();
        let access = pair["access_token"].as_str().unwrap().to_owned();
        let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
        env.calls
            .failing_revocation
            .store(failing_write, Ordering::SeqCst);
        let revoke = || async {
            env.post("/o/revoke_token/", &format!("token={access}"))
                .basic(&app.id, &app.secret)
                .send()
                .await
        };
        let first = revoke().await;
        assert_eq!(first.status, 503, "{}", first.body);
        assert!(first.header("retry-after").is_some());
        env.calls.failing_revocation.store(0, Ordering::SeqCst);
        assert_eq!(revoke().await.status, 200);
        for token in [&access, &refresh] {
            let answer = env.introspect(&app, token).await;
            assert_eq!(
                answer.json(),
                serde_json::json!({"active": false}),
                "fault {failing_write}"
            );
        }
    }
}

/// The sealed successor pair of the family of `refresh_token`, if any.
async fn sealed_pair(env: &TestEnv, refresh_token: &str) -> Option<String> {
    let token = match env
        .admin
        .load(&[Key::Token(sha256_hex(refresh_token))])
        .await
        .unwrap()
        .pop()
    {
        Some(Some(Item::Token(t))) => t,
        other => panic!("no such refresh token: {other:?}"),
    };
    match env
        .admin
        .load(&[Key::Family(token.family_id.unwrap())])
        .await
        .unwrap()
        .pop()
    {
        Some(Some(Item::Family(f))) => f.successor,
        other => panic!("no family: {other:?}"),
    }
}

/// Exchanges `refresh_token` for a new pair.
async fn rotate(env: &TestEnv, app: &TestClient, refresh_token: &str) -> serde_json::Value {
    let answer = token(
        env,
        app,
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Without a grace period (the default, as DOT's), a rotation stores nothing
/// but hashes: no sealed successor pair that table read access and a stale
/// refresh token could open.
#[tokio::test]
async fn without_a_grace_period_no_successor_is_kept() {
    let env = TestEnv::new().await;
    let app = password_client(&env, "read").await;
    let pair = token(&env, &app, "grant_type=password&username=jdoe&password=pw")
        .await
        .json();
    let spent = pair["refresh_token"].as_str().unwrap();
    rotate(&env, &app, spent).await;
    let kept = env.admin.load(&[Key::Token(sha256_hex(spent))]).await.unwrap();
    assert!(
        matches!(&kept[..], [Some(Item::Token(t))] if t.rotated_at.is_some()),
        "the spent token is kept for reuse detection: {kept:?}"
    );
    assert_eq!(sealed_pair(&env, spent).await, None);
    assert!(!env.dump().await.contains("successor: Some"));
}

/// With a grace period, a family keeps one sealed pair at most, which only
/// its most recently spent refresh token opens: table read access and a
/// stale refresh token cannot unseal the chain of pairs up to the live one.
#[tokio::test]
async fn with_a_grace_period_a_stale_refresh_token_unseals_nothing() {
    let env = TestEnv::with_config(&[("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "60")]).await;
    let app = password_client(&env, "read").await;
    let first = token(&env, &app, "grant_type=password&username=jdoe&password=pw")
        .await
        .json();
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second = rotate(&env, &app, &rt1).await;
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    let third = rotate(&env, &app, &rt2).await;

    let sealed: Vec<String> = sealed_pair(&env, &rt1).await.into_iter().collect();
    assert_eq!(sealed.len(), 1, "one sealed pair per family");
    assert_eq!(
        env.dump().await.matches(sealed[0].as_str()).count(),
        1,
        "no other sealed pair is kept anywhere"
    );
    let opened_by = |rt: &str| {
        sealed
            .iter()
            .filter_map(|s| shared::successor::open(rt, s))
            .collect::<Vec<_>>()
    };
    assert_eq!(opened_by(&rt1), vec![], "a stale refresh token opens nothing");
    let live = (
        third["access_token"].as_str().unwrap().to_owned(),
        third["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(opened_by(&rt2), vec![live]);

    // Within the grace period the last spent token still gets its pair; an
    // older one is reuse and revokes the family.
    let again = rotate(&env, &app, &rt2).await;
    assert_eq!(again["refresh_token"], third["refresh_token"]);
    token(
        &env,
        &app,
        &format!("grant_type=refresh_token&refresh_token={rt1}"),
    )
    .await
    .assert_error(400, "invalid_grant");
    let rs = env.client("introspection").await;
    let live_access = third["access_token"].as_str().unwrap();
    assert_eq!(env.introspect(&rs, live_access).await.json()["active"], false);
}

/// A refresh never yields a scope the client is no longer allowed, though
/// its grant once had it.
#[tokio::test]
async fn a_refresh_rechecks_the_clients_allowed_scope() {
    let env = TestEnv::new().await;
    let app = password_client(&env, "read write").await;
    let pair = token(
        &env,
        &app,
        "grant_type=password&username=jdoe&password=pw&scope=read+write",
    )
    .await
    .json();
    // The administrator takes `write` away (the client re-registered with less).
    env.admin.delete_client(&app.id).await.unwrap();
    env.register(&app.id, &app.secret, "read", "", None, &[GrantType::Password])
        .await;
    let refresh = pair["refresh_token"].as_str().unwrap();
    let wider = token(
        &env,
        &app,
        &format!("grant_type=refresh_token&refresh_token={refresh}&scope=read+write"),
    )
    .await;
    wider.assert_error(400, "invalid_scope");
    let narrowed = token(
        &env,
        &app,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(narrowed.json()["scope"], "read");
}

/// A grace-period retry returns the same pair with the time it has left.
#[tokio::test]
async fn a_grace_period_retry_tells_the_time_left() {
    let env = TestEnv::with_config(&[
        ("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "30"),
        ("ACCESS_TOKEN_EXPIRE_SECONDS", "600"),
    ])
    .await;
    let app = password_client(&env, "read").await;
    let pair = token(&env, &app, "grant_type=password&username=jdoe&password=pw")
        .await
        .json();
    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}",
        pair["refresh_token"].as_str().unwrap()
    );
    let first = token(&env, &app, &refresh).await.json();
    assert_eq!(first["expires_in"], 600);
    env.clock.advance(20);
    let again = token(&env, &app, &refresh).await.json();
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["expires_in"], 580);
}

/// A rotation revokes the access token issued with the spent refresh token
/// (as DOT does), unless configured not to.
#[tokio::test]
async fn a_rotation_revokes_the_previous_access_token() {
    for (setting, previous_stays) in [("true", false), ("false", true)] {
        let env = TestEnv::with_config(&[("ROTATION_REVOKES_ACCESS_TOKEN", setting)]).await;
        let app = password_client(&env, "read introspection").await;
        let first = token(
            &env,
            &app,
            "grant_type=password&username=jdoe&password=pw&scope=read",
        )
        .await
        .json();
        let refresh = format!(
            "grant_type=refresh_token&refresh_token={}",
            first["refresh_token"].as_str().unwrap()
        );
        let second = token(&env, &app, &refresh).await.json();
        let active = |token: &serde_json::Value| {
            let token = token.as_str().unwrap().to_owned();
            let (env, app) = (&env, &app);
            async move { env.introspect(app, &token).await.json()["active"] == true }
        };
        assert_eq!(active(&first["access_token"]).await, previous_stays, "{setting}");
        assert!(active(&second["access_token"]).await, "{setting}");
    }
}
