//! Proof Key for Code Exchange (RFC 7636), required of every client, with
//! `S256` only: the authorization request carries a challenge, the token
//! request the verifier that answers it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A `code_challenge` with `code_challenge_method=S256`, well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge of an authorization request; why not, as its
    /// `invalid_request` description.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, &'static str> {
        let challenge = challenge.ok_or("code_challenge is required (PKCE, RFC 7636)")?;
        if method != Some("S256") {
            return Err("code_challenge_method must be S256");
        }
        if !is_pkce_string(challenge) {
            return Err("code_challenge is malformed");
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge as stored with a code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z a-z 0-9 - . _ ~]`; a
/// challenge (the base64url of a SHA-256) has the same alphabet.
fn is_pkce_string(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier: BASE64URL(SHA256(verifier)), unpadded.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers the stored `challenge`, compared in constant time.
pub(super) fn verifies(verifier: &str, challenge: &str) -> bool {
    is_pkce_string(verifier) && s256(verifier).as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verifies(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!verifies("short", &s256("short")));
        assert!(!verifies(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"));
    }

    #[test]
    fn challenges_need_s256_and_the_alphabet() {
        let good = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(Some(good), Some("S256")).is_ok());
        assert!(CodeChallenge::parse(Some(good), Some("plain")).is_err());
        assert!(CodeChallenge::parse(Some(good), None).is_err());
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some("too-short"), Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some(&format!("{good}!")), Some("S256")).is_err());
    }
}
