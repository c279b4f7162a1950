//! RFC 7009 revocation.

use integration_tests::TestEnv;
use serde_json::json;

#[tokio::test]
async fn owner_revokes_and_the_token_is_inactive_at_once() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let token = env.token(&app, None).await;
    assert_eq!(env.introspect(&rs, &token).await.json()["active"], true);

    let answer = env
        .post(
            "/o/revoke_token/",
            &format!("token={token}&token_type_hint=access_token"),
        )
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(
        env.introspect(&rs, &token).await.json(),
        json!({ "active": false })
    );
    // Revoking again is not an error.
    let again = env
        .post("/o/revoke_token", &format!("token={token}"))
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn another_clients_token_is_refused_and_kept() {
    let env = TestEnv::new().await;
    let owner = env.client("read").await;
    let other = env.client("read").await;
    let rs = env.client("introspection").await;
    let token = env.token(&owner, None).await;

    let answer = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&other.id, &other.secret)
        .send()
        .await;
    assert_eq!(
        (answer.status, answer.error().as_str()),
        (400, "unauthorized_client")
    );
    assert_eq!(env.introspect(&rs, &token).await.json()["active"], true);
}

#[tokio::test]
async fn unknown_and_expired_tokens_answer_200() {
    let env = TestEnv::with_config(&[("ACCESS_TOKEN_EXPIRE_SECONDS", "60")]).await;
    let owner = env.client("read").await;
    let other = env.client("read").await;
    let answer = env
        .post("/o/revoke_token/", "token=neverIssued")
        .basic(&other.id, &other.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);

    // An expired token (still stored) is as good as gone, whoever asks.
    let token = env.token(&owner, None).await;
    env.clock.advance(60);
    let answer = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&other.id, &other.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn revocation_errors() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let token = env.token(&app, None).await;

    let answer = env
        .post("/o/revoke_token/", "")
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (400, "invalid_request"));

    let answer = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_client"));

    let answer = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&app.id, "wrong")
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_client"));

    // A bearer token does not authenticate a revocation.
    let answer = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_client"));

    let answer = env
        .request("GET", &format!("/o/revoke_token/?token={token}"))
        .send()
        .await;
    assert_eq!(answer.status, 405);
    // OPTIONS: a browser client's preflight.
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
}
