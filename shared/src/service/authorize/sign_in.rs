//! The sign-in form. The check behind it, lockout included, is the one the
//! password grant uses too ([`TokenService::sign_in_user`]).

use http::Method;

use super::super::user_auth::SignIn;
use super::super::{HttpResponse, OAuthError, TokenService};
use super::pages;
use super::request::AuthorizationRequest;
use super::session::{Cookies, Csrf};
use crate::form::Form;
use crate::model::User;
use crate::store::{Item, Key, Store};

pub(super) const WRONG: &str = "The username or password is wrong.";
const LOCKED: &str = "Too many failed sign-ins for this username. Try again later.";
const BUSY: &str = "Too many sign-ins for this username at once. Try again in a moment.";

impl<S: Store> TokenService<S> {
    /// The sign-in form, carrying the request.
    pub(super) fn sign_in_page(
        &self,
        csrf: &Csrf,
        request: &AuthorizationRequest,
        error: Option<&str>,
        username: &str,
    ) -> HttpResponse {
        let mut page = pages::sign_in(
            &self.authorize_url(),
            pages::SignInFor::Client(&request.client.name),
            &Self::carried(request, &csrf.token),
            error,
            username,
        );
        csrf.set_on(&mut page);
        page
    }

    /// The user `username` is with `password` (its check and lockout are
    /// the password grant's), or what the sign-in form says instead.
    pub(super) async fn check_sign_in(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
    ) -> Result<Result<User, &'static str>, OAuthError> {
        Ok(match self.sign_in_user(username, password, client_id).await? {
            SignIn::SignedIn(user) => Ok(user),
            SignIn::Wrong { now_locked: false } => Err(WRONG),
            SignIn::Wrong { now_locked: true } | SignIn::Locked => Err(LOCKED),
            SignIn::Busy => Err(BUSY),
        })
    }

    /// A posted sign-in form: on success a new session (the browser's
    /// previous one ended), then the request's next step.
    pub(super) async fn sign_in_step(
        &self,
        method: &Method,
        params: &Form,
        cookies: &Cookies<'_>,
        request: &AuthorizationRequest,
    ) -> Result<HttpResponse, OAuthError> {
        let username = params.get("username")?.unwrap_or("");
        let password = params.get("password")?.unwrap_or("");
        let refused = |message| Ok(self.sign_in_page(&Csrf::of(cookies)?, request, Some(message), username));
        if username.is_empty() || password.is_empty() {
            return refused(WRONG);
        }
        let user = match self
            .check_sign_in(username, password, &request.client.client_id)
            .await?
        {
            Ok(user) => user,
            Err(message) => return refused(message),
        };
        let consent_key = Key::Consent {
            username: user.username.clone(),
            client_id: request.client.client_id.clone(),
        };
        let (session, approved) = tokio::try_join!(self.start_session(cookies, &user), async {
            Ok::<_, OAuthError>(self.store.load(&[consent_key]).await?)
        })?;
        let consent = match approved.into_iter().flatten().next() {
            Some(Item::Consent(c)) => Some(c),
            _ => None,
        };
        let mut response = self
            .after_sign_in(
                method,
                request,
                &user,
                consent.as_ref(),
                &session.facts,
                &session.csrf,
            )
            .await?;
        session.set_on(&mut response);
        Ok(response)
    }
}
