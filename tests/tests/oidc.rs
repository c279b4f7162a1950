//! OpenID Connect as a relying party sees it, through the token service's
//! entry point: discovery, the JWKS, the ID token of a code flow (verified
//! here with *ring*, not with the service's own aws-lc-rs), UserInfo, and
//! signing keys rotated and retired while tokens are live. The certified
//! relying-party libraries run against the standalone service in
//! `openid_client.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::code_flow::{redirected, Browser};
use integration_tests::jws::{self, part};
use integration_tests::{pkce_pair, TestClient, TestEnv, ISSUER, TEST_SIGNING_KEY_SECRET};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::admin::keys::RotationSchedule;
use shared::admin::{self, NewClient};
use shared::keys::{Sealer, KEY_SET_REFRESH_SECONDS};
use shared::model::{GrantType, UserProfile};
use shared::scope::parse_scope;
use shared::{Clock, Store};

const REDIRECT: &str = "https://rp.example.com/callback";
const RP_ORIGIN: &str = "https://rp.example.com";
const SIGNED_OUT: &str = "https://rp.example.com/signed-out";

struct Rp {
    env: TestEnv,
    app: TestClient,
}

fn secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&TEST_SIGNING_KEY_SECRET[2 * i..2 * i + 2], 16).unwrap();
    }
    secret
}

impl Rp {
    async fn new(vars: &[(&str, &str)]) -> Self {
        let mut all = vec![("PASSWORD_HASH_ITERATIONS", "1000")];
        all.extend_from_slice(vars);
        let env = TestEnv::with_config(&all).await;
        let new = NewClient {
            name: "Relying Party".into(),
            grants: [GrantType::AuthorizationCode].into(),
            scopes: parse_scope("openid profile email read").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![REDIRECT.into()],
            public: false,
            skip_consent: true,
            allowed_origins: vec![RP_ORIGIN.into()],
            post_logout_redirect_uris: vec![SIGNED_OUT.into()],
            access_token_format: shared::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        };
        let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
        admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
            .await
            .unwrap();
        let profile = UserProfile {
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            email: "jane@example.com".into(),
            email_verified: true,
        };
        admin::set_profile(&env.admin, "jdoe", profile).await.unwrap();
        Self {
            env,
            app: TestClient {
                id: client.client_id,
                secret: secret.unwrap(),
            },
        }
    }

    /// Signs `jdoe` in for `scope` with `nonce` (when the sign-in form
    /// comes); the token answer.
    async fn sign_in(&self, browser: &mut Browser, scope: &str, nonce: &str) -> Value {
        self.sign_in_with(browser, scope, nonce, "").await
    }

    /// As [`Rp::sign_in`], with `extra` request parameters.
    async fn sign_in_with(&self, browser: &mut Browser, scope: &str, nonce: &str, extra: &str) -> Value {
        let (verifier, challenge) = pkce_pair();
        let path = format!(
            "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256{extra}",
            self.app.id,
            shared::form::encode(REDIRECT),
            scope.replace(' ', "+"),
        );
        let page = browser.get(&self.env, &path).await;
        let done = if page.status == 200 {
            browser
                .submit(
                    &self.env,
                    &page,
                    &[("username", "jdoe"), ("password", "s3cret pw")],
                )
                .await
        } else {
            page
        };
        let params = redirected(&done, REDIRECT);
        let form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
            params["code"],
            shared::form::encode(REDIRECT)
        );
        let answer = self
            .env
            .post("/o/token/", &form)
            .basic(&self.app.id, &self.app.secret)
            .send()
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    }

    async fn get(&self, path: &str) -> integration_tests::Answer {
        self.env.request("GET", path).send().await
    }

    async fn jwks(&self) -> Vec<Value> {
        let answer = self.get("/o/.well-known/jwks.json").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["keys"].as_array().unwrap().clone()
    }
}

fn verifies(jwt: &str, jwks: &[Value]) -> bool {
    jws::verifies(jwt, &serde_json::json!({ "keys": jwks }))
}

#[tokio::test]
async fn discovery_names_what_a_relying_party_needs_from_any_origin() {
    let rp = Rp::new(&[]).await;
    for path in [
        "/.well-known/openid-configuration",
        "/prod/.well-known/openid-configuration",
    ] {
        let answer = rp.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
        let doc = answer.json();
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}/o/.well-known/jwks.json"));
        assert_eq!(doc["userinfo_endpoint"], format!("{ISSUER}/o/userinfo/"));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
        assert_eq!(doc["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        let scopes: Vec<&str> = doc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for scope in ["openid", "profile", "email"] {
            assert!(scopes.contains(&scope), "{scopes:?}");
        }
    }
    let jwks = rp.get("/o/.well-known/jwks.json").await;
    assert_eq!(jwks.header("access-control-allow-origin"), Some("*"));
    assert!(jwks.header("cache-control").unwrap().starts_with("public"));
    // Nothing else is readable across origins.
    let token = rp
        .env
        .post("/o/token/", "grant_type=client_credentials")
        .send()
        .await;
    assert_eq!(token.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_code_flow_gives_an_id_token_that_verifies_and_userinfo_by_scope() {
    let rp = Rp::new(&[]).await;
    let mut browser = Browser::default();
    let now = rp.env.clock.now();
    let tokens = rp
        .sign_in(&mut browser, "openid profile email", "n-0S6_WzA2Mj")
        .await;
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let jwks = rp.jwks().await;
    assert_eq!(jwks.len(), 1);
    assert!(
        verifies(id_token, &jwks),
        "the ID token verifies against the JWKS"
    );
    assert_eq!(part(id_token, 0)["alg"], "RS256");

    let claims = part(id_token, 1);
    let user = rp.env.admin.get_user("jdoe").await.unwrap().unwrap();
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], user.subject.as_str());
    assert_eq!(claims["aud"], rp.app.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 36_000);
    assert_eq!(claims["auth_time"], now);
    assert!(claims["sid"].as_str().is_some_and(|sid| sid.len() >= 20));
    let access = tokens["access_token"].as_str().unwrap();
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    // UserInfo, by header (GET) and by body (POST): the claims the scope releases.
    let by_header = rp.env.request("GET", "/o/userinfo/").bearer(access).send().await;
    assert_eq!(by_header.status, 200, "{}", by_header.body);
    let info = by_header.json();
    assert_eq!(info["sub"], user.subject.as_str());
    assert_eq!(info["name"], "Jane Doe");
    assert_eq!(info["given_name"], "Jane");
    assert_eq!(info["family_name"], "Doe");
    assert_eq!(info["preferred_username"], "jdoe");
    assert_eq!(info["email"], "jane@example.com");
    assert_eq!(info["email_verified"], true);
    let by_body = rp
        .env
        .post("/o/userinfo/", &format!("access_token={access}"))
        .send()
        .await;
    assert_eq!(by_body.json(), info);

    // A later sign-in in the same session: the same sid and auth_time.
    rp.env.clock.advance(60);
    let again = rp.sign_in(&mut browser, "openid", "second").await;
    let claims_again = part(again["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims_again["sid"], claims["sid"]);
    assert_eq!(claims_again["auth_time"], now);
    assert_eq!(claims_again["iat"], now + 60);
    // Only `openid`: nothing but `sub`.
    let bare = rp
        .env
        .request("GET", "/o/userinfo/")
        .bearer(again["access_token"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(bare.json(), serde_json::json!({ "sub": user.subject }));

    // Refreshing gives no new ID token (Core §12.2 allows it).
    let refreshed = rp
        .env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&rp.app.id, &rp.app.secret)
        .send()
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.json().get("id_token").is_none());
}

#[tokio::test]
async fn userinfo_refuses_what_is_not_an_openid_access_token() {
    let rp = Rp::new(&[]).await;
    let mut browser = Browser::default();
    let plain = rp.sign_in(&mut browser, "read", "n").await;
    assert!(plain.get("id_token").is_none(), "no openid, no ID token");
    let access = plain["access_token"].as_str().unwrap();
    let no_openid = rp.env.request("GET", "/o/userinfo/").bearer(access).send().await;
    no_openid.assert_error(403, "insufficient_scope");
    assert!(no_openid
        .header("www-authenticate")
        .unwrap()
        .contains("scope=\"openid\""));

    let none = rp.env.request("GET", "/o/userinfo/").send().await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer realm=\"oauth2\""));

    let oidc = rp.sign_in(&mut browser, "openid", "n").await;
    // The ID token is no access token.
    rp.env
        .request("GET", "/o/userinfo/")
        .bearer(oidc["id_token"].as_str().unwrap())
        .send()
        .await
        .assert_error(401, "invalid_token");
    // Nor is a refresh token.
    rp.env
        .request("GET", "/o/userinfo/")
        .bearer(oidc["refresh_token"].as_str().unwrap())
        .send()
        .await
        .assert_error(401, "invalid_token");
    // Revoked: refused at once.
    let access = oidc["access_token"].as_str().unwrap();
    let revoked = rp
        .env
        .post("/o/revoke_token/", &format!("token={access}"))
        .basic(&rp.app.id, &rp.app.secret)
        .send()
        .await;
    assert_eq!(revoked.status, 200);
    rp.env
        .request("GET", "/o/userinfo/")
        .bearer(access)
        .send()
        .await
        .assert_error(401, "invalid_token");
    // A token in the URL's query is refused (RFC 6750 §2.3 is not offered:
    // URLs end up in logs and histories).
    rp.env
        .request("GET", &format!("/o/userinfo/?access_token={access}"))
        .send()
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn an_oversized_nonce_goes_back_to_the_client_as_invalid_request() {
    let rp = Rp::new(&[]).await;
    let (_, challenge) = pkce_pair();
    let path = format!(
        "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=openid&nonce={}&code_challenge={challenge}&code_challenge_method=S256",
        rp.app.id,
        shared::form::encode(REDIRECT),
        "n".repeat(513)
    );
    let answer = rp.get(&path).await;
    let params = redirected(&answer, REDIRECT);
    assert_eq!(params["error"], "invalid_request");
    assert!(!rp.env.dump().await.contains(&"n".repeat(513)), "nothing stored");
}

/// `offline_access` (Core §11), which relying parties ask for unprompted
/// and MCP clients whenever it is listed (SEP-2207): listed, granted to any
/// client that may refresh though it was not registered for it, kept by the
/// refresh token, and refused to a client that cannot refresh; unknown
/// without OpenID Connect.
#[tokio::test]
async fn offline_access_is_granted_to_clients_that_may_refresh() {
    let rp = Rp::new(&[]).await;
    let discovery = rp.get("/.well-known/openid-configuration").await.json();
    assert!(discovery["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("offline_access")));
    let mut browser = Browser::default();
    let tokens = rp.sign_in(&mut browser, "openid offline_access", "1").await;
    assert_eq!(tokens["scope"], "offline_access openid", "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    let refreshed = rp
        .env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&rp.app.id, &rp.app.secret)
        .send()
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.json()["scope"], "offline_access openid");

    let machine = rp.env.client("read").await;
    rp.env
        .post(
            "/o/token/",
            "grant_type=client_credentials&scope=read+offline_access",
        )
        .basic(&machine.id, &machine.secret)
        .send()
        .await
        .assert_error(400, "invalid_scope");

    let plain = Rp::new(&[("SIGNING_KEY_SECRET", ""), ("SCOPES", r#"{"read": "Read"}"#)]).await;
    let answer = plain
        .get(&authorize_path(&plain.app, "read offline_access", ""))
        .await;
    assert_eq!(redirected(&answer, REDIRECT)["error"], "invalid_scope");
}

#[tokio::test]
async fn without_a_signing_key_sealer_there_is_no_openid_connect() {
    let rp = Rp::new(&[("SIGNING_KEY_SECRET", ""), ("SCOPES", r#"{"read": "Read"}"#)]).await;
    assert_eq!(rp.get("/.well-known/openid-configuration").await.status, 404);
    assert_eq!(rp.get("/o/.well-known/jwks.json").await.status, 404);
    let metadata = rp.get("/.well-known/oauth-authorization-server").await.json();
    assert!(metadata.get("jwks_uri").is_none());
    assert!(!metadata["scopes_supported"].to_string().contains("openid"));
}

/// A rotation publishes the new key ahead, keeps signing with the old one
/// until then, and keeps the old one published until what it signed has
/// expired; every ID token verifies against the JWKS of its time throughout.
/// A retired key is gone from the JWKS (once warm containers read the key
/// set again), and a new one signs at once.
#[tokio::test]
async fn keys_rotate_without_an_outage_and_retire_at_once() {
    let rp = Rp::new(&[("ID_TOKEN_EXPIRE_SECONDS", "3600")]).await;
    let mut browser = Browser::default();
    let first = rp.sign_in(&mut browser, "openid", "1").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = part(&first, 0)["kid"].as_str().unwrap().to_owned();
    assert_eq!(old_kid.len(), 43, "an RFC 7638 thumbprint");

    let sealer = Sealer::secret(&secret());
    let schedule = RotationSchedule {
        publish_ahead: 8100,
        keep_published: 3600,
    };
    let rotated_at = rp.env.clock.now();
    let new_kid = admin::keys::rotate(&rp.env.admin, &sealer, schedule, rotated_at)
        .await
        .unwrap();
    assert_ne!(new_kid, old_kid);

    // Once the container reads the key set again, the JWKS has both; the old key still signs.
    rp.env.clock.advance(KEY_SET_REFRESH_SECONDS);
    let jwks = rp.jwks().await;
    assert_eq!(jwks.len(), 2);
    let during = rp.sign_in(&mut browser, "openid", "2").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(part(&during, 0)["kid"], old_kid.as_str());
    assert!(verifies(&first, &jwks) && verifies(&during, &jwks));

    // After the publication period, the new key signs; both are published.
    rp.env.clock.advance(rotated_at + 8100 - rp.env.clock.now());
    let after = rp.sign_in(&mut browser, "openid", "3").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(part(&after, 0)["kid"], new_kid.as_str());
    let jwks = rp.jwks().await;
    assert!(verifies(&during, &jwks) && verifies(&after, &jwks));
    // The last token the old key signed outlives neither its key's publication.
    let old_until = rotated_at + 8100 + 3600;
    assert!(part(&during, 1)["exp"].as_u64().unwrap() <= old_until);

    // Then the old key is gone (read as absent before anyone removes it).
    rp.env.clock.advance(old_until - rp.env.clock.now());
    let jwks = rp.jwks().await;
    assert_eq!(
        jwks.iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [new_kid.as_str()]
    );
    assert!(!verifies(&during, &jwks));

    // Retiring the signing key: gone at the next read of the key set, and a new key signs at once.
    admin::keys::retire(&rp.env.admin, &new_kid, rp.env.clock.now())
        .await
        .unwrap();
    rp.env.clock.advance(KEY_SET_REFRESH_SECONDS);
    let jwks = rp.jwks().await;
    assert_eq!(jwks.len(), 1);
    assert_ne!(jwks[0]["kid"], new_kid.as_str());
    assert!(!verifies(&after, &jwks));
    let fresh = rp.sign_in(&mut browser, "openid", "4").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(verifies(&fresh, &jwks));
    assert_eq!(
        admin::keys::retire(&rp.env.admin, &new_kid, rp.env.clock.now())
            .await
            .unwrap_err()
            .to_string(),
        format!("no published signing key {new_kid:?}")
    );
}

/// `SIGNING_KEY_ROTATION_DAYS`: the service rotates its own key. When the
/// newest key is that old, the first container to read the key set
/// publishes a successor (two at once: one successor), which signs only
/// after the publication ahead; the old key stays published as long as an
/// ID token lives, and the next rotation comes a period after the last.
#[tokio::test]
async fn the_service_rotates_its_own_key_on_schedule() {
    const DAY: u64 = 24 * 3600;
    let rp = Rp::new(&[
        ("SIGNING_KEY_ROTATION_DAYS", "30"),
        ("ID_TOKEN_EXPIRE_SECONDS", "3600"),
    ])
    .await;
    let mut browser = Browser::default();
    let id_token = |answer: Value| answer["id_token"].as_str().unwrap().to_owned();
    let first = id_token(rp.sign_in(&mut browser, "openid", "1").await);
    let old_kid = part(&first, 0)["kid"].as_str().unwrap().to_owned();

    rp.env.clock.advance(30 * DAY - KEY_SET_REFRESH_SECONDS);
    assert_eq!(rp.jwks().await.len(), 1, "not due early");

    // Both containers read the key set again now.
    rp.env.clock.advance(KEY_SET_REFRESH_SECONDS);
    let rotated_at = rp.env.clock.now();
    let other = rp.env.another_container();
    let jwks_request = || {
        http::Request::get("/o/.well-known/jwks.json")
            .body(Vec::new())
            .unwrap()
    };
    let (here, there) = tokio::join!(
        rp.env.service.handle(jwks_request()),
        other.handle(jwks_request())
    );
    assert_eq!((here.status().as_u16(), there.status().as_u16()), (200, 200));
    let keys = rp.env.admin.get_signing_keys().await.unwrap();
    let published: Vec<_> = keys.published(rotated_at).collect();
    assert_eq!(published.len(), 2, "one successor, whoever raced: {published:?}");
    let new_kid = published.iter().find(|k| k.kid != old_kid).unwrap().kid.clone();
    let jwks = rp.jwks().await;
    assert_eq!(jwks.len(), 2, "published at once");

    let during = id_token(rp.sign_in(&mut browser, "openid", "2").await);
    assert_eq!(
        part(&during, 0)["kid"],
        old_kid.as_str(),
        "the old key signs until the successor's time"
    );
    rp.env
        .clock
        .advance(shared::keys::DEFAULT_PUBLISH_AHEAD_SECONDS + KEY_SET_REFRESH_SECONDS);
    let after = id_token(rp.sign_in(&mut browser, "openid", "3").await);
    assert_eq!(part(&after, 0)["kid"], new_kid.as_str());
    let jwks = rp.jwks().await;
    assert!(verifies(&during, &jwks) && verifies(&after, &jwks));

    rp.env.clock.advance(3600);
    let jwks = rp.jwks().await;
    assert_eq!(
        jwks.len(),
        1,
        "the old key unpublished once its ID tokens have expired"
    );
    assert_eq!(jwks[0]["kid"], new_kid.as_str());

    // The next rotation: a period after the last one, not after the first key.
    rp.env
        .clock
        .advance(rotated_at + 30 * DAY - 1 - rp.env.clock.now());
    assert_eq!(rp.jwks().await.len(), 1);
    rp.env.clock.advance(KEY_SET_REFRESH_SECONDS);
    assert_eq!(rp.jwks().await.len(), 2);
}

/// Retiring the signing key while its successor is published ahead (a
/// compromise mid-rotation): the successor signs at once, since caches may
/// hold it already; no key is made.
#[tokio::test]
async fn retiring_the_signer_mid_rotation_brings_its_successor_forward() {
    let rp = Rp::new(&[]).await;
    let mut browser = Browser::default();
    let first = rp.sign_in(&mut browser, "openid", "1").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = part(&first, 0)["kid"].as_str().unwrap().to_owned();
    let schedule = RotationSchedule {
        publish_ahead: 8100,
        keep_published: 3600,
    };
    let successor = admin::keys::rotate(
        &rp.env.admin,
        &Sealer::secret(&secret()),
        schedule,
        rp.env.clock.now(),
    )
    .await
    .unwrap();
    admin::keys::retire(&rp.env.admin, &old_kid, rp.env.clock.now())
        .await
        .unwrap();
    rp.env.clock.advance(KEY_SET_REFRESH_SECONDS);
    let next = rp.sign_in(&mut browser, "openid", "2").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(part(&next, 0)["kid"], successor.as_str());
    let jwks = rp.jwks().await;
    assert_eq!(jwks.len(), 1);
    assert!(verifies(&next, &jwks) && !verifies(&first, &jwks));
}

/// The private keys are stored sealed: the table holds no DER RSA private
/// key in base64, PKCS#8 (its `rsaEncryption` identifier reads
/// `BgkqhkiG9w0BAQEF`) or PKCS#1 (its version and modulus, `IBAAKCA`);
/// `MII`, the start of any DER, also turns up in random tokens. A service
/// given another secret cannot sign with them (503, nothing issued), while
/// the JWKS stays.
#[tokio::test]
async fn signing_keys_are_stored_sealed() {
    let rp = Rp::new(&[]).await;
    let mut browser = Browser::default();
    rp.sign_in(&mut browser, "openid", "1").await;
    let dump = rp.env.dump().await;
    assert!(dump.contains("igning"), "the key set is stored");
    assert!(
        !dump.contains("BgkqhkiG9w0BAQEF") && !dump.contains("IBAAKCA"),
        "no DER private key in clear"
    );
    let keys = rp.env.admin.get_signing_keys().await.unwrap();
    assert_eq!(keys.keys.len(), 1);
    let sealer = Sealer::secret(&[7u8; 32]);
    assert!(sealer
        .open(&keys.keys[0].kid, &keys.keys[0].sealed)
        .await
        .is_err());
    let right = Sealer::secret(&secret());
    assert!(right.open(&keys.keys[0].kid, &keys.keys[0].sealed).await.is_ok());
    assert!(
        right.open("another-kid", &keys.keys[0].sealed).await.is_err(),
        "bound to its kid"
    );
}

/// The path of an authorization request for `scope` from `client`, with `extra` parameters.
fn authorize_path(client: &TestClient, scope: &str, extra: &str) -> String {
    let (_, challenge) = pkce_pair();
    format!(
        "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256{extra}",
        client.id,
        shared::form::encode(REDIRECT),
        scope.replace(' ', "+"),
    )
}

async fn asking_client(env: &TestEnv) -> TestClient {
    let new = NewClient {
        name: "Asking RP".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("openid profile").unwrap(),
        default_scopes: parse_scope("openid").unwrap(),
        token_lifetime: None,
        redirect_uris: vec![REDIRECT.into()],
        public: false,
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
    };
    let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
    TestClient {
        id: client.client_id,
        secret: secret.unwrap(),
    }
}

/// `prompt=none` never shows a page: `login_required` or `consent_required`
/// back to the client (with `state` and `iss`), else the code at once.
#[tokio::test]
async fn prompt_none_answers_without_a_page() {
    let rp = Rp::new(&[]).await;
    let asking = asking_client(&rp.env).await;
    let mut browser = Browser::default();
    let back = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&prompt=none"))
        .await;
    let params = redirected(&back, REDIRECT);
    assert_eq!(
        (
            params["error"].as_str(),
            params["state"].as_str(),
            params["iss"].as_str()
        ),
        ("login_required", "s", ISSUER)
    );

    rp.sign_in(&mut browser, "openid", "n").await;
    let back = browser
        .get(&rp.env, &authorize_path(&asking, "openid", "&prompt=none"))
        .await;
    assert_eq!(redirected(&back, REDIRECT)["error"], "consent_required");
    let silent = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&prompt=none"))
        .await;
    assert!(
        redirected(&silent, REDIRECT).contains_key("code"),
        "signed in and approved: the code at once"
    );

    let both = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&prompt=none+login"))
        .await;
    assert_eq!(redirected(&both, REDIRECT)["error"], "invalid_request");
}

/// `prompt=login`, `max_age` and `login_hint`: the sign-in form when the
/// session is not fresh enough (with the hint filled in), the code when it is;
/// `prompt=consent` asks even a client that skips consent.
#[tokio::test]
async fn prompt_login_max_age_and_consent_are_honoured() {
    let rp = Rp::new(&[]).await;
    let mut browser = Browser::default();
    let first = rp.sign_in(&mut browser, "openid", "n").await;
    let signed_in_at = part(first["id_token"].as_str().unwrap(), 1)["auth_time"].clone();

    let forced = browser
        .get(
            &rp.env,
            &authorize_path(&rp.app, "openid", "&prompt=login&login_hint=jdoe"),
        )
        .await;
    assert_eq!(forced.status, 200);
    assert!(
        forced.body.contains("name=\"password\"") && forced.body.contains("value=\"jdoe\""),
        "{}",
        forced.body
    );

    rp.env.clock.advance(120);
    let fresh_enough = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&max_age=3600"))
        .await;
    assert!(redirected(&fresh_enough, REDIRECT).contains_key("code"));
    let too_old = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&max_age=60"))
        .await;
    assert!(
        too_old.status == 200 && too_old.body.contains("name=\"password\""),
        "{}",
        too_old.body
    );
    let none_too_old = browser
        .get(
            &rp.env,
            &authorize_path(&rp.app, "openid", "&max_age=60&prompt=none"),
        )
        .await;
    assert_eq!(redirected(&none_too_old, REDIRECT)["error"], "login_required");
    let bad = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&max_age=soon"))
        .await;
    assert_eq!(redirected(&bad, REDIRECT)["error"], "invalid_request");

    // The forced sign-in, then the code: the ID token's auth_time is the new sign-in's.
    let forced = rp
        .sign_in_with(&mut browser, "openid", "m", "&prompt=login")
        .await;
    let auth_time = part(forced["id_token"].as_str().unwrap(), 1)["auth_time"].clone();
    assert_eq!(auth_time, signed_in_at.as_u64().unwrap() + 120);

    let asked = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&prompt=consent"))
        .await;
    assert!(
        asked.status == 200 && asked.body.contains("Allow access?"),
        "{}",
        asked.body
    );
}

/// A browser client's answers are readable by its registered origins only:
/// preflights answered, the token, revocation and UserInfo answers (errors
/// too, once the client is known) carry `Access-Control-Allow-Origin` for
/// them, and nothing else does.
#[tokio::test]
async fn browser_clients_read_answers_from_their_origins_only() {
    let rp = Rp::new(&[]).await;
    for path in ["/o/token/", "/o/revoke_token/", "/o/userinfo/"] {
        let preflight = rp
            .env
            .request("OPTIONS", path)
            .header("origin", RP_ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
            .await;
        assert_eq!(preflight.status, 204, "{path}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some(RP_ORIGIN),
            "{path}"
        );
        assert!(preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization"));
    }
    let no_origin = rp.env.request("OPTIONS", "/o/token/").send().await;
    assert_eq!(
        (no_origin.status, no_origin.header("access-control-allow-origin")),
        (204, None)
    );
    assert_eq!(
        rp.env.request("OPTIONS", "/o/introspect/").send().await.status,
        405,
        "not for resource servers"
    );

    let mut browser = Browser::default();
    let tokens = rp.sign_in(&mut browser, "openid profile", "n").await;
    let access = tokens["access_token"].as_str().unwrap();
    let from = |origin: &'static str, path: &str, form: String| {
        rp.env
            .post(path, &form)
            .basic(&rp.app.id, &rp.app.secret)
            .header("origin", origin)
    };
    let refresh_form = format!(
        "grant_type=refresh_token&refresh_token={}",
        tokens["refresh_token"].as_str().unwrap()
    );
    let refreshed = from(RP_ORIGIN, "/o/token/", refresh_form.clone()).send().await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.header("access-control-allow-origin"), Some(RP_ORIGIN));
    assert_eq!(refreshed.header("vary"), Some("Origin"));
    // An error, once the client is known, is readable too (the app must see invalid_grant).
    let replayed = from(RP_ORIGIN, "/o/token/", refresh_form).send().await;
    replayed.assert_error(400, "invalid_grant");
    assert_eq!(replayed.header("access-control-allow-origin"), Some(RP_ORIGIN));
    let foreign = from(
        "https://evil.example",
        "/o/token/",
        "grant_type=refresh_token&refresh_token=x".into(),
    )
    .send()
    .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let lookalike = from(
        "https://rp.example.com.evil.example",
        "/o/token/",
        "grant_type=refresh_token&refresh_token=x".into(),
    )
    .send()
    .await;
    assert_eq!(lookalike.header("access-control-allow-origin"), None);

    let fresh = rp.sign_in(&mut browser, "openid profile", "m").await;
    let fresh_access = fresh["access_token"].as_str().unwrap();
    let info = rp
        .env
        .request("GET", "/o/userinfo/")
        .bearer(fresh_access)
        .header("origin", RP_ORIGIN)
        .send()
        .await;
    assert_eq!(
        (info.status, info.header("access-control-allow-origin")),
        (200, Some(RP_ORIGIN))
    );
    let info = rp
        .env
        .request("GET", "/o/userinfo/")
        .bearer(fresh_access)
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(
        (info.status, info.header("access-control-allow-origin")),
        (200, None)
    );
    let revoked = from(RP_ORIGIN, "/o/revoke_token/", format!("token={fresh_access}"))
        .send()
        .await;
    assert_eq!(
        (revoked.status, revoked.header("access-control-allow-origin")),
        (200, Some(RP_ORIGIN))
    );
    // Introspection and the pages never answer across origins.
    let introspected = rp
        .env
        .post("/o/introspect/", &format!("token={access}"))
        .basic(&rp.app.id, &rp.app.secret)
        .header("origin", RP_ORIGIN)
        .send()
        .await;
    assert_eq!(introspected.header("access-control-allow-origin"), None);
    let page = rp
        .env
        .request("GET", "/o/logout/")
        .header("origin", RP_ORIGIN)
        .send()
        .await;
    assert_eq!(page.header("access-control-allow-origin"), None);
}

/// RP-initiated logout: with an ID token of ours as the hint, the browser
/// signs out (after confirming) and goes back to a registered URI with its
/// `state`; an unregistered URI, a forged hint or another client's is a
/// page, never a redirect.
#[tokio::test]
async fn relying_parties_sign_people_out_and_get_them_back() {
    let rp = Rp::new(&[]).await;
    let discovery = rp.get("/.well-known/openid-configuration").await.json();
    assert_eq!(discovery["end_session_endpoint"], format!("{ISSUER}/o/logout/"));
    let mut browser = Browser::default();
    let tokens = rp.sign_in(&mut browser, "openid", "n").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let logout = |hint: &str, uri: &str, extra: &str| {
        format!(
            "/o/logout/?id_token_hint={hint}&post_logout_redirect_uri={}&state=xyz{extra}",
            shared::form::encode(uri)
        )
    };

    for (path, why) in [
        (
            logout(hint, "https://rp.example.com/elsewhere", ""),
            "not registered",
        ),
        (
            logout(hint, "https://evil.example/signed-out", ""),
            "not registered",
        ),
        (logout(&format!("{hint}x"), SIGNED_OUT, ""), "id_token_hint"),
        (logout(hint, SIGNED_OUT, "&client_id=someone-else"), "client_id"),
        (
            format!(
                "/o/logout/?post_logout_redirect_uri={}",
                shared::form::encode(SIGNED_OUT)
            ),
            "needs the client",
        ),
    ] {
        let refused = browser.get(&rp.env, &path).await;
        assert_eq!(refused.status, 400, "{why}: {}", refused.body);
        assert!(refused.header("location").is_none());
        assert!(refused.body.contains(why), "{why}: {}", refused.body);
    }

    // The hint's signature is checked even once it has expired, as it may be.
    rp.env.clock.advance(40_000);
    let page = browser.get(&rp.env, &logout(hint, SIGNED_OUT, "")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Relying Party asks you to sign out"),
        "{}",
        page.body
    );
    let back = browser.submit(&rp.env, &page, &[]).await;
    assert_eq!(back.status, 303);
    assert_eq!(
        back.header("location"),
        Some(format!("{SIGNED_OUT}?state=xyz").as_str())
    );
    // Signed out: a silent request says so.
    let silent = browser
        .get(&rp.env, &authorize_path(&rp.app, "openid", "&prompt=none"))
        .await;
    assert_eq!(redirected(&silent, REDIRECT)["error"], "login_required");
    // Without state, the URI as registered.
    let plain = browser
        .get(
            &rp.env,
            &format!(
                "/o/logout/?client_id={}&post_logout_redirect_uri={}",
                rp.app.id,
                shared::form::encode(SIGNED_OUT)
            ),
        )
        .await;
    assert_eq!((plain.status, plain.header("location")), (302, Some(SIGNED_OUT)));
    // Not signed in: straight back, nothing to confirm.
    let again = browser.get(&rp.env, &logout(hint, SIGNED_OUT, "")).await;
    assert_eq!(again.status, 302);
    assert_eq!(
        again.header("location"),
        Some(format!("{SIGNED_OUT}?state=xyz").as_str())
    );
}

/// A DOT deployment's issuer is `https://host/o` (its discovery document
/// lives at `/o/.well-known/openid-configuration/`): kept as it was with
/// `BASE_URL`, so relying parties that pinned it see the same `iss`.
#[tokio::test]
async fn a_dot_issuer_with_its_o_path_is_kept() {
    let dot_issuer = format!("{ISSUER}/o");
    let rp = Rp::new(&[("ISSUER", &dot_issuer), ("BASE_URL", ISSUER)]).await;
    let discovery = rp.get("/o/.well-known/openid-configuration/").await;
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    let doc = discovery.json();
    assert_eq!(doc["issuer"], dot_issuer.as_str());
    for (member, path) in [
        ("authorization_endpoint", "/o/authorize/"),
        ("token_endpoint", "/o/token/"),
        ("introspection_endpoint", "/o/introspect/"),
        ("revocation_endpoint", "/o/revoke_token/"),
        ("userinfo_endpoint", "/o/userinfo/"),
        ("jwks_uri", "/o/.well-known/jwks.json"),
        ("end_session_endpoint", "/o/logout/"),
    ] {
        assert_eq!(doc[member], format!("{ISSUER}{path}"), "{member}");
    }
    // RFC 8414 §3's place for an issuer with a path: the same document.
    let rfc8414 = rp.get("/.well-known/oauth-authorization-server/o").await;
    assert_eq!(rfc8414.json(), doc);

    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(
            &rp.env,
            &format!(
                "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
                rp.app.id,
                shared::form::encode(REDIRECT)
            ),
        )
        .await;
    assert!(
        page.body.contains(&format!("action=\"{ISSUER}/o/authorize/")),
        "the sign-in form posts to the endpoint under BASE_URL: {}",
        page.body
    );
    let tokens = rp.sign_in(&mut browser, "openid", "n").await;
    let claims = part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["iss"], dot_issuer.as_str());
    let resource_server = rp.env.client("introspection").await;
    let introspected = rp
        .env
        .introspect(&resource_server, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspected.json()["iss"], dot_issuer.as_str());
}
