//! Token service benchmarks (run with `scripts/bench`).
//!
//! - `handler_cpu/*`: the whole request path (routing, parsing, client
//!   authentication, hashing, JSON) over an in-memory store, i.e. the CPU a
//!   request costs apart from its DynamoDB round trips.
//! - `dynamodb_local/*`: the same requests against DynamoDB Local, the real
//!   store; needs `AWS_ENDPOINT_URL_DYNAMODB` (scripts/bench sets it).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use integration_tests::TestEnv;
use shared::model::{Client, ClientAuth, GrantType, User};
use shared::password::make_password;
use shared::scope::parse_scope;
use shared::secret::{generate_id, generate_secret, sha256_hex};
use shared::{AdminStore, HttpRequest, MemoryStore, ServiceConfig, SharedClock, SystemClock, TokenService};

fn form(path: &str, authorization: &str, body: &str) -> HttpRequest {
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn handler_cpu(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ServiceConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some("bench".into()),
        "ISSUER" => Some("https://auth.example.test".into()),
        // OpenID Connect on: JWT access tokens are signed with its keys.
        "SIGNING_KEY_SECRET" => Some(integration_tests::TEST_SIGNING_KEY_SECRET.into()),
        _ => None,
    })
    .unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let service = TokenService::new(config, MemoryStore::new(clock.clone()), clock);
    let register = |scope: &str, format: shared::model::AccessTokenFormat| {
        let (id, secret) = (generate_id().unwrap(), generate_secret().unwrap());
        let client = Client {
            client_id: id.clone(),
            name: "bench".into(),
            auth: ClientAuth::Confidential {
                secret_hash: sha256_hex(&secret),
            },
            grant_types: [GrantType::ClientCredentials].into(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: Default::default(),
            token_lifetime: None,
            disabled: false,
            created_at: 0,
            redirect_uris: Vec::new(),
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: format,
            resources: Default::default(),
            registration: Default::default(),
        };
        runtime.block_on(service.store().create_client(&client)).unwrap();
        basic(&id, &secret)
    };
    use shared::model::AccessTokenFormat::{Jwt, Opaque};
    let app = register("read write", Opaque);
    let jwt_app = register("read write", Jwt);
    let rs = register("introspection", Opaque);
    let issue = || form("/o/token/", &app, "grant_type=client_credentials&scope=read");
    let issue_jwt = || form("/o/token/", &jwt_app, "grant_type=client_credentials&scope=read");
    // The first JWT makes and seals the signing key: outside the measurement.
    assert_eq!(runtime.block_on(service.handle(issue_jwt())).status(), 200);
    let answer = runtime.block_on(service.handle(issue()));
    let token: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
    let introspect_body = format!("token={}", token["access_token"].as_str().unwrap());

    let mut group = c.benchmark_group("handler_cpu");
    group.bench_function("issue", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(service.handle(issue()).await.status(), 200) })
    });
    // The same grant for a client whose access tokens are RS256 JWTs.
    group.bench_function("issue_jwt", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(service.handle(issue_jwt()).await.status(), 200) })
    });
    group.bench_function("introspect", |b| {
        b.to_async(&runtime).iter(|| async {
            let answer = service
                .handle(form("/o/introspect/", &rs, &introspect_body))
                .await;
            assert!(answer.body().starts_with(r#"{"active":true"#));
        })
    });
    group.finish();
}

fn dynamodb_local(c: &mut Criterion) {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("dynamodb_local/*: skipped, AWS_ENDPOINT_URL_DYNAMODB is not set (use scripts/bench)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = runtime.block_on(TestEnv::on_dynamodb(&[]));
    let app = runtime.block_on(env.client("read write"));
    let rs = runtime.block_on(env.client("introspection"));
    let app_basic = basic(&app.id, &app.secret);
    let rs_basic = basic(&rs.id, &rs.secret);
    let token = runtime.block_on(env.token(&app, Some("read")));
    let introspect_body = format!("token={token}");

    let mut group = c.benchmark_group("dynamodb_local");
    group.bench_function("issue", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = form(
                "/o/token/",
                &app_basic,
                "grant_type=client_credentials&scope=read",
            );
            assert_eq!(env.service.handle(request).await.status(), 200)
        })
    });
    group.bench_function("introspect", |b| {
        b.to_async(&runtime).iter(|| async {
            let answer = env
                .service
                .handle(form("/o/introspect/", &rs_basic, &introspect_body))
                .await;
            assert!(answer.body().starts_with(r#"{"active":true"#));
        })
    });
    // A refresh rotation: each iteration exchanges the newest refresh token
    // of one family that grows all along (its age must not matter).
    let user_app = runtime.block_on(env.client_with("read write", "", None, &[GrantType::Password]));
    let user = User::new("bench", make_password("pw", 1000).unwrap(), 0).unwrap();
    runtime.block_on(env.admin.create_user(&user)).unwrap();
    let user_basic = basic(&user_app.id, &user_app.secret);
    let first = runtime.block_on(env.service.handle(form(
        "/o/token/",
        &user_basic,
        "grant_type=password&username=bench&password=pw",
    )));
    let first: serde_json::Value = serde_json::from_str(first.body()).unwrap();
    let newest = std::cell::RefCell::new(first["refresh_token"].as_str().unwrap().to_owned());
    let rotate = || async {
        let body = format!("grant_type=refresh_token&refresh_token={}", newest.borrow());
        let answer = env.service.handle(form("/o/token/", &user_basic, &body)).await;
        let answer: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
        *newest.borrow_mut() = answer["refresh_token"].as_str().expect("rotated").to_owned();
    };
    group.bench_function("refresh_rotation", |b| b.to_async(&runtime).iter(rotate));
    group.finish();
    env.calls.take();
    env.calls
        .transactions
        .swap(0, std::sync::atomic::Ordering::SeqCst);
    runtime.block_on(rotate());
    let (reads, writes, _) = env.calls.take();
    let transactions = env
        .calls
        .transactions
        .swap(0, std::sync::atomic::Ordering::SeqCst);
    eprintln!("refresh rotation: {reads} read round trip(s), {writes} single write(s), {transactions} transaction(s)");

    // The DynamoDB calls per request, counted over the whole run.
    env.calls.take();
    runtime.block_on(async {
        let request = form(
            "/o/token/",
            &app_basic,
            "grant_type=client_credentials&scope=read",
        );
        env.service.handle(request).await;
    });
    let (reads, writes, _) = env.calls.take();
    eprintln!("issue: {reads} read round trip(s) (GetItem), {writes} write(s) (PutItem)");
    runtime.block_on(
        env.service
            .handle(form("/o/introspect/", &rs_basic, &introspect_body)),
    );
    let (reads, writes, _) = env.calls.take();
    eprintln!("introspect: {reads} read round trip(s) (BatchGetItem), {writes} write(s)");
}

criterion_group!(benches, handler_cpu, dynamodb_local);
criterion_main!(benches);
