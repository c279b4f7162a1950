//! Users, applications and live tokens from the JSON of django-oauth-toolkit's
//! `manage.py dumpdata oauth2_provider auth.user` (`oauthctl import-dot FILE`).
//!
//! Users keep their Django password hashes, names and e-mail addresses, and
//! DOT's OpenID Connect `sub` (their primary key); applications keep their
//! `client_id` and hashed secret (checked the slow way once, then re-stored
//! as SHA-256); unexpired access tokens and unrevoked refresh tokens keep
//! their `token_checksum`, so the tokens in users' hands stay valid. Every
//! item is written only if absent: running it again imports nothing twice.

use std::collections::{BTreeSet, HashMap};

use crate::model::{
    Client, ClientAuth, Family, GrantType, Registration, Token, TokenKind, User, UserProfile,
    MAX_SUBJECT_BYTES,
};
use crate::redirect_uri::RedirectUri;
use crate::scope::{parse_scope, ScopeSet};
use crate::secret::{generate_id, sha256_hex};
use crate::store::{AdminStore, StoreError};
use serde_json::{json, Value};

/// What was imported and what was not, and why.
#[derive(Default)]
struct Report {
    imported: HashMap<&'static str, u64>,
    skipped: Vec<Value>,
    notes: Vec<Value>,
}

impl Report {
    fn count(&mut self, kind: &'static str) {
        *self.imported.entry(kind).or_default() += 1;
    }

    fn skip(&mut self, model: &str, pk: &Value, reason: impl Into<String>) {
        self.skipped
            .push(json!({ "model": model, "pk": pk, "reason": reason.into() }));
    }

    /// Counts a write, or records why it did not happen.
    fn outcome(
        &mut self,
        kind: &'static str,
        model: &str,
        pk: &Value,
        result: Result<(), StoreError>,
    ) -> Result<(), String> {
        match result {
            Ok(()) => {
                self.count(kind);
                Ok(())
            }
            Err(StoreError::AlreadyExists) => {
                self.skip(model, pk, "already imported");
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The `sub` DOT gave a user of primary key `pk` (`str(user.pk)`), if it
/// can be an OpenID Connect subject.
fn dot_subject(pk: &Value) -> Option<String> {
    let subject = match pk {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let usable = !subject.is_empty()
        && subject.len() <= MAX_SUBJECT_BYTES
        && subject.bytes().all(|b| b.is_ascii_graphic());
    usable.then_some(subject)
}

fn text<'a>(fields: &'a Value, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

/// Epoch seconds of a Django datetime (`2026-11-27T23:07:07.400Z`).
fn epoch(value: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339(value).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// What an import needs besides the dump.
pub struct ImportOptions {
    /// Scopes every imported application may have, besides its tokens'.
    pub extra_scopes: ScopeSet,
    /// Lifetime given to imported refresh tokens (DOT's do not expire).
    pub refresh_lifetime: u64,
    /// How long an imported self-registered client (RFC 7591, or a metadata
    /// document) lives unused here (`REGISTERED_CLIENT_EXPIRE_SECONDS`).
    pub registered_client_lifetime: u64,
    /// DOT's `DCR_REGISTRATION_SCOPE`: the scope of the registration access
    /// tokens DOT issued, which stay those clients' registration tokens.
    pub registration_scope: String,
}

/// DOT's default `DCR_REGISTRATION_SCOPE`.
pub const DOT_REGISTRATION_SCOPE: &str = "oauth2_provider:registration";

/// The models a dump may hold that are never imported, and why.
const NOT_CARRIED: [(&str, &str); 3] = [
    (
        "oauth2_provider.grant",
        "authorization codes in flight are not carried: they live a minute; their users sign in again",
    ),
    (
        "oauth2_provider.devicegrant",
        "device authorizations in flight are not carried: they live minutes; their devices start again",
    ),
    (
        "oauth2_provider.idtoken",
        "ID tokens need nothing here: they verify against DOT's keys once `oauthctl keys import-dot` published them",
    ),
];

/// The resources (RFC 8707) a DOT 3.4 token or grant was issued for: its
/// `resource`, a JSON array of URIs (or, as some databases hand a JSON
/// field to dumpdata, that array as text); none for older DOTs.
fn dot_audience(fields: &Value) -> Result<crate::resource::Audience, String> {
    let parsed;
    let list = match fields.get("resource") {
        None | Some(Value::Null) => return Ok(Default::default()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Default::default()),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone()));
            &parsed
        }
        Some(value) => value,
    };
    let uris: Vec<&Value> = match list {
        Value::Array(items) => items.iter().collect(),
        single @ Value::String(_) => vec![single],
        _ => return Err("its resource is not a list of URIs".into()),
    };
    let mut audience = crate::resource::Audience::default();
    for uri in uris {
        let uri = uri.as_str().ok_or("its resource is not a list of URIs")?;
        let canonical =
            crate::resource::canonical(uri).map_err(|why| format!("its resource {uri:?} {why}"))?;
        audience.insert(canonical);
    }
    Ok(audience)
}

/// Imports `dump`; the report as JSON.
pub async fn import(
    store: &impl AdminStore,
    dump: &Value,
    options: &ImportOptions,
    now: u64,
) -> Result<Value, String> {
    let (extra_scopes, refresh_lifetime) = (&options.extra_scopes, options.refresh_lifetime);
    let objects = dump
        .as_array()
        .ok_or("the file is not a JSON array of Django objects (dumpdata output)")?;
    let of = |model: &'static str| {
        objects
            .iter()
            .filter(move |o| o.get("model").and_then(Value::as_str) == Some(model))
    };
    let mut report = Report::default();
    for (model, why) in NOT_CARRIED {
        let count = of(model).count();
        if count > 0 {
            report
                .notes
                .push(json!({ "model": model, "count": count, "note": why }));
        }
    }

    // Users, by primary key for the tokens below, and the grants key each
    // user's imported grants carry.
    let mut usernames: HashMap<String, String> = HashMap::new();
    let mut grants_keys: HashMap<String, String> = HashMap::new();
    for object in of("auth.user") {
        let (pk, fields) = (&object["pk"], &object["fields"]);
        let (Some(username), Some(password)) = (text(fields, "username"), text(fields, "password")) else {
            report.skip("auth.user", pk, "no username or password field");
            continue;
        };
        if let Err(why) = super::check_username(username) {
            report.skip("auth.user", pk, why.to_string());
            continue;
        }
        usernames.insert(pk.to_string(), username.to_owned());
        let created_at = text(fields, "date_joined").and_then(epoch).unwrap_or(now);
        let mut user = User::new(username, password.to_owned(), created_at).map_err(|e| e.to_string())?;
        user.disabled = fields.get("is_active") == Some(&Value::Bool(false));
        // DOT's `sub` is `str(user.pk)`: relying parties keep their links.
        match dot_subject(pk) {
            Some(subject) => user.subject = subject,
            None => report.notes.push(json!({
                "username": username,
                "note": format!("DOT's subject {pk} is not a usable sub: given a new one"),
            })),
        }
        let profile = UserProfile {
            first_name: text(fields, "first_name").unwrap_or_default().to_owned(),
            last_name: text(fields, "last_name").unwrap_or_default().to_owned(),
            email: text(fields, "email").unwrap_or_default().to_owned(),
            email_verified: false,
        };
        match super::check_profile(&profile) {
            Ok(()) => user.profile = profile,
            Err(why) => report.notes.push(json!({
                "username": username,
                "note": format!("name and e-mail address left out: {why}"),
            })),
        }
        let result = store.create_user(&user).await;
        // Imported before: its grants carry the stored user's key.
        let grants_key = match result {
            Err(StoreError::AlreadyExists) => store
                .get_user(username)
                .await
                .map_err(|e| e.to_string())?
                .map(|stored| stored.grants_key)
                .unwrap_or_default(),
            _ => user.grants_key.clone(),
        };
        grants_keys.insert(username.to_owned(), grants_key);
        report.outcome("users", "auth.user", pk, result)?;
    }

    // Scopes each application's tokens carry: it must be allowed them.
    let mut token_scopes: HashMap<String, ScopeSet> = HashMap::new();
    for model in ["oauth2_provider.accesstoken", "oauth2_provider.refreshtoken"] {
        for object in of(model) {
            let fields = &object["fields"];
            let scope = parse_scope(text(fields, "scope").unwrap_or("")).unwrap_or_default();
            token_scopes
                .entry(fields["application"].to_string())
                .or_default()
                .extend(scope);
        }
    }

    // DOT's RFC 7591 registration access tokens (access tokens of the
    // registration scope), by application: the registration tokens of
    // their clients here, never access tokens.
    let mut registration_tokens: HashMap<String, String> = HashMap::new();
    let registration_scope = parse_scope(&options.registration_scope).unwrap_or_default();
    let is_registration_token = |fields: &Value| {
        !registration_scope.is_empty()
            && parse_scope(text(fields, "scope").unwrap_or("")).ok().as_ref() == Some(&registration_scope)
    };
    for object in of("oauth2_provider.accesstoken") {
        let fields = &object["fields"];
        if !is_registration_token(fields) {
            continue;
        }
        let live = text(fields, "expires").and_then(epoch).is_some_and(|e| e > now);
        let checksum = match (text(fields, "token_checksum"), text(fields, "token")) {
            (Some(checksum), _) if checksum.len() == 64 => Some(checksum.to_ascii_lowercase()),
            (_, Some(token)) if !token.is_empty() => Some(sha256_hex(token)),
            _ => None,
        };
        if let (true, Some(checksum)) = (live, checksum) {
            // DOT rotates it on update: the newest (highest pk) is the one in use.
            registration_tokens.insert(fields["application"].to_string(), checksum);
        }
    }

    // Applications, by primary key.
    let mut clients: HashMap<String, String> = HashMap::new();
    for object in of("oauth2_provider.application") {
        let (pk, fields) = (&object["pk"], &object["fields"]);
        let Some(client_id) = text(fields, "client_id") else {
            report.skip("oauth2_provider.application", pk, "no client_id");
            continue;
        };
        let grant = text(fields, "authorization_grant_type").unwrap_or("");
        let public = text(fields, "client_type") == Some("public");
        let grant_types: BTreeSet<GrantType> = match grant {
            "authorization-code" => [GrantType::AuthorizationCode].into(),
            // DOT 3.2's device grant, open to public clients there as here.
            "urn:ietf:params:oauth:grant-type:device_code" => [GrantType::DeviceCode].into(),
            "client-credentials" if !public => [GrantType::ClientCredentials].into(),
            "password" if !public => [GrantType::Password].into(),
            // Not served here, but its tokens are, and its refresh tokens may be redeemed.
            _ => {
                let why = if public {
                    format!("grant {grant:?} is not open to a public client here (the authorization code grant with PKCE is); its tokens stay active")
                } else {
                    format!("grant {grant:?} is not served here; its tokens and refresh tokens are")
                };
                report.notes.push(json!({ "client_id": client_id, "note": why }));
                [GrantType::RefreshToken].into()
            }
        };
        // DOT's redirect_uris are space-separated; those this server would
        // refuse to register are left out, and said.
        let mut redirect_uris = Vec::new();
        if grant_types.contains(&GrantType::AuthorizationCode) {
            for uri in text(fields, "redirect_uris").unwrap_or("").split_whitespace() {
                match RedirectUri::parse(uri) {
                    Ok(uri) => redirect_uris.push(uri),
                    Err(why) => report.notes.push(
                        json!({ "client_id": client_id, "note": format!("redirect URI left out: {why}") }),
                    ),
                }
            }
        }
        // DOT 3.4's allowed_origins and post_logout_redirect_uris, space-separated
        // as well; what this server would refuse is left out, and said.
        let mut allowed_origins = Vec::new();
        for origin in text(fields, "allowed_origins").unwrap_or("").split_whitespace() {
            match crate::origin::Origin::parse(origin) {
                Ok(origin) => allowed_origins.push(origin),
                Err(why) => report.notes.push(
                    json!({ "client_id": client_id, "note": format!("allowed origin {origin:?} left out: {why}") }),
                ),
            }
        }
        let mut post_logout_redirect_uris = Vec::new();
        for uri in text(fields, "post_logout_redirect_uris")
            .unwrap_or("")
            .split_whitespace()
        {
            match RedirectUri::parse(uri) {
                Ok(uri) => post_logout_redirect_uris.push(uri),
                Err(why) => report.notes.push(
                    json!({ "client_id": client_id, "note": format!("post-logout redirect URI left out: {why}") }),
                ),
            }
        }
        let secret = text(fields, "client_secret").unwrap_or("");
        let auth = if public {
            // No secret: PKCE is a public client's proof.
            ClientAuth::Public
        } else if crate::password::is_password_hash(secret) {
            ClientAuth::Confidential {
                secret_hash: secret.to_owned(),
            }
        } else if secret.is_empty() {
            report.skip(
                "oauth2_provider.application",
                pk,
                "a confidential client without a secret",
            );
            continue;
        } else {
            // DOT with hash_client_secret=False stores the secret itself.
            ClientAuth::Confidential {
                secret_hash: sha256_hex(secret),
            }
        };
        let mut scopes = extra_scopes.clone();
        scopes.extend(token_scopes.get(&pk.to_string()).cloned().unwrap_or_default());
        scopes.retain(|s| !registration_scope.contains(s));
        let registered_until = now + options.registered_client_lifetime;
        let registration = match text(fields, "registration_source") {
            Some("dcr") => match (&auth, registration_tokens.get(&pk.to_string())) {
                (ClientAuth::Public, Some(token_hash)) => Registration::Dynamic {
                    access_token_hash: token_hash.clone(),
                    expires_at: registered_until,
                },
                (ClientAuth::Public, None) => {
                    report.notes.push(json!({ "client_id": client_id, "note": "registered by RFC 7591 at DOT, without a live registration access token: an administrator's client here" }));
                    Registration::Administered
                }
                (ClientAuth::Confidential { .. }, _) => {
                    report.notes.push(json!({ "client_id": client_id, "note": "registered by RFC 7591 at DOT as a confidential client, which registration here does not make: an administrator's client here (RFC 7592 management not carried)" }));
                    Registration::Administered
                }
            },
            Some("cimd") => {
                report.notes.push(json!({ "client_id": client_id, "note": "known by its metadata document: fetched afresh at its first use here, with CLIENT_METADATA_DOCUMENTS=on (off, it is an unknown client)" }));
                Registration::MetadataDocument {
                    fresh_until: 0,
                    expires_at: registered_until,
                }
            }
            _ => Registration::Administered,
        };
        if text(fields, "algorithm") == Some("HS256") {
            report.notes.push(json!({ "client_id": client_id, "note": "its ID tokens were HS256 (signed with its secret) at DOT; here every ID token is RS256, verified against the JWKS" }));
        }
        let client = Client {
            client_id: client_id.to_owned(),
            name: text(fields, "name")
                .filter(|n| !n.is_empty())
                .unwrap_or(client_id)
                .to_owned(),
            auth,
            grant_types,
            scopes,
            default_scopes: ScopeSet::new(),
            token_lifetime: None,
            disabled: false,
            created_at: text(fields, "created").and_then(epoch).unwrap_or(now),
            redirect_uris,
            skip_consent: fields
                .get("skip_authorization")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            allowed_origins,
            post_logout_redirect_uris,
            // DOT has no JWT access tokens.
            access_token_format: crate::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
            registration,
        };
        clients.insert(pk.to_string(), client_id.to_owned());
        let result = store.create_client(&client).await;
        report.outcome("clients", "oauth2_provider.application", pk, result)?;
    }

    // Access tokens, by primary key: live ones only.
    let mut access_tokens: HashMap<String, Token> = HashMap::new();
    for object in of("oauth2_provider.accesstoken") {
        let (pk, fields) = (&object["pk"], &object["fields"]);
        if is_registration_token(fields) {
            report.skip(
                "oauth2_provider.accesstoken",
                pk,
                "a registration access token (RFC 7591): its client's registration token here",
            );
            continue;
        }
        let Some(client_id) = clients.get(&fields["application"].to_string()) else {
            report.skip("oauth2_provider.accesstoken", pk, "no imported application");
            continue;
        };
        let Some(expires_at) = text(fields, "expires").and_then(epoch) else {
            report.skip("oauth2_provider.accesstoken", pk, "unreadable expiry");
            continue;
        };
        if expires_at <= now {
            report.skip("oauth2_provider.accesstoken", pk, "expired");
            continue;
        }
        let Some(mut token) = token_record(fields, client_id, &usernames, TokenKind::Access, expires_at, now)
        else {
            report.skip(
                "oauth2_provider.accesstoken",
                pk,
                "no token or checksum, or an unknown user",
            );
            continue;
        };
        match dot_audience(fields) {
            Ok(audience) => token.audience = audience,
            Err(why) => {
                report.skip("oauth2_provider.accesstoken", pk, why);
                continue;
            }
        }
        access_tokens.insert(pk.to_string(), token);
    }

    // A DOT refresh token has no scope of its own: a refresh grants its access
    // token's (DOT's get_original_scopes), the one it was issued with, or else
    // the one it issued, expired or not.
    // So with the resources it was for (DOT 3.4's RFC 8707).
    let mut grant_scopes: HashMap<String, (ScopeSet, crate::resource::Audience)> = HashMap::new();
    for object in of("oauth2_provider.accesstoken") {
        let fields = &object["fields"];
        let scope = parse_scope(text(fields, "scope").unwrap_or("")).unwrap_or_default();
        let grant = (scope, dot_audience(fields).unwrap_or_default());
        grant_scopes.insert(format!("access {}", object["pk"]), grant.clone());
        if !fields["source_refresh_token"].is_null() {
            grant_scopes.insert(format!("source {}", fields["source_refresh_token"]), grant);
        }
    }

    // Refresh tokens: each live one, with its access token, becomes a family.
    for object in of("oauth2_provider.refreshtoken") {
        let (pk, fields) = (&object["pk"], &object["fields"]);
        if !fields["revoked"].is_null() {
            report.skip("oauth2_provider.refreshtoken", pk, "revoked");
            continue;
        }
        let Some(client_id) = clients.get(&fields["application"].to_string()) else {
            report.skip("oauth2_provider.refreshtoken", pk, "no imported application");
            continue;
        };
        let expires_at = now + refresh_lifetime;
        let Some(mut refresh) =
            token_record(fields, client_id, &usernames, TokenKind::Refresh, expires_at, now)
        else {
            report.skip(
                "oauth2_provider.refreshtoken",
                pk,
                "no token or checksum, or an unknown user",
            );
            continue;
        };
        let Some(username) = refresh.username.clone() else {
            report.skip("oauth2_provider.refreshtoken", pk, "no user");
            continue;
        };
        let family_id = match text(fields, "token_family") {
            Some(family) => family.replace('-', ""),
            None => generate_id().map_err(|e| e.to_string())?,
        };
        refresh.family_id = Some(family_id.clone());
        (refresh.scope, refresh.audience) = grant_scopes
            .get(&format!("access {}", fields["access_token"]))
            .or_else(|| grant_scopes.get(&format!("source {pk}")))
            .cloned()
            .unwrap_or_default();
        let family = Family {
            family_id: family_id.clone(),
            client_id: client_id.clone(),
            user_grants_key: grants_keys.get(&username).cloned().unwrap_or_default(),
            username,
            revoked: false,
            expires_at,
            successor: None,
        };
        let mut tokens = vec![refresh];
        if let Some(mut access) = access_tokens.remove(&fields["access_token"].to_string()) {
            access.family_id = Some(family_id);
            tokens[0].access_hash = Some(access.token_hash.clone());
            tokens.push(access);
        }
        let result = store.put_grant(&family, &tokens).await;
        if result.is_ok() && tokens.len() == 2 {
            report.count("access_tokens");
        }
        report.outcome("refresh_tokens", "oauth2_provider.refreshtoken", pk, result)?;
    }

    // The access tokens no refresh token took along; a user's is a grant of
    // its own, so it ends with the user's other grants.
    for (pk, mut token) in access_tokens {
        let result = match token.username.clone() {
            Some(username) => {
                let family = Family {
                    family_id: generate_id().map_err(|e| e.to_string())?,
                    client_id: token.client_id.clone(),
                    user_grants_key: grants_keys.get(&username).cloned().unwrap_or_default(),
                    username,
                    revoked: false,
                    expires_at: token.expires_at,
                    successor: None,
                };
                token.family_id = Some(family.family_id.clone());
                store.put_grant(&family, &[token]).await
            }
            None => store.put_token(&token).await,
        };
        report.outcome(
            "access_tokens",
            "oauth2_provider.accesstoken",
            &Value::String(pk),
            result,
        )?;
    }

    let imported: serde_json::Map<String, Value> = report
        .imported
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    Ok(json!({ "imported": imported, "skipped": report.skipped, "notes": report.notes }))
}

fn token_record(
    fields: &Value,
    client_id: &str,
    usernames: &HashMap<String, String>,
    kind: TokenKind,
    expires_at: u64,
    now: u64,
) -> Option<Token> {
    let token_hash = match (text(fields, "token_checksum"), text(fields, "token")) {
        (Some(checksum), _) if checksum.len() == 64 => checksum.to_ascii_lowercase(),
        (_, Some(token)) if !token.is_empty() => sha256_hex(token),
        _ => return None,
    };
    let username = match &fields["user"] {
        Value::Null => None,
        pk => Some(usernames.get(&pk.to_string())?.clone()),
    };
    Some(Token {
        token_hash,
        client_id: client_id.to_owned(),
        scope: parse_scope(text(fields, "scope").unwrap_or("")).ok()?,
        issued_at: text(fields, "created").and_then(epoch).unwrap_or(now),
        expires_at,
        username,
        kind,
        family_id: None,
        rotated_at: None,
        access_hash: None,
        // Set by the caller from DOT 3.4's `resource`.
        audience: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::store::Store;

    fn options() -> ImportOptions {
        ImportOptions {
            extra_scopes: ScopeSet::default(),
            refresh_lifetime: 3600,
            registered_client_lifetime: 86_400,
            registration_scope: DOT_REGISTRATION_SCOPE.into(),
        }
    }

    fn user(pk: Value, email: &str) -> Value {
        json!({
            "model": "auth.user",
            "pk": pk,
            "fields": {
                "username": format!("u{}", pk.to_string().len()),
                "password": "pbkdf2_sha256$1$salt$hash",
                "first_name": "Ada", "last_name": "Lovelace", "email": email,
            },
        })
    }

    #[tokio::test]
    async fn users_keep_dots_sub_and_profile_unless_unusable() {
        let store = MemoryStore::new(Arc::new(ManualClock::new()));
        let dump = json!([
            user(json!(42), "ada@example.com"),
            user(json!("a uuid with spaces"), "not-an-address"),
        ]);
        let report = import(&store, &dump, &options(), 1_000).await.unwrap();
        assert_eq!(report["imported"]["users"], 2, "{report}");

        let kept = store.get_user("u2").await.unwrap().unwrap();
        assert_eq!(
            (
                kept.subject.as_str(),
                kept.profile.email.as_str(),
                kept.profile.first_name.as_str()
            ),
            ("42", "ada@example.com", "Ada")
        );
        let renamed = store.get_user("u20").await.unwrap().unwrap();
        assert_ne!(renamed.subject, "a uuid with spaces");
        assert_eq!(renamed.profile, UserProfile::default());
        let notes = report["notes"].to_string();
        assert!(
            notes.contains("is not a usable sub") && notes.contains("email: is not an e-mail address"),
            "{notes}"
        );
    }
}
