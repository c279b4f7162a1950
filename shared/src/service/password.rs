//! The resource owner password credentials grant (RFC 6749 §4.3), only for
//! clients allowed it explicitly. Issues an access token with the username
//! and a refresh token, as one new token family.

use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{issue_user_grant, IssuedToken, TokenRequest};
use crate::model::Client;
use crate::password::{check_password, check_password_of_nobody};
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
        // PBKDF2 runs whether or not the user exists, so timing does not tell.
        let (password, iterations) = (password.to_owned(), self.config.password_hash_iterations);
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || match stored {
            Some(hash) => check_password(&password, &hash),
            None => {
                check_password_of_nobody(&password, iterations);
                false
            }
        })
        .await
        .unwrap_or(false);
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            _ => return Err(OAuthError::invalid_grant("the username or password is wrong")),
        };

        let request = TokenRequest {
            client_id: &client.client_id,
            scope,
            lifetime: client
                .token_lifetime
                .unwrap_or(self.config.access_token_expire_seconds),
            username: Some(username.to_owned()),
            now: self.clock.now(),
        };
        Ok(issue_user_grant(
            &self.store,
            request,
            &user,
            self.config.refresh_token_expire_seconds,
        )
        .await?)
    }
}
