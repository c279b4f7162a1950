//! Authorizer benchmarks (run with `scripts/bench`): the handler's time for a
//! decision answered from the warm cache (the event read from its JSON, the
//! decision, the answer), per event kind, with scope rules;
//! and a cold decision, which costs one introspection call to a loopback
//! endpoint (counted, and timed with it).

use std::collections::HashMap;
use std::sync::Arc;

use authorizer::{handle, Authorizer, AuthorizerConfig, AuthorizerEvent};
use criterion::{criterion_group, criterion_main, Criterion};
use integration_tests::authorizer_support::{event, EventKind, FakeIntrospection};
use shared::{SharedClock, SystemClock};

async fn authorizer(url: &str, caching: &str) -> Authorizer {
    let vars: HashMap<&str, String> = HashMap::from([
        ("RESOURCE_SERVER_INTROSPECTION_URL", url.to_owned()),
        ("RESOURCE_SERVER_AUTH_TOKEN", "rs".to_owned()),
        ("RESOURCE_SERVER_TOKEN_CACHING_SECONDS", caching.to_owned()),
        (
            "SCOPE_RULES",
            "GET /items/* = read\nPOST /items = write\n* /admin/* = admin".to_owned(),
        ),
    ]);
    let config = AuthorizerConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    integration_tests::authorizer_support::cold_start(config, clock)
        .await
        .unwrap()
}

/// The event as the runtime reads it from the invocation's bytes.
fn read(json: &str) -> AuthorizerEvent {
    serde_json::from_str(json).unwrap()
}

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let body = format!(
        r#"{{"active": true, "exp": {exp}, "scope": "read", "client_id": "bench", "token_type": "Bearer"}}"#
    );
    let fake = runtime.block_on(FakeIntrospection::always(200, &body));
    let warm = runtime.block_on(authorizer(&fake.url, "3600"));
    let token = "Bearer benchmarkTokenValue0123456789abcdefghijklmnop";

    let mut group = c.benchmark_group("authorizer_warm");
    for kind in EventKind::ALL {
        let request = event(kind, Some(token), "GET", "/items/42").to_string();
        runtime.block_on(handle(&warm, read(&request))).unwrap();
        group.bench_function(format!("{kind:?}"), |b| {
            b.to_async(&runtime)
                .iter(|| async { handle(&warm, read(&request)).await.unwrap() })
        });
    }
    group.finish();
    assert_eq!(fake.calls(), 1, "warm decisions made introspection calls");

    let cold = runtime.block_on(authorizer(&fake.url, "0"));
    let request = event(EventKind::RestToken, Some(token), "GET", "/items/42").to_string();
    let before = fake.calls();
    runtime.block_on(handle(&cold, read(&request))).unwrap();
    eprintln!("cold decision: {} introspection call(s)", fake.calls() - before);
    c.bench_function("authorizer_cold/RestToken (loopback introspection)", |b| {
        b.to_async(&runtime)
            .iter(|| async { handle(&cold, read(&request)).await.unwrap() })
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
