//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection:
//! every exchange spends the refresh token and returns a new pair; presenting
//! a spent refresh token again (a replay, or the loser of a race) revokes the
//! whole family at once, unless it comes within
//! `REFRESH_TOKEN_GRACE_PERIOD_SECONDS`, when the pair already issued is
//! returned again. A bounded number of store calls whatever the family's age:
//! read the token, read its family and user, one transaction.

use super::token::{for_audience, still_allowed};
use super::{OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{rotate_refresh_token, IssuedToken, RotationPolicy};
use crate::model::{Client, Token, TokenKind};
use crate::scope::parse_scope;
use crate::secret::sha256_hex;
use crate::store::{Item, Key, Rotation, Store};
use crate::successor;

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

impl<S: Store> TokenService<S> {
    pub(super) async fn refresh_token_grant(
        &self,
        client: &Client,
        params: &Form,
    ) -> Result<IssuedToken, OAuthError> {
        let presented = params.require("refresh_token")?;
        let requested = params.get("scope")?;
        let now = self.clock.now();

        let old = self.refresh_token(client, presented).await?;
        let (Some(family_id), Some(username)) = (old.family_id.clone(), old.username.clone()) else {
            return Err(invalid());
        };
        if old.rotated_at.is_some() {
            return self.spent(client, &old, presented, now).await;
        }

        let owners = self
            .store
            .load(&[Key::Family(family_id), Key::User(username.clone())])
            .await?;
        let (family, user) = match owners.as_slice() {
            [Some(Item::Family(f)), Some(Item::User(u))] if u.honours(&f.user_grants_key) => {
                (f.clone(), u.clone())
            }
            _ => return Err(invalid()),
        };
        if family.revoked {
            return Err(invalid());
        }

        // A narrower scope may be asked for, never a wider one (§6), and
        // never one the client is no longer allowed.
        let scope = match requested {
            None => still_allowed(&old.scope, client)?,
            Some(requested) => {
                let requested = parse_scope(requested)
                    .map_err(|bad| OAuthError::invalid_scope(format!("{bad:?} is not a valid scope")))?;
                if requested.is_empty() || !requested.is_subset(&old.scope) {
                    return Err(OAuthError::invalid_scope(
                        "the scope may only narrow what was granted",
                    ));
                }
                if !requested.iter().all(|s| client.may_have_scope(s)) {
                    return Err(OAuthError::invalid_scope(
                        "the client is no longer allowed all of that scope",
                    ));
                }
                requested
            }
        };

        // RFC 8707 §2.2: fewer of the grant's resources may be asked for.
        let resources = &self.config.resources;
        let audience = resources.narrow(&old.audience, &params.get_all("resource"))?;
        let scope = for_audience(resources, &audience, &scope)?;
        let request = self
            .token_request(client, scope, audience, Some(&user), now)
            .await?;
        let policy = RotationPolicy {
            refresh_lifetime: self.config.refresh_token_expire_seconds,
            keep_successor: self.config.refresh_token_grace_period_seconds > 0,
            revoke_previous_access: self.config.rotation_revokes_access_token,
        };
        match rotate_refresh_token(&self.store, presented, &old, &family, request, policy).await? {
            Ok(issued) => Ok(issued),
            // Spent between our read and our write: a concurrent exchange won.
            Err(Rotation::AlreadyRotated) => {
                let spent = self.refresh_token(client, presented).await?;
                self.spent(client, &spent, presented, now).await
            }
            Err(_) => Err(invalid()),
        }
    }

    /// The live refresh token `presented`, issued to `client`.
    async fn refresh_token(&self, client: &Client, presented: &str) -> Result<Token, OAuthError> {
        match self
            .store
            .load(&[Key::Token(sha256_hex(presented))])
            .await?
            .pop()
            .flatten()
        {
            Some(Item::Token(t)) if t.kind == TokenKind::Refresh && t.client_id == client.client_id => Ok(t),
            _ => Err(invalid()),
        }
    }

    /// A spent refresh token presented again: within the grace period, the
    /// pair it was exchanged for; after it, reuse, and the family is revoked.
    async fn spent(
        &self,
        client: &Client,
        old: &Token,
        presented: &str,
        now: u64,
    ) -> Result<IssuedToken, OAuthError> {
        let grace = self.config.refresh_token_grace_period_seconds;
        let family_id = old.family_id.clone().ok_or_else(invalid)?;
        let within_grace = grace > 0 && old.rotated_at.is_some_and(|at| now.saturating_sub(at) <= grace);
        if within_grace {
            // The family's sealed pair opens only with the refresh token it
            // was sealed with, its most recently spent one: an older spent
            // token, even within the grace period, is reuse.
            let username = old.username.clone().ok_or_else(invalid)?;
            let owners = self
                .store
                .load(&[Key::Family(family_id.clone()), Key::User(username)])
                .await?;
            let (family, user) = match owners.as_slice() {
                [Some(Item::Family(f)), Some(Item::User(u))] => (f, u),
                _ => return Err(invalid()),
            };
            if family.revoked || !user.honours(&family.user_grants_key) {
                return Err(invalid());
            }
            let pair = family
                .successor
                .as_deref()
                .and_then(|sealed| successor::open(presented, sealed));
            if let Some((access_token, refresh_token)) = pair {
                // The pair still stands: its access token not revoked or expired.
                let access = self.store.load(&[Key::Token(sha256_hex(&access_token))]).await?;
                return match access.as_slice() {
                    [Some(Item::Token(record))] => Ok(IssuedToken {
                        access_token,
                        record: record.clone(),
                        refresh_token: Some(refresh_token),
                        id_token: None,
                    }),
                    _ => Err(invalid()),
                };
            }
        }
        tracing::warn!(client_id = %client.client_id, "a spent refresh token was presented again; revoking its family");
        self.store.revoke_family(&family_id).await?;
        Err(invalid())
    }
}
