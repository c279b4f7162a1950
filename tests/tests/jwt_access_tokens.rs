//! JWT access tokens (RFC 9068) for the clients that ask for them: what
//! they say, that they verify against the JWKS (checked with *ring*, and by
//! panva's `jose` as RFC 9068 §4 says a resource server validates them),
//! that introspection and revocation still answer for them, and that what
//! only looks like one of them (an ID token, `alg: none`, HS256 keyed with
//! the public key, a foreign `kid`) is never active.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::jws::{forgeries, part, verifies};
use integration_tests::{TestClient, TestEnv, ISSUER};
use serde_json::{json, Value};
use shared::admin::{self, NewClient};
use shared::model::{AccessTokenFormat, GrantType};
use shared::scope::parse_scope;
use shared::{Clock, Store};

async fn jwt_client(env: &TestEnv, grants: &[GrantType], scope: &str) -> TestClient {
    let new = NewClient {
        name: "JWT client".into(),
        grants: grants.iter().copied().collect(),
        scopes: parse_scope(scope).unwrap(),
        default_scopes: parse_scope("").unwrap(),
        token_lifetime: None,
        redirect_uris: Vec::new(),
        public: false,
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: AccessTokenFormat::Jwt,
        resources: Default::default(),
    };
    let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
    TestClient {
        id: client.client_id,
        secret: secret.unwrap(),
    }
}

#[tokio::test]
async fn a_jwt_client_gets_rfc_9068_access_tokens_that_introspection_still_answers_for() {
    let env = TestEnv::with_config(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    let rs = env.client("introspection").await;
    let app = jwt_client(&env, &[GrantType::ClientCredentials], "read write").await;
    let now = env.clock.now();
    let answer = env
        .post("/o/token/", "grant_type=client_credentials&scope=read")
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    assert_eq!(answer["expires_in"], 300, "short-lived by default");
    let token = answer["access_token"].as_str().unwrap();
    let header = part(token, 0);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("RS256"))
    );
    let claims = part(token, 1);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], ISSUER, "the default audience is the issuer");
    assert_eq!(
        claims["sub"],
        format!("client:{}", app.id),
        "a client's own token: never a user's subject"
    );
    assert_eq!(claims["client_id"], app.id.as_str());
    assert_eq!(claims["scope"], "read");
    assert_eq!(
        (claims["iat"].as_u64(), claims["exp"].as_u64()),
        (Some(now), Some(now + 300))
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 20));
    let jwks = env.request("GET", "/o/.well-known/jwks.json").send().await.json();
    assert!(verifies(token, &jwks));

    // Introspection answers for it as for an opaque token, and revocation ends it.
    let seen = env.introspect(&rs, token).await.json();
    assert_eq!(
        (seen["active"].clone(), seen["exp"].clone()),
        (json!(true), json!(now + 300))
    );
    let revoked = env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&app.id, &app.secret)
        .send()
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        env.introspect(&rs, token).await.json(),
        json!({ "active": false })
    );
    assert!(!env.dump().await.contains(token), "stored as a hash only");
}

#[tokio::test]
async fn a_users_jwt_names_the_user_by_subject_and_rotates_with_its_refresh_token() {
    let env = TestEnv::with_config(&[
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        ("JWT_ACCESS_TOKEN_AUDIENCE", "https://api.example.com"),
        ("JWT_ACCESS_TOKEN_EXPIRE_SECONDS", "120"),
    ])
    .await;
    let rs = env.client("introspection").await;
    let app = jwt_client(&env, &[GrantType::Password], "read").await;
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let user = env.admin.get_user("jdoe").await.unwrap().unwrap();
    let first = env
        .post(
            "/o/token/",
            "grant_type=password&username=jdoe&password=s3cret+pw",
        )
        .basic(&app.id, &app.secret)
        .send()
        .await
        .json();
    let access = first["access_token"].as_str().unwrap();
    let claims = part(access, 1);
    assert_eq!(claims["sub"], user.subject.as_str());
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(first["expires_in"], 120);
    assert_eq!(env.introspect(&rs, access).await.json()["username"], "jdoe");

    let second = env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                first["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&app.id, &app.secret)
        .send()
        .await
        .json();
    let rotated = second["access_token"].as_str().unwrap();
    assert_ne!(part(rotated, 1)["jti"], claims["jti"]);
    assert_eq!(
        env.introspect(&rs, access).await.json()["active"],
        false,
        "the rotation revoked the old one"
    );
    assert_eq!(env.introspect(&rs, rotated).await.json()["active"], true);
}

/// Whatever only looks like one of our JWTs is inactive: an ID token, the
/// same claims under `alg: none`, HS256 keyed with the public key, a
/// foreign `kid`, a token for another audience made up from a real one.
#[tokio::test]
async fn lookalike_tokens_are_never_active() {
    let env = TestEnv::with_config(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    let rs = env.client("introspection").await;
    let app = jwt_client(&env, &[GrantType::ClientCredentials], "read").await;
    let real = env.token(&app, Some("read")).await;
    let jwks = env.request("GET", "/o/.well-known/jwks.json").send().await.json();
    let mut lookalikes = forgeries(&real, &jwks);
    // Another audience, made up from the real one's claims.
    let mut foreign_aud = part(&real, 1);
    foreign_aud["aud"] = json!("https://other.example");
    let (header, rest) = real.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    lookalikes.push((
        "another audience",
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(foreign_aud.to_string())
        ),
    ));
    for (name, token) in lookalikes {
        assert_eq!(
            env.introspect(&rs, &token).await.json(),
            json!({ "active": false }),
            "{name}"
        );
    }
    assert_eq!(env.introspect(&rs, &real).await.json()["active"], true);
}

/// RFC 9068 §4 as a resource server would apply it, with a JOSE library
/// nobody here wrote: panva's `jose` (npm, pinned in `tests/relying-party/`)
/// verifies the token against the JWKS with `typ: at+jwt`, the issuer, the
/// audience and RS256, and refuses it for another audience or once expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pinned npm relying parties (scripts/setup relying-parties): scripts/test runs it"]
async fn jose_validates_them_as_rfc_9068_says() {
    let env = TestEnv::with_config(&[("JWT_ACCESS_TOKEN_AUDIENCE", "https://api.example.com")]).await;
    let app = jwt_client(&env, &[GrantType::ClientCredentials], "read").await;
    let token = env.token(&app, Some("read")).await;
    let jwks = env.request("GET", "/o/.well-known/jwks.json").send().await.json();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("relying-party/verify-access-token.mjs");
    let verify = |audience: &str, now: u64| {
        let input =
            json!({ "jwks": jwks, "token": token, "issuer": ISSUER, "audience": audience, "now": now });
        let output = std::process::Command::new("node")
            .arg(&script)
            .arg(input.to_string())
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let now = env.clock.now();
    let valid = verify("https://api.example.com", now);
    assert_eq!(valid["payload"]["client_id"], app.id.as_str(), "{valid}");
    assert_eq!(valid["header"]["typ"], "at+jwt");
    let wrong = verify("https://other.example", now);
    assert_eq!(wrong["code"], "ERR_JWT_CLAIM_VALIDATION_FAILED", "{wrong}");
    let late = verify("https://api.example.com", now + 301);
    assert_eq!(late["code"], "ERR_JWT_EXPIRED", "{late}");
}
