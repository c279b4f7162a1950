//! The storage interface the OAuth core needs: [`Store`] (what serving
//! requests needs) and [`AdminStore`] (what administration needs besides),
//! the [`Key`]s of the one table both implementations lay out alike
//! (`docs/storage.md`), and what their conditional writes report.

use std::future::Future;

use crate::model::{
    AuthorizationCode, Client, Consent, DeviceAuthorization, Family, Session, SignInAttempts, SigningKeys,
    Token, User, UserCode,
};
use crate::secret::sha256_hex;

/// The key of one stored item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client, by `client_id`.
    Client(String),
    /// An access token, by the hex SHA-256 of its value.
    Token(String),
    /// A user, by username.
    User(String),
    /// A token family (one user grant), by id.
    Family(String),
    /// An authorization code, by the hex SHA-256 of its value.
    Code(String),
    /// A browser session, by the hex SHA-256 of its cookie.
    Session(String),
    /// A user's approval of a client.
    Consent {
        /// The user.
        username: String,
        /// The client.
        client_id: String,
    },
    /// Attempts in a lockout window; keyed by the SHA-256 of whose they
    /// are, so that no username, however long, makes a key DynamoDB refuses.
    SignInAttempts(AttemptsOf),
    /// A device authorization (RFC 8628), by the hex SHA-256 of its device code.
    Device(String),
    /// A user code (RFC 8628), by the hex SHA-256 of its normalised form.
    UserCode(String),
    /// The keys that sign ID tokens, all in one item.
    SigningKeys,
}

/// Whose attempts a lockout window counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttemptsOf {
    /// Passwords tried for a username (whether or not such a user exists).
    SignIn(String),
    /// User codes (RFC 8628) a signed-in user entered.
    UserCodes(String),
}

/// DynamoDB refuses a partition key over 2,048 bytes (and the whole request
/// holding one); the in-memory store refuses the same.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;

impl Key {
    /// The item's partition key, `pk`, in the one table both stores lay out
    /// alike (the storage layout is in `docs/storage.md`).
    pub fn partition_key(&self) -> String {
        match self {
            Key::Client(id) => format!("client#{id}"),
            Key::Token(hash) => format!("token#{hash}"),
            Key::User(username) => format!("user#{username}"),
            Key::Family(id) => format!("family#{id}"),
            Key::Code(hash) => format!("code#{hash}"),
            Key::Session(hash) => format!("session#{hash}"),
            Key::Consent { username, client_id } => format!("consent#{client_id}#{username}"),
            Key::SignInAttempts(AttemptsOf::SignIn(username)) => format!("signin#{}", sha256_hex(username)),
            Key::SignInAttempts(AttemptsOf::UserCodes(username)) => {
                format!("usercodes#{}", sha256_hex(username))
            }
            Key::Device(hash) => format!("device#{hash}"),
            Key::UserCode(hash) => format!("usercode#{hash}"),
            Key::SigningKeys => "signing-keys".to_owned(),
        }
    }

    /// Whether an item can have this key at all (see [`MAX_PARTITION_KEY_BYTES`]).
    pub fn is_storable(&self) -> bool {
        self.partition_key().len() <= MAX_PARTITION_KEY_BYTES
    }

    /// What kind of item this key names, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Key::Client(_) => "client",
            Key::Token(_) => "token",
            Key::User(_) => "user",
            Key::Family(_) => "family",
            Key::Code(_) => "code",
            Key::Session(_) => "session",
            Key::Consent { .. } => "consent",
            Key::SignInAttempts(AttemptsOf::SignIn(_)) => "sign-in attempts",
            Key::SignInAttempts(AttemptsOf::UserCodes(_)) => "user code attempts",
            Key::Device(_) => "device authorization",
            Key::UserCode(_) => "user code",
            Key::SigningKeys => "signing keys",
        }
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A client.
    Client(Client),
    /// An access token.
    Token(Token),
    /// A user.
    User(User),
    /// A token family.
    Family(Family),
    /// An authorization code.
    Code(AuthorizationCode),
    /// A browser session.
    Session(Session),
    /// A user's approval of a client.
    Consent(Consent),
    /// Attempts in a lockout window.
    SignInAttempts(SignInAttempts),
    /// A device authorization (RFC 8628).
    Device(DeviceAuthorization),
    /// A user code (RFC 8628).
    UserCode(UserCode),
    /// The signing keys still published (a read leaves the others out).
    SigningKeys(SigningKeys),
}

/// The hash of the new refresh token among `tokens` of a rotation or a
/// redemption: the spent token or code records it, so that the same write
/// retried is recognised as its own.
pub(crate) fn new_refresh_hash(tokens: &[Token]) -> Result<String, StoreError> {
    tokens
        .iter()
        .find(|t| t.kind == crate::model::TokenKind::Refresh)
        .map(|t| t.token_hash.clone())
        .ok_or_else(|| StoreError::Unavailable("a grant without a new refresh token".into()))
}

/// What an attempt to redeem an authorization code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The code is spent and the grant stored.
    Redeemed,
    /// The code was redeemed before: a replay; the family of the tokens it
    /// gave must be revoked (RFC 6749 §4.1.2).
    Replayed {
        /// That family.
        family_id: String,
    },
    /// No live code has that value.
    NotFound,
}

/// How much longer a device must wait between polls each time it is told
/// to slow down (RFC 8628 §3.5).
pub const SLOW_DOWN_SECONDS: u64 = 5;

/// What a device's poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Still pending; the poll is counted.
    Pending,
    /// Still pending, and polled too soon: slow down.
    SlowDown,
    /// A user approved it (its code may be redeemed) or denied it.
    Decided(crate::model::DeviceStatus),
    /// No live device authorization has that hash.
    NotFound,
}

/// What reserving a sign-in attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt may check a password.
    Granted,
    /// The window's failures are spent: refused without a check until it closes.
    Locked,
    /// The window's room is taken by attempts still being checked: refused
    /// without a check, to retry in a moment (their outcomes decide).
    Busy,
}

/// What a revocation request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The token existed, belonged to the client and is gone; with the family
    /// it belongs to, which the caller must revoke too (RFC 7009 §2.1).
    Revoked {
        /// The token's family, for user grants.
        family_id: Option<String>,
    },
    /// No live token has that value (unknown, expired or already revoked).
    NotFound,
    /// The token is live but was issued to another client; it was kept.
    NotOwner,
}

/// One administrative change to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientChange {
    /// Disable the client. One known by its metadata document is then kept
    /// until enabled or deleted ([`NEVER`](crate::model::NEVER)): expired,
    /// its URL would be fetched afresh and the client come back enabled.
    Disable,
    /// Enable a disabled client. One known by its metadata document is
    /// fetched afresh at its next use, and expires at `document_expires_at`
    /// unless used (a registration's unused lifetime from now).
    Enable { document_expires_at: u64 },
    /// Replace the secret's SHA-256.
    SecretHash(String),
}

/// What an attempt to exchange a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old refresh token is spent and the new tokens are stored.
    Rotated,
    /// The old refresh token was already spent (reuse, or a lost race): nothing was written.
    AlreadyRotated,
    /// The family was revoked: nothing was written.
    FamilyRevoked,
}

/// One administrative change to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// Disable (`true`, which ends every grant for good) or enable (`false`) the user.
    Disabled(bool),
    /// Replace the password hash, ending every grant.
    PasswordHash(String),
    /// End every grant made to the user so far.
    RevokeGrants,
    /// Replace the name and e-mail address (grants stand).
    Profile(crate::model::UserProfile),
}

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend failed or throttled; the request may be retried.
    Unavailable(String),
    /// A write that must not overwrite found an item with the same key.
    AlreadyExists,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "storage unavailable: {why}"),
            StoreError::AlreadyExists => f.write_str("an item with this key already exists"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What serving requests needs from storage: reading, issuing, rotating and
/// revoking tokens, and the few writes a sign-in makes. Nothing here creates,
/// changes or deletes a client or a user; that is [`AdminStore`].
///
/// Every read treats an item whose `expires_at <= now` as absent (TTL deletes
/// late), and reads are strongly consistent.
pub trait Store: Send + Sync + 'static {
    /// Reads the items for `keys` in one round trip; `None` where absent or expired.
    /// The answer has one entry per key, in the same order.
    fn load(&self, keys: &[Key]) -> impl Future<Output = Result<Vec<Option<Item>>, StoreError>> + Send;

    /// Stores a new token; fails with [`StoreError::AlreadyExists`] rather than overwrite.
    fn put_token(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a new user grant atomically: its family and its first tokens;
    /// fails with [`StoreError::AlreadyExists`] if any of them exists.
    fn put_grant(
        &self,
        family: &Family,
        tokens: &[Token],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends refresh token `old_hash`, deletes the access token
    /// `revoked_access_hash` if given, stores `tokens` of `family` (among
    /// them the new refresh token) and replaces the family's sealed pair
    /// with `successor` (when there is a grace period to serve; removed
    /// otherwise), in one transaction, so that of concurrent exchanges
    /// exactly one succeeds. The same exchange written again (a retry after
    /// a lost answer) is [`Rotation::Rotated`], not a lost race.
    fn rotate_refresh(
        &self,
        old_hash: &str,
        successor: Option<&str>,
        revoked_access_hash: Option<&str>,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// Revokes a family: every token descended from the grant is inactive at once.
    fn revoke_family(&self, family_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a token if it was issued to `client_id`.
    fn revoke_token(
        &self,
        token_hash: &str,
        client_id: &str,
    ) -> impl Future<Output = Result<Revocation, StoreError>> + Send;

    /// Counts one check of a client's slow (Django-hashed) secret against at
    /// most `limit` per `window` (a number that grows with time); `false`
    /// when this window's checks are spent or the client is gone. Bounds the
    /// work anyone knowing a client id can make the service do.
    fn claim_secret_check(
        &self,
        client_id: &str,
        window: u64,
        limit: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a client secret hash imported from Django with `sha256`, the
    /// SHA-256 of the secret just verified against it, unless the hash is no
    /// longer `verified` (a rotation in the meantime is never undone);
    /// whether it was replaced.
    fn rehash_client_secret(
        &self,
        client_id: &str,
        verified: &str,
        sha256: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a client that registered itself (RFC 7591); fails with
    /// [`StoreError::AlreadyExists`] rather than overwrite.
    fn register_client(&self, client: &Client) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the live dynamically registered client `client.client_id`
    /// with `client` (RFC 7592 update), if its registration access token's
    /// hash is still `token_hash`; whether it was.
    fn replace_registered_client(
        &self,
        client: &Client,
        token_hash: &str,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the dynamically registered client `client_id` (RFC 7592), if
    /// its registration access token's hash is `token_hash`; whether it was.
    fn delete_registered_client(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a client known by its metadata document (its id the
    /// document's URL), new or fetched again, unless the id belongs to a
    /// client registered otherwise or one an administrator disabled;
    /// whether it was stored.
    fn put_metadata_document_client(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves the expiry of the live self-registered client (RFC 7591, or a
    /// metadata document) `client_id` to `expires_at` (it was used); never
    /// brings one back, nor touches a disabled one.
    fn renew_registered_client(
        &self,
        client_id: &str,
        expires_at: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a user's password under the configured hasher after a sign-in
    /// (`new`), unless the hash is no longer `verified`; grants stand.
    /// Whether it was replaced.
    fn rehash_password(
        &self,
        username: &str,
        verified: &str,
        new: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new authorization code; fails with [`StoreError::AlreadyExists`] rather than overwrite.
    fn put_code(&self, code: &AuthorizationCode) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends the live code `code_hash` and stores the grant made for it
    /// (`family`, `tokens` with the new refresh token among them) in one
    /// transaction: of concurrent redemptions exactly one succeeds, and the
    /// same redemption written again (a retry after a lost answer) is
    /// [`Redemption::Redeemed`], not a replay. The spent code is kept until
    /// the family's `expires_at`, so that a replay, however late, can
    /// revoke what it gave.
    fn redeem_code(
        &self,
        code_hash: &str,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send;

    /// Stores a new session.
    fn put_session(&self, session: &Session) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends a session (signing out); absent is fine.
    fn delete_session(&self, session_hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records (or replaces) a user's approval of a client.
    fn put_consent(&self, consent: &Consent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reserves one attempt of `who`'s (a password or a user code), before
    /// it is checked, in the window that opens with the first and lasts
    /// `window_seconds`: granted while the attempts being checked and the
    /// failures of the window are fewer than `limit`. Atomic, so that
    /// concurrent attempts cannot pass the limit between a read and a write.
    fn reserve_attempt(
        &self,
        who: &AttemptsOf,
        limit: u32,
        window_seconds: u64,
        now: u64,
    ) -> impl Future<Output = Result<Attempt, StoreError>> + Send;

    /// Records that a granted attempt of `who`'s was wrong; the failures of
    /// the window so far (0 if a success cleared it meanwhile).
    fn record_failed_attempt(
        &self,
        who: &AttemptsOf,
        now: u64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Forgets `who`'s attempts (after a success, or an administrator's
    /// unlock); absent is fine.
    fn clear_attempts(&self, who: &AttemptsOf) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a new device authorization and its user code, both or
    /// neither; [`StoreError::AlreadyExists`] if either is taken (a user
    /// code drawn twice: draw another).
    fn put_device_authorization(
        &self,
        device: &DeviceAuthorization,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A device's poll (RFC 8628 §3.5) of its pending authorization: counted
    /// if it comes at `next_poll_at` or later (which then moves `interval`
    /// past `now`); sooner, the interval grows by 5 s for every later poll
    /// and the next is due that long after `now`. What the authorization
    /// was found to be.
    fn poll_device(
        &self,
        device_code_hash: &str,
        now: u64,
    ) -> impl Future<Output = Result<Poll, StoreError>> + Send;

    /// A user's decision on a pending device authorization, usable at
    /// `now`: approved with `code` (its grant, stored under the same hash
    /// for the device to redeem) or denied (`None`), in one transaction;
    /// `false` if it was no longer pending and usable.
    fn decide_device(
        &self,
        device_code_hash: &str,
        code: Option<&AuthorizationCode>,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores `keys` as version `keys.version + 1`, if the stored set is
    /// still version `keys.version` (0: none stored); `false` if another
    /// change came first (read again, and decide again).
    fn put_signing_keys(&self, keys: &SigningKeys) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The signing keys published at the store's `now` (an empty set, version 0, if none was ever stored).
    fn get_signing_keys(&self) -> impl Future<Output = Result<SigningKeys, StoreError>> + Send {
        async move {
            let mut items = self.load(&[Key::SigningKeys]).await?;
            Ok(match items.pop().flatten() {
                Some(Item::SigningKeys(keys)) => keys,
                _ => SigningKeys::default(),
            })
        }
    }

    /// Reads one user.
    fn get_user(&self, username: &str) -> impl Future<Output = Result<Option<User>, StoreError>> + Send {
        async move {
            let mut items = self.load(&[Key::User(username.to_owned())]).await?;
            Ok(match items.pop().flatten() {
                Some(Item::User(u)) => Some(u),
                _ => None,
            })
        }
    }

    /// Reads one client.
    fn get_client(&self, client_id: &str) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        async move {
            let mut items = self.load(&[Key::Client(client_id.to_owned())]).await?;
            Ok(match items.pop().flatten() {
                Some(Item::Client(c)) => Some(c),
                _ => None,
            })
        }
    }
}

/// What administration needs besides ([`crate::admin`], `oauthctl`):
/// clients and users created, changed, deleted and listed.
pub trait AdminStore: Store {
    /// Stores a new client; fails with [`StoreError::AlreadyExists`] rather than overwrite.
    fn create_client(&self, client: &Client) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes one attribute of an existing client atomically; the updated
    /// client, or `None` if there is none.
    fn update_client(
        &self,
        client_id: &str,
        change: ClientChange,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;

    /// Deletes a client; `false` if there was none.
    fn delete_client(&self, client_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every client.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;

    /// Stores a new user; fails with [`StoreError::AlreadyExists`] rather than overwrite.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes one attribute of an existing user atomically; the updated user,
    /// or `None` if there is none.
    fn update_user(
        &self,
        username: &str,
        change: UserChange,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Deletes a user; `false` if there was none.
    fn delete_user(&self, username: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
