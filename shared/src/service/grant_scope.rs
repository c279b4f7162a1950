//! The one rule for the scope a request gets (RFC 6749 §3.3), at the
//! authorization endpoint and at every grant that takes `scope`.

use super::{OAuthError, TokenService};
use crate::model::Client;
use crate::scope::{parse_scope, ScopeSet};
use crate::store::Store;

/// Why no scope can be granted: the description of an `invalid_scope`.
pub(super) struct ScopeRefused(pub String);

impl From<ScopeRefused> for OAuthError {
    fn from(ScopeRefused(why): ScopeRefused) -> Self {
        OAuthError::invalid_scope(why)
    }
}

impl<S: Store> TokenService<S> {
    /// What was asked, if this server knows all of it and the client may
    /// have all of it; with nothing asked, the client's own default scopes,
    /// else the service's (`DEFAULT_SCOPES`), limited to what the client may
    /// have and this server knows. Nothing to grant is refused.
    pub(super) fn granted_scope(
        &self,
        client: &Client,
        requested: Option<&str>,
    ) -> Result<ScopeSet, ScopeRefused> {
        let allowed = |s: &String| client.scopes.contains(s) && self.config.is_known_scope(s);
        let scope: ScopeSet = match requested {
            Some(requested) => {
                let requested = parse_scope(requested)
                    .map_err(|bad| ScopeRefused(format!("{bad:?} is not a valid scope")))?;
                if let Some(denied) = requested.iter().find(|s| !allowed(s)) {
                    return Err(ScopeRefused(format!(
                        "scope {denied:?} is unknown or not allowed for this client"
                    )));
                }
                requested
            }
            None => {
                let defaults = if client.default_scopes.is_empty() {
                    &self.config.default_scopes
                } else {
                    &client.default_scopes
                };
                defaults.iter().filter(|s| allowed(s)).cloned().collect()
            }
        };
        if scope.is_empty() {
            return Err(ScopeRefused(
                "no scope was requested and this client has no default scope".into(),
            ));
        }
        Ok(scope)
    }
}
