//! `authorizer`: the API Gateway Lambda authorizer. The cold start's work is
//! here, once: configuration, the HTTP client, the introspection credentials
//! (from Secrets Manager when configured so); every invocation then only
//! translates its event through [`handle`].

use std::sync::Arc;

use authorizer::introspection::https_client;
use authorizer::{handle, Authorizer, AuthorizerConfig, AuthorizerEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::{SharedClock, SystemClock};

/// mimalloc rather than glibc's allocator: a warm decision makes and frees
/// many small allocations (the event, the runtime's HTTP client, the
/// answer); what it bought is measured in `docs/performance.md`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init_json_lines();

    let authorizer = Arc::new(cold_start().await.inspect_err(|e| eprintln!("authorizer: {e}"))?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AuthorizerEvent>| {
        let authorizer = authorizer.clone();
        async move { handle(&authorizer, event.payload).await }
    }))
    .await
}

async fn cold_start() -> Result<Authorizer, Error> {
    let config = AuthorizerConfig::from_env()?;
    let client = https_client()?;
    let auth = config.auth.resolve(&client, config.timeout).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    Ok(Authorizer::new(config, &auth, client, clock)?)
}
