//! RFC 7662 introspection as a resource server (or django-oauth-toolkit's
//! resource-server code) uses it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use integration_tests::{TestEnv, ISSUER};
use serde_json::json;
use shared::secret::sha256_hex;
use shared::store::Key;
use shared::AdminStore;

#[tokio::test]
async fn active_token_answer_has_every_field() {
    let env = TestEnv::new().await;
    let app = env.client("read write").await;
    let rs = env.client("introspection").await;
    let before = env.clock_now();
    let token = env.token(&app, Some("read")).await;

    let answer = env.introspect(&rs, &token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(
        answer.json(),
        json!({
            "active": true,
            "scope": "read",
            "exp": before + 3600,
            "iat": before,
            "client_id": app.id,
            "token_type": "Bearer",
            "iss": ISSUER,
        })
    );
}

/// django-oauth-toolkit's resource server with RESOURCE_SERVER_AUTH_TOKEN:
/// `requests.post(url, data={"token": t}, headers={"Authorization": "Bearer " + auth})`.
#[tokio::test]
async fn dot_resource_server_with_auth_token() {
    let env = TestEnv::new().await;
    let app = env.client("read write").await;
    let rs = env.client("introspection").await;
    let rs_token = env.token(&rs, Some("introspection")).await;
    let token = env.token(&app, None).await;

    let answer = env
        .post("/o/introspect/", &format!("token={token}"))
        .bearer(&rs_token)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    // What DOT reads: active is JSON true, scope, exp; no username for client tokens.
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "read write");
    assert!(body["exp"].as_u64().unwrap() > env.clock_now());
    assert!(body.get("username").is_none());
}

/// django-oauth-toolkit's resource server with RESOURCE_SERVER_INTROSPECTION_CREDENTIALS:
/// Basic built from the raw id and secret, without §2.3.1 encoding.
#[tokio::test]
async fn dot_resource_server_with_credentials() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let token = env.token(&app, None).await;
    let basic = STANDARD.encode(format!("{}:{}", rs.id, rs.secret));
    let answer = env
        .post("/o/introspect/", &format!("token={token}"))
        .header("authorization", &format!("Basic {basic}"))
        .header("accept", "application/json")
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["active"], true);
}

#[tokio::test]
async fn get_with_query_and_client_secret_post_also_work() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let rs_token = env.token(&rs, Some("introspection")).await;
    let token = env.token(&app, None).await;

    let answer = env
        .request("GET", &format!("/o/introspect/?token={token}"))
        .bearer(&rs_token)
        .send()
        .await;
    assert_eq!(answer.json()["active"], true, "{}", answer.body);

    let form = format!("token={token}&client_id={}&client_secret={}", rs.id, rs.secret);
    let answer = env.post("/o/introspect", &form).send().await;
    assert_eq!(answer.json()["active"], true, "{}", answer.body);

    // Never credentials in the URL (RFC 6749 §2.3.1): refused, and nothing introspected.
    let answer = env.request("GET", &format!("/o/introspect/?{form}")).send().await;
    assert_eq!(
        (answer.status, answer.error().as_str()),
        (400, "invalid_request"),
        "{}",
        answer.body
    );
    assert!(answer.json().get("active").is_none());
}

#[tokio::test]
async fn inactive_tokens_answer_exactly_active_false() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let inactive = |answer: integration_tests::Answer| {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json(), json!({ "active": false }));
    };

    inactive(env.introspect(&rs, "unknownTokenValue").await);
    inactive(env.introspect(&rs, "%E2%9C%93+not+even+a+token%21").await);

    let revoked = env.token(&app, None).await;
    let answer = env
        .post("/o/revoke_token/", &format!("token={revoked}"))
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);
    inactive(env.introspect(&rs, &revoked).await);

    // A disabled client's tokens are inactive; enabling it again restores them.
    let live = env.token(&app, None).await;
    env.set_disabled(&app, true).await;
    inactive(env.introspect(&rs, &live).await);
    env.set_disabled(&app, false).await;
    assert_eq!(env.introspect(&rs, &live).await.json()["active"], true);

    // A deleted client's tokens are inactive.
    env.admin.delete_client(&app.id).await.unwrap();
    inactive(env.introspect(&rs, &live).await);
}

/// DynamoDB TTL deletes expired items days late (DynamoDB Local never does):
/// a token past `exp` must be inactive while its item still exists.
#[tokio::test]
async fn expired_token_is_inactive_before_ttl_deletes_it() {
    let env = TestEnv::with_config(&[("ACCESS_TOKEN_EXPIRE_SECONDS", "60")]).await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let token = env.token(&app, None).await;

    env.clock.advance(59);
    assert_eq!(env.introspect(&rs, &token).await.json()["active"], true);
    env.clock.advance(1);
    assert_eq!(
        env.introspect(&rs, &token).await.json(),
        json!({ "active": false })
    );
    assert!(
        env.holds(&Key::Token(sha256_hex(&token))).await,
        "item still stored"
    );
}

#[tokio::test]
async fn missing_token_is_invalid_request_after_authentication() {
    let env = TestEnv::new().await;
    let rs = env.client("introspection").await;
    let answer = env
        .post("/o/introspect/", "")
        .basic(&rs.id, &rs.secret)
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (400, "invalid_request"));
    // Unauthenticated, the missing token is not even looked at.
    let answer = env.post("/o/introspect/", "").send().await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn caller_authentication_failures() {
    let env = TestEnv::with_config(&[("ACCESS_TOKEN_EXPIRE_SECONDS", "60")]).await;
    let app = env.client("read introspection").await;
    let rs = env.client("introspection").await;
    let token = env.token(&app, Some("read")).await;
    let form = format!("token={token}");

    // No credentials: 401 offering both schemes.
    let answer = env.post("/o/introspect/", &form).send().await;
    assert_eq!(answer.status, 401);
    let challenges = answer.header_all("www-authenticate");
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );

    // Wrong secret: 401 invalid_client.
    let answer = env
        .post("/o/introspect/", &form)
        .basic(&rs.id, "wrong")
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_client"));

    // Unknown bearer: 401 invalid_token.
    let answer = env.post("/o/introspect/", &form).bearer("notAToken").send().await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_token"));
    assert!(answer
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));

    // A bearer without the introspection scope: 403 insufficient_scope.
    let answer = env.post("/o/introspect/", &form).bearer(&token).send().await;
    assert_eq!(
        (answer.status, answer.error().as_str()),
        (403, "insufficient_scope")
    );
    assert!(answer
        .header("www-authenticate")
        .unwrap()
        .contains("scope=\"introspection\""));

    // A client not allowed the introspection scope (DOT lets any client in; we don't).
    let plain = env.client("read").await;
    let answer = env
        .post("/o/introspect/", &form)
        .basic(&plain.id, &plain.secret)
        .send()
        .await;
    assert_eq!(
        (answer.status, answer.error().as_str()),
        (403, "insufficient_scope")
    );

    // An introspection bearer whose client was disabled, or that expired.
    let rs_token = env.token(&app, Some("introspection")).await;
    assert_eq!(
        env.post("/o/introspect/", &form)
            .bearer(&rs_token)
            .send()
            .await
            .status,
        200
    );
    env.set_disabled(&app, true).await;
    let answer = env.post("/o/introspect/", &form).bearer(&rs_token).send().await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_token"));
    env.set_disabled(&app, false).await;
    env.clock.advance(60);
    let answer = env.post("/o/introspect/", &form).bearer(&rs_token).send().await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_token"));
}

/// Budget: one read round trip per introspection, whichever way the caller
/// authenticates, including the clients' disabled flags.
#[tokio::test]
async fn introspection_is_one_read() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rs = env.client("introspection").await;
    let rs_token = env.token(&rs, Some("introspection")).await;
    let token = env.token(&app, None).await;
    env.calls.take();
    assert_eq!(env.introspect(&rs, &token).await.json()["active"], true);
    assert_eq!(env.calls.take(), (1, 0, 0));
    let answer = env
        .post("/o/introspect/", &format!("token={token}"))
        .bearer(&rs_token)
        .send()
        .await;
    assert_eq!(answer.json()["active"], true);
    assert_eq!(env.calls.take(), (1, 0, 0));
    env.introspect(&rs, "unknown").await;
    assert_eq!(env.calls.take(), (1, 0, 0));
}

/// The client id in front of a token is only a hint: a token whose prefix
/// names another client is judged by the client it was really issued to.
#[tokio::test]
async fn a_forged_client_hint_changes_nothing() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let other = env.client("read").await;
    let rs = env.client("introspection").await;
    let token = env.token(&app, None).await;
    let random = token.rsplit_once('.').unwrap().1;
    // The same random part under another client's id is another token: unknown.
    let forged = format!("{}.{random}", other.id);
    assert_eq!(
        env.introspect(&rs, &forged).await.json(),
        json!({ "active": false })
    );
    // A token whose hint names a disabled client is still judged by its own.
    env.set_disabled(&other, true).await;
    assert_eq!(
        env.introspect(&rs, &token).await.json()["client_id"],
        app.id.as_str()
    );
}
