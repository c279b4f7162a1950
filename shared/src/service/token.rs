//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands
//! the request to the handler of its grant type.

use http::StatusCode;
use serde_json::json;

use super::cors::ClientOrigins;
use super::{json_response, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::Form;
use crate::issue::{issue_access_token, IssuedToken, JwtAccess, TokenRequest};
use crate::model::{AccessTokenFormat, Client, GrantType, User};
use crate::resource::Audience;
use crate::scope::{format_scope, ScopeSet};
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(super) async fn token(
        &self,
        request: &HttpRequest,
        params: &Form,
        origins: &ClientOrigins,
    ) -> Result<HttpResponse, OAuthError> {
        let grant_type = params.require("grant_type")?;
        let grant = GrantType::parse(grant_type).ok_or_else(|| {
            OAuthError::unsupported_grant_type(format!("grant_type {grant_type:?} is not supported"))
        })?;

        let client = self.authenticated_client(request, params).await?;
        origins.of(&client);
        if !client.may_use(grant) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client may not use the {} grant",
                grant.as_str()
            )));
        }
        self.renew_if_registered(&client).await?;

        let issued = match grant {
            GrantType::ClientCredentials => self.client_credentials_grant(&client, params).await?,
            GrantType::Password => self.password_grant(&client, params).await?,
            GrantType::RefreshToken => self.refresh_token_grant(&client, params).await?,
            GrantType::AuthorizationCode => self.authorization_code_grant(&client, params).await?,
            GrantType::DeviceCode => self.device_code_grant(&client, params).await?,
        };
        Ok(token_response(&issued, self.clock.now()))
    }

    /// Issues and stores an access token (one conditional write).
    pub(super) async fn issue(&self, request: TokenRequest<'_>) -> Result<IssuedToken, OAuthError> {
        Ok(issue_access_token(&self.store, request).await?)
    }

    /// What a grant issues to `client` (for `user`, or for itself): with
    /// the client's own access-token lifetime when it has one, else the
    /// service's for its format; a JWT client's tokens signed by the key
    /// signing now.
    pub(super) async fn token_request<'a>(
        &self,
        client: &'a Client,
        scope: ScopeSet,
        audience: Audience,
        user: Option<&User>,
        now: u64,
    ) -> Result<TokenRequest<'a>, OAuthError> {
        let (default_lifetime, jwt) = match client.access_token_format {
            AccessTokenFormat::Opaque => (self.config.access_token_expire_seconds, None),
            AccessTokenFormat::Jwt => {
                let Some(keys) = &self.keys else {
                    return Err(OAuthError::unavailable(
                        &"a client's access tokens are JWTs, but no signing keys are configured (SIGNING_KEY_KMS_KEY_ID or SIGNING_KEY_SECRET)",
                    ));
                };
                let jwt = JwtAccess {
                    key: keys.active(&self.store, now).await?,
                    issuer: self.config.issuer.clone(),
                    audience: self.config.jwt_access_token_audience.clone(),
                    // A client's own token: a subject no user can have (theirs have no colon).
                    subject: user
                        .map_or_else(|| format!("client:{}", client.client_id), |u| u.subject.clone()),
                };
                (self.config.jwt_access_token_expire_seconds, Some(jwt))
            }
        };
        Ok(TokenRequest {
            client_id: &client.client_id,
            scope,
            audience,
            lifetime: client.token_lifetime.unwrap_or(default_lifetime),
            username: user.map(|u| u.username.clone()),
            now,
            jwt,
        })
    }
}

/// What of an earlier grant's scope the client may still have (its allowed
/// scopes can have narrowed since); none is `invalid_scope`.
pub(super) fn still_allowed(granted: &ScopeSet, client: &Client) -> Result<ScopeSet, OAuthError> {
    let scope: ScopeSet = granted
        .iter()
        .filter(|s| client.may_have_scope(s))
        .cloned()
        .collect();
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the client is no longer allowed any of the granted scope",
        ));
    }
    Ok(scope)
}

/// What of `scope` (what the grant has) a token for `audience` may carry,
/// when the request narrowed the grant's resources; none is `invalid_scope`.
pub(super) fn for_audience(
    resources: &crate::resource::Resources,
    audience: &Audience,
    scope: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    let admitted = resources.admitted(audience, scope);
    if admitted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the granted scope is accepted by the resource asked for",
        ));
    }
    Ok(admitted)
}

/// RFC 6749 §5.1 successful answer.
fn token_response(issued: &IssuedToken, now: u64) -> HttpResponse {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in(now),
        "scope": format_scope(&issued.record.scope),
    });
    if let Some(refresh_token) = &issued.refresh_token {
        body["refresh_token"] = refresh_token.clone().into();
    }
    if let Some(id_token) = &issued.id_token {
        body["id_token"] = id_token.clone().into();
    }
    json_response(StatusCode::OK, &body)
}
