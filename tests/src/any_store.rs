//! The store a test runs over, chosen by `TEST_STORE`: `memory` (the
//! default, so that a plain `cargo test` needs nothing installed) or
//! `dynamodb` (DynamoDB Local, which `scripts/test` starts). The request-path
//! suite is written once against [`AnyStore`] and runs over both; the store
//! contract suite (`tests/tests/store_contract.rs`) holds the two to the
//! same behaviour.

use std::sync::Arc;

use shared::model::{AuthorizationCode, Client, Consent, Family, Session, Token, User};
use shared::store::{
    AdminStore, Attempt, AttemptsOf, ClientChange, Item, Key, Poll, Redemption, Revocation, Rotation, Store,
    StoreError, UserChange,
};
use shared::{DynamoStore, MemoryStore};

/// Which store the tests of this run use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`MemoryStore`]: no DynamoDB at all.
    Memory,
    /// [`DynamoStore`] on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`).
    DynamoDb,
}

impl Backend {
    /// The backend `TEST_STORE` names; a value that names none stops the run.
    pub fn from_env() -> Self {
        match std::env::var("TEST_STORE").as_deref() {
            Err(_) | Ok("") | Ok("memory") => Backend::Memory,
            Ok("dynamodb") => Backend::DynamoDb,
            Ok(other) => panic!("TEST_STORE={other:?} names no store: use memory or dynamodb"),
        }
    }
}

/// A [`MemoryStore`] (shared by the service and the test's administrator)
/// or a [`DynamoStore`].
#[derive(Clone)]
pub enum AnyStore {
    /// In memory.
    Memory(Arc<MemoryStore>),
    /// On DynamoDB Local.
    Dynamo(DynamoStore),
}

macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call,
            AnyStore::Dynamo($store) => $call,
        }
    };
}

impl Store for AnyStore {
    async fn load(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        each!(self, s => s.load(keys).await)
    }
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        each!(self, s => s.put_token(token).await)
    }
    async fn put_grant(&self, family: &Family, tokens: &[Token]) -> Result<(), StoreError> {
        each!(self, s => s.put_grant(family, tokens).await)
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
        each!(self, s => s.rotate_refresh(old_hash, successor, revoked_access_hash, family, tokens, now).await)
    }
    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        each!(self, s => s.revoke_family(family_id).await)
    }
    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Revocation, StoreError> {
        each!(self, s => s.revoke_token(token_hash, client_id).await)
    }
    async fn claim_secret_check(&self, client_id: &str, window: u64, limit: u32) -> Result<bool, StoreError> {
        each!(self, s => s.claim_secret_check(client_id, window, limit).await)
    }
    async fn rehash_client_secret(
        &self,
        client_id: &str,
        verified: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.rehash_client_secret(client_id, verified, sha256).await)
    }
    async fn rehash_password(&self, username: &str, verified: &str, new: &str) -> Result<bool, StoreError> {
        each!(self, s => s.rehash_password(username, verified, new).await)
    }
    async fn register_client(&self, client: &Client) -> Result<(), StoreError> {
        each!(self, s => s.register_client(client).await)
    }
    async fn put_metadata_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        each!(self, s => s.put_metadata_document_client(client).await)
    }
    async fn replace_registered_client(
        &self,
        client: &Client,
        token_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.replace_registered_client(client, token_hash, now).await)
    }
    async fn delete_registered_client(&self, client_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        each!(self, s => s.delete_registered_client(client_id, token_hash).await)
    }
    async fn renew_registered_client(
        &self,
        client_id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        each!(self, s => s.renew_registered_client(client_id, expires_at, now).await)
    }
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        each!(self, s => s.put_code(code).await)
    }
    async fn redeem_code(
        &self,
        code_hash: &str,
        family: &Family,
        tokens: &[Token],
        now: u64,
    ) -> Result<Redemption, StoreError> {
        each!(self, s => s.redeem_code(code_hash, family, tokens, now).await)
    }
    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        each!(self, s => s.put_session(session).await)
    }
    async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        each!(self, s => s.delete_session(session_hash).await)
    }
    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        each!(self, s => s.put_consent(consent).await)
    }
    async fn put_signing_keys(&self, keys: &shared::model::SigningKeys) -> Result<bool, StoreError> {
        each!(self, s => s.put_signing_keys(keys).await)
    }
    async fn reserve_attempt(
        &self,
        who: &AttemptsOf,
        limit: u32,
        window_seconds: u64,
        now: u64,
    ) -> Result<Attempt, StoreError> {
        each!(self, s => s.reserve_attempt(who, limit, window_seconds, now).await)
    }
    async fn record_failed_attempt(&self, who: &AttemptsOf, now: u64) -> Result<u32, StoreError> {
        each!(self, s => s.record_failed_attempt(who, now).await)
    }
    async fn clear_attempts(&self, who: &AttemptsOf) -> Result<(), StoreError> {
        each!(self, s => s.clear_attempts(who).await)
    }
    async fn put_device_authorization(
        &self,
        device: &shared::model::DeviceAuthorization,
    ) -> Result<(), StoreError> {
        each!(self, s => s.put_device_authorization(device).await)
    }
    async fn poll_device(&self, device_code_hash: &str, now: u64) -> Result<Poll, StoreError> {
        each!(self, s => s.poll_device(device_code_hash, now).await)
    }
    async fn decide_device(
        &self,
        device_code_hash: &str,
        code: Option<&AuthorizationCode>,
        now: u64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.decide_device(device_code_hash, code, now).await)
    }
}

impl AdminStore for AnyStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        each!(self, s => s.create_client(client).await)
    }
    async fn update_client(
        &self,
        client_id: &str,
        change: ClientChange,
    ) -> Result<Option<Client>, StoreError> {
        each!(self, s => s.update_client(client_id, change).await)
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        each!(self, s => s.delete_client(client_id).await)
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        each!(self, s => s.list_clients().await)
    }
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        each!(self, s => s.create_user(user).await)
    }
    async fn update_user(&self, username: &str, change: UserChange) -> Result<Option<User>, StoreError> {
        each!(self, s => s.update_user(username, change).await)
    }
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        each!(self, s => s.delete_user(username).await)
    }
}
