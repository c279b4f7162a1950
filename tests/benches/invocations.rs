//! The cost of a warm invocation, measured on the real release binaries as
//! Lambda drives them: a Lambda Runtime API served from this process (hyper,
//! no script in the loop), one event at a time, the sample API Gateway
//! events of `events/`.
//!
//! Per scenario it reports, per warm invocation:
//! - **CPU**: the function process's own CPU time (the sum over its threads
//!   of `/proc/<pid>/task/*/schedstat`, nanoseconds), over `BENCH_INVOCATIONS`
//!   invocations (default 2000) after 200 of warm-up;
//! - **instructions**: user-space instructions counted by
//!   `valgrind --tool=callgrind`, the difference between a run of 120 and a
//!   run of 20 invocations divided by 100, so that start-up cancels out
//!   (exact and repeatable; `perf stat -e instructions:u` has no counter on
//!   machines without a PMU, as this one);
//! - **wall**: from handing the event out at `/next` to receiving the
//!   response, median and 99th percentile.
//!
//! Run with `scripts/bench-invocations` (builds the release binaries, starts
//! DynamoDB Local). `BENCH_PROFILE_DIR=dir` keeps each scenario's callgrind
//! profile there.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use integration_tests::{
    binary, dynamo, fresh_table, sample_event, start_standalone_with, TOKEN_SERVICE_PRINCIPAL,
};
use shared::admin::{self, NewClient};
use shared::model::GrantType;
use shared::scope::parse_scope;
use shared::{DynamoStore, SharedClock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

/// An event handed out at `/next`, and where its answer goes.
struct Pending {
    body: String,
    answered: tokio::sync::oneshot::Sender<(Instant, String)>,
    handed_out: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// A Lambda Runtime API for one function process.
struct RuntimeApi {
    addr: String,
    events: mpsc::Sender<Pending>,
}

impl RuntimeApi {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (events, receiver) = mpsc::channel::<Pending>(1);
        let receiver = Arc::new(Mutex::new(receiver));
        let waiting: Arc<std::sync::Mutex<HashMap<String, Pending>>> = Arc::default();
        tokio::spawn(async move {
            let next_id = Arc::new(std::sync::atomic::AtomicU64::new(1));
            while let Ok((stream, _)) = listener.accept().await {
                let (receiver, waiting, next_id) = (receiver.clone(), waiting.clone(), next_id.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (receiver, waiting, next_id) =
                            (receiver.clone(), waiting.clone(), next_id.clone());
                        async move {
                            let path = request.uri().path().to_owned();
                            let reply = |status: u16, body: String| {
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap()
                            };
                            if path.ends_with("/invocation/next") {
                                let pending = receiver.lock().await.recv().await;
                                let Some(pending) = pending else {
                                    // No more events: the runtime's next fails and it exits.
                                    return Ok::<_, Infallible>(reply(500, "{}".into()));
                                };
                                let id = format!(
                                    "req-{}",
                                    next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                                );
                                let body = pending.body.clone();
                                *pending.handed_out.lock().unwrap() = Some(Instant::now());
                                waiting.lock().unwrap().insert(id.clone(), pending);
                                let deadline = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .unwrap()
                                    .as_millis()
                                    + 30_000;
                                let response = hyper::Response::builder()
                                    .status(200)
                                    .header("content-type", "application/json")
                                    .header("lambda-runtime-aws-request-id", &id)
                                    .header("lambda-runtime-deadline-ms", deadline.to_string())
                                    .header(
                                        "lambda-runtime-invoked-function-arn",
                                        "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                    )
                                    .header(
                                        "lambda-runtime-trace-id",
                                        "Root=1-00000000-000000000000000000000000",
                                    )
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap();
                                return Ok(response);
                            }
                            let answered_at = Instant::now();
                            let id = path.split('/').rev().nth(1).unwrap_or("").to_owned();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if let Some(pending) = waiting.lock().unwrap().remove(&id) {
                                let kind = if path.ends_with("/error") { "error: " } else { "" };
                                let _ = pending
                                    .answered
                                    .send((answered_at, format!("{kind}{}", String::from_utf8_lossy(&body))));
                            }
                            Ok(reply(202, "{}".into()))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, events }
    }

    /// One invocation: (wall time, the function's answer).
    async fn invoke(&self, event: &str) -> (Duration, String) {
        let (answered, rx) = tokio::sync::oneshot::channel();
        let handed_out = Arc::new(std::sync::Mutex::new(None));
        self.events
            .send(Pending {
                body: event.to_owned(),
                answered,
                handed_out: handed_out.clone(),
            })
            .await
            .unwrap();
        let (at, body) = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .unwrap();
        let started = handed_out.lock().unwrap().expect("handed out");
        (at - started, body)
    }
}

/// CPU time of a process so far, all its threads, nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn lambda_env(api: &RuntimeApi) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.addr.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        // As template.yaml deploys them: JSON lines at INFO.
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A function under test: its binary and environment, and the event stream.
struct Scenario {
    name: &'static str,
    binary: &'static str,
    env: Vec<(String, String)>,
    event: String,
    /// What every answer must contain (the benchmark measures only success).
    expect: &'static str,
}

struct Figures {
    cpu_us: f64,
    instructions: Option<u64>,
    wall_p50_us: u64,
    wall_p99_us: u64,
}

async fn spawn(
    scenario: &Scenario,
    api: &RuntimeApi,
    valgrind: Option<&std::path::Path>,
) -> tokio::process::Child {
    // A bench runs from target/release: these are the release binaries.
    let binary = binary(scenario.binary);
    let mut command = match valgrind {
        Some(out) => {
            let mut c = tokio::process::Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&binary);
            c
        }
        None => tokio::process::Command::new(&binary),
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(lambda_env(api))
        .envs(scenario.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(if valgrind.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn run_invocations(api: &RuntimeApi, scenario: &Scenario, n: usize) -> Vec<Duration> {
    let mut walls = Vec::with_capacity(n);
    for _ in 0..n {
        let (wall, answer) = api.invoke(&scenario.event).await;
        assert!(answer.contains(scenario.expect), "{}: {answer}", scenario.name);
        walls.push(wall);
    }
    walls
}

/// User-space instructions of a whole run of `n` invocations under callgrind.
/// With `BENCH_PROFILE_DIR` set, the longer run's profile is kept there
/// (`<scenario>.callgrind`, for `callgrind_annotate`).
async fn instructions(scenario: &Scenario, n: usize) -> Option<u64> {
    let kept = std::env::var_os("BENCH_PROFILE_DIR")
        .filter(|_| n >= 100)
        .map(|dir| {
            let slug: String = scenario
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            PathBuf::from(dir).join(format!("{slug}.callgrind"))
        });
    let out = kept
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("callgrind-{}-{n}.out", std::process::id())));
    let api = RuntimeApi::start().await;
    let mut child = spawn(scenario, &api, Some(&out)).await;
    run_invocations(&api, scenario, n).await;
    drop(api.events);
    let output = tokio::time::timeout(Duration::from_secs(120), async {
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .ok();
        child.wait().await.ok();
        stderr
    })
    .await
    .ok()?;
    if kept.is_none() {
        let _ = std::fs::remove_file(&out);
    }
    output
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
}

async fn measure(scenario: &Scenario, n: usize) -> Figures {
    let api = RuntimeApi::start().await;
    let child = spawn(scenario, &api, None).await;
    let pid = child.id().unwrap();
    run_invocations(&api, scenario, 200).await;
    let before = cpu_ns(pid);
    let mut walls = run_invocations(&api, scenario, n).await;
    let after = cpu_ns(pid);
    drop(child);
    walls.sort_unstable();
    let pick = |p: f64| walls[((walls.len() - 1) as f64 * p) as usize].as_micros() as u64;
    let (few, many) = (20, 120);
    let instructions = match (
        instructions(scenario, few).await,
        instructions(scenario, many).await,
    ) {
        (Some(a), Some(b)) if b > a => Some((b - a) / (many - few) as u64),
        _ => None,
    };
    Figures {
        cpu_us: (after - before) as f64 / n as f64 / 1000.0,
        instructions,
        wall_p50_us: pick(0.5),
        wall_p99_us: pick(0.99),
    }
}

/// A sample event on one line, as the Runtime API hands events out.
fn event(file: &str, replacements: &[(&str, &str)]) -> String {
    let text = sample_event(file, replacements);
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .to_string()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async_main());
}

async fn async_main() {
    // Criterion's flags (`--bench`) are not ours.
    let n: usize = std::env::var("BENCH_INVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));

    // A table with a client, a resource server and their tokens.
    let table = fresh_table(&dynamo().await).await;
    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo().await, table.clone(), clock);
    let new = |grants: &[GrantType], scope: &str| NewClient {
        name: "bench".into(),
        grants: grants.iter().copied().collect(),
        scopes: parse_scope(scope).unwrap(),
        default_scopes: parse_scope("").unwrap(),
        token_lifetime: None,
        redirect_uris: vec![],
        public: false,
        skip_consent: false,
    };
    let (app, app_secret) = admin::create_client(&store, new(&[GrantType::ClientCredentials], "read"), 0)
        .await
        .unwrap();
    let (rs, rs_secret) =
        admin::create_client(&store, new(&[GrantType::ClientCredentials], "introspection"), 0)
            .await
            .unwrap();
    let now = shared::Clock::now(&SystemClock);
    let mint = |client: String, scope: &'static str| {
        let store = &store;
        async move {
            admin::mint_token(store, &client, parse_scope(scope).unwrap(), 86_400, now)
                .await
                .unwrap()
                .access_token
        }
    };
    let access = mint(app.client_id.clone(), "read").await;
    let rs_token = mint(rs.client_id.clone(), "introspection").await;
    let basic = STANDARD.encode(format!("{}:{}", app.client_id, app_secret.unwrap()));

    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB (scripts/bench-invocations)");
    let service_env: Vec<(String, String)> = [
        ("TABLE_NAME", table.as_str()),
        ("ISSUER", "https://auth.example.test"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", TOKEN_SERVICE_PRINCIPAL),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_SESSION_TOKEN", "local"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    // The authorizer asks a token service running standalone (release).
    let introspection_server = start_standalone_with(&[
        ("TABLE_NAME", table.as_str()),
        ("RUST_LOG", "error,token_service=info"),
    ])
    .await;
    let introspection_url = format!("http://{}/o/introspect/", introspection_server.addr);
    let rs_credentials = format!("{}:{}", rs.client_id, rs_secret.unwrap());
    let authorizer_env = |caching: &str| -> Vec<(String, String)> {
        [
            ("RESOURCE_SERVER_INTROSPECTION_URL", introspection_url.as_str()),
            (
                "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS",
                rs_credentials.as_str(),
            ),
            ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", caching),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let bearer = [("REPLACE_WITH_ACCESS_TOKEN", access.as_str())];

    let scenarios = [
        Scenario {
            name: "token service: GET metadata (no DynamoDB call)",
            binary: "token-service",
            env: service_env.clone(),
            event: event("token-service-metadata.json", &[]),
            expect: "\"statusCode\":200",
        },
        Scenario {
            name: "token service: introspection (1 BatchGetItem)",
            binary: "token-service",
            env: service_env.clone(),
            event: event(
                "token-service-introspect.json",
                &[
                    ("REPLACE_WITH_INTROSPECTION_TOKEN", rs_token.as_str()),
                    ("REPLACE_WITH_ACCESS_TOKEN", access.as_str()),
                ],
            ),
            expect: "\\\"active\\\":true",
        },
        Scenario {
            name: "token service: client_credentials issuance (GetItem + PutItem)",
            binary: "token-service",
            env: service_env.clone(),
            event: event(
                "token-service-token.json",
                &[("REPLACE_WITH_CLIENT_BASIC", basic.as_str())],
            ),
            expect: "access_token",
        },
        Scenario {
            name: "authorizer: REST TOKEN, warm cache",
            binary: "authorizer",
            env: authorizer_env("60"),
            event: event("authorizer-rest-token.json", &bearer),
            expect: "Allow",
        },
        Scenario {
            name: "authorizer: HTTP API, warm cache",
            binary: "authorizer",
            env: authorizer_env("60"),
            event: event("authorizer-http-api.json", &bearer),
            expect: "isAuthorized",
        },
        Scenario {
            name: "authorizer: REST TOKEN, cold (one introspection)",
            binary: "authorizer",
            env: authorizer_env("0"),
            event: event("authorizer-rest-token.json", &bearer),
            expect: "Allow",
        },
        Scenario {
            name: "authorizer: HTTP API, cold (one introspection)",
            binary: "authorizer",
            env: authorizer_env("0"),
            event: event("authorizer-http-api.json", &bearer),
            expect: "isAuthorized",
        },
    ];

    println!("| Warm invocation ({n} measured) | CPU µs | instructions | wall p50 µs | wall p99 µs |");
    println!("|---|---|---|---|---|");
    for scenario in scenarios
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| s.name.contains(o)))
    {
        let f = measure(scenario, n).await;
        let instructions = f.instructions.map_or("n/a".to_owned(), |i| format!("{i}"));
        println!(
            "| {} | {:.0} | {instructions} | {} | {} |",
            scenario.name, f.cpu_us, f.wall_p50_us, f.wall_p99_us
        );
    }
    drop(introspection_server);
}
