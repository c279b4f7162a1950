//! A certified relying party, not our own code: panva's `openid-client`
//! (npm, pinned in `tests/relying-party/`) discovers the standalone service
//! from its issuer URL alone, runs the code flow with PKCE, state and nonce
//! while this test signs the person in, validates the ID token (signature
//! against the JWKS, `iss`, `aud`, `nonce`, `at_hash`, times, RFC 9207's
//! `iss` in the callback), calls UserInfo and refreshes.

use std::process::Stdio;

use integration_tests::code_flow::Browser;
use integration_tests::TestEnv;
use serde_json::Value;
use shared::admin::{self, NewClient};
use shared::model::{GrantType, UserProfile};
use shared::scope::parse_scope;
use shared::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const REDIRECT: &str = "https://rp.example.com/callback";

fn relying_party_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("relying-party")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pinned npm relying parties (scripts/setup node): scripts/test runs it"]
async fn openid_client_signs_a_person_in_validates_the_id_token_and_refreshes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let env =
        TestEnv::with_config(&[("ISSUER", issuer.as_str()), ("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    let _served = env.serve_on(listener);
    let new = NewClient {
        name: "openid-client".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("openid profile email").unwrap(),
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
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let profile = UserProfile {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: "jane@example.com".into(),
        email_verified: false,
    };
    admin::set_profile(&env.admin, "jdoe", profile).await.unwrap();

    let mut rp = tokio::process::Command::new("node")
        .arg(relying_party_dir().join("openid-client.mjs"))
        .env("ISSUER", &issuer)
        .env("CLIENT_ID", &client.client_id)
        .env("CLIENT_SECRET", secret.unwrap())
        .env("REDIRECT_URI", REDIRECT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(rp.stdout.take().unwrap()).lines();
    let read = |line: Option<String>| -> Value {
        serde_json::from_str(&line.expect("the relying party answered (see its stderr)")).unwrap()
    };
    let first = read(
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    );
    let url = first["authorization_url"].as_str().unwrap();
    let path = url
        .strip_prefix(&issuer)
        .expect("the authorization endpoint discovered is this service's");

    // The person: signs in and consents.
    let mut browser = Browser::default();
    let page = browser.get(&env, path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let consent = browser
        .submit(&env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert!(
        consent.body.contains("Sign you in") && consent.body.contains("Your e-mail address"),
        "{}",
        consent.body
    );
    let back = browser.submit(&env, &consent, &[("decision", "allow")]).await;
    assert_eq!(back.status, 303);
    let callback = back.header("location").unwrap().to_owned();

    let mut stdin = rp.stdin.take().unwrap();
    stdin.write_all(format!("{callback}\n").as_bytes()).await.unwrap();
    drop(stdin);
    let result = read(
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    );
    let status = rp.wait().await.unwrap();
    assert!(status.success(), "openid-client failed: {result}");

    let user = env.admin.get_user("jdoe").await.unwrap().unwrap();
    let claims = &result["claims"];
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["sub"], user.subject.as_str());
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert_eq!(result["scope"], "email offline_access openid profile");
    assert_eq!(
        result["refreshed"]["scope"],
        "email offline_access openid profile"
    );
    let userinfo = &result["userinfo"];
    assert_eq!(userinfo["sub"], user.subject.as_str());
    assert_eq!(userinfo["name"], "Jane Doe");
    assert_eq!(userinfo["email"], "jane@example.com");
    assert_eq!(userinfo["email_verified"], false);
    assert_eq!(result["refreshed"]["has_access_token"], true);
    assert_eq!(result["refreshed"]["rotated"], true);
}
