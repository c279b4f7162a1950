//! The device code grant at the token endpoint (RFC 8628 §3.4, §3.5): a
//! device polls with its device code until a user decided at the device
//! page. Approved, the code is redeemed as an authorization code is: once,
//! for a family of tokens with a refresh token; presented again, the tokens
//! it gave are revoked. Until then the device learns only the outcome:
//! pending, slow down, denied, expired.

use super::error::DevicePollError;
use super::token::{for_audience, still_allowed};
use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{redeem_authorization_code, IssuedToken};
use crate::model::{Client, CodeDelivery, DeviceStatus};
use crate::scope::OPENID_SCOPE;
use crate::secret::sha256_hex;
use crate::store::{Item, Key, Poll, Redemption, Store};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the device code is invalid, expired long ago or already used")
}

impl<S: Store> TokenService<S> {
    pub(super) async fn device_code_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let hash = sha256_hex(params.require("device_code")?);
        let now = self.clock.now();
        let (mut code, mut device) = (None, None);
        for item in self
            .store
            .load(&[Key::Code(hash.clone()), Key::Device(hash.clone())])
            .await?
            .into_iter()
            .flatten()
        {
            match item {
                Item::Code(c) if c.client_id == client.client_id && c.delivery == CodeDelivery::Device => {
                    code = Some(c)
                }
                Item::Device(d) if d.client_id == client.client_id => device = Some(d),
                _ => {}
            }
        }
        let Some(code) = code else {
            let poll = |e| Err(OAuthError::device_poll(e));
            let Some(device) = device else {
                return Err(invalid());
            };
            if now >= device.usable_until {
                return poll(DevicePollError::ExpiredToken);
            }
            return match device.status {
                DeviceStatus::Denied => poll(DevicePollError::AccessDenied),
                // Approved, and its code gone: it expired unredeemed.
                DeviceStatus::Approved => poll(DevicePollError::ExpiredToken),
                DeviceStatus::Pending => match self.store.poll_device(&hash, now).await? {
                    Poll::Pending | Poll::Decided(DeviceStatus::Approved | DeviceStatus::Pending) => {
                        poll(DevicePollError::AuthorizationPending)
                    }
                    Poll::SlowDown => poll(DevicePollError::SlowDown),
                    Poll::Decided(DeviceStatus::Denied) => poll(DevicePollError::AccessDenied),
                    Poll::NotFound => poll(DevicePollError::ExpiredToken),
                },
            };
        };
        if code.redeemed_at.is_some() {
            tracing::warn!(
                client_id = %client.client_id,
                "a device code was presented again after its redemption; revoking the tokens issued for it"
            );
            self.store.revoke_family(&code.family_id).await?;
            return Err(invalid());
        }
        // The user must still stand, and the client still be allowed the scope.
        let user = match self.store.get_user(&code.username).await? {
            Some(user) if user.honours(&code.user_grants_key) => user,
            _ => return Err(invalid()),
        };
        let grant_scope = still_allowed(&code.scope, client)?;
        let resources = &self.config.resources;
        let audience = resources.narrow(&code.audience, &params.get_all("resource"))?;
        let scope = for_audience(resources, &audience, &grant_scope)?;
        let request = self
            .token_request(client, scope, audience, Some(&user), now)
            .await?;
        let refresh_lifetime = self.config.refresh_token_expire_seconds;
        match redeem_authorization_code(&self.store, &code, request, &grant_scope, refresh_lifetime).await? {
            Ok(mut issued) => {
                tracing::info!(client_id = %client.client_id, "device code redeemed");
                if issued.record.scope.contains(OPENID_SCOPE) {
                    issued.id_token = Some(
                        self.id_token(client, &code, &user, &issued.access_token, now)
                            .await?,
                    );
                }
                Ok(issued)
            }
            // Redeemed between our read and our write: another poll got it.
            Err(Redemption::Replayed { family_id }) => {
                self.store.revoke_family(&family_id).await?;
                Err(invalid())
            }
            Err(_) => Err(invalid()),
        }
    }
}
