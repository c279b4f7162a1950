//! The keys that sign ID tokens: sealed before they are stored, opened
//! once per container, cached, rotated without an outage.
//!
//! Where they live, and why (`docs/oidc.md`, "Signing keys"): in the table,
//! each private key encrypted by KMS (or, standalone, under a configured
//! secret). The token service opens the signing key with one `kms:Decrypt`
//! per container and signs locally, so a token costs no KMS call; only
//! the token service's role may decrypt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::jose::{KeyError, RsaSigner};
use crate::model::{SealedKey, SigningKey, SigningKeys};
use crate::store::{Store, StoreError};

/// The AWS KMS client.
#[cfg(feature = "dynamodb")]
pub use aws_sdk_kms::Client as KmsClient;

/// How long a container uses the key set it read before reading it again:
/// what a rotation or a retirement takes to reach every warm container.
pub const KEY_SET_REFRESH_SECONDS: u64 = 300;

/// API Gateway's JWT authorizer keeps a JWKS for up to two hours (its
/// HTTP APIs; one hour, its REST APIs), and every warm token service reads
/// the key set again within [`KEY_SET_REFRESH_SECONDS`]: a new key is
/// published this long before it signs, by default.
pub const DEFAULT_PUBLISH_AHEAD_SECONDS: u64 = 2 * 3600 + 15 * 60;

/// How a rotation schedules the new key and the ones it supersedes.
#[derive(Debug, Clone, Copy)]
pub struct RotationSchedule {
    /// How long the new key is published before it signs.
    pub publish_ahead: u64,
    /// How long a superseded key stays published after it stops signing:
    /// at least the longest lifetime of what it signs (ID tokens: 10 hours
    /// by default). Tokens are never given an `exp` past it anyway.
    pub keep_published: u64,
}

/// The service rotating its own signing key (`SIGNING_KEY_ROTATION_DAYS`):
/// when the newest key is `every` seconds old, the first container to read
/// the key set publishes a successor on `schedule`; the others, reading the
/// changed set, find nothing due. No scheduler, no other role.
#[derive(Debug, Clone, Copy)]
pub struct AutomaticRotation {
    /// The age of the newest key that makes a rotation due.
    pub every: u64,
    /// How the successor is scheduled.
    pub schedule: RotationSchedule,
}

impl AutomaticRotation {
    /// The rotation `config` asks for, if any: the default publication
    /// ahead, the old key kept as long as an ID token lives.
    pub fn for_config(config: &crate::config::ServiceConfig) -> Option<Self> {
        config.signing_key_rotation_seconds.map(|every| Self {
            every,
            schedule: RotationSchedule {
                publish_ahead: DEFAULT_PUBLISH_AHEAD_SECONDS,
                keep_published: config.id_token_expire_seconds,
            },
        })
    }

    fn is_due(&self, keys: &SigningKeys, now: u64) -> bool {
        keys.published(now)
            .map(|k| k.created_at)
            .max()
            .is_some_and(|newest| now >= newest.saturating_add(self.every))
    }
}

/// What seals and opens private keys.
pub enum Sealer {
    /// ChaCha20-Poly1305 under a 256-bit secret (`SIGNING_KEY_SECRET`).
    Secret(Box<ChaCha20Poly1305>),
    /// AWS KMS, under the key `key_id` (`SIGNING_KEY_KMS_KEY_ID`).
    #[cfg(feature = "dynamodb")]
    Kms {
        /// The KMS client.
        client: aws_sdk_kms::Client,
        /// The key that seals new keys.
        key_id: String,
    },
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sealer::Secret(_) => f.write_str("Sealer::Secret"),
            #[cfg(feature = "dynamodb")]
            Sealer::Kms { key_id, .. } => write!(f, "Sealer::Kms({key_id})"),
        }
    }
}

/// What authenticated encryption binds a sealed key to: its `kid`, so that
/// a sealed key moved under another key's name does not open.
fn context(kid: &str) -> String {
    format!("oauth-lambda signing key {kid}")
}

impl Sealer {
    /// A sealer under `secret`.
    pub fn secret(secret: &[u8; 32]) -> Self {
        Sealer::Secret(Box::new(ChaCha20Poly1305::new(Key::from_slice(secret))))
    }

    /// The sealer `sealing` names; KMS through `kms`.
    #[cfg(feature = "dynamodb")]
    pub fn for_config(sealing: &crate::config::KeySealing, kms: impl FnOnce() -> KmsClient) -> Self {
        match sealing {
            crate::config::KeySealing::Secret(secret) => Sealer::secret(secret),
            crate::config::KeySealing::Kms { key_id } => Sealer::Kms {
                client: kms(),
                key_id: key_id.clone(),
            },
        }
    }

    /// Seals the PKCS#8 encoding of key `kid`.
    pub async fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<SealedKey, KeyError> {
        match self {
            Sealer::Secret(cipher) => {
                let mut nonce = [0u8; 12];
                getrandom::fill(&mut nonce).map_err(|_| KeyError("the random source failed"))?;
                let aad = context(kid);
                let sealed = cipher
                    .encrypt(
                        Nonce::from_slice(&nonce),
                        Payload {
                            msg: pkcs8,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| KeyError("sealing the key failed"))?;
                let mut out = nonce.to_vec();
                out.extend_from_slice(&sealed);
                Ok(SealedKey::Secret {
                    ciphertext: STANDARD.encode(out),
                })
            }
            #[cfg(feature = "dynamodb")]
            Sealer::Kms { client, key_id } => {
                let out = client
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(aws_sdk_kms::primitives::Blob::new(pkcs8))
                    .encryption_context("purpose", context(kid))
                    .send()
                    .await
                    .map_err(|e| kms_error("kms:Encrypt", e))?;
                let blob = out
                    .ciphertext_blob()
                    .ok_or(KeyError("KMS returned no ciphertext"))?;
                Ok(SealedKey::Kms {
                    key_id: out.key_id().unwrap_or(key_id).to_owned(),
                    ciphertext: STANDARD.encode(blob.as_ref()),
                })
            }
        }
    }

    /// Opens the sealed private key of `kid`.
    pub async fn open(&self, kid: &str, sealed: &SealedKey) -> Result<RsaSigner, KeyError> {
        let pkcs8 = match (self, sealed) {
            (Sealer::Secret(cipher), SealedKey::Secret { ciphertext }) => {
                let bytes = STANDARD
                    .decode(ciphertext)
                    .map_err(|_| KeyError("a sealed key is not base64"))?;
                if bytes.len() < 12 {
                    return Err(KeyError("a sealed key is too short"));
                }
                let (nonce, ciphertext) = bytes.split_at(12);
                let aad = context(kid);
                cipher
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| KeyError("a signing key does not open under SIGNING_KEY_SECRET"))?
            }
            #[cfg(feature = "dynamodb")]
            (Sealer::Kms { client, .. }, SealedKey::Kms { key_id, ciphertext }) => {
                let blob = STANDARD
                    .decode(ciphertext)
                    .map_err(|_| KeyError("a sealed key is not base64"))?;
                let out = client
                    .decrypt()
                    // The key that sealed it, which may be an older one than today's.
                    .key_id(key_id)
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
                    .encryption_context("purpose", context(kid))
                    .send()
                    .await
                    .map_err(|e| kms_error("kms:Decrypt", e))?;
                out.plaintext()
                    .ok_or(KeyError("KMS returned no plaintext"))?
                    .as_ref()
                    .to_vec()
            }
            _ => {
                return Err(KeyError(
                    "a signing key is sealed another way than this service is configured for",
                ))
            }
        };
        let signer = RsaSigner::from_pkcs8(&pkcs8);
        // The private key in clear lives no longer than it must.
        drop(zeroed(pkcs8));
        signer
    }

    /// The key of a PEM file (another server's, django-oauth-toolkit's
    /// `OIDC_RSA_PRIVATE_KEY`), sealed, not yet scheduled. Its `kid` is its
    /// RFC 7638 thumbprint, as DOT's is.
    pub async fn import_pem(&self, pem: &str) -> Result<SigningKey, KeyError> {
        let (signer, pkcs8) = RsaSigner::from_pem(pem)?;
        let public = signer.public_jwk();
        let kid = public.thumbprint();
        let sealed = self.seal(&kid, &pkcs8).await;
        drop(zeroed(pkcs8));
        Ok(SigningKey {
            kid,
            public,
            sealed: sealed?,
            created_at: 0,
            signs_from: 0,
            published_until: None,
            verifies_only: false,
        })
    }

    /// A new key, sealed, not yet scheduled ([`SigningKeys::rotate`] does that).
    pub async fn new_key(&self) -> Result<(SigningKey, RsaSigner), KeyError> {
        let (signer, pkcs8) = RsaSigner::generate()?;
        let public = signer.public_jwk();
        let kid = public.thumbprint();
        let sealed = self.seal(&kid, &pkcs8).await;
        drop(zeroed(pkcs8));
        let key = SigningKey {
            kid,
            public,
            sealed: sealed?,
            created_at: 0,
            signs_from: 0,
            published_until: None,
            verifies_only: false,
        };
        Ok((key, signer))
    }
}

fn zeroed(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
    bytes
}

#[cfg(feature = "dynamodb")]
fn kms_error<E: std::error::Error + 'static>(action: &'static str, e: E) -> KeyError {
    tracing::error!(action, error = %aws_sdk_kms::error::DisplayErrorContext(&e), "KMS failed");
    KeyError("KMS refused or failed; see the log")
}

/// Why no signature could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningError {
    /// The store failed.
    Store(StoreError),
    /// A key could not be made, sealed or opened.
    Key(KeyError),
    /// Another container changed the key set at the same moment, twice.
    Contended,
}

impl std::fmt::Display for SigningError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningError::Store(e) => e.fmt(f),
            SigningError::Key(e) => write!(f, "signing key: {e}"),
            SigningError::Contended => f.write_str("the signing keys changed twice while being set up"),
        }
    }
}

impl std::error::Error for SigningError {}

impl From<StoreError> for SigningError {
    fn from(e: StoreError) -> Self {
        SigningError::Store(e)
    }
}

impl From<KeyError> for SigningError {
    fn from(e: KeyError) -> Self {
        SigningError::Key(e)
    }
}

/// Stores `changed` in place of `keys`, on the condition that the stored
/// set is still `keys`' version; whether it was.
async fn replace<S: Store>(
    store: &S,
    keys: &mut SigningKeys,
    mut changed: SigningKeys,
) -> Result<bool, StoreError> {
    if !store.put_signing_keys(&changed).await? {
        return Ok(false);
    }
    changed.version += 1;
    *keys = changed;
    Ok(true)
}

/// The key that signs now, opened.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    /// Its `kid`.
    pub kid: String,
    /// Until when it stays published: nothing it signs may outlive that.
    pub published_until: Option<u64>,
    /// The private key.
    pub signer: Arc<RsaSigner>,
}

impl ActiveKey {
    /// `exp` for a token issued at `now` for `lifetime` seconds, cut to the
    /// key's publication: a token never outlives the key that verifies it.
    pub fn expiry(&self, now: u64, lifetime: u64) -> u64 {
        let exp = now + lifetime;
        self.published_until.map_or(exp, |until| exp.min(until))
    }
}

#[derive(Default)]
struct Cached {
    keys: Option<(u64, Arc<SigningKeys>)>,
    opened: HashMap<String, Arc<RsaSigner>>,
}

/// One container's view of the signing keys: read at most every
/// [`KEY_SET_REFRESH_SECONDS`], each private key opened once.
pub struct KeyRing {
    sealer: Sealer,
    rotation: Option<AutomaticRotation>,
    cached: Mutex<Cached>,
}

impl KeyRing {
    /// A key ring opening keys with `sealer`, rotating them as `rotation` says.
    pub fn new(sealer: Sealer, rotation: Option<AutomaticRotation>) -> Self {
        Self {
            sealer,
            rotation,
            cached: Mutex::new(Cached::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key set published at `now`. When nothing signs (a new
    /// deployment, or every key retired), a key is made that signs at once
    /// (no cache can hold a JWKS without it yet) and stored, unless another
    /// container stored one first.
    pub async fn keys<S: Store>(&self, store: &S, now: u64) -> Result<Arc<SigningKeys>, SigningError> {
        if let Some((read_at, keys)) = &self.lock().keys {
            if now < read_at + KEY_SET_REFRESH_SECONDS && keys.signer(now).is_some() {
                return Ok(keys.clone());
            }
        }
        for _ in 0..2 {
            let mut keys = store.get_signing_keys().await?;
            if keys.signer(now).is_none() {
                if !self.start_signing(store, &mut keys, now).await? {
                    continue;
                }
            } else if let Some(rotation) = self.rotation.filter(|r| r.is_due(&keys, now)) {
                match self.rotate(store, &mut keys, rotation, now).await {
                    Ok(true) => {}
                    // Another container rotated first: what it stored.
                    Ok(false) => keys = store.get_signing_keys().await?,
                    // The current key still signs: a failed rotation costs
                    // no request, and the next read tries again.
                    Err(e) => {
                        tracing::error!(error = %e, "the signing key was due for rotation, which failed")
                    }
                }
            }
            let keys = Arc::new(keys);
            self.lock().keys = Some((now, keys.clone()));
            return Ok(keys);
        }
        Err(SigningError::Contended)
    }

    /// Makes a key sign at `now`, when none does: the successor published
    /// ahead, if there is one (caches may hold it already), or else a new
    /// key. Whether it was stored (not: the set changed meanwhile).
    async fn start_signing<S: Store>(
        &self,
        store: &S,
        keys: &mut SigningKeys,
        now: u64,
    ) -> Result<bool, SigningError> {
        let mut changed = keys.clone();
        let (kid, signer) = match changed.promote_successor(now) {
            Some(kid) => (kid, None),
            None => {
                let (key, signer) = self.sealer.new_key().await?;
                let kid = key.kid.clone();
                changed.rotate(key, now, 0, 0);
                (kid, Some(signer))
            }
        };
        if !replace(store, keys, changed).await? {
            return Ok(false);
        }
        match signer {
            Some(signer) => {
                tracing::warn!(kid = %kid, "no signing key was signing: made one that signs at once");
                self.lock().opened.insert(kid, Arc::new(signer));
            }
            None => {
                tracing::warn!(kid = %kid, "no signing key was signing: its successor, published ahead, signs from now")
            }
        }
        Ok(true)
    }

    /// Publishes a successor to the signing keys `keys` as `rotation`
    /// schedules it; whether it was stored (not: the set changed meanwhile).
    async fn rotate<S: Store>(
        &self,
        store: &S,
        keys: &mut SigningKeys,
        rotation: AutomaticRotation,
        now: u64,
    ) -> Result<bool, SigningError> {
        let (key, _) = self.sealer.new_key().await?;
        let kid = key.kid.clone();
        let mut rotated = keys.clone();
        rotated.rotate(
            key,
            now,
            rotation.schedule.publish_ahead,
            rotation.schedule.keep_published,
        );
        if !replace(store, keys, rotated).await? {
            return Ok(false);
        }
        let signs_from = now + rotation.schedule.publish_ahead;
        tracing::info!(kid = %kid, signs_from, "the signing key was due for rotation: published its successor");
        Ok(true)
    }

    /// The key that signs at `now`, opened.
    pub async fn active<S: Store>(&self, store: &S, now: u64) -> Result<ActiveKey, SigningError> {
        let keys = self.keys(store, now).await?;
        let key = keys.signer(now).ok_or(SigningError::Contended)?;
        let opened = self.lock().opened.get(&key.kid).cloned();
        let signer = match opened {
            Some(signer) => signer,
            None => {
                let signer = Arc::new(self.sealer.open(&key.kid, &key.sealed).await?);
                if signer.public_jwk() != key.public {
                    return Err(SigningError::Key(KeyError(
                        "a sealed key does not match its public half",
                    )));
                }
                self.lock().opened.insert(key.kid.clone(), signer.clone());
                signer
            }
        };
        Ok(ActiveKey {
            kid: key.kid.clone(),
            published_until: key.published_until,
            signer,
        })
    }
}
