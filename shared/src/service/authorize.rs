//! The authorization endpoint (RFC 6749 §4.1, `response_type=code` only)
//! with PKCE required for every client (RFC 7636, `S256` only) and the
//! issuer in every answer (RFC 9207); sign-in, consent and sign-out pages.
//!
//! An unknown client or a redirect URI not registered for it gets an error
//! page and is never redirected to; every other error goes back to the
//! client with `error`, `error_description`, `state` and `iss`
//! (RFC 6749 §4.1.2.1). Forms carry a CSRF token that must equal the one in
//! a `__Host-` cookie (double submit); sessions are `__Host-` cookies whose
//! SHA-256 keys a stored session.

use http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{pages, read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::config::AUTHORIZATION_CODE_EXPIRE_SECONDS;
use crate::form::{self, Form};
use crate::model::{AuthorizationCode, Client, Consent, GrantType, Session, User};
use crate::scope::{format_scope, parse_scope, ScopeSet, INTROSPECTION_SCOPE};
use crate::secret::{generate_id, generate_secret, sha256_hex};
use crate::store::{Item, Key, Store};

const SESSION_COOKIE: &str = "__Host-session";
const CSRF_COOKIE: &str = "__Host-csrf";

/// The parameters of an authorization request, carried through the forms.
const REQUEST_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// A valid authorization request.
struct Authorization {
    client: Client,
    redirect_uri: String,
    scope: ScopeSet,
    state: Option<String>,
    code_challenge: String,
    /// The request's parameters as received, for the forms to carry.
    carried: Vec<(&'static str, String)>,
}

/// Why an authorization request cannot go on.
enum Refused {
    /// Shown as a page: the client or its redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl From<OAuthError> for Refused {
    fn from(e: OAuthError) -> Self {
        // Storage failures and the like, before a redirect URI is trusted.
        let status = e.status();
        Refused::Page(status, e.description().to_owned())
    }
}

/// The cookies of a request.
struct Cookies<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Cookies<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let pairs = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .collect();
        Cookies(pairs)
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    }
}

/// A signed-in browser: its session, its user, and (when asked for) the
/// user's approval of the client at hand.
struct SignedIn {
    session: Session,
    user: User,
    consent: Option<Consent>,
}

/// What one read finds under a username.
#[derive(Default)]
struct UserItems {
    user: Option<User>,
    consent: Option<Consent>,
    failures: u32,
}

/// Whether consent must be asked: not for a client registered to skip it,
/// nor when the user approved this scope (or more) since their grants last ended.
fn consent_needed(user: &User, consent: Option<&Consent>, authorization: &Authorization) -> bool {
    !authorization.client.skip_consent
        && !consent
            .is_some_and(|c| c.user_grants_key == user.grants_key && authorization.scope.is_subset(&c.scopes))
}

/// Whether the form's CSRF token equals the one in this browser's cookie
/// (double submit), compared in constant time.
fn csrf_holds(params: &Form, cookies: &Cookies<'_>) -> Result<bool, OAuthError> {
    let sent = params.get("csrf")?.unwrap_or("");
    let expected = cookies.get(CSRF_COOKIE).unwrap_or("");
    Ok(!expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
}

fn csrf_refused() -> HttpResponse {
    pages::error(
        StatusCode::FORBIDDEN,
        "The form has expired or did not come from this site.",
    )
}

fn cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    let text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z a-z 0-9 - . _ ~]`; a
/// challenge (the base64url of a SHA-256) has the same alphabet.
fn is_pkce_string(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier: BASE64URL(SHA256(verifier)), unpadded.
pub(super) fn s256(verifier: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge`, compared in constant time.
pub(super) fn verifies(verifier: &str, challenge: &str) -> bool {
    is_pkce_string(verifier) && s256(verifier).as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// `uri` with `params` appended to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", form::encode(k), form::encode(v)))
        .collect();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", query.join("&"))
}

fn redirect(method: &Method, location: &str) -> HttpResponse {
    let mut response = http::Response::new(String::new());
    // After a form, 303 makes the browser GET the client's redirect URI.
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
        format!("{}/o/authorize/", self.config.issuer)
    }

    /// `GET` (the client's redirect) and `POST` (the forms) of `/o/authorize/`.
    pub(super) async fn authorize(&self, request: &HttpRequest) -> HttpResponse {
        let params = match read_params(request) {
            Ok(params) => params,
            Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.description()),
        };
        let authorization = match self.validate(&params).await {
            Ok(a) => a,
            Err(refused) => return self.refused(request.method(), refused),
        };
        let cookies = Cookies::of(request.headers());
        let outcome = if request.method() == Method::POST {
            self.form_post(request, &params, &cookies, &authorization).await
        } else {
            self.proceed(request.method(), &cookies, &authorization, None)
                .await
        };
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }

    fn refused(&self, method: &Method, refused: Refused) -> HttpResponse {
        match refused {
            Refused::Page(status, message) => pages::error(status, &message),
            Refused::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut params = vec![("error", error), ("error_description", description.as_str())];
                if let Some(state) = &state {
                    params.push(("state", state));
                }
                params.push(("iss", &self.config.issuer));
                redirect(method, &with_query(&redirect_uri, &params))
            }
        }
    }

    /// Checks an authorization request: first what decides whether the
    /// client may be redirected to at all, then everything else.
    async fn validate(&self, params: &Form) -> Result<Authorization, Refused> {
        let page = |message: &str| Refused::Page(StatusCode::BAD_REQUEST, message.to_owned());
        let param = |name: &str| params.get(name).map_err(|e| page(&e.to_string()));
        let client_id = param("client_id")?.ok_or_else(|| page("client_id is missing"))?;
        let client = self
            .store
            .get_client(client_id)
            .await
            .map_err(|e| Refused::from(OAuthError::from(e)))?
            .filter(|c| !c.disabled)
            .ok_or_else(|| page("the client is unknown"))?;
        let redirect_uri = match (param("redirect_uri")?, client.redirect_uris.as_slice()) {
            (Some(uri), registered) if registered.iter().any(|r| r == uri) => uri.to_owned(),
            (Some(_), _) => return Err(page("the redirect_uri is not registered for this client")),
            // RFC 6749 §3.1.2.3: may be left out when only one is registered.
            (None, [only]) => only.clone(),
            (None, _) => return Err(page("redirect_uri is missing")),
        };
        let state = param("state")?.map(str::to_owned);
        let back = |error: &'static str, description: &str| Refused::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description: description.to_owned(),
        };
        // From here on, errors go back to the client.
        let value = |name: &str| {
            params
                .get(name)
                .map_err(|e| back("invalid_request", &e.to_string()))
        };
        match value("response_type")? {
            Some("code") => {}
            Some(_) => {
                return Err(back(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
            None => return Err(back("invalid_request", "response_type is missing")),
        }
        if !client.may_use(GrantType::AuthorizationCode) {
            return Err(back(
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        let code_challenge = value("code_challenge")?
            .ok_or_else(|| back("invalid_request", "code_challenge is required (PKCE, RFC 7636)"))?;
        if value("code_challenge_method")? != Some("S256") {
            return Err(back("invalid_request", "code_challenge_method must be S256"));
        }
        if !is_pkce_string(code_challenge) {
            return Err(back("invalid_request", "code_challenge is malformed"));
        }
        let scope = match value("scope")? {
            Some(requested) => {
                let scope = parse_scope(requested)
                    .map_err(|bad| back("invalid_scope", &format!("{bad:?} is not a valid scope")))?;
                if let Some(unknown) = scope
                    .iter()
                    .find(|s| !self.config.is_known_scope(s) || !client.scopes.contains(*s))
                {
                    return Err(back(
                        "invalid_scope",
                        &format!("{unknown:?} is not allowed for this client"),
                    ));
                }
                scope
            }
            None => self.default_scope(&client),
        };
        if scope.is_empty() {
            return Err(back(
                "invalid_scope",
                "no scope was asked for and the client has no default",
            ));
        }
        let carried = REQUEST_PARAMS
            .iter()
            .filter_map(|name| Some((*name, params.get(name).ok()??.to_owned())))
            .collect();
        Ok(Authorization {
            client,
            redirect_uri,
            scope,
            state,
            code_challenge: code_challenge.to_owned(),
            carried,
        })
    }

    /// A request naming no scope: the client's defaults, else the service's
    /// within what the client may have; never `introspection` unasked.
    fn default_scope(&self, client: &Client) -> ScopeSet {
        let defaults = if client.default_scopes.is_empty() {
            &self.config.default_scopes
        } else {
            &client.default_scopes
        };
        defaults
            .iter()
            .filter(|s| client.scopes.contains(*s) && *s != INTROSPECTION_SCOPE)
            .cloned()
            .collect()
    }

    /// The signed-in user behind the session cookie, if any is still good,
    /// with their approval of `client_id` when asked for (read in the same
    /// round trip as the user).
    async fn signed_in(
        &self,
        cookies: &Cookies<'_>,
        client_id: Option<&str>,
    ) -> Result<Option<SignedIn>, OAuthError> {
        let Some(value) = cookies.get(SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(Item::Session(session)) = self
            .store
            .load(&[Key::Session(sha256_hex(value))])
            .await?
            .pop()
            .flatten()
        else {
            return Ok(None);
        };
        let found = self.user_items(&session.username, client_id, false).await?;
        Ok(found
            .user
            .filter(|u| u.honours(&session.user_grants_key))
            .map(|user| SignedIn {
                session,
                user,
                consent: found.consent,
            }))
    }

    /// A user, their approval of `client_id` (when given) and, when
    /// `with_failures`, the failed sign-ins under their name: one read.
    async fn user_items(
        &self,
        username: &str,
        client_id: Option<&str>,
        with_failures: bool,
    ) -> Result<UserItems, OAuthError> {
        let mut keys = vec![Key::User(username.to_owned())];
        if let Some(client_id) = client_id {
            keys.push(Key::Consent {
                username: username.to_owned(),
                client_id: client_id.to_owned(),
            });
        }
        if with_failures {
            keys.push(Key::SignInFailures(username.to_owned()));
        }
        let mut found = UserItems::default();
        for item in self.store.load(&keys).await?.into_iter().flatten() {
            match item {
                Item::User(u) => found.user = Some(u),
                Item::Consent(c) => found.consent = Some(c),
                Item::SignInFailures(f) => found.failures = f.failures,
                _ => {}
            }
        }
        Ok(found)
    }

    /// The next step for a request: sign in, consent, or the code.
    /// `new_session` is a sign-in just made: the session cookie to set on
    /// the answer, the user and their approval of the client.
    async fn proceed(
        &self,
        method: &Method,
        cookies: &Cookies<'_>,
        authorization: &Authorization,
        new_session: Option<(String, User, Option<Consent>)>,
    ) -> Result<HttpResponse, OAuthError> {
        let (user, consent, session_cookie) = match new_session {
            Some((value, user, consent)) => (user, consent, Some(value)),
            None => match self
                .signed_in(cookies, Some(&authorization.client.client_id))
                .await?
            {
                Some(signed_in) => (signed_in.user, signed_in.consent, None),
                None => return Ok(self.sign_in_page(cookies, authorization, None, "")),
            },
        };
        let mut response = if consent_needed(&user, consent.as_ref(), authorization) {
            self.consent_page(cookies, authorization, &user)
        } else {
            self.issue_code(method, authorization, &user).await?
        };
        if let Some(value) = session_cookie {
            let age = self.config.session_expire_seconds;
            response
                .headers_mut()
                .append(SET_COOKIE, cookie(SESSION_COOKIE, &value, age));
        }
        Ok(response)
    }

    /// The form fields every page carries: the request, and the CSRF token.
    fn carried<'a>(authorization: &'a Authorization, csrf: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut fields: Vec<(&str, &str)> = authorization
            .carried
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        fields.push(("csrf", csrf));
        fields
    }

    /// The CSRF token of this browser, and the cookie to set if it is new.
    fn csrf_token(cookies: &Cookies<'_>) -> (String, Option<HeaderValue>) {
        match cookies.get(CSRF_COOKIE) {
            Some(token) => (token.to_owned(), None),
            None => {
                let token = generate_secret().unwrap_or_default();
                let set = cookie(CSRF_COOKIE, &token, 24 * 3600);
                (token, Some(set))
            }
        }
    }

    fn sign_in_page(
        &self,
        cookies: &Cookies<'_>,
        authorization: &Authorization,
        error: Option<&str>,
        username: &str,
    ) -> HttpResponse {
        let (csrf, set) = Self::csrf_token(cookies);
        let mut page = pages::sign_in(
            &self.authorize_url(),
            &authorization.client.name,
            &Self::carried(authorization, &csrf),
            error,
            username,
        );
        if let Some(set) = set {
            page.headers_mut().append(SET_COOKIE, set);
        }
        page
    }

    fn consent_page(
        &self,
        cookies: &Cookies<'_>,
        authorization: &Authorization,
        user: &User,
    ) -> HttpResponse {
        let (csrf, set) = Self::csrf_token(cookies);
        let scopes: Vec<(&str, &str)> = authorization
            .scope
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    self.config.scopes.get(s).map_or(s.as_str(), String::as_str),
                )
            })
            .collect();
        let mut page = pages::consent(
            &self.authorize_url(),
            &authorization.client.name,
            &user.username,
            &scopes,
            &Self::carried(authorization, &csrf),
        );
        if let Some(set) = set {
            page.headers_mut().append(SET_COOKIE, set);
        }
        page
    }

    /// A posted form: sign-in or consent, after the CSRF check.
    async fn form_post(
        &self,
        request: &HttpRequest,
        params: &Form,
        cookies: &Cookies<'_>,
        authorization: &Authorization,
    ) -> Result<HttpResponse, OAuthError> {
        if !csrf_holds(params, cookies)? {
            return Ok(csrf_refused());
        }
        match params.get("step")? {
            Some("sign_in") => {
                self.sign_in(request.method(), params, cookies, authorization)
                    .await
            }
            Some("consent") => {
                let Some(SignedIn { user, .. }) = self.signed_in(cookies, None).await? else {
                    return Ok(self.sign_in_page(cookies, authorization, None, ""));
                };
                if params.get("decision")? != Some("allow") {
                    return Ok(self.refused(
                        request.method(),
                        Refused::Redirect {
                            redirect_uri: authorization.redirect_uri.clone(),
                            state: authorization.state.clone(),
                            error: "access_denied",
                            description: "the user denied the request".into(),
                        },
                    ));
                }
                self.store
                    .put_consent(&Consent {
                        username: user.username.clone(),
                        client_id: authorization.client.client_id.clone(),
                        scopes: authorization.scope.clone(),
                        user_grants_key: user.grants_key.clone(),
                    })
                    .await?;
                self.issue_code(request.method(), authorization, &user).await
            }
            _ => Err(OAuthError::invalid_request(
                "the form is not one of this server's",
            )),
        }
    }

    /// Checks a sign-in as the password grant does (same users, equal work
    /// for unknown ones), behind a lockout that answers alike whether or not
    /// the user exists.
    async fn sign_in(
        &self,
        method: &Method,
        params: &Form,
        cookies: &Cookies<'_>,
        authorization: &Authorization,
    ) -> Result<HttpResponse, OAuthError> {
        let username = params.get("username")?.unwrap_or("");
        let password = params.get("password")?.unwrap_or("");
        const WRONG: &str = "The username or password is wrong.";
        const LOCKED: &str = "Too many failed sign-ins for this username. Try again later.";
        if username.is_empty() || password.is_empty() {
            return Ok(self.sign_in_page(cookies, authorization, Some(WRONG), username));
        }
        let now = self.clock.now();
        let client_id = &authorization.client.client_id;
        let UserItems {
            user,
            consent,
            failures,
        } = self.user_items(username, Some(client_id), true).await?;
        if failures >= self.config.sign_in_lockout_attempts {
            return Ok(self.sign_in_page(cookies, authorization, Some(LOCKED), username));
        }
        let Some(user) = self.check_sign_in(user, password).await else {
            let count = self
                .store
                .record_sign_in_failure(username, self.config.sign_in_lockout_seconds, now)
                .await?;
            let message = if count >= self.config.sign_in_lockout_attempts {
                LOCKED
            } else {
                WRONG
            };
            return Ok(self.sign_in_page(cookies, authorization, Some(message), username));
        };
        if failures > 0 {
            self.store.clear_sign_in_failures(username).await?;
        }
        let value = generate_secret()?;
        self.store
            .put_session(&Session {
                session_hash: sha256_hex(&value),
                username: user.username.clone(),
                user_grants_key: user.grants_key.clone(),
                issued_at: now,
                expires_at: now + self.config.session_expire_seconds,
            })
            .await?;
        self.proceed(method, cookies, authorization, Some((value, user, consent)))
            .await
    }

    /// Stores a code for the request and sends the browser back with it.
    async fn issue_code(
        &self,
        method: &Method,
        authorization: &Authorization,
        user: &User,
    ) -> Result<HttpResponse, OAuthError> {
        let code = generate_secret()?;
        let now = self.clock.now();
        self.store
            .put_code(&AuthorizationCode {
                code_hash: sha256_hex(&code),
                client_id: authorization.client.client_id.clone(),
                redirect_uri: authorization.redirect_uri.clone(),
                scope: authorization.scope.clone(),
                username: user.username.clone(),
                user_grants_key: user.grants_key.clone(),
                code_challenge: authorization.code_challenge.clone(),
                family_id: generate_id()?,
                issued_at: now,
                expires_at: now + AUTHORIZATION_CODE_EXPIRE_SECONDS,
                redeemed_at: None,
            })
            .await?;
        tracing::info!(
            client_id = %authorization.client.client_id,
            scope = %format_scope(&authorization.scope),
            "authorization code issued"
        );
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = &authorization.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.config.issuer));
        Ok(redirect(
            method,
            &with_query(&authorization.redirect_uri, &params),
        ))
    }

    /// `/o/logout/`: `GET` shows the form, `POST` (with the CSRF token) signs out.
    pub(super) async fn logout(&self, request: &HttpRequest) -> HttpResponse {
        let cookies = Cookies::of(request.headers());
        let action = format!("{}/o/logout/", self.config.issuer);
        let outcome: Result<HttpResponse, OAuthError> = async {
            let signed_in = self.signed_in(&cookies, None).await?;
            if request.method() == Method::GET {
                let (csrf, set) = Self::csrf_token(&cookies);
                let mut page = pages::sign_out(
                    &action,
                    &csrf,
                    signed_in.as_ref().map(|s| s.user.username.as_str()),
                );
                if let Some(set) = set {
                    page.headers_mut().append(SET_COOKIE, set);
                }
                return Ok(page);
            }
            let params = read_params(request)?;
            if !csrf_holds(&params, &cookies)? {
                return Ok(csrf_refused());
            }
            if let Some(SignedIn { session, .. }) = signed_in {
                self.store.delete_session(&session.session_hash).await?;
            }
            let mut page = pages::sign_out(&action, "", None);
            page.headers_mut()
                .append(SET_COOKIE, cookie(SESSION_COOKIE, "", 0));
            Ok(page)
        }
        .await;
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verifies(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!verifies("short", &s256("short")));
        assert!(!verifies(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"));
    }

    #[test]
    fn redirect_queries_append_to_what_is_there() {
        assert_eq!(
            with_query("https://a.example/cb", &[("code", "x y")]),
            "https://a.example/cb?code=x+y"
        );
        assert_eq!(
            with_query("https://a.example/cb?t=1", &[("code", "x")]),
            "https://a.example/cb?t=1&code=x"
        );
    }
}
