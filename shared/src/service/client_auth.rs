//! Client authentication (RFC 6749 §2.3.1): `client_secret_basic` and
//! `client_secret_post`, exactly one of them per request; or, for a public
//! client, its `client_id` alone (`none`), where its grant allows.

use super::client_metadata::ClientUnavailable;
use super::{HttpRequest, OAuthError, TokenService};
use crate::config::ClientMetadataDocuments;
use crate::credentials::{parse_authorization, Authorization};
use crate::form::Form;
use crate::model::{Client, ClientAuth};
use crate::password::{check_password, is_password_hash};
use crate::secret::{matches_hash, sha256_hex};
use crate::store::Store;

/// Length of the window [`ServiceConfig::imported_secret_checks_per_minute`]
/// counts in.
///
/// [`ServiceConfig::imported_secret_checks_per_minute`]: crate::config::ServiceConfig::imported_secret_checks_per_minute
const SECRET_CHECK_WINDOW_SECONDS: u64 = 60;

/// Credentials a client presented.
pub(super) struct ClientCredentials {
    pub client_id: String,
    /// `None`: a client id alone, as a public client sends it.
    client_secret: Option<String>,
}

impl ClientCredentials {
    /// Whether only a client id was presented.
    pub fn is_id_only(&self) -> bool {
        self.client_secret.is_none()
    }
}

/// Who is calling: a client with its credentials, or the holder of a bearer token.
pub(super) enum Caller {
    Client(ClientCredentials),
    Bearer(String),
    Anonymous,
}

/// Reads the caller's credentials from the `Authorization` header or the body.
pub(super) fn caller(headers: &http::HeaderMap, params: &Form) -> Result<Caller, OAuthError> {
    let authorization = parse_authorization(headers).map_err(OAuthError::invalid_request)?;
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    match authorization {
        Authorization::Basic {
            client_id,
            client_secret,
        } => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use either HTTP Basic or client_secret in the body, not both",
                ));
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the HTTP Basic client id",
                ));
            }
            Ok(Caller::Client(ClientCredentials {
                client_id,
                client_secret: Some(client_secret),
            }))
        }
        Authorization::Bearer(token) => {
            if body_id.is_some() || body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use either a bearer token or client credentials, not both",
                ));
            }
            Ok(Caller::Bearer(token))
        }
        Authorization::Other(_) => Err(OAuthError::invalid_client(
            "unsupported authentication scheme; use HTTP Basic or client_secret_post",
        )),
        Authorization::Absent => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Caller::Client(ClientCredentials {
                client_id: id.to_owned(),
                client_secret: Some(secret.to_owned()),
            })),
            // A public client (RFC 6749 §2.3): checked against the stored client.
            (Some(id), None) => Ok(Caller::Client(ClientCredentials {
                client_id: id.to_owned(),
                client_secret: None,
            })),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret was sent without client_id",
            )),
            (None, None) => Ok(Caller::Anonymous),
        },
    }
}

/// Reads client credentials for an endpoint that accepts only clients.
pub(super) fn client_credentials(
    headers: &http::HeaderMap,
    params: &Form,
) -> Result<ClientCredentials, OAuthError> {
    match caller(headers, params)? {
        Caller::Client(credentials) => Ok(credentials),
        Caller::Bearer(_) => Err(OAuthError::invalid_client(
            "a bearer token cannot authenticate a client here; use HTTP Basic or client_secret_post",
        )),
        Caller::Anonymous => Err(OAuthError::invalid_client("client authentication is required")),
    }
}

impl<S: Store> TokenService<S> {
    /// The client a token-endpoint-like request (the token endpoint, the
    /// device authorization endpoint) authenticates as: its credentials
    /// checked against the client its id names (fetched by its metadata
    /// document where that is one).
    pub(super) async fn authenticated_client(
        &self,
        request: &HttpRequest,
        params: &Form,
    ) -> Result<Client, OAuthError> {
        let credentials = client_credentials(request.headers(), params)?;
        let stored = match self.find_client(&credentials.client_id).await {
            Ok(client) => client,
            Err(ClientUnavailable::Store(e)) => return Err(e.into()),
            Err(ClientUnavailable::Document(why)) => {
                return Err(OAuthError::invalid_client(
                    ClientUnavailable::document_description(&why),
                ))
            }
        };
        self.authenticate(&credentials, stored).await
    }

    /// Checks credentials against the stored client. Unknown client, wrong
    /// secret and disabled client all get the same answer.
    ///
    /// A secret imported from django-oauth-toolkit (a Django password hash,
    /// deliberately slow) is checked the slow way once, then stored as
    /// SHA-256 so the client pays that cost only once. Until then, anyone
    /// who knows the (public) client id could make every request cost a
    /// slow hash: such checks are limited per client and minute.
    pub(super) async fn authenticate(
        &self,
        credentials: &ClientCredentials,
        stored: Option<Client>,
    ) -> Result<Client, OAuthError> {
        let refused = || OAuthError::invalid_client("client authentication failed");
        let documents_off = self.config.client_metadata_documents == ClientMetadataDocuments::Off;
        let client = stored
            .filter(|c| !c.disabled)
            // Kept from when metadata documents were on: not a client now.
            .filter(|c| !(documents_off && c.is_from_metadata_document()))
            .ok_or_else(refused)?;
        // A public client has no secret to present, a confidential one must.
        let (secret, secret_hash) = match (&credentials.client_secret, &client.auth) {
            (None, ClientAuth::Public) => return Ok(client),
            (Some(secret), ClientAuth::Confidential { secret_hash }) => (secret, secret_hash.clone()),
            _ => return Err(refused()),
        };
        if !is_password_hash(&secret_hash) {
            return if matches_hash(secret, &secret_hash) {
                Ok(client)
            } else {
                Err(refused())
            };
        }
        let window = self.clock.now() / SECRET_CHECK_WINDOW_SECONDS;
        let limit = self.config.imported_secret_checks_per_minute;
        if !self
            .store
            .claim_secret_check(&client.client_id, window, limit)
            .await?
        {
            tracing::warn!(
                client_id = %client.client_id,
                "refused unchecked: this minute's checks of the client's imported secret are spent"
            );
            return Err(refused());
        }
        let iterations = self.config.password_hash_iterations;
        let (given, encoded) = (secret.clone(), secret_hash.clone());
        let check =
            tokio::task::spawn_blocking(move || check_password(&given, Some(&encoded), iterations)).await;
        if !check.is_ok_and(|c| c.matches) {
            return Err(refused());
        }
        let sha256 = sha256_hex(secret);
        let rehashed = self
            .store
            .rehash_client_secret(&client.client_id, &secret_hash, &sha256)
            .await;
        if let Err(e) = rehashed {
            // The client is authenticated either way; the next check retries.
            tracing::warn!(error = %e, "could not re-store an imported client secret as SHA-256");
        }
        Ok(client)
    }
}
