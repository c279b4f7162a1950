//! The consent form, remembered approvals, and the code sent back.

use http::Method;

use super::super::{HttpResponse, OAuthError, TokenService};
use super::pages;
use super::redirect;
use super::request::AuthorizationRequest;
use super::session::{Cookies, Csrf, SessionFacts, SignedIn};
use crate::config::AUTHORIZATION_CODE_EXPIRE_SECONDS;
use crate::form::Form;
use crate::model::{AuthorizationCode, Client, CodeDelivery, Consent, Registration, User};
use crate::scope::{format_scope, ScopeSet, OPENID_SCOPE};
use crate::secret::{generate_id, generate_secret, sha256_hex};
use crate::store::Store;

/// Whether the user must be asked. Always for a public client whose
/// redirect does not identify it (RFC 8252 §8.6: any app on the device can
/// claim a loopback port or a private-use scheme, and redeem with the client
/// id alone, so such a request is processed as if nothing had been
/// approved); otherwise unless the client skips consent or the user
/// approved this scope (or more) since their grants last ended.
fn consent_needed(request: &AuthorizationRequest, user: &User, consent: Option<&Consent>) -> bool {
    if request.client.is_public() && !request.redirect_uri.identifies_client() {
        return true;
    }
    let approved = consent
        .filter(|c| c.user_grants_key == user.grants_key)
        .is_some_and(|c| request.scope.is_subset(&c.scopes));
    !request.client.skip_consent && !approved
}

/// What the consent page says of a client nobody here vouched for (`None`
/// for one an administrator made), and where its answer goes.
pub(super) fn unverified(client: &Client, destination: String) -> Option<pages::Unverified> {
    match client.registration {
        Registration::Administered => None,
        Registration::Dynamic { .. } => Some(pages::Unverified::RegisteredItself { destination }),
        Registration::MetadataDocument { .. } => Some(pages::Unverified::DescribedAt {
            host: url::Url::parse(&client.client_id)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_default(),
            destination,
        }),
    }
}

/// What a posted consent form approves of `asked`: the scopes left ticked
/// (never one not asked for) and the fixed ones.
pub(super) fn approved_scopes(params: &Form, asked: &ScopeSet) -> ScopeSet {
    let ticked = params.get_all(pages::GRANTED_SCOPE_FIELD);
    asked
        .iter()
        .filter(|s| *s == OPENID_SCOPE || ticked.contains(&s.as_str()))
        .cloned()
        .collect()
}

impl<S: Store> TokenService<S> {
    /// What follows a sign-in (or a visit already signed in): the consent
    /// form, or the code.
    pub(super) async fn after_sign_in(
        &self,
        method: &Method,
        request: &AuthorizationRequest,
        user: &User,
        consent: Option<&Consent>,
        session: &SessionFacts,
        csrf: &Csrf,
    ) -> Result<HttpResponse, OAuthError> {
        if request.prompt.consent || consent_needed(request, user, consent) {
            if request.prompt.none {
                return Ok(self.refused(
                    method,
                    request.back("consent_required", "the user has not approved this client"),
                ));
            }
            Ok(self.consent_page(csrf, request, user))
        } else {
            self.issue_code(method, request, request.scope.clone(), user, session)
                .await
        }
    }

    fn consent_page(&self, csrf: &Csrf, request: &AuthorizationRequest, user: &User) -> HttpResponse {
        pages::consent(
            &self.authorize_url(),
            &request.client.name,
            false,
            unverified(&request.client, request.redirect_uri.destination()).as_ref(),
            &user.username,
            &self.scope_choices(&request.scope),
            &Self::carried(request, &csrf.token),
        )
    }

    /// The scopes `asked` as the consent form offers them.
    pub(super) fn scope_choices<'a>(&'a self, asked: &'a ScopeSet) -> Vec<pages::ScopeChoice<'a>> {
        asked
            .iter()
            .map(|s| pages::ScopeChoice {
                name: s,
                description: self.config.scopes.get(s).map_or(s.as_str(), String::as_str),
                fixed: s == OPENID_SCOPE,
            })
            .collect()
    }

    /// A posted consent form: the user's decision. An approval adds to what
    /// the user approved for the client before (since their grants last
    /// ended), and the code follows.
    pub(super) async fn consent_step(
        &self,
        method: &Method,
        params: &Form,
        cookies: &Cookies<'_>,
        request: &AuthorizationRequest,
    ) -> Result<HttpResponse, OAuthError> {
        let client_id = &request.client.client_id;
        let Some(SignedIn {
            user,
            consent,
            session,
        }) = self.signed_in(cookies, Some(client_id)).await?
        else {
            return Ok(self.sign_in_page(&Csrf::of(cookies)?, request, None, ""));
        };
        let approved = approved_scopes(params, &request.scope);
        if params.get("decision")? != Some("allow") || approved.is_empty() {
            return Ok(self.refused(
                method,
                request.back("access_denied", "the user denied the request"),
            ));
        }
        let mut scopes = approved.clone();
        if let Some(earlier) = consent.filter(|c| c.user_grants_key == user.grants_key) {
            scopes.extend(earlier.scopes);
        }
        self.store
            .put_consent(&Consent {
                username: user.username.clone(),
                client_id: client_id.clone(),
                scopes,
                user_grants_key: user.grants_key.clone(),
            })
            .await?;
        self.issue_code(method, request, approved, &user, &session).await
    }

    /// Stores a code for the request, granting `scope`, and sends the
    /// browser back with it.
    async fn issue_code(
        &self,
        method: &Method,
        request: &AuthorizationRequest,
        scope: ScopeSet,
        user: &User,
        session: &SessionFacts,
    ) -> Result<HttpResponse, OAuthError> {
        let code = generate_secret()?;
        let now = self.clock.now();
        self.store
            .put_code(&AuthorizationCode {
                code_hash: sha256_hex(&code),
                client_id: request.client.client_id.clone(),
                delivery: CodeDelivery::Redirect {
                    redirect_uri: request.redirect_uri.as_str().to_owned(),
                    redirect_uri_sent: request.redirect_uri_sent,
                    code_challenge: request.code_challenge.as_str().to_owned(),
                },
                scope: scope.clone(),
                audience: request.audience.clone(),
                username: user.username.clone(),
                user_grants_key: user.grants_key.clone(),
                family_id: generate_id()?,
                issued_at: now,
                expires_at: now + AUTHORIZATION_CODE_EXPIRE_SECONDS,
                redeemed_at: None,
                nonce: request.nonce.clone(),
                auth_time: session.auth_time,
                sid: session.sid.clone(),
            })
            .await?;
        tracing::info!(
            client_id = %request.client.client_id,
            scope = %format_scope(&scope),
            "authorization code issued"
        );
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = &request.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.config.issuer));
        Ok(redirect(method, &request.redirect_uri.with_params(&params)))
    }
}
