//! The authorization code flow with PKCE through the token service's own
//! entry point, as a browser without JavaScript drives it: the client's
//! redirect to `/o/authorize/`, the sign-in and consent forms (cookies and
//! CSRF tokens carried as a browser carries them), the redirect back with
//! the code, and the code's redemption at `/o/token/`.

use std::collections::BTreeMap;

use integration_tests::code_flow::{redirected, Browser};
use integration_tests::{pkce_pair, Answer, TestClient, TestEnv, ISSUER};
use serde_json::Value;
use shared::admin::{self, NewClient};
use shared::model::GrantType;
use shared::scope::parse_scope;
use shared::store::Key;
use shared::AdminStore;

const REDIRECT: &str = "https://app.example.com/callback";

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
        let mut all = vec![
            ("PASSWORD_HASH_ITERATIONS", "1000"),
            (
                "SCOPES",
                r#"{"read": "Read your items", "write": "Change your items"}"#,
            ),
        ];
        all.extend_from_slice(vars);
        let env = TestEnv::with_config(&all).await;
        let app = Self::register(&env, false, false).await;
        let rs = env.client("introspection").await;
        admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
            .await
            .unwrap();
        Self { env, app, rs }
    }

    async fn register(env: &TestEnv, public: bool, skip_consent: bool) -> TestClient {
        let new = NewClient {
            name: "Example App".into(),
            grants: [GrantType::AuthorizationCode].into(),
            scopes: parse_scope("read write").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![REDIRECT.into(), "http://127.0.0.1:8765/cb".into()],
            public,
            skip_consent,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: shared::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        };
        let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
        TestClient {
            id: client.client_id,
            secret: secret.unwrap_or_default(),
        }
    }

    fn authorize_path(&self, client: &TestClient, challenge: &str, extra: &str) -> String {
        format!(
            "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&state=st%3D1&code_challenge={challenge}&code_challenge_method=S256{extra}",
            client.id,
            shared::form::encode(REDIRECT)
        )
    }

    /// Signs `jdoe` in and approves: the redirect back with the code.
    async fn code(
        &self,
        browser: &mut Browser,
        client: &TestClient,
        challenge: &str,
    ) -> BTreeMap<String, String> {
        let page = browser
            .get(&self.env, &self.authorize_path(client, challenge, ""))
            .await;
        if page.status == 302 {
            // Signed in and approved before.
            return redirected(&page, REDIRECT);
        }
        assert_eq!(page.status, 200, "{}", page.body);
        let next = if page.body.contains("name=\"password\"") {
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
        let done = if next.status == 200 {
            assert!(next.body.contains("Allow access?"), "{}", next.body);
            browser.submit(&self.env, &next, &[("decision", "allow")]).await
        } else {
            next
        };
        redirected(&done, REDIRECT)
    }

    async fn redeem(&self, client: &TestClient, code: &str, verifier: &str) -> Answer {
        let form = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
            shared::form::encode(REDIRECT)
        );
        let request = self.env.post("/o/token/", &form);
        if client.secret.is_empty() {
            self.env
                .post("/o/token/", &format!("{form}&client_id={}", client.id))
                .send()
                .await
        } else {
            request.basic(&client.id, &client.secret).send().await
        }
    }
}

#[tokio::test]
async fn a_user_signs_in_consents_and_the_client_redeems_the_code() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (verifier, challenge) = pkce_pair();

    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Example App"), "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(browser.cookies.contains_key("__Host-csrf"));
    assert!(page.header_all("set-cookie")[0].contains("Secure; HttpOnly; SameSite=Lax"));

    let consent = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("Read your items") && consent.body.contains("jdoe"),
        "{}",
        consent.body
    );
    assert!(
        !consent.body.contains("registered itself"),
        "an administrator registered this client"
    );
    assert!(browser.cookies.contains_key("__Host-session"));

    let back = browser.submit(&f.env, &consent, &[("decision", "allow")]).await;
    assert_eq!(back.status, 303);
    let params = redirected(&back, REDIRECT);
    assert_eq!(params["state"], "st=1");
    assert_eq!(params["iss"], ISSUER);

    let tokens = f.redeem(&f.app, &params["code"], &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens: Value = tokens.json();
    assert_eq!(tokens["scope"], "read");
    let access = tokens["access_token"].as_str().unwrap();
    let seen = f.env.introspect(&f.rs, access).await.json();
    assert_eq!(
        (seen["active"].clone(), seen["username"].clone()),
        (Value::Bool(true), "jdoe".into())
    );

    let refreshed = f
        .env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed_access = refreshed.json()["access_token"].as_str().unwrap().to_owned();

    // The code again: refused, and every token issued from it revoked.
    f.redeem(&f.app, &params["code"], &verifier)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        f.env.introspect(&f.rs, &refreshed_access).await.json()["active"],
        false
    );

    // A second visit: signed in already, the same scope approved already;
    // at the cost of the client, the session, the user with their approval
    // (one read) and the code's write.
    let (_, challenge) = pkce_pair();
    f.env.calls.take();
    let again = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    assert_eq!(again.status, 302, "{}", again.body);
    assert!(redirected(&again, REDIRECT).contains_key("code"));
    assert_eq!(f.env.calls.take(), (3, 1, 0), "(reads, writes, revocations)");
    // A wider scope asks again.
    let wider = browser
        .get(
            &f.env,
            &f.authorize_path(&f.app, &challenge, "")
                .replace("scope=read", "scope=read+write"),
        )
        .await;
    assert!(wider.body.contains("Change your items"), "{}", wider.body);
}

#[tokio::test]
async fn metadata_announces_the_authorization_endpoint_and_pkce_pair() {
    let f = Fixture::new().await;
    let doc = f
        .env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/o/authorize/"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&"authorization_code".into()));
}

#[tokio::test]
async fn a_wrong_password_says_nothing_of_which_part_was_wrong_and_repeats_lock() {
    let f = Fixture::with(&[("SIGN_IN_LOCKOUT_ATTEMPTS", "3")]).await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    let strip = |body: &str, user: &str| body.replace(user, "USER");
    let wrong_password = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "nope")])
        .await;
    let unknown_user = browser
        .submit(&f.env, &page, &[("username", "nobody"), ("password", "nope")])
        .await;
    assert!(wrong_password.body.contains("The username or password is wrong."));
    assert_eq!(
        strip(&wrong_password.body, "jdoe"),
        strip(&unknown_user.body, "nobody")
    );
    assert!(!browser.cookies.contains_key("__Host-session"));

    // Third failure: locked, for an existing user and an unknown one alike,
    // and then even the right password is refused.
    for user in ["jdoe", "nobody"] {
        browser
            .submit(&f.env, &page, &[("username", user), ("password", "nope")])
            .await;
        let locked = browser
            .submit(&f.env, &page, &[("username", user), ("password", "nope")])
            .await;
        assert!(
            locked.body.contains("Too many failed sign-ins"),
            "{user}: {}",
            locked.body
        );
    }
    let right = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert!(right.body.contains("Too many failed sign-ins"), "{}", right.body);
    // A lock lasts SIGN_IN_LOCKOUT_SECONDS (900 by default).
    f.env.clock.advance(901);
    let after = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert!(after.body.contains("Allow access?"), "{}", after.body);
}

#[tokio::test]
async fn a_tampered_csrf_token_is_refused() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    let forged = browser
        .submit(
            &f.env,
            &page,
            &[
                ("username", "jdoe"),
                ("password", "s3cret pw"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(!browser.cookies.contains_key("__Host-session"));
    // Without the cookie (another site posting the form): refused too.
    browser.cookies.remove("__Host-csrf");
    let cross_site = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert_eq!(cross_site.status, 403);
}

#[tokio::test]
async fn untrusted_clients_and_redirect_uris_get_a_page_never_a_redirect() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let path = f.authorize_path(&f.app, &challenge, "");
    for bad in [
        path.replace(&f.app.id, "unknown-client"),
        path.replace(
            &shared::form::encode(REDIRECT),
            &shared::form::encode("https://evil.example/cb"),
        ),
        path.replace(
            &shared::form::encode(REDIRECT),
            &shared::form::encode(&format!("{REDIRECT}/extra")),
        ),
    ] {
        let answer = browser.get(&f.env, &bad).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(answer.header("location").is_none(), "{bad}");
        assert!(answer.body.contains("cannot be completed"), "{}", answer.body);
    }
}

#[tokio::test]
async fn other_errors_go_back_to_the_client_with_state_and_issuer() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let path = f.authorize_path(&f.app, &challenge, "");
    for (bad, error) in [
        (
            path.replace("&code_challenge_method=S256", "&code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            path.replace(&format!("&code_challenge={challenge}"), ""),
            "invalid_request",
        ),
        (
            path.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (path.replace("scope=read", "scope=admin"), "invalid_scope"),
    ] {
        let answer = browser.get(&f.env, &bad).await;
        assert_eq!(answer.status, 302, "{bad}: {}", answer.body);
        let params = redirected(&answer, REDIRECT);
        assert_eq!(params["error"], error, "{bad}");
        assert_eq!(
            (params["state"].as_str(), params["iss"].as_str()),
            ("st=1", ISSUER)
        );
    }
    // Denied at the consent page.
    let page = browser.get(&f.env, &path).await;
    let consent = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    let denied = browser.submit(&f.env, &consent, &[("decision", "deny")]).await;
    assert_eq!(redirected(&denied, REDIRECT)["error"], "access_denied");
}

#[tokio::test]
async fn codes_are_bound_to_client_redirect_uri_verifier_and_time() {
    let f = Fixture::new().await;
    let other = Fixture::register(&f.env, false, true).await;
    let mut browser = Browser::default();

    let (verifier, challenge) = pkce_pair();
    let code = f.code(&mut browser, &f.app, &challenge).await["code"].clone();
    f.redeem(&other, &code, &verifier)
        .await
        .assert_error(400, "invalid_grant");
    let (wrong_verifier, _) = pkce_pair();
    f.redeem(&f.app, &code, &wrong_verifier)
        .await
        .assert_error(400, "invalid_grant");
    let wrong_uri = f
        .env
        .post(
            "/o/token/",
            &format!("grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcb&code_verifier={verifier}"),
        )
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    wrong_uri.assert_error(400, "invalid_grant");
    // None of that spent the code.
    assert_eq!(f.redeem(&f.app, &code, &verifier).await.status, 200);

    let (verifier, challenge) = pkce_pair();
    let code = f.code(&mut browser, &f.app, &challenge).await["code"].clone();
    f.env.clock.advance(61);
    f.redeem(&f.app, &code, &verifier)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn public_clients_prove_themselves_with_pkce_alone() {
    let f = Fixture::new().await;
    let spa = Fixture::register(&f.env, true, true).await;
    let mut browser = Browser::default();
    let (verifier, challenge) = pkce_pair();
    // Consent skipped: straight back with the code after signing in.
    let code = f.code(&mut browser, &spa, &challenge).await["code"].clone();
    let tokens = f.redeem(&spa, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let refreshed = f
        .env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&client_id={}&refresh_token={}",
                spa.id,
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .send()
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    // A confidential client cannot leave its secret out, nor a public one introspect.
    f.env
        .post(
            "/o/token/",
            &format!(
                "grant_type=authorization_code&client_id={}&code=x&redirect_uri=x&code_verifier=x",
                f.app.id
            ),
        )
        .send()
        .await
        .assert_error(401, "invalid_client");
    f.env
        .post("/o/introspect/", &format!("client_id={}&token=x", spa.id))
        .send()
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_revoked_grants_end_sessions() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    f.code(&mut browser, &f.app, &challenge).await;
    // Signed in: the next request skips the sign-in page.
    assert_eq!(
        browser
            .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
            .await
            .status,
        302
    );

    let (out, form) = browser.sign_out(&f.env).await;
    assert!(form.body.contains("Signed in as jdoe"), "{}", form.body);
    assert!(out.body.contains("Signed out"), "{}", out.body);
    assert!(!browser.cookies.contains_key("__Host-session"));
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    assert!(page.body.contains("name=\"password\""));

    // Signed in again, then the administrator ends the user's grants.
    f.code(&mut browser, &f.app, &challenge).await;
    f.env
        .admin
        .update_user("jdoe", shared::store::UserChange::RevokeGrants)
        .await
        .unwrap();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
}

/// RFC 8252 §8.6: a public client redirecting to a loopback address or a
/// private-use scheme cannot prove who it is (any app on the device can
/// claim that redirect), so its requests are processed as if nothing had
/// been approved: the user is asked every time, whatever `--skip-consent`
/// or an earlier approval says. A public client on an https redirect URI
/// (a single-page app on its own origin) is identified by it.
#[tokio::test]
async fn public_clients_on_device_redirects_always_ask_the_user() {
    let f = Fixture::new().await;
    for redirect in ["http://127.0.0.1:8765/cb", "com.example.app:/oauth2redirect"] {
        let new = NewClient {
            name: "Native App".into(),
            grants: [GrantType::AuthorizationCode].into(),
            scopes: parse_scope("read").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![redirect.into()],
            public: true,
            skip_consent: true,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: shared::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        };
        let (client, _) = admin::create_client(&f.env.admin, new, 0).await.unwrap();
        let path = |challenge: &str| {
            format!(
                "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&code_challenge={challenge}&code_challenge_method=S256",
                client.client_id,
                shared::form::encode(redirect)
            )
        };
        let mut browser = Browser::default();
        let (_, challenge) = pkce_pair();
        let page = browser.get(&f.env, &path(&challenge)).await;
        let consent = browser
            .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
            .await;
        assert!(
            consent.body.contains("Allow access?"),
            "{redirect}: signed in, the user is still asked: {} {}",
            consent.status,
            consent.body
        );
        let back = browser.submit(&f.env, &consent, &[("decision", "allow")]).await;
        assert!(redirected(&back, redirect).contains_key("code"));
        // Signed in and approved before: asked again, never a bare redirect.
        let (_, challenge) = pkce_pair();
        let again = browser.get(&f.env, &path(&challenge)).await;
        assert_eq!(again.status, 200, "{redirect}: {:?}", again.header("location"));
        assert!(again.body.contains("Allow access?"), "{}", again.body);
    }
}

/// RFC 6749 §4.1.2: a code presented again revokes what it issued, also
/// after the code's own 60 s lifetime, for as long as those tokens live.
#[tokio::test]
async fn a_code_replayed_after_its_lifetime_still_revokes_its_tokens() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let code = f.code(&mut browser, &f.app, &challenge).await["code"].clone();
    let tokens = f.redeem(&f.app, &code, &verifier).await.json();
    let access = tokens["access_token"].as_str().unwrap();
    f.env.clock.advance(600);
    assert_eq!(f.env.introspect(&f.rs, access).await.json()["active"], true);
    f.redeem(&f.app, &code, &verifier)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        f.env.introspect(&f.rs, access).await.json()["active"],
        false,
        "the replay ten minutes on revoked nothing"
    );
    let refresh = f
        .env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&f.app.id, &f.app.secret)
        .send()
        .await;
    refresh.assert_error(400, "invalid_grant");
}

/// Signing in starts afresh: the browser's previous session ends (its
/// stored item goes) and the CSRF token is a new one; signing out ends both.
#[tokio::test]
async fn signing_in_replaces_the_session_and_the_csrf_token_and_signing_out_ends_both() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    let csrf_before = browser.cookies["__Host-csrf"].clone();
    browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    let first_session = browser.cookies["__Host-session"].clone();
    let csrf_signed_in = browser.cookies["__Host-csrf"].clone();
    assert_ne!(csrf_before, csrf_signed_in, "sign-in kept the CSRF token");
    let session_key = |value: &str| Key::Session(shared::secret::sha256_hex(value));
    assert!(f.env.holds(&session_key(&first_session)).await);

    // The session ends (the administrator ends jdoe's grants); signing in
    // again replaces the old session's item, not only the cookie.
    f.env
        .admin
        .update_user("jdoe", shared::store::UserChange::RevokeGrants)
        .await
        .unwrap();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    let second_session = browser.cookies["__Host-session"].clone();
    assert_ne!(first_session, second_session);
    assert!(
        !f.env.holds(&session_key(&first_session)).await,
        "the previous session's item is still stored"
    );
    assert_ne!(browser.cookies["__Host-csrf"], csrf_signed_in);

    // Signing out ends the session and the CSRF token with it.
    let (out, _) = browser.sign_out(&f.env).await;
    assert!(!browser.cookies.contains_key("__Host-session"));
    assert!(
        !browser.cookies.contains_key("__Host-csrf"),
        "signing out left the CSRF token: {:?}",
        out.header_all("set-cookie")
    );
    assert!(!f.env.holds(&session_key(&second_session)).await);
}

/// The CSRF cookie of a browser nobody has signed in on lives as long as a
/// sign-in form needs, not a day; once signed in, as long as the session.
#[tokio::test]
async fn csrf_cookies_live_no_longer_than_what_they_protect() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&f.env, &f.authorize_path(&f.app, &challenge, ""))
        .await;
    let max_age = |answer: &Answer, name: &str| -> u64 {
        let set = answer
            .header_all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie set"));
        set.split("Max-Age=").nth(1).unwrap().parse().unwrap()
    };
    assert!(
        max_age(&page, "__Host-csrf") <= 3600,
        "{:?}",
        page.header_all("set-cookie")
    );
    let consent = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert_eq!(
        max_age(&consent, "__Host-csrf"),
        max_age(&consent, "__Host-session")
    );
}

/// A new approval adds to what the user approved before: approving `write`
/// does not forget `read`.
#[tokio::test]
async fn approvals_add_up() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (_, challenge) = pkce_pair();
    f.code(&mut browser, &f.app, &challenge).await; // approves read
    let path = |scope: &str| {
        f.authorize_path(&f.app, &challenge, "")
            .replace("scope=read", &format!("scope={scope}"))
    };
    let write = browser.get(&f.env, &path("write")).await;
    assert!(write.body.contains("Change your items"), "{}", write.body);
    let back = browser.submit(&f.env, &write, &[("decision", "allow")]).await;
    assert!(redirected(&back, REDIRECT).contains_key("code"));
    let both = browser.get(&f.env, &path("read+write")).await;
    assert_eq!(
        both.status, 302,
        "read and write were both approved, yet the user is asked again: {}",
        both.body
    );
}

/// Public clients may revoke their tokens with their client id alone, and
/// the metadata says so (`none`).
#[tokio::test]
async fn public_clients_revoke_and_the_metadata_says_so() {
    let f = Fixture::new().await;
    let doc = f
        .env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert!(
        doc["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"none".into()),
        "{doc}"
    );
    let spa = Fixture::register(&f.env, true, true).await;
    let mut browser = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let code = f.code(&mut browser, &spa, &challenge).await["code"].clone();
    let tokens = f.redeem(&spa, &code, &verifier).await.json();
    let access = tokens["access_token"].as_str().unwrap();
    let revoked = f
        .env
        .post(
            "/o/revoke_token/",
            &format!("client_id={}&token={access}", spa.id),
        )
        .send()
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(f.env.introspect(&f.rs, access).await.json()["active"], false);
}

/// A public client has no secret: whatever its stored grant types say (an
/// item written by hand or by an older version), it gets tokens through
/// the authorization code grant only, never from its client id alone.
#[tokio::test]
async fn a_public_client_never_mints_tokens_from_its_id_alone() {
    let f = Fixture::new().await;
    let client = shared::model::Client {
        client_id: "publicbyhand".into(),
        name: "stored by hand".into(),
        auth: shared::ClientAuth::Public,
        grant_types: [GrantType::ClientCredentials, GrantType::Password].into(),
        scopes: parse_scope("read").unwrap(),
        default_scopes: parse_scope("read").unwrap(),
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
    f.env.admin.create_client(&client).await.unwrap();
    for form in [
        "grant_type=client_credentials&client_id=publicbyhand",
        "grant_type=password&client_id=publicbyhand&username=jdoe&password=s3cret+pw",
    ] {
        let answer = f.env.post("/o/token/", form).send().await;
        assert!(
            answer.status == 400 || answer.status == 401,
            "{form}: {} {}",
            answer.status,
            answer.body
        );
        assert!(answer.json().get("access_token").is_none());
    }
}

/// Consent with choices: every scope asked for is offered ticked; what the
/// person unticks is not granted, the client learns it from `scope` in
/// the token answer, and the next request for it asks again. Nothing
/// ticked is a denial; a box for a scope not asked for grants nothing.
#[tokio::test]
async fn the_person_grants_only_the_scopes_left_ticked() {
    let f = Fixture::new().await;
    let mut browser = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let both = f
        .authorize_path(&f.app, &challenge, "")
        .replace("scope=read", "scope=read+write");
    let page = browser.get(&f.env, &both).await;
    let consent = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    for scope in ["read", "write"] {
        assert!(
            consent.body.contains(&format!(
                "<input type=\"checkbox\" name=\"granted_scope\" value=\"{scope}\" checked>"
            )),
            "{scope} is offered ticked: {}",
            consent.body
        );
    }
    // Write unticked; a box forged for a scope not asked for is ignored.
    let mut fields = integration_tests::code_flow::hidden_fields(&consent.body);
    fields.extend(
        [
            ("granted_scope", "read"),
            ("granted_scope", "admin"),
            ("decision", "allow"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let back = browser.post_form(&f.env, &fields).await;
    let code = redirected(&back, REDIRECT)["code"].clone();
    let tokens = f.redeem(&f.app, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.json()["scope"], "read", "the client learns what it got");
    let seen = f
        .env
        .introspect(&f.rs, tokens.json()["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(seen["scope"], "read");

    // Asked again for both: the approval of read alone does not cover it.
    let (_, challenge) = pkce_pair();
    let again = browser
        .get(
            &f.env,
            &f.authorize_path(&f.app, &challenge, "")
                .replace("scope=read", "scope=read+write"),
        )
        .await;
    assert!(again.body.contains("Allow access?"), "{}", again.body);
    // Nothing left ticked: a denial.
    let mut fields = integration_tests::code_flow::hidden_fields(&again.body);
    fields.push(("decision".into(), "allow".into()));
    let denied = browser.post_form(&f.env, &fields).await;
    assert_eq!(redirected(&denied, REDIRECT)["error"], "access_denied");

    // openid is the sign-in itself: shown ticked, not the person's to untick.
    let new = NewClient {
        name: "Relying Party".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("openid write").unwrap(),
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
    let (rp, secret) = admin::create_client(&f.env.admin, new, 0).await.unwrap();
    let rp = TestClient {
        id: rp.client_id,
        secret: secret.unwrap(),
    };
    let (verifier, challenge) = pkce_pair();
    let signing_in = browser
        .get(
            &f.env,
            &f.authorize_path(&rp, &challenge, "")
                .replace("scope=read", "scope=openid+write"),
        )
        .await;
    assert!(
        signing_in
            .body
            .contains("<input type=\"checkbox\" checked disabled><input type=\"hidden\" name=\"granted_scope\" value=\"openid\">"),
        "{}",
        signing_in.body
    );
    let mut fields = integration_tests::code_flow::hidden_fields(&signing_in.body);
    fields.push(("decision".into(), "allow".into()));
    let back = browser.post_form(&f.env, &fields).await;
    let code = redirected(&back, REDIRECT)["code"].clone();
    let tokens = f.redeem(&rp, &code, &verifier).await.json();
    assert_eq!(tokens["scope"], "openid");
    assert!(tokens["id_token"].is_string(), "{tokens}");
}
