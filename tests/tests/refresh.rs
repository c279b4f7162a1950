//! Users' grants: the password grant, refresh tokens with rotation and reuse
//! detection, token families, races, and RFC 7009 cascades.

use futures::future::join_all;
use integration_tests::{Answer, TestClient, TestEnv};
use serde_json::json;
use shared::model::{GrantType, User};
use shared::password::make_password;
use shared::store::{AdminStore, UserChange};

struct Fixture {
    env: TestEnv,
    app: TestClient,
    rs: TestClient,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(&[]).await
    }

    async fn with(vars: &[(&str, &str)]) -> Self {
        let mut all = vec![("PASSWORD_HASH_ITERATIONS", "1000")];
        all.extend_from_slice(vars);
        let env = TestEnv::with_config(&all).await;
        // The app may also introspect: to see its own refresh tokens.
        let app = env
            .client_with(
                "read write introspection",
                "read write",
                None,
                &[GrantType::Password],
            )
            .await;
        let rs = env.client("introspection").await;
        let user = User::new("jdoe", make_password("s3cret", 1000).unwrap(), 0).unwrap();
        env.admin.create_user(&user).await.unwrap();
        Self { env, app, rs }
    }

    async fn password(&self, username: &str, password: &str) -> Answer {
        let form = format!("grant_type=password&username={username}&password={password}");
        self.env
            .post("/o/token/", &form)
            .basic(&self.app.id, &self.app.secret)
            .send()
            .await
    }

    async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Answer {
        let mut form = format!("grant_type=refresh_token&refresh_token={refresh_token}");
        if let Some(scope) = scope {
            form.push_str(&format!("&scope={}", scope.replace(' ', "+")));
        }
        self.env
            .post("/o/token/", &form)
            .basic(&self.app.id, &self.app.secret)
            .send()
            .await
    }

    /// (access, refresh) from a successful answer.
    fn pair(answer: &Answer) -> (String, String) {
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body = answer.json();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn active(&self, token: &str) -> bool {
        self.env.introspect(&self.rs, token).await.json()["active"] == true
    }
}

#[tokio::test]
async fn the_password_grant_issues_a_user_pair() {
    let f = Fixture::new().await;
    let answer = f.password("jdoe", "s3cret").await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let body = answer.json();
    assert_eq!(
        (body["token_type"].clone(), body["scope"].clone()),
        (json!("Bearer"), json!("read write"))
    );
    let (access, refresh) = Fixture::pair(&answer);

    let info = f.env.introspect(&f.rs, &access).await.json();
    assert_eq!(
        (info["active"].clone(), info["username"].clone()),
        (json!(true), json!("jdoe"))
    );

    // A refresh token is active only to its own client, as a refresh token.
    assert_eq!(
        f.env.introspect(&f.rs, &refresh).await.json(),
        json!({ "active": false })
    );
    let own = f.env.introspect(&f.app, &refresh).await.json();
    assert_eq!(
        (own["active"].clone(), own["token_type"].clone()),
        (json!(true), json!("refresh_token"))
    );
    // And it is no bearer token.
    let answer = f
        .env
        .post("/o/introspect/", &format!("token={access}"))
        .bearer(&refresh)
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (401, "invalid_token"));
}

#[tokio::test]
async fn wrong_credentials_are_invalid_grant_alike() {
    let f = Fixture::new().await;
    let mut descriptions = Vec::new();
    f.env
        .admin
        .create_user(&User {
            disabled: true,
            ..User::new("off", make_password("pw", 1000).unwrap(), 0).unwrap()
        })
        .await
        .unwrap();
    for (user, password) in [("jdoe", "wrong"), ("nobody", "s3cret"), ("off", "pw")] {
        let answer = f.password(user, password).await;
        assert_eq!(
            (answer.status, answer.error().as_str()),
            (400, "invalid_grant"),
            "{user}"
        );
        descriptions.push(answer.json()["error_description"].clone());
    }
    assert!(
        descriptions.windows(2).all(|w| w[0] == w[1]),
        "the answers tell users apart: {descriptions:?}"
    );
    let answer = f
        .env
        .post("/o/token/", "grant_type=password&username=jdoe")
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!((answer.status, answer.error().as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let f = Fixture::new().await;
    let (access1, refresh1) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let answer = f.refresh(&refresh1, None).await;
    let (access2, refresh2) = Fixture::pair(&answer);
    assert_eq!(answer.json()["scope"], "read write");
    // The rotation revoked the access token issued with the spent one (as DOT).
    assert!(!f.active(&access1).await && f.active(&access2).await);

    // The spent refresh token again: refused, and the whole family goes.
    let answer = f.refresh(&refresh1, None).await;
    assert_eq!((answer.status, answer.error().as_str()), (400, "invalid_grant"));
    assert!(!f.active(&access1).await && !f.active(&access2).await);
    assert_eq!(f.refresh(&refresh2, None).await.error(), "invalid_grant");
}

#[tokio::test]
async fn a_narrower_scope_may_be_asked_never_a_wider_one() {
    let f = Fixture::new().await;
    let (_, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let answer = f.refresh(&refresh, Some("read")).await;
    assert_eq!(answer.json()["scope"], "read");
    let (access, refresh) = Fixture::pair(&answer);
    assert_eq!(f.env.introspect(&f.rs, &access).await.json()["scope"], "read");
    // The new refresh token keeps the grant's scope (RFC 6749 §6).
    for wider in ["read write introspection", "admin"] {
        let answer = f.refresh(&refresh, Some(wider)).await;
        assert_eq!(
            (answer.status, answer.error().as_str()),
            (400, "invalid_scope"),
            "{wider}"
        );
    }
    assert_eq!(
        f.refresh(&refresh, Some("read write")).await.json()["scope"],
        "read write"
    );
}

#[tokio::test]
async fn reuse_several_generations_back_revokes_every_generation() {
    let f = Fixture::new().await;
    let (access, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let mut accesses = vec![access];
    let mut refreshes = vec![refresh];
    for _ in 0..6 {
        let (access, refresh) = Fixture::pair(&f.refresh(refreshes.last().unwrap(), None).await);
        accesses.push(access);
        refreshes.push(refresh);
    }
    // Each rotation revoked the access token before it: only the newest stands.
    for (generation, access) in accesses.iter().enumerate() {
        assert_eq!(f.active(access).await, generation == accesses.len() - 1);
    }
    // Generation 2's refresh token, long spent, comes back.
    assert_eq!(f.refresh(&refreshes[2], None).await.error(), "invalid_grant");
    for access in &accesses {
        assert!(!f.active(access).await, "an access token of the family survived");
    }
    assert_eq!(
        f.refresh(refreshes.last().unwrap(), None).await.error(),
        "invalid_grant"
    );
}

/// Many exchanges of one refresh token at once: exactly one succeeds (and,
/// with no grace period, the others are reuse: the family is revoked).
#[tokio::test]
async fn concurrent_refreshes_let_exactly_one_through() {
    let f = Fixture::new().await;
    let (_, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    f.env
        .calls
        .transactions
        .swap(0, std::sync::atomic::Ordering::SeqCst);
    let answers = join_all((0..16).map(|_| f.refresh(&refresh, None))).await;
    // Several got past the reads: the conditional write decided, not the read.
    assert!(f.env.calls.transactions.load(std::sync::atomic::Ordering::SeqCst) > 1);
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(answers
        .iter()
        .filter(|a| a.status != 200)
        .all(|a| a.error() == "invalid_grant"));
    let (access, _) = Fixture::pair(winners[0]);
    assert!(!f.active(&access).await, "the losers' reuse revoked the family");
}

#[tokio::test]
async fn revocation_cascades_both_ways() {
    let f = Fixture::new().await;
    // Revoking the refresh token revokes its access tokens.
    let (access, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let answer = f
        .env
        .post(
            "/o/revoke_token/",
            &format!("token={refresh}&token_type_hint=refresh_token"),
        )
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);
    assert!(!f.active(&access).await);
    // Revoking an access token revokes its refresh token.
    let (access, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let answer = f
        .env
        .post("/o/revoke_token/", &format!("token={access}"))
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(f.refresh(&refresh, None).await.error(), "invalid_grant");
}

#[tokio::test]
async fn users_clients_and_time_end_refreshes() {
    let f = Fixture::with(&[("REFRESH_TOKEN_EXPIRE_SECONDS", "600")]).await;
    let store = &f.env.admin;
    let (access, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    store
        .update_user("jdoe", UserChange::Disabled(true))
        .await
        .unwrap();
    assert_eq!(f.refresh(&refresh, None).await.error(), "invalid_grant");
    assert!(!f.active(&access).await);
    store
        .update_user("jdoe", UserChange::Disabled(false))
        .await
        .unwrap();
    // Disabling ended the grant for good: enabling the user brings it not back.
    assert_eq!(f.refresh(&refresh, None).await.error(), "invalid_grant");
    let (_, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);

    // Another client cannot use it.
    let other = f
        .env
        .client_with("read write", "", None, &[GrantType::Password])
        .await;
    let form = format!("grant_type=refresh_token&refresh_token={refresh}");
    let answer = f
        .env
        .post("/o/token/", &form)
        .basic(&other.id, &other.secret)
        .send()
        .await;
    assert_eq!(answer.error(), "invalid_grant");

    // Expired (still stored): refused.
    f.env.clock.advance(600);
    assert_eq!(f.refresh(&refresh, None).await.error(), "invalid_grant");
}

/// Budget: a rotation is one read of the token, one read of its family and
/// user, and one transaction, however old the family.
#[tokio::test]
async fn a_rotation_costs_the_same_at_any_age() {
    let f = Fixture::new().await;
    let (_, mut refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    for _ in 0..5 {
        f.env.calls.take();
        f.env
            .calls
            .transactions
            .swap(0, std::sync::atomic::Ordering::SeqCst);
        refresh = Fixture::pair(&f.refresh(&refresh, None).await).1;
        // (reads, token writes, revocations): the client, the token, its family and user.
        assert_eq!(f.env.calls.take(), (3, 0, 0));
        assert_eq!(
            f.env
                .calls
                .transactions
                .swap(0, std::sync::atomic::Ordering::SeqCst),
            1
        );
    }
}

/// Within REFRESH_TOKEN_GRACE_PERIOD_SECONDS a spent refresh token returns the
/// pair it was already exchanged for (a client that lost the answer retries);
/// after it, it is reuse.
#[tokio::test]
async fn the_grace_period_returns_the_same_pair() {
    let f = Fixture::with(&[("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "30")]).await;
    let (_, refresh1) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let first = Fixture::pair(&f.refresh(&refresh1, None).await);
    f.env.clock.advance(30);
    let again = Fixture::pair(&f.refresh(&refresh1, None).await);
    assert_eq!(first, again, "the retry got another pair");
    assert!(f.active(&first.0).await, "the retry revoked the family");
    // The pair is kept only sealed: neither token is stored in clear.
    let dump = f.env.dump().await;
    assert!(!dump.contains(&first.0) && !dump.contains(&first.1));

    // Not for a user disabled meanwhile.
    let store = &f.env.admin;
    store
        .update_user("jdoe", UserChange::Disabled(true))
        .await
        .unwrap();
    assert_eq!(f.refresh(&refresh1, None).await.error(), "invalid_grant");
    store
        .update_user("jdoe", UserChange::Disabled(false))
        .await
        .unwrap();

    // Past the grace period: reuse.
    f.env.clock.advance(1);
    assert_eq!(f.refresh(&refresh1, None).await.error(), "invalid_grant");
    assert!(!f.active(&first.0).await);
}

/// With a grace period, concurrent exchanges of one token all get the one
/// pair that was issued, and the family lives on.
#[tokio::test]
async fn with_a_grace_period_concurrent_exchanges_share_one_pair() {
    let f = Fixture::with(&[("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", "30")]).await;
    let (_, refresh) = Fixture::pair(&f.password("jdoe", "s3cret").await);
    let answers = join_all((0..16).map(|_| f.refresh(&refresh, None))).await;
    let pairs: Vec<(String, String)> = answers.iter().map(Fixture::pair).collect();
    assert!(
        pairs.windows(2).all(|w| w[0] == w[1]),
        "more than one pair was issued"
    );
    assert!(f.active(&pairs[0].0).await);
    Fixture::pair(&f.refresh(&pairs[0].1, None).await);
}

/// A rotation written twice (a retry after the answer to a write that
/// happened was lost, when DynamoDB no longer knows the idempotency token, as
/// after a restart) is still one exchange: the client gets its pair, and the
/// retry is not mistaken for reuse, which would revoke the family. Found by
/// the soak (tests/tests/soak.rs) when DynamoDB Local was killed mid-run.
#[tokio::test]
async fn a_rotation_retried_after_a_lost_answer_is_not_reuse() {
    let f = Fixture::new().await;
    let first = f.password("jdoe", "s3cret").await.json();
    f.env
        .calls
        .rotation_answer_lost
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let rotated = f.refresh(first["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated = rotated.json();
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(f.env.introspect(&f.rs, access).await.json()["active"], true);
    let again = f.refresh(rotated["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(again.status, 200, "{}", again.body);
}
