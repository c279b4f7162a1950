//! RFC 7009 token revocation.

use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderValue, StatusCode};

use super::client_auth::client_credentials;
use super::{HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::Form;
use crate::secret::sha256_hex;
use crate::store::{Revocation, Store};

impl<S: Store> TokenService<S> {
    pub(super) async fn revoke(
        &self,
        request: &HttpRequest,
        params: &Form,
    ) -> Result<HttpResponse, OAuthError> {
        let credentials = client_credentials(request.headers(), params)?;
        let client = self
            .authenticate(&credentials, self.store.get_client(&credentials.client_id).await?)
            .await?;
        let token = params.require("token")?;
        // token_type_hint is only a hint (§2.1), and all tokens share one key space.
        params.get("token_type_hint")?;

        let outcome = self
            .store
            .revoke_token(&sha256_hex(token), &client.client_id)
            .await?;
        if let Revocation::Revoked {
            family_id: Some(family_id),
        } = &outcome
        {
            // §2.1: a user grant's tokens go together, refresh and access alike.
            self.store.revoke_family(family_id).await?;
        }
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
