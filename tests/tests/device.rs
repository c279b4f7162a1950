//! The device authorization grant (RFC 8628) through the token service's
//! entry point: a device asks for codes, polls (pending, slow down); a
//! person signs in at the device page, enters the code, unticks a scope and
//! approves; the device's next poll gets tokens for what was approved, with
//! a refresh token, once. Denial, expiry, wrong codes (limited per user as
//! passwords are), another client's poll and every bad input are clear
//! errors or pages, and nothing is stored.

use integration_tests::code_flow::Browser;
use integration_tests::{Answer, TestClient, TestEnv};
use serde_json::Value;
use shared::admin;
use shared::form::encode;
use shared::model::GrantType;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn env() -> TestEnv {
    let env = TestEnv::with_config(&[
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        (
            "SCOPES",
            r#"{"read": "Read your items", "write": "Change your items"}"#,
        ),
    ])
    .await;
    for user in ["jdoe", "ann"] {
        admin::create_user(&env.admin, user, "s3cret pw", 1000, 0)
            .await
            .unwrap();
    }
    env
}

async fn device_client(env: &TestEnv) -> TestClient {
    env.client_with("read write", "read", None, &[GrantType::DeviceCode])
        .await
}

async fn start(env: &TestEnv, client: &TestClient, form: &str) -> Answer {
    env.post("/o/device-authorization/", form)
        .basic(&client.id, &client.secret)
        .send()
        .await
}

async fn poll(env: &TestEnv, client: &TestClient, device_code: &str) -> Answer {
    env.post(
        "/o/token/",
        &format!(
            "grant_type={}&device_code={}",
            encode(DEVICE_GRANT),
            encode(device_code)
        ),
    )
    .basic(&client.id, &client.secret)
    .send()
    .await
}

/// Signs `username` in at the device page from a fresh browser; the code form.
async fn signed_in(env: &TestEnv, username: &str) -> (Browser, Answer) {
    let mut browser = Browser::default();
    let page = browser.get(env, "/o/device/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("to connect a device"), "{}", page.body);
    let form = browser
        .submit(env, &page, &[("username", username), ("password", "s3cret pw")])
        .await;
    assert!(
        form.body.contains("Enter the code your device shows"),
        "{}",
        form.body
    );
    (browser, form)
}

#[tokio::test]
async fn a_person_connects_a_device_which_gets_the_scopes_left_ticked() {
    let env = env().await;
    let device = device_client(&env).await;
    let started = start(&env, &device, "scope=read+write").await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.header("cache-control"), Some("no-store"));
    let codes = started.json();
    let (device_code, user_code) = (
        codes["device_code"].as_str().unwrap().to_owned(),
        codes["user_code"].as_str().unwrap().to_owned(),
    );
    let page = format!("{}/o/device/", integration_tests::ISSUER);
    assert_eq!(codes["verification_uri"], page.as_str());
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{page}?user_code={user_code}").as_str()
    );
    assert_eq!(
        (codes["expires_in"].as_u64(), codes["interval"].as_u64()),
        (Some(900), Some(5))
    );
    assert!(device_code.len() >= 43, "256 bits");
    assert!(
        user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && user_code
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)),
        "{user_code}"
    );
    // Nothing of the codes is stored in clear.
    assert!(!env.dump().await.contains(&device_code));

    // Polling: pending, too soon, then pending again after the longer interval.
    poll(&env, &device, &device_code)
        .await
        .assert_error(400, "authorization_pending");
    poll(&env, &device, &device_code)
        .await
        .assert_error(400, "slow_down");
    env.clock.advance(9);
    poll(&env, &device, &device_code)
        .await
        .assert_error(400, "slow_down");
    env.clock.advance(15);
    poll(&env, &device, &device_code)
        .await
        .assert_error(400, "authorization_pending");

    // The person signs in, types the code as people do, and unticks write.
    let (mut browser, form) = signed_in(&env, "jdoe").await;
    let typed = user_code.to_lowercase().replace('-', " ");
    let consent = browser.submit(&env, &form, &[("user_code", &typed)]).await;
    assert!(
        consent.body.contains("Read your items") && consent.body.contains("Change your items"),
        "{}",
        consent.body
    );
    assert!(
        consent.body.contains("test client"),
        "the client is named: {}",
        consent.body
    );
    let fields: Vec<(String, String)> = integration_tests::code_flow::hidden_fields(&consent.body)
        .into_iter()
        .chain([
            ("granted_scope".to_owned(), "read".to_owned()),
            ("decision".to_owned(), "allow".to_owned()),
        ])
        .collect();
    let done = browser.post_form_to(&env, "/o/device/", &fields).await;
    assert!(done.body.contains("Device connected"), "{}", done.body);

    // The device's next poll gets what was approved, and a refresh token.
    env.clock.advance(20);
    let tokens = poll(&env, &device, &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    assert_eq!(tokens["scope"], "read");
    let access = tokens["access_token"].as_str().unwrap();
    let caller = env.client("introspection").await;
    let seen = env.introspect(&caller, access).await.json();
    assert_eq!(
        (
            seen["active"].clone(),
            seen["username"].clone(),
            seen["scope"].clone()
        ),
        (Value::from(true), Value::from("jdoe"), Value::from("read"))
    );
    let refreshed = env
        .post(
            "/o/token/",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                tokens["refresh_token"].as_str().unwrap()
            ),
        )
        .basic(&device.id, &device.secret)
        .send()
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed = refreshed.json();

    // Redeemed once: polled again, refused, and what it gave is revoked.
    poll(&env, &device, &device_code)
        .await
        .assert_error(400, "invalid_grant");
    let seen = env
        .introspect(&caller, refreshed["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(seen["active"], false);

    // The code no longer leads anywhere.
    let again = browser.submit(&env, &form, &[("user_code", &user_code)]).await;
    assert!(
        again.body.contains("not one a device is showing now"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn the_link_brings_the_code_and_a_denial_or_the_clock_ends_it() {
    let env = env().await;
    let device = device_client(&env).await;
    let codes = start(&env, &device, "").await.json();
    let device_code = codes["device_code"].as_str().unwrap();
    let complete = codes["verification_uri_complete"].as_str().unwrap();
    let path = &complete[complete.find("/o/device/").unwrap()..];

    // Signed in first, then the link: straight to what the device asks (the default scope).
    let (mut browser, _) = signed_in(&env, "jdoe").await;
    let consent = browser.get(&env, path).await;
    assert!(
        consent.body.contains("Read your items") && !consent.body.contains("Change your items"),
        "{}",
        consent.body
    );
    let denied = browser.submit(&env, &consent, &[("decision", "deny")]).await;
    assert!(denied.body.contains("Request denied"), "{}", denied.body);
    poll(&env, &device, device_code)
        .await
        .assert_error(400, "access_denied");
    // Decided once: the same form again is refused.
    let twice = browser.submit(&env, &consent, &[("decision", "allow")]).await;
    assert_eq!(twice.status, 400);
    assert!(
        twice.body.contains("expired or was already answered"),
        "{}",
        twice.body
    );

    // Another device, left until its code expires: expired_token, and the page refuses it.
    let codes = start(&env, &device, "").await.json();
    let device_code = codes["device_code"].as_str().unwrap();
    let consent = browser
        .get(
            &env,
            &format!("/o/device/?user_code={}", codes["user_code"].as_str().unwrap()),
        )
        .await;
    env.clock.advance(900);
    poll(&env, &device, device_code)
        .await
        .assert_error(400, "expired_token");
    let late = browser.submit(&env, &consent, &[("decision", "allow")]).await;
    assert!(
        late.body.contains("expired or was already answered"),
        "{}",
        late.body
    );
    poll(&env, &device, device_code)
        .await
        .assert_error(400, "expired_token");
}

#[tokio::test]
async fn codes_typed_are_limited_per_user_and_a_code_is_its_client_s_alone() {
    let env = env().await;
    let device = device_client(&env).await;
    let codes = start(&env, &device, "").await.json();
    let user_code = codes["user_code"].as_str().unwrap();
    let (mut jdoe, jdoe_form) = signed_in(&env, "jdoe").await;
    for wrong in [
        "BBBB-BBBB",
        "not a code",
        &"X".repeat(10_000),
        "BCDF-GHJ",
        "CCCC-CCCC",
    ] {
        let page = jdoe.submit(&env, &jdoe_form, &[("user_code", wrong)]).await;
        assert!(
            page.body.contains("not one a device is showing now"),
            "{}",
            page.body
        );
    }
    // Five entries spent the window's attempts: a sixth, even right, is refused.
    let sixth = jdoe.submit(&env, &jdoe_form, &[("user_code", user_code)]).await;
    assert!(sixth.body.contains("Too many codes entered"), "{}", sixth.body);
    // Another person is not held back, and jdoe may still sign in.
    let (mut ann, ann_form) = signed_in(&env, "ann").await;
    let consent = ann.submit(&env, &ann_form, &[("user_code", user_code)]).await;
    assert!(consent.body.contains("Read your items"), "{}", consent.body);
    signed_in(&env, "jdoe").await;

    // Approved by ann: another client polling with the device code gets nothing.
    let done = ann.submit(&env, &consent, &[("decision", "allow")]).await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    let device_code = codes["device_code"].as_str().unwrap();
    let stranger = device_client(&env).await;
    poll(&env, &stranger, device_code)
        .await
        .assert_error(400, "invalid_grant");
    let tokens = poll(&env, &device, device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let caller = env.client("introspection").await;
    let seen = env
        .introspect(&caller, tokens.json()["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(seen["username"], "ann", "the token is the approver's");

    // After the window, jdoe may enter codes again.
    env.clock.advance(900);
    let later = start_and_approve(&env, &device, &mut jdoe).await;
    assert_eq!(poll(&env, &device, &later).await.status, 200);
}

/// A device code of `device`'s, not yet approved.
async fn codes_device(env: &TestEnv, device: &TestClient) -> String {
    start(env, device, "").await.json()["device_code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A device code of `device`'s that the person in `browser` approved.
async fn start_and_approve(env: &TestEnv, device: &TestClient, browser: &mut Browser) -> String {
    let codes = start(env, device, "").await.json();
    let consent = browser
        .get(
            env,
            &format!("/o/device/?user_code={}", codes["user_code"].as_str().unwrap()),
        )
        .await;
    let done = browser.submit(env, &consent, &[("decision", "allow")]).await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    codes["device_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_requests_at_the_device_endpoints_are_clear_errors() {
    let env = env().await;
    let device = device_client(&env).await;
    let without_grant = env.client("read").await;
    start(&env, &without_grant, "")
        .await
        .assert_error(400, "unauthorized_client");
    start(&env, &device, "scope=admin")
        .await
        .assert_error(400, "invalid_scope");
    start(&env, &device, "resource=https%3A%2F%2Fnowhere.example%2F")
        .await
        .assert_error(400, "invalid_target");
    let anonymous = env.post("/o/device-authorization/", "scope=read").send().await;
    anonymous.assert_error(401, "invalid_client");
    let wrong_secret = env
        .post("/o/device-authorization/", "")
        .basic(&device.id, "wrong")
        .send()
        .await;
    wrong_secret.assert_error(401, "invalid_client");
    let get = env.request("GET", "/o/device-authorization/").send().await;
    assert_eq!(get.status, 405);

    let device_code = codes_device(&env, &device).await;
    for code in ["unknown", "", &"x".repeat(15_000)] {
        let answer = poll(&env, &device, code).await;
        assert!(matches!(answer.status, 400 | 413), "{code:.20}: {}", answer.body);
    }
    poll(&env, &device, "made-up")
        .await
        .assert_error(400, "invalid_grant");
    let unauthenticated = env
        .post(
            "/o/token/",
            &format!("grant_type={}&device_code={device_code}", encode(DEVICE_GRANT)),
        )
        .send()
        .await;
    unauthenticated.assert_error(401, "invalid_client");
    // The device code is not an authorization code.
    let as_code = env
        .post(
            "/o/token/",
            &format!("grant_type=authorization_code&code={device_code}&code_verifier=x"),
        )
        .basic(&device.id, &device.secret)
        .send()
        .await;
    assert_eq!(as_code.status, 400, "{}", as_code.body);

    // The page: a forged form is refused; a consent for no device is refused.
    let forged = env
        .post("/o/device/", "step=code&user_code=BCDF-GHJK")
        .send()
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let (mut browser, form) = signed_in(&env, "jdoe").await;
    let mut fields = integration_tests::code_flow::hidden_fields(&form.body);
    fields.retain(|(name, _)| name == "csrf");
    fields.extend([
        ("step".to_owned(), "consent".to_owned()),
        ("device".to_owned(), "0".repeat(64)),
        ("decision".to_owned(), "allow".to_owned()),
    ]);
    let nothing = browser.post_form_to(&env, "/o/device/", &fields).await;
    assert_eq!(nothing.status, 400);
    assert!(nothing.body.contains("expired or was already answered"));
}
