//! The cost of a warm invocation, measured on the real release binaries as
//! Lambda drives them: a Lambda Runtime API served from this process (hyper,
//! no script in the loop), one event at a time, the sample API Gateway
//! events of `events/`.
//!
//! The token service runs over DynamoDB Local, and over the in-memory store
//! (`bench-token-service-memory`: the same runtime, adapter and service), so
//! that the DynamoDB calls' share shows.
//!
//! Per scenario it reports, per warm invocation:
//! - **CPU**: the function process's own CPU time (the sum over its threads
//!   of `/proc/<pid>/task/*/schedstat`, nanoseconds), over `BENCH_INVOCATIONS`
//!   invocations (default 2000) after 200 of warm-up, in ten rounds: the
//!   median round. `scripts/bench-invocations` runs everything on one CPU:
//!   on this virtual machine a wake-up across CPUs costs the woken process
//!   about 50 µs (the same build measured 45 µs or 95 µs per invocation
//!   depending on where the scheduler put it);
//! - **instructions**: user-space instructions counted by
//!   `valgrind --tool=callgrind`, the difference between a run of 120 and a
//!   run of 20 invocations divided by 100, so that start-up cancels out
//!   (exact and repeatable; `perf stat -e instructions:u` has no counter on
//!   machines without a PMU, as this one);
//! - **wall**: from handing the event out at `/next` to receiving the
//!   response, median and 99th percentile.
//!
//! Run with `scripts/bench-invocations` (builds the release binaries, starts
//! DynamoDB Local). With `--baseline REF` it also builds REF's binaries and
//! sets `BENCH_BASELINE_DIR`: each scenario then runs both builds side by
//! side and prints before, after and their ratio (`--after REF2` measures
//! REF2's binaries, `BENCH_AFTER_DIR`, in place of this tree's).
//! `BENCH_PROFILE_DIR=dir` keeps each scenario's callgrind profile there.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use integration_tests::{
    binary, dynamo, fresh_table, proc_stat, start_standalone_with, BenchCredentials, TOKEN_SERVICE_PRINCIPAL,
};
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

/// Where a function's binaries come from: this tree's release build, or a
/// baseline's (`scripts/bench-invocations --baseline REF`).
struct Build {
    label: String,
    dir: PathBuf,
}

/// A function under test: its binary and environment, and the event stream.
struct Scenario {
    name: &'static str,
    /// A file name in a [`Build`]'s directory.
    binary: &'static str,
    env: Vec<(String, String)>,
    /// A sample event of `events/`, its placeholders filled with credentials.
    event_file: &'static str,
    /// What every answer must contain (the benchmark measures only success).
    expect: &'static str,
    /// The process makes its own clients and tokens (the in-memory store)
    /// and writes their credentials to `BENCH_SEED_FILE`.
    seeds_itself: bool,
    /// The event's client is the one given JWT access tokens.
    jwt_client: bool,
}

struct Figures {
    cpu_us: f64,
    /// The kernel's share of the CPU time (clock ticks: coarse).
    kernel_share: f64,
    instructions: Option<u64>,
    wall_p50_us: u64,
    wall_p99_us: u64,
}

/// A function process behind its own Runtime API, and the event it is given.
struct Function {
    api: RuntimeApi,
    child: tokio::process::Child,
    event: String,
    expect: &'static str,
}

impl Function {
    async fn start(
        scenario: &Scenario,
        binary: &std::path::Path,
        credentials: &BenchCredentials,
        valgrind: Option<&std::path::Path>,
    ) -> Self {
        let api = RuntimeApi::start().await;
        let seed_file = std::env::temp_dir().join(format!(
            "bench-seed-{}-{}.json",
            std::process::id(),
            SEEDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let mut command = match valgrind {
            Some(out) => {
                let mut c = tokio::process::Command::new("valgrind");
                c.arg("--tool=callgrind")
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg(binary);
                c
            }
            None => tokio::process::Command::new(binary),
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(lambda_env(&api))
            .envs(scenario.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BENCH_SEED_FILE", &seed_file)
            .stdout(Stdio::null())
            .stderr(if valgrind.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        let child = command.spawn().unwrap();
        let credentials = if scenario.seeds_itself {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if let Ok(text) = std::fs::read(&seed_file) {
                    let _ = std::fs::remove_file(&seed_file);
                    break serde_json::from_slice(&text).unwrap();
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: no credentials written",
                    scenario.name
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } else if scenario.jwt_client {
            credentials.as_jwt_client()
        } else {
            credentials.clone()
        };
        let event = serde_json::from_str::<serde_json::Value>(&credentials.event(scenario.event_file))
            .unwrap()
            .to_string();
        Self {
            api,
            child,
            event,
            expect: scenario.expect,
        }
    }

    /// `n` invocations, each answered as expected; their wall times.
    async fn invoke(&self, n: usize, walls: &mut Vec<Duration>) {
        for _ in 0..n {
            let (wall, answer) = self.api.invoke(&self.event).await;
            assert!(answer.contains(self.expect), "{answer}");
            walls.push(wall);
        }
    }

    fn cpu_ns(&self) -> u64 {
        self.child.id().map_or(0, cpu_ns)
    }

    /// User and kernel CPU time so far, in clock ticks (`/proc/<pid>/stat`).
    fn user_kernel_ticks(&self) -> (u64, u64) {
        let fields = self.child.id().and_then(proc_stat).unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
        (field(11), field(12))
    }
}

static SEEDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// User-space instructions of a whole run of `n` invocations under callgrind.
/// With `BENCH_PROFILE_DIR` set, the longer run's profile is kept there
/// (`<build>-<scenario>.callgrind`, for `callgrind_annotate`).
async fn instructions(
    scenario: &Scenario,
    build: &Build,
    credentials: &BenchCredentials,
    n: usize,
) -> Option<u64> {
    let kept = std::env::var_os("BENCH_PROFILE_DIR")
        .filter(|_| n >= 100)
        .map(|dir| {
            let slug: String = format!("{}-{}", build.label, scenario.name)
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
    let mut function = Function::start(
        scenario,
        &build.dir.join(scenario.binary),
        credentials,
        Some(&out),
    )
    .await;
    function.invoke(n, &mut Vec::new()).await;
    drop(function.api.events);
    let output = tokio::time::timeout(Duration::from_secs(120), async {
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(function.child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .ok();
        function.child.wait().await.ok();
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

/// The figures of each build that has the scenario's binary. The builds'
/// processes run side by side, warmed up, then take turns: ten rounds of
/// `n / 10` invocations each, so that a change in the machine's load lands
/// on all of them alike; the CPU figure is the median of the rounds.
async fn measure(
    scenario: &Scenario,
    builds: &[Build],
    credentials: &BenchCredentials,
    n: usize,
) -> Vec<Option<Figures>> {
    const ROUNDS: usize = 10;
    let mut functions = Vec::new();
    for build in builds {
        let binary = build.dir.join(scenario.binary);
        functions.push(if binary.exists() {
            let function = Function::start(scenario, &binary, credentials, None).await;
            function.invoke(200, &mut Vec::new()).await;
            Some(function)
        } else {
            None
        });
    }
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); builds.len()];
    let chunk = (n / ROUNDS).max(1);
    let ticks_before: Vec<(u64, u64)> = functions
        .iter()
        .map(|f| f.as_ref().map_or((0, 0), Function::user_kernel_ticks))
        .collect();
    for _ in 0..ROUNDS {
        for (i, function) in functions.iter().enumerate() {
            let Some(function) = function else { continue };
            let before = function.cpu_ns();
            function.invoke(chunk, &mut walls[i]).await;
            cpu[i].push((function.cpu_ns() - before) as f64 / chunk as f64 / 1000.0);
        }
    }
    let kernel_share: Vec<f64> = functions
        .iter()
        .zip(&ticks_before)
        .map(|(f, (user0, kernel0))| {
            let (user, kernel) = f.as_ref().map_or((0, 0), Function::user_kernel_ticks);
            let (user, kernel) = (user - user0, kernel - kernel0);
            kernel as f64 / (user + kernel).max(1) as f64
        })
        .collect();
    drop(functions);

    let mut figures = Vec::new();
    for (i, build) in builds.iter().enumerate() {
        if cpu[i].is_empty() {
            figures.push(None);
            continue;
        }
        let (few, many) = (20, 120);
        let instructions = match (
            instructions(scenario, build, credentials, few).await,
            instructions(scenario, build, credentials, many).await,
        ) {
            (Some(a), Some(b)) if b > a => Some((b - a) / (many - few) as u64),
            _ => None,
        };
        cpu[i].sort_by(f64::total_cmp);
        walls[i].sort_unstable();
        let pick = |p: f64| walls[i][((walls[i].len() - 1) as f64 * p) as usize].as_micros() as u64;
        figures.push(Some(Figures {
            cpu_us: cpu[i][cpu[i].len() / 2],
            kernel_share: kernel_share[i],
            instructions,
            wall_p50_us: pick(0.5),
            wall_p99_us: pick(0.99),
        }));
    }
    figures
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async_main());
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn async_main() {
    // Criterion's flags (`--bench`) are not ours.
    let n: usize = std::env::var("BENCH_INVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));

    let mut builds = Vec::new();
    if let Some(dir) = std::env::var_os("BENCH_BASELINE_DIR") {
        builds.push(Build {
            label: std::env::var("BENCH_BASELINE_LABEL").unwrap_or_else(|_| "baseline".into()),
            dir: dir.into(),
        });
    }
    builds.push(match std::env::var_os("BENCH_AFTER_DIR") {
        Some(dir) => Build {
            label: std::env::var("BENCH_AFTER_LABEL").unwrap_or_else(|_| "after".into()),
            dir: dir.into(),
        },
        None => Build {
            label: "this tree".into(),
            // A bench runs from target/release: these are the release binaries.
            dir: binary("token-service").parent().unwrap().to_owned(),
        },
    });

    // A table with a client, a resource server and their tokens.
    let table = fresh_table(&dynamo().await).await;
    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo().await, table.clone(), clock);
    let credentials = BenchCredentials::create(&store, shared::Clock::now(&SystemClock)).await;

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

    // Signing keys sealed under a secret, as standalone: the deployed KMS
    // sealing costs a cold start, not a warm invocation.
    let mut jwt_service_env = service_env.clone();
    jwt_service_env.push((
        "SIGNING_KEY_SECRET".into(),
        integration_tests::TEST_SIGNING_KEY_SECRET.into(),
    ));

    // The authorizer asks a token service running standalone (this tree's).
    let introspection_server = start_standalone_with(&[
        ("TABLE_NAME", table.as_str()),
        ("RUST_LOG", "error,token_service=info"),
    ])
    .await;
    let introspection_url = format!("http://{}/o/introspect/", introspection_server.addr);
    let authorizer_env = |caching: &str| -> Vec<(String, String)> {
        [
            ("RESOURCE_SERVER_INTROSPECTION_URL", introspection_url.as_str()),
            (
                "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS",
                credentials.introspection_credentials.as_str(),
            ),
            ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", caching),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let scenario = |name, binary, env: &Vec<(String, String)>, event_file, expect| Scenario {
        name,
        binary,
        env: env.clone(),
        event_file,
        expect,
        seeds_itself: binary == MEMORY_BINARY,
        jwt_client: false,
    };
    let (cached, uncached) = (authorizer_env("60"), authorizer_env("0"));
    let scenarios = [
        scenario(
            "token service: GET metadata (no DynamoDB call)",
            "token-service",
            &service_env,
            "token-service-metadata.json",
            "\"statusCode\":200",
        ),
        scenario(
            "token service: introspection (1 BatchGetItem)",
            "token-service",
            &service_env,
            "token-service-introspect.json",
            "\\\"active\\\":true",
        ),
        scenario(
            "token service: client_credentials issuance (GetItem + PutItem)",
            "token-service",
            &service_env,
            "token-service-token.json",
            "access_token",
        ),
        Scenario {
            jwt_client: true,
            ..scenario(
                "token service: client_credentials issuance, JWT access token (GetItem + PutItem, RS256)",
                "token-service",
                &jwt_service_env,
                "token-service-token.json",
                "access_token",
            )
        },
        scenario(
            "token service, in-memory store: introspection",
            MEMORY_BINARY,
            &service_env,
            "token-service-introspect.json",
            "\\\"active\\\":true",
        ),
        scenario(
            "token service, in-memory store: client_credentials issuance",
            MEMORY_BINARY,
            &service_env,
            "token-service-token.json",
            "access_token",
        ),
        scenario(
            "authorizer: REST TOKEN, warm cache",
            "authorizer",
            &cached,
            "authorizer-rest-token.json",
            "Allow",
        ),
        scenario(
            "authorizer: HTTP API, warm cache",
            "authorizer",
            &cached,
            "authorizer-http-api.json",
            "isAuthorized",
        ),
        scenario(
            "authorizer: REST TOKEN, cold (one introspection)",
            "authorizer",
            &uncached,
            "authorizer-rest-token.json",
            "Allow",
        ),
        scenario(
            "authorizer: HTTP API, cold (one introspection)",
            "authorizer",
            &uncached,
            "authorizer-http-api.json",
            "isAuthorized",
        ),
    ];

    let compare = builds.len() > 1;
    if compare {
        println!(
            "Before: {}; after: {}. CPU: median of 10 rounds, the builds taking turns.\n",
            builds[0].label, builds[1].label
        );
        println!("| Warm invocation ({n} measured) | CPU µs before | after | ratio | instructions before | after | ratio | wall p50 µs before | after |");
        println!("|---|---|---|---|---|---|---|---|---|");
    } else {
        println!("| Warm invocation ({n} measured) | CPU µs | in the kernel | instructions | wall p50 µs | wall p99 µs |");
        println!("|---|---|---|---|---|---|");
    }
    let instructions = |f: &Figures| f.instructions.map_or("n/a".to_owned(), thousands);
    for scenario in scenarios
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| s.name.contains(o)))
    {
        let figures = measure(scenario, &builds, &credentials, n).await;
        if !compare {
            let Some(f) = &figures[0] else { continue };
            println!(
                "| {} | {:.0} | {:.0}% | {} | {} | {} |",
                scenario.name,
                f.cpu_us,
                f.kernel_share * 100.0,
                instructions(f),
                thousands(f.wall_p50_us),
                thousands(f.wall_p99_us)
            );
            continue;
        }
        let (before, after) = (&figures[0], &figures[1]);
        let Some(after) = after else { continue };
        let Some(before) = before else {
            println!(
                "| {} | – | {:.0} | – | – | {} | – | – | {} |",
                scenario.name,
                after.cpu_us,
                instructions(after),
                thousands(after.wall_p50_us)
            );
            continue;
        };
        let instruction_ratio = match (before.instructions, after.instructions) {
            (Some(b), Some(a)) if b > 0 => format!("×{:.3}", a as f64 / b as f64),
            _ => "n/a".into(),
        };
        println!(
            "| {} | {:.0} | {:.0} | ×{:.2} | {} | {} | {instruction_ratio} | {} | {} |",
            scenario.name,
            before.cpu_us,
            after.cpu_us,
            after.cpu_us / before.cpu_us,
            instructions(before),
            instructions(after),
            thousands(before.wall_p50_us),
            thousands(after.wall_p50_us)
        );
    }
    drop(introspection_server);
}

/// The token service over the in-memory store (`tests/src/bin`).
const MEMORY_BINARY: &str = "bench-token-service-memory";
