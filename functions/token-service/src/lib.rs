//! Adapters from the token service's two front ends to the one request path,
//! [`shared::TokenService::handle`]:
//! - Lambda: API Gateway (REST or HTTP API) and ALB events through `lambda_http`;
//! - standalone: a plain HTTP/1.1 server, for local runs and tests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use shared::dynamo::DynamoClient;
use shared::keys::{KmsClient, Sealer};
use shared::{
    DynamoStore, HttpRequest, HttpResponse, ServiceConfig, Store, SystemClock, TokenService, MAX_BODY_BYTES,
};
use tokio::net::TcpListener;

/// Builds the service from the environment, once per cold start.
pub async fn service_from_env() -> Result<TokenService<DynamoStore>, shared::ConfigError> {
    let config = ServiceConfig::from_env()?;
    // The SDK reads AWS_ENDPOINT_URL_DYNAMODB itself (DynamoDB Local). Bounded
    // timeouts turn a stalled DynamoDB into a prompt 503, not a Lambda timeout.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    let clock: shared::SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(DynamoClient::new(&aws), config.table_name.clone(), clock.clone());
    let sealer = config
        .key_sealing
        .as_ref()
        .map(|sealing| Sealer::for_config(sealing, || KmsClient::new(&aws)));
    Ok(TokenService::with_sealer(config, store, sealer, clock))
}

/// Serves Lambda invocations (the Runtime API named by the environment) with
/// `service` until the runtime stops.
pub async fn run_lambda<S: Store + 'static>(service: Arc<TokenService<S>>) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |request| {
        let service = service.clone();
        async move { Ok::<_, lambda_http::Error>(handle_lambda(&service, request).await) }
    }))
    .await
}

/// Answers one Lambda HTTP event.
pub async fn handle_lambda<S: Store>(
    service: &TokenService<S>,
    request: lambda_http::Request,
) -> lambda_http::Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let response = service.handle(HttpRequest::from_parts(parts, body)).await;
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body)
    };
    lambda_http::Response::from_parts(parts, body)
}

/// Serves the same routes over plain HTTP/1.1 until the listener fails.
pub async fn serve<S: Store>(listener: TcpListener, service: Arc<TokenService<S>>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(handle_http(&service, request).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle_http<S: Store>(
    service: &TokenService<S>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = read_capped(body).await;
    let response: HttpResponse = service.handle(HttpRequest::from_parts(parts, body)).await;
    response.map(|body| Full::new(Bytes::from(body)))
}

/// Reads at most `MAX_BODY_BYTES + 1` bytes: enough for the core to refuse an
/// oversized body without this server buffering all of it.
async fn read_capped(mut body: Incoming) -> Vec<u8> {
    let limit = MAX_BODY_BYTES + 1;
    let mut buffer = Vec::new();
    while buffer.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = limit - buffer.len();
                    buffer.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            // A broken body can't be a valid form; an empty one is refused as such.
            Some(Err(_)) | None => break,
        }
    }
    buffer
}
