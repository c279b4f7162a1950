//! The sign-in lockout, shared by the sign-in page and the password grant:
//! `SIGN_IN_LOCKOUT_ATTEMPTS` password checks per username and window at
//! most, however many arrive at once, known username or not; what the
//! service checked is read from its audit log ("sign-in attempt" events),
//! as an operator would.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use futures::future::join_all;
use integration_tests::code_flow::Browser;
use integration_tests::{pkce_pair, Answer, TestClient, TestEnv};
use shared::admin::{self, NewClient};
use shared::model::GrantType;
use shared::scope::parse_scope;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const REDIRECT: &str = "https://app.example.com/callback";
const WRONG: &str = "The username or password is wrong.";
const LOCKED: &str = "Too many failed sign-ins";
const BUSY: &str = "Too many sign-ins for this username at once";

/// The outcome of every "sign-in attempt" the service logged on this
/// thread (a `#[tokio::test]` runs the service's futures on its own thread,
/// so tests never see each other's).
#[derive(Clone, Default)]
struct AuditLog(Arc<Mutex<Vec<String>>>);

/// The logs being recorded, by the thread they record.
static RECORDING: Mutex<Vec<(ThreadId, AuditLog)>> = Mutex::new(Vec::new());

/// Stops recording its thread's events when dropped.
struct Recording(ThreadId);

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDING.lock().unwrap().retain(|(id, _)| *id != self.0);
    }
}

impl AuditLog {
    /// Starts recording this thread's events. The subscriber is the global
    /// one, installed once: a thread-local one can miss events of a
    /// callsite another thread registered first.
    fn record() -> (Self, Recording) {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Recorder))
                .expect("no other global subscriber");
        });
        let log = Self::default();
        let id = std::thread::current().id();
        RECORDING.lock().unwrap().push((id, log.clone()));
        (log, Recording(id))
    }

    /// How many attempts had their password checked.
    fn checked(&self) -> usize {
        let outcomes = self.0.lock().unwrap();
        outcomes
            .iter()
            .filter(|o| *o == "wrong_credentials" || *o == "signed_in")
            .count()
    }

    fn outcomes(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Hands each "sign-in attempt" event to the log of the thread it happened on.
struct Recorder;

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            message: String,
            outcome: Option<String>,
        }
        impl Visit for Fields {
            fn record_str(&mut self, field: &Field, value: &str) {
                match field.name() {
                    "message" => self.message = value.to_owned(),
                    "outcome" => self.outcome = Some(value.to_owned()),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.message = format!("{value:?}"),
                    "outcome" => self.outcome = Some(format!("{value:?}").trim_matches('"').to_owned()),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message != "sign-in attempt" {
            return;
        }
        let id = std::thread::current().id();
        if let Some((_, log)) = RECORDING.lock().unwrap().iter().find(|(t, _)| *t == id) {
            log.0.lock().unwrap().push(fields.outcome.unwrap_or_default());
        }
    }
}

struct Fixture {
    env: TestEnv,
    /// A client of the authorization code grant (the sign-in page).
    web: TestClient,
    /// A client allowed the password grant.
    app: TestClient,
}

impl Fixture {
    async fn new() -> Self {
        let env = TestEnv::with_config(&[
            ("PASSWORD_HASH_ITERATIONS", "1000"),
            ("SIGN_IN_LOCKOUT_ATTEMPTS", "5"),
        ])
        .await;
        let new = NewClient {
            name: "Example App".into(),
            grants: [GrantType::AuthorizationCode].into(),
            scopes: parse_scope("read").unwrap(),
            default_scopes: parse_scope("read").unwrap(),
            token_lifetime: None,
            redirect_uris: vec![REDIRECT.into()],
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: shared::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        };
        let (client, secret) = admin::create_client(&env.admin, new, 0).await.unwrap();
        let web = TestClient {
            id: client.client_id,
            secret: secret.unwrap(),
        };
        let app = env
            .client_with("read", "read", None, &[GrantType::Password])
            .await;
        admin::create_user(&env.admin, "jdoe", "s3cret pw", 1000, 0)
            .await
            .unwrap();
        Self { env, web, app }
    }

    /// The sign-in page, and the browser that holds its CSRF cookie.
    async fn sign_in_page(&self) -> (Browser, Answer) {
        let mut browser = Browser::default();
        let (_, challenge) = pkce_pair();
        let path = format!(
            "/o/authorize/?response_type=code&client_id={}&redirect_uri={}&scope=read&code_challenge={challenge}&code_challenge_method=S256",
            self.web.id,
            shared::form::encode(REDIRECT)
        );
        let page = browser.get(&self.env, &path).await;
        assert!(page.body.contains("name=\"password\""), "{}", page.body);
        (browser, page)
    }

    async fn password_grant(&self, username: &str, password: &str) -> Answer {
        let form = format!(
            "grant_type=password&username={}&password={}",
            shared::form::encode(username),
            shared::form::encode(password)
        );
        self.env
            .post("/o/token/", &form)
            .basic(&self.app.id, &self.app.secret)
            .send()
            .await
    }
}

/// 20 wrong sign-ins at once for one username, known or not: at most
/// `SIGN_IN_LOCKOUT_ATTEMPTS` (5) passwords are checked, the rest are
/// refused without a check (told to retry while those five are checked);
/// then the username is locked, the right password refused too.
#[tokio::test]
async fn concurrent_wrong_sign_ins_get_at_most_the_allowed_checks() {
    let f = Fixture::new().await;
    for username in ["jdoe", "nobody"] {
        let (log, _guard) = AuditLog::record();
        let (browser, page) = f.sign_in_page().await;
        let (env, page) = (&f.env, &page);
        let attempts = (0..20).map(|_| {
            let cookies = browser.cookies.clone();
            async move {
                let mut browser = Browser { cookies };
                browser
                    .submit(env, page, &[("username", username), ("password", "wrong")])
                    .await
            }
        });
        let answers = join_all(attempts).await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "{username}: {}", answer.body);
            assert!(
                [WRONG, LOCKED, BUSY].iter().any(|m| answer.body.contains(m)),
                "{username}: {}",
                answer.body
            );
        }
        assert_eq!(log.outcomes().len(), 20, "{username}: {:?}", log.outcomes());
        assert_eq!(
            log.checked(),
            5,
            "{username}: {} of 20 concurrent wrong sign-ins had their password checked: {:?}",
            log.checked(),
            log.outcomes()
        );
    }
    // Locked: the right password is refused unchecked, on the page and at the grant.
    let (log, _guard) = AuditLog::record();
    let (mut browser, page) = f.sign_in_page().await;
    let right = browser
        .submit(&f.env, &page, &[("username", "jdoe"), ("password", "s3cret pw")])
        .await;
    assert!(right.body.contains(LOCKED), "{}", right.body);
    f.password_grant("jdoe", "s3cret pw")
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(log.outcomes(), ["locked", "locked"]);
}

/// The password grant counts against the same lockout as the sign-in page,
/// both ways: failures on the page lock the grant, and wrong guesses at the
/// grant lock the page; the answers are alike for known and unknown users.
#[tokio::test]
async fn the_password_grant_shares_the_lockout() {
    let f = Fixture::new().await;
    let (mut browser, page) = f.sign_in_page().await;
    for _ in 0..5 {
        browser
            .submit(&f.env, &page, &[("username", "jdoe"), ("password", "wrong")])
            .await;
    }
    let locked = f.password_grant("jdoe", "s3cret pw").await;
    locked.assert_error(400, "invalid_grant");

    // Wrong guesses at the grant are counted too, for any username.
    for username in ["ann", "nobody"] {
        if username == "ann" {
            admin::create_user(&f.env.admin, "ann", "ann's pw", 1000, 0)
                .await
                .unwrap();
        }
        let mut descriptions = Vec::new();
        for _ in 0..6 {
            let answer = f.password_grant(username, "wrong").await;
            answer.assert_error(400, "invalid_grant");
            descriptions.push(answer.json()["error_description"].clone());
        }
        assert_eq!(
            descriptions[5],
            locked.json()["error_description"],
            "{username}: the sixth wrong guess is refused as locked"
        );
        let (mut browser, page) = f.sign_in_page().await;
        let on_page = browser
            .submit(&f.env, &page, &[("username", username), ("password", "ann's pw")])
            .await;
        assert!(on_page.body.contains(LOCKED), "{username}: {}", on_page.body);
    }
}

/// A username longer than any stored key can be is simply wrong at sign-in,
/// never a storage failure (DynamoDB refuses keys over 2 KiB).
#[tokio::test]
async fn an_oversized_username_is_wrong_not_unavailable() {
    let f = Fixture::new().await;
    let long = "u".repeat(3000);
    let (mut browser, page) = f.sign_in_page().await;
    let answer = browser
        .submit(&f.env, &page, &[("username", &long), ("password", "wrong")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains(WRONG), "{}", answer.body);
    f.password_grant(&long, "wrong")
        .await
        .assert_error(400, "invalid_grant");
}

/// Many right sign-ins at once for one username (a service account's
/// workers at the password grant): none is told the username is locked;
/// those beyond the window's room are told to retry shortly, and do.
#[tokio::test]
async fn concurrent_right_sign_ins_are_never_locked_out() {
    let f = Fixture::new().await;
    let answers = join_all((0..20).map(|_| f.password_grant("jdoe", "s3cret pw"))).await;
    let mut retried = 0;
    for answer in answers {
        match answer.status {
            200 => {}
            503 => {
                assert_eq!(answer.header("retry-after"), Some("1"), "{}", answer.body);
                answer.assert_error(503, "temporarily_unavailable");
                retried += 1;
                assert_eq!(f.password_grant("jdoe", "s3cret pw").await.status, 200);
            }
            other => panic!("{other}: {}", answer.body),
        }
    }
    assert!(retried <= 15, "{retried} of 20 were told to retry");
}
