//! Signing a user in with a password: the one check behind the sign-in page
//! and the password grant.
//!
//! An attempt is reserved against the username's lockout *before* the
//! password is checked, atomically in the store: concurrent guesses cannot
//! all read "not locked yet" and then all be checked. A window (the first
//! attempt's, `SIGN_IN_LOCKOUT_SECONDS` long) has room for
//! `SIGN_IN_LOCKOUT_ATTEMPTS` attempts being checked or failed, whether or
//! not the user exists: at most that many wrong passwords are checked. A
//! success clears the window; an attempt finding the room taken by others
//! still being checked is told to retry, not that it is locked. Every
//! attempt is logged ("sign-in attempt", with its outcome and the client,
//! never the username or the password).

use super::{OAuthError, TokenService};
use crate::model::User;
use crate::password::{check_password, make_password};
use crate::store::{Attempt, AttemptsOf, Store};

/// What a sign-in came to.
pub(super) enum SignIn {
    /// The password is the enabled user's.
    SignedIn(User),
    /// The username or password is wrong; `now_locked` when that was the
    /// last failure its window allowed.
    Wrong { now_locked: bool },
    /// Refused unchecked: the username's failures for this window are spent.
    Locked,
    /// Refused unchecked: as many attempts as the window allows are being
    /// checked right now; their outcome decides, so retry in a moment.
    Busy,
}

impl<S: Store> TokenService<S> {
    /// Signs `username` in with `password`, for `client_id`.
    pub(super) async fn sign_in_user(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
    ) -> Result<SignIn, OAuthError> {
        let (limit, window) = (
            self.config.sign_in_lockout_attempts,
            self.config.sign_in_lockout_seconds,
        );
        let attempts = AttemptsOf::SignIn(username.to_owned());
        let (attempt, user) = tokio::try_join!(
            self.store
                .reserve_attempt(&attempts, limit, window, self.clock.now()),
            self.store.get_user(username),
        )?;
        let outcome = match attempt {
            Attempt::Granted => None,
            Attempt::Locked => Some(("locked", SignIn::Locked)),
            Attempt::Busy => Some(("busy", SignIn::Busy)),
        };
        if let Some((outcome, refused)) = outcome {
            tracing::info!(client_id = %client_id, outcome, "sign-in attempt");
            return Ok(refused);
        }
        let Some(user) = self.check_password(user, password).await else {
            tracing::info!(client_id = %client_id, outcome = "wrong_credentials", "sign-in attempt");
            let failures = self
                .store
                .record_failed_attempt(&attempts, self.clock.now())
                .await?;
            return Ok(SignIn::Wrong {
                now_locked: failures >= limit,
            });
        };
        tracing::info!(client_id = %client_id, outcome = "signed_in", "sign-in attempt");
        self.store.clear_attempts(&attempts).await?;
        Ok(SignIn::SignedIn(user))
    }

    /// The user, if they exist, are enabled and `password` is theirs. A hash
    /// is checked (or its cost spent) whether or not the user exists, so
    /// timing does not tell; a password under another hasher moves to the
    /// configured one, as Django does on sign-in (grants stand; a failure
    /// only means a later retry).
    async fn check_password(&self, user: Option<User>, password: &str) -> Option<User> {
        let iterations = self.config.password_hash_iterations;
        let (given, stored) = (
            password.to_owned(),
            user.as_ref().map(|u| u.password_hash.clone()),
        );
        let check = tokio::task::spawn_blocking(move || {
            let check = check_password(&given, stored.as_deref(), iterations);
            let rehashed = check
                .needs_rehash
                .then(|| make_password(&given, iterations).ok())
                .flatten();
            (check.matches, rehashed)
        })
        .await;
        let (user, rehashed) = match (user, check) {
            (Some(user), Ok((true, rehashed))) if !user.disabled => (user, rehashed),
            _ => return None,
        };
        if let Some(new) = rehashed {
            let rehashed = self
                .store
                .rehash_password(&user.username, &user.password_hash, &new)
                .await;
            if let Err(e) = rehashed {
                tracing::warn!(error = %e, "could not re-hash a password to the configured hasher");
            }
        }
        Some(user)
    }
}
