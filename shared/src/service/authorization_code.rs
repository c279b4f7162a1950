//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3)
//! with PKCE (RFC 7636 §4.5): the code, the redirect URI it was sent to
//! (required only if the authorization request named it) and the verifier
//! of its challenge. A code is redeemed once; presented again, however
//! late, every token issued for it is revoked (RFC 6749 §4.1.2).

use super::pkce::verifies;
use super::token::{for_audience, still_allowed};
use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{redeem_authorization_code, IssuedToken};
use crate::model::{Client, CodeDelivery};
use crate::redirect_uri::RedirectUri;
use crate::scope::OPENID_SCOPE;
use crate::secret::sha256_hex;
use crate::store::{Item, Key, Redemption, Store};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

impl<S: Store> TokenService<S> {
    pub(super) async fn authorization_code_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let presented = params.require("code")?;
        let redirect_uri = params.get("redirect_uri")?;
        let verifier = params.require("code_verifier")?;
        let now = self.clock.now();

        let code = match self
            .store
            .load(&[Key::Code(sha256_hex(presented))])
            .await?
            .pop()
            .flatten()
        {
            Some(Item::Code(code)) if code.client_id == client.client_id => code,
            _ => return Err(invalid()),
        };
        let CodeDelivery::Redirect {
            redirect_uri: sent_to,
            redirect_uri_sent,
            code_challenge,
        } = &code.delivery
        else {
            // A device code (RFC 8628) is redeemed by its own grant only.
            return Err(invalid());
        };
        if code.redeemed_at.is_some() {
            return self.replayed(client, &code.family_id).await;
        }
        // RFC 6749 §4.1.3: required if the authorization request named it,
        // and then identical; the same URI if given anyway.
        match redirect_uri {
            None if *redirect_uri_sent => {
                return Err(OAuthError::invalid_request(
                    "redirect_uri is missing: the authorization request named one",
                ))
            }
            None => {}
            Some(given) => {
                let same = RedirectUri::parse(given).is_ok_and(|given| given.as_str() == sent_to);
                if !same {
                    return Err(OAuthError::invalid_grant(
                        "redirect_uri differs from the authorization request's",
                    ));
                }
            }
        }
        if !verifies(verifier, code_challenge) {
            return Err(OAuthError::invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        // The user must still stand, and the client still be allowed the scope.
        let user = match self.store.get_user(&code.username).await? {
            Some(user) if user.honours(&code.user_grants_key) => user,
            _ => return Err(invalid()),
        };
        let grant_scope = still_allowed(&code.scope, client)?;
        // RFC 8707 §2.2: the token may be for fewer of the grant's resources.
        let resources = &self.config.resources;
        let audience = resources.narrow(&code.audience, &params.get_all("resource"))?;
        let scope = for_audience(resources, &audience, &grant_scope)?;
        let request = self
            .token_request(client, scope, audience, Some(&user), now)
            .await?;
        let refresh_lifetime = self.config.refresh_token_expire_seconds;
        match redeem_authorization_code(&self.store, &code, request, &grant_scope, refresh_lifetime).await? {
            Ok(mut issued) => {
                if issued.record.scope.contains(OPENID_SCOPE) {
                    issued.id_token = Some(
                        self.id_token(client, &code, &user, &issued.access_token, now)
                            .await?,
                    );
                }
                Ok(issued)
            }
            // Redeemed between our read and our write.
            Err(Redemption::Replayed { family_id }) => self.replayed(client, &family_id).await,
            Err(_) => Err(invalid()),
        }
    }

    /// A code presented again: revoke what it gave, refuse.
    async fn replayed(&self, client: &Client, family_id: &str) -> Result<IssuedToken, OAuthError> {
        tracing::warn!(
            client_id = %client.client_id,
            "an authorization code was presented again; revoking the tokens issued for it"
        );
        self.store.revoke_family(family_id).await?;
        Err(invalid())
    }
}
