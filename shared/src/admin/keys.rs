//! The signing keys, administered: listed, rotated, retired (`oauthctl keys`).

use serde_json::{json, Value};

use super::AdminError;
use crate::keys::Sealer;
use crate::model::SigningKeys;
use crate::store::{AdminStore, StoreError};

pub use crate::keys::{RotationSchedule, DEFAULT_PUBLISH_AHEAD_SECONDS};

fn key_error(e: crate::jose::KeyError) -> AdminError {
    AdminError::Store(StoreError::Unavailable(e.to_string()))
}

/// Each key as shown to an administrator: its `kid`, its state at `now` and its times.
pub fn describe(keys: &SigningKeys, now: u64) -> Vec<Value> {
    let signer = keys.signer(now).map(|k| k.kid.clone());
    keys.published(now)
        .map(|k| {
            let state = if Some(&k.kid) == signer.as_ref() {
                "signing"
            } else if k.verifies_only {
                "published, never signing here (imported)"
            } else if k.signs_from > now {
                "published, signs later"
            } else {
                "published, no longer signing"
            };
            json!({
                "kid": k.kid,
                "state": state,
                "created_at": k.created_at,
                "signs_from": k.signs_from,
                "published_until": k.published_until,
                "sealed_by": match k.sealed { crate::model::SealedKey::Kms { .. } => "kms", crate::model::SealedKey::Secret { .. } => "secret" },
            })
        })
        .collect()
}

/// Adds a new key as `schedule` says; its `kid`. Retried once if the
/// key set changed meanwhile.
pub async fn rotate<S: AdminStore>(
    store: &S,
    sealer: &Sealer,
    schedule: RotationSchedule,
    now: u64,
) -> Result<String, AdminError> {
    let (key, _) = sealer.new_key().await.map_err(key_error)?;
    let kid = key.kid.clone();
    for _ in 0..2 {
        let mut keys = store.get_signing_keys().await?;
        keys.rotate(key.clone(), now, schedule.publish_ahead, schedule.keep_published);
        if store.put_signing_keys(&keys).await? {
            return Ok(kid);
        }
    }
    Err(AdminError::Store(StoreError::Unavailable(
        "the signing keys changed twice meanwhile; run it again".into(),
    )))
}

/// Imports django-oauth-toolkit's keys (PEM: `OIDC_RSA_PRIVATE_KEY`, and
/// each of `OIDC_RSA_PRIVATE_KEYS_INACTIVE`), sealed here, so that every ID
/// token DOT issued verifies against this service's JWKS and relying
/// parties' cached keys stay good: DOT's signing key signs here from now,
/// its inactive keys are published `keep_published` (an ID token's life)
/// and never sign. The imported `kid`s (their thumbprints, as DOT's are).
pub async fn import_dot<S: AdminStore>(
    store: &S,
    sealer: &Sealer,
    signing_pem: &str,
    inactive_pems: &[String],
    keep_published: u64,
    now: u64,
) -> Result<Vec<String>, AdminError> {
    let invalid = |which: &'static str, e: crate::jose::KeyError| super::invalid(which, e.0);
    let signing = sealer
        .import_pem(signing_pem)
        .await
        .map_err(|e| invalid("key", e))?;
    let mut inactive = Vec::new();
    for pem in inactive_pems {
        inactive.push(
            sealer
                .import_pem(pem)
                .await
                .map_err(|e| invalid("inactive-key", e))?,
        );
    }
    let mut kids = vec![signing.kid.clone()];
    kids.extend(inactive.iter().map(|k| k.kid.clone()));
    for _ in 0..2 {
        let mut keys = store.get_signing_keys().await?;
        keys.import(signing.clone(), inactive.clone(), now, keep_published);
        if store.put_signing_keys(&keys).await? {
            return Ok(kids);
        }
    }
    Err(AdminError::Store(StoreError::Unavailable(
        "the signing keys changed twice meanwhile; run it again".into(),
    )))
}

/// Unpublishes key `kid` at once: whatever it signed stops verifying.
pub async fn retire<S: AdminStore>(store: &S, kid: &str, now: u64) -> Result<(), AdminError> {
    for _ in 0..2 {
        let mut keys = store.get_signing_keys().await?;
        if !keys.retire(kid, now) {
            return Err(AdminError::NotFound(format!("published signing key {kid:?}")));
        }
        if store.put_signing_keys(&keys).await? {
            return Ok(());
        }
    }
    Err(AdminError::Store(StoreError::Unavailable(
        "the signing keys changed twice meanwhile; run it again".into(),
    )))
}
