//! RFC 8707 resource indicators through the token service's entry point:
//! `resource` at the authorization and token endpoints, the audience a
//! grant binds, narrowed by later requests, answered by introspection as
//! `aud` and carried by JWT access tokens; what the service does not know
//! is `invalid_target`.

use integration_tests::code_flow::{redirected, Browser};
use integration_tests::jws::part;
use integration_tests::{pkce_pair, TestClient, TestEnv};
use serde_json::{json, Value};
use shared::admin::{self, NewClient};
use shared::form::encode;
use shared::model::{AccessTokenFormat, GrantType};
use shared::scope::parse_scope;

const MCP: &str = "https://mcp.example.com/mcp";
const API: &str = "https://API.example.com";
const REDIRECT: &str = "https://app.example.com/cb";

const RESOURCES: &str =
    r#"{"https://mcp.example.com/mcp": "tools", "https://API.example.com": "read write"}"#;
const SCOPES: &str = r#"{"read": "Reading", "write": "Writing", "tools": "MCP tools"}"#;

async fn env() -> TestEnv {
    TestEnv::with_config(&[
        ("RESOURCES", RESOURCES),
        ("SCOPES", SCOPES),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
    ])
    .await
}

async fn new_client(env: &TestEnv, grants: &[GrantType], format: AccessTokenFormat) -> TestClient {
    limited_client(env, grants, format, &[]).await
}

/// A client that may ask tokens only for `resources` (none: any).
async fn limited_client(
    env: &TestEnv,
    grants: &[GrantType],
    format: AccessTokenFormat,
    resources: &[&str],
) -> TestClient {
    let redirects = grants.contains(&GrantType::AuthorizationCode);
    let new = NewClient {
        name: "resource client".into(),
        grants: grants.iter().copied().collect(),
        scopes: parse_scope("read write tools openid").unwrap(),
        default_scopes: Default::default(),
        token_lifetime: None,
        redirect_uris: if redirects {
            vec![REDIRECT.into()]
        } else {
            Vec::new()
        },
        public: false,
        skip_consent: redirects,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: format,
        resources: resources.iter().map(|r| r.to_string()).collect(),
    };
    let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
    TestClient {
        id: client.client_id,
        secret: secret.unwrap(),
    }
}

/// `resource=` parameters for each of `resources`.
fn resource_params(resources: &[&str]) -> String {
    resources
        .iter()
        .map(|r| format!("&resource={}", encode(r)))
        .collect()
}

async fn client_token(
    env: &TestEnv,
    client: &TestClient,
    scope: Option<&str>,
    resources: &[&str],
) -> integration_tests::Answer {
    let scope = scope
        .map(|s| format!("&scope={}", s.replace(' ', "+")))
        .unwrap_or_default();
    env.post(
        "/o/token/",
        &format!(
            "grant_type=client_credentials{scope}{}",
            resource_params(resources)
        ),
    )
    .basic(&client.id, &client.secret)
    .send()
    .await
}

async fn audience_seen(env: &TestEnv, rs: &TestClient, token: &str) -> Value {
    let seen = env.introspect(rs, token).await.json();
    assert_eq!(seen["active"], true, "{seen}");
    seen.get("aud").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn client_tokens_are_for_the_resources_asked_and_say_so() {
    let env = env().await;
    let rs = env.client("introspection").await;
    let app = new_client(&env, &[GrantType::ClientCredentials], AccessTokenFormat::Opaque).await;

    // One resource, named as a URL parser reads it: `aud` is its configured identifier.
    let answer = client_token(&env, &app, Some("read"), &["https://api.example.com/"]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_seen(&env, &rs, &token).await, json!(API));

    // Two: an array. No scope asked: what the resources accept of the defaults.
    let answer = client_token(&env, &app, None, &[MCP, API]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["scope"], "read tools write");
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_seen(&env, &rs, &token).await, json!([API, MCP]));
    let answer = client_token(&env, &app, None, &[MCP]).await;
    assert_eq!(answer.json()["scope"], "tools");

    // None named: no audience, as before.
    let answer = client_token(&env, &app, Some("read"), &[]).await;
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_seen(&env, &rs, &token).await, Value::Null);

    // A scope the resource does not accept.
    client_token(&env, &app, Some("tools"), &[API])
        .await
        .assert_error(400, "invalid_scope");
    // What the service does not know, or is no absolute URI without a fragment.
    let long = format!("https://mcp.example.com/{}", "a".repeat(3000));
    for bad in [
        "https://mcp.example.com/other",
        "/mcp",
        "https://mcp.example.com/mcp#frag",
        "urn:example:unknown",
        long.as_str(),
    ] {
        client_token(&env, &app, Some("tools"), &[bad])
            .await
            .assert_error(400, "invalid_target");
    }
    client_token(&env, &app, Some("read"), &[API; 9])
        .await
        .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn jwt_access_tokens_carry_the_resource_as_aud() {
    let env = env().await;
    let app = new_client(&env, &[GrantType::ClientCredentials], AccessTokenFormat::Jwt).await;
    let answer = client_token(&env, &app, Some("tools"), &[MCP]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let claims = part(answer.json()["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["aud"], MCP);
    let both = client_token(&env, &app, Some("read tools"), &[MCP, API]).await;
    assert_eq!(
        part(both.json()["access_token"].as_str().unwrap(), 1)["aud"],
        json!([API, MCP])
    );
    // None named: the service-wide audience, as before.
    let plain = client_token(&env, &app, Some("read"), &[]).await;
    assert_eq!(
        part(plain.json()["access_token"].as_str().unwrap(), 1)["aud"],
        integration_tests::ISSUER
    );
}

#[tokio::test]
async fn a_code_grant_binds_its_resources_and_later_requests_only_narrow_them() {
    let env = env().await;
    let rs = env.client("introspection").await;
    let app = new_client(
        &env,
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        AccessTokenFormat::Opaque,
    )
    .await;
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let mut browser = Browser::default();
    let authorize = |scope: &str, resources: &[&str]| {
        let (verifier, challenge) = pkce_pair();
        let path = format!(
            "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256{}",
            app.id,
            encode(REDIRECT),
            scope.replace(' ', "+"),
            resource_params(resources),
        );
        (path, verifier)
    };

    // An unknown resource goes back to the client, with its state.
    let (path, _) = authorize("read", &["https://elsewhere.example/"]);
    let back = redirected(&browser.get(&env, &path).await, REDIRECT);
    assert_eq!(
        (back["error"].as_str(), back["state"].as_str()),
        ("invalid_target", "s")
    );

    // Through the sign-in page (which carries both resources) to a code.
    let (path, verifier) = authorize("read tools", &[MCP, API]);
    let page = browser.get(&env, &path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = browser
        .submit(&env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    let code = redirected(&done, REDIRECT)["code"].clone();
    let redeem = |resources: &[&str]| {
        env.post(
            "/o/token/",
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}{}",
                encode(REDIRECT),
                resource_params(resources)
            ),
        )
        .basic(&app.id, &app.secret)
        .send()
    };
    // A resource the grant was not made for: refused, and the code still good.
    redeem(&["https://mcp.example.com/mcp/other"])
        .await
        .assert_error(400, "invalid_target");
    // One of the grant's resources: the token is for it, with its scopes only.
    let answer = redeem(&[MCP]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let tokens = answer.json();
    assert_eq!(tokens["scope"], "tools");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(audience_seen(&env, &rs, access).await, json!(MCP));

    // The refresh token keeps the whole grant: a refresh may ask for the other resource.
    let refresh = |token: String, extra: String| {
        let env = &env;
        let app = &app;
        async move {
            env.post(
                "/o/token/",
                &format!("grant_type=refresh_token&refresh_token={token}{extra}"),
            )
            .basic(&app.id, &app.secret)
            .send()
            .await
        }
    };
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    refresh(
        refresh_token.clone(),
        resource_params(&["https://elsewhere.example/"]),
    )
    .await
    .assert_error(400, "invalid_target");
    let answer = refresh(refresh_token, resource_params(&[API])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refreshed = answer.json();
    assert_eq!(refreshed["scope"], "read");
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(audience_seen(&env, &rs, access).await, json!(API));
    // Naming none: every resource of the grant, and all its scope.
    let answer = refresh(
        refreshed["refresh_token"].as_str().unwrap().to_owned(),
        String::new(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["scope"], "read tools");
    let access = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_seen(&env, &rs, &access).await, json!([API, MCP]));
    // A scope no resource asked for accepts.
    let answer = refresh(
        answer.json()["refresh_token"].as_str().unwrap().to_owned(),
        format!("&scope=read{}", resource_params(&[MCP])),
    )
    .await;
    answer.assert_error(400, "invalid_scope");
}

/// A client limited to some resources (`oauthctl client create --resource`)
/// asks for others in vain, at the token endpoint and the authorization
/// endpoint alike; written in any form a URL parser reads the same.
#[tokio::test]
async fn a_client_limited_to_some_resources_gets_tokens_for_those_only() {
    let env = env().await;
    let limited = limited_client(
        &env,
        &[GrantType::ClientCredentials],
        AccessTokenFormat::Opaque,
        &["HTTPS://mcp.example.com:443/mcp"],
    )
    .await;
    assert_eq!(
        client_token(&env, &limited, Some("tools"), &[MCP]).await.status,
        200
    );
    client_token(&env, &limited, Some("read"), &[API])
        .await
        .assert_error(400, "invalid_target");
    client_token(&env, &limited, Some("read tools"), &[MCP, API])
        .await
        .assert_error(400, "invalid_target");

    let app = limited_client(
        &env,
        &[GrantType::AuthorizationCode],
        AccessTokenFormat::Opaque,
        &[MCP],
    )
    .await;
    let (_, challenge) = pkce_pair();
    let path = format!(
        "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256{}",
        app.id,
        encode(REDIRECT),
        resource_params(&[API]),
    );
    let back = redirected(&Browser::default().get(&env, &path).await, REDIRECT);
    assert_eq!(back["error"], "invalid_target");

    let bad = admin::create_client(
        &env.admin,
        NewClient {
            name: "bad".into(),
            grants: [GrantType::ClientCredentials].into(),
            scopes: parse_scope("read").unwrap(),
            default_scopes: Default::default(),
            token_lifetime: None,
            redirect_uris: Vec::new(),
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: AccessTokenFormat::Opaque,
            resources: vec!["/relative".into()],
        },
        0,
    )
    .await;
    assert!(bad.is_err(), "a resource is an absolute URI");
}
