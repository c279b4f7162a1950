//! Passwords hashed exactly as Django's `PBKDF2PasswordHasher` does:
//! `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>`, so users
//! imported from a Django project keep their passwords, and hashes made here
//! verify in Django.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::{random_alphanumeric, RandomnessUnavailable};

/// Django 5.2's default work factor.
pub const DEFAULT_ITERATIONS: u32 = 1_000_000;
const ALGORITHM: &str = "pbkdf2_sha256";

fn derive(password: &str, salt: &str, iterations: u32) -> String {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    STANDARD.encode(key)
}

/// Hashes `password` with a fresh 22-character salt, as Django would.
pub fn make_password(password: &str, iterations: u32) -> Result<String, RandomnessUnavailable> {
    let salt = random_alphanumeric(22)?;
    Ok(format!(
        "{ALGORITHM}${iterations}${salt}${}",
        derive(password, &salt, iterations)
    ))
}

/// Whether `password` matches `encoded`, compared in constant time. A hash in
/// another format (or malformed) never matches.
pub fn check_password(password: &str, encoded: &str) -> bool {
    let mut parts = encoded.splitn(4, '$');
    let (Some(ALGORITHM), Some(iterations), Some(salt), Some(expected)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    derive(password, salt, iterations)
        .as_bytes()
        .ct_eq(expected.as_bytes())
        .into()
}

/// Spends what checking a password costs, so that an unknown user takes as
/// long to refuse as a wrong password.
pub fn check_password_of_nobody(password: &str, iterations: u32) {
    let _ = derive(password, "nobody-has-this-salt", iterations);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hash_made_by_django() {
        // PBKDF2PasswordHasher().encode("correct horse", "seasalt", 1000),
        // computed by Django 5.2.19.
        let django = "pbkdf2_sha256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=";
        assert!(check_password("correct horse", django));
        assert!(!check_password("correct horsf", django));
    }

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let encoded = make_password("pässwörd", 1000).unwrap();
        assert!(encoded.starts_with("pbkdf2_sha256$1000$"));
        assert!(check_password("pässwörd", &encoded));
        assert!(!check_password("password", &encoded));
        for other in [
            "",
            "md5$1$x$y",
            "pbkdf2_sha256$x$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "bcrypt$...",
        ] {
            assert!(!check_password("pässwörd", other), "{other}");
        }
    }
}
