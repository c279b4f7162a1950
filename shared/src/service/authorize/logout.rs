//! `/o/logout/`: a GET shows the sign-out form (so that a link cannot sign
//! anyone out), a POST with the CSRF token signs out.

use http::Method;

use super::super::{read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use super::pages;
use super::session::{csrf_holds, csrf_refused, Cookies, Csrf};
use crate::store::Store;

impl<S: Store> TokenService<S> {
    pub(in crate::service) async fn logout(&self, request: &HttpRequest) -> HttpResponse {
        let cookies = Cookies::of(request.headers());
        let action = format!("{}/o/logout/", self.config.issuer);
        let outcome: Result<HttpResponse, OAuthError> = async {
            if request.method() == Method::GET {
                let signed_in = self.signed_in(&cookies, None).await?;
                let csrf = Csrf::of(&cookies)?;
                let mut page = pages::sign_out(
                    &action,
                    &csrf.token,
                    signed_in.as_ref().map(|s| s.user.username.as_str()),
                );
                csrf.set_on(&mut page);
                return Ok(page);
            }
            let params = read_params(request)?;
            if !csrf_holds(&params, &cookies)? {
                return Ok(csrf_refused());
            }
            let mut page = pages::sign_out(&action, "", None);
            self.end_session(&cookies, &mut page).await?;
            Ok(page)
        }
        .await;
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }
}
