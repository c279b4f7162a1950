//! A store in memory, with the DynamoDB store's semantics (conditional
//! writes, all-or-nothing transactions, expired items read as absent but
//! still occupying their key until deleted, DynamoDB's key size limit), for
//! tests and benchmarks that need no DynamoDB. Not durable. The store
//! contract suite (`tests/tests/store_contract.rs`) runs the same scenarios
//! against both stores.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::clock::SharedClock;
use crate::model::{
    AuthorizationCode, Client, ClientAuth, Consent, DeviceAuthorization, DeviceStatus, Family, Registration,
    Session, SignInAttempts, SigningKeys, Token, User, UserCode, NEVER,
};
use crate::secret::generate_id;
use crate::store::{
    new_refresh_hash, AdminStore, Attempt, AttemptsOf, ClientChange, Item, Key, Poll, Redemption, Revocation,
    Rotation, Store, StoreError, UserChange, SLOW_DOWN_SECONDS,
};

/// Every call yields to the scheduler first, as a request to DynamoDB does:
/// concurrent requests then interleave at their store calls as they do
/// against DynamoDB (all read before any writes, say), so that races a
/// conditional write must decide are raced here too, not run one after the
/// other.
async fn round_trip() {
    tokio::task::yield_now().await;
}

/// DynamoDB refuses a write naming a key longer than it can store (a
/// `ValidationException`, which the DynamoDB store reports as unavailable):
/// so does this store. (Reads of such keys find nothing in both.)
fn writable<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Result<(), StoreError> {
    match keys.into_iter().find(|key| !key.is_storable()) {
        Some(key) => Err(StoreError::Unavailable(format!(
            "ValidationException: a {} key is longer than DynamoDB's {} bytes",
            key.kind(),
            crate::store::MAX_PARTITION_KEY_BYTES
        ))),
        None => Ok(()),
    }
}

/// One stored item, with what the DynamoDB store keeps beside the model.
#[derive(Clone)]
struct Stored {
    item: Item,
    /// For a spent refresh token (or a redeemed code): the refresh token it
    /// was exchanged for.
    rotated_to: Option<String>,
    /// For a client: (window, checks) of its slow secret.
    secret_checks: Option<(u64, u32)>,
}

/// Clients, users, families and tokens in a map, behind one lock.
pub struct MemoryStore {
    items: Mutex<HashMap<Key, Stored>>,
    clock: SharedClock,
}

impl MemoryStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            items: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Stored>> {
        // Every write completes under the lock; a poisoned map is whole.
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether an item is kept under `key`, live or expired (TTL has not
    /// deleted it): for tests of what is stored.
    pub fn holds(&self, key: &Key) -> bool {
        self.lock().contains_key(key)
    }

    /// Everything stored, live or expired, as text: for tests that nothing
    /// is kept in clear.
    pub fn dump(&self) -> String {
        let items = self.lock();
        items.values().map(|s| format!("{:?}\n", s.item)).collect()
    }

    fn live(&self, stored: &Stored) -> bool {
        let now = self.clock.now();
        match &stored.item {
            Item::Token(t) => t.expires_at > now,
            Item::Family(f) => f.expires_at > now,
            Item::Code(c) => c.expires_at > now,
            Item::Session(x) => x.expires_at > now,
            Item::SignInAttempts(a) => a.expires_at > now,
            Item::Device(d) => d.expires_at > now,
            Item::UserCode(u) => u.expires_at > now,
            Item::Client(c) => c.is_live(now),
            Item::User(_) | Item::Consent(_) | Item::SigningKeys(_) => true,
        }
    }
}

fn stored(item: Item) -> Stored {
    Stored {
        item,
        rotated_to: None,
        secret_checks: None,
    }
}

/// Whether `client` registered itself with the registration access token
/// of hash `token_hash` and is live at `now`.
fn registered_with(client: &Client, token_hash: &str, now: u64) -> bool {
    matches!(&client.registration, Registration::Dynamic { access_token_hash, .. } if access_token_hash == token_hash)
        && client.is_live(now)
}

fn token_key(token: &Token) -> Key {
    Key::Token(token.token_hash.clone())
}

/// The keys a new grant writes: its family and its tokens.
fn grant_keys(family: &Family, tokens: &[Token]) -> Vec<Key> {
    std::iter::once(Key::Family(family.family_id.clone()))
        .chain(tokens.iter().map(token_key))
        .collect()
}

impl Store for MemoryStore {
    async fn load(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        round_trip().await;
        let items = self.lock();
        Ok(keys
            .iter()
            .map(|key| {
                let item = items.get(key).filter(|s| self.live(s)).map(|s| s.item.clone());
                match item {
                    Some(Item::SigningKeys(keys)) => {
                        Some(Item::SigningKeys(keys.published_only(self.clock.now())))
                    }
                    other => other,
                }
            })
            .collect())
    }

    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        round_trip().await;
        writable([&token_key(token)])?;
        let mut items = self.lock();
        if items.contains_key(&token_key(token)) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(token_key(token), stored(Item::Token(token.clone())));
        Ok(())
    }

    async fn put_grant(&self, family: &Family, tokens: &[Token]) -> Result<(), StoreError> {
        round_trip().await;
        writable(grant_keys(family, tokens).iter())?;
        let mut items = self.lock();
        let family_key = Key::Family(family.family_id.clone());
        if items.contains_key(&family_key) || tokens.iter().any(|t| items.contains_key(&token_key(t))) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(family_key, stored(Item::Family(family.clone())));
        for token in tokens {
            items.insert(token_key(token), stored(Item::Token(token.clone())));
        }
        Ok(())
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
        round_trip().await;
        let mut keys = grant_keys(family, tokens);
        keys.push(Key::Token(old_hash.to_owned()));
        keys.extend(revoked_access_hash.map(|h| Key::Token(h.to_owned())));
        writable(keys.iter())?;
        let mut items = self.lock();
        let next = new_refresh_hash(tokens)?;
        let old_key = Key::Token(old_hash.to_owned());
        match items.get(&old_key) {
            Some(Stored {
                item: Item::Token(old),
                rotated_to,
                ..
            }) if old.rotated_at.is_some() || old.expires_at <= now => {
                let ours = rotated_to.as_deref() == Some(next.as_str());
                return Ok(if ours {
                    Rotation::Rotated
                } else {
                    Rotation::AlreadyRotated
                });
            }
            Some(Stored {
                item: Item::Token(_), ..
            }) => {}
            _ => return Ok(Rotation::AlreadyRotated),
        }
        let family_key = Key::Family(family.family_id.clone());
        let Some(Stored {
            item: Item::Family(current),
            ..
        }) = items.get(&family_key)
        else {
            return Ok(Rotation::FamilyRevoked);
        };
        if current.revoked {
            return Ok(Rotation::FamilyRevoked);
        }
        if tokens.iter().any(|t| items.contains_key(&token_key(t))) {
            return Err(StoreError::Unavailable("a new token's key is taken".into()));
        }
        let current = Family {
            expires_at: family.expires_at,
            successor: successor.map(str::to_owned),
            ..current.clone()
        };
        items.insert(family_key, stored(Item::Family(current)));
        if let Some(Stored {
            item: Item::Token(old),
            rotated_to,
            ..
        }) = items.get_mut(&old_key)
        {
            old.rotated_at = Some(now);
            *rotated_to = Some(next);
        }
        for token in tokens {
            items.insert(token_key(token), stored(Item::Token(token.clone())));
        }
        if let Some(hash) = revoked_access_hash {
            items.remove(&Key::Token(hash.to_owned()));
        }
        Ok(Rotation::Rotated)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::Family(family_id.to_owned())])?;
        if let Some(Stored {
            item: Item::Family(f),
            ..
        }) = self.lock().get_mut(&Key::Family(family_id.to_owned()))
        {
            f.revoked = true;
        }
        Ok(())
    }

    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Revocation, StoreError> {
        round_trip().await;
        writable([&Key::Token(token_hash.to_owned())])?;
        let mut items = self.lock();
        let key = Key::Token(token_hash.to_owned());
        let now = self.clock.now();
        let (owner, live, family_id) = match items.get(&key) {
            Some(Stored {
                item: Item::Token(t), ..
            }) => (t.client_id == client_id, t.expires_at > now, t.family_id.clone()),
            _ => return Ok(Revocation::NotFound),
        };
        if live && !owner {
            return Ok(Revocation::NotOwner);
        }
        items.remove(&key);
        Ok(if live {
            Revocation::Revoked { family_id }
        } else {
            Revocation::NotFound
        })
    }

    async fn claim_secret_check(&self, client_id: &str, window: u64, limit: u32) -> Result<bool, StoreError> {
        round_trip().await;
        writable([&Key::Client(client_id.to_owned())])?;
        let mut items = self.lock();
        let Some(client) = items.get_mut(&Key::Client(client_id.to_owned())) else {
            return Ok(false);
        };
        let checks = match client.secret_checks {
            Some((w, n)) if w == window && n >= limit => return Ok(false),
            Some((w, n)) if w == window => n + 1,
            Some((w, _)) if w > window => return Ok(false),
            _ => 1,
        };
        client.secret_checks = Some((window, checks));
        Ok(true)
    }

    async fn rehash_client_secret(
        &self,
        client_id: &str,
        verified: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        round_trip().await;
        writable([&Key::Client(client_id.to_owned())])?;
        match self.lock().get_mut(&Key::Client(client_id.to_owned())) {
            Some(Stored {
                item: Item::Client(c),
                ..
            }) => match &mut c.auth {
                ClientAuth::Confidential { secret_hash } if secret_hash == verified => {
                    *secret_hash = sha256.to_owned();
                    Ok(true)
                }
                _ => Ok(false),
            },
            _ => Ok(false),
        }
    }

    async fn register_client(&self, client: &Client) -> Result<(), StoreError> {
        self.create_client(client).await
    }

    async fn replace_registered_client(
        &self,
        client: &Client,
        token_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        round_trip().await;
        let key = Key::Client(client.client_id.clone());
        writable([&key])?;
        let mut items = self.lock();
        match items.get(&key) {
            // As DynamoDB's condition: the token's hash, and not yet expired.
            Some(Stored {
                item: Item::Client(current),
                ..
            }) if registered_with(current, token_hash, now) => {
                items.insert(key, stored(Item::Client(client.clone())));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_metadata_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        round_trip().await;
        let key = Key::Client(client.client_id.clone());
        writable([&key])?;
        let mut items = self.lock();
        // As DynamoDB's condition: no item, or an enabled metadata
        // document's (an expired one still holds its key until TTL).
        let replaceable = match items.get(&key) {
            None => true,
            Some(Stored {
                item: Item::Client(current),
                ..
            }) => current.is_from_metadata_document() && !current.disabled,
            Some(_) => false,
        };
        if replaceable {
            items.insert(key, stored(Item::Client(client.clone())));
        }
        Ok(replaceable)
    }

    async fn delete_registered_client(&self, client_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        round_trip().await;
        let key = Key::Client(client_id.to_owned());
        writable([&key])?;
        let mut items = self.lock();
        match items.get(&key) {
            // DynamoDB's condition names no time: an expired one goes too.
            Some(Stored {
                item: Item::Client(current),
                ..
            }) if registered_with(current, token_hash, 0) => {
                items.remove(&key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn renew_registered_client(
        &self,
        client_id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        round_trip().await;
        let key = Key::Client(client_id.to_owned());
        writable([&key])?;
        if let Some(Stored {
            item: Item::Client(c),
            ..
        }) = self.lock().get_mut(&key)
        {
            if let Registration::Dynamic { expires_at: at, .. }
            | Registration::MetadataDocument { expires_at: at, .. } = &mut c.registration
            {
                if *at > now && !c.disabled {
                    *at = expires_at;
                }
            }
        }
        Ok(())
    }

    async fn rehash_password(&self, username: &str, verified: &str, new: &str) -> Result<bool, StoreError> {
        round_trip().await;
        writable([&Key::User(username.to_owned())])?;
        match self.lock().get_mut(&Key::User(username.to_owned())) {
            Some(Stored {
                item: Item::User(u), ..
            }) if u.password_hash == verified => {
                u.password_hash = new.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::Code(code.code_hash.clone())])?;
        let mut items = self.lock();
        let key = Key::Code(code.code_hash.clone());
        if items.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(key, stored(Item::Code(code.clone())));
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Redemption, StoreError> {
        round_trip().await;
        let mut keys = grant_keys(family, tokens);
        keys.push(Key::Code(code_hash.to_owned()));
        writable(keys.iter())?;
        let mut items = self.lock();
        let next = new_refresh_hash(tokens)?;
        let key = Key::Code(code_hash.to_owned());
        match items.get(&key) {
            Some(Stored {
                item: Item::Code(code),
                rotated_to,
                ..
            }) if code.redeemed_at.is_some() => {
                return Ok(if rotated_to.as_deref() == Some(next.as_str()) {
                    Redemption::Redeemed
                } else {
                    Redemption::Replayed {
                        family_id: code.family_id.clone(),
                    }
                });
            }
            Some(Stored {
                item: Item::Code(code),
                ..
            }) if code.expires_at > now => {}
            _ => return Ok(Redemption::NotFound),
        }
        let family_key = Key::Family(family.family_id.clone());
        if items.contains_key(&family_key) || tokens.iter().any(|t| items.contains_key(&token_key(t))) {
            return Err(StoreError::Unavailable("a new key is taken".into()));
        }
        if let Some(Stored {
            item: Item::Code(code),
            rotated_to,
            ..
        }) = items.get_mut(&key)
        {
            code.redeemed_at = Some(now);
            code.expires_at = family.expires_at;
            *rotated_to = Some(next);
        }
        items.insert(family_key, stored(Item::Family(family.clone())));
        for token in tokens {
            items.insert(token_key(token), stored(Item::Token(token.clone())));
        }
        Ok(Redemption::Redeemed)
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::Session(session.session_hash.clone())])?;
        let mut items = self.lock();
        let key = Key::Session(session.session_hash.clone());
        if items.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(key, stored(Item::Session(session.clone())));
        Ok(())
    }

    async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::Session(session_hash.to_owned())])?;
        self.lock().remove(&Key::Session(session_hash.to_owned()));
        Ok(())
    }

    async fn put_signing_keys(&self, keys: &SigningKeys) -> Result<bool, StoreError> {
        round_trip().await;
        let mut items = self.lock();
        let stored_version = match items.get(&Key::SigningKeys) {
            Some(Stored {
                item: Item::SigningKeys(stored),
                ..
            }) => stored.version,
            _ => 0,
        };
        if stored_version != keys.version {
            return Ok(false);
        }
        let next = SigningKeys {
            keys: keys.keys.clone(),
            version: keys.version + 1,
        };
        items.insert(Key::SigningKeys, stored(Item::SigningKeys(next)));
        Ok(true)
    }

    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        round_trip().await;
        let key = Key::Consent {
            username: consent.username.clone(),
            client_id: consent.client_id.clone(),
        };
        writable([&key])?;
        self.lock().insert(key, stored(Item::Consent(consent.clone())));
        Ok(())
    }

    async fn reserve_attempt(
        &self,
        who: &AttemptsOf,
        limit: u32,
        window_seconds: u64,
        now: u64,
    ) -> Result<Attempt, StoreError> {
        round_trip().await;
        let key = Key::SignInAttempts(who.clone());
        writable([&key])?;
        let mut items = self.lock();
        if let Some(Stored {
            item: Item::SignInAttempts(window),
            ..
        }) = items.get_mut(&key)
        {
            if window.expires_at > now {
                if window.reserved < limit {
                    window.reserved += 1;
                    return Ok(Attempt::Granted);
                }
                return Ok(if window.failures >= limit {
                    Attempt::Locked
                } else {
                    Attempt::Busy
                });
            }
        }
        let opened = SignInAttempts {
            reserved: 1,
            failures: 0,
            expires_at: now + window_seconds,
        };
        items.insert(key, stored(Item::SignInAttempts(opened)));
        Ok(Attempt::Granted)
    }

    async fn record_failed_attempt(&self, who: &AttemptsOf, now: u64) -> Result<u32, StoreError> {
        round_trip().await;
        let key = Key::SignInAttempts(who.clone());
        writable([&key])?;
        match self.lock().get_mut(&key) {
            Some(Stored {
                item: Item::SignInAttempts(window),
                ..
            }) if window.expires_at > now => {
                window.failures += 1;
                Ok(window.failures)
            }
            _ => Ok(0),
        }
    }

    async fn clear_attempts(&self, who: &AttemptsOf) -> Result<(), StoreError> {
        round_trip().await;
        let key = Key::SignInAttempts(who.clone());
        writable([&key])?;
        self.lock().remove(&key);
        Ok(())
    }

    async fn put_device_authorization(&self, device: &DeviceAuthorization) -> Result<(), StoreError> {
        round_trip().await;
        let device_key = Key::Device(device.device_code_hash.clone());
        let code_key = Key::UserCode(device.user_code_hash.clone());
        writable([&device_key, &code_key])?;
        let mut items = self.lock();
        // As DynamoDB's transaction: each put if absent (an expired item
        // still holds its key until TTL), both or neither.
        if items.contains_key(&device_key) || items.contains_key(&code_key) {
            return Err(StoreError::AlreadyExists);
        }
        let user_code = UserCode {
            user_code_hash: device.user_code_hash.clone(),
            device_code_hash: device.device_code_hash.clone(),
            expires_at: device.usable_until,
        };
        items.insert(device_key, stored(Item::Device(device.clone())));
        items.insert(code_key, stored(Item::UserCode(user_code)));
        Ok(())
    }

    async fn poll_device(&self, device_code_hash: &str, now: u64) -> Result<Poll, StoreError> {
        round_trip().await;
        let key = Key::Device(device_code_hash.to_owned());
        writable([&key])?;
        match self.lock().get_mut(&key) {
            Some(Stored {
                item: Item::Device(device),
                ..
            }) if device.expires_at > now => Ok(match device.status {
                DeviceStatus::Pending if device.next_poll_at <= now => {
                    device.next_poll_at = now + device.interval;
                    Poll::Pending
                }
                DeviceStatus::Pending => {
                    device.interval += SLOW_DOWN_SECONDS;
                    device.next_poll_at = now + device.interval;
                    Poll::SlowDown
                }
                decided => Poll::Decided(decided),
            }),
            _ => Ok(Poll::NotFound),
        }
    }

    async fn decide_device(
        &self,
        device_code_hash: &str,
        code: Option<&AuthorizationCode>,
        now: u64,
    ) -> Result<bool, StoreError> {
        round_trip().await;
        let key = Key::Device(device_code_hash.to_owned());
        let mut keys = vec![key.clone()];
        keys.extend(code.map(|c| Key::Code(c.code_hash.clone())));
        writable(&keys)?;
        let mut items = self.lock();
        let pending = matches!(
            items.get(&key),
            Some(Stored { item: Item::Device(d), .. })
                if d.status == DeviceStatus::Pending && d.usable_until > now
        );
        let code_free = code.is_none_or(|c| !items.contains_key(&Key::Code(c.code_hash.clone())));
        if !(pending && code_free) {
            return Ok(false);
        }
        if let Some(Stored {
            item: Item::Device(device),
            ..
        }) = items.get_mut(&key)
        {
            device.status = match code {
                Some(_) => DeviceStatus::Approved,
                None => DeviceStatus::Denied,
            };
        }
        if let Some(code) = code {
            items.insert(
                Key::Code(code.code_hash.clone()),
                stored(Item::Code(code.clone())),
            );
        }
        Ok(true)
    }
}

impl AdminStore for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::Client(client.client_id.clone())])?;
        let mut items = self.lock();
        let key = Key::Client(client.client_id.clone());
        if items.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(key, stored(Item::Client(client.clone())));
        Ok(())
    }

    async fn update_client(
        &self,
        client_id: &str,
        change: ClientChange,
    ) -> Result<Option<Client>, StoreError> {
        round_trip().await;
        writable([&Key::Client(client_id.to_owned())])?;
        let mut items = self.lock();
        let Some(Stored {
            item: Item::Client(c),
            ..
        }) = items.get_mut(&Key::Client(client_id.to_owned()))
        else {
            return Ok(None);
        };
        match change {
            ClientChange::Disable => {
                c.disabled = true;
                if let Registration::MetadataDocument { expires_at, .. } = &mut c.registration {
                    *expires_at = NEVER;
                }
            }
            ClientChange::Enable { document_expires_at } => {
                c.disabled = false;
                if let Registration::MetadataDocument {
                    fresh_until,
                    expires_at,
                } = &mut c.registration
                {
                    *fresh_until = 0;
                    *expires_at = document_expires_at;
                }
            }
            // As on DynamoDB, where a public client stays public.
            ClientChange::SecretHash(hash) => {
                if let ClientAuth::Confidential { secret_hash } = &mut c.auth {
                    *secret_hash = hash;
                }
            }
        }
        Ok(Some(c.clone()))
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        round_trip().await;
        writable([&Key::Client(client_id.to_owned())])?;
        Ok(self.lock().remove(&Key::Client(client_id.to_owned())).is_some())
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        round_trip().await;
        let mut clients: Vec<Client> = self
            .lock()
            .values()
            .filter(|s| self.live(s))
            .filter_map(|s| match &s.item {
                Item::Client(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        clients.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(clients)
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        round_trip().await;
        writable([&Key::User(user.username.clone())])?;
        let mut items = self.lock();
        let key = Key::User(user.username.clone());
        if items.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(key, stored(Item::User(user.clone())));
        Ok(())
    }

    async fn update_user(&self, username: &str, change: UserChange) -> Result<Option<User>, StoreError> {
        round_trip().await;
        writable([&Key::User(username.to_owned())])?;
        let new_key =
            || generate_id().map_err(|_| StoreError::Unavailable("the OS random source failed".into()));
        let mut items = self.lock();
        let Some(Stored {
            item: Item::User(u), ..
        }) = items.get_mut(&Key::User(username.to_owned()))
        else {
            return Ok(None);
        };
        // As the DynamoDB store: disabling, a new password and revoking
        // grants each give the user a new grants key.
        match change {
            UserChange::Disabled(true) => {
                u.disabled = true;
                u.grants_key = new_key()?;
            }
            UserChange::Disabled(false) => u.disabled = false,
            UserChange::PasswordHash(hash) => {
                u.password_hash = hash;
                u.grants_key = new_key()?;
            }
            UserChange::RevokeGrants => u.grants_key = new_key()?,
            UserChange::Profile(profile) => u.profile = profile,
        }
        Ok(Some(u.clone()))
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        round_trip().await;
        writable([&Key::User(username.to_owned())])?;
        Ok(self.lock().remove(&Key::User(username.to_owned())).is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::Value;

    use super::*;
    use crate::admin::{self, NewClient};
    use crate::clock::ManualClock;
    use crate::config::ServiceConfig;
    use crate::model::GrantType;
    use crate::scope::parse_scope;
    use crate::service::TokenService;

    fn service() -> (TokenService<MemoryStore>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let config = ServiceConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some("memory".into()),
            "ISSUER" => Some("https://auth.example.test".into()),
            "PASSWORD_HASH_ITERATIONS" => Some("1000".into()),
            _ => None,
        })
        .unwrap();
        let shared: SharedClock = clock.clone();
        (
            TokenService::new(config, MemoryStore::new(shared.clone()), shared),
            clock,
        )
    }

    async fn post(
        service: &TokenService<MemoryStore>,
        path: &str,
        basic: &(String, String),
        body: &str,
    ) -> (u16, Value) {
        let credentials = STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let request = http::Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {credentials}"))
            .body(body.as_bytes().to_vec())
            .unwrap();
        let response = service.handle(request).await;
        (
            response.status().as_u16(),
            serde_json::from_str(response.body()).unwrap_or(Value::Null),
        )
    }

    async fn register(
        service: &TokenService<MemoryStore>,
        grants: &[GrantType],
        scope: &str,
    ) -> (String, String) {
        let new = NewClient {
            name: "app".into(),
            grants: grants.iter().copied().collect(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: parse_scope("").unwrap(),
            token_lifetime: None,
            redirect_uris: Vec::new(),
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: crate::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        };
        let (client, secret) = admin::create_client(service.store(), new, 0).await.unwrap();
        (client.client_id, secret.unwrap())
    }

    /// The whole token service runs over the in-memory store as over
    /// DynamoDB: issuance, introspection, expiry, revocation, rotation and
    /// reuse detection, with no DynamoDB at all.
    #[tokio::test]
    async fn the_token_service_runs_over_it() {
        let (service, clock) = service();
        let app = register(
            &service,
            &[GrantType::ClientCredentials, GrantType::Password],
            "read",
        )
        .await;
        let rs = register(&service, &[GrantType::ClientCredentials], "introspection").await;
        admin::create_user(service.store(), "ann", "pw", 1000, 0)
            .await
            .unwrap();

        let (status, issued) = post(&service, "/o/token/", &app, "grant_type=client_credentials").await;
        assert_eq!(status, 200);
        let token = issued["access_token"].as_str().unwrap().to_owned();
        let introspect = |t: &str| format!("token={t}");
        assert_eq!(
            post(&service, "/o/introspect/", &rs, &introspect(&token)).await.1["active"],
            true
        );
        assert_eq!(
            post(&service, "/o/revoke_token/", &app, &introspect(&token))
                .await
                .0,
            200
        );
        assert_eq!(
            post(&service, "/o/introspect/", &rs, &introspect(&token)).await.1["active"],
            false
        );

        let (_, pair) = post(
            &service,
            "/o/token/",
            &app,
            "grant_type=password&username=ann&password=pw",
        )
        .await;
        let first = pair["refresh_token"].as_str().unwrap().to_owned();
        let refresh = |t: &str| format!("grant_type=refresh_token&refresh_token={t}");
        let (status, rotated) = post(&service, "/o/token/", &app, &refresh(&first)).await;
        assert_eq!(status, 200);
        let access = rotated["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            post(&service, "/o/introspect/", &rs, &introspect(&access))
                .await
                .1["active"],
            true
        );
        // Reuse of the spent token revokes the family.
        assert_eq!(post(&service, "/o/token/", &app, &refresh(&first)).await.0, 400);
        assert_eq!(
            post(&service, "/o/introspect/", &rs, &introspect(&access))
                .await
                .1["active"],
            false
        );

        // Expired tokens read as absent.
        let (_, issued) = post(&service, "/o/token/", &app, "grant_type=client_credentials").await;
        clock.advance(3600);
        let token = issued["access_token"].as_str().unwrap();
        assert_eq!(
            post(&service, "/o/introspect/", &rs, &introspect(token)).await.1["active"],
            false
        );
    }
}
