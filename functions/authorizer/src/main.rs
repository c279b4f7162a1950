//! `authorizer`: the API Gateway Lambda authorizer.

use std::sync::Arc;

use authorizer::{handle, Authorizer, AuthorizerConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::{SharedClock, SystemClock};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init_json_lines();

    let config = AuthorizerConfig::from_env().inspect_err(|e| eprintln!("authorizer: {e}"))?;
    let clock: SharedClock = Arc::new(SystemClock);
    let authorizer = Arc::new(
        Authorizer::new(config, clock)
            .await
            .inspect_err(|e| eprintln!("authorizer: {e}"))?,
    );

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let authorizer = authorizer.clone();
        async move { handle(&authorizer, event.payload).await }
    }))
    .await
}
