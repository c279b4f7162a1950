//! The client credentials grant (RFC 6749 §4.4): a token for the client
//! itself, never with a refresh token (§4.4.3).

use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::IssuedToken;
use crate::model::Client;
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(super) async fn client_credentials_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let audience = self.requested_audience(client, params)?;
        let scope = self.granted_scope(client, params.get("scope")?, &audience)?;
        let request = self
            .token_request(client, scope, audience, None, self.clock.now())
            .await?;
        self.issue(request).await
    }
}
