//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an https URL names the JSON document, served there
//! by the client's developer, that is its registration. Nobody registers
//! it here: it is fetched when first named (SSRF-guarded, `fetch`), kept as
//! a client item for as long as its caching headers allow (within bounds),
//! fetched again after, and gone when unused as a dynamically registered
//! client is. Such a client is public, of the code grant, redirecting to
//! https or loopback, and always asks for consent, on a page that says it
//! is not verified by this service. A document that could not be used is
//! not fetched again for a while ([`FailedDocuments`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

use super::register::{registered, Metadata, ScopeRule};
use super::TokenService;
use crate::config::ClientMetadataDocuments;
use crate::fetch::{fetch, FetchPolicy, FetchRefused};
use crate::model::{Client, ClientAuth, GrantType, Registration, NEVER};
use crate::store::{Store, StoreError};

/// The longest client id that may name a document (its item's key, and
/// the consent keys holding it, stay well within DynamoDB's).
pub const MAX_DOCUMENT_URL_BYTES: usize = 1000;
/// The largest document read: the draft suggests 5 KB.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// The whole fetch, resolution to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a document is used before it is fetched again: what its
/// `Cache-Control` says, within these bounds (the floor spares a client's
/// host one fetch per page of one sign-in), or the default when it says
/// nothing.
pub const MIN_FRESH_SECONDS: u64 = 60;
/// See [`MIN_FRESH_SECONDS`].
pub const MAX_FRESH_SECONDS: u64 = 24 * 3600;
/// See [`MIN_FRESH_SECONDS`].
pub const DEFAULT_FRESH_SECONDS: u64 = 3600;
/// How long a document that could not be used is not fetched again.
pub const FAILED_DOCUMENT_RETRY_SECONDS: u64 = 60;
/// How many such documents an instance remembers.
pub const MAX_FAILED_DOCUMENTS: usize = 1024;

/// The metadata documents this instance lately could not use, by URL, with
/// why: a client id naming one is refused with the same reason, unfetched,
/// until [`FAILED_DOCUMENT_RETRY_SECONDS`] have passed. Naming a failing URL
/// over and over (or one that never answers, each fetch taking up to
/// [`FETCH_TIMEOUT`]) then costs its host one request a minute per
/// instance, not one per request.
#[derive(Default)]
pub(super) struct FailedDocuments(Mutex<HashMap<String, Failure>>);

struct Failure {
    retry_at: u64,
    why: String,
}

impl FailedDocuments {
    /// Why `url` could not be used, if that was less than a while ago.
    fn recent(&self, url: &str, now: u64) -> Option<String> {
        let failures = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures
            .get(url)
            .filter(|failure| failure.retry_at > now)
            .map(|failure| failure.why.clone())
    }

    /// Remembers that `url` could not be used, and why. When full, the
    /// failures past their wait go first, then the one nearest its end.
    fn remember(&self, url: &str, why: &str, now: u64) {
        let mut failures = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= MAX_FAILED_DOCUMENTS && !failures.contains_key(url) {
            failures.retain(|_, failure| failure.retry_at > now);
            if failures.len() >= MAX_FAILED_DOCUMENTS {
                let nearest = failures
                    .iter()
                    .min_by_key(|(_, failure)| failure.retry_at)
                    .map(|(url, _)| url.clone());
                if let Some(nearest) = nearest {
                    failures.remove(&nearest);
                }
            }
        }
        failures.insert(
            url.to_owned(),
            Failure {
                retry_at: now + FAILED_DOCUMENT_RETRY_SECONDS,
                why: why.to_owned(),
            },
        );
    }
}

/// Why the client a request names cannot be had.
#[derive(Debug)]
pub(super) enum ClientUnavailable {
    /// The store failed.
    Store(StoreError),
    /// Its metadata document could not be fetched or is not acceptable.
    Document(String),
}

impl From<StoreError> for ClientUnavailable {
    fn from(e: StoreError) -> Self {
        ClientUnavailable::Store(e)
    }
}

impl ClientUnavailable {
    /// What a client is told, when the fault is its document's.
    pub fn document_description(why: &str) -> String {
        format!("the client's metadata document cannot be used: {why}")
    }
}

/// The URL a client id names its document by, if it is one: `Ok(None)` for
/// a client id that is no https URL (an ordinary one); an error for an
/// https URL no document may have (draft §3: a path, no fragment, no
/// credentials, no dot segments), or one written other than as a URL
/// parser writes it (the document's `client_id` is compared as a string).
pub(super) fn document_url(client_id: &str) -> Result<Option<Url>, String> {
    if !client_id
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return Ok(None);
    }
    if client_id.len() > MAX_DOCUMENT_URL_BYTES {
        return Err(format!(
            "a client_id URL is at most {MAX_DOCUMENT_URL_BYTES} bytes"
        ));
    }
    let url = Url::parse(client_id).map_err(|_| "the client_id is not a valid URL".to_owned())?;
    if url.as_str() != client_id {
        return Err(format!(
            "the client_id is not written as a URL parser writes it ({:?})",
            url.as_str()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the client_id URL holds credentials".into());
    }
    if url.fragment().is_some() {
        return Err("the client_id URL has a fragment".into());
    }
    if url.path() == "/" {
        return Err("the client_id URL has no path".into());
    }
    // The parser removes dot segments; their encoded forms it keeps.
    let dotted = url.path().split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        matches!(lower.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
    });
    if dotted {
        return Err("the client_id URL has a dot segment".into());
    }
    Ok(Some(url))
}

/// A client an administrator disabled by the URL of its metadata document
/// before it was ever used: `None` when `client_id` is no such URL. Never
/// fetched and kept until enabled, when its document is fetched at its
/// next use.
pub(crate) fn never_fetched(client_id: &str, now: u64) -> Option<Client> {
    let url = document_url(client_id).ok()??;
    Some(Client {
        client_id: url.as_str().to_owned(),
        name: url.host_str().unwrap_or_default().to_owned(),
        auth: ClientAuth::Public,
        grant_types: [GrantType::AuthorizationCode].into(),
        scopes: Default::default(),
        default_scopes: Default::default(),
        token_lifetime: None,
        disabled: true,
        created_at: now,
        redirect_uris: Vec::new(),
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: Default::default(),
        registration: Registration::MetadataDocument {
            fresh_until: 0,
            expires_at: NEVER,
        },
        resources: Default::default(),
    })
}

/// How long a document fetched now may be used, from what its
/// `Cache-Control` said.
pub(super) fn freshness(max_age: Option<u64>) -> u64 {
    max_age
        .unwrap_or(DEFAULT_FRESH_SECONDS)
        .clamp(MIN_FRESH_SECONDS, MAX_FRESH_SECONDS)
}

/// The client a document fetched from `url` describes, checked: its
/// `client_id` is `url` exactly, it has no secret, and its metadata is
/// what a self-registered client may have.
pub(super) fn client_from_document(
    url: &Url,
    body: &[u8],
    registrable: &crate::scope::ScopeSet,
    created_at: u64,
    registration: Registration,
) -> Result<Client, String> {
    let fields = super::register::json_object(body).map_err(|e| e.description().to_owned())?;
    match fields.get("client_id").and_then(|id| id.as_str()) {
        Some(id) if id == url.as_str() => {}
        Some(_) => return Err("its client_id is not the URL it was fetched from".into()),
        None => return Err("it has no client_id".into()),
    }
    // Draft §4.1: a document is public; a secret in it is no secret.
    for secret in ["client_secret", "client_secret_expires_at"] {
        if fields.contains_key(secret) {
            return Err(format!("it holds {secret}, which a public document must not"));
        }
    }
    let unnamed = url.host_str().unwrap_or_default();
    let metadata = Metadata::parse(&fields, ScopeRule::NarrowedTo(registrable), unnamed)
        .map_err(|e| e.description().to_owned())?;
    Ok(registered(
        metadata,
        url.as_str().to_owned(),
        created_at,
        registration,
    ))
}

impl<S: Store> TokenService<S> {
    /// The client `client_id` names, as a request sees it: the stored one,
    /// or, for an https URL when metadata documents are on, the one its
    /// document describes (fetched when none is kept, or the one kept is no
    /// longer fresh). `None`: no such client.
    pub(super) async fn find_client(&self, client_id: &str) -> Result<Option<Client>, ClientUnavailable> {
        let stored = self.store.get_client(client_id).await?;
        let policy = match self.config.client_metadata_documents {
            ClientMetadataDocuments::Off => {
                return Ok(stored.filter(|c| !c.is_from_metadata_document()));
            }
            ClientMetadataDocuments::On => fetch_policy(false),
            ClientMetadataDocuments::OnIncludingLoopback => fetch_policy(true),
        };
        let now = self.clock.now();
        match &stored {
            // An administrator's `client disable` stands, unfetched.
            Some(c) if c.disabled => return Ok(stored),
            Some(c) if !c.is_from_metadata_document() => return Ok(stored),
            _ => {}
        }
        let Some(url) = document_url(client_id).map_err(ClientUnavailable::Document)? else {
            return Ok(None);
        };
        // The host lists hold for a document kept too: a deployment that
        // names a host refused takes effect at once.
        let host = url.host_str().unwrap_or_default();
        let config = &self.config;
        let unlisted = config
            .client_metadata_document_hosts
            .as_ref()
            .is_some_and(|hosts| !hosts.matches(host));
        let denied = config
            .client_metadata_document_denied_hosts
            .as_ref()
            .is_some_and(|hosts| hosts.matches(host));
        if unlisted || denied {
            return Err(ClientUnavailable::Document(format!(
                "{url}: its host is not one this service takes documents from"
            )));
        }
        if let Some(Client {
            registration: Registration::MetadataDocument { fresh_until, .. },
            ..
        }) = &stored
        {
            if *fresh_until > now {
                return Ok(stored);
            }
        }
        if let Some(why) = self.failed_documents.recent(url.as_str(), now) {
            tracing::info!(client_id = %url, "a metadata document that failed lately was not fetched again");
            return Err(ClientUnavailable::Document(why));
        }
        let created_at = stored.as_ref().map_or(now, |c| c.created_at);
        let client = match fetch(&url, &policy).await {
            Err(FetchRefused(why)) => Err(format!("{url} {why}")),
            Ok(fetched) => {
                let registration = Registration::MetadataDocument {
                    fresh_until: now + freshness(fetched.max_age),
                    expires_at: now + self.config.registered_client_expire_seconds,
                };
                client_from_document(
                    &url,
                    &fetched.body,
                    &self.config.registration_scopes,
                    created_at,
                    registration,
                )
                .map_err(|why| format!("{url}: {why}"))
            }
        };
        let client = client.map_err(|why| {
            self.failed_documents.remember(url.as_str(), &why, now);
            ClientUnavailable::Document(why)
        })?;
        if self.store.put_metadata_document_client(&client).await? {
            tracing::info!(client_id = %client.client_id, "a client's metadata document was fetched");
            Ok(Some(client))
        } else {
            // Meanwhile an administrator made or disabled the client: theirs stands.
            Ok(self
                .store
                .get_client(client_id)
                .await?
                .filter(|c| c.disabled || !c.is_from_metadata_document()))
        }
    }
}

/// The limits of a metadata document's fetch.
fn fetch_policy(allow_loopback: bool) -> FetchPolicy {
    FetchPolicy {
        max_bytes: MAX_DOCUMENT_BYTES,
        timeout: FETCH_TIMEOUT,
        allow_loopback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::parse_scope;

    #[test]
    fn only_a_plain_https_url_with_a_path_names_a_document() {
        for id in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/client-metadata?v=2",
        ] {
            assert!(matches!(document_url(id), Ok(Some(_))), "{id}");
        }
        for id in ["abcDEF123", "http://app.example.com/client.json", "httpsfoo"] {
            assert_eq!(document_url(id), Ok(None), "{id}");
        }
        for id in [
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/client.json#x",
            "https://user:pw@app.example.com/client.json",
            "https://APP.example.com/client.json",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/a/%2e%2E/client.json",
            "https://app.example.com/./client.json",
            "https://app.example.com:443/client.json",
            "HTTPS://app.example.com/client.json",
        ] {
            assert!(document_url(id).is_err(), "{id}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_DOCUMENT_URL_BYTES));
        assert!(document_url(&long).is_err());
    }

    #[test]
    fn failed_documents_are_remembered_for_a_while_and_within_bounds() {
        let failed = FailedDocuments::default();
        failed.remember("https://a.example/c.json", "it has no client_id", 100);
        assert_eq!(
            failed.recent(
                "https://a.example/c.json",
                100 + FAILED_DOCUMENT_RETRY_SECONDS - 1
            ),
            Some("it has no client_id".to_owned())
        );
        assert_eq!(
            failed.recent("https://a.example/c.json", 100 + FAILED_DOCUMENT_RETRY_SECONDS),
            None
        );
        assert_eq!(failed.recent("https://b.example/c.json", 100), None);

        // Full: the failures past their wait go first...
        let failed = FailedDocuments::default();
        for i in 0..MAX_FAILED_DOCUMENTS {
            failed.remember(&format!("https://{i}.example/c.json"), "x", 1000);
        }
        failed.remember(
            "https://new.example/c.json",
            "x",
            1000 + FAILED_DOCUMENT_RETRY_SECONDS,
        );
        assert_eq!(failed.0.lock().unwrap().len(), 1);
        // ...then the one nearest its end.
        let failed = FailedDocuments::default();
        failed.remember("https://early.example/c.json", "x", 1990);
        for i in 1..MAX_FAILED_DOCUMENTS {
            failed.remember(&format!("https://{i}.example/c.json"), "x", 2000);
        }
        failed.remember("https://new.example/c.json", "x", 2000);
        assert_eq!(failed.0.lock().unwrap().len(), MAX_FAILED_DOCUMENTS);
        assert_eq!(failed.recent("https://early.example/c.json", 2000), None);
        assert!(failed.recent("https://1.example/c.json", 2000).is_some());
        assert!(failed.recent("https://new.example/c.json", 2000).is_some());
    }

    #[test]
    fn caching_headers_are_followed_within_bounds() {
        assert_eq!(freshness(None), DEFAULT_FRESH_SECONDS);
        assert_eq!(freshness(Some(0)), MIN_FRESH_SECONDS);
        assert_eq!(freshness(Some(600)), 600);
        assert_eq!(freshness(Some(10 * 86_400)), MAX_FRESH_SECONDS);
    }

    #[test]
    fn a_document_is_its_url_s_public_client_or_nothing() {
        let url = Url::parse("https://app.example.com/client.json").unwrap();
        let registrable = parse_scope("read write").unwrap();
        let registration = Registration::MetadataDocument {
            fresh_until: 10,
            expires_at: 20,
        };
        let read =
            |body: &str| client_from_document(&url, body.as_bytes(), &registrable, 1, registration.clone());
        let client = read(
            r#"{"client_id": "https://app.example.com/client.json", "client_name": "App",
                "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1/cb"],
                "scope": "read offline_access", "logo_uri": "https://app.example.com/logo.png"}"#,
        )
        .unwrap();
        assert_eq!(client.client_id, url.as_str());
        assert_eq!(client.name, "App");
        assert!(client.is_public());
        assert_eq!(crate::scope::format_scope(&client.scopes), "read");
        assert_eq!(client.redirect_uris.len(), 2);
        assert_eq!(client.registration, registration);
        let unnamed = read(
            r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["https://app.example.com/cb"]}"#,
        );
        assert_eq!(unnamed.unwrap().name, "app.example.com");
        for (body, why) in [
            (
                r#"{"client_id": "https://app.example.com/other.json", "redirect_uris": ["https://a.example/cb"]}"#,
                "not the URL",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json/", "redirect_uris": ["https://a.example/cb"]}"#,
                "not the URL",
            ),
            (r#"{"redirect_uris": ["https://a.example/cb"]}"#, "no client_id"),
            (
                r#"{"client_id": "https://app.example.com/client.json", "client_secret": "s", "redirect_uris": ["https://a.example/cb"]}"#,
                "client_secret",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["javascript:alert(1)"]}"#,
                "",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["http://app.example.com/cb"]}"#,
                "",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": []}"#,
                "redirect_uris",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}"#,
                "public",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}"#,
                "grant_types",
            ),
            (
                r#"{"client_id": "https://app.example.com/client.json", "redirect_uris": ["https://a.example/cb"], "scope": "admin"}"#,
                "no scope",
            ),
            ("[1, 2]", "JSON object"),
            ("not json", "JSON object"),
        ] {
            let refused = read(body).unwrap_err();
            assert!(refused.contains(why), "{body}: {refused}");
        }
    }
}
