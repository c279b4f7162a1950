//! `token-service`: the OAuth 2.0 token service as a Lambda function, or as a
//! plain HTTP server when started outside Lambda (no `AWS_LAMBDA_RUNTIME_API`).

use std::io::IsTerminal;
use std::sync::Arc;

use lambda_http::Error;
use token_service::{run_lambda, serve, service_from_env};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's allocator: a warm invocation makes and frees
/// thousands of small allocations (event conversion, the HTTP client, the AWS
/// SDK); what it bought is measured in `docs/performance.md`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if in_lambda {
        shared::logging::init_json_lines();
    } else {
        let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }

    let service = match service_from_env().await {
        Ok(service) => Arc::new(service),
        Err(e) => {
            eprintln!("token-service: {e}");
            std::process::exit(2);
        }
    };

    if in_lambda {
        run_lambda(service).await
    } else {
        let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on LISTEN_ADDR {addr}: {e}"))?;
        tracing::info!(addr = %listener.local_addr()?, "token service listening");
        serve(listener, service).await?;
        Ok(())
    }
}
