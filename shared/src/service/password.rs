//! The resource owner password credentials grant (RFC 6749 §4.3), only for
//! clients allowed it explicitly. Issues an access token with the username
//! and a refresh token, as one new token family.

use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{issue_user_grant, IssuedToken};
use crate::model::{Client, User};
use crate::password::{check_password, make_password};
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(super) async fn password_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let username = params.require("username")?;
        let password = params.require("password")?;
        let scope = self.granted_scope(client, params.get("scope")?)?;

        let user = self.store.get_user(username).await?;
        let Some(user) = self.check_sign_in(user, password).await else {
            return Err(OAuthError::invalid_grant("the username or password is wrong"));
        };

        let request = self.token_request(client, scope, Some(username.to_owned()), self.clock.now());
        Ok(issue_user_grant(
            &self.store,
            request,
            &user,
            self.config.refresh_token_expire_seconds,
        )
        .await?)
    }

    /// Checks a sign-in (password grant or sign-in page): the user, if they
    /// exist, are enabled and `password` is theirs. A hash is checked (or its
    /// cost spent) whether or not the user exists, so timing does not tell;
    /// a password under another hasher moves to the configured one, as Django
    /// does on sign-in (grants stand; a failure only means a later retry).
    pub(super) async fn check_sign_in(&self, user: Option<User>, password: &str) -> Option<User> {
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
