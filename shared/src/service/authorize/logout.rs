//! `/o/logout/`: sign-out, and OpenID Connect RP-initiated logout
//! (RP-Initiated Logout 1.0). A GET shows the sign-out form (so that a link
//! cannot sign anyone out), a POST with the CSRF token signs out. A relying
//! party may send the browser here with `id_token_hint` (an ID token this
//! service issued, expired or not), `client_id`, `post_logout_redirect_uri`
//! (one the client registered, exactly; never anywhere else) and `state`:
//! after the sign-out the browser goes back there.

use http::{Method, StatusCode};

use super::super::{read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use super::session::{csrf_holds, csrf_refused, Cookies, Csrf};
use super::{pages, redirect};
use crate::form::Form;
use crate::jose::verify_rs256;
use crate::redirect_uri::RedirectUri;
use crate::store::Store;

/// The parameters carried from the relying party's redirect to the form.
const LOGOUT_PARAMS: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

/// Where the browser goes after signing out, when a relying party asked.
struct Back {
    to: RedirectUri,
    state: Option<String>,
    client_name: String,
}

impl Back {
    fn location(&self) -> String {
        match &self.state {
            Some(state) => self.to.with_params(&[("state", state)]),
            None => self.to.as_str().to_owned(),
        }
    }
}

impl<S: Store> TokenService<S> {
    pub(in crate::service) async fn logout(&self, request: &HttpRequest) -> HttpResponse {
        let cookies = Cookies::of(request.headers());
        let action = self.config.endpoint("/o/logout/");
        let outcome: Result<HttpResponse, OAuthError> = async {
            let params = read_params(request)?;
            let back = match self.logout_request(&params).await? {
                Ok(back) => back,
                Err(refused) => return Ok(pages::error(StatusCode::BAD_REQUEST, &refused)),
            };
            if request.method() == Method::GET {
                let signed_in = self.signed_in(&cookies, None).await?;
                let Some(signed_in) = signed_in else {
                    // Nobody to sign out: straight back, if asked.
                    return Ok(match &back {
                        Some(back) => redirect(request.method(), &back.location()),
                        None => pages::sign_out(&action, &[], None, None),
                    });
                };
                let csrf = Csrf::of(&cookies)?;
                let mut carried: Vec<(&str, &str)> = LOGOUT_PARAMS
                    .iter()
                    .filter_map(|name| Some((*name, params.get(name).ok()??)))
                    .collect();
                carried.push(("csrf", &csrf.token));
                let mut page = pages::sign_out(
                    &action,
                    &carried,
                    Some(&signed_in.user.username),
                    back.as_ref().map(|b| b.client_name.as_str()),
                );
                csrf.set_on(&mut page);
                return Ok(page);
            }
            if !csrf_holds(&params, &cookies)? {
                return Ok(csrf_refused());
            }
            let mut page = match &back {
                Some(back) => redirect(request.method(), &back.location()),
                None => pages::sign_out(&action, &[], None, None),
            };
            self.end_session(&cookies, &mut page).await?;
            Ok(page)
        }
        .await;
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }

    /// What a relying party asked: where to send the browser back, if
    /// anywhere; `Err` (shown as a page, never redirected) for a request
    /// that cannot be trusted.
    async fn logout_request(&self, params: &Form) -> Result<Result<Option<Back>, String>, OAuthError> {
        let refused = |why: &str| Ok(Err(why.to_owned()));
        let hint = params.get("id_token_hint")?;
        let client_id = params.get("client_id")?;
        let Some(asked) = params.get("post_logout_redirect_uri")? else {
            return Ok(Ok(None));
        };
        // The hint names the client (its `aud`), when it is an ID token of ours.
        let hinted = match (hint, &self.keys) {
            (Some(hint), Some(keys)) => {
                let set = keys.keys(&self.store, self.clock.now()).await?;
                let now = self.clock.now();
                let published = set.published(now).map(|k| (k.kid.as_str(), &k.public));
                match verify_rs256(hint, published) {
                    Some(claims) if claims["iss"] == self.config.issuer.as_str() => {
                        claims["aud"].as_str().map(str::to_owned)
                    }
                    _ => return refused("the id_token_hint is not an ID token of this service"),
                }
            }
            (Some(_), None) => return refused("the id_token_hint is not an ID token of this service"),
            (None, _) => None,
        };
        let client_id = match (client_id, hinted.as_deref()) {
            (Some(given), Some(hinted)) if given != hinted => {
                return refused("the client_id is not the one the id_token_hint was issued to")
            }
            (Some(given), _) => given,
            (None, Some(hinted)) => hinted,
            (None, None) => {
                return refused("post_logout_redirect_uri needs the client: send id_token_hint or client_id")
            }
        };
        let Some(client) = self.store.get_client(client_id).await?.filter(|c| !c.disabled) else {
            return refused("the client is unknown");
        };
        let registered = RedirectUri::parse(asked).ok().filter(|asked| {
            client
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.as_str() == asked.as_str())
        });
        let Some(to) = registered else {
            return refused("the post_logout_redirect_uri is not registered for this client");
        };
        Ok(Ok(Some(Back {
            to,
            state: params.get("state")?.map(str::to_owned),
            client_name: client.name,
        })))
    }
}
