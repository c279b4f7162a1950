//! Passwords as Django stores them, so users (and client secrets) imported
//! from a Django project keep working.
//!
//! New hashes are Django's default, `PBKDF2PasswordHasher`:
//! `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>`, which
//! Django verifies too. Every hasher Django ships in its default
//! `PASSWORD_HASHERS` is verified: `pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`,
//! `bcrypt_sha256` and `scrypt` (and the older `bcrypt`). A match on anything
//! but the configured hasher asks for a re-hash, as Django's `must_update`.
//!
//! Every refusal costs about the same: an unknown user, an unusable hash
//! (Django's `!…`), an unknown algorithm or a malformed hash all spend one
//! configured PBKDF2, so timing does not tell them from a wrong password;
//! a wrong password under an imported hash is made up to the configured
//! work (see [`check_password`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::{random_alphanumeric, RandomnessUnavailable};

/// Django 5.2's default work factor.
pub const DEFAULT_ITERATIONS: u32 = 1_000_000;
const PBKDF2_SHA256: &str = "pbkdf2_sha256";

// Bounds on the work a stored hash may ask for: a hash beyond them (a typo,
// or a project tuned for bigger machines) is refused rather than let one
// sign-in exhaust a Lambda's memory or time.
const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
/// Argon2 memory, KiB (Django's default is 102,400).
const MAX_ARGON2_MEMORY_KIB: u32 = 131_072;
const MAX_ARGON2_PASSES: u32 = 16;
const MAX_ARGON2_LANES: u32 = 16;
const MAX_BCRYPT_COST: u32 = 16;
/// scrypt memory is 128 · r · n bytes (Django's default: 16 MiB).
const MAX_SCRYPT_MEMORY_BYTES: u64 = 128 << 20;
const MAX_SCRYPT_PARALLELISM: u32 = 16;

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The password is right.
    pub matches: bool,
    /// It is right, but the hash is not the configured hasher's (another
    /// algorithm, or other iterations): store a new one made with
    /// [`make_password`].
    pub needs_rehash: bool,
}

impl PasswordCheck {
    const REFUSED: Self = Self {
        matches: false,
        needs_rehash: false,
    };
}

/// Nanoseconds one PBKDF2-SHA256 iteration took on this machine, as last
/// measured (0: not yet), scaled by 1,024 to keep precision.
static PBKDF2_ITERATION_NANOS_X1024: AtomicU64 = AtomicU64::new(0);

fn pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> [u8; 32] {
    #[cfg(test)]
    tests::PBKDF2_RUNS.with(|runs| runs.borrow_mut().push(iterations));
    let started = Instant::now();
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    // Long enough runs only, for a rate the clock's resolution does not blur.
    if iterations >= 1000 {
        let rate = started.elapsed().as_nanos() * 1024 / u128::from(iterations);
        PBKDF2_ITERATION_NANOS_X1024.store(u64::try_from(rate).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
    key
}

/// After a wrong password checked under another hash than the configured
/// one (imported from Django), spends what the configured hasher would
/// have spent beyond it, so that the refusal costs the same as for every
/// other user and timing does not tell which users were imported. Against
/// PBKDF2-SHA256 with fewer iterations, exactly the difference (as Django's
/// `harden_runtime`); against another algorithm, the configured work less
/// the time the check took, at the rate PBKDF2 last ran here. A hash asking
/// for more work than the configured one already costs more: nothing to add.
fn harden_runtime(password: &str, stored_iterations: Option<u32>, checked_in: Duration, iterations: u32) {
    let extra = match stored_iterations {
        Some(stored) => iterations.saturating_sub(stored),
        None => match PBKDF2_ITERATION_NANOS_X1024.load(Ordering::Relaxed) {
            // Not measured yet: the whole configured work, once.
            0 => iterations,
            rate => {
                let configured = u128::from(iterations) * u128::from(rate) / 1024;
                let left = configured.saturating_sub(checked_in.as_nanos());
                u32::try_from(left * 1024 / u128::from(rate)).unwrap_or(iterations)
            }
        },
    };
    if extra > 0 {
        let _ = pbkdf2_sha256(password, "nobody-has-this-salt", extra);
    }
}

/// Hashes `password` with a fresh 22-character salt, as Django would.
pub fn make_password(password: &str, iterations: u32) -> Result<String, RandomnessUnavailable> {
    let salt = random_alphanumeric(22)?;
    let key = STANDARD.encode(pbkdf2_sha256(password, &salt, iterations));
    Ok(format!("{PBKDF2_SHA256}${iterations}${salt}${key}"))
}

/// Whether `encoded` names one of the Django hashers this module verifies
/// (a secret stored in clear, or a SHA-256 hex digest, never does).
pub fn is_password_hash(encoded: &str) -> bool {
    encoded
        .split_once('$')
        .is_some_and(|(algorithm, _)| HASHERS.contains(&algorithm))
}

const HASHERS: [&str; 6] = [
    PBKDF2_SHA256,
    "pbkdf2_sha1",
    "argon2",
    "bcrypt_sha256",
    "bcrypt",
    "scrypt",
];

/// Checks `password` against `encoded`, a Django password hash, or against
/// nothing (an unknown user). `iterations` is the configured PBKDF2 work
/// factor: what new hashes use, and what every refusal that has no hash to
/// work on spends.
pub fn check_password(password: &str, encoded: Option<&str>, iterations: u32) -> PasswordCheck {
    let started = Instant::now();
    let verified = encoded.and_then(|encoded| verify(password, encoded));
    match verified {
        Some((false, current)) if current != Some(iterations) => {
            harden_runtime(password, current, started.elapsed(), iterations);
            PasswordCheck::REFUSED
        }
        Some((matches, current)) => PasswordCheck {
            matches,
            needs_rehash: matches && current != Some(iterations),
        },
        None => {
            // Nothing that could match: spend what a wrong password costs.
            let _ = pbkdf2_sha256(password, "nobody-has-this-salt", iterations);
            PasswordCheck::REFUSED
        }
    }
}

/// Whether `password` matches `encoded`, with the PBKDF2-SHA256 iterations
/// when that is the hasher; `None` when `encoded` is no hash this module can
/// verify (unusable, unknown, malformed or beyond the work bounds).
fn verify(password: &str, encoded: &str) -> Option<(bool, Option<u32>)> {
    let (algorithm, rest) = encoded.split_once('$')?;
    match algorithm {
        PBKDF2_SHA256 => {
            let (iterations, salt, expected) = pbkdf2_parts(rest)?;
            let key = STANDARD.encode(pbkdf2_sha256(password, salt, iterations));
            Some((equal(&key, expected), Some(iterations)))
        }
        "pbkdf2_sha1" => {
            let (iterations, salt, expected) = pbkdf2_parts(rest)?;
            let mut key = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
            Some((equal(&STANDARD.encode(key), expected), None))
        }
        "argon2" => verify_argon2(password, rest).map(|m| (m, None)),
        // Django hashes the password with SHA-256 first (lifting bcrypt's
        // 72-byte limit) and passes bcrypt its hex digest.
        "bcrypt_sha256" => {
            let digest = hex(&Sha256::digest(password.as_bytes()));
            verify_bcrypt(digest.as_bytes(), rest).map(|m| (m, None))
        }
        "bcrypt" => verify_bcrypt(password.as_bytes(), rest).map(|m| (m, None)),
        "scrypt" => verify_scrypt(password, rest).map(|m| (m, None)),
        _ => None,
    }
}

fn equal(computed: &str, expected: &str) -> bool {
    computed.as_bytes().ct_eq(expected.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<iterations>$<salt>$<key>` of Django's PBKDF2 hashers.
fn pbkdf2_parts(rest: &str) -> Option<(u32, &str, &str)> {
    let mut parts = rest.splitn(3, '$');
    let iterations = parts.next()?.parse::<u32>().ok()?;
    let (salt, expected) = (parts.next()?, parts.next()?);
    (1..=MAX_PBKDF2_ITERATIONS)
        .contains(&iterations)
        .then_some((iterations, salt, expected))
}

/// Django's `argon2` + the PHC string argon2-cffi made, minus its leading `$`.
fn verify_argon2(password: &str, rest: &str) -> Option<bool> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let phc = format!("${rest}");
    let hash = PasswordHash::new(&phc).ok()?;
    let params = argon2::Params::try_from(&hash).ok()?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB
        || params.t_cost() > MAX_ARGON2_PASSES
        || params.p_cost() > MAX_ARGON2_LANES
    {
        return None;
    }
    let algorithm = argon2::Algorithm::try_from(hash.algorithm).ok()?;
    let version = hash
        .version
        .map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from)
        .ok()?;
    let hasher = argon2::Argon2::new(algorithm, version, params);
    match hasher.verify_password(password.as_bytes(), &hash) {
        Ok(()) => Some(true),
        Err(argon2::password_hash::Error::Password) => Some(false),
        Err(_) => None,
    }
}

/// Django's `bcrypt` hashers store `algorithm$` + the modular-crypt string
/// (`$2b$<cost>$…`).
fn verify_bcrypt(password: &[u8], modular: &str) -> Option<bool> {
    let cost = modular.strip_prefix('$')?.get(3..5)?.parse::<u32>().ok()?;
    if cost > MAX_BCRYPT_COST {
        return None;
    }
    bcrypt::verify(password, modular).ok()
}

/// Django's `scrypt$<n>$<salt>$<r>$<p>$<base64 of a 64-byte key>`.
fn verify_scrypt(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.splitn(5, '$');
    let n = parts.next()?.parse::<u64>().ok()?;
    let salt = parts.next()?;
    let r = parts.next()?.parse::<u32>().ok()?;
    let p = parts.next()?.parse::<u32>().ok()?;
    let expected = STANDARD.decode(parts.next()?).ok()?;
    if !n.is_power_of_two()
        || n < 2
        || p > MAX_SCRYPT_PARALLELISM
        || 128u64.checked_mul(u64::from(r))?.checked_mul(n)? > MAX_SCRYPT_MEMORY_BYTES
        || expected.len() != 64
    {
        return None;
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, expected.len()).ok()?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut key).ok()?;
    Some(key.ct_eq(expected.as_slice()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// The iterations of every PBKDF2-SHA256 run on this thread.
        pub(super) static PBKDF2_RUNS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    fn with_pbkdf2_runs<T>(f: impl FnOnce() -> T) -> (T, Vec<u32>) {
        PBKDF2_RUNS.with(|runs| runs.borrow_mut().clear());
        let out = f();
        (out, PBKDF2_RUNS.with(|runs| runs.take()))
    }

    // Each made by Django 5.2.19 (argon2-cffi 25.1.0, bcrypt 5.0.0) for the
    // password "correct horse", at low work factors to keep tests quick;
    // the formats are those of Django's defaults.
    const DJANGO_HASHES: [&str; 6] = [
        "pbkdf2_sha256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=",
        "pbkdf2_sha1$1000$FLWdum8dKkDIijRoSqyuqk$brSyxqspWqE/SxvmMeLzN8o6UTc=",
        "argon2$argon2id$v=19$m=1024,t=1,p=1$TE1lYjhKZmo5dWZBU0JnTkVBOXVZNw$dBSngC2wmswxK15E1zyI9MkKCblE3wKa2eCvydC99S8",
        "bcrypt_sha256$$2b$04$ZOFHSZAm3aAs/ugVU.B5/ecCNfpAMEZf9yOBjQAtPUZV4MS1I8Zr2",
        "scrypt$1024$l9NWwY7o0u6LijH0g1B36I$8$1$iBf5I3HNlWWSCltjqwIGdSKl4Y3uPPbknWWDPmexVNSHxKggp0OtKUle6EuoxM3d1Y3+BwsEDJaGNB8HtqRxsQ==",
        "bcrypt$$2b$04$PiQpDcDVwGvLJTT9Exp6J.6mRo1yJB.Klr3Hjl5tK2gYGQBgh7QNG",
    ];

    #[test]
    fn verifies_every_django_default_hasher() {
        for encoded in DJANGO_HASHES {
            let right = check_password("correct horse", Some(encoded), 1000);
            assert!(right.matches, "{encoded}");
            let wrong = check_password("correct horsf", Some(encoded), 1000);
            assert_eq!(wrong, PasswordCheck::REFUSED, "{encoded}");
        }
    }

    #[test]
    fn recognises_django_hashes_only() {
        assert!(DJANGO_HASHES.iter().all(|h| is_password_hash(h)));
        let sha256_hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        for other in ["", "!", "plain-secret-in-clear", sha256_hex, "md5$x$y"] {
            assert!(!is_password_hash(other), "{other}");
        }
    }

    #[test]
    fn verifies_argon2_at_djangos_default_cost() {
        // Django 5.2's Argon2PasswordHasher as shipped: m=102400, t=2, p=8.
        let encoded = "argon2$argon2id$v=19$m=102400,t=2,p=8$THozUGFmM2kycXhVcUJSOHNKd240Sg$idOQCC2NDtwq0CDyqP/Ok/nTNp8htEKJDKRQB9dPs1c";
        assert!(check_password("correct horse", Some(encoded), 1000).matches);
    }

    #[test]
    fn asks_for_a_rehash_unless_the_hash_is_the_configured_one() {
        for encoded in DJANGO_HASHES {
            let check = check_password("correct horse", Some(encoded), 1000);
            assert_eq!(
                check.needs_rehash,
                !encoded.starts_with("pbkdf2_sha256$1000$"),
                "{encoded}"
            );
        }
        // Other iterations than configured: re-hash, as Django's must_update.
        let check = check_password("correct horse", Some(DJANGO_HASHES[0]), 2000);
        assert!(check.matches && check.needs_rehash);
    }

    #[test]
    fn round_trips_and_refuses_what_it_cannot_verify() {
        let encoded = make_password("pässwörd", 1000).unwrap();
        assert!(encoded.starts_with("pbkdf2_sha256$1000$"));
        let check = check_password("pässwörd", Some(&encoded), 1000);
        assert_eq!(
            check,
            PasswordCheck {
                matches: true,
                needs_rehash: false
            }
        );
        assert!(!check_password("password", Some(&encoded), 1000).matches);
        for unusable in [
            "",
            "!",
            "!Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
            "md5$1$x$y",
            "pbkdf2_sha256$x$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$4294967295$salt$hash",
            "argon2$nonsense",
            // Django's default Argon2 hash with 1 GiB of memory.
            "argon2$argon2id$v=19$m=1048576,t=2,p=8$THozUGFmM2kycXhVcUJSOHNKd240Sg$idOQCC2NDtwq0CDyqP/Ok/nTNp8htEKJDKRQB9dPs1c",
            "bcrypt_sha256$$2b$31$ZOFHSZAm3aAs/ugVU.B5/ecCNfpAMEZf9yOBjQAtPUZV4MS1I8Zr2",
            "bcrypt$...",
            "scrypt$1000$salt$8$1$aGFzaA==",
            "scrypt$1048576$salt$64$1$aGFzaA==",
        ] {
            assert!(verify("pässwörd", unusable).is_none(), "{unusable}");
            let (check, work) = with_pbkdf2_runs(|| check_password("pässwörd", Some(unusable), 1000));
            assert_eq!(check, PasswordCheck::REFUSED);
            assert_eq!(work, [1000], "{unusable}: one configured PBKDF2, as a wrong password");
        }
        let (check, work) = with_pbkdf2_runs(|| check_password("pässwörd", None, 1000));
        assert_eq!((check, work), (PasswordCheck::REFUSED, vec![1000]));
        let (_, work) = with_pbkdf2_runs(|| check_password("wrong", Some(&encoded), 1000));
        assert_eq!(work, [1000]);
    }

    /// A wrong password for a user still under an imported hash costs the
    /// configured work, as for every other user: otherwise its timing tells
    /// which users were imported (and that they exist).
    #[test]
    fn a_wrong_password_under_an_imported_hash_costs_the_configured_work() {
        // The configured hasher, other iterations: the difference is spent too.
        let (check, work) = with_pbkdf2_runs(|| check_password("wrong", Some(DJANGO_HASHES[0]), 5000));
        assert_eq!(check, PasswordCheck::REFUSED);
        assert_eq!(work.iter().sum::<u32>(), 5000, "{work:?}");
        // Other hashers, cheaper than the configured work: made up with it.
        for encoded in &DJANGO_HASHES[1..] {
            let (check, work) = with_pbkdf2_runs(|| check_password("wrong", Some(encoded), 50_000));
            assert_eq!(check, PasswordCheck::REFUSED, "{encoded}");
            assert!(
                work.iter().sum::<u32>() > 0,
                "{encoded}: a wrong password cost only the imported hash's work"
            );
        }
    }
}
