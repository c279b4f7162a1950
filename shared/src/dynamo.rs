//! [`Store`] and [`AdminStore`] on one DynamoDB table.
//!
//! Layout (`docs/storage.md` has every item kind): one string partition key,
//! `pk`, of the form `<kind>#<id>` ([`Key::partition_key`]); the TTL
//! attribute `expires_at` (epoch seconds) on every item that expires, which
//! every read also honours, since TTL deletes days late. Scope, grant and
//! redirect URI lists are space-delimited strings, as in django-oauth-toolkit.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, KeysAndAttributes,
    Put, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
pub use aws_sdk_dynamodb::Client as DynamoClient;

use crate::clock::SharedClock;
use crate::model::{
    AuthorizationCode, Client, ClientAuth, CodeDelivery, Consent, DeviceAuthorization, DeviceStatus, Family,
    GrantType, Registration, Session, Token, TokenKind, User, UserCode, NEVER,
};
use crate::origin::Origin;
use crate::redirect_uri::RedirectUri;
use crate::resource::Audience;
use crate::scope::{format_scope, parse_scope};
use crate::secret::generate_id;
use crate::store::{
    new_refresh_hash, AdminStore, Attempt, AttemptsOf, ClientChange, Item, Key, Poll, Redemption, Revocation,
    Rotation, Store, StoreError, UserChange, SLOW_DOWN_SECONDS,
};

/// The partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The TTL attribute, epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Attributes = HashMap<String, AttributeValue>;

/// DynamoDB implementation of [`Store`].
#[derive(Clone)]
pub struct DynamoStore {
    client: DynamoClient,
    table: String,
    clock: SharedClock,
}

impl DynamoStore {
    /// A store on `table`, judging expiry by `clock`.
    pub fn new(client: DynamoClient, table: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    /// Creates the table as `template.yaml` defines it: `pk` string hash key,
    /// on-demand billing, TTL on `expires_at`. For local use and tests; deployed
    /// stacks get their table from the template.
    pub async fn create_table(client: &DynamoClient, table: &str) -> Result<(), StoreError> {
        client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(PARTITION_KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(PARTITION_KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build_error)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception())
                {
                    StoreError::AlreadyExists
                } else {
                    unavailable(e)
                }
            })?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn key_attributes(key: &Key) -> Attributes {
        HashMap::from([(PARTITION_KEY.to_owned(), AttributeValue::S(key.partition_key()))])
    }

    /// Decodes an item; expired or malformed items read as absent.
    fn decode(&self, key: &Key, item: &Attributes) -> Option<Item> {
        let decoded = match key {
            Key::Client(_) => decode_client(item).map(Item::Client),
            Key::Token(hash) => decode_token(hash, item).map(Item::Token),
            Key::User(_) => decode_user(item).map(Item::User),
            Key::Family(id) => decode_family(id, item).map(Item::Family),
            Key::Code(hash) => decode_code(hash, item).map(Item::Code),
            Key::Session(hash) => decode_session(hash, item).map(Item::Session),
            Key::Consent { username, client_id } => {
                decode_consent(username, client_id, item).map(Item::Consent)
            }
            Key::SignInAttempts(_) => decode_sign_in_attempts(item).map(Item::SignInAttempts),
            Key::SigningKeys => decode_signing_keys(item).map(Item::SigningKeys),
            Key::Device(hash) => decode_device(hash, item).map(Item::Device),
            Key::UserCode(hash) => decode_user_code(hash, item).map(Item::UserCode),
        };
        if decoded.is_none() {
            tracing::error!(
                kind = key.kind(),
                "stored item is malformed; treating it as absent"
            );
        }
        let now = self.clock.now();
        match decoded {
            Some(Item::Token(t)) if t.expires_at <= now => None,
            Some(Item::Family(f)) if f.expires_at <= now => None,
            Some(Item::Code(c)) if c.expires_at <= now => None,
            Some(Item::Session(x)) if x.expires_at <= now => None,
            Some(Item::SignInAttempts(a)) if a.expires_at <= now => None,
            Some(Item::Device(d)) if d.expires_at <= now => None,
            Some(Item::UserCode(u)) if u.expires_at <= now => None,
            Some(Item::Client(c)) if !c.is_live(now) => None,
            Some(Item::SigningKeys(keys)) => Some(Item::SigningKeys(keys.published_only(now))),
            other => other,
        }
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// Whether step `index` of a cancelled transaction failed its condition.
fn failed_condition<R>(e: &SdkError<TransactWriteItemsError, R>, index: usize) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
        }
        _ => false,
    }
}

/// Whether a write failed only because its condition did not hold.
fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

fn s(item: &Attributes, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn n(item: &Attributes, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn num(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn decode_client(item: &Attributes) -> Option<Client> {
    let grant_types = s(item, "grant_types")?
        .split(' ')
        .filter(|g| !g.is_empty())
        // A grant this build does not implement is ignored, not fatal.
        .filter_map(GrantType::parse)
        .collect();
    let client_id = s(item, "client_id")?;
    let auth = if flag(item, "public") {
        ClientAuth::Public
    } else {
        ClientAuth::Confidential {
            secret_hash: s(item, "secret_hash").filter(|h| !h.is_empty())?,
        }
    };
    // Stored space-separated, as grant types (a URI has no space). One that
    // no longer parses (stored before the rules tightened) is dropped: it
    // is never redirected to.
    let mut redirect_uris = Vec::new();
    let stored = item.get("redirect_uris").and_then(|v| v.as_s().ok());
    for uri in stored
        .into_iter()
        .flat_map(|uris| uris.split(' '))
        .filter(|u| !u.is_empty())
    {
        match RedirectUri::parse(uri) {
            Ok(uri) => redirect_uris.push(uri),
            Err(e) => {
                tracing::error!(client_id = %client_id, problem = %e, "a stored redirect URI is refused")
            }
        }
    }
    let allowed_origins = words(item, "allowed_origins")
        .filter_map(|origin| Origin::parse(origin).ok())
        .collect();
    let post_logout_redirect_uris = words(item, "post_logout_redirect_uris")
        .filter_map(|uri| RedirectUri::parse(uri).ok())
        .collect();
    let registration = match s(item, "registered_by").as_deref() {
        Some("dynamic") => Registration::Dynamic {
            access_token_hash: s(item, "registration_token_hash")?,
            expires_at: n(item, TTL_ATTRIBUTE)?,
        },
        Some("metadata_document") => Registration::MetadataDocument {
            fresh_until: n(item, "document_fresh_until")?,
            expires_at: n(item, TTL_ATTRIBUTE)?,
        },
        _ => Registration::Administered,
    };
    Some(Client {
        resources: words(item, "resources").map(str::to_owned).collect(),
        registration,
        allowed_origins,
        post_logout_redirect_uris,
        access_token_format: s(item, "access_token_format")
            .and_then(|f| crate::model::AccessTokenFormat::parse(&f))
            .unwrap_or_default(),
        client_id,
        name: s(item, "name")?,
        auth,
        grant_types,
        scopes: parse_scope(&s(item, "scope")?).ok()?,
        default_scopes: parse_scope(&s(item, "default_scope")?).ok()?,
        token_lifetime: n(item, "token_lifetime"),
        disabled: flag(item, "disabled"),
        created_at: n(item, "created_at").unwrap_or(0),
        redirect_uris,
        skip_consent: flag(item, "skip_consent"),
    })
}

/// The words of a space-separated attribute; none when absent.
fn words<'a>(item: &'a Attributes, name: &str) -> impl Iterator<Item = &'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .into_iter()
        .flat_map(|value| value.split(' '))
        .filter(|word| !word.is_empty())
}

/// A boolean attribute; absent is false.
fn flag(item: &Attributes, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

fn encode_client(client: &Client) -> Attributes {
    let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    let mut item = DynamoStore::key_attributes(&Key::Client(client.client_id.clone()));
    item.insert("kind".into(), AttributeValue::S("client".into()));
    item.insert("client_id".into(), AttributeValue::S(client.client_id.clone()));
    item.insert("name".into(), AttributeValue::S(client.name.clone()));
    if let ClientAuth::Confidential { secret_hash } = &client.auth {
        item.insert("secret_hash".into(), AttributeValue::S(secret_hash.clone()));
    }
    item.insert("grant_types".into(), AttributeValue::S(grants.join(" ")));
    item.insert("scope".into(), AttributeValue::S(format_scope(&client.scopes)));
    item.insert(
        "default_scope".into(),
        AttributeValue::S(format_scope(&client.default_scopes)),
    );
    if let Some(lifetime) = client.token_lifetime {
        item.insert("token_lifetime".into(), num(lifetime));
    }
    item.insert("disabled".into(), AttributeValue::Bool(client.disabled));
    item.insert("created_at".into(), num(client.created_at));
    if !client.redirect_uris.is_empty() {
        let uris: Vec<&str> = client.redirect_uris.iter().map(RedirectUri::as_str).collect();
        item.insert("redirect_uris".into(), AttributeValue::S(uris.join(" ")));
    }
    item.insert("public".into(), AttributeValue::Bool(client.is_public()));
    item.insert("skip_consent".into(), AttributeValue::Bool(client.skip_consent));
    if !client.allowed_origins.is_empty() {
        let origins: Vec<&str> = client.allowed_origins.iter().map(Origin::as_str).collect();
        item.insert("allowed_origins".into(), AttributeValue::S(origins.join(" ")));
    }
    if !client.resources.is_empty() {
        let ids: Vec<&str> = client.resources.iter().map(String::as_str).collect();
        item.insert("resources".into(), AttributeValue::S(ids.join(" ")));
    }
    if let Registration::Dynamic {
        access_token_hash,
        expires_at,
    } = &client.registration
    {
        item.insert("registered_by".into(), AttributeValue::S("dynamic".into()));
        item.insert(
            "registration_token_hash".into(),
            AttributeValue::S(access_token_hash.clone()),
        );
        item.insert(TTL_ATTRIBUTE.into(), num(*expires_at));
    }
    if let Registration::MetadataDocument {
        fresh_until,
        expires_at,
    } = &client.registration
    {
        item.insert(
            "registered_by".into(),
            AttributeValue::S("metadata_document".into()),
        );
        item.insert("document_fresh_until".into(), num(*fresh_until));
        item.insert(TTL_ATTRIBUTE.into(), num(*expires_at));
    }
    if !client.post_logout_redirect_uris.is_empty() {
        let uris: Vec<&str> = client
            .post_logout_redirect_uris
            .iter()
            .map(RedirectUri::as_str)
            .collect();
        item.insert(
            "post_logout_redirect_uris".into(),
            AttributeValue::S(uris.join(" ")),
        );
    }
    item.insert(
        "access_token_format".into(),
        AttributeValue::S(client.access_token_format.as_str().into()),
    );
    item
}

fn decode_user(item: &Attributes) -> Option<User> {
    Some(User {
        username: s(item, "username")?,
        password_hash: s(item, "password")?,
        disabled: item
            .get("disabled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        created_at: n(item, "created_at").unwrap_or(0),
        // Users stored before grants keys existed have none; their grants neither.
        grants_key: s(item, "grants_key").unwrap_or_default(),
        // Users stored before subjects existed get one derived from what
        // never changes about them: stable, and another for a user created
        // again under the same name (at another time).
        subject: s(item, "sub").unwrap_or_else(|| {
            let created_at = n(item, "created_at").unwrap_or(0);
            crate::secret::sha256_hex(&format!(
                "user#{}#{created_at}",
                s(item, "username").unwrap_or_default()
            ))[..24]
                .to_owned()
        }),
        profile: crate::model::UserProfile {
            first_name: s(item, "first_name").unwrap_or_default(),
            last_name: s(item, "last_name").unwrap_or_default(),
            email: s(item, "email").unwrap_or_default(),
            email_verified: flag(item, "email_verified"),
        },
    })
}

fn encode_user(user: &User) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::User(user.username.clone()));
    item.insert("kind".into(), AttributeValue::S("user".into()));
    item.insert("username".into(), AttributeValue::S(user.username.clone()));
    item.insert("password".into(), AttributeValue::S(user.password_hash.clone()));
    item.insert("disabled".into(), AttributeValue::Bool(user.disabled));
    item.insert("created_at".into(), num(user.created_at));
    item.insert("grants_key".into(), AttributeValue::S(user.grants_key.clone()));
    item.insert("sub".into(), AttributeValue::S(user.subject.clone()));
    for (name, value) in [
        ("first_name", &user.profile.first_name),
        ("last_name", &user.profile.last_name),
        ("email", &user.profile.email),
    ] {
        if !value.is_empty() {
            item.insert(name.into(), AttributeValue::S(value.clone()));
        }
    }
    item.insert(
        "email_verified".into(),
        AttributeValue::Bool(user.profile.email_verified),
    );
    item
}

fn decode_token(hash: &str, item: &Attributes) -> Option<Token> {
    Some(Token {
        token_hash: hash.to_owned(),
        client_id: s(item, "client_id")?,
        scope: parse_scope(&s(item, "scope")?).ok()?,
        issued_at: n(item, "issued_at")?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
        username: s(item, "username"),
        kind: match s(item, "kind").as_deref() {
            Some("refresh_token") => TokenKind::Refresh,
            _ => TokenKind::Access,
        },
        family_id: s(item, "family_id"),
        rotated_at: n(item, "rotated_at"),
        access_hash: s(item, "access_hash"),
        audience: words(item, "aud").map(str::to_owned).collect(),
    })
}

/// An audience as one attribute (identifiers hold no spaces), absent when empty.
fn put_audience(item: &mut Attributes, audience: &Audience) {
    if !audience.is_empty() {
        let ids: Vec<&str> = audience.iter().map(String::as_str).collect();
        item.insert("aud".into(), AttributeValue::S(ids.join(" ")));
    }
}

fn encode_token(token: &Token) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::Token(token.token_hash.clone()));
    let kind = match token.kind {
        TokenKind::Access => "access_token",
        TokenKind::Refresh => "refresh_token",
    };
    item.insert("kind".into(), AttributeValue::S(kind.into()));
    item.insert("client_id".into(), AttributeValue::S(token.client_id.clone()));
    item.insert("scope".into(), AttributeValue::S(format_scope(&token.scope)));
    item.insert("issued_at".into(), num(token.issued_at));
    item.insert(TTL_ATTRIBUTE.into(), num(token.expires_at));
    if let Some(username) = &token.username {
        item.insert("username".into(), AttributeValue::S(username.clone()));
    }
    if let Some(family_id) = &token.family_id {
        item.insert("family_id".into(), AttributeValue::S(family_id.clone()));
    }
    if let Some(rotated_at) = token.rotated_at {
        item.insert("rotated_at".into(), num(rotated_at));
    }
    if let Some(access_hash) = &token.access_hash {
        item.insert("access_hash".into(), AttributeValue::S(access_hash.clone()));
    }
    put_audience(&mut item, &token.audience);
    item
}

fn decode_code(hash: &str, item: &Attributes) -> Option<AuthorizationCode> {
    let delivery = match s(item, "delivered_to").as_deref() {
        Some("device") => CodeDelivery::Device,
        _ => CodeDelivery::Redirect {
            redirect_uri: s(item, "redirect_uri")?,
            // Codes stored before this attribute: the request named its URI.
            redirect_uri_sent: item
                .get("redirect_uri_sent")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(true),
            code_challenge: s(item, "code_challenge")?,
        },
    };
    Some(AuthorizationCode {
        code_hash: hash.to_owned(),
        client_id: s(item, "client_id")?,
        delivery,
        scope: parse_scope(&s(item, "scope")?).ok()?,
        audience: words(item, "aud").map(str::to_owned).collect(),
        username: s(item, "username")?,
        user_grants_key: s(item, "user_grants_key")?,
        family_id: s(item, "family_id")?,
        issued_at: n(item, "issued_at")?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
        redeemed_at: n(item, "redeemed_at"),
        nonce: s(item, "nonce"),
        auth_time: n(item, "auth_time").or_else(|| n(item, "issued_at"))?,
        sid: s(item, "sid").unwrap_or_default(),
    })
}

fn encode_code(code: &AuthorizationCode) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::Code(code.code_hash.clone()));
    item.insert("kind".into(), AttributeValue::S("code".into()));
    for (name, value) in [
        ("client_id", &code.client_id),
        ("username", &code.username),
        ("user_grants_key", &code.user_grants_key),
        ("family_id", &code.family_id),
    ] {
        item.insert(name.into(), AttributeValue::S(value.clone()));
    }
    match &code.delivery {
        CodeDelivery::Redirect {
            redirect_uri,
            redirect_uri_sent,
            code_challenge,
        } => {
            item.insert("redirect_uri".into(), AttributeValue::S(redirect_uri.clone()));
            item.insert(
                "redirect_uri_sent".into(),
                AttributeValue::Bool(*redirect_uri_sent),
            );
            item.insert("code_challenge".into(), AttributeValue::S(code_challenge.clone()));
        }
        CodeDelivery::Device => {
            item.insert("delivered_to".into(), AttributeValue::S("device".into()));
        }
    }
    item.insert("scope".into(), AttributeValue::S(format_scope(&code.scope)));
    item.insert("issued_at".into(), num(code.issued_at));
    item.insert(TTL_ATTRIBUTE.into(), num(code.expires_at));
    if let Some(nonce) = &code.nonce {
        item.insert("nonce".into(), AttributeValue::S(nonce.clone()));
    }
    item.insert("auth_time".into(), num(code.auth_time));
    item.insert("sid".into(), AttributeValue::S(code.sid.clone()));
    put_audience(&mut item, &code.audience);
    item
}

fn decode_device(hash: &str, item: &Attributes) -> Option<DeviceAuthorization> {
    Some(DeviceAuthorization {
        device_code_hash: hash.to_owned(),
        user_code_hash: s(item, "user_code_hash")?,
        client_id: s(item, "client_id")?,
        scope: parse_scope(&s(item, "scope")?).ok()?,
        audience: words(item, "aud").map(str::to_owned).collect(),
        status: DeviceStatus::parse(&s(item, "status")?)?,
        interval: n(item, "interval")?,
        next_poll_at: n(item, "next_poll_at")?,
        issued_at: n(item, "issued_at")?,
        usable_until: n(item, "usable_until")?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
    })
}

fn encode_device(device: &DeviceAuthorization) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::Device(device.device_code_hash.clone()));
    item.insert("kind".into(), AttributeValue::S("device".into()));
    item.insert(
        "user_code_hash".into(),
        AttributeValue::S(device.user_code_hash.clone()),
    );
    item.insert("client_id".into(), AttributeValue::S(device.client_id.clone()));
    item.insert("scope".into(), AttributeValue::S(format_scope(&device.scope)));
    item.insert("status".into(), AttributeValue::S(device.status.as_str().into()));
    item.insert("interval".into(), num(device.interval));
    item.insert("next_poll_at".into(), num(device.next_poll_at));
    item.insert("issued_at".into(), num(device.issued_at));
    item.insert("usable_until".into(), num(device.usable_until));
    item.insert(TTL_ATTRIBUTE.into(), num(device.expires_at));
    put_audience(&mut item, &device.audience);
    item
}

fn decode_user_code(hash: &str, item: &Attributes) -> Option<UserCode> {
    Some(UserCode {
        user_code_hash: hash.to_owned(),
        device_code_hash: s(item, "device_code_hash")?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
    })
}

fn encode_user_code(code: &UserCode) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::UserCode(code.user_code_hash.clone()));
    item.insert("kind".into(), AttributeValue::S("user_code".into()));
    item.insert(
        "device_code_hash".into(),
        AttributeValue::S(code.device_code_hash.clone()),
    );
    item.insert(TTL_ATTRIBUTE.into(), num(code.expires_at));
    item
}

fn decode_session(hash: &str, item: &Attributes) -> Option<Session> {
    Some(Session {
        session_hash: hash.to_owned(),
        username: s(item, "username")?,
        user_grants_key: s(item, "user_grants_key")?,
        issued_at: n(item, "issued_at")?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
        // Sessions from before `sid` get one derived from their key.
        sid: s(item, "sid")
            .unwrap_or_else(|| crate::secret::sha256_hex(&format!("sid#{hash}"))[..24].to_owned()),
    })
}

fn encode_session(session: &Session) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::Session(session.session_hash.clone()));
    item.insert("kind".into(), AttributeValue::S("session".into()));
    item.insert("username".into(), AttributeValue::S(session.username.clone()));
    item.insert(
        "user_grants_key".into(),
        AttributeValue::S(session.user_grants_key.clone()),
    );
    item.insert("issued_at".into(), num(session.issued_at));
    item.insert(TTL_ATTRIBUTE.into(), num(session.expires_at));
    item.insert("sid".into(), AttributeValue::S(session.sid.clone()));
    item
}

fn decode_consent(username: &str, client_id: &str, item: &Attributes) -> Option<Consent> {
    Some(Consent {
        username: username.to_owned(),
        client_id: client_id.to_owned(),
        scopes: parse_scope(&s(item, "scope")?).ok()?,
        user_grants_key: s(item, "user_grants_key")?,
    })
}

fn encode_consent(consent: &Consent) -> Attributes {
    let key = Key::Consent {
        username: consent.username.clone(),
        client_id: consent.client_id.clone(),
    };
    let mut item = DynamoStore::key_attributes(&key);
    item.insert("kind".into(), AttributeValue::S("consent".into()));
    item.insert("scope".into(), AttributeValue::S(format_scope(&consent.scopes)));
    item.insert(
        "user_grants_key".into(),
        AttributeValue::S(consent.user_grants_key.clone()),
    );
    item
}

/// The keys, as JSON in one attribute (each sealed, so nothing in clear),
/// and the version each change is conditional on.
fn decode_signing_keys(item: &Attributes) -> Option<crate::model::SigningKeys> {
    Some(crate::model::SigningKeys {
        keys: serde_json::from_str(&s(item, "keys")?).ok()?,
        version: n(item, "version")?,
    })
}

fn encode_signing_keys(keys: &crate::model::SigningKeys, version: u64) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::SigningKeys);
    item.insert("kind".into(), AttributeValue::S("signing_keys".into()));
    // A Vec of plain structs always serialises.
    let json = serde_json::to_string(&keys.keys).unwrap_or_default();
    item.insert("keys".into(), AttributeValue::S(json));
    item.insert("version".into(), num(version));
    item
}

fn decode_sign_in_attempts(item: &Attributes) -> Option<crate::model::SignInAttempts> {
    Some(crate::model::SignInAttempts {
        reserved: n(item, "reserved")?.try_into().ok()?,
        failures: n(item, "failures")?.try_into().ok()?,
        expires_at: n(item, TTL_ATTRIBUTE)?,
    })
}

fn decode_family(id: &str, item: &Attributes) -> Option<Family> {
    Some(Family {
        family_id: id.to_owned(),
        client_id: s(item, "client_id")?,
        username: s(item, "username")?,
        user_grants_key: s(item, "user_grants_key").unwrap_or_default(),
        revoked: item
            .get("revoked")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        expires_at: n(item, TTL_ATTRIBUTE)?,
        successor: s(item, "successor"),
    })
}

fn encode_family(family: &Family) -> Attributes {
    let mut item = DynamoStore::key_attributes(&Key::Family(family.family_id.clone()));
    item.insert("kind".into(), AttributeValue::S("family".into()));
    item.insert("client_id".into(), AttributeValue::S(family.client_id.clone()));
    item.insert("username".into(), AttributeValue::S(family.username.clone()));
    item.insert(
        "user_grants_key".into(),
        AttributeValue::S(family.user_grants_key.clone()),
    );
    item.insert("revoked".into(), AttributeValue::Bool(family.revoked));
    item.insert(TTL_ATTRIBUTE.into(), num(family.expires_at));
    if let Some(successor) = &family.successor {
        item.insert("successor".into(), AttributeValue::S(successor.clone()));
    }
    item
}

/// A conditional put of a new item, as one step of a transaction.
fn put_new_step(item: Attributes, table: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// How often a batch read retries keys DynamoDB left unprocessed (throttling).
const BATCH_ATTEMPTS: u32 = 4;

impl Store for DynamoStore {
    async fn load(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // No item can have an oversized key, so it reads as absent (DynamoDB
        // would refuse the whole batch): an oversized client id or username
        // is unknown, not a storage failure.
        let storable = Key::is_storable;
        if !keys.iter().any(storable) {
            return Ok(vec![None; keys.len()]);
        }
        if let [key] = keys {
            let item = self.get_raw(key).await?;
            return Ok(vec![item.and_then(|item| self.decode(key, &item))]);
        }

        // BatchGetItem rejects duplicate keys, so ask for each once.
        let mut pending: Vec<Attributes> = Vec::new();
        for key in keys.iter().filter(|key| storable(key)) {
            let attrs = Self::key_attributes(key);
            if !pending.contains(&attrs) {
                pending.push(attrs);
            }
        }
        let mut found: HashMap<String, Attributes> = HashMap::new();
        for attempt in 0..BATCH_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let mut out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            // Taken out of the answer, not copied: an item is a map of maps.
            let items = out.responses.take().and_then(|mut r| r.remove(&self.table));
            for item in items.into_iter().flatten() {
                if let Some(pk) = s(&item, PARTITION_KEY) {
                    found.insert(pk, item);
                }
            }
            if let Some(mut left) = out
                .unprocessed_keys
                .take()
                .and_then(|mut u| u.remove(&self.table))
            {
                pending = std::mem::take(&mut left.keys);
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::Unavailable(
                "DynamoDB left keys unprocessed after retries".into(),
            ));
        }
        Ok(keys
            .iter()
            .map(|key| {
                found
                    .get(&key.partition_key())
                    .and_then(|item| self.decode(key, item))
            })
            .collect())
    }

    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        self.put_new(encode_token(token)).await
    }

    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Revocation, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Token(token_hash.to_owned()))))
            // Delete only the owner's token; an absent or expired one is not refused.
            .condition_expression("attribute_not_exists(pk) OR client_id = :cid OR expires_at <= :now")
            .expression_attribute_values(":cid", AttributeValue::S(client_id.to_owned()))
            .expression_attribute_values(":now", num(self.clock.now()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes();
                let live = old
                    .and_then(|old| n(old, TTL_ATTRIBUTE))
                    .is_some_and(|exp| exp > self.clock.now());
                Ok(if live {
                    Revocation::Revoked {
                        family_id: old.and_then(|old| s(old, "family_id")),
                    }
                } else {
                    Revocation::NotFound
                })
            }
            Err(e) if is_condition_failure(&e) => Ok(Revocation::NotOwner),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_grant(&self, family: &Family, tokens: &[Token]) -> Result<(), StoreError> {
        let mut steps = vec![put_new_step(encode_family(family), &self.table)?];
        for token in tokens {
            steps.push(put_new_step(encode_token(token), &self.table)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        successor: Option<&str>,
        revoked_access_hash: Option<&str>,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Rotation, StoreError> {
        // Spend the old token: only if live and not spent yet. This condition
        // is what lets exactly one of concurrent exchanges through.
        let spend = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Token(old_hash.to_owned()))))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(rotated_at) AND expires_at > :now",
            )
            .expression_attribute_values(":now", num(now));
        // Which exchange spent it: the new refresh token's hash. A retried
        // write whose first attempt landed then knows it was its own.
        let next_hash = new_refresh_hash(tokens)?;
        let spend = spend
            .update_expression("SET rotated_at = :now, rotated_to = :next")
            .expression_attribute_values(":next", AttributeValue::S(next_hash.clone()))
            .build()
            .map_err(build_error)?;
        // Keep the family alive as long as its newest refresh token, unless
        // revoked; its sealed pair is replaced (or removed), never accumulated.
        let extend = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Family(family.family_id.clone()))))
            .condition_expression("attribute_exists(pk) AND revoked = :no")
            .expression_attribute_values(":exp", num(family.expires_at))
            .expression_attribute_values(":no", AttributeValue::Bool(false));
        let extend = match successor {
            Some(sealed) => extend
                .update_expression("SET expires_at = :exp, successor = :successor")
                .expression_attribute_values(":successor", AttributeValue::S(sealed.to_owned())),
            None => extend.update_expression("SET expires_at = :exp REMOVE successor"),
        }
        .build()
        .map_err(build_error)?;
        let mut steps = vec![
            TransactWriteItem::builder().update(spend).build(),
            TransactWriteItem::builder().update(extend).build(),
        ];
        for token in tokens {
            steps.push(put_new_step(encode_token(token), &self.table)?);
        }
        // Last, so the steps' indexes above stay those the cancellation
        // reasons are read by. Gone already (expired, revoked) is fine.
        if let Some(hash) = revoked_access_hash {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key_attributes(&Key::Token(hash.to_owned()))))
                .build()
                .map_err(build_error)?;
            steps.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(Rotation::Rotated),
            Err(e) => {
                let failed = |index: usize| failed_condition(&e, index);
                if failed(0) {
                    // Spent already: by this very exchange, if an attempt
                    // whose answer was lost landed (a retry DynamoDB did not
                    // recognise as one), else by another.
                    let spent = self.get_raw(&Key::Token(old_hash.to_owned())).await?;
                    let ours = spent.as_ref().and_then(|item| s(item, "rotated_to")) == Some(next_hash);
                    Ok(if ours {
                        Rotation::Rotated
                    } else {
                        Rotation::AlreadyRotated
                    })
                } else if failed(1) {
                    Ok(Rotation::FamilyRevoked)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        self.set_attribute(
            Key::Family(family_id.to_owned()),
            "revoked",
            AttributeValue::Bool(true),
        )
        .await?;
        Ok(())
    }

    async fn claim_secret_check(&self, client_id: &str, window: u64, limit: u32) -> Result<bool, StoreError> {
        let key = Some(Self::key_attributes(&Key::Client(client_id.to_owned())));
        // Twice at most: a concurrent check may open the window between our
        // two writes, and must not make this one look spent.
        for _ in 0..2 {
            // Another check in the current window, if it has room...
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(key.clone())
                .condition_expression(
                    "attribute_exists(pk) AND secret_check_window = :window AND secret_checks < :limit",
                )
                .update_expression("SET secret_checks = secret_checks + :one")
                .expression_attribute_values(":window", num(window))
                .expression_attribute_values(":limit", num(u64::from(limit)))
                .expression_attribute_values(":one", num(1))
                .send()
                .await;
            match counted {
                Ok(_) => return Ok(true),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            // ...or the first of a new window.
            let opened = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(key.clone())
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(secret_check_window) OR secret_check_window < :window)",
                )
                .update_expression("SET secret_check_window = :window, secret_checks = :one")
                .expression_attribute_values(":window", num(window))
                .expression_attribute_values(":one", num(1))
                .send()
                .await;
            match opened {
                Ok(_) => return Ok(true),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(false)
    }

    async fn rehash_client_secret(
        &self,
        client_id: &str,
        verified: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let expected = ("secret_hash", AttributeValue::S(verified.to_owned()));
        let changes = vec![("secret_hash", AttributeValue::S(sha256.to_owned()))];
        let key = Key::Client(client_id.to_owned());
        Ok(self
            .set_attributes_if(key, Some(expected), changes)
            .await?
            .is_some())
    }

    async fn register_client(&self, client: &Client) -> Result<(), StoreError> {
        self.put_new(encode_client(client)).await
    }

    async fn replace_registered_client(
        &self,
        client: &Client,
        token_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode_client(client)))
            .condition_expression("registration_token_hash = :hash AND #ttl > :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":hash", AttributeValue::S(token_hash.to_owned()))
            .expression_attribute_values(":now", num(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_metadata_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode_client(client)))
            // Never over a client registered otherwise, nor a disabled one.
            .condition_expression(
                "attribute_not_exists(pk) OR (registered_by = :document AND disabled = :enabled)",
            )
            .expression_attribute_values(":document", AttributeValue::S("metadata_document".into()))
            .expression_attribute_values(":enabled", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_registered_client(&self, client_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Client(client_id.to_owned()))))
            .condition_expression("registration_token_hash = :hash")
            .expression_attribute_values(":hash", AttributeValue::S(token_hash.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn renew_registered_client(
        &self,
        client_id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Client(client_id.to_owned()))))
            .condition_expression(
                "registered_by IN (:dynamic, :document) AND #ttl > :now AND (attribute_not_exists(disabled) OR disabled = :enabled)",
            )
            .update_expression("SET #ttl = :expires")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":dynamic", AttributeValue::S("dynamic".into()))
            .expression_attribute_values(":document", AttributeValue::S("metadata_document".into()))
            .expression_attribute_values(":now", num(now))
            .expression_attribute_values(":enabled", AttributeValue::Bool(false))
            .expression_attribute_values(":expires", num(expires_at))
            .send()
            .await;
        match result {
            // Gone or administered meanwhile: nothing to renew.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn rehash_password(&self, username: &str, verified: &str, new: &str) -> Result<bool, StoreError> {
        let expected = ("password", AttributeValue::S(verified.to_owned()));
        let changes = vec![("password", AttributeValue::S(new.to_owned()))];
        let key = Key::User(username.to_owned());
        Ok(self
            .set_attributes_if(key, Some(expected), changes)
            .await?
            .is_some())
    }

    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.put_new(encode_code(code)).await
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Redemption, StoreError> {
        let next_hash = new_refresh_hash(tokens)?;
        let key = Key::Code(code_hash.to_owned());
        // Spend the code: only if live and not spent yet, which lets exactly
        // one of concurrent redemptions through.
        let spend = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&key)))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(redeemed_at) AND expires_at > :now",
            )
            // Kept as long as the family, so that a replay can revoke it.
            .update_expression("SET redeemed_at = :now, redeemed_to = :next, expires_at = :keep")
            .expression_attribute_values(":now", num(now))
            .expression_attribute_values(":next", AttributeValue::S(next_hash.clone()))
            .expression_attribute_values(":keep", num(family.expires_at))
            .build()
            .map_err(build_error)?;
        let mut steps = vec![
            TransactWriteItem::builder().update(spend).build(),
            put_new_step(encode_family(family), &self.table)?,
        ];
        for token in tokens {
            steps.push(put_new_step(encode_token(token), &self.table)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(Redemption::Redeemed),
            Err(e) => {
                let spent_already = failed_condition(&e, 0);
                if !spent_already {
                    return Err(unavailable(e));
                }
                // Spent, expired or unknown: which, and by whom.
                let Some(item) = self.get_raw(&key).await? else {
                    return Ok(Redemption::NotFound);
                };
                if s(&item, "redeemed_to").as_deref() == Some(next_hash.as_str()) {
                    return Ok(Redemption::Redeemed);
                }
                match (n(&item, "redeemed_at"), s(&item, "family_id")) {
                    (Some(_), Some(family_id)) => Ok(Redemption::Replayed { family_id }),
                    _ => Ok(Redemption::NotFound),
                }
            }
        }
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(encode_session(session)).await
    }

    async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        self.delete(Key::Session(session_hash.to_owned()))
            .await
            .map(|_| ())
    }

    async fn put_signing_keys(&self, keys: &crate::model::SigningKeys) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode_signing_keys(keys, keys.version + 1)));
        let put = if keys.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", num(keys.version))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode_consent(consent)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn reserve_attempt(
        &self,
        who: &AttemptsOf,
        limit: u32,
        window_seconds: u64,
        now: u64,
    ) -> Result<Attempt, StoreError> {
        let key = Key::SignInAttempts(who.clone());
        // A few rounds at most: between our writes a window may open, or a
        // success may clear the one we saw full (then there is room again).
        for _ in 0..4 {
            // Room in the open window...
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key_attributes(&key)))
                .condition_expression("attribute_exists(pk) AND expires_at > :now AND reserved < :limit")
                .update_expression("SET reserved = reserved + :one")
                .expression_attribute_values(":now", num(now))
                .expression_attribute_values(":limit", num(u64::from(limit)))
                .expression_attribute_values(":one", num(1))
                .send()
                .await;
            match counted {
                Ok(_) => return Ok(Attempt::Granted),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            // ...or the first attempt of a new window, if none is open.
            let mut item = Self::key_attributes(&key);
            item.insert("kind".into(), AttributeValue::S("sign-in attempts".into()));
            item.insert("reserved".into(), num(1));
            item.insert("failures".into(), num(0));
            item.insert(TTL_ATTRIBUTE.into(), num(now + window_seconds));
            let opened = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", num(now))
                .send()
                .await;
            match opened {
                Ok(_) => return Ok(Attempt::Granted),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            // Neither: locked by failures, busy, or changed meanwhile (try again).
            match self
                .get_raw(&key)
                .await?
                .and_then(|item| self.decode(&key, &item))
            {
                Some(Item::SignInAttempts(window)) if window.failures >= limit => return Ok(Attempt::Locked),
                Some(Item::SignInAttempts(window)) if window.reserved >= limit => return Ok(Attempt::Busy),
                _ => {}
            }
        }
        Ok(Attempt::Busy)
    }

    async fn record_failed_attempt(&self, who: &AttemptsOf, now: u64) -> Result<u32, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::SignInAttempts(who.clone()))))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .update_expression("SET failures = failures + :one")
            .expression_attribute_values(":now", num(now))
            .expression_attribute_values(":one", num(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match counted {
            Ok(out) => {
                let failures = out.attributes().and_then(|a| n(a, "failures")).unwrap_or(0);
                Ok(u32::try_from(failures).unwrap_or(u32::MAX))
            }
            // Cleared by a success meanwhile, or the window closed.
            Err(e) if is_condition_failure(&e) => Ok(0),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn clear_attempts(&self, who: &AttemptsOf) -> Result<(), StoreError> {
        self.delete(Key::SignInAttempts(who.clone())).await.map(|_| ())
    }

    async fn put_device_authorization(&self, device: &DeviceAuthorization) -> Result<(), StoreError> {
        let user_code = UserCode {
            user_code_hash: device.user_code_hash.clone(),
            device_code_hash: device.device_code_hash.clone(),
            expires_at: device.usable_until,
        };
        let steps = vec![
            put_new_step(encode_device(device), &self.table)?,
            put_new_step(encode_user_code(&user_code), &self.table)?,
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if failed_condition(&e, 0) || failed_condition(&e, 1) => Err(StoreError::AlreadyExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn poll_device(&self, device_code_hash: &str, now: u64) -> Result<Poll, StoreError> {
        let key = Key::Device(device_code_hash.to_owned());
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&key)))
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :now AND #status = :pending AND next_poll_at <= :now",
            )
            .update_expression("SET next_poll_at = :now + #interval")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#interval", "interval")
            .expression_attribute_values(":now", num(now))
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(DeviceStatus::Pending.as_str().into()),
            )
            .send()
            .await;
        match counted {
            Ok(_) => return Ok(Poll::Pending),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        // Gone, decided, or too soon: which.
        let device = match self
            .get_raw(&key)
            .await?
            .and_then(|item| self.decode(&key, &item))
        {
            Some(Item::Device(device)) => device,
            _ => return Ok(Poll::NotFound),
        };
        if device.status != DeviceStatus::Pending {
            return Ok(Poll::Decided(device.status));
        }
        // Atomic: each poll too soon adds its 5 s, however many at once.
        let slowed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&key)))
            .condition_expression("attribute_exists(pk) AND #status = :pending")
            // Both sides read the interval before this update: the next poll
            // is due `now` plus the lengthened interval.
            .update_expression("SET #interval = #interval + :slower, next_poll_at = :later + #interval")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#interval", "interval")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(DeviceStatus::Pending.as_str().into()),
            )
            .expression_attribute_values(":slower", num(SLOW_DOWN_SECONDS))
            .expression_attribute_values(":later", num(now + SLOW_DOWN_SECONDS))
            .send()
            .await;
        match slowed {
            Ok(_) => Ok(Poll::SlowDown),
            // Decided meanwhile: the next poll learns it.
            Err(e) if is_condition_failure(&e) => Ok(Poll::SlowDown),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn decide_device(
        &self,
        device_code_hash: &str,
        code: Option<&AuthorizationCode>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let status = match code {
            Some(_) => DeviceStatus::Approved,
            None => DeviceStatus::Denied,
        };
        let decide = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&Key::Device(
                device_code_hash.to_owned(),
            ))))
            .condition_expression("attribute_exists(pk) AND #status = :pending AND usable_until > :now")
            .update_expression("SET #status = :decided")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(DeviceStatus::Pending.as_str().into()),
            )
            .expression_attribute_values(":decided", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(":now", num(now))
            .build()
            .map_err(build_error)?;
        let mut steps = vec![TransactWriteItem::builder().update(decide).build()];
        if let Some(code) = code {
            steps.push(put_new_step(encode_code(code), &self.table)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if failed_condition(&e, 0) || failed_condition(&e, 1) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl AdminStore for DynamoStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.put_new(encode_client(client)).await
    }

    async fn update_client(
        &self,
        client_id: &str,
        change: ClientChange,
    ) -> Result<Option<Client>, StoreError> {
        let key = Key::Client(client_id.to_owned());
        let document = || Some(("registered_by", AttributeValue::S("metadata_document".into())));
        // A metadata-document client's expiry changes in the same write as
        // its state; any other client's only its state.
        let (document_changes, disabled) = match change {
            ClientChange::SecretHash(hash) => {
                let updated = self
                    .set_attribute(key, "secret_hash", AttributeValue::S(hash))
                    .await?;
                return Ok(updated.as_ref().and_then(decode_client));
            }
            ClientChange::Disable => (vec![(TTL_ATTRIBUTE, num(NEVER))], true),
            ClientChange::Enable { document_expires_at } => (
                vec![
                    (TTL_ATTRIBUTE, num(document_expires_at)),
                    ("document_fresh_until", num(0)),
                ],
                false,
            ),
        };
        let state = ("disabled", AttributeValue::Bool(disabled));
        let mut changes = vec![state.clone()];
        changes.extend(document_changes);
        let updated = match self.set_attributes_if(key.clone(), document(), changes).await? {
            Some(updated) => Some(updated),
            None => self.set_attributes_if(key, None, vec![state]).await?,
        };
        Ok(updated.as_ref().and_then(decode_client))
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.put_new(encode_user(user)).await
    }

    async fn update_user(&self, username: &str, change: UserChange) -> Result<Option<User>, StoreError> {
        // Disabling, a new password and revoking grants all end every grant
        // made so far: the user gets a new grants key (Django likewise ends
        // sessions on a password change).
        let new_key = || {
            generate_id()
                .map(AttributeValue::S)
                .map_err(|_| StoreError::Unavailable("the OS random source failed".into()))
        };
        let changes = match change {
            UserChange::Disabled(true) => vec![
                ("disabled", AttributeValue::Bool(true)),
                ("grants_key", new_key()?),
            ],
            UserChange::Disabled(false) => vec![("disabled", AttributeValue::Bool(false))],
            UserChange::PasswordHash(hash) => {
                vec![("password", AttributeValue::S(hash)), ("grants_key", new_key()?)]
            }
            UserChange::RevokeGrants => vec![("grants_key", new_key()?)],
            UserChange::Profile(profile) => vec![
                ("first_name", AttributeValue::S(profile.first_name)),
                ("last_name", AttributeValue::S(profile.last_name)),
                ("email", AttributeValue::S(profile.email)),
                ("email_verified", AttributeValue::Bool(profile.email_verified)),
            ],
        };
        let updated = self
            .set_attributes_if(Key::User(username.to_owned()), None, changes)
            .await?;
        Ok(updated.as_ref().and_then(decode_user))
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        self.delete(Key::User(username.to_owned())).await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.delete(Key::Client(client_id.to_owned())).await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut clients = Vec::new();
        let mut start: Option<Attributes> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("kind = :client")
                .expression_attribute_values(":client", AttributeValue::S("client".into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            let now = self.clock.now();
            clients.extend(
                out.items()
                    .iter()
                    .filter_map(decode_client)
                    .filter(|c| c.is_live(now)),
            );
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        clients.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(clients)
    }
}

impl DynamoStore {
    /// Sets one attribute of an existing item; the item after, or `None` if absent.
    async fn set_attribute(
        &self,
        key: Key,
        attribute: &str,
        value: AttributeValue,
    ) -> Result<Option<Attributes>, StoreError> {
        self.set_attributes_if(key, None, vec![(attribute, value)]).await
    }

    /// Sets attributes of an existing item in one write, if `expected` (an
    /// attribute and its value) holds; the item after, or `None` if there is
    /// none or `expected` did not hold.
    async fn set_attributes_if(
        &self,
        key: Key,
        expected: Option<(&str, AttributeValue)>,
        changes: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Attributes>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&key)))
            .return_values(ReturnValue::AllNew);
        update = match expected {
            None => update.condition_expression("attribute_exists(pk)"),
            Some((attribute, value)) => update
                .condition_expression("attribute_exists(pk) AND #expected = :expected")
                .expression_attribute_names("#expected", attribute)
                .expression_attribute_values(":expected", value),
        };
        let mut assignments = Vec::new();
        for (i, (attribute, value)) in changes.into_iter().enumerate() {
            assignments.push(format!("#a{i} = :v{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), attribute)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        let result = update
            .update_expression(format!("SET {}", assignments.join(", ")))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One item as stored, read strongly consistent (expired or not).
    async fn get_raw(&self, key: &Key) -> Result<Option<Attributes>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Deletes an item; whether there was one.
    async fn delete(&self, key: Key) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(&key)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn put_new(&self, item: Attributes) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(unavailable(e)),
        }
    }
}
