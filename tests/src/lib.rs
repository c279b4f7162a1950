//! Test harness: a token service over a fresh store, driven through the same
//! Lambda entry point API Gateway uses.
//!
//! The store is the one `TEST_STORE` names ([`Backend`]): in memory unless
//! told otherwise, so that `cargo test` on a fresh clone needs no Java;
//! `scripts/test` runs the suite again over DynamoDB Local, which it starts
//! (exporting `AWS_ENDPOINT_URL_DYNAMODB`). Tests that need what only
//! `scripts/test` provides (DynamoDB Local itself, the built binaries, the
//! pinned Python tools, Chromium) are `#[ignore]`d with the reason, and
//! `scripts/test` runs them with `--include-ignored`.

pub mod any_store;
pub mod authorizer_support;
pub mod code_flow;
pub mod document_server;
pub mod jws;

pub use any_store::{AnyStore, Backend};

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;
use lambda_http::Body;
use serde_json::Value;
use shared::dynamo::DynamoClient;
use shared::model::{AuthorizationCode, Client, ClientAuth, Consent, Family, GrantType, Session, Token};
use shared::scope::parse_scope;
use shared::secret::{generate_id, generate_secret, sha256_hex};
use shared::store::{
    AdminStore, Attempt, AttemptsOf, ClientChange, Item, Key, Redemption, Revocation, Rotation, Store,
    StoreError,
};
use shared::{DynamoStore, ManualClock, MemoryStore, ServiceConfig, SharedClock, TokenService};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

static TABLES: AtomicU32 = AtomicU32::new(0);

/// The access key id the token service uses in the tests, as a deployed
/// function uses its role: `scripts/test` records the DynamoDB actions each
/// caller performs and checks the role in `template.yaml` against this one's.
pub const TOKEN_SERVICE_PRINCIPAL: &str = "TokenService";

/// A DynamoDB client for DynamoDB Local, configured the way the product is:
/// the standard AWS chain plus `AWS_ENDPOINT_URL_DYNAMODB`. Tests use it as
/// an administrator would (`oauthctl`): setting up and looking at the table.
pub async fn dynamo() -> DynamoClient {
    assert_dynamodb_local();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    DynamoClient::new(&aws)
}

fn assert_dynamodb_local() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test, which starts DynamoDB Local"
    );
}

/// A DynamoDB client that calls as the token service ([`TOKEN_SERVICE_PRINCIPAL`]).
pub async fn dynamo_as_token_service() -> DynamoClient {
    assert_dynamodb_local();
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new(TOKEN_SERVICE_PRINCIPAL, "local", None, None, "tests");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .credentials_provider(credentials)
        .load()
        .await;
    DynamoClient::new(&aws)
}

/// A new, empty table created exactly as `oauthctl table create` does.
pub async fn fresh_table(dynamo: &DynamoClient) -> String {
    let name = format!(
        "test-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    );
    DynamoStore::create_table(dynamo, &name)
        .await
        .expect("create table in DynamoDB Local");
    name
}

/// Counts the store calls the service makes, so tests can hold it to its budget.
#[derive(Default)]
pub struct Calls {
    /// Round trips that read (`GetItem` or one `BatchGetItem`).
    pub reads: AtomicUsize,
    /// Conditional writes of new tokens (`PutItem`).
    pub token_writes: AtomicUsize,
    /// Revocations (`DeleteItem` of a token, or a family's update).
    pub revocations: AtomicUsize,
    /// Transactions (`TransactWriteItems`: new user grants, refresh rotations).
    pub transactions: AtomicUsize,
    /// Fault injection: the upcoming revocation write (of a token or a
    /// family) with this 1-based number fails as if DynamoDB were
    /// unavailable; 0 for none.
    pub failing_revocation: AtomicUsize,
    /// Fault injection: the next rotation is written twice, as a retry does
    /// when the answer to a write that happened was lost (and DynamoDB no
    /// longer knows its idempotency token, as after a restart); the second
    /// answer is the one the service sees.
    pub rotation_answer_lost: std::sync::atomic::AtomicBool,
    /// Fault injection: while set, every store call fails as if the
    /// backend were unavailable.
    pub unavailable: std::sync::atomic::AtomicBool,
}

impl Calls {
    /// The injected outage, if one is on.
    fn outage(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected outage".into()));
        }
        Ok(())
    }

    /// Whether this revocation write is the one to fail.
    fn revocation_fails(&self) -> bool {
        self.failing_revocation
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            == Ok(1)
    }
}

impl Calls {
    /// (reads, token writes, revocations) so far, and reset to zero.
    pub fn take(&self) -> (usize, usize, usize) {
        (
            self.reads.swap(0, Ordering::SeqCst),
            self.token_writes.swap(0, Ordering::SeqCst),
            self.revocations.swap(0, Ordering::SeqCst),
        )
    }
}

/// A [`Store`] that forwards to another and counts the calls.
pub struct Counting<S> {
    inner: S,
    calls: Arc<Calls>,
}

impl<S: Store> Store for Counting<S> {
    async fn load(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.calls.outage()?;
        self.calls.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(keys).await
    }
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.calls.token_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_token(token).await
    }
    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Revocation, StoreError> {
        self.calls.outage()?;
        self.calls.revocations.fetch_add(1, Ordering::SeqCst);
        if self.calls.revocation_fails() {
            return Err(StoreError::Unavailable("injected fault".into()));
        }
        self.inner.revoke_token(token_hash, client_id).await
    }
    async fn put_grant(&self, family: &Family, tokens: &[Token]) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.calls.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.put_grant(family, tokens).await
    }
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        successor: Option<&str>,
        revoked_access_hash: Option<&str>,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Rotation, StoreError> {
        self.calls.outage()?;
        self.calls.transactions.fetch_add(1, Ordering::SeqCst);
        let rotate = || {
            self.inner
                .rotate_refresh(old_hash, successor, revoked_access_hash, family, tokens, now)
        };
        if self.calls.rotation_answer_lost.swap(false, Ordering::SeqCst) {
            rotate().await?;
        }
        rotate().await
    }
    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.calls.revocations.fetch_add(1, Ordering::SeqCst);
        if self.calls.revocation_fails() {
            return Err(StoreError::Unavailable("injected fault".into()));
        }
        self.inner.revoke_family(family_id).await
    }
    async fn claim_secret_check(&self, client_id: &str, window: u64, limit: u32) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.claim_secret_check(client_id, window, limit).await
    }
    async fn rehash_client_secret(
        &self,
        client_id: &str,
        verified: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.rehash_client_secret(client_id, verified, sha256).await
    }
    async fn rehash_password(&self, username: &str, verified: &str, new: &str) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.rehash_password(username, verified, new).await
    }
    async fn register_client(&self, client: &Client) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.register_client(client).await
    }
    async fn replace_registered_client(
        &self,
        client: &Client,
        token_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner
            .replace_registered_client(client, token_hash, now)
            .await
    }
    async fn put_metadata_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.put_metadata_document_client(client).await
    }
    async fn delete_registered_client(&self, client_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.delete_registered_client(client_id, token_hash).await
    }
    async fn renew_registered_client(
        &self,
        client_id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner
            .renew_registered_client(client_id, expires_at, now)
            .await
    }
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.calls.token_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_code(code).await
    }
    async fn redeem_code(
        &self,
        code_hash: &str,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Redemption, StoreError> {
        self.calls.outage()?;
        self.calls.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.redeem_code(code_hash, family, tokens, now).await
    }
    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.put_session(session).await
    }
    async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.delete_session(session_hash).await
    }
    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.put_consent(consent).await
    }
    async fn put_signing_keys(&self, keys: &shared::model::SigningKeys) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.put_signing_keys(keys).await
    }
    async fn reserve_attempt(
        &self,
        who: &AttemptsOf,
        limit: u32,
        window_seconds: u64,
        now: u64,
    ) -> Result<Attempt, StoreError> {
        self.calls.outage()?;
        self.inner.reserve_attempt(who, limit, window_seconds, now).await
    }
    async fn record_failed_attempt(&self, who: &AttemptsOf, now: u64) -> Result<u32, StoreError> {
        self.calls.outage()?;
        self.inner.record_failed_attempt(who, now).await
    }
    async fn clear_attempts(&self, who: &AttemptsOf) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.clear_attempts(who).await
    }
    async fn put_device_authorization(
        &self,
        device: &shared::model::DeviceAuthorization,
    ) -> Result<(), StoreError> {
        self.calls.outage()?;
        self.inner.put_device_authorization(device).await
    }
    async fn poll_device(&self, device_code_hash: &str, now: u64) -> Result<shared::store::Poll, StoreError> {
        self.calls.outage()?;
        self.inner.poll_device(device_code_hash, now).await
    }
    async fn decide_device(
        &self,
        device_code_hash: &str,
        code: Option<&shared::model::AuthorizationCode>,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.calls.outage()?;
        self.inner.decide_device(device_code_hash, code, now).await
    }
}

/// The issuer every test service uses.
pub const ISSUER: &str = "https://auth.example.test";

/// The `SIGNING_KEY_SECRET` of test services.
pub const TEST_SIGNING_KEY_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A token service on its own store, with a clock the test controls.
pub struct TestEnv {
    /// The service under test.
    pub service: Arc<TokenService<Counting<AnyStore>>>,
    /// The clock shared by the service and its store.
    pub clock: Arc<ManualClock>,
    /// Store calls made so far.
    pub calls: Arc<Calls>,
    /// The store as an administrator sees it (`oauthctl`): for setting up
    /// clients and users, never for what the service itself does.
    pub admin: AnyStore,
    /// Which store this is.
    pub backend: Backend,
    /// The table's name (on DynamoDB; a placeholder in memory).
    pub table: String,
    dynamo: Option<DynamoClient>,
    config: ServiceConfig,
}

/// A registered client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    /// client_id
    pub id: String,
    /// client_secret
    pub secret: String,
}

impl TestEnv {
    /// A service with the default configuration.
    pub async fn new() -> Self {
        Self::with_config(&[]).await
    }

    /// A service with extra configuration variables (`SCOPES`, `DEFAULT_SCOPES`, ...),
    /// over the store `TEST_STORE` names.
    pub async fn with_config(vars: &[(&str, &str)]) -> Self {
        match Backend::from_env() {
            Backend::Memory => Self::in_memory(vars),
            Backend::DynamoDb => Self::on_dynamodb(vars).await,
        }
    }

    /// A service over a [`MemoryStore`], whatever `TEST_STORE` says.
    pub fn in_memory(vars: &[(&str, &str)]) -> Self {
        let clock = Arc::new(ManualClock::new());
        let shared_clock: SharedClock = clock.clone();
        let store = AnyStore::Memory(Arc::new(MemoryStore::new(shared_clock.clone())));
        Self::assemble(
            Backend::Memory,
            store.clone(),
            store,
            "memory".into(),
            None,
            clock,
            vars,
        )
    }

    /// A service on a fresh table in DynamoDB Local, whatever `TEST_STORE`
    /// says: for tests of what only DynamoDB has (its item layout, its
    /// errors, the binaries that run over it).
    pub async fn on_dynamodb(vars: &[(&str, &str)]) -> Self {
        let table = fresh_table(&dynamo().await).await;
        Self::on_table(table, vars).await
    }

    /// A service on a DynamoDB table that may not exist (to provoke storage failures).
    pub async fn on_table(table: String, vars: &[(&str, &str)]) -> Self {
        let dynamo = dynamo().await;
        let clock = Arc::new(ManualClock::new());
        let shared_clock: SharedClock = clock.clone();
        let service_store = AnyStore::Dynamo(DynamoStore::new(
            dynamo_as_token_service().await,
            table.clone(),
            shared_clock.clone(),
        ));
        let admin = AnyStore::Dynamo(DynamoStore::new(dynamo.clone(), table.clone(), shared_clock));
        Self::assemble(
            Backend::DynamoDb,
            service_store,
            admin,
            table,
            Some(dynamo),
            clock,
            vars,
        )
    }

    fn assemble(
        backend: Backend,
        service_store: AnyStore,
        admin: AnyStore,
        table: String,
        dynamo: Option<DynamoClient>,
        clock: Arc<ManualClock>,
        vars: &[(&str, &str)],
    ) -> Self {
        let mut env: HashMap<String, String> = HashMap::from([
            ("TABLE_NAME".into(), table.clone()),
            ("ISSUER".into(), ISSUER.into()),
            // OpenID Connect on, keys sealed under a test secret (set it to
            // "" to turn OpenID Connect off).
            ("SIGNING_KEY_SECRET".into(), TEST_SIGNING_KEY_SECRET.into()),
        ]);
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = ServiceConfig::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
        let shared_clock: SharedClock = clock.clone();
        let calls = Arc::new(Calls::default());
        let store = Counting {
            inner: service_store,
            calls: calls.clone(),
        };
        Self {
            service: Arc::new(TokenService::new(config.clone(), store, shared_clock)),
            admin,
            backend,
            clock,
            calls,
            table,
            dynamo,
            config,
        }
    }

    /// The service deployed again over the same store and clock, configured
    /// by `vars` (as [`TestEnv::with_config`] takes them).
    pub fn redeployed(&self, vars: &[(&str, &str)]) -> Self {
        Self::assemble(
            self.backend,
            self.service.store().inner.clone(),
            self.admin.clone(),
            self.table.clone(),
            self.dynamo.clone(),
            self.clock.clone(),
            vars,
        )
    }

    /// Another container of the same service: the same configuration,
    /// store and clock, caches of its own.
    pub fn another_container(&self) -> TokenService<AnyStore> {
        let clock: SharedClock = self.clock.clone();
        TokenService::new(self.config.clone(), self.service.store().inner.clone(), clock)
    }

    /// The raw DynamoDB client, to look at what was stored; only for a
    /// service made with [`TestEnv::on_dynamodb`].
    pub fn dynamo(&self) -> &DynamoClient {
        self.dynamo
            .as_ref()
            .expect("this test looks at DynamoDB's items: make its service with TestEnv::on_dynamodb")
    }

    /// Registers a client directly in the store, the way `oauthctl client create` does.
    pub async fn client(&self, scope: &str) -> TestClient {
        self.client_with(scope, "", None, &[GrantType::ClientCredentials])
            .await
    }

    /// Registers a client with every setting chosen.
    pub async fn client_with(
        &self,
        scope: &str,
        default_scope: &str,
        token_lifetime: Option<u64>,
        grants: &[GrantType],
    ) -> TestClient {
        let id = generate_id().unwrap();
        let secret = generate_secret().unwrap();
        self.register(&id, &secret, scope, default_scope, token_lifetime, grants)
            .await;
        TestClient { id, secret }
    }

    /// Registers a client with a chosen id and secret.
    pub async fn register(
        &self,
        id: &str,
        secret: &str,
        scope: &str,
        default_scope: &str,
        token_lifetime: Option<u64>,
        grants: &[GrantType],
    ) {
        let client = Client {
            client_id: id.to_owned(),
            name: "test client".into(),
            auth: ClientAuth::Confidential {
                secret_hash: sha256_hex(secret),
            },
            grant_types: grants.iter().copied().collect(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: parse_scope(default_scope).unwrap(),
            token_lifetime,
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
        self.admin.create_client(&client).await.unwrap();
    }

    /// Disables or enables a client, as `oauthctl client disable` does.
    pub async fn set_disabled(&self, client: &TestClient, disabled: bool) {
        self.admin
            .update_client(
                &client.id,
                if disabled {
                    ClientChange::Disable
                } else {
                    ClientChange::Enable {
                        document_expires_at: shared::Clock::now(self.clock.as_ref()) + 86_400,
                    }
                },
            )
            .await
            .unwrap();
    }

    /// Starts a request to `path`.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            env: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Starts a form POST to `path`.
    pub fn post(&self, path: &str, form: &str) -> RequestBuilder<'_> {
        self.request("POST", path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.as_bytes())
    }

    /// Gets a token by client_credentials with HTTP Basic; panics unless 200.
    pub async fn token(&self, client: &TestClient, scope: Option<&str>) -> String {
        let form = match scope {
            Some(s) => format!("grant_type=client_credentials&scope={}", s.replace(' ', "+")),
            None => "grant_type=client_credentials".to_owned(),
        };
        let answer = self
            .post("/o/token/", &form)
            .basic(&client.id, &client.secret)
            .send()
            .await;
        assert_eq!(answer.status, 200, "token request failed: {}", answer.body);
        answer.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Introspects `token` as `caller` (a client with the introspection scope).
    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Answer {
        self.post("/o/introspect/", &format!("token={token}"))
            .basic(&caller.id, &caller.secret)
            .send()
            .await
    }
}

/// A request being built.
pub struct RequestBuilder<'a> {
    env: &'a TestEnv,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RequestBuilder<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// HTTP Basic with each part form-urlencoded... by the caller: sent as given.
    pub fn basic(self, id: &str, secret: &str) -> Self {
        let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        self.header("authorization", &value)
    }

    /// `Authorization: Bearer ...`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets the body.
    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// Sends it through the Lambda adapter.
    pub async fn send(self) -> Answer {
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.path.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body = if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Binary(self.body)
        };
        let request = builder.body(body).expect("valid test request");
        Answer::from(token_service::handle_lambda(&self.env.service, request).await)
    }
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The `error` field of an error answer.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts an RFC 6749 §5.2 error answer: this status and `error` code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.error().as_str()),
            (status, code),
            "{}",
            self.body
        );
    }

    /// One header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

impl From<lambda_http::Response<Body>> for Answer {
    fn from(response: lambda_http::Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8(b).expect("UTF-8 body"),
            _ => String::new(),
        };
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

/// The path of a workspace binary built next to this test (`scripts/test`
/// builds them first).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (scripts/test does)",
        path.display()
    );
    path
}

impl TestEnv {
    /// The service's current time.
    pub fn clock_now(&self) -> u64 {
        use shared::Clock;
        self.clock.now()
    }

    /// The raw stored item with this partition key, bypassing expiry rules.
    pub async fn raw_item(
        &self,
        pk: &str,
    ) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamo()
            .get_item()
            .table_name(&self.table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }
}

/// The `token-service` binary running standalone on a free loopback port.
pub struct Standalone {
    /// The process.
    pub child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Everything it logs, once it exits.
    pub logs: tokio::task::JoinHandle<String>,
}

/// Starts `token-service` outside Lambda on `table`, logging at debug level.
pub async fn start_standalone(table: &str) -> Standalone {
    start_standalone_with(&[("TABLE_NAME", table)]).await
}

/// Starts `token-service` outside Lambda with extra environment variables.
pub async fn start_standalone_with(vars: &[(&str, &str)]) -> Standalone {
    let mut child = Command::new(binary("token-service"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("AWS_ACCESS_KEY_ID", TOKEN_SERVICE_PRINCIPAL)
        .env("ISSUER", "http://127.0.0.1")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .envs(vars.iter().copied())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start token-service");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("addr=").nth(1).filter(|_| line.contains("listening")) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("token-service exited before listening:\n{seen}");
    })
    .await
    .expect("token-service did not start listening within 30 s");
    // Keep draining the log so the server never blocks on a full pipe.
    let logs = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    Standalone { child, addr, logs }
}

/// A sample event of `events/` with its placeholders replaced (the tests,
/// the benchmarks and `sam local invoke -e` use the same files).
pub fn sample_event(name: &str, replacements: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (placeholder, value) in replacements {
        text = text.replace(placeholder, value);
    }
    text
}

/// A PKCE pair (RFC 7636): a fresh verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = generate_secret().unwrap();
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(shared::secret::sha256(&verifier));
    (verifier, challenge)
}

/// The fields of `/proc/<pid>/stat` after the command name (which is in
/// parentheses and may hold spaces): `[0]` is the state, `[2]` the process
/// group, `[11]` and `[12]` user and kernel time in clock ticks. `None` once
/// the process is gone.
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// The Python that has the pinned django-oauth-toolkit (scripts/test sets `DOT_PYTHON`).
pub fn dot_python() -> Command {
    let python = std::env::var("DOT_PYTHON").expect(
        "DOT_PYTHON is not set: run the tests with scripts/test, which installs django-oauth-toolkit",
    );
    Command::new(python)
}

/// What the per-invocation benchmark's events carry: an application's Basic
/// credentials (`client_credentials`, scope `read`), an access token of it,
/// and a resource server's introspection token and Basic credentials.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BenchCredentials {
    pub client_basic: String,
    /// The Basic credentials of a client given JWT access tokens.
    pub jwt_client_basic: String,
    pub access_token: String,
    pub introspection_token: String,
    pub introspection_credentials: String,
}

impl BenchCredentials {
    /// Creates the two clients and their tokens in `store`.
    pub async fn create<S: AdminStore>(store: &S, now: u64) -> Self {
        use shared::admin::{self, NewClient};
        let new_as = |scope: &str, access_token_format| NewClient {
            name: "bench".into(),
            resources: Default::default(),
            grants: [GrantType::ClientCredentials].into_iter().collect(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: parse_scope("").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![],
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format,
        };
        let new = |scope: &str| new_as(scope, shared::model::AccessTokenFormat::Opaque);
        let (jwt_app, jwt_secret) =
            admin::create_client(store, new_as("read", shared::model::AccessTokenFormat::Jwt), now)
                .await
                .unwrap();
        let (app, app_secret) = admin::create_client(store, new("read"), now).await.unwrap();
        let (rs, rs_secret) = admin::create_client(store, new("introspection"), now)
            .await
            .unwrap();
        let mint = |client: String, scope: &'static str| async move {
            admin::mint_token(store, &client, parse_scope(scope).unwrap(), 86_400, now)
                .await
                .unwrap()
                .access_token
        };
        Self {
            client_basic: STANDARD.encode(format!("{}:{}", app.client_id, app_secret.unwrap())),
            jwt_client_basic: STANDARD.encode(format!("{}:{}", jwt_app.client_id, jwt_secret.unwrap())),
            access_token: mint(app.client_id.clone(), "read").await,
            introspection_token: mint(rs.client_id.clone(), "introspection").await,
            introspection_credentials: format!("{}:{}", rs.client_id, rs_secret.unwrap()),
        }
    }

    /// The same, with the JWT client as the client.
    pub fn as_jwt_client(&self) -> Self {
        Self {
            client_basic: self.jwt_client_basic.clone(),
            ..self.clone()
        }
    }

    /// A sample event of `events/` with these credentials in its placeholders.
    pub fn event(&self, name: &str) -> String {
        sample_event(
            name,
            &[
                ("REPLACE_WITH_CLIENT_BASIC", self.client_basic.as_str()),
                (
                    "REPLACE_WITH_INTROSPECTION_TOKEN",
                    self.introspection_token.as_str(),
                ),
                ("REPLACE_WITH_ACCESS_TOKEN", self.access_token.as_str()),
            ],
        )
    }
}

/// The service over loopback HTTP in this process, as `token-service` serves
/// it standalone (`token_service::serve`); stops when dropped.
pub struct Served {
    /// `host:port` it listens on.
    pub addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestEnv {
    /// Serves this environment's service on a free loopback port.
    pub async fn serve(&self) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        self.serve_on(listener)
    }

    /// Serves this environment's service on `listener` (bound first, when
    /// the service's `ISSUER` must name its port).
    pub fn serve_on(&self, listener: tokio::net::TcpListener) -> Served {
        let addr = listener.local_addr().expect("its address").to_string();
        let service = self.service.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = token_service::serve(listener, service).await {
                panic!("the in-process server stopped: {e}");
            }
        });
        Served { addr, task }
    }
}

impl TestEnv {
    /// Whether an item is kept under `key`, live or expired: TTL deletes
    /// late, so expired items stay until then, and must read as absent.
    pub async fn holds(&self, key: &Key) -> bool {
        match &self.admin {
            AnyStore::Memory(store) => store.holds(key),
            AnyStore::Dynamo(_) => self.raw_item(&key.partition_key()).await.is_some(),
        }
    }

    /// Everything stored, as text (every attribute of every item on
    /// DynamoDB): for tests that no token or secret is kept in clear.
    pub async fn dump(&self) -> String {
        match &self.admin {
            AnyStore::Memory(store) => store.dump(),
            AnyStore::Dynamo(_) => {
                let scan = self
                    .dynamo()
                    .scan()
                    .table_name(&self.table)
                    .consistent_read(true)
                    .send()
                    .await
                    .expect("Scan");
                format!("{:?}", scan.items())
            }
        }
    }
}
