//! Redirect URIs as a browser parses them (WHATWG URL rules): what may be
//! registered, what a request may name, where the code goes. Loopback
//! redirect URIs match at any port (RFC 8252 §7.3), and a token request
//! repeats `redirect_uri` only if the authorization request sent it
//! (RFC 6749 §4.1.3).

use std::collections::BTreeMap;

use integration_tests::code_flow::{redirected, Browser};
use integration_tests::{pkce_pair, Answer, TestClient, TestEnv};
use shared::admin::{self, AdminError, NewClient};
use shared::model::GrantType;
use shared::scope::parse_scope;

/// URIs a browser would send somewhere else than they seem to name, or that
/// carry what a redirect URI must not: refused at registration.
const DECEPTIVE: [&str; 8] = [
    // A browser reads `\` as `/`: this goes to evil.example, in clear.
    "http://evil.example\\@127.0.0.1/cb",
    // Userinfo: the host is evil.example.
    "https://app.example.com@evil.example/cb",
    "https://user:pass@app.example.com/cb",
    "https://app.example.com\\cb",
    // Non-ASCII (a lookalike host).
    "https://аpp.example.com/cb",
    "https://app.example.com/cb#fragment",
    "http://127.0.0.1.evil.example/cb",
    "javascript:alert(1)//",
];

fn new_client(redirect_uris: &[&str], public: bool, skip_consent: bool) -> NewClient {
    NewClient {
        name: "Example App".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("read").unwrap(),
        default_scopes: parse_scope("read").unwrap(),
        token_lifetime: None,
        redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
        public,
        skip_consent,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
    }
}

async fn register(env: &TestEnv, redirect_uris: &[&str]) -> TestClient {
    let (client, secret) = admin::create_client(&env.admin, new_client(redirect_uris, false, false), 0)
        .await
        .unwrap();
    TestClient {
        id: client.client_id,
        secret: secret.unwrap(),
    }
}

async fn env() -> TestEnv {
    let env = TestEnv::with_config(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    env
}

fn authorize_path(client: &TestClient, redirect_uri: Option<&str>, challenge: &str) -> String {
    let redirect = redirect_uri
        .map(|uri| format!("&redirect_uri={}", shared::form::encode(uri)))
        .unwrap_or_default();
    format!(
        "/o/authorize/?response_type=code&client_id={}{redirect}&scope=read&state=xyz&code_challenge={challenge}&code_challenge_method=S256",
        client.id
    )
}

/// Signs `jdoe` in and approves (unless approved before); the answer that
/// redirects back.
async fn sign_in_and_approve(env: &TestEnv, path: &str) -> Answer {
    let mut browser = Browser::default();
    let page = browser.get(env, path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let next = browser
        .submit(env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    if next.status == 303 {
        return next;
    }
    assert!(
        next.body.contains("Allow access?"),
        "{} {}",
        next.status,
        next.body
    );
    browser.submit(env, &next, &[("decision", "allow")]).await
}

async fn redeem(
    env: &TestEnv,
    client: &TestClient,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: &str,
) -> Answer {
    let redirect = redirect_uri
        .map(|uri| format!("&redirect_uri={}", shared::form::encode(uri)))
        .unwrap_or_default();
    env.post(
        "/o/token/",
        &format!("grant_type=authorization_code&code={code}{redirect}&code_verifier={verifier}"),
    )
    .basic(&client.id, &client.secret)
    .send()
    .await
}

#[tokio::test]
async fn deceptive_redirect_uris_are_refused_at_registration() {
    let env = env().await;
    for uri in DECEPTIVE {
        match admin::create_client(&env.admin, new_client(&[uri], false, false), 0).await {
            Err(AdminError::Invalid {
                field: "redirect_uri",
                ..
            }) => {}
            other => panic!("{uri:?} was not refused: {other:?}"),
        }
    }
}

/// A client stored with such a URI before it was refused (or written by
/// hand): the request names it and gets an error page, never a redirect.
#[tokio::test]
#[ignore = "needs DynamoDB Local: scripts/test runs it"]
async fn a_stored_deceptive_redirect_uri_is_never_redirected_to() {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, N, S};
    let env = TestEnv::on_dynamodb(&[("PASSWORD_HASH_ITERATIONS", "1000")]).await;
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    for (i, uri) in DECEPTIVE.iter().enumerate() {
        let client = TestClient {
            id: format!("stored{i}"),
            secret: "secret".into(),
        };
        env.dynamo()
            .put_item()
            .table_name(&env.table)
            .item("pk", S(format!("client#{}", client.id)))
            .item("kind", S("client".into()))
            .item("client_id", S(client.id.clone()))
            .item("name", S("stored by hand".into()))
            .item("secret_hash", S(shared::secret::sha256_hex(&client.secret)))
            .item("grant_types", S("authorization_code".into()))
            .item("scope", S("read".into()))
            .item("default_scope", S("read".into()))
            .item("disabled", Bool(false))
            .item("created_at", N("0".into()))
            .item("redirect_uris", S((*uri).into()))
            .item("public", Bool(false))
            .item("skip_consent", Bool(true))
            .send()
            .await
            .unwrap();
        let (_, challenge) = pkce_pair();
        let mut browser = Browser::default();
        let path = authorize_path(&client, Some(uri), &challenge);
        let mut answer = browser.get(&env, &path).await;
        if answer.status == 200 && answer.body.contains("name=\"password\"") {
            answer = browser
                .submit(&env, &answer, &[("username", "jdoe"), ("password", "s3cret pw")])
                .await;
        }
        assert!(
            answer.header("location").is_none(),
            "{uri}: redirected to {:?}",
            answer.header("location")
        );
        assert_eq!(answer.status, 400, "{uri}: {}", answer.body);
    }
}

#[tokio::test]
async fn loopback_redirect_uris_match_at_any_port() {
    let env = env().await;
    let client = register(&env, &["http://127.0.0.1:8765/cb", "http://[::1]/cb"]).await;
    let (verifier, challenge) = pkce_pair();
    // A native app listening on an ephemeral port (RFC 8252 §7.3).
    let ephemeral = "http://127.0.0.1:51234/cb";
    let back = sign_in_and_approve(&env, &authorize_path(&client, Some(ephemeral), &challenge)).await;
    let params: BTreeMap<String, String> = redirected(&back, ephemeral);
    assert_eq!(params["state"], "xyz");
    redeem(&env, &client, &params["code"], Some(ephemeral), &verifier)
        .await
        .json()["access_token"]
        .as_str()
        .expect("tokens for the code sent to the ephemeral port");
    let (_, challenge) = pkce_pair();
    let v6 = "http://[::1]:40000/cb";
    let back = sign_in_and_approve(&env, &authorize_path(&client, Some(v6), &challenge)).await;
    assert!(redirected(&back, v6).contains_key("code"));

    // Any port, but nothing else may differ: path, host, scheme.
    let mut browser = Browser::default();
    for other in [
        "http://127.0.0.1:51234/cb/extra",
        "http://127.0.0.2:8765/cb",
        "http://localhost:8765/cb",
        "https://127.0.0.1:8765/cb",
        "http://127.0.0.1:8765/cb?x=1",
    ] {
        let (_, challenge) = pkce_pair();
        let answer = browser
            .get(&env, &authorize_path(&client, Some(other), &challenge))
            .await;
        assert_eq!(answer.status, 400, "{other}: {}", answer.body);
        assert!(answer.header("location").is_none(), "{other}");
    }
    // The port is free for loopback addresses only.
    let web = register(&env, &["https://app.example.com:8443/cb"]).await;
    let (_, challenge) = pkce_pair();
    let answer = browser
        .get(
            &env,
            &authorize_path(&web, Some("https://app.example.com:9443/cb"), &challenge),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

/// The authorization request left `redirect_uri` out (one is registered):
/// the token request may too; if the authorization request sent it, the
/// token request must repeat it exactly.
#[tokio::test]
async fn the_token_request_repeats_redirect_uri_only_if_it_was_sent() {
    let env = env().await;
    let only = "https://app.example.com/callback";
    let client = register(&env, &[only]).await;

    let (verifier, challenge) = pkce_pair();
    let back = sign_in_and_approve(&env, &authorize_path(&client, None, &challenge)).await;
    let code = redirected(&back, only)["code"].clone();
    let answer = redeem(&env, &client, &code, None, &verifier).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let (verifier, challenge) = pkce_pair();
    let back = sign_in_and_approve(&env, &authorize_path(&client, Some(only), &challenge)).await;
    let code = redirected(&back, only)["code"].clone();
    redeem(&env, &client, &code, None, &verifier)
        .await
        .assert_error(400, "invalid_request");
    redeem(
        &env,
        &client,
        &code,
        Some("https://app.example.com/other"),
        &verifier,
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(
        redeem(&env, &client, &code, Some(only), &verifier).await.status,
        200
    );
}
