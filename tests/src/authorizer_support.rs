//! Helpers for the authorizer tests: the sample events in `events/`, a fake
//! introspection endpoint for failure cases, and IAM policy evaluation as API
//! Gateway does it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authorizer::introspection::https_client;
use authorizer::{Authorizer, AuthorizerConfig};
use serde_json::Value;
use shared::SharedClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The three authorizer event kinds, each with its sample file in `events/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// REST API `TOKEN` authorizer.
    RestToken,
    /// REST API `REQUEST` authorizer.
    RestRequest,
    /// HTTP API authorizer, payload 2.0.
    HttpApi,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 3] = [EventKind::RestToken, EventKind::RestRequest, EventKind::HttpApi];

    /// The sample event file.
    pub fn file(self) -> &'static str {
        match self {
            EventKind::RestToken => "authorizer-rest-token.json",
            EventKind::RestRequest => "authorizer-rest-request.json",
            EventKind::HttpApi => "authorizer-http-api.json",
        }
    }
}

/// The sample's ARN prefix (API and stage).
pub const API_STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod";

/// The authorizer as the function's `main` builds it at cold start: the HTTP
/// client, the credentials (from Secrets Manager when configured so), then
/// the authorizer.
pub async fn cold_start(config: AuthorizerConfig, clock: SharedClock) -> Result<Authorizer, String> {
    let client = https_client()?;
    let auth = config.auth.resolve(&client, config.timeout).await?;
    Authorizer::new(config, &auth, client, clock)
}

/// Answers `event` as the function does in Lambda: the event's bytes read
/// as an [`authorizer::AuthorizerEvent`], [`authorizer::handle`], and the
/// answer as the JSON the runtime hands API Gateway.
pub async fn authorize(authorizer: &Authorizer, event: Value) -> Result<Value, authorizer::Refusal> {
    let event = serde_json::from_str(&event.to_string()).expect("JSON reads as an authorizer event");
    let answer = authorizer::handle(authorizer, event).await?;
    let json = serde_json::to_vec(&answer).expect("an answer serialises");
    Ok(serde_json::from_slice(&json).expect("an answer is JSON"))
}

/// The sample event of `kind`, with `authorization` as its Authorization
/// value (`None`: no header at all) and the request's method and path.
pub fn event(kind: EventKind, authorization: Option<&str>, method: &str, path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(kind.file());
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let quoted = serde_json::to_string(authorization.unwrap_or("REMOVE")).unwrap();
    let text = text
        .replace(
            "Bearer REPLACE_WITH_ACCESS_TOKEN",
            // As JSON string content: any header value, escaped, unquoted.
            &quoted[1..quoted.len() - 1],
        )
        .replace("GET/items/42", &format!("{method}{path}"))
        .replace("/items/42", path)
        .replace("\"GET\"", &format!("\"{method}\""));
    let mut event: Value = serde_json::from_str(&text).unwrap();
    if authorization.is_none() {
        let object = event.as_object_mut().unwrap();
        object.remove("authorizationToken");
        for headers in ["headers", "multiValueHeaders"] {
            if let Some(h) = object.get_mut(headers).and_then(Value::as_object_mut) {
                h.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
            }
        }
        object.remove("identitySource");
    }
    event
}

/// A token that is no good: the REST authorizers answer the error
/// `Unauthorized` (API Gateway's 401); HTTP APIs have no such error (any error
/// is a 500 there), so the answer there refuses every route of the API (403).
pub fn assert_refused(outcome: Result<Value, authorizer::Refusal>, kind: EventKind, why: &str) {
    match kind {
        EventKind::HttpApi => {
            let answer = outcome.unwrap_or_else(|e| panic!("{why}: HTTP API refusal as an error {e:?}"));
            match answer.get("isAuthorized") {
                Some(allowed) => assert_eq!(allowed, false, "{why}: {answer}"),
                None => {
                    for route in ["GET/items/42", "POST/items", "DELETE/anything/at/all"] {
                        assert!(
                            !policy_allows(&answer, &format!("{API_STAGE}/{route}")),
                            "{why}: {route} {answer}"
                        );
                    }
                }
            }
        }
        _ => assert_eq!(
            outcome.unwrap_err(),
            authorizer::Refusal::Unauthorized,
            "{why} {kind:?}"
        ),
    }
}

/// What API Gateway does with an IAM policy answer for `method_arn`: any
/// matching Deny wins, else any matching Allow allows.
pub fn policy_allows(answer: &Value, method_arn: &str) -> bool {
    let statements = answer["policyDocument"]["Statement"]
        .as_array()
        .expect("a policy document");
    let matching = |effect: &str| {
        statements.iter().filter(|s| s["Effect"] == effect).any(|s| {
            s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| iam_glob(r.as_str().unwrap(), method_arn))
        })
    };
    !matching("Deny") && matching("Allow")
}

fn iam_glob(pattern: &str, text: &str) -> bool {
    match pattern.chars().next() {
        None => text.is_empty(),
        Some('*') => (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .any(|i| iam_glob(&pattern[1..], &text[i..])),
        Some('?') => text
            .chars()
            .next()
            .is_some_and(|c| iam_glob(&pattern[1..], &text[c.len_utf8()..])),
        Some(p) => text.starts_with(p) && iam_glob(&pattern[p.len_utf8()..], &text[p.len_utf8()..]),
    }
}

/// How the fake endpoint answers a request body: status, body, delay.
pub type Answerer = dyn Fn(&str) -> (u16, String, Duration) + Send + Sync;

/// A fake introspection endpoint on a loopback port.
pub struct FakeIntrospection {
    /// Its URL.
    pub url: String,
    /// Requests answered so far.
    pub calls: Arc<AtomicUsize>,
    /// The last request, head and body.
    pub last_request: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIntrospection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIntrospection {
    /// Starts one that answers every request through `answer`.
    pub async fn start(answer: Arc<Answerer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/o/introspect/", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (c, l) = (calls.clone(), last_request.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (answer, calls, last_request) = (answer.clone(), c.clone(), l.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    calls.fetch_add(1, Ordering::SeqCst);
                    *last_request.lock().unwrap() = request.clone();
                    let body = request.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
                    let (status, body, delay) = answer(&body);
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            calls,
            last_request,
            task,
        }
    }

    /// Starts one that always gives the same answer.
    pub async fn always(status: u16, body: &str) -> Self {
        let body = body.to_owned();
        Self::start(Arc::new(move |_| (status, body.clone(), Duration::ZERO))).await
    }

    /// Requests answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().ok())
                })
                .flatten()
                .unwrap_or(0usize);
            if buffer.len() >= end + 4 + length {
                return Some(text.into_owned());
            }
        }
    }
}
