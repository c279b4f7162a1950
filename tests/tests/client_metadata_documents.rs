//! Client ID Metadata Documents, through the token service's entry point,
//! against documents served over real TLS on loopback (the service allows
//! loopback as tests only may): a client named by its document's URL signs
//! a user in (consent saying it is unverified and where its document is),
//! redeems and refreshes; the document is fetched once while fresh and
//! again after; and every document that may not be used is a clear error,
//! with nothing stored. Its own test binary, because it sets SSL_CERT_FILE
//! for the process (the service trusts the system's roots, and so this
//! test's certificate).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use integration_tests::code_flow::{redirected, Browser};
use integration_tests::document_server::{DocumentServer, Serve};
use integration_tests::{pkce_pair, TestEnv};
use serde_json::{json, Value};
use shared::admin;
use shared::form::encode;
use shared::store::Store;
use shared::Clock;

const REDIRECT: &str = "http://127.0.0.1/callback";

/// The certificate the test trusts (in SSL_CERT_FILE), made once.
fn trusted() -> &'static rcgen::CertifiedKey<rcgen::KeyPair> {
    static CERT: OnceLock<rcgen::CertifiedKey<rcgen::KeyPair>> = OnceLock::new();
    CERT.get_or_init(|| {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("client-metadata-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, cert.cert.pem()).unwrap();
        // Read by rustls-native-certs when the service first fetches.
        std::env::set_var("SSL_CERT_FILE", &bundle);
        cert
    })
}

/// Serves the document of a well-behaved client at `path`; its client id.
fn serve_client(server: &DocumentServer, path: &str, cache: Option<&'static str>) -> String {
    let client_id = server.url(path);
    server.serve(path, Serve::Json(document(&client_id).to_string(), cache));
    client_id
}

/// What an MCP client publishes (the Python SDK's metadata, at its URL).
fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "A documented client",
        "client_uri": "https://app.example.com",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "read offline_access",
    })
}

async fn env(documents: &str) -> TestEnv {
    trusted();
    let mut vars = vec![
        ("REGISTERED_CLIENT_EXPIRE_SECONDS", "100000"),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
    ];
    match documents {
        "off" => {}
        "on" => vars.push(("CLIENT_METADATA_DOCUMENTS", "on")),
        _ => vars.extend([
            ("CLIENT_METADATA_DOCUMENTS", "on"),
            ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true"),
        ]),
    }
    let env = TestEnv::with_config(&vars).await;
    admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    env
}

fn authorize_path(client_id: &str, redirect_uri: &str, challenge: &str) -> String {
    format!(
        "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
        encode(client_id),
        encode(redirect_uri)
    )
}

/// Signs jdoe in for `client_id` through the pages; the consent page and the code.
async fn sign_in(env: &TestEnv, client_id: &str, redirect_uri: &str, challenge: &str) -> (String, String) {
    let mut browser = Browser::default();
    let page = browser
        .get(env, &authorize_path(client_id, redirect_uri, challenge))
        .await;
    assert_eq!(page.status, 200, "the sign-in page: {}", page.body);
    let consent = browser
        .submit(env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert_eq!(consent.status, 200, "the consent page: {}", consent.body);
    let back = browser.submit(env, &consent, &[("decision", "allow")]).await;
    (consent.body, redirected(&back, redirect_uri)["code"].clone())
}

async fn token(env: &TestEnv, form: &str) -> integration_tests::Answer {
    env.post("/o/token/", form).send().await
}

#[tokio::test]
async fn a_client_named_by_its_document_signs_a_user_in_and_refreshes_while_the_document_holds() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let metadata = env
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    let client_id = serve_client(&server, "/client.json", Some("public, max-age=600"));

    let (verifier, challenge) = pkce_pair();
    let redirect_at_port = "http://127.0.0.1:50123/callback";
    let (consent, code) = sign_in(&env, &client_id, redirect_at_port, &challenge).await;
    assert!(consent.contains("A documented client"), "{consent}");
    assert!(
        consent.contains(
            "This application describes itself in a document at <strong>localhost</strong>: \
its name is not verified by this service"
        ) && consent.contains("the answer goes to <strong>an application on this device</strong>"),
        "the page says nobody here vouched for it, where it describes itself and where the answer goes: {consent}"
    );
    let tokens = token(
        &env,
        &format!(
            "grant_type=authorization_code&client_id={}&code={code}&redirect_uri={}&code_verifier={verifier}",
            encode(&client_id),
            encode(redirect_at_port)
        ),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    // offline_access is not a scope here: the client gets what it named that is.
    assert_eq!(tokens["scope"], "read");
    assert_eq!(
        server.hits("/client.json"),
        1,
        "one fetch for the pages and the redemption: the document is fresh for 600 s"
    );
    let stored = admin::client(&env.admin, &client_id).await.unwrap();
    assert_eq!(stored.to_public_json()["registered_by"], "metadata_document");
    assert!(stored.is_public() && !stored.skip_consent);

    // Stale after 600 s: the next use fetches it again.
    env.clock.advance(601);
    let refreshed = token(
        &env,
        &format!(
            "grant_type=refresh_token&client_id={}&refresh_token={}",
            encode(&client_id),
            tokens["refresh_token"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(server.hits("/client.json"), 2);

    // The document withdrawn: once stale, the client is no more.
    server.serve("/client.json", Serve::Status(404));
    env.clock.advance(601);
    let refused = token(
        &env,
        &format!(
            "grant_type=refresh_token&client_id={}&refresh_token={}",
            encode(&client_id),
            refreshed.json()["refresh_token"].as_str().unwrap()
        ),
    )
    .await;
    refused.assert_error(401, "invalid_client");
    assert!(
        refused.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("metadata document cannot be used"),
        "{}",
        refused.body
    );

    // A redirect URI the document does not name is no redirect URI of the client.
    let server2 = DocumentServer::start(trusted()).await;
    let other = serve_client(&server2, "/other.json", None);
    let mut browser = Browser::default();
    let page = browser
        .get(
            &env,
            &authorize_path(&other, "https://evil.example/cb", &challenge),
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("not registered for this client"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn documents_that_may_not_be_used_are_refused_and_nothing_is_stored() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let with = |path: &str, change: &dyn Fn(&mut Value)| {
        let mut doc = document(&server.url(path));
        change(&mut doc);
        server.serve(path, Serve::Json(doc.to_string(), None));
        server.url(path)
    };
    let untrusted = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let stranger = DocumentServer::start(&untrusted).await;
    serve_client(&stranger, "/client.json", None);
    server.serve("/redirects.json", Serve::Redirect(server.url("/client.json")));
    server.serve("/huge.json", Serve::Huge { announced: true });
    server.serve("/huge-chunked.json", Serve::Huge { announced: false });
    server.serve("/silent.json", Serve::Silent);
    server.serve("/not-json.json", Serve::Json("<html>hello</html>".into(), None));
    server.serve("/array.json", Serve::Json("[]".into(), None));
    server.serve("/gone.json", Serve::Status(410));
    let cases: Vec<(String, &str)> = vec![
        (
            with("/other-id.json", &|d| {
                d["client_id"] = "https://localhost/elsewhere.json".into()
            }),
            "its client_id is not the URL it was fetched from",
        ),
        (
            with("/no-id.json", &|d| {
                d.as_object_mut().unwrap().remove("client_id");
            }),
            "it has no client_id",
        ),
        (
            with("/secret.json", &|d| d["client_secret"] = "s3cret".into()),
            "it holds client_secret",
        ),
        (
            with("/javascript.json", &|d| {
                d["redirect_uris"] = json!(["javascript:alert(1)"])
            }),
            "javascript",
        ),
        (
            with("/http.json", &|d| {
                d["redirect_uris"] = json!(["http://app.example.com/cb"])
            }),
            "is plain http to another host than this machine&#39;s loopback",
        ),
        (
            with("/confidential.json", &|d| {
                d["token_endpoint_auth_method"] = "client_secret_basic".into()
            }),
            "only public clients",
        ),
        (server.url("/redirects.json"), "redirects are not followed"),
        (server.url("/huge.json"), "is over 5120 bytes"),
        (server.url("/huge-chunked.json"), "is over 5120 bytes"),
        (server.url("/silent.json"), "did not answer within 3 s"),
        (server.url("/not-json.json"), "not a JSON object"),
        (server.url("/array.json"), "not a JSON object"),
        (server.url("/gone.json"), "answered 410"),
        (stranger.url("/client.json"), "TLS failed"),
        (
            format!("{}#fragment", server.url("/client.json")),
            "has a fragment",
        ),
        (format!("https://localhost:{}/", server.port), "has no path"),
    ];
    let (_, challenge) = pkce_pair();
    for (client_id, why) in &cases {
        let started = Instant::now();
        let page = Browser::default()
            .get(&env, &authorize_path(client_id, REDIRECT, &challenge))
            .await;
        assert_eq!(page.status, 400, "{client_id}: {}", page.body);
        assert!(
            page.body.contains("metadata document cannot be used") && page.body.contains(why),
            "{client_id} is refused because {why}: {}",
            page.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{client_id}: the fetch is bounded"
        );
        let answer = token(
            &env,
            &format!(
                "grant_type=authorization_code&client_id={}&code=x&code_verifier=y",
                encode(client_id)
            ),
        )
        .await;
        answer.assert_error(401, "invalid_client");
        assert!(
            env.admin.get_client(client_id).await.unwrap().is_none(),
            "{client_id}: nothing stored"
        );
    }
    // Each fetched once, for the authorization and the token request both
    // (a URL no document may have is never fetched).
    let fetched = cases
        .iter()
        .filter(|(id, _)| id.starts_with(&server.url("/")) && *id != server.url("/") && !id.contains('#'));
    assert_eq!(fetched.clone().count(), 13);
    for (client_id, _) in fetched {
        let path = client_id.strip_prefix(&server.url("")).unwrap();
        assert_eq!(server.hits(path), 1, "{client_id}");
    }
}

/// A document that could not be used is not fetched again for a minute:
/// the same refusal, from memory, however often its URL is named; after
/// that, it is fetched afresh.
#[tokio::test]
async fn a_document_that_failed_is_not_fetched_again_for_a_minute() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = server.url("/flaky.json");
    let mut wrong = document(&client_id);
    wrong["client_id"] = "https://localhost/elsewhere.json".into();
    server.serve("/flaky.json", Serve::Json(wrong.to_string(), None));
    let (_, challenge) = pkce_pair();
    let refused = |page: &integration_tests::Answer| {
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(
            page.body
                .contains("its client_id is not the URL it was fetched from"),
            "{}",
            page.body
        );
    };
    let authorize = || async {
        Browser::default()
            .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
            .await
    };
    refused(&authorize().await);
    token(
        &env,
        &format!(
            "grant_type=authorization_code&client_id={}&code=x&code_verifier=y",
            encode(&client_id)
        ),
    )
    .await
    .assert_error(401, "invalid_client");
    env.clock.advance(30);
    refused(&authorize().await);
    assert_eq!(server.hits("/flaky.json"), 1);

    // Mended meanwhile: still the remembered refusal until the minute is up.
    serve_client(&server, "/flaky.json", None);
    env.clock.advance(29);
    refused(&authorize().await);
    assert_eq!(server.hits("/flaky.json"), 1);
    env.clock.advance(1);
    let page = authorize().await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(server.hits("/flaky.json"), 2);
}

/// Without loopback allowed (as deployed), a document on this machine,
/// or on any private, link-local or otherwise non-public address, is
/// never fetched; with documents off, a URL is an unknown client id.
#[tokio::test]
async fn documents_on_private_addresses_are_never_fetched_and_off_means_off() {
    let env_on = env("on").await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = serve_client(&server, "/client.json", None);
    let (_, challenge) = pkce_pair();
    for (id, why) in [
        (client_id.clone(), "which is not a public address"),
        (
            "https://169.254.169.254/latest/meta-data.json".to_owned(),
            "169.254.169.254, which is not a public address",
        ),
        (
            "https://10.0.0.1/client.json".to_owned(),
            "10.0.0.1, which is not a public address",
        ),
        (
            "https://[::ffff:7f00:1]/client.json".to_owned(),
            "which is not a public address",
        ),
    ] {
        let page = Browser::default()
            .get(&env_on, &authorize_path(&id, REDIRECT, &challenge))
            .await;
        assert_eq!(page.status, 400, "{id}: {}", page.body);
        assert!(page.body.contains(why), "{id}: {}", page.body);
    }
    assert_eq!(server.hits("/client.json"), 0, "never connected to");

    let env_off = env("off").await;
    let metadata = env_off
        .request("GET", "/.well-known/oauth-authorization-server")
        .send()
        .await
        .json();
    assert!(metadata.get("client_id_metadata_document_supported").is_none());
    let page = Browser::default()
        .get(&env_off, &authorize_path(&client_id, REDIRECT, &challenge))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("the client is unknown"), "{}", page.body);
    assert_eq!(server.hits("/client.json"), 0);
}

/// A closed deployment names the hosts it takes documents from; others
/// are refused unfetched.
#[tokio::test]
async fn only_the_hosts_named_are_fetched_from_when_some_are() {
    trusted();
    let env = TestEnv::with_config(&[
        ("CLIENT_METADATA_DOCUMENTS", "on"),
        ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true"),
        ("CLIENT_METADATA_DOCUMENT_HOSTS", "claude.ai .example.com"),
    ])
    .await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = serve_client(&server, "/client.json", None);
    let (_, challenge) = pkce_pair();
    let page = Browser::default()
        .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("its host is not one this service takes documents from"),
        "{}",
        page.body
    );
    assert_eq!(server.hits("/client.json"), 0, "never fetched");
}

/// A deployment may refuse the documents of named hosts (a domain and its
/// subdomains with a leading dot), even when it takes any other: refused
/// unfetched, and a document kept from before is refused at once.
#[tokio::test]
async fn documents_of_denied_hosts_are_refused_even_when_kept() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = serve_client(&server, "/client.json", Some("max-age=3600"));
    let (_, challenge) = pkce_pair();
    sign_in(&env, &client_id, REDIRECT, &challenge).await;
    assert_eq!(server.hits("/client.json"), 1);

    let vars = [
        ("REGISTERED_CLIENT_EXPIRE_SECONDS", "100000"),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        ("CLIENT_METADATA_DOCUMENTS", "on"),
        ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true"),
    ];
    let denying = env.redeployed(
        &[
            vars.as_slice(),
            &[("CLIENT_METADATA_DOCUMENT_DENIED_HOSTS", "evil.example, localhost")],
        ]
        .concat(),
    );
    let other_id = serve_client(&server, "/other.json", None);
    for id in [&client_id, &other_id] {
        let page = Browser::default()
            .get(&denying, &authorize_path(id, REDIRECT, &challenge))
            .await;
        assert_eq!(page.status, 400, "{id}");
        assert!(
            page.body
                .contains("its host is not one this service takes documents from"),
            "{}",
            page.body
        );
        token(
            &denying,
            &format!(
                "grant_type=authorization_code&client_id={}&code=x&code_verifier=y",
                encode(id)
            ),
        )
        .await
        .assert_error(401, "invalid_client");
    }
    assert_eq!((server.hits("/client.json"), server.hits("/other.json")), (1, 0));

    // A list naming other hosts leaves these alone.
    let elsewhere = env.redeployed(
        &[
            vars.as_slice(),
            &[("CLIENT_METADATA_DOCUMENT_DENIED_HOSTS", ".evil.example")],
        ]
        .concat(),
    );
    let page = Browser::default()
        .get(&elsewhere, &authorize_path(&other_id, REDIRECT, &challenge))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
}

/// An administrator's word stands over a document: a disabled client is
/// refused and its document not fetched again, long after the unused
/// lifetime that would have ended its item (and let the document bring it
/// back); enabled, it is fetched afresh at its next use.
#[tokio::test]
async fn a_disabled_documented_client_stays_disabled() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = serve_client(&server, "/client.json", Some("max-age=60"));
    let (_, challenge) = pkce_pair();
    let page = Browser::default()
        .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    admin::disable_client(&env.admin, &client_id, env.clock.now())
        .await
        .unwrap();
    for wait in [61, 200_000] {
        env.clock.advance(wait);
        let page = Browser::default()
            .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("the client is unknown"), "{}", page.body);
        assert!(admin::client(&env.admin, &client_id).await.unwrap().disabled);
    }
    assert_eq!(server.hits("/client.json"), 1, "never fetched while disabled");

    let document_expires_at = env.clock.now() + 100_000;
    admin::change_client(
        &env.admin,
        &client_id,
        shared::store::ClientChange::Enable { document_expires_at },
    )
    .await
    .unwrap();
    let page = Browser::default()
        .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(server.hits("/client.json"), 2, "fetched afresh once enabled");
}

/// An administrator may disable a document's URL before any client used
/// it: it is then never fetched, at either endpoint, until enabled. A URL
/// no document may have is no client to disable.
#[tokio::test]
async fn a_document_url_disabled_before_its_first_use_is_never_fetched() {
    let env = env("loopback").await;
    let server = DocumentServer::start(trusted()).await;
    let client_id = serve_client(&server, "/client.json", None);
    let banned = admin::disable_client(&env.admin, &client_id, env.clock.now())
        .await
        .unwrap();
    assert!(banned.disabled && banned.is_from_metadata_document());
    let (_, challenge) = pkce_pair();
    for wait in [0, 200_000] {
        env.clock.advance(wait);
        let page = Browser::default()
            .get(&env, &authorize_path(&client_id, REDIRECT, &challenge))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("the client is unknown"), "{}", page.body);
        token(
            &env,
            &format!(
                "grant_type=authorization_code&client_id={}&code=x&code_verifier=y",
                encode(&client_id)
            ),
        )
        .await
        .assert_error(401, "invalid_client");
    }
    assert_eq!(server.hits("/client.json"), 0, "never fetched");
    for not_a_document in [format!("{client_id}#fragment"), "some-client-id".to_owned()] {
        assert!(matches!(
            admin::disable_client(&env.admin, &not_a_document, env.clock.now()).await,
            Err(admin::AdminError::NotFound(_))
        ));
    }

    let document_expires_at = env.clock.now() + 100_000;
    admin::change_client(
        &env.admin,
        &client_id,
        shared::store::ClientChange::Enable { document_expires_at },
    )
    .await
    .unwrap();
    let (_, code) = sign_in(&env, &client_id, REDIRECT, &challenge).await;
    assert!(!code.is_empty());
    assert_eq!(server.hits("/client.json"), 1, "fetched once enabled");
}
