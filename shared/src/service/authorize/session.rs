//! Cookies, CSRF tokens and browser sessions at the authorization endpoint.
//!
//! A session is a `__Host-session` cookie whose SHA-256 keys a stored
//! session. Every form carries a CSRF token that must equal the one in the
//! `__Host-csrf` cookie (double submit). A browser nobody has signed in on
//! gets a CSRF token that lives as long as filling in a sign-in form may
//! take; signing in replaces it with one that lives as long as the session
//! (and ends the browser's previous session); signing out ends both.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use subtle::ConstantTimeEq;

use super::super::{HttpResponse, OAuthError, TokenService};
use super::pages;
use crate::form::Form;
use crate::model::{Consent, Session, User};
use crate::secret::{generate_id, generate_secret, sha256_hex};
use crate::store::{Item, Key, Store};

pub(super) const SESSION_COOKIE: &str = "__Host-session";
const CSRF_COOKIE: &str = "__Host-csrf";

/// How long the CSRF token of a browser nobody is signed in on lives.
const SIGN_IN_FORM_SECONDS: u64 = 3600;

/// The cookies of a request.
pub(super) struct Cookies<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Cookies<'a> {
    pub fn of(headers: &'a HeaderMap) -> Self {
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

/// A `Set-Cookie` value for one of the endpoint's `__Host-` cookies.
fn cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    let text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token the forms of a page carry, and its cookie when it is new.
pub(super) struct Csrf {
    pub token: String,
    set_cookie: Option<HeaderValue>,
}

impl Csrf {
    /// The browser's CSRF token, or a new one for a sign-in form.
    pub fn of(cookies: &Cookies<'_>) -> Result<Self, OAuthError> {
        match cookies.get(CSRF_COOKIE) {
            Some(token) => Ok(Self {
                token: token.to_owned(),
                set_cookie: None,
            }),
            None => Self::fresh(SIGN_IN_FORM_SECONDS),
        }
    }

    /// A new CSRF token living `max_age` seconds.
    fn fresh(max_age: u64) -> Result<Self, OAuthError> {
        let token = generate_secret()?;
        let set_cookie = Some(cookie(CSRF_COOKIE, &token, max_age));
        Ok(Self { token, set_cookie })
    }

    /// Sets the cookie on `response`, if the token is new.
    pub fn set_on(&self, response: &mut HttpResponse) {
        if let Some(set) = &self.set_cookie {
            response.headers_mut().append(SET_COOKIE, set.clone());
        }
    }
}

/// Whether the form's CSRF token equals the one in this browser's cookie
/// (double submit), compared in constant time.
pub(super) fn csrf_holds(params: &Form, cookies: &Cookies<'_>) -> Result<bool, OAuthError> {
    let sent = params.get("csrf")?.unwrap_or("");
    let expected = cookies.get(CSRF_COOKIE).unwrap_or("");
    Ok(!expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
}

pub(super) fn csrf_refused() -> HttpResponse {
    pages::error(
        StatusCode::FORBIDDEN,
        "The form has expired or did not come from this site.",
    )
}

/// A signed-in browser: its user, and (when asked for) the user's approval
/// of the client at hand.
pub(super) struct SignedIn {
    pub user: User,
    pub consent: Option<Consent>,
    pub session: SessionFacts,
}

/// What an ID token says of the session it was issued in.
#[derive(Debug, Clone)]
pub(super) struct SessionFacts {
    /// When the user signed in: `auth_time`.
    pub auth_time: u64,
    /// The session's public id: `sid`.
    pub sid: String,
}

/// A session just started: its cookie and the CSRF token of the pages that
/// follow, both to set on the answer.
pub(super) struct NewSession {
    pub csrf: Csrf,
    pub facts: SessionFacts,
    session_cookie: HeaderValue,
}

impl NewSession {
    /// Sets both cookies on `response`.
    pub fn set_on(&self, response: &mut HttpResponse) {
        self.csrf.set_on(response);
        response
            .headers_mut()
            .append(SET_COOKIE, self.session_cookie.clone());
    }
}

impl<S: Store> TokenService<S> {
    /// The signed-in user behind the session cookie, if any is still good,
    /// with their approval of `client_id` when asked for (read in the same
    /// round trip as the user).
    pub(super) async fn signed_in(
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
        let mut keys = vec![Key::User(session.username.clone())];
        if let Some(client_id) = client_id {
            keys.push(Key::Consent {
                username: session.username.clone(),
                client_id: client_id.to_owned(),
            });
        }
        let (mut user, mut consent) = (None, None);
        for item in self.store.load(&keys).await?.into_iter().flatten() {
            match item {
                Item::User(u) => user = Some(u),
                Item::Consent(c) => consent = Some(c),
                _ => {}
            }
        }
        let facts = SessionFacts {
            auth_time: session.issued_at,
            sid: session.sid,
        };
        Ok(user
            .filter(|u| u.honours(&session.user_grants_key))
            .map(|user| SignedIn {
                user,
                consent,
                session: facts,
            }))
    }

    /// Starts a session for `user` in this browser, ending the one it had
    /// (whoever it was for), with a new CSRF token that lives as long.
    pub(super) async fn start_session(
        &self,
        cookies: &Cookies<'_>,
        user: &User,
    ) -> Result<NewSession, OAuthError> {
        if let Some(previous) = cookies.get(SESSION_COOKIE) {
            self.store.delete_session(&sha256_hex(previous)).await?;
        }
        let value = generate_secret()?;
        let now = self.clock.now();
        let lifetime = self.config.session_expire_seconds;
        let sid = generate_id()?;
        self.store
            .put_session(&Session {
                session_hash: sha256_hex(&value),
                username: user.username.clone(),
                user_grants_key: user.grants_key.clone(),
                issued_at: now,
                expires_at: now + lifetime,
                sid: sid.clone(),
            })
            .await?;
        Ok(NewSession {
            csrf: Csrf::fresh(lifetime)?,
            facts: SessionFacts { auth_time: now, sid },
            session_cookie: cookie(SESSION_COOKIE, &value, lifetime),
        })
    }

    /// Ends this browser's session (its stored item, whether or not it is
    /// still good) and expires both cookies on `response`.
    pub(super) async fn end_session(
        &self,
        cookies: &Cookies<'_>,
        response: &mut HttpResponse,
    ) -> Result<(), OAuthError> {
        if let Some(value) = cookies.get(SESSION_COOKIE) {
            self.store.delete_session(&sha256_hex(value)).await?;
        }
        let headers = response.headers_mut();
        headers.append(SET_COOKIE, cookie(SESSION_COOKIE, "", 0));
        headers.append(SET_COOKIE, cookie(CSRF_COOKIE, "", 0));
        Ok(())
    }
}
