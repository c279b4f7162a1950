//! The client credentials grant (RFC 6749 §4.4): a token for the client
//! itself, never with a refresh token (§4.4.3).

use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::IssuedToken;
use crate::model::Client;
use crate::scope::{parse_scope, ScopeSet};
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(super) async fn client_credentials_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let requested = params.get("scope")?;
        let scope = self.granted_scope(client, requested)?;
        self.issue(self.token_request(client, scope, None, self.clock.now()))
            .await
    }

    /// The scope to grant (RFC 6749 §3.3): what was asked, if the client may
    /// have all of it; with nothing asked, the client's defaults or else the
    /// service's, limited to what the client may have.
    pub(super) fn granted_scope(
        &self,
        client: &Client,
        requested: Option<&str>,
    ) -> Result<ScopeSet, OAuthError> {
        let allowed = |s: &String| client.scopes.contains(s) && self.config.is_known_scope(s);
        let scope: ScopeSet = match requested {
            Some(requested) => {
                let requested = parse_scope(requested)
                    .map_err(|bad| OAuthError::invalid_scope(format!("{bad:?} is not a valid scope")))?;
                if let Some(denied) = requested.iter().find(|s| !allowed(s)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope {denied:?} is unknown or not allowed for this client"
                    )));
                }
                requested
            }
            None if !client.default_scopes.is_empty() => client
                .default_scopes
                .iter()
                .filter(|s| allowed(s))
                .cloned()
                .collect(),
            None => self
                .config
                .default_scopes
                .iter()
                .filter(|s| allowed(s))
                .cloned()
                .collect(),
        };
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "no scope was requested and this client has no default scope",
            ));
        }
        Ok(scope)
    }
}
