//! The one rule for the scope a request gets (RFC 6749 §3.3), at the
//! authorization endpoint and at every grant that takes `scope`.

use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::model::Client;
use crate::resource::{Audience, TargetRefused};
use crate::scope::{parse_scope, ScopeSet};
use crate::store::Store;

/// Why no scope can be granted: the description of an `invalid_scope`.
pub(super) struct ScopeRefused(pub String);

impl From<ScopeRefused> for OAuthError {
    fn from(ScopeRefused(why): ScopeRefused) -> Self {
        OAuthError::invalid_scope(why)
    }
}

impl From<TargetRefused> for OAuthError {
    fn from(TargetRefused(why): TargetRefused) -> Self {
        OAuthError::invalid_target(why)
    }
}

impl<S: Store> TokenService<S> {
    /// The audience a new grant's request names with `resource` (RFC 8707),
    /// each one the service knows and `client` may ask for.
    pub(super) fn requested_audience(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<Audience, TargetRefused> {
        let audience = self.config.resources.resolve(&params.get_all("resource"))?;
        if let Some(refused) = crate::resource::Resources::outside(&client.resources, &audience) {
            return Err(TargetRefused(format!(
                "this client may not ask for resource {refused:?}"
            )));
        }
        Ok(audience)
    }

    /// What was asked, if this server knows all of it, the client may have
    /// all of it (`offline_access` whenever it may refresh) and the
    /// resources asked (`audience`) accept it; with
    /// nothing asked, the client's own default scopes, else the service's
    /// (`DEFAULT_SCOPES`), limited to what the client may have, this server
    /// knows and the resources accept. Nothing to grant is refused.
    pub(super) fn granted_scope(
        &self,
        client: &Client,
        requested: Option<&str>,
        audience: &Audience,
    ) -> Result<ScopeSet, ScopeRefused> {
        let for_audience = |s: &String| self.config.resources.admits(audience, s);
        let allowed = |s: &String| client.may_have_scope(s) && self.config.is_known_scope(s);
        let scope: ScopeSet = match requested {
            Some(requested) => {
                let requested = parse_scope(requested)
                    .map_err(|bad| ScopeRefused(format!("{bad:?} is not a valid scope")))?;
                if let Some(denied) = requested.iter().find(|s| !allowed(s)) {
                    return Err(ScopeRefused(format!(
                        "scope {denied:?} is unknown or not allowed for this client"
                    )));
                }
                if let Some(foreign) = requested.iter().find(|s| !for_audience(s)) {
                    return Err(ScopeRefused(format!(
                        "scope {foreign:?} is not one the requested resource accepts"
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
                defaults
                    .iter()
                    .filter(|s| allowed(s) && for_audience(s))
                    .cloned()
                    .collect()
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
