//! RFC 7009 token revocation.

use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderValue, StatusCode};

use super::client_auth::client_credentials;
use super::cors::ClientOrigins;
use super::{HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::Form;
use crate::secret::sha256_hex;
use crate::store::{Item, Key, Revocation, Store};

impl<S: Store> TokenService<S> {
    pub(super) async fn revoke(
        &self,
        request: &HttpRequest,
        params: &Form,
        origins: &ClientOrigins,
    ) -> Result<HttpResponse, OAuthError> {
        let credentials = client_credentials(request.headers(), params)?;
        let token = params.require("token")?;
        // token_type_hint is only a hint (§2.1), and all tokens share one key space.
        params.get("token_type_hint")?;
        let token_hash = sha256_hex(token);

        // One round trip reads the client and the token.
        let keys = [
            Key::Client(credentials.client_id.clone()),
            Key::Token(token_hash.clone()),
        ];
        let mut stored_client = None;
        let mut stored_token = None;
        for item in self.store.load(&keys).await?.into_iter().flatten() {
            match item {
                Item::Client(c) => stored_client = Some(c),
                Item::Token(t) => stored_token = Some(t),
                _ => {}
            }
        }
        let client = self.authenticate(&credentials, stored_client).await?;
        origins.of(&client);

        // §2.1: a user grant's tokens go together, refresh and access alike.
        // The grant is revoked before the token is deleted, so that a failure
        // in between leaves the token for a retry to find, never a live grant
        // behind a deleted token.
        if let Some(family_id) = stored_token
            .as_ref()
            .filter(|t| t.client_id == client.client_id)
            .and_then(|t| t.family_id.as_deref())
        {
            self.store.revoke_family(family_id).await?;
        }
        let outcome = self.store.revoke_token(&token_hash, &client.client_id).await?;
        match outcome {
            // An unknown token is not an error (§2.2): the client's aim is met.
            Revocation::Revoked { .. } | Revocation::NotFound => {
                let mut response = http::Response::new(String::new());
                *response.status_mut() = StatusCode::OK;
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
                    .headers_mut()
                    .insert(PRAGMA, HeaderValue::from_static("no-cache"));
                Ok(response)
            }
            // §2.1: a token issued to another client is refused, and kept.
            Revocation::NotOwner => Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            )),
        }
    }
}
