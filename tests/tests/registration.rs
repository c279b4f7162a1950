//! RFC 7591 dynamic client registration and RFC 7592 management, through
//! the token service's entry point: a client registers itself, signs a user
//! in (always asking consent), manages its registration with its
//! registration access token only, and is gone when unused; what it may not
//! register is a clear error, and nothing is stored.

use integration_tests::code_flow::{redirected, Browser};
use integration_tests::{pkce_pair, TestEnv};
use serde_json::{json, Value};
use shared::admin;
use shared::form::encode;
use shared::store::{AdminStore, Store};

const REDIRECT: &str = "http://127.0.0.1:8765/callback";

async fn env(extra: &[(&str, &str)]) -> TestEnv {
    let mut vars = vec![
        ("CLIENT_REGISTRATION", "open"),
        ("REGISTERED_CLIENT_EXPIRE_SECONDS", "100"),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
    ];
    vars.extend_from_slice(extra);
    TestEnv::with_config(&vars).await
}

async fn register(env: &TestEnv, metadata: &Value) -> integration_tests::Answer {
    post_json(env, metadata.to_string().as_bytes()).await
}

async fn post_json(env: &TestEnv, body: &[u8]) -> integration_tests::Answer {
    env.request("POST", "/o/register/")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
}

/// What an MCP client sends (the Python SDK's registration).
fn mcp_client_metadata() -> Value {
    json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "An MCP client",
        "scope": "read",
        "software_id": "ignored-member",
    })
}

fn management_path(answer: &Value) -> String {
    let uri = answer["registration_client_uri"].as_str().unwrap();
    uri[uri.find("/o/register/").unwrap()..].to_owned()
}

async fn manage(
    env: &TestEnv,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> integration_tests::Answer {
    let mut request = env.request(method, path).bearer(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string().as_bytes());
    }
    request.send().await
}

#[tokio::test]
async fn a_client_registers_itself_and_signs_a_user_in_with_consent() {
    let env = env(&[]).await;
    let metadata = env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{}/o/register/", integration_tests::ISSUER)
    );

    let answer = register(&env, &mcp_client_metadata()).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let registered = answer.json();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let access_token = registered["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        (
            registered["redirect_uris"].clone(),
            registered["token_endpoint_auth_method"].clone(),
            registered["scope"].clone(),
            registered["client_name"].clone(),
        ),
        (
            json!([REDIRECT]),
            json!("none"),
            json!("read"),
            json!("An MCP client")
        )
    );
    assert!(registered.get("client_secret").is_none(), "a public client");
    assert_eq!(
        registered["registration_client_uri"],
        format!("{}/o/register/{client_id}/", integration_tests::ISSUER)
    );
    // What an administrator sees; the registration access token is stored only as a hash.
    let stored = admin::client(&env.admin, &client_id).await.unwrap();
    assert_eq!(stored.to_public_json()["registered_by"], "dynamic");
    assert!(!format!("{stored:?}").contains(&access_token));

    // It signs a user in: the consent page is always shown, loopback at any port.
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let (verifier, challenge) = pkce_pair();
    let redirect_at_port = "http://127.0.0.1:50123/callback";
    let path = format!(
        "/o/authorize/?response_type=code&client_id={client_id}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
        encode(redirect_at_port)
    );
    let mut browser = Browser::default();
    let page = browser.get(&env, &path).await;
    let consent = browser
        .submit(&env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert_eq!(consent.status, 200, "the consent page: {}", consent.body);
    assert!(consent.body.contains("An MCP client"), "{}", consent.body);
    assert!(
        consent
            .body
            .contains("registered itself: its name is not verified by this service")
            && consent
                .body
                .contains("the answer goes to <strong>an application on this device</strong>"),
        "the page says who vouched for it, and where the answer goes: {}",
        consent.body
    );
    let back = browser.submit(&env, &consent, &[("decision", "allow")]).await;
    let code = redirected(&back, redirect_at_port)["code"].clone();
    let tokens = env
        .post(
            "/o/token/",
            &format!(
                "grant_type=authorization_code&client_id={client_id}&code={code}&redirect_uri={}&code_verifier={verifier}",
                encode(redirect_at_port)
            ),
        )
        .send()
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.json()["refresh_token"].is_string());
}

#[tokio::test]
async fn a_registration_is_managed_with_its_own_access_token_only() {
    let env = env(&[]).await;
    let first = register(&env, &mcp_client_metadata()).await.json();
    let other = register(&env, &mcp_client_metadata()).await.json();
    let path = management_path(&first);
    let token = first["registration_access_token"].as_str().unwrap();
    let client_id = first["client_id"].as_str().unwrap();

    let read = manage(&env, "GET", &path, token, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["client_id"], client_id);
    assert!(read.json().get("registration_access_token").is_none());
    // Another client's token, none, or a made-up one: 401 alike, for a client that exists or not.
    let others = other["registration_access_token"].as_str().unwrap();
    for (path, token) in [
        (&path, others),
        (&path, "made-up"),
        (&management_path(&other), token),
    ] {
        let answer = manage(&env, "GET", path, token, None).await;
        answer.assert_error(401, "invalid_token");
    }
    let answer = env.request("GET", &path).send().await;
    answer.assert_error(401, "invalid_token");
    manage(&env, "GET", "/o/register/nosuchclient/", token, None)
        .await
        .assert_error(401, "invalid_token");

    // An update replaces the metadata; it must name the client.
    let mut update = mcp_client_metadata();
    update["redirect_uris"] = json!(["https://app.example.com/cb"]);
    manage(&env, "PUT", &path, token, Some(&update))
        .await
        .assert_error(400, "invalid_client_metadata");
    update["client_id"] = client_id.into();
    let updated = manage(&env, "PUT", &path, token, Some(&update)).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        updated.json()["redirect_uris"],
        json!(["https://app.example.com/cb"])
    );
    let stored = admin::client(&env.admin, client_id).await.unwrap();
    assert_eq!(stored.redirect_uris[0].as_str(), "https://app.example.com/cb");
    manage(&env, "PUT", &path, others, Some(&update))
        .await
        .assert_error(401, "invalid_token");

    // Deleted: the client is gone, and so is its registration.
    let deleted = manage(&env, "DELETE", &path, token, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(env.admin.get_client(client_id).await.unwrap().is_none());
    manage(&env, "GET", &path, token, None)
        .await
        .assert_error(401, "invalid_token");
    let refresh = env
        .post(
            "/o/token/",
            &format!("grant_type=refresh_token&client_id={client_id}&refresh_token=x"),
        )
        .send()
        .await;
    assert_eq!(refresh.status, 401, "{}", refresh.body);
}

#[tokio::test]
async fn what_may_not_register_is_refused_and_nothing_is_stored() {
    let env = env(&[]).await;
    let with = |member: &str, value: Value| {
        let mut metadata = mcp_client_metadata();
        metadata[member] = value;
        metadata
    };
    let eleven: Vec<String> = (0..11).map(|i| format!("https://app.example.com/{i}")).collect();
    for (metadata, error) in [
        (
            with("redirect_uris", json!(["javascript:alert(1)"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["http://app.example.com/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["com.example.app:/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["https://app.example.com/cb#frag"])),
            "invalid_redirect_uri",
        ),
        (with("redirect_uris", json!([])), "invalid_redirect_uri"),
        (with("redirect_uris", json!(eleven)), "invalid_redirect_uri"),
        (
            with("grant_types", json!(["client_credentials"])),
            "invalid_client_metadata",
        ),
        (
            with("response_types", json!(["token"])),
            "invalid_client_metadata",
        ),
        (
            with("token_endpoint_auth_method", json!("client_secret_basic")),
            "invalid_client_metadata",
        ),
        (
            with("scope", json!("read introspection")),
            "invalid_client_metadata",
        ),
        (with("scope", json!("nosuchscope")), "invalid_client_metadata"),
        (with("client_name", json!("a\nname")), "invalid_client_metadata"),
        (
            with("client_name", json!("n".repeat(201))),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        register(&env, &metadata).await.assert_error(400, error);
    }
    let form = env
        .post("/o/register/", "redirect_uris=https://app.example.com/cb")
        .send()
        .await;
    form.assert_error(400, "invalid_request");
    let huge = post_json(&env, "x".repeat(20_000).as_bytes()).await;
    assert_eq!(huge.status, 413);
    assert!(
        env.admin.list_clients().await.unwrap().is_empty(),
        "nothing was stored"
    );

    // Off by default: refused, and not in the metadata.
    let closed = TestEnv::with_config(&[]).await;
    register(&closed, &mcp_client_metadata())
        .await
        .assert_error(403, "access_denied");
    let metadata = closed
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert!(metadata.get("registration_endpoint").is_none());
    assert!(closed.admin.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn unused_registrations_expire_and_use_keeps_them() {
    let env = env(&[]).await;
    let used = register(&env, &mcp_client_metadata()).await.json();
    let unused = register(&env, &mcp_client_metadata()).await.json();
    let use_client = |client: &Value| {
        let form = format!(
            "grant_type=refresh_token&client_id={}&refresh_token=none-yet",
            client["client_id"].as_str().unwrap()
        );
        let env = &env;
        async move { env.post("/o/token/", &form).send().await }
    };
    // Past half its unused lifetime (100 s), a use renews it.
    env.clock.advance(60);
    use_client(&used).await.assert_error(400, "invalid_grant");
    env.clock.advance(60);
    use_client(&used).await.assert_error(400, "invalid_grant");
    let token = unused["registration_access_token"].as_str().unwrap();
    manage(&env, "GET", &management_path(&unused), token, None)
        .await
        .assert_error(401, "invalid_token");
    let answer = use_client(&unused).await;
    assert_eq!(answer.status, 401, "the unused client is gone: {}", answer.body);
    let clients = env.admin.list_clients().await.unwrap();
    assert_eq!(
        clients.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(),
        [used["client_id"].as_str().unwrap()]
    );
}

/// `CLIENT_REGISTRATION=token`: only with an initial access token (RFC 7591
/// §3), a client's own token with the `registration` scope; the scope is
/// never advertised, granted by default nor registrable.
#[tokio::test]
async fn a_closed_deployment_registers_only_with_an_initial_access_token() {
    let env = env(&[("CLIENT_REGISTRATION", "token")]).await;
    let registrar = env.client("registration").await;
    let initial = env.token(&registrar, Some("registration")).await;
    let reader = env.client("read").await;
    let not_initial = env.token(&reader, Some("read")).await;
    let with = |token: Option<&str>| {
        let mut request = env
            .request("POST", "/o/register/")
            .header("content-type", "application/json")
            .body(mcp_client_metadata().to_string().as_bytes());
        if let Some(token) = token {
            request = request.bearer(token);
        }
        request.send()
    };
    let none = with(None).await;
    none.assert_error(401, "invalid_token");
    assert!(none
        .header("www-authenticate")
        .is_some_and(|c| c.starts_with("Bearer")));
    with(Some("made-up")).await.assert_error(401, "invalid_token");
    with(Some(&not_initial))
        .await
        .assert_error(403, "insufficient_scope");
    assert!(
        env.admin.list_clients().await.unwrap().len() == 2,
        "nothing registered"
    );
    let answer = with(Some(&initial)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);

    // Its client disabled: the token no longer registers.
    env.set_disabled(&registrar, true).await;
    with(Some(&initial)).await.assert_error(401, "invalid_token");

    let metadata = env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert!(metadata["registration_endpoint"].is_string());
    assert!(!metadata["scopes_supported"].to_string().contains("registration"));
    let mut asks = mcp_client_metadata();
    asks["scope"] = "registration".into();
    let another = env
        .token(&env.client("registration").await, Some("registration"))
        .await;
    let refused = env
        .request("POST", "/o/register/")
        .header("content-type", "application/json")
        .bearer(&another)
        .body(asks.to_string().as_bytes())
        .send()
        .await;
    refused.assert_error(400, "invalid_client_metadata");
    register(&env, &json!({ "redirect_uris": [REDIRECT] }))
        .await
        .assert_error(401, "invalid_token");
}
