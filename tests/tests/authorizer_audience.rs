//! The authorizer as the resource server RFC 8707 means (`RESOURCE`): it
//! accepts only tokens issued for it, by introspection's `aud` or a
//! verified JWT's, whatever else they carry; REST `TOKEN` events into the
//! handler, the token service over loopback.

use std::collections::HashMap;

use authorizer::{Authorizer, AuthorizerConfig, Refusal};
use integration_tests::authorizer_support::{authorize, event, policy_allows, EventKind, API_STAGE};
use integration_tests::{Served, TestClient, TestEnv, ISSUER};
use shared::admin::{self, NewClient};
use shared::form::encode;
use shared::model::{AccessTokenFormat, GrantType};
use shared::scope::parse_scope;
use shared::SharedClock;

const MCP: &str = "https://mcp.example.com/mcp";
const API: &str = "https://api.example.com/";

struct Fixture {
    env: TestEnv,
    server: Served,
    rs_token: String,
}

impl Fixture {
    async fn new() -> Self {
        let env =
            TestEnv::with_config(&[("RESOURCES", &format!(r#"{{"{MCP}": "read", "{API}": "read"}}"#))]).await;
        let rs = env.client("introspection").await;
        let rs_token = env.token(&rs, Some("introspection")).await;
        let server = env.serve().await;
        Self {
            env,
            server,
            rs_token,
        }
    }

    async fn app(&self, format: AccessTokenFormat) -> TestClient {
        let new = NewClient {
            name: "app".into(),
            grants: [GrantType::ClientCredentials].into(),
            scopes: parse_scope("read").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
            token_lifetime: None,
            redirect_uris: Vec::new(),
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: format,
            resources: Default::default(),
        };
        let (client, secret) = admin::create_client(&self.env.admin, new, 0).await.unwrap();
        TestClient {
            id: client.client_id,
            secret: secret.unwrap(),
        }
    }

    /// A token for `app`, for `resource` when given.
    async fn token(&self, app: &TestClient, resource: Option<&str>) -> String {
        let resource = resource
            .map(|r| format!("&resource={}", encode(r)))
            .unwrap_or_default();
        let answer = self
            .env
            .post("/o/token/", &format!("grant_type=client_credentials{resource}"))
            .basic(&app.id, &app.secret)
            .send()
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn authorizer(&self, extra: &[(&str, &str)]) -> Authorizer {
        let url = format!("http://{}/o/introspect/", self.server.addr);
        let jwks = format!("http://{}/o/.well-known/jwks.json", self.server.addr);
        let mut vars: HashMap<String, String> = [
            ("RESOURCE_SERVER_INTROSPECTION_URL", url.as_str()),
            ("RESOURCE_SERVER_AUTH_TOKEN", self.rs_token.as_str()),
            ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "60"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_JWKS_URL", jwks.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = AuthorizerConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let clock: SharedClock = self.env.clock.clone();
        integration_tests::authorizer_support::cold_start(config, clock)
            .await
            .unwrap()
    }
}

/// Allowed (`Ok(true)`), denied (`Ok(false)`), or the Lambda error.
async fn allowed(a: &Authorizer, token: &str) -> Result<bool, Refusal> {
    let answer = authorize(
        a,
        event(
            EventKind::RestToken,
            Some(&format!("Bearer {token}")),
            "GET",
            "/items/1",
        ),
    )
    .await?;
    Ok(policy_allows(&answer, &format!("{API_STAGE}/GET/items/1")))
}

#[tokio::test]
async fn only_tokens_issued_for_this_api_pass() {
    let f = Fixture::new().await;
    let opaque = f.app(AccessTokenFormat::Opaque).await;
    let jwt = f.app(AccessTokenFormat::Jwt).await;
    let for_mcp = f.token(&opaque, Some(MCP)).await;
    let for_api = f.token(&opaque, Some(API)).await;
    let for_nothing = f.token(&opaque, None).await;
    let jwt_for_mcp = f.token(&jwt, Some(MCP)).await;
    let jwt_for_api = f.token(&jwt, Some(API)).await;

    for extra in [&[][..], &[("JWT_TRUST_UNTIL_EXPIRY", "true")][..]] {
        let mut vars = vec![("RESOURCE", MCP)];
        vars.extend_from_slice(extra);
        let mcp = f.authorizer(&vars).await;
        assert_eq!(allowed(&mcp, &for_mcp).await, Ok(true));
        assert_eq!(allowed(&mcp, &jwt_for_mcp).await, Ok(true), "{extra:?}");
        for foreign in [&for_api, &for_nothing, &jwt_for_api] {
            assert_eq!(
                allowed(&mcp, foreign).await,
                Err(Refusal::Unauthorized),
                "{extra:?}"
            );
            // Asked again (a warm container): still refused, never cached as good.
            assert_eq!(allowed(&mcp, foreign).await, Err(Refusal::Unauthorized));
        }
    }

    // Without RESOURCE, any audience, as before.
    let any = f
        .authorizer(&[("JWT_AUDIENCE", &format!("{MCP} {API} {ISSUER}"))])
        .await;
    for token in [&for_mcp, &for_api, &for_nothing, &jwt_for_api] {
        assert_eq!(allowed(&any, token).await, Ok(true));
    }
}
