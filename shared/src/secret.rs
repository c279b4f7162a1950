//! Random credentials from the OS CSPRNG, and their SHA-256 fingerprints.
//!
//! Every generated value uses only ASCII letters and digits: form-urlencoding
//! leaves them unchanged, so clients that skip the RFC 6749 §2.3.1 encoding
//! (django-oauth-toolkit's resource server among them) still authenticate.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Length of access tokens and client secrets: 44 × log2(62) ≈ 262 bits.
pub const TOKEN_LENGTH: usize = 44;
/// Length of generated ids (clients, token families): 24 × log2(62) ≈ 143
/// bits; ids are public, so this only has to make collisions pointless.
pub const ID_LENGTH: usize = 24;

/// The OS random source failed; nothing can be issued safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomnessUnavailable;

impl std::fmt::Display for RandomnessUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the operating system's random number generator failed")
    }
}

impl std::error::Error for RandomnessUnavailable {}

/// A uniformly random string of `len` letters and digits.
pub fn random_alphanumeric(len: usize) -> Result<String, RandomnessUnavailable> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|_| RandomnessUnavailable)?;
        // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(b % 62)] as char);
        }
    }
    Ok(out)
}

/// A new client secret.
pub fn generate_secret() -> Result<String, RandomnessUnavailable> {
    random_alphanumeric(TOKEN_LENGTH)
}

/// A new access token for `client_id`: `<client_id>.<44 random characters>`.
///
/// The client id in front is public (RFC 6749 §2.2) and only a hint: it lets
/// introspection fetch the token and its client in one round trip. It is never
/// trusted; the stored token names its client. Ids that are not plain letters
/// and digits get no prefix.
pub fn generate_access_token(client_id: &str) -> Result<String, RandomnessUnavailable> {
    let random = random_alphanumeric(TOKEN_LENGTH)?;
    Ok(if is_hintable(client_id) {
        format!("{client_id}.{random}")
    } else {
        random
    })
}

/// The client id an access token names in front, if any (see [`generate_access_token`]).
pub fn client_hint(token: &str) -> Option<&str> {
    let (prefix, random) = token.rsplit_once('.')?;
    (is_hintable(prefix) && random.len() == TOKEN_LENGTH).then_some(prefix)
}

fn is_hintable(client_id: &str) -> bool {
    (1..=64).contains(&client_id.len()) && client_id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A new public identifier: a client id, or a token family's id.
pub fn generate_id() -> Result<String, RandomnessUnavailable> {
    random_alphanumeric(ID_LENGTH)
}

/// Lowercase hex SHA-256 of `value`: the only form in which tokens and client
/// secrets are stored (the same value as django-oauth-toolkit's `token_checksum`).
pub fn sha256_hex(value: &str) -> String {
    format!("{:x}", Sha256::digest(value.as_bytes()))
}

/// The raw SHA-256 of `value` (for in-memory keys, where hex is wasted work).
pub fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn matches_hash(presented: &str, stored_hash: &str) -> bool {
    let presented_hash = sha256_hex(presented);
    presented_hash.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_alphanumeric_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), TOKEN_LENGTH);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn access_tokens_carry_a_client_hint_only_for_plain_ids() {
        let token = generate_access_token("abc123").unwrap();
        assert_eq!(client_hint(&token), Some("abc123"));
        let token = generate_access_token("svc:a b").unwrap();
        assert_eq!(token.len(), TOKEN_LENGTH);
        assert_eq!(client_hint(&token), None);
        assert_eq!(client_hint("abc.short"), None);
        assert_eq!(client_hint("no-dot"), None);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(matches_hash("abc", &sha256_hex("abc")));
        assert!(!matches_hash("abd", &sha256_hex("abc")));
    }
}
