//! The pair a refresh token was exchanged for, kept for the grace period
//! without keeping any token in clear: sealed (ChaCha20-Poly1305) under a key
//! derived from the spent refresh token itself. Only its hash is stored, so
//! only whoever presents that refresh token again can open the pair: the
//! client retrying after a lost answer gets the same pair back, as with
//! django-oauth-toolkit's `REFRESH_TOKEN_GRACE_PERIOD_SECONDS`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use crate::secret::RandomnessUnavailable;

fn cipher(refresh_token: &str) -> ChaCha20Poly1305 {
    // The refresh token carries 262 random bits: one hash is key derivation enough.
    let key = Sha256::new()
        .chain_update(b"oauth-lambda successor v1\0")
        .chain_update(refresh_token)
        .finalize();
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

/// Seals `access` and `refresh` (the new pair) under `spent_refresh_token`.
pub fn seal(spent_refresh_token: &str, access: &str, refresh: &str) -> Result<String, RandomnessUnavailable> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|_| RandomnessUnavailable)?;
    let plaintext = format!("{access} {refresh}");
    let sealed = cipher(spent_refresh_token)
        .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
        .map_err(|_| RandomnessUnavailable)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(STANDARD.encode(out))
}

/// The pair sealed under `presented`, if `presented` is the token it was sealed with.
pub fn open(presented: &str, sealed: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(sealed).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let plaintext = cipher(presented)
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .ok()?;
    let text = String::from_utf8(plaintext).ok()?;
    let (access, refresh) = text.split_once(' ')?;
    Some((access.to_owned(), refresh.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spent_token_opens_its_successor() {
        let sealed = seal("spentRefresh", "client.newAccess", "newRefresh").unwrap();
        assert_eq!(
            open("spentRefresh", &sealed),
            Some(("client.newAccess".into(), "newRefresh".into()))
        );
        assert_eq!(open("anotherToken", &sealed), None);
        assert_eq!(open("spentRefresh", "not base64!"), None);
        assert!(!sealed.contains("newAccess") && !sealed.contains("newRefresh"));
    }
}
