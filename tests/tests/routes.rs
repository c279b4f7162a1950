//! Routing, metadata, Lambda event shapes, storage and failure behaviour.

use integration_tests::{TestEnv, ISSUER};
use serde_json::json;
use shared::secret::sha256_hex;
use shared::store::{Item, Key, Store};

#[tokio::test]
async fn metadata_describes_the_server() {
    let env = TestEnv::with_config(&[(
        "SCOPES",
        r#"{"items:read": "Read items", "items:write": "Write"}"#,
    )])
    .await;
    let answer = env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/o/token/"));
    assert_eq!(doc["introspection_endpoint"], format!("{ISSUER}/o/introspect/"));
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/o/revoke_token/"));
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{ISSUER}/o/device-authorization/")
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    // `none`: public clients, at the authorization code grant only.
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["scopes_supported"],
        // OpenID Connect's scopes are known whenever it is on; the
        // introspection scope, for resource servers, is not advertised.
        json!([
            "email",
            "items:read",
            "items:write",
            "offline_access",
            "openid",
            "profile"
        ])
    );
    // Only values the IANA registry of client authentication methods knows
    // (RFC 8414 §2): a bearer token with the introspection scope is accepted
    // too, but has no registered name to announce.
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );

    let head = env
        .request("HEAD", "/.well-known/oauth-authorization-server")
        .send()
        .await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let post = env
        .request("POST", "/.well-known/oauth-authorization-server")
        .send()
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// RFC 8414 §3: an issuer with a path has its metadata at the well-known
/// path with the issuer's path appended (and, as for any issuer, under it).
#[tokio::test]
async fn an_issuer_with_a_path_has_its_metadata_where_rfc_8414_puts_it() {
    let issuer = "https://auth.example.test/tenant/one";
    let env = TestEnv::with_config(&[("ISSUER", issuer)]).await;
    for path in [
        "/.well-known/oauth-authorization-server/tenant/one",
        "/.well-known/oauth-authorization-server/tenant/one/",
        "/tenant/one/.well-known/oauth-authorization-server",
    ] {
        let answer = env.request("GET", path).send().await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["issuer"], issuer, "{path}");
        assert_eq!(answer.json()["token_endpoint"], format!("{issuer}/o/token/"));
    }
    // Another issuer's path is not this one's.
    for path in [
        "/.well-known/oauth-authorization-server/tenant/two",
        "/.well-known/oauth-authorization-server/tenant",
    ] {
        assert_eq!(env.request("GET", path).send().await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_get_json_404_and_methods_405_with_allow() {
    let env = TestEnv::new().await;
    for path in ["/", "/o/", "/o/authorize/extra", "/o/token/extra", "/token"] {
        let answer = env.request("GET", path).send().await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.error(), "not_found", "{path}");
    }
    let answer = env.request("DELETE", "/o/introspect/").send().await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, POST"));
}

/// A real API Gateway REST event, with the stage in the path, through the
/// same deserializer the Lambda runtime uses.
#[tokio::test]
async fn api_gateway_events_work_under_a_stage_prefix() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let rest_event = json!({
        "resource": "/{proxy+}",
        "path": "/o/token/",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "multiValueHeaders": {"Content-Type": ["application/x-www-form-urlencoded"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": "o/token"},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "prod",
            "requestId": "r1", "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": "/{proxy+}", "httpMethod": "POST", "apiId": "api123", "path": "/prod/o/token/"
        },
        "body": format!("grant_type=client_credentials&client_id={}&client_secret={}", app.id, app.secret),
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&rest_event.to_string()).expect("REST event");
    assert!(request.uri().path().starts_with("/prod/"), "{}", request.uri());
    let answer = integration_tests::Answer::from(token_service::handle_lambda(&env.service, request).await);
    assert_eq!(answer.status, 200, "{}", answer.body);

    // HTTP API (payload 2.0) with a base64 body.
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        app.id, app.secret
    ));
    let http_event = json!({
        "version": "2.0", "routeKey": "POST /o/token", "rawPath": "/o/token", "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api123", "domainName": "api123.example", "domainPrefix": "api123",
            "http": {"method": "POST", "path": "/o/token", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r2", "routeKey": "POST /o/token", "stage": "$default", "time": "27/Nov/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": body, "isBase64Encoded": true
    });
    let request = lambda_http::request::from_str(&http_event.to_string()).expect("HTTP API event");
    let answer = integration_tests::Answer::from(token_service::handle_lambda(&env.service, request).await);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Only the SHA-256 of a token is stored, under `token#<hash>`, with its TTL.
#[tokio::test]
async fn tokens_and_secrets_are_stored_only_as_hashes() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    let token = env.token(&app, None).await;

    let dump = env.dump().await;
    assert!(!dump.contains(&token), "raw token stored");
    assert!(!dump.contains(&app.secret), "raw secret stored");
    let stored = env.admin.load(&[Key::Token(sha256_hex(&token))]).await.unwrap();
    let Some(Some(Item::Token(stored))) = stored.into_iter().next() else {
        panic!("no token item");
    };
    assert_eq!(
        (stored.expires_at, stored.client_id),
        (env.clock_now() + 3600, app.id)
    );
}

/// On DynamoDB, the token item is `token#<sha256 hex>` with its TTL
/// attribute `expires_at`, as `docs/storage.md` lays out.
#[tokio::test]
#[ignore = "needs DynamoDB Local: scripts/test runs it"]
async fn the_token_item_is_laid_out_as_documented() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let app = env.client("read").await;
    let token = env.token(&app, None).await;
    let item = env
        .raw_item(&format!("token#{}", sha256_hex(&token)))
        .await
        .expect("token item");
    let expires_at: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires_at, env.clock_now() + 3600);
    assert_eq!(item["client_id"].as_s().unwrap(), &app.id);
}

/// Budget: issuance is one read of the client and one conditional write.
#[tokio::test]
async fn issuance_is_one_read_and_one_write() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    env.calls.take();
    env.token(&app, None).await;
    assert_eq!(env.calls.take(), (1, 1, 0));
}

/// The store failing answers 503 with Retry-After, never a 500.
#[tokio::test]
async fn storage_failures_answer_503_with_retry_after() {
    let env = TestEnv::new().await;
    let app = env.client("read").await;
    env.calls
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for request in [
        env.post("/o/token/", "grant_type=client_credentials")
            .basic(&app.id, &app.secret),
        env.post("/o/introspect/", "token=abc")
            .basic(&app.id, &app.secret),
        env.post("/o/revoke_token/", "token=abc")
            .basic(&app.id, &app.secret),
    ] {
        let answer = request.send().await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.error(), "temporarily_unavailable");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
}

/// DynamoDB failing for real (here: the table is gone) answers 503 with
/// Retry-After, and never tells its internals.
#[tokio::test]
#[ignore = "needs DynamoDB Local: scripts/test runs it"]
async fn dynamodb_failures_answer_503_without_internals() {
    let env = TestEnv::on_table("no-such-table".into(), &[]).await;
    let requests = [
        env.post("/o/token/", "grant_type=client_credentials")
            .basic("id", "secret"),
        env.post("/o/introspect/", "token=abc").basic("id", "secret"),
        env.post("/o/revoke_token/", "token=abc").basic("id", "secret"),
    ];
    for request in requests {
        let answer = request.send().await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.error(), "temporarily_unavailable");
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert!(
            !answer.body.contains("no-such-table") && !answer.body.contains("ResourceNotFound"),
            "{}",
            answer.body
        );
    }
}
