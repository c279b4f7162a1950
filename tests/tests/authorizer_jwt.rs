//! The authorizer with JWT access tokens verified locally (`JWT_ISSUER`):
//! against the token service's JWKS served over loopback, REST `TOKEN`
//! events into the handler. By default a verified token is still
//! introspected (revocation counts at once); `JWT_TRUST_UNTIL_EXPIRY` trusts
//! it until `exp` without asking. Whatever fails verification is refused
//! without an introspection: the introspection URL of these tests points
//! at a closed port, where asking would fail the request (500), not 401.

use std::collections::HashMap;
use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerConfig, Refusal};
use integration_tests::authorizer_support::{authorize, event, policy_allows, EventKind, API_STAGE};
use integration_tests::jws::forgeries;
use integration_tests::{Served, TestClient, TestEnv, ISSUER};
use shared::admin::{self, NewClient};
use shared::model::{AccessTokenFormat, GrantType};
use shared::scope::parse_scope;
use shared::{Clock, ManualClock, SharedClock, Store};

struct Fixture {
    env: TestEnv,
    server: Served,
    jwt_app: TestClient,
    opaque_app: TestClient,
    rs_token: String,
}

impl Fixture {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let new = NewClient {
            name: "JWT app".into(),
            grants: [GrantType::ClientCredentials].into(),
            scopes: parse_scope("read write").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
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
        let jwt_app = TestClient {
            id: client.client_id,
            secret: secret.unwrap(),
        };
        let opaque_app = env.client("read").await;
        let rs = env.client("introspection").await;
        let rs_token = env.token(&rs, Some("introspection")).await;
        let server = env.serve().await;
        Self {
            env,
            server,
            jwt_app,
            opaque_app,
            rs_token,
        }
    }

    /// An authorizer verifying JWTs from the token service, at `now` (its
    /// own clock), with `extra` settings; its introspection at the service
    /// unless `introspection` says where.
    async fn authorizer(&self, extra: &[(&str, &str)], introspection: Option<&str>, now: u64) -> Authorizer {
        self.authorizer_and_clock(extra, introspection, now).await.0
    }

    /// As [`Fixture::authorizer`], with the authorizer's clock.
    async fn authorizer_and_clock(
        &self,
        extra: &[(&str, &str)],
        introspection: Option<&str>,
        now: u64,
    ) -> (Authorizer, Arc<ManualClock>) {
        let jwks = format!("http://{}/o/.well-known/jwks.json", self.server.addr);
        let url = introspection.map_or_else(
            || format!("http://{}/o/introspect/", self.server.addr),
            str::to_owned,
        );
        let mut vars: HashMap<String, String> = [
            ("RESOURCE_SERVER_INTROSPECTION_URL", url.as_str()),
            ("RESOURCE_SERVER_AUTH_TOKEN", self.rs_token.as_str()),
            ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0"),
            ("SCOPE_RULES", "GET /items/* = read"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_JWKS_URL", jwks.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = AuthorizerConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let clock = Arc::new(ManualClock::new());
        clock.advance(now.saturating_sub(clock.now()));
        let shared: SharedClock = clock.clone();
        (
            integration_tests::authorizer_support::cold_start(config, shared)
                .await
                .unwrap(),
            clock,
        )
    }

    fn now(&self) -> u64 {
        self.env.clock.now()
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

/// A port nothing listens on.
fn closed_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/o/introspect/")
}

#[tokio::test]
async fn a_verified_jwt_is_still_introspected_by_default_so_revocation_counts_at_once() {
    let f = Fixture::new().await;
    let a = f.authorizer(&[], None, f.now()).await;
    let token = f.env.token(&f.jwt_app, Some("read")).await;
    assert_eq!(allowed(&a, &token).await, Ok(true));
    let opaque = f.env.token(&f.opaque_app, Some("read")).await;
    assert_eq!(
        allowed(&a, &opaque).await,
        Ok(true),
        "opaque tokens are introspected as before"
    );

    let revoked = f
        .env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&f.jwt_app.id, &f.jwt_app.secret)
        .send()
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        allowed(&a, &token).await,
        Err(Refusal::Unauthorized),
        "revoked: 401 at once"
    );
}

#[tokio::test]
async fn trusted_until_expiry_a_verified_jwt_needs_no_introspection() {
    let f = Fixture::new().await;
    let a = f
        .authorizer(
            &[("JWT_TRUST_UNTIL_EXPIRY", "true")],
            Some(&closed_port()),
            f.now(),
        )
        .await;
    let token = f.env.token(&f.jwt_app, Some("read")).await;
    assert_eq!(
        allowed(&a, &token).await,
        Ok(true),
        "no introspection was asked (its endpoint is closed)"
    );
    let write_only = f.env.token(&f.jwt_app, Some("write")).await;
    assert_eq!(
        allowed(&a, &write_only).await,
        Ok(false),
        "the route needs read: 403"
    );
    // The trade-off, as documented: a revocation is seen only at exp.
    f.env
        .post("/o/revoke_token/", &format!("token={token}"))
        .basic(&f.jwt_app.id, &f.jwt_app.secret)
        .send()
        .await;
    assert_eq!(allowed(&a, &token).await, Ok(true));
    // Past exp (300 s) and the leeway (30 s): refused.
    let later = f
        .authorizer(
            &[("JWT_TRUST_UNTIL_EXPIRY", "true")],
            Some(&closed_port()),
            f.now() + 331,
        )
        .await;
    assert_eq!(allowed(&later, &token).await, Err(Refusal::Unauthorized));
    // An opaque token still needs the (closed) introspection endpoint: fail closed.
    let opaque = f.env.token(&f.opaque_app, Some("read")).await;
    assert!(matches!(allowed(&a, &opaque).await, Err(Refusal::Failed(_))));
}

/// `alg: none`, HS256 keyed with the public key, a foreign `kid`, claims
/// changed under the signature, another audience, an ID token: each 401,
/// without an introspection.
#[tokio::test]
async fn forgeries_and_foreign_tokens_are_refused_without_asking() {
    let f = Fixture::new().await;
    let a = f.authorizer(&[], Some(&closed_port()), f.now()).await;
    let real = f.env.token(&f.jwt_app, Some("read")).await;
    let jwks = f
        .env
        .request("GET", "/o/.well-known/jwks.json")
        .send()
        .await
        .json();
    for (name, token) in forgeries(&real, &jwks) {
        assert_eq!(allowed(&a, &token).await, Err(Refusal::Unauthorized), "{name}");
    }
    let other_audience = f
        .authorizer(
            &[("JWT_AUDIENCE", "https://api.example.com")],
            Some(&closed_port()),
            f.now(),
        )
        .await;
    assert_eq!(
        allowed(&other_audience, &real).await,
        Err(Refusal::Unauthorized),
        "another audience"
    );
    let other_issuer = f
        .authorizer(
            &[("JWT_ISSUER", "https://other.example")],
            Some(&closed_port()),
            f.now(),
        )
        .await;
    assert_eq!(
        allowed(&other_issuer, &real).await,
        Err(Refusal::Unauthorized),
        "another issuer"
    );
}

/// A key that appears while tokens are live breaks nothing: a warm
/// authorizer fetches the JWKS again for a `kid` it has not seen (at most
/// once a minute), and a key no longer published stops verifying.
#[tokio::test]
async fn a_new_key_is_fetched_when_a_token_names_it() {
    let f = Fixture::new().await;
    let trust = [("JWT_TRUST_UNTIL_EXPIRY", "true")];
    let (a, clock) = f
        .authorizer_and_clock(&trust, Some(&closed_port()), f.now())
        .await;
    let first = f.env.token(&f.jwt_app, Some("read")).await;
    assert_eq!(allowed(&a, &first).await, Ok(true));
    // Every key retired: the service makes one that signs at once.
    let keys = f.env.admin.get_signing_keys().await.unwrap();
    shared::admin::keys::retire(&f.env.admin, &keys.keys[0].kid, f.now())
        .await
        .unwrap();
    f.env.clock.advance(shared::keys::KEY_SET_REFRESH_SECONDS);
    let second = f.env.token(&f.jwt_app, Some("read")).await;
    assert_ne!(second.split('.').next(), first.split('.').next(), "another kid");
    // The same warm authorizer, as much later (more than a minute): it
    // fetches the key set again for the kid it has not seen.
    clock.advance(shared::keys::KEY_SET_REFRESH_SECONDS.max(authorizer::jwt::REFETCH_SECONDS));
    assert_eq!(allowed(&a, &second).await, Ok(true));
    let fresh = f.authorizer(&trust, Some(&closed_port()), clock.now()).await;
    assert_eq!(
        allowed(&fresh, &first).await,
        Err(Refusal::Unauthorized),
        "the retired key is gone from the JWKS"
    );
}
