//! What is stored: clients, users, tokens and the grants (families) they
//! descend from, authorization codes, browser sessions, approvals and
//! sign-in attempts. How each is laid out in the table: `docs/storage.md`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::origin::Origin;
use crate::redirect_uri::RedirectUri;
use crate::resource::Audience;
use crate::scope::{format_scope, ScopeSet, OFFLINE_ACCESS_SCOPE};
use crate::secret::{generate_id, RandomnessUnavailable};

/// An OAuth 2.0 grant type this server can issue tokens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.4: a client acting on its own behalf.
    ClientCredentials,
    /// RFC 6749 §4.3: a user's password, exchanged by a client allowed it
    /// explicitly (RFC 9700 §2.4 advises against it; DOT users have it).
    Password,
    /// RFC 6749 §6: a refresh token for a new pair.
    RefreshToken,
    /// RFC 6749 §4.1 with PKCE (RFC 7636): a user signs in here and the
    /// client redeems the code it got back.
    AuthorizationCode,
    /// RFC 8628: a device without a browser shows a code, which a user
    /// enters at the device page here; the device polls for the tokens.
    DeviceCode,
}

impl GrantType {
    /// Every grant type the token endpoint implements.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
    ];

    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The grant type named by a `grant_type` parameter, if implemented here.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// How a client proves who it is at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A confidential client (RFC 6749 §2.1) with a secret, of which only
    /// a hash is stored: lowercase hex SHA-256, or a Django password hash
    /// imported from django-oauth-toolkit until its first use re-stores it.
    Confidential {
        /// The secret's hash; the secret itself is never stored.
        secret_hash: String,
    },
    /// A public client: no secret, so PKCE is its proof, and only the
    /// grants that carry one are open to it ([`GrantType::open_to_public_clients`]).
    Public,
}

impl GrantType {
    /// Whether a public client may use this grant: those where a user
    /// signs in and approves here (the authorization code grant with PKCE,
    /// the device grant, RFC 8628 §3.1) and the refresh of their tokens.
    /// Any other grant would give tokens to anyone who knows the (public)
    /// client id.
    pub fn open_to_public_clients(self) -> bool {
        matches!(
            self,
            GrantType::AuthorizationCode | GrantType::DeviceCode | GrantType::RefreshToken
        )
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Public identifier, random letters and digits.
    pub client_id: String,
    /// Human-readable name.
    pub name: String,
    /// Confidential (with a secret) or public.
    pub auth: ClientAuth,
    /// Grant types this client may use.
    pub grant_types: BTreeSet<GrantType>,
    /// Scopes this client may be granted.
    pub scopes: ScopeSet,
    /// Scopes granted when a request names none (empty: the service's `DEFAULT_SCOPES`).
    pub default_scopes: ScopeSet,
    /// Access-token lifetime overriding the service default, seconds.
    pub token_lifetime: Option<u64>,
    /// A disabled client cannot authenticate and its tokens are inactive.
    pub disabled: bool,
    /// Creation time, epoch seconds.
    pub created_at: u64,
    /// Where authorization responses may be sent (see [`RedirectUri::admits`]).
    pub redirect_uris: Vec<RedirectUri>,
    /// Users are not asked to consent (django-oauth-toolkit's
    /// `skip_authorization`), unless the redirect cannot tell who the client
    /// is (a public client on a loopback or private-use redirect, RFC 8252 §8.6).
    pub skip_consent: bool,
    /// Origins whose scripts may read the answers of the token, revocation
    /// and UserInfo endpoints (DOT's `allowed_origins`).
    pub allowed_origins: Vec<Origin>,
    /// Where RP-initiated logout may return the browser, exactly (DOT's
    /// `post_logout_redirect_uris`).
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// What its access tokens are.
    pub access_token_format: AccessTokenFormat,
    /// Who registered it.
    pub registration: Registration,
    /// The resources (RFC 8707) it may ask tokens for; none: any the
    /// service knows.
    pub resources: Audience,
}

/// Who registered a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Registration {
    /// An administrator (`oauthctl client create`, `import-dot`).
    #[default]
    Administered,
    /// The client itself, by RFC 7591 dynamic registration: it reads,
    /// updates and deletes its registration with the registration access
    /// token it was given then (RFC 7592), and is gone at `expires_at`
    /// (renewed whenever it is used).
    Dynamic {
        /// The SHA-256 of its registration access token.
        access_token_hash: String,
        /// When it expires unless used, epoch seconds (and the item's TTL).
        expires_at: u64,
    },
    /// Nobody: its `client_id` is the https URL of its Client ID Metadata
    /// Document, which is its registration, fetched when it is first used
    /// and again once `fresh_until` has passed (the document's caching
    /// headers, within bounds). Gone at `expires_at` unless used; disabled,
    /// kept until enabled ([`NEVER`]).
    MetadataDocument {
        /// Until when the document as fetched may be used, epoch seconds.
        fresh_until: u64,
        /// When it expires unless used, epoch seconds (and the item's TTL).
        expires_at: u64,
    },
}

/// An expiry that never comes: a disabled metadata-document client's, so
/// that an administrator's ban outlives the unused lifetime after which the
/// document would otherwise be fetched afresh.
pub const NEVER: u64 = u64::MAX;

impl Registration {
    /// Its name, as `oauthctl` and the table spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Registration::Administered => "administrator",
            Registration::Dynamic { .. } => "dynamic",
            Registration::MetadataDocument { .. } => "metadata_document",
        }
    }
}

/// What a client's access tokens are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// Random strings, known only by their hash: introspection says what they are.
    #[default]
    Opaque,
    /// RFC 9068 JWTs signed with the service's keys, which an edge (API
    /// Gateway's JWT authorizer) can verify without asking; still stored as
    /// a hash, so introspection and revocation answer for them too.
    Jwt,
}

impl AccessTokenFormat {
    /// Its name, as `oauthctl` and the table spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTokenFormat::Opaque => "opaque",
            AccessTokenFormat::Jwt => "jwt",
        }
    }

    /// The format named `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [AccessTokenFormat::Opaque, AccessTokenFormat::Jwt]
            .into_iter()
            .find(|f| f.as_str() == value)
    }
}

impl Client {
    /// Whether the client is known by its metadata document (its id the
    /// document's URL).
    pub fn is_from_metadata_document(&self) -> bool {
        matches!(self.registration, Registration::MetadataDocument { .. })
    }

    /// Whether the client has no secret.
    pub fn is_public(&self) -> bool {
        self.auth == ClientAuth::Public
    }

    /// Whether the client may use `grant`: one it was registered for (a
    /// client whose grant issues refresh tokens may also redeem them), and,
    /// for a public client, only one open to public clients, whatever is stored.
    pub fn may_use(&self, grant: GrantType) -> bool {
        let issues_refresh_tokens = [
            GrantType::Password,
            GrantType::AuthorizationCode,
            GrantType::DeviceCode,
        ]
        .iter()
        .any(|g| self.grant_types.contains(g));
        let registered =
            self.grant_types.contains(&grant) || (grant == GrantType::RefreshToken && issues_refresh_tokens);
        registered && (!self.is_public() || grant.open_to_public_clients())
    }

    /// Whether the client may be granted `scope`: one of its scopes, or
    /// `offline_access` when it may refresh (see [`OFFLINE_ACCESS_SCOPE`]).
    pub fn may_have_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
            || (scope == OFFLINE_ACCESS_SCOPE && self.may_use(GrantType::RefreshToken))
    }

    /// The client as shown to an administrator: everything but the secret hash.
    pub fn to_public_json(&self) -> Value {
        json!({
            "client_id": self.client_id,
            "name": self.name,
            "grant_types": self.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "scope": format_scope(&self.scopes),
            "default_scope": format_scope(&self.default_scopes),
            "token_lifetime": self.token_lifetime,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "redirect_uris": self.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
            "public": self.is_public(),
            "skip_consent": self.skip_consent,
            "allowed_origins": self.allowed_origins.iter().map(Origin::as_str).collect::<Vec<_>>(),
            "post_logout_redirect_uris": self.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
            "access_token_format": self.access_token_format.as_str(),
            "registered_by": self.registration.as_str(),
            // When a self-registered client expires unless used; none for
            // others and for a disabled metadata-document client.
            "expires_at": match self.registration {
                Registration::Administered => None,
                Registration::Dynamic { expires_at, .. } | Registration::MetadataDocument { expires_at, .. } => {
                    Some(expires_at).filter(|&at| at != NEVER)
                }
            },
            "resources": self.resources,
        })
    }

    /// Whether it is still registered at `now` (a dynamic registration
    /// unused for too long is gone, before DynamoDB's TTL deletes it).
    pub fn is_live(&self, now: u64) -> bool {
        match self.registration {
            Registration::Administered => true,
            Registration::Dynamic { expires_at, .. } | Registration::MetadataDocument { expires_at, .. } => {
                expires_at > now
            }
        }
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bearer access token.
    Access,
    /// A refresh token (RFC 6749 §1.5), for user grants only.
    Refresh,
}

/// One grant to a user and everything issued from it: revoking the family
/// revokes every access and refresh token descended from the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Random id.
    pub family_id: String,
    /// The client the grant was made to.
    pub client_id: String,
    /// The user.
    pub username: String,
    /// The user's grants key when the grant was made (see [`User::grants_key`]).
    pub user_grants_key: String,
    /// Once revoked, every token of the family is inactive.
    pub revoked: bool,
    /// Expiry of the newest refresh token, epoch seconds (the item's TTL).
    pub expires_at: u64,
    /// With a grace period configured: the pair the family's most recently
    /// spent refresh token was exchanged for, sealed with that refresh token
    /// (see [`crate::successor`]). Each rotation replaces it, so a family
    /// keeps one sealed pair at most, its live one: a stale refresh token
    /// opens nothing, and no chain of pairs can be unsealed from the table.
    pub successor: Option<String>,
}

/// An issued token, known only by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lowercase hex SHA-256 of the token string.
    pub token_hash: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// Issue time, epoch seconds.
    pub issued_at: u64,
    /// Expiry, epoch seconds; also the item's DynamoDB TTL.
    pub expires_at: u64,
    /// The resource owner, for tokens issued to a user.
    pub username: Option<String>,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The grant this token descends from (user grants only).
    pub family_id: Option<String>,
    /// When a refresh token was exchanged (it then only serves reuse detection).
    pub rotated_at: Option<u64>,
    /// For a refresh token, the hash of the access token issued with it: a
    /// rotation revokes that access token.
    pub access_hash: Option<String>,
    /// The resources it was issued for (RFC 8707): an access token's `aud`;
    /// a refresh token's, what its grant was made for.
    pub audience: Audience,
}

/// The longest username accepted: room for Django's 150 characters (and an
/// e-mail address as the username), well inside DynamoDB's key limit in
/// every item whose key holds a username.
pub const MAX_USERNAME_BYTES: usize = 512;

/// A resource owner who can be issued tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique name (as Django's `username`).
    pub username: String,
    /// Django-format password hash (`pbkdf2_sha256$...`); see [`crate::password`].
    pub password_hash: String,
    /// A disabled user cannot sign in and their tokens are inactive.
    pub disabled: bool,
    /// Creation time, epoch seconds.
    pub created_at: u64,
    /// A random value every grant to the user carries. Replacing it (when
    /// the user is disabled, changes password, or has their grants revoked)
    /// ends every grant made before, for good; a user deleted and created
    /// again under the same name has another, so the old grants stay dead.
    pub grants_key: String,
    /// The OpenID Connect `sub`: random when the user is created here (so
    /// a user created again under the same name is another subject), DOT's
    /// primary key when imported; it never changes.
    pub subject: String,
    /// What OpenID Connect's `profile` and `email` scopes release.
    pub profile: UserProfile,
}

/// A user's name and e-mail address, as Django's `User` has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// Django's `first_name` (OpenID Connect's `given_name`); empty when unknown.
    pub first_name: String,
    /// Django's `last_name` (`family_name`); empty when unknown.
    pub last_name: String,
    /// Django's `email`; empty when unknown.
    pub email: String,
    /// Whether the address is known to be the user's (Django does not say:
    /// false unless an administrator says so).
    pub email_verified: bool,
}

/// The longest of each profile value: Django allows 150 characters for names
/// and 254 for addresses; this leaves room for multi-byte ones.
pub const MAX_PROFILE_VALUE_BYTES: usize = 1024;

/// The longest `sub` OpenID Connect allows (Core §2: 255 ASCII characters).
pub const MAX_SUBJECT_BYTES: usize = 255;

impl User {
    /// A new, enabled user with a fresh grants key.
    pub fn new(
        username: &str,
        password_hash: String,
        created_at: u64,
    ) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            username: username.to_owned(),
            password_hash,
            disabled: false,
            created_at,
            grants_key: generate_id()?,
            subject: generate_id()?,
            profile: UserProfile::default(),
        })
    }

    /// Whether a grant made with `grants_key` still stands for this user.
    pub fn honours(&self, grants_key: &str) -> bool {
        !self.disabled && self.grants_key == grants_key
    }

    /// The user as shown to an administrator: everything but the password hash.
    pub fn to_public_json(&self) -> Value {
        json!({
            "username": self.username,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "sub": self.subject,
            "first_name": self.profile.first_name,
            "last_name": self.profile.last_name,
            "email": self.profile.email,
            "email_verified": self.profile.email_verified,
        })
    }
}

/// An authorization code (RFC 6749 §4.1.2), known only by the SHA-256 of
/// its value, bound to everything the authorization request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// Lowercase hex SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// How it reached the client, which its redemption must show.
    pub delivery: CodeDelivery,
    /// The scope the user granted.
    pub scope: ScopeSet,
    /// The resources the authorization request named (RFC 8707).
    pub audience: Audience,
    /// The user who signed in.
    pub username: String,
    /// The user's grants key then (see [`User::grants_key`]).
    pub user_grants_key: String,
    /// The family the tokens issued for it belong to, chosen in advance so
    /// that a replayed code revokes them.
    pub family_id: String,
    /// Issue time, epoch seconds.
    pub issued_at: u64,
    /// Until when it may be redeemed, epoch seconds (and the item's TTL);
    /// once redeemed, the item is kept as long as the tokens it gave, so
    /// that a replay can revoke them.
    pub expires_at: u64,
    /// When it was redeemed (it then only serves replay detection).
    pub redeemed_at: Option<u64>,
    /// The authorization request's `nonce`, for the ID token (OpenID Connect).
    pub nonce: Option<String>,
    /// When the user signed in (the session's start), epoch seconds: the ID token's `auth_time`.
    pub auth_time: u64,
    /// The session's `sid`, for the ID token.
    pub sid: String,
}

/// How an authorization code reached its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeDelivery {
    /// Through the browser, to a redirect URI (RFC 6749 §4.1.2), bound to
    /// the request's PKCE challenge.
    Redirect {
        /// The redirect URI it was sent to.
        redirect_uri: String,
        /// Whether the authorization request named that redirect URI, in
        /// which case the token request must name it again (RFC 6749 §4.1.3).
        redirect_uri_sent: bool,
        /// The PKCE `code_challenge` (S256).
        code_challenge: String,
    },
    /// Never through a browser: the code is the device code a user approved
    /// at the device page (RFC 8628), which the device holds and polls with.
    Device,
}

/// A device's authorization request (RFC 8628 §3.1), known by the SHA-256
/// of its device code, while a user may still approve or deny it at the
/// device page. An approval stores an [`AuthorizationCode`] under the same
/// hash, which the device's poll redeems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// Lowercase hex SHA-256 of the device code.
    pub device_code_hash: String,
    /// Lowercase hex SHA-256 of the user code, normalised.
    pub user_code_hash: String,
    /// The client that asked.
    pub client_id: String,
    /// The scope it asked for.
    pub scope: ScopeSet,
    /// The resources it named (RFC 8707).
    pub audience: Audience,
    /// Whether a user decided yet.
    pub status: DeviceStatus,
    /// The least time between two polls, seconds (RFC 8628 §3.5: each
    /// `slow_down` adds 5).
    pub interval: u64,
    /// The earliest the next poll may come, epoch seconds: a counted poll
    /// puts it `interval` later; one sooner is told to slow down.
    pub next_poll_at: u64,
    /// When it was asked, epoch seconds.
    pub issued_at: u64,
    /// Until when a user may approve it and the device redeem it.
    pub usable_until: u64,
    /// When the item goes (its TTL): later than `usable_until`, so that a
    /// late poll is told `expired_token` rather than nothing.
    pub expires_at: u64,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// No user decided yet.
    Pending,
    /// A user approved it: its code is stored.
    Approved,
    /// A user denied it.
    Denied,
}

impl DeviceStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
        }
    }

    /// The status a stored name says.
    pub fn parse(value: &str) -> Option<Self> {
        [
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Denied,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// A user code (RFC 8628 §6.1), known by the SHA-256 of its normalised
/// form, leading to its device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode {
    /// Lowercase hex SHA-256 of the normalised user code.
    pub user_code_hash: String,
    /// The device authorization it belongs to.
    pub device_code_hash: String,
    /// When it can no longer be entered (the device authorization's
    /// `usable_until`; the item's TTL).
    pub expires_at: u64,
}

/// A signed-in browser session, known only by the SHA-256 of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Lowercase hex SHA-256 of the session cookie's value.
    pub session_hash: String,
    /// Who signed in.
    pub username: String,
    /// The user's grants key then: ending the user's grants ends the session.
    pub user_grants_key: String,
    /// Sign-in time, epoch seconds.
    pub issued_at: u64,
    /// Expiry, epoch seconds (and the item's TTL).
    pub expires_at: u64,
    /// A random public id of the session, the ID token's `sid` (never the
    /// cookie, nor its hash).
    pub sid: String,
}

/// Scopes a user approved for a client, so that asking again is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user.
    pub username: String,
    /// The client.
    pub client_id: String,
    /// What was approved.
    pub scopes: ScopeSet,
    /// The user's grants key then: ending the user's grants ends the approval.
    pub user_grants_key: String,
}

/// Sign-in attempts for one username (whether or not such a user exists)
/// in the lockout window that opened with the first of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAttempts {
    /// Attempts granted in the window: those still being checked, and the
    /// failures (a success clears the window).
    pub reserved: u32,
    /// Attempts whose password was wrong.
    pub failures: u32,
    /// When the window closes, epoch seconds (and the item's TTL).
    pub expires_at: u64,
}

/// An RSA public key as a JWK's `n` and `e` (base64url, big-endian, no
/// leading zeros).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RsaPublicJwk {
    /// The modulus.
    pub n: String,
    /// The public exponent.
    pub e: String,
}

impl RsaPublicJwk {
    /// RFC 7638 thumbprint: the SHA-256 of the required members in
    /// lexicographic order, without whitespace. Deterministic, so a key has
    /// the same `kid` wherever it is computed.
    pub fn thumbprint(&self) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, self.e, self.n);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The JWK published in the JWKS, for RS256 signatures.
    pub fn to_jwk(&self, kid: &str) -> Value {
        json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": self.n, "e": self.e })
    }
}

/// A signing key's private half, as stored: never in clear.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "sealed_by", rename_all = "snake_case")]
pub enum SealedKey {
    /// Encrypted by AWS KMS under `key_id`, with the `kid` as encryption
    /// context: only a role allowed `kms:Decrypt` on that key opens it.
    Kms {
        /// The KMS key (its ARN) that encrypted it.
        key_id: String,
        /// KMS's ciphertext blob, base64.
        ciphertext: String,
    },
    /// ChaCha20-Poly1305 under the configured `SIGNING_KEY_SECRET`, with the
    /// `kid` as associated data (standalone runs).
    Secret {
        /// The 12-byte nonce followed by the ciphertext, base64.
        ciphertext: String,
    },
}

/// A key that signs ID tokens (RS256), and how long it is published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigningKey {
    /// The RFC 7638 thumbprint of `public`.
    pub kid: String,
    /// The public half, as published.
    pub public: RsaPublicJwk,
    /// The private half, sealed.
    pub sealed: SealedKey,
    /// Creation time (and first publication), epoch seconds.
    pub created_at: u64,
    /// When it starts signing, epoch seconds: late enough that every cache
    /// of the JWKS (API Gateway keeps one for up to two hours) has it.
    pub signs_from: u64,
    /// When it stops being published (and so verifying anything), epoch
    /// seconds: set once a newer key takes over, late enough for every token
    /// it signed to have expired; `now` when retired by hand.
    pub published_until: Option<u64>,
    /// It never signs here: another server's retired key (django-oauth-
    /// toolkit's inactive ones), published only so that what it signed verifies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verifies_only: bool,
}

impl SigningKey {
    /// Whether the key is still published at `now`.
    pub fn is_published(&self, now: u64) -> bool {
        self.published_until.is_none_or(|until| until > now)
    }
}

/// Every signing key, in one item so that one read gives the whole JWKS;
/// `version` makes each change conditional on the one it was based on.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigningKeys {
    /// The keys, oldest first; unpublished ones are left out when read.
    pub keys: Vec<SigningKey>,
    /// 0 for a set never stored; each stored change adds one.
    pub version: u64,
}

impl SigningKeys {
    /// The set as read at `now`: the keys no longer published left out.
    pub fn published_only(mut self, now: u64) -> Self {
        self.keys.retain(|k| k.is_published(now));
        self
    }

    /// The keys published at `now`: the JWKS.
    pub fn published(&self, now: u64) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().filter(move |k| k.is_published(now))
    }

    /// The key that signs at `now`: of the published keys whose time has
    /// come, the one that came last.
    pub fn signer(&self, now: u64) -> Option<&SigningKey> {
        self.published(now)
            .filter(|k| k.signs_from <= now && !k.verifies_only)
            .max_by_key(|k| (k.signs_from, k.created_at))
    }

    /// Adds `key`, which starts signing `publish_ahead` seconds from `now`
    /// (at once if nothing signs now: then no cache can lack it); every key
    /// it supersedes stays published `keep_published` seconds after that.
    /// Keys no longer published are dropped.
    pub fn rotate(&mut self, mut key: SigningKey, now: u64, publish_ahead: u64, keep_published: u64) {
        self.keys.retain(|k| k.is_published(now));
        key.created_at = now;
        key.signs_from = if self.signer(now).is_some() {
            now + publish_ahead
        } else {
            now
        };
        for superseded in self.keys.iter_mut().filter(|k| k.published_until.is_none()) {
            superseded.published_until = Some(key.signs_from + keep_published);
        }
        self.keys.push(key);
    }

    /// Adds keys another server signed with (django-oauth-toolkit's): the
    /// one it signs with, which signs here from `now` (every relying party
    /// already has it), superseding the key signing now; and the ones it
    /// no longer signs with but still publishes, published here
    /// `keep_published` more and never signing. Every superseded key stays
    /// published `keep_published`. Keys already here keep their schedule.
    pub fn import(&mut self, signing: SigningKey, inactive: Vec<SigningKey>, now: u64, keep_published: u64) {
        self.keys.retain(|k| k.is_published(now));
        for mut key in inactive {
            if self.keys.iter().any(|k| k.kid == key.kid) || key.kid == signing.kid {
                continue;
            }
            key.created_at = now;
            key.signs_from = now;
            key.verifies_only = true;
            key.published_until = Some(now + keep_published);
            self.keys.push(key);
        }
        self.keys.retain(|k| k.kid != signing.kid);
        self.rotate(signing, now, 0, keep_published);
    }

    /// When nothing signs at `now`, the next key published ahead signs
    /// from `now` instead of later; its `kid`, if there was one.
    pub fn promote_successor(&mut self, now: u64) -> Option<String> {
        if self.signer(now).is_some() {
            return None;
        }
        let next = self
            .keys
            .iter_mut()
            .filter(|k| k.is_published(now) && k.signs_from > now && !k.verifies_only)
            .min_by_key(|k| k.signs_from)?;
        next.signs_from = now;
        Some(next.kid.clone())
    }

    /// Unpublishes key `kid` at once (a compromised key: whatever it signed
    /// stops verifying); whether it was published.
    pub fn retire(&mut self, kid: &str, now: u64) -> bool {
        let found = self.keys.iter_mut().find(|k| k.kid == kid && k.is_published(now));
        match found {
            Some(key) => {
                key.published_until = Some(now);
                self.keys.retain(|k| k.is_published(now));
                true
            }
            None => false,
        }
    }
}
