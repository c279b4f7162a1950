//! The authorization code flow in a real browser: headless Chromium from the
//! distribution, driven through chromedriver's WebDriver API, against the
//! standalone token service and a loopback callback server standing in for
//! the client's redirect URI. Screenshots of the sign-in, consent and error
//! pages, at a desktop's and a phone's width, are written to
//! `$CARGO_TARGET_TMPDIR/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (`scripts/test` installs them:
//! `apt-get install chromium chromium-driver`); `CHROMEDRIVER` and
//! `CHROMIUM` may name them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use integration_tests::document_server::{DocumentServer, Serve};
use integration_tests::{dynamo, fresh_table, pkce_pair, proc_stat, start_standalone_with};
use serde_json::{json, Value};
use shared::admin::{self, NewClient};
use shared::model::GrantType;
use shared::scope::parse_scope;
use shared::{DynamoStore, SharedClock, SystemClock};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Client = HttpClient<HttpConnector, Full<Bytes>>;

async fn call(client: &Client, method: &str, url: &str, body: Option<Value>) -> Value {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let response = client
        .request(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

async fn form_post(client: &Client, url: &str, basic: (&str, &str), form: &str) -> (u16, Value) {
    let request = http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{}:{}", basic.0, basic.1))),
        )
        .body(Full::new(Bytes::from(form.to_owned())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// chromedriver and one browser session. [`Browser::quit`] ends both and
/// checks that nothing of them is left; a drop (a failed test) kills
/// chromedriver's whole process group, Chromium included (killing
/// chromedriver alone left a headless Chromium running after every run).
struct Browser {
    driver: tokio::process::Child,
    client: Client,
    session: String,
    shots: PathBuf,
    /// Chromium's profile.
    profile: PathBuf,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Self {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Chromium's profile in a folder of the build's (chromedriver would
        // leave one in /tmp per session); removed by `quit`.
        let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("chromium")
            .join(format!("{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which the browsers it starts join.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{chromedriver}: {e} (scripts/test installs chromium-driver)"));
        let client: Client = HttpClient::builder(TokioExecutor::new()).build_http();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // No background traffic: on a closed network its connections are
                // refused many at a time, and its name lookups fail.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run", "--disable-quic",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let created = call(&client, "POST", &format!("{base}/session"), Some(capabilities)).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            driver,
            client,
            session: format!("{base}/session/{session}"),
            shots,
            profile,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = call(&self.client, method, &format!("{}{path}", self.session), body).await;
        if let Some(error) = answer["value"].get("error") {
            panic!(
                "WebDriver {method} {path}: {error} {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    /// Opens `url` and waits for its page: chromedriver may answer before
    /// the new document has replaced the old one.
    async fn open(&self, url: &str) {
        self.script("window.previousPage = true;").await;
        self.command("POST", "/url", Some(json!({ "url": url }))).await;
        self.wait_for_next_page(url).await;
    }

    /// Waits until the document marked `previousPage` has been replaced and
    /// the new one has loaded.
    async fn wait_for_next_page(&self, after: &str) {
        for _ in 0..200 {
            // Between two documents the script may find no page to run in:
            // an error here means "not yet".
            let loaded = call(
                &self.client,
                "POST",
                &format!("{}/execute/sync", self.session),
                Some(json!({
                    "script": "return window.previousPage === undefined && document.readyState === 'complete';",
                    "args": []
                })),
            )
            .await;
            if loaded["value"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{after} led nowhere within 10 s");
    }

    async fn url(&self) -> String {
        self.command("GET", "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.command("GET", "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page's source once it holds every one of `texts` (a navigation
    /// may still be replacing the previous document); after 10 s without,
    /// a failure naming the address and what the page says, with a
    /// screenshot `failed-<first text>.png`.
    async fn shows(&self, texts: &[&str]) -> String {
        for _ in 0..100 {
            let source = self.source().await;
            if texts.iter().all(|text| source.contains(text)) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let source = self.source().await;
        let missing: Vec<_> = texts.iter().filter(|text| !source.contains(*text)).collect();
        let name: String = texts[0]
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        let png = self.command("GET", "/screenshot", None).await;
        let _ = std::fs::write(
            self.shots.join(format!("failed-{name}.png")),
            STANDARD
                .decode(png.as_str().unwrap_or_default())
                .unwrap_or_default(),
        );
        let text = self
            .script("return document.body ? document.body.innerText : '(no body)';")
            .await;
        panic!(
            "the page at {} does not show {missing:?}; it says: {text}\n(source: {} bytes)",
            self.url().await,
            source.len()
        );
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/clear"), Some(json!({})))
            .await;
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Clicks, then waits for the next page (a form submission navigates).
    async fn click(&self, css: &str) {
        self.script("window.previousPage = true;").await;
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/click"), Some(json!({})))
            .await;
        self.wait_for_next_page(&format!("clicking {css}")).await;
    }

    async fn window(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Saves a screenshot; also checks the page needs no sideways scrolling.
    async fn screenshot(&self, name: &str) {
        let png = self.command("GET", "/screenshot", None).await;
        let bytes = STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
        let overflow = self
            .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            .await;
        assert_eq!(overflow, 0, "{name}: the page scrolls sideways");
    }
}

impl Browser {
    /// Ends the session (chromedriver closes Chromium), then chromedriver,
    /// and waits until no process of the group is left.
    async fn quit(mut self) {
        call(&self.client, "DELETE", &self.session, None).await;
        let group = self.driver.id().expect("chromedriver is running");
        let _ = self.driver.kill().await;
        for _ in 0..100 {
            if group_members(group).is_empty() {
                std::fs::remove_dir_all(&self.profile).unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("left running after the browser test: {:?}", group_members(group));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self.driver.id() {
            // The whole group: chromedriver's browsers outlive it otherwise.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
        // After a failure: Chromium's profile, as far as its dying processes let go.
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The processes of process group `group`, by pid (from /proc).
fn group_members(group: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            // A zombie waiting for its parent is gone for our purposes.
            proc_stat(pid).is_some_and(|fields| {
                fields.first().map(String::as_str) != Some("Z") && fields.get(2) == Some(&group.to_string())
            })
        })
        .collect()
}

/// A loopback server standing in for the client's redirect URI: it answers
/// every request with a small page and reports each request's target.
async fn callback_server() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]);
                // Only the redirect URI's path: not the browser's /favicon.ico.
                if let Some(target) = request.split_whitespace().nth(1).filter(|t| t.starts_with("/cb")) {
                    let _ = tx.send(target.to_owned());
                }
                let body = "<!doctype html><title>Back at the app</title><p>Back at the app.</p>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, rx)
}

fn query_value(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| shared::form::decode(v.as_bytes()).unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn a_person_signs_in_through_a_real_browser() {
    // The service, on localhost: browsers keep `Secure` cookies there.
    let table = fresh_table(&dynamo().await).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let documents_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let documents = DocumentServer::start(&documents_cert).await;
    let documents_ca = std::env::temp_dir().join(format!("browser-documents-{}.pem", std::process::id()));
    std::fs::write(&documents_ca, documents_cert.cert.pem()).unwrap();
    let server = start_standalone_with(&[
        ("TABLE_NAME", table.as_str()),
        ("ISSUER", issuer.as_str()),
        ("LISTEN_ADDR", listen.as_str()),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        (
            "SCOPES",
            r#"{"read": "Read your items", "write": "Change your items"}"#,
        ),
        ("CLIENT_REGISTRATION", "open"),
        ("CLIENT_METADATA_DOCUMENTS", "on"),
        // The document server below is on loopback, with the test's certificate.
        ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true"),
        ("SSL_CERT_FILE", documents_ca.to_str().unwrap()),
    ])
    .await;
    let (callback_port, mut callbacks) = callback_server().await;
    let redirect_uri = format!("http://127.0.0.1:{callback_port}/cb");

    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo().await, table.clone(), clock);
    admin::create_user(&store, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let new = NewClient {
        name: "Example App".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("read write").unwrap(),
        default_scopes: parse_scope("read").unwrap(),
        token_lifetime: None,
        redirect_uris: vec![redirect_uri.clone()],
        public: false,
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
    };
    let (app, secret) = admin::create_client(&store, new, 0).await.unwrap();
    let secret = secret.unwrap();
    let (rs, rs_secret) = admin::create_client(
        &store,
        NewClient {
            name: "RS".into(),
            grants: [GrantType::ClientCredentials].into(),
            scopes: parse_scope("introspection").unwrap(),
            default_scopes: parse_scope("").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![],
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: shared::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        },
        0,
    )
    .await
    .unwrap();
    let rs_secret = rs_secret.unwrap();
    let http: Client = HttpClient::builder(TokioExecutor::new()).build_http();
    let authorize = |challenge: &str, scope: &str| {
        format!(
            "{issuer}/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope={scope}&state=abc123&code_challenge={challenge}&code_challenge_method=S256",
            app.client_id,
            shared::form::encode(&redirect_uri)
        )
    };

    let browser = Browser::start().await;
    let (verifier, challenge) = pkce_pair();
    browser.open(&authorize(&challenge, "read")).await;
    browser.shows(&["to continue to"]).await;
    browser.screenshot("sign-in").await;
    browser.window(390, 844).await;
    browser.screenshot("sign-in-phone").await;
    browser.window(1280, 900).await;

    // A wrong password: an error that does not say which part was wrong.
    browser.type_into("#username", "jdoe").await;
    browser.type_into("#password", "not it").await;
    browser.click("button[type=submit]").await;
    browser.shows(&["The username or password is wrong."]).await;
    browser.screenshot("sign-in-error").await;

    browser.type_into("#username", "jdoe").await;
    browser.type_into("#password", "s3cret pw").await;
    browser.click("button[type=submit]").await;
    browser.shows(&["Allow access?", "Read your items"]).await;
    browser.screenshot("consent").await;
    browser.window(390, 844).await;
    browser.screenshot("consent-phone").await;
    browser.window(1280, 900).await;
    browser.click("button[value=allow]").await;

    let target = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(browser.url().await.starts_with(&redirect_uri));
    assert_eq!(query_value(&target, "state").as_deref(), Some("abc123"));
    assert_eq!(query_value(&target, "iss").as_deref(), Some(issuer.as_str()));
    let code = query_value(&target, "code").expect("a code");

    let token_url = format!("{issuer}/o/token/");
    let redeem = |code: String, verifier: String| {
        let form = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
            shared::form::encode(&redirect_uri)
        );
        let (http, url, id, secret) = (
            http.clone(),
            token_url.clone(),
            app.client_id.clone(),
            secret.clone(),
        );
        async move { form_post(&http, &url, (&id, &secret), &form).await }
    };
    let (status, tokens) = redeem(code.clone(), verifier.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    let introspect = |token: String| {
        let (http, url, id, secret) = (
            http.clone(),
            format!("{issuer}/o/introspect/"),
            rs.client_id.clone(),
            rs_secret.clone(),
        );
        async move {
            form_post(&http, &url, (&id, &secret), &format!("token={token}"))
                .await
                .1
        }
    };
    let seen = introspect(tokens["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (seen["active"].clone(), seen["username"].clone()),
        (json!(true), json!("jdoe"))
    );
    let (status, refreshed) = form_post(
        &http,
        &token_url,
        (&app.client_id, &secret),
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            tokens["refresh_token"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");

    // A second visit: the session and the approval are remembered.
    let (_, challenge) = pkce_pair();
    browser.open(&authorize(&challenge, "read")).await;
    let target = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(query_value(&target, "code").is_some(), "{target}");

    // A tampered CSRF token (a wider scope, so consent is asked again).
    browser.open(&authorize(&challenge, "read+write")).await;
    // The previous visit's redirect may still be landing on the callback.
    browser.shows(&["Change your items"]).await;
    browser
        .script("document.querySelector('input[name=csrf]').value = 'forged';")
        .await;
    browser.click("button[value=allow]").await;
    browser
        .shows(&["The form has expired or did not come from this site."])
        .await;
    browser.screenshot("error").await;
    browser.window(390, 844).await;
    browser.screenshot("error-phone").await;
    browser.window(1280, 900).await;

    // A client that registered itself (RFC 7591): the consent page says its
    // name is its own word, and where the answer goes.
    let registered = call(
        &http,
        "POST",
        &format!("{issuer}/o/register/"),
        Some(
            json!({ "redirect_uris": [redirect_uri], "client_name": "Totally Legit Mail", "scope": "read" }),
        ),
    )
    .await;
    let registered_id = registered["client_id"].as_str().expect("registered").to_owned();
    browser
        .open(&format!(
            "{issuer}/o/authorize/?response_type=code&client_id={registered_id}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
            shared::form::encode(&redirect_uri)
        ))
        .await;
    browser
        .shows(&[
            "Totally Legit Mail",
            "This application registered itself",
            "an application on this device",
        ])
        .await;
    browser.screenshot("consent-registered-client").await;
    browser.click("button[value=deny]").await;
    let target = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(query_value(&target, "error").as_deref(), Some("access_denied"));

    // A client known by its metadata document: the page says where it
    // describes itself, that nobody here vouched for it, and where the
    // answer goes.
    let documented_id = documents.url("/oauth/client.json");
    documents.serve(
        "/oauth/client.json",
        Serve::Json(
            json!({ "client_id": documented_id, "client_name": "Docs Described Client",
                    "redirect_uris": [redirect_uri], "scope": "read" })
            .to_string(),
            None,
        ),
    );
    browser
        .open(&format!(
            "{issuer}/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
            shared::form::encode(&documented_id),
            shared::form::encode(&redirect_uri)
        ))
        .await;
    browser
        .shows(&[
            "Docs Described Client",
            "This application describes itself in a document at <strong>localhost</strong>",
            "an application on this device",
        ])
        .await;
    assert_eq!(documents.hits("/oauth/client.json"), 1);
    browser.screenshot("consent-documented-client").await;
    browser.click("button[value=deny]").await;
    let target = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(query_value(&target, "error").as_deref(), Some("access_denied"));

    // The first code again: refused, and the tokens it gave revoked.
    let (status, replay) = redeem(code, verifier).await;
    assert_eq!((status, replay["error"].clone()), (400, json!("invalid_grant")));
    let seen = introspect(refreshed["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(seen, json!({ "active": false }));

    browser.quit().await;
    drop(server);
}

/// A loopback server for the single-page app of `tests/relying-party/spa/`
/// (with oidc-client-ts from its pinned npm package, and `config` as
/// `config.js`), on an origin of its own: `port`, returned once it listens.
async fn spa_server_on(port: u16, config: String) -> u16 {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("relying-party");
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/setup relying-parties installs it)",
                path.display()
            )
        })
    };
    let index = Arc::new(read(root.join("spa/index.html")));
    let app = Arc::new(read(root.join("spa/app.js")));
    let library = Arc::new(read(
        root.join("node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js"),
    ));
    let config = Arc::new(config);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (index, app, library, config) = (index.clone(), app.clone(), library.clone(), config.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16384];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]);
                let target = request.split_whitespace().nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let (status, kind, body) = match path {
                    "/" | "/callback" | "/signed-out" => ("200 OK", "text/html", index.as_str()),
                    "/app.js" => ("200 OK", "text/javascript", app.as_str()),
                    "/oidc-client-ts.min.js" => ("200 OK", "text/javascript", library.as_str()),
                    "/config.js" => ("200 OK", "text/javascript", config.as_str()),
                    _ => ("404 Not Found", "text/plain", "not found"),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

impl Browser {
    /// Waits until the single-page app says `state` (its `data-state`); its `#result` then.
    async fn app_state(&self, state: &str) -> Value {
        let mut seen = Value::Null;
        for _ in 0..200 {
            seen = self
                .script("return document.body && document.body.dataset.state || null;")
                .await;
            if seen == state {
                let text = self
                    .script("return document.getElementById('result').textContent;")
                    .await;
                return serde_json::from_str(text.as_str().unwrap_or("null")).unwrap_or(Value::Null);
            }
            if seen == "error" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app is {seen}, not {state}: {}", self.source().await);
    }
}

/// A single-page app nobody here wrote the OpenID Connect of: oidc-client-ts
/// (npm, pinned) in headless Chromium, served from an origin of its own,
/// signs a person in through the pages (a public client: PKCE, and consent
/// asked on a loopback redirect), redeems the code across origins (CORS: the
/// client's registered origin), loads UserInfo, then signs out by
/// RP-initiated logout and lands back on its registered page with its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, the pinned npm relying parties, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn a_single_page_app_signs_in_across_origins_and_out_again() {
    let table = fresh_table(&dynamo().await).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = start_standalone_with(&[
        ("TABLE_NAME", table.as_str()),
        ("ISSUER", issuer.as_str()),
        ("LISTEN_ADDR", listen.as_str()),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        ("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET),
    ])
    .await;

    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo().await, table.clone(), clock);
    admin::create_user(&store, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let profile = shared::model::UserProfile {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: "jane@example.com".into(),
        email_verified: true,
    };
    let user = admin::set_profile(&store, "jdoe", profile).await.unwrap();
    // The app's origin: a free loopback port, for which the client is registered.
    let spa_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{spa_port}");
    let new = NewClient {
        name: "Single-page app".into(),
        grants: [GrantType::AuthorizationCode].into(),
        scopes: parse_scope("openid profile email").unwrap(),
        default_scopes: parse_scope("openid").unwrap(),
        token_lifetime: None,
        redirect_uris: vec![format!("{origin}/callback")],
        public: true,
        skip_consent: false,
        allowed_origins: vec![origin.clone()],
        post_logout_redirect_uris: vec![format!("{origin}/signed-out")],
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
    };
    let (spa, _) = admin::create_client(&store, new, 0).await.unwrap();
    let config = format!(
        "window.SPA_CONFIG = {};",
        json!({ "authority": issuer, "client_id": spa.client_id })
    );
    spa_server_on(spa_port, config).await;
    let app = origin;

    let browser = Browser::start().await;
    browser.open(&format!("{app}/")).await;
    browser.app_state("ready").await;
    browser.screenshot("spa-ready").await;
    browser.click("#sign-in").await;
    assert!(
        browser.url().await.starts_with(&format!("{issuer}/o/authorize/")),
        "{}",
        browser.url().await
    );
    browser.type_into("#username", "jdoe").await;
    browser.type_into("#password", "s3cret pw").await;
    browser.click("button[type=submit]").await;
    browser.shows(&["Single-page app", "Sign you in"]).await;
    browser.screenshot("spa-consent").await;
    browser.click("button[value=allow]").await;

    let signed_in = browser.app_state("signed-in").await;
    assert!(browser.url().await.starts_with(&format!("{app}/")));
    assert_eq!(signed_in["profile"]["sub"], user.subject.as_str());
    assert_eq!(signed_in["profile"]["name"], "Jane Doe");
    assert_eq!(signed_in["profile"]["email"], "jane@example.com");
    assert_eq!(signed_in["scope"], "email openid profile");
    assert_eq!(signed_in["has_access_token"], true);
    browser.screenshot("spa-signed-in").await;

    browser.click("#sign-out").await;
    assert!(
        browser.url().await.starts_with(&format!("{issuer}/o/logout/")),
        "{}",
        browser.url().await
    );
    browser.shows(&["Single-page app asks you to sign out"]).await;
    browser.screenshot("spa-sign-out").await;
    browser.click("button[type=submit]").await;
    let signed_out = browser.app_state("signed-out").await;
    assert_eq!(
        signed_out["state"], "back-from-sign-out",
        "the state came back and the library matched it"
    );
    let url = browser.url().await;
    assert!(url.starts_with(&format!("{app}/signed-out?state=")), "{url}");
    browser.screenshot("spa-signed-out").await;

    browser.quit().await;
    drop(server);
}

/// A device client nobody here wrote: panva's openid-client (npm, pinned)
/// runs the device authorization grant (`tests/relying-party/device.mjs`),
/// polling as the library does, while a person in headless Chromium opens
/// the link it shows, signs in, unticks a scope and allows; the device
/// gets tokens for what was allowed, for the person, and refreshes them.
/// Then another device is denied, and learns only that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, the pinned npm relying parties, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn a_device_is_connected_by_a_person_in_a_real_browser() {
    let table = fresh_table(&dynamo().await).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = start_standalone_with(&[
        ("TABLE_NAME", table.as_str()),
        ("ISSUER", issuer.as_str()),
        ("LISTEN_ADDR", listen.as_str()),
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        (
            "SCOPES",
            r#"{"read": "Read your items", "write": "Change your items"}"#,
        ),
        ("DEVICE_FLOW_INTERVAL", "1"),
        // OpenID Connect on: the device discovers the issuer as OpenID Connect clients do.
        ("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET),
    ])
    .await;
    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo().await, table.clone(), clock);
    admin::create_user(&store, "jdoe", "s3cret pw", 1000, 0)
        .await
        .unwrap();
    let new_client = |name: &str, grant: GrantType, scope: &str, public: bool| NewClient {
        name: name.into(),
        grants: [grant].into(),
        scopes: parse_scope(scope).unwrap(),
        default_scopes: parse_scope("").unwrap(),
        token_lifetime: None,
        redirect_uris: vec![],
        public,
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
    };
    let (tv, _) = admin::create_client(
        &store,
        new_client("Living Room TV", GrantType::DeviceCode, "read write", true),
        0,
    )
    .await
    .unwrap();
    let (rs, rs_secret) = admin::create_client(
        &store,
        new_client("RS", GrantType::ClientCredentials, "introspection", false),
        0,
    )
    .await
    .unwrap();
    let rs_secret = rs_secret.unwrap();
    let device = || {
        let mut child = tokio::process::Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("relying-party/device.mjs"))
            .env("ISSUER", &issuer)
            .env("CLIENT_ID", &tv.client_id)
            .env("CLIENT_SECRET", "")
            .env("SCOPE", "read write")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        (child, lines)
    };
    async fn next_line(
        lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    ) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the device client answers within 60 s")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"))
    }

    let browser = Browser::start().await;
    let (_tv_process, mut tv_lines) = device();
    let shown = next_line(&mut tv_lines).await;
    let user_code = shown["user_code"].as_str().unwrap().to_owned();
    assert_eq!(shown["verification_uri"], format!("{issuer}/o/device/"));
    // The person types the address the TV shows, signs in and enters the code...
    browser.open(shown["verification_uri"].as_str().unwrap()).await;
    browser.shows(&["to connect a device"]).await;
    browser.type_into("#username", "jdoe").await;
    browser.type_into("#password", "s3cret pw").await;
    browser.click("button[type=submit]").await;
    browser.shows(&["Enter the code your device shows"]).await;
    browser.screenshot("device-code").await;
    browser.type_into("#user_code", &user_code.to_lowercase()).await;
    browser.click("button[type=submit]").await;
    browser
        .shows(&[
            "Living Room TV",
            "Change your items",
            "Allow only if you started this on a device you have with you",
        ])
        .await;
    browser.screenshot("device-consent").await;
    // ...unticks write, and allows.
    browser
        .script("document.querySelector('input[value=write]').click();")
        .await;
    browser.click("button[value=allow]").await;
    browser.shows(&["Device connected"]).await;
    browser.screenshot("device-connected").await;
    let got = next_line(&mut tv_lines).await;
    assert_eq!(got["tokens"]["scope"], "read", "{got}");
    assert_eq!(got["tokens"]["has_refresh_token"], true, "{got}");
    assert_eq!(got["refreshed"]["rotated"], true, "{got}");
    let http: Client = HttpClient::builder(TokioExecutor::new()).build_http();
    let (_, seen) = form_post(
        &http,
        &format!("{issuer}/o/introspect/"),
        (&rs.client_id, &rs_secret),
        // The refresh rotated the pair (and revoked the first access token, as DOT does).
        &format!("token={}", got["refreshed"]["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (
            seen["active"].clone(),
            seen["username"].clone(),
            seen["client_id"].clone()
        ),
        (json!(true), json!("jdoe"), json!(tv.client_id))
    );

    // Another device, by the link with the code: denied; it learns only that.
    let (_other_process, mut other_lines) = device();
    let shown = next_line(&mut other_lines).await;
    browser
        .open(shown["verification_uri_complete"].as_str().unwrap())
        .await;
    browser.shows(&["Living Room TV"]).await;
    browser.click("button[value=deny]").await;
    browser.shows(&["Request denied"]).await;
    let refused = next_line(&mut other_lines).await;
    assert_eq!(refused["error"], "access_denied", "{refused}");

    browser.quit().await;
    drop(server);
}
