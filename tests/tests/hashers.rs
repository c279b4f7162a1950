//! Users and client secrets migrated from Django with any of Django's
//! built-in password hashers, through the token endpoint: they sign in, move
//! to the configured hasher on the way, and cannot be used to make the
//! service burn a slow hash per request.

use integration_tests::{TestClient, TestEnv};
use serde_json::Value;
use shared::model::{Client, ClientAuth, GrantType, User};
use shared::scope::parse_scope;
use shared::store::{AdminStore, Store};

/// Made by Django 5.2.19 (argon2-cffi 25.1.0, bcrypt 5.0.0) for "correct
/// horse", at low work factors so the tests stay quick.
const DJANGO_HASHES: [&str; 5] = [
    "pbkdf2_sha1$1000$FLWdum8dKkDIijRoSqyuqk$brSyxqspWqE/SxvmMeLzN8o6UTc=",
    "argon2$argon2id$v=19$m=1024,t=1,p=1$TE1lYjhKZmo5dWZBU0JnTkVBOXVZNw$dBSngC2wmswxK15E1zyI9MkKCblE3wKa2eCvydC99S8",
    "bcrypt_sha256$$2b$04$ZOFHSZAm3aAs/ugVU.B5/ecCNfpAMEZf9yOBjQAtPUZV4MS1I8Zr2",
    "scrypt$1024$l9NWwY7o0u6LijH0g1B36I$8$1$iBf5I3HNlWWSCltjqwIGdSKl4Y3uPPbknWWDPmexVNSHxKggp0OtKUle6EuoxM3d1Y3+BwsEDJaGNB8HtqRxsQ==",
    "bcrypt$$2b$04$PiQpDcDVwGvLJTT9Exp6J.6mRo1yJB.Klr3Hjl5tK2gYGQBgh7QNG",
];

async fn env() -> TestEnv {
    TestEnv::with_config(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await
}

async fn sign_in(
    env: &TestEnv,
    app: &TestClient,
    username: &str,
    password: &str,
) -> integration_tests::Answer {
    env.post(
        "/o/token/",
        &format!("grant_type=password&username={username}&password={password}"),
    )
    .basic(&app.id, &app.secret)
    .send()
    .await
}

/// The password hash stored for a user, as an administrator reads it.
async fn password_hash(env: &TestEnv, username: &str) -> String {
    env.admin.get_user(username).await.unwrap().unwrap().password_hash
}

/// The secret hash stored for a client, as an administrator reads it.
async fn secret_hash(env: &TestEnv, client_id: &str) -> String {
    match env.admin.get_client(client_id).await.unwrap().unwrap().auth {
        ClientAuth::Confidential { secret_hash } => secret_hash,
        ClientAuth::Public => panic!("{client_id} is public"),
    }
}

#[tokio::test]
async fn users_with_every_django_hasher_sign_in_and_move_to_the_configured_one() {
    let env = env().await;
    let app = env.client_with("read", "", None, &[GrantType::Password]).await;
    let rs = env.client("introspection").await;
    for (i, hash) in DJANGO_HASHES.iter().enumerate() {
        let name = format!("user{i}");
        env.admin
            .create_user(&User::new(&name, (*hash).to_owned(), 0).unwrap())
            .await
            .unwrap();

        sign_in(&env, &app, &name, "correct+horsf")
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(password_hash(&env, &name).await, *hash);

        let first = sign_in(&env, &app, &name, "correct+horse").await;
        assert_eq!(first.status, 200, "{hash}: {}", first.body);
        let rehashed = password_hash(&env, &name).await;
        assert!(
            rehashed.starts_with("pbkdf2_sha256$1000$"),
            "{hash} -> {rehashed}"
        );

        // The re-hash is no password change: the grant made with the old hash stands.
        let tokens: Value = first.json();
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(env.introspect(&rs, access).await.json()["active"], true, "{hash}");
        let refreshed = env
            .post(
                "/o/token/",
                &format!(
                    "grant_type=refresh_token&refresh_token={}",
                    tokens["refresh_token"].as_str().unwrap()
                ),
            )
            .basic(&app.id, &app.secret)
            .send()
            .await;
        assert_eq!(refreshed.status, 200, "{hash}: {}", refreshed.body);
        assert_eq!(sign_in(&env, &app, &name, "correct+horse").await.status, 200);
    }
}

#[tokio::test]
async fn unusable_and_unknown_hashes_are_refused_like_a_wrong_password() {
    let env = env().await;
    let app = env.client_with("read", "", None, &[GrantType::Password]).await;
    // Django's set_unusable_password(), an algorithm this build lacks, and a
    // hash asking for more memory than a Lambda has: the same refusal, and
    // nothing re-stored.
    for (name, hash) in [
        ("unusable", "!Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"),
        ("unknown", "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99"),
        (
            "too-costly",
            "argon2$argon2id$v=19$m=4194304,t=2,p=8$THozUGFmM2kycXhVcUJSOHNKd240Sg$idOQCC2NDtwq0CDyqP/Ok/nTNp8htEKJDKRQB9dPs1c",
        ),
    ] {
        env.admin
            .create_user(&User::new(name, hash.to_owned(), 0).unwrap())
            .await
            .unwrap();
        let answer = sign_in(&env, &app, name, "correct+horse").await;
        answer.assert_error(400, "invalid_grant");
        assert_eq!(answer.json()["error_description"], "the username or password is wrong");
        assert_eq!(password_hash(&env, name).await, hash);
    }
}

/// A client imported from DOT with its secret still under a Django hash.
async fn imported_client(env: &TestEnv, secret_hash: &str) -> TestClient {
    let app = TestClient {
        id: shared::secret::generate_id().unwrap(),
        secret: "correct horse".into(),
    };
    let client = Client {
        client_id: app.id.clone(),
        name: "imported".into(),
        auth: ClientAuth::Confidential {
            secret_hash: secret_hash.to_owned(),
        },
        grant_types: [GrantType::ClientCredentials].into(),
        scopes: parse_scope("read").unwrap(),
        default_scopes: parse_scope("").unwrap(),
        token_lifetime: None,
        disabled: false,
        created_at: 0,
        redirect_uris: Vec::new(),
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
        registration: Default::default(),
    };
    env.admin.create_client(&client).await.unwrap();
    app
}

async fn client_credentials(env: &TestEnv, app: &TestClient, secret: &str) -> u16 {
    env.post("/o/token/", "grant_type=client_credentials")
        .basic(&app.id, secret)
        .send()
        .await
        .status
}

/// Whoever knows a client id (it is public) cannot make every request cost
/// a slow hash: checks of an imported secret are limited per client and
/// minute; beyond, the client is refused unchecked until the next minute.
#[tokio::test]
async fn slow_checks_of_an_imported_secret_are_limited_per_minute() {
    let env = TestEnv::with_config(&[
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        ("IMPORTED_SECRET_CHECKS_PER_MINUTE", "3"),
    ])
    .await;
    // Start of a minute, so the window cannot roll over mid-test.
    env.clock.advance(60 - env.clock_now() % 60);
    let app = imported_client(&env, DJANGO_HASHES[1]).await;
    let other = imported_client(&env, DJANGO_HASHES[1]).await;

    for _ in 0..3 {
        assert_eq!(client_credentials(&env, &app, "guess").await, 401);
    }
    // The right secret, past the limit: refused without being checked.
    assert_eq!(client_credentials(&env, &app, "correct horse").await, 401);
    assert!(secret_hash(&env, &app.id).await.starts_with("argon2$"));
    // Another client's checks are its own.
    assert_eq!(client_credentials(&env, &other, "correct horse").await, 200);

    env.clock.advance(60);
    assert_eq!(client_credentials(&env, &app, "correct horse").await, 200);
    // Now a SHA-256, checked at once and without limit.
    let sha256 = shared::secret::sha256_hex("correct horse");
    assert_eq!(secret_hash(&env, &app.id).await, sha256);
    for _ in 0..5 {
        assert_eq!(client_credentials(&env, &app, "guess").await, 401);
    }
    assert_eq!(client_credentials(&env, &app, "correct horse").await, 200);
}

/// Re-storing a verified imported secret as SHA-256 never undoes a secret
/// rotated in the meantime (the old secret would otherwise work again).
#[tokio::test]
async fn a_rehash_never_overwrites_a_newer_secret() {
    let env = env().await;
    let app = imported_client(&env, DJANGO_HASHES[0]).await;
    let rotated = shared::secret::sha256_hex("the new secret");
    env.admin
        .update_client(&app.id, shared::store::ClientChange::SecretHash(rotated.clone()))
        .await
        .unwrap();
    let correct = shared::secret::sha256_hex("correct horse");
    let stale = env
        .admin
        .rehash_client_secret(&app.id, DJANGO_HASHES[0], &correct);
    assert!(!stale.await.unwrap(), "the hash it was verified against is gone");
    assert_eq!(secret_hash(&env, &app.id).await, rotated);
    assert_eq!(client_credentials(&env, &app, "correct horse").await, 401);
    assert_eq!(client_credentials(&env, &app, "the new secret").await, 200);
}
