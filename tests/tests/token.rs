//! The token endpoint: client_credentials issuance and every RFC 6749 §5.2 error.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use integration_tests::{TestClient, TestEnv};
use shared::GrantType;

const GRANT: &str = "grant_type=client_credentials";

#[tokio::test]
async fn basic_auth_issues_a_bearer_token_without_refresh_token() {
    let env = TestEnv::new().await;
    let client = env.client("read write").await;
    let answer = env
        .post("/o/token/", GRANT)
        .basic(&client.id, &client.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = answer.json();
    let token = body["access_token"].as_str().unwrap();
    // `<client_id>.<random>`: the random part alone carries over 256 bits.
    let (prefix, random) = token.rsplit_once('.').unwrap();
    assert_eq!(prefix, client.id);
    assert!(random.len() >= 43 && random.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn client_secret_post_works_and_the_token_introspects_active() {
    let env = TestEnv::new().await;
    let client = env.client("read").await;
    let rs = env.client("introspection").await;
    let form = format!("{GRANT}&client_id={}&client_secret={}", client.id, client.secret);
    let answer = env.post("/o/token", &form).send().await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    let info = env.introspect(&rs, &token).await.json();
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], client.id.as_str());
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let env = TestEnv::new().await;
    let id = "svc:a b/ü+%";
    let secret = "s3 cr+t:%/é=&";
    env.register(id, secret, "read", "", None, &[GrantType::ClientCredentials])
        .await;
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    );
    let answer = env
        .post("/o/token/", GRANT)
        .header("authorization", &header)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Sent raw, '+' decodes to a space and '%/' is not an escape: refused.
    let answer = env.post("/o/token/", GRANT).basic(id, secret).send().await;
    assert_ne!(answer.status, 200, "{}", answer.body);
}

/// Generated ids and secrets survive clients that skip §2.3.1 encoding
/// (django-oauth-toolkit's resource server is one).
#[tokio::test]
async fn generated_credentials_work_without_urlencoding() {
    let env = TestEnv::new().await;
    for _ in 0..20 {
        let client = env.client("read").await;
        let answer = env
            .post("/o/token/", GRANT)
            .basic(&client.id, &client.secret)
            .send()
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

#[tokio::test]
async fn scope_rules() {
    let env = TestEnv::new().await;
    let client = env
        .client_with("read write", "read", None, &[GrantType::ClientCredentials])
        .await;
    let ask = |scope: &'static str| {
        let env = &env;
        let client = client.clone();
        async move {
            let form = if scope.is_empty() {
                GRANT.to_owned()
            } else {
                format!("{GRANT}&scope={scope}")
            };
            env.post("/o/token/", &form)
                .basic(&client.id, &client.secret)
                .send()
                .await
        }
    };
    // A subset is granted as asked.
    assert_eq!(ask("write").await.json()["scope"], "write");
    assert_eq!(ask("write+read").await.json()["scope"], "read write");
    // Nothing asked: the client's defaults.
    assert_eq!(ask("").await.json()["scope"], "read");
    // Not allowed, unknown, or malformed: invalid_scope.
    for scope in ["introspection", "read+admin", "read%22"] {
        let answer = ask(scope).await;
        assert_eq!(answer.status, 400, "{scope}: {}", answer.body);
        assert_eq!(answer.error(), "invalid_scope", "{scope}");
    }
}

#[tokio::test]
async fn without_client_defaults_the_service_defaults_apply() {
    let env = TestEnv::with_config(&[("DEFAULT_SCOPES", "read")]).await;
    let both = env.client("read write").await;
    let answer = env
        .post("/o/token/", GRANT)
        .basic(&both.id, &both.secret)
        .send()
        .await;
    assert_eq!(answer.json()["scope"], "read");

    // The service default is not one the client may have: nothing to grant.
    let writer = env.client("write").await;
    let answer = env
        .post("/o/token/", GRANT)
        .basic(&writer.id, &writer.secret)
        .send()
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error(), "invalid_scope");
}

#[tokio::test]
async fn lifetimes_come_from_the_client_or_the_service() {
    let env = TestEnv::with_config(&[("ACCESS_TOKEN_EXPIRE_SECONDS", "120")]).await;
    let plain = env.client("read").await;
    let short = env
        .client_with("read", "", Some(30), &[GrantType::ClientCredentials])
        .await;
    let expires_in = |c: TestClient| {
        let env = &env;
        async move {
            env.post("/o/token/", GRANT)
                .basic(&c.id, &c.secret)
                .send()
                .await
                .json()["expires_in"]
                .clone()
        }
    };
    assert_eq!(expires_in(plain).await, 120);
    assert_eq!(expires_in(short).await, 30);
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let env = TestEnv::new().await;
    let client = env.client("read").await;
    let disabled = env.client("read").await;
    env.set_disabled(&disabled, true).await;

    let cases = [
        ("wrong secret", client.id.clone(), "nope".to_owned()),
        ("unknown client", "unknown".to_owned(), client.secret.clone()),
        ("disabled client", disabled.id.clone(), disabled.secret.clone()),
    ];
    for (case, id, secret) in cases {
        // Through the Authorization header: 401 with a Basic challenge.
        let answer = env.post("/o/token/", GRANT).basic(&id, &secret).send().await;
        assert_eq!(answer.status, 401, "{case}");
        assert_eq!(answer.error(), "invalid_client", "{case}");
        assert!(
            answer.header("www-authenticate").unwrap().starts_with("Basic"),
            "{case}"
        );
        // Through the body: also refused.
        let form = format!("{GRANT}&client_id={id}&client_secret={secret}");
        let answer = env.post("/o/token/", &form).send().await;
        assert_eq!(answer.status, 401, "{case}");
        assert_eq!(answer.error(), "invalid_client", "{case}");
    }

    // No credentials at all, a public client, or a bearer token.
    for answer in [
        env.post("/o/token/", GRANT).send().await,
        env.post("/o/token/", &format!("{GRANT}&client_id={}", client.id))
            .send()
            .await,
        env.post("/o/token/", GRANT).bearer("sometoken").send().await,
    ] {
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.error(), "invalid_client");
    }
}

#[tokio::test]
async fn grant_type_errors() {
    let env = TestEnv::new().await;
    let client = env.client("read").await;
    let missing = env
        .post("/o/token/", "scope=read")
        .basic(&client.id, &client.secret)
        .send()
        .await;
    assert_eq!(
        (missing.status, missing.error().as_str()),
        (400, "invalid_request")
    );

    for grant in ["implicit", "urn:x:custom"] {
        let form = format!("grant_type={grant}");
        let answer = env
            .post("/o/token/", &form)
            .basic(&client.id, &client.secret)
            .send()
            .await;
        assert_eq!(
            (answer.status, answer.error().as_str()),
            (400, "unsupported_grant_type"),
            "{grant}"
        );
    }

    // A client registered without the grant it asks for.
    let no_grant = env.client_with("read", "", None, &[]).await;
    for form in [
        GRANT,
        "grant_type=password&username=u&password=p",
        "grant_type=refresh_token&refresh_token=x",
        "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x",
    ] {
        let answer = env
            .post("/o/token/", form)
            .basic(&no_grant.id, &no_grant.secret)
            .send()
            .await;
        assert_eq!(
            (answer.status, answer.error().as_str()),
            (400, "unauthorized_client"),
            "{form}"
        );
    }
}

#[tokio::test]
async fn malformed_requests_get_clear_400s() {
    let env = TestEnv::new().await;
    let c = env.client("read").await;
    let cases: Vec<(&str, integration_tests::Answer)> = vec![
        (
            "repeated grant_type",
            env.post(
                "/o/token/",
                "grant_type=client_credentials&grant_type=client_credentials",
            )
            .basic(&c.id, &c.secret)
            .send()
            .await,
        ),
        (
            "repeated scope",
            env.post("/o/token/", "grant_type=client_credentials&scope=read&scope=read")
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
        (
            "both auth methods",
            env.post("/o/token/", &format!("{GRANT}&client_secret={}", c.secret))
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
        (
            "bad base64",
            env.post("/o/token/", GRANT)
                .header("authorization", "Basic %%%notbase64")
                .send()
                .await,
        ),
        (
            "no colon",
            env.post("/o/token/", GRANT)
                .header("authorization", &format!("Basic {}", STANDARD.encode("justanid")))
                .send()
                .await,
        ),
        (
            "invalid UTF-8",
            env.request("POST", "/o/token/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"grant_type=client_credentials&scope=\xff\xfe")
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
        (
            "escaped invalid UTF-8",
            env.post("/o/token/", "grant_type=client_credentials&scope=%C3%28")
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
        (
            "JSON body",
            env.request("POST", "/o/token/")
                .header("content-type", "application/json")
                .body(br#"{"grant_type":"client_credentials"}"#)
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
        (
            "two Authorization headers",
            env.post("/o/token/", GRANT)
                .basic(&c.id, &c.secret)
                .basic(&c.id, &c.secret)
                .send()
                .await,
        ),
    ];
    for (case, answer) in cases {
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert_eq!(answer.error(), "invalid_request", "{case}");
        assert!(
            !answer.json()["error_description"].as_str().unwrap().is_empty(),
            "{case}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_and_other_methods_405() {
    let env = TestEnv::new().await;
    let c = env.client("read").await;
    let big = format!("{GRANT}&padding={}", "a".repeat(16 * 1024));
    let answer = env.post("/o/token/", &big).basic(&c.id, &c.secret).send().await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.error(), "invalid_request");

    let answer = env
        .request("GET", "/o/token/?grant_type=client_credentials")
        .basic(&c.id, &c.secret)
        .send()
        .await;
    assert_eq!(answer.status, 405);
    // OPTIONS: a browser client's preflight.
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
}
