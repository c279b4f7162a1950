//! The resource owner password credentials grant (RFC 6749 §4.3), only for
//! clients allowed it explicitly. Issues an access token with the username
//! and a refresh token, as one new token family. Its sign-in check, lockout
//! included, is the sign-in page's ([`TokenService::sign_in_user`]).

use super::user_auth::SignIn;
use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{issue_user_grant, IssuedToken};
use crate::model::Client;
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(super) async fn password_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let username = params.require("username")?;
        let password = params.require("password")?;
        let audience = self.requested_audience(client, params)?;
        let scope = self.granted_scope(client, params.get("scope")?, &audience)?;
        let user = match self.sign_in_user(username, password, &client.client_id).await? {
            SignIn::SignedIn(user) => user,
            SignIn::Wrong { .. } => {
                return Err(OAuthError::invalid_grant("the username or password is wrong"))
            }
            // Alike whether or not the user exists.
            SignIn::Locked => {
                return Err(OAuthError::invalid_grant(
                    "too many failed sign-ins for this username; try again later",
                ))
            }
            SignIn::Busy => {
                return Err(OAuthError::retry_shortly(
                    "too many sign-ins for this username at once; retry shortly",
                ))
            }
        };
        let request = self
            .token_request(client, scope, audience, Some(&user), self.clock.now())
            .await?;
        Ok(issue_user_grant(
            &self.store,
            request,
            &user,
            self.config.refresh_token_expire_seconds,
        )
        .await?)
    }
}
