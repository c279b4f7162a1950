//! The token service as `functions/token-service` runs it in Lambda (the same
//! runtime, event adapter, logging and service), over the in-memory store
//! instead of DynamoDB: the per-invocation benchmark's way to tell the cost
//! of the DynamoDB calls from everything else. Benchmark only; it writes the
//! credentials it created to `BENCH_SEED_FILE` before taking events.

use std::sync::Arc;

use integration_tests::BenchCredentials;
use lambda_http::Error;
use shared::{MemoryStore, ServiceConfig, SharedClock, SystemClock, TokenService};
use token_service::run_lambda;

// As functions/token-service/src/main.rs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init_json_lines();
    let clock: SharedClock = Arc::new(SystemClock);
    let store = MemoryStore::new(clock.clone());
    let credentials = BenchCredentials::create(&store, clock.now()).await;
    let seed_file = std::env::var("BENCH_SEED_FILE").map_err(|_| "BENCH_SEED_FILE is not set")?;
    // Written whole under another name, then renamed: the harness never reads half a file.
    let partial = format!("{seed_file}.partial");
    std::fs::write(&partial, serde_json::to_vec(&credentials)?)?;
    std::fs::rename(&partial, &seed_file)?;

    let service = Arc::new(TokenService::new(ServiceConfig::from_env()?, store, clock));
    run_lambda(service).await
}
