//! `oauthctl import-dot` with a real dump made by django-oauth-toolkit itself
//! (a throwaway Django project, tests/dot/make_dump.py): the users, clients
//! and tokens a DOT deployment has keep working here.

use integration_tests::{binary, TestClient, TestEnv};
use serde_json::{json, Value};
use shared::Store;
use tokio::process::Command;

async fn dot_dump() -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dot/make_dump.py");
    let output = integration_tests::dot_python()
        .arg(script)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn import(table: &str, file: &std::path::Path) -> Value {
    let output = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", table)
        .arg("import-dot")
        .arg(file)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
#[ignore = "needs the pinned django-oauth-toolkit, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn a_dot_deployment_moves_over_with_its_live_tokens() {
    let dot = dot_dump().await;
    let env = TestEnv::on_dynamodb(&[]).await;
    let rs = env.client("introspection").await;
    let file = std::env::temp_dir().join(format!("dot-dump-{}.json", std::process::id()));
    std::fs::write(&file, dot["dump"].to_string()).unwrap();

    let report = import(&env.table, &file).await;
    assert_eq!(
        report["imported"],
        json!({ "users": 2, "clients": 7, "access_tokens": 5, "refresh_tokens": 2 }),
        "{report}"
    );
    let reasons: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "a registration access token (RFC 7591): its client's registration token here",
            "expired",
            "revoked"
        ],
        "{report}"
    );

    // Users keep DOT's `sub` (their primary key), their names and address.
    let secrets = &dot["secrets"];
    let jdoe = env
        .admin
        .get_user("jdoe")
        .await
        .unwrap()
        .expect("jdoe is imported");
    assert_eq!(
        jdoe.to_public_json(),
        json!({
            "username": "jdoe", "disabled": false, "created_at": jdoe.created_at,
            "sub": secrets["jdoe_sub"], "first_name": "Jane", "last_name": "Doe",
            "email": "jane@example.com", "email_verified": false,
        })
    );
    assert_ne!(secrets["jdoe_sub"], "1");

    // Tokens in users' hands stay valid; the inactive user's and the expired one do not.
    let cc_id = secrets["cc"]["client_id"].as_str().unwrap();
    let client = env.introspect(&rs, "dot-client-token").await.json();
    assert_eq!(
        (client["active"].clone(), client["client_id"].clone()),
        (json!(true), json!(cc_id))
    );
    let user = env.introspect(&rs, "dot-user-access").await.json();
    assert_eq!(
        (
            user["active"].clone(),
            user["username"].clone(),
            user["scope"].clone()
        ),
        (json!(true), json!("jdoe"), json!("read write"))
    );
    assert_eq!(env.introspect(&rs, "dot-spa-token").await.json()["active"], true);
    assert_eq!(
        env.introspect(&rs, "dot-gone-token").await.json(),
        json!({ "active": false })
    );
    assert_eq!(
        env.introspect(&rs, "dot-expired-token").await.json(),
        json!({ "active": false })
    );

    // DOT's public authorization-code application keeps its redirect URIs
    // (but not the one this server would refuse), no secret, and
    // skip_authorization; it may use the authorization code grant.
    let spa_id = secrets["spa"]["client_id"].as_str().unwrap();
    let spa = env
        .admin
        .get_client(spa_id)
        .await
        .unwrap()
        .expect("the SPA is imported");
    assert_eq!(
        (
            spa.is_public(),
            spa.skip_consent,
            spa.redirect_uris
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
        ),
        (
            true,
            true,
            vec![
                "https://spa.example/cb".to_owned(),
                "http://127.0.0.1:8765/cb".to_owned()
            ]
        )
    );
    assert!(
        spa.may_use(shared::GrantType::AuthorizationCode) && spa.may_use(shared::GrantType::RefreshToken)
    );
    // DOT 3.4's allowed_origins and post_logout_redirect_uris: kept, but
    // what this server would refuse (plain http to another host, a
    // javascript: URI) left out and said.
    assert_eq!(
        spa.allowed_origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        ["https://spa.example"]
    );
    assert_eq!(
        spa.post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        ["https://spa.example/signed-out"]
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("allowed origin \\\"http://spa.example\\\" left out")
            && notes.contains("post-logout redirect URI left out"),
        "{notes}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("http://spa.example/insecure"),
        "{report}"
    );
    // DOT's ALLOW_URI_WILDCARDS is refused on purpose, and said.
    assert!(
        report["notes"].to_string().contains("has a wildcard host (*)"),
        "{report}"
    );

    // DOT's device-grant application (public, as DOT allows) is a device
    // client here: it gets its codes at DOT's path.
    let tv_id = secrets["tv"]["client_id"].as_str().unwrap();
    let tv = env
        .admin
        .get_client(tv_id)
        .await
        .unwrap()
        .expect("the TV is imported");
    assert!(
        tv.is_public()
            && tv.may_use(shared::GrantType::DeviceCode)
            && tv.may_use(shared::GrantType::RefreshToken)
    );
    let codes = env
        .post(
            "/o/device-authorization/",
            &format!("client_id={tv_id}&scope=read"),
        )
        .send()
        .await;
    assert_eq!(codes.status, 200, "{}", codes.body);
    assert!(codes.json()["user_code"].is_string());

    // DOT 3.4's self-registered clients: the one registered by RFC 7591
    // manages its registration here with the token DOT gave it; the one
    // known by its metadata document is fetched afresh at first use.
    let dcr_id = secrets["dcr"]["client_id"].as_str().unwrap();
    let dcr = env
        .admin
        .get_client(dcr_id)
        .await
        .unwrap()
        .expect("the DCR client is imported");
    assert_eq!(dcr.to_public_json()["registered_by"], "dynamic");
    let read = env
        .request("GET", &format!("/o/register/{dcr_id}/"))
        .bearer(secrets["dcr"]["registration_access_token"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["redirect_uris"], json!(["http://127.0.0.1/cb"]));
    let cimd_id = secrets["cimd"]["client_id"].as_str().unwrap();
    let cimd = env
        .admin
        .get_client(cimd_id)
        .await
        .unwrap()
        .expect("the CIMD client is imported");
    assert_eq!(cimd.to_public_json()["registered_by"], "metadata_document");
    // The registration token was no access token: never active.
    assert_eq!(
        env.introspect(&rs, secrets["dcr"]["registration_access_token"].as_str().unwrap())
            .await
            .json(),
        json!({ "active": false })
    );
    // DOT 3.4's resource-bound token keeps its audience (RFC 8707).
    let bound = env.introspect(&rs, "dot-mcp-access").await.json();
    assert_eq!(
        (bound["active"].clone(), bound["aud"].clone()),
        (json!(true), json!("https://mcp.example.com/mcp"))
    );
    // What is not carried is said: codes and devices in flight, HS256 ID tokens.
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("device authorizations in flight are not carried")
            && notes.contains("every ID token is RS256")
            && notes.contains("known by its metadata document"),
        "{notes}"
    );

    // A DOT client secret (PBKDF2) works, and is re-stored as SHA-256 after its first use.
    let cc = TestClient {
        id: cc_id.to_owned(),
        secret: secrets["cc"]["client_secret"].as_str().unwrap().to_owned(),
    };
    assert!(
        env.raw_item(&format!("client#{cc_id}")).await.unwrap()["secret_hash"]
            .as_s()
            .unwrap()
            .starts_with("pbkdf2_sha256$")
    );
    env.token(&cc, Some("read")).await;
    let rehashed = env.raw_item(&format!("client#{cc_id}")).await.unwrap()["secret_hash"]
        .as_s()
        .unwrap()
        .clone();
    assert_eq!(rehashed, shared::secret::sha256_hex(&cc.secret));
    env.token(&cc, Some("read")).await;
    let wrong = env
        .post("/o/token/", "grant_type=client_credentials")
        .basic(cc_id, "not-it")
        .send()
        .await;
    assert_eq!(wrong.status, 401);

    // DOT users sign in with their Django passwords; DOT refresh tokens rotate.
    let pw = TestClient {
        id: secrets["pw"]["client_id"].as_str().unwrap().to_owned(),
        secret: secrets["pw"]["client_secret"].as_str().unwrap().to_owned(),
    };
    let form = format!(
        "grant_type=password&username=jdoe&password={}",
        secrets["jdoe_password"].as_str().unwrap()
    );
    let answer = env
        .post("/o/token/", &form)
        .basic(&pw.id, &pw.secret)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refresh = |token: &'static str| {
        let env = &env;
        let pw = pw.clone();
        async move {
            env.post(
                "/o/token/",
                &format!("grant_type=refresh_token&refresh_token={token}"),
            )
            .basic(&pw.id, &pw.secret)
            .send()
            .await
        }
    };
    let answer = refresh("dot-user-refresh").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.json()["refresh_token"].is_string());
    // The scope of the access token DOT issued with it (a DOT refresh token has none).
    assert_eq!(answer.json()["scope"], "read write");
    assert_eq!(refresh("dot-user-refresh").await.error(), "invalid_grant");
    assert_eq!(
        env.introspect(&rs, "dot-user-access").await.json(),
        json!({ "active": false }),
        "reuse revoked the family"
    );

    // DOT's public SPA signs jdoe in here through the authorization code
    // flow unchanged: its client_id, its redirect_uri, PKCE, no secret, and
    // no consent page (skip_authorization).
    let spa = secrets["spa"]["client_id"].as_str().unwrap();
    let (verifier, challenge) = integration_tests::pkce_pair();
    let request = format!(
        "response_type=code&client_id={spa}&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=read&state=s1&code_challenge={challenge}&code_challenge_method=S256"
    );
    let page = env
        .request("GET", &format!("/o/authorize/?{request}"))
        .send()
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page
        .header_all("set-cookie")
        .iter()
        .find_map(|c| {
            c.strip_prefix("__Host-csrf=")?
                .split(';')
                .next()
                .map(str::to_owned)
        })
        .expect("a CSRF cookie");
    let sign_in = format!(
        "{request}&csrf={csrf}&step=sign_in&username=jdoe&password={}",
        secrets["jdoe_password"].as_str().unwrap()
    );
    let back = env
        .post("/o/authorize/", &sign_in)
        .header("cookie", &format!("__Host-csrf={csrf}"))
        .send()
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let location = back.header("location").unwrap();
    assert!(location.starts_with("https://spa.example/cb?code="), "{location}");
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let tokens = env
        .post(
            "/o/token/",
            &format!("grant_type=authorization_code&client_id={spa}&code={code}&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&code_verifier={verifier}"),
        )
        .send()
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let seen = env
        .introspect(&rs, tokens.json()["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(
        (seen["active"].clone(), seen["username"].clone()),
        (json!(true), json!("jdoe"))
    );
    // Its secret-less Basic is still no authentication.
    let answer = env
        .post("/o/token/", "grant_type=refresh_token&refresh_token=x")
        .basic(spa, "")
        .send()
        .await;
    assert_eq!(answer.status, 401);

    // Importing again changes nothing.
    let again = import(&env.table, &file).await;
    assert_eq!(again["imported"], json!({}), "{again}");
    assert!(
        again["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["reason"] == "already imported")
            .count()
            >= 7
    );
    std::fs::remove_file(&file).ok();
}

/// DOT's OpenID Connect keys move over: `oauthctl keys import-dot` with
/// DOT's signing key (PKCS#1, as older `openssl genrsa` makes it) and an
/// inactive one (PKCS#8): ID tokens DOT signed with either (by DOT's own
/// key loading and `kid`, `tests/dot/sign_as_dot.py`) verify against this
/// service's JWKS, and the service signs with DOT's key from now, so
/// relying parties' cached keys stay good.
#[tokio::test]
#[ignore = "needs the pinned django-oauth-toolkit, openssl, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn dots_openid_connect_keys_move_over_and_its_id_tokens_verify() {
    let env = TestEnv::on_dynamodb(&[]).await;
    let dir = std::env::temp_dir().join(format!("dot-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (active, inactive) = (dir.join("active.pem"), dir.join("inactive.pem"));
    for (path, format) in [(&active, &["-traditional"][..]), (&inactive, &[][..])] {
        let made = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(path)
            .args(format)
            .arg("2048")
            .output()
            .await
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    }
    assert!(std::fs::read_to_string(&active)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let sign = |key: std::path::PathBuf| async move {
        let claims =
            json!({ "iss": "https://dot.example/o", "sub": "7", "aud": "rp", "exp": 4_000_000_000u64 });
        let output = integration_tests::dot_python()
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dot/sign_as_dot.py"))
            .arg(&key)
            .arg(claims.to_string())
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let (by_active, by_inactive) = (sign(active.clone()).await, sign(inactive.clone()).await);

    let imported = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", &env.table)
        .env("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET)
        .args(["keys", "import-dot", "--key"])
        .arg(&active)
        .arg("--inactive-key")
        .arg(&inactive)
        .output()
        .await
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let imported: Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(
        imported["imported"],
        json!([by_active["kid"], by_inactive["kid"]]),
        "DOT's kid is the thumbprint, as here: {imported}"
    );

    let jwks = env.request("GET", "/o/.well-known/jwks.json").send().await.json();
    for signed in [&by_active, &by_inactive] {
        assert!(
            integration_tests::jws::verifies(signed["id_token"].as_str().unwrap(), &jwks),
            "an ID token DOT signed verifies here: {signed} against {jwks}"
        );
    }
    // The service signs with DOT's key from now.
    let keys = imported["keys"].as_array().unwrap();
    let signing: Vec<&Value> = keys.iter().filter(|k| k["state"] == "signing").collect();
    assert_eq!(signing.len(), 1, "{imported}");
    assert_eq!(signing[0]["kid"], by_active["kid"]);
    // The inactive one never signs, even with DOT's key retired.
    let retired = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", &env.table)
        .args(["keys", "retire"])
        .arg(by_active["kid"].as_str().unwrap())
        .output()
        .await
        .unwrap();
    assert!(
        retired.status.success(),
        "{}",
        String::from_utf8_lossy(&retired.stderr)
    );
    let listed = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", &env.table)
        .args(["keys", "list"])
        .output()
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        listed
            .to_string()
            .contains("published, never signing here (imported)")
            && !listed.to_string().contains("\"signing\""),
        "{listed}"
    );
    // A file that is no key is refused, naming the flag.
    let refused = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", &env.table)
        .env("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET)
        .args(["keys", "import-dot", "--key"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dot/sign_as_dot.py"))
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("key"),
        "{refused:?}"
    );
}

/// "Zero re-login from DOT", for a DOT 3.4 with everything on
/// (`tests/dot/everything_on.py`: OpenID Connect with an active and an
/// inactive key, RFC 7591, Client ID Metadata Documents, RFC 8707, the
/// device grant, allowed_origins), where a person signed in through each
/// flow: after `import-dot` and `keys import-dot`, every token in the
/// person's hands introspects here as DOT introspected it, the ID token DOT
/// issued verifies against this JWKS, DOT's resource server pointed here
/// accepts the tokens, every refresh token refreshes here, the registered
/// client manages its registration with DOT's token, and the applications
/// sign the person in here unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pinned django-oauth-toolkit, openssl, the workspace binaries and DynamoDB Local: scripts/test runs it"]
async fn a_dot_deployment_with_everything_on_moves_over() {
    use integration_tests::code_flow::{redirected, Browser};
    use integration_tests::document_server::{DocumentServer, Serve};

    // The metadata document's client: served here too, over TLS on loopback,
    // with this test's certificate (the only fetch of this test binary).
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let bundle = std::env::temp_dir().join(format!("dot-everything-{}.pem", std::process::id()));
    std::fs::write(&bundle, cert.cert.pem()).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);
    let documents = DocumentServer::start(&cert).await;
    let cimd_id = documents.url("/oauth/client.json");
    documents.serve(
        "/oauth/client.json",
        Serve::Json(
            json!({ "client_id": cimd_id, "client_name": "Documented",
                    "redirect_uris": ["http://127.0.0.1:9876/cb"], "token_endpoint_auth_method": "none" })
            .to_string(),
            None,
        ),
    );

    let output = integration_tests::dot_python()
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dot/everything_on.py"))
        .env("CIMD_CLIENT_ID", &cimd_id)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dot: Value = serde_json::from_slice(&output.stdout).unwrap();
    let flows = &dot["flows"];

    let env = TestEnv::on_dynamodb(&[
        ("PASSWORD_HASH_ITERATIONS", "1000"),
        ("CLIENT_REGISTRATION", "open"),
        ("CLIENT_METADATA_DOCUMENTS", "on"),
        ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true"),
        ("RESOURCES", r#"{"https://mcp.example.com/mcp": "read"}"#),
    ])
    .await;
    let dir = std::env::temp_dir().join(format!("dot-everything-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (dump, signing, inactive) = (dir.join("dump.json"), dir.join("oidc.key"), dir.join("old.key"));
    std::fs::write(&dump, dot["dump"].to_string()).unwrap();
    std::fs::write(&signing, dot["keys"]["signing"].as_str().unwrap()).unwrap();
    std::fs::write(&inactive, dot["keys"]["inactive"][0].as_str().unwrap()).unwrap();
    let report = import(&env.table, &dump).await;
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(1), "{report}");
    let keys = Command::new(binary("oauthctl"))
        .env("TABLE_NAME", &env.table)
        .env("SIGNING_KEY_SECRET", integration_tests::TEST_SIGNING_KEY_SECRET)
        .args(["keys", "import-dot", "--key"])
        .arg(&signing)
        .arg("--inactive-key")
        .arg(&inactive)
        .output()
        .await
        .unwrap();
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));

    // Every token introspects here as DOT introspected it.
    let rs = env.client("introspection").await;
    for (flow, held) in flows.as_object().unwrap() {
        let dot_said = &held["dot_introspection"];
        let ours = env
            .introspect(&rs, held["access_token"].as_str().unwrap())
            .await
            .json();
        for field in ["active", "client_id", "username", "exp"] {
            assert_eq!(
                ours[field], dot_said[field],
                "{flow}: {field}: ours {ours}, DOT's {dot_said}"
            );
        }
        // A scope is a set (RFC 6749 §3.3): in any order.
        let scope =
            |answer: &Value| shared::scope::parse_scope(answer["scope"].as_str().unwrap_or("")).unwrap();
        assert_eq!(scope(&ours), scope(dot_said), "{flow}: scope");
        // RFC 7662's aud: one resource may be a string or a list of one.
        let as_list = |aud: &Value| match aud {
            Value::String(one) => json!([one]),
            other => other.clone(),
        };
        assert_eq!(as_list(&ours["aud"]), as_list(&dot_said["aud"]), "{flow}: aud");
    }

    // The ID token DOT issued verifies against this JWKS, for DOT's sub.
    let jwks = env.request("GET", "/o/.well-known/jwks.json").send().await.json();
    let id_token = flows["web"]["id_token"].as_str().unwrap();
    assert!(integration_tests::jws::verifies(id_token, &jwks), "{id_token}");
    assert_eq!(integration_tests::jws::part(id_token, 1)["sub"], dot["jdoe_sub"]);

    // DOT's resource server, pointed here, accepts the tokens DOT issued for it.
    let served = env.serve().await;
    let rs_output = integration_tests::dot_python()
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dot/resource_server.py"))
        .args(["web", "device", "dcr", "cimd"].map(|f| flows[f]["access_token"].as_str().unwrap().to_owned()))
        .env(
            "DOT_INTROSPECTION_URL",
            format!("http://{}/o/introspect/", served.addr),
        )
        .env("DOT_CLIENT_ID", &rs.id)
        .env("DOT_CLIENT_SECRET", &rs.secret)
        .output()
        .await
        .unwrap();
    assert!(
        rs_output.status.success(),
        "{}",
        String::from_utf8_lossy(&rs_output.stderr)
    );
    let statuses: Value = serde_json::from_slice(&rs_output.stdout).unwrap();
    // The one bound to the MCP server (RFC 8707) is refused by a resource
    // server at another URI: DOT's checks the aud we answer, as at DOT.
    assert_eq!(statuses, json!([200, 200, 403, 200]));

    // Every refresh token refreshes here, by its client as it authenticated at DOT.
    for (flow, held) in flows.as_object().unwrap() {
        let form = format!(
            "grant_type=refresh_token&refresh_token={}",
            held["refresh_token"].as_str().unwrap()
        );
        let request = env.post("/o/token/", &form);
        let answer = match held["client_secret"].as_str() {
            Some(secret) => request.basic(held["client_id"].as_str().unwrap(), secret),
            None => env.post(
                "/o/token/",
                &format!(
                    "{form}&client_id={}",
                    shared::form::encode(held["client_id"].as_str().unwrap())
                ),
            ),
        }
        .send()
        .await;
        assert_eq!(answer.status, 200, "{flow}: {}", answer.body);
    }

    // The client DOT registered manages its registration here with DOT's token.
    let dcr_id = flows["dcr"]["client_id"].as_str().unwrap();
    let read = env
        .request("GET", &format!("/o/register/{dcr_id}/"))
        .bearer(dot["registration_access_token"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(read.status, 200, "{}", read.body);

    // The applications sign the person in here unchanged: same client id,
    // redirect URI, secret (and the person's Django password).
    for flow in ["web", "dcr", "cimd"] {
        let held = &flows[flow];
        let client_id = held["client_id"].as_str().unwrap();
        let redirect_uri = held["redirect_uri"].as_str().unwrap();
        let (verifier, challenge) = integration_tests::pkce_pair();
        let mut browser = Browser::default();
        let page = browser
            .get(
                &env,
                &format!(
                    "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
                    shared::form::encode(client_id),
                    shared::form::encode(redirect_uri)
                ),
            )
            .await;
        assert_eq!(page.status, 200, "{flow}: {}", page.body);
        let next = browser
            .submit(
                &env,
                &page,
                &[
                    ("username", "jdoe"),
                    ("password", dot["password"].as_str().unwrap()),
                ],
            )
            .await;
        let back = if next.status == 200 {
            browser.submit(&env, &next, &[("decision", "allow")]).await
        } else {
            next
        };
        let code = redirected(&back, redirect_uri)["code"].clone();
        let form = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
            shared::form::encode(redirect_uri)
        );
        let tokens = match held["client_secret"].as_str() {
            Some(secret) => env.post("/o/token/", &form).basic(client_id, secret),
            None => env.post(
                "/o/token/",
                &format!("{form}&client_id={}", shared::form::encode(client_id)),
            ),
        }
        .send()
        .await;
        assert_eq!(tokens.status, 200, "{flow}: {}", tokens.body);
    }
    // ...and DOT's TV connects here as it did there (the device grant).
    let tv = flows["device"]["client_id"].as_str().unwrap();
    let codes = env
        .post("/o/device-authorization/", &format!("client_id={tv}"))
        .send()
        .await
        .json();
    let mut browser = Browser::default();
    let page = browser
        .get(
            &env,
            &format!("/o/device/?user_code={}", codes["user_code"].as_str().unwrap()),
        )
        .await;
    let consent = browser
        .submit(
            &env,
            &page,
            &[
                ("username", "jdoe"),
                ("password", dot["password"].as_str().unwrap()),
            ],
        )
        .await;
    let done = browser.submit(&env, &consent, &[("decision", "allow")]).await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    let polled = env
        .post(
            "/o/token/",
            &format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={}&client_id={tv}",
                codes["device_code"].as_str().unwrap()
            ),
        )
        .send()
        .await;
    assert_eq!(polled.status, 200, "{}", polled.body);
    drop(served);
}
