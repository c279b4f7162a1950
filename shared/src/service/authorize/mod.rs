//! The authorization endpoint (RFC 6749 §4.1, `response_type=code` only)
//! with PKCE required of every client (RFC 7636, `S256` only) and the
//! issuer in every answer (RFC 9207), and the pages a person sees there:
//!
//! - [`request`] parses the authorization request, once;
//! - [`session`] keeps cookies, CSRF tokens and browser sessions;
//! - [`sign_in`] is the sign-in form (its check is the password grant's too);
//! - [`consent`] is the consent form, remembered approvals and the code;
//! - [`device`] is the device page, `/o/device/` (RFC 8628);
//! - [`logout`] is `/o/logout/`;
//! - [`pages`] is the HTML.
//!
//! An unknown client or a redirect URI not registered for it gets an error
//! page and is never redirected to; every other error goes back to the
//! client with `error`, `error_description`, `state` and `iss`
//! (RFC 6749 §4.1.2.1).

mod consent;
mod device;
mod logout;
mod pages;
mod request;
mod session;
mod sign_in;

use http::header::{CACHE_CONTROL, LOCATION};
use http::{HeaderValue, Method, StatusCode};

use super::{read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::form::Form;
use crate::store::Store;
use request::{AuthorizationRequest, Refused};
use session::{csrf_holds, csrf_refused, Cookies, Csrf};

/// A redirect of the browser; after a form, 303 makes it GET the target.
fn redirect(method: &Method, location: &str) -> HttpResponse {
    let mut response = http::Response::new(String::new());
    *response.status_mut() = if method == Method::POST {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, location);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

impl<S: Store> TokenService<S> {
    fn authorize_url(&self) -> String {
        self.config.endpoint("/o/authorize/")
    }

    /// `GET` (the client's redirect) and `POST` (the forms) of `/o/authorize/`.
    pub(super) async fn authorize(&self, http: &HttpRequest) -> HttpResponse {
        let params = match read_params(http) {
            Ok(params) => params,
            Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.description()),
        };
        let request = match AuthorizationRequest::parse(self, &params).await {
            Ok(request) => request,
            Err(refused) => return self.refused(http.method(), refused),
        };
        let cookies = Cookies::of(http.headers());
        let outcome = if http.method() == Method::POST {
            self.form_post(http.method(), &params, &cookies, &request).await
        } else {
            self.next_step(http.method(), &cookies, &request).await
        };
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }

    fn refused(&self, method: &Method, refused: Refused) -> HttpResponse {
        match refused {
            Refused::Page(status, message) => pages::error(status, &message),
            Refused::Redirect {
                to,
                state,
                error,
                description,
            } => {
                let mut params = vec![("error", error), ("error_description", description.as_str())];
                if let Some(state) = &state {
                    params.push(("state", state));
                }
                params.push(("iss", &self.config.issuer));
                redirect(method, &to.with_params(&params))
            }
        }
    }

    /// A request from a browser that is not signing in: the sign-in form,
    /// or what follows a sign-in.
    async fn next_step(
        &self,
        method: &Method,
        cookies: &Cookies<'_>,
        request: &AuthorizationRequest,
    ) -> Result<HttpResponse, OAuthError> {
        let csrf = Csrf::of(cookies)?;
        let signed_in = self.signed_in(cookies, Some(&request.client.client_id)).await?;
        // The session must be fresh enough for `max_age`, and is never
        // enough with `prompt=login` (OpenID Connect Core §3.1.2.1).
        let now = self.clock.now();
        let signed_in = signed_in.filter(|s| {
            !request.prompt.login
                && request
                    .max_age
                    .is_none_or(|max_age| now.saturating_sub(s.session.auth_time) <= max_age)
        });
        let mut response = match signed_in {
            None if request.prompt.none => {
                return Ok(self.refused(
                    method,
                    request.back("login_required", "the user is not signed in"),
                ))
            }
            None => {
                let hint = request.login_hint.as_deref().unwrap_or("");
                return Ok(self.sign_in_page(&csrf, request, None, hint));
            }
            Some(signed_in) => {
                self.after_sign_in(
                    method,
                    request,
                    &signed_in.user,
                    signed_in.consent.as_ref(),
                    &signed_in.session,
                    &csrf,
                )
                .await?
            }
        };
        csrf.set_on(&mut response);
        Ok(response)
    }

    /// A posted form: sign-in or consent, after the CSRF check.
    async fn form_post(
        &self,
        method: &Method,
        params: &Form,
        cookies: &Cookies<'_>,
        request: &AuthorizationRequest,
    ) -> Result<HttpResponse, OAuthError> {
        if !csrf_holds(params, cookies)? {
            return Ok(csrf_refused());
        }
        match params.get("step")? {
            Some("sign_in") => self.sign_in_step(method, params, cookies, request).await,
            Some("consent") => self.consent_step(method, params, cookies, request).await,
            _ => Err(OAuthError::invalid_request(
                "the form is not one of this server's",
            )),
        }
    }

    /// The form fields every page carries: the request, and the CSRF token.
    fn carried<'a>(request: &'a AuthorizationRequest, csrf: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut fields: Vec<(&str, &str)> = request.carried.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("csrf", csrf));
        fields
    }
}
