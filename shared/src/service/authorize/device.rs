//! The device page (RFC 8628 §3.3, DOT's `/o/device/`): where a person,
//! signed in with the authorization endpoint's form and lockout, enters the
//! code a device shows (or arrives with it, from `verification_uri_complete`),
//! sees what the device asks for, unticks what they will not give, and
//! approves or denies; then goes back to the device, which learns only the
//! outcome. Codes entered are limited per user and window as passwords
//! are: a wrong one spends an attempt, and so does a right one (a person
//! connects a device or two, a guesser many).

use http::{Method, StatusCode};

use super::super::{read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use super::consent::{approved_scopes, unverified};
use super::pages::{self, SignInFor};
use super::session::{csrf_holds, csrf_refused, Cookies, Csrf, SignedIn};
use crate::form::Form;
use crate::model::{AuthorizationCode, Client, CodeDelivery, DeviceAuthorization, DeviceStatus, User};
use crate::secret::{generate_id, sha256_hex};
use crate::store::{Attempt, AttemptsOf, Item, Key, Store};

const WRONG: &str = "That code is not one a device is showing now. Check it and try again.";
const TOO_MANY: &str = "Too many codes entered. Try again later.";
const GONE: &str = "This request has expired or was already answered. Start again on the device.";

/// Where a device's request goes on the consent form: its device code's
/// hash (the code itself is the device's alone).
const DEVICE_FIELD: &str = "device";

impl<S: Store> TokenService<S> {
    fn device_url(&self) -> String {
        self.config.endpoint("/o/device/")
    }

    /// `GET` and `POST /o/device/`.
    pub(in super::super) async fn device_page(&self, http: &HttpRequest) -> HttpResponse {
        let params = match read_params(http) {
            Ok(params) => params,
            Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.description()),
        };
        let cookies = Cookies::of(http.headers());
        let outcome = if http.method() == Method::POST {
            self.device_form_post(&params, &cookies).await
        } else {
            self.device_visit(&params, &cookies).await
        };
        outcome.unwrap_or_else(|e| pages::error(e.status(), e.description()))
    }

    /// A visit: the sign-in form, the code form, or (with a code) what it asks.
    async fn device_visit(&self, params: &Form, cookies: &Cookies<'_>) -> Result<HttpResponse, OAuthError> {
        let csrf = Csrf::of(cookies)?;
        let typed = params.get("user_code")?.unwrap_or("");
        let mut response = match self.signed_in(cookies, None).await? {
            None => self.device_sign_in_page(&csrf, typed, None, ""),
            Some(SignedIn { user, .. }) if typed.is_empty() => self.code_page(&csrf, &user, None, ""),
            Some(SignedIn { user, .. }) => self.code_entered(&csrf, &user, typed).await?,
        };
        csrf.set_on(&mut response);
        Ok(response)
    }

    /// A posted form: sign-in, code or consent, after the CSRF check.
    async fn device_form_post(
        &self,
        params: &Form,
        cookies: &Cookies<'_>,
    ) -> Result<HttpResponse, OAuthError> {
        if !csrf_holds(params, cookies)? {
            return Ok(csrf_refused());
        }
        let typed = params.get("user_code")?.unwrap_or("");
        let step = params.get("step")?;
        if step == Some("sign_in") {
            return self.device_sign_in_step(params, cookies, typed).await;
        }
        let csrf = Csrf::of(cookies)?;
        let Some(signed_in) = self.signed_in(cookies, None).await? else {
            return Ok(self.device_sign_in_page(&csrf, typed, None, ""));
        };
        match step {
            Some("code") => self.code_entered(&csrf, &signed_in.user, typed).await,
            Some("consent") => self.device_decision(params, &signed_in).await,
            _ => Err(OAuthError::invalid_request(
                "the form is not one of this server's",
            )),
        }
    }

    fn device_sign_in_page(
        &self,
        csrf: &Csrf,
        typed: &str,
        error: Option<&str>,
        username: &str,
    ) -> HttpResponse {
        let mut carried = vec![("csrf", csrf.token.as_str())];
        if !typed.is_empty() {
            carried.push(("user_code", typed));
        }
        let mut page = pages::sign_in(&self.device_url(), SignInFor::Device, &carried, error, username);
        csrf.set_on(&mut page);
        page
    }

    fn code_page(&self, csrf: &Csrf, user: &User, error: Option<&str>, typed: &str) -> HttpResponse {
        pages::device_code(
            &self.device_url(),
            &[("csrf", csrf.token.as_str())],
            error,
            &user.username,
            typed,
        )
    }

    /// A posted sign-in form: as at the authorization endpoint (its check
    /// and lockout), then the code form, or what the code asks.
    async fn device_sign_in_step(
        &self,
        params: &Form,
        cookies: &Cookies<'_>,
        typed: &str,
    ) -> Result<HttpResponse, OAuthError> {
        let username = params.get("username")?.unwrap_or("");
        let password = params.get("password")?.unwrap_or("");
        let signed_in = if username.is_empty() || password.is_empty() {
            Err(super::sign_in::WRONG)
        } else {
            self.check_sign_in(username, password, "device page").await?
        };
        let user = match signed_in {
            Ok(user) => user,
            Err(message) => {
                return Ok(self.device_sign_in_page(&Csrf::of(cookies)?, typed, Some(message), username))
            }
        };
        let session = self.start_session(cookies, &user).await?;
        let mut response = if typed.is_empty() {
            self.code_page(&session.csrf, &user, None, "")
        } else {
            self.code_entered(&session.csrf, &user, typed).await?
        };
        session.set_on(&mut response);
        Ok(response)
    }

    /// A code entered (or brought by the link): the consent form for what
    /// its device asks, or the code form again saying why not.
    async fn code_entered(&self, csrf: &Csrf, user: &User, typed: &str) -> Result<HttpResponse, OAuthError> {
        let (device, client) = match self.device_of_code(user, typed).await? {
            Ok(found) => found,
            Err(message) => return Ok(self.code_page(csrf, user, Some(message), typed)),
        };
        Ok(pages::consent(
            &self.device_url(),
            &client.name,
            true,
            unverified(&client, "the device that shows the code".to_owned()).as_ref(),
            &user.username,
            &self.scope_choices(&device.scope),
            &[
                (DEVICE_FIELD, device.device_code_hash.as_str()),
                ("csrf", csrf.token.as_str()),
            ],
        ))
    }

    /// The pending device authorization `typed` names, and its client; an
    /// attempt of the user's spent either way.
    async fn device_of_code(
        &self,
        user: &User,
        typed: &str,
    ) -> Result<Result<(DeviceAuthorization, Client), &'static str>, OAuthError> {
        let who = AttemptsOf::UserCodes(user.username.clone());
        let now = self.clock.now();
        let (limit, window) = (
            self.config.sign_in_lockout_attempts,
            self.config.sign_in_lockout_seconds,
        );
        if self.store.reserve_attempt(&who, limit, window, now).await? != Attempt::Granted {
            return Ok(Err(TOO_MANY));
        }
        let found = match self.config.user_code_format.normalise(typed) {
            None => None,
            Some(code) => self.pending_device_of(&code, now).await?,
        };
        if found.is_none() {
            tracing::info!(outcome = "wrong_user_code", "device page");
            self.store.record_failed_attempt(&who, now).await?;
        }
        Ok(found.ok_or(WRONG))
    }

    /// The pending, usable device authorization of the normalised user
    /// code `code`, with its client (enabled).
    async fn pending_device_of(
        &self,
        code: &str,
        now: u64,
    ) -> Result<Option<(DeviceAuthorization, Client)>, OAuthError> {
        let Some(Item::UserCode(user_code)) = self
            .store
            .load(&[Key::UserCode(sha256_hex(code))])
            .await?
            .pop()
            .flatten()
        else {
            return Ok(None);
        };
        self.pending_device(&user_code.device_code_hash, now).await
    }

    /// The pending device authorization `device_code_hash`, usable at
    /// `now`, with its client (enabled).
    async fn pending_device(
        &self,
        device_code_hash: &str,
        now: u64,
    ) -> Result<Option<(DeviceAuthorization, Client)>, OAuthError> {
        let device = match self
            .store
            .load(&[Key::Device(device_code_hash.to_owned())])
            .await?
            .pop()
            .flatten()
        {
            Some(Item::Device(d)) if d.status == DeviceStatus::Pending && d.usable_until > now => d,
            _ => return Ok(None),
        };
        let client = self
            .store
            .get_client(&device.client_id)
            .await?
            .filter(|c| !c.disabled);
        Ok(client.map(|client| (device, client)))
    }

    /// A posted consent form: the person's decision, stored once; the
    /// device learns it at its next poll.
    async fn device_decision(&self, params: &Form, signed_in: &SignedIn) -> Result<HttpResponse, OAuthError> {
        let now = self.clock.now();
        let hash = params.get(DEVICE_FIELD)?.unwrap_or("");
        let valid_hash = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        let found = if valid_hash {
            self.pending_device(hash, now).await?
        } else {
            None
        };
        let Some((device, client)) = found else {
            return Ok(pages::error(StatusCode::BAD_REQUEST, GONE));
        };
        let approved = approved_scopes(params, &device.scope);
        let allowed = params.get("decision")? == Some("allow") && !approved.is_empty();
        let user = &signed_in.user;
        let code = allowed
            .then(|| {
                Ok::<_, OAuthError>(AuthorizationCode {
                    code_hash: device.device_code_hash.clone(),
                    client_id: client.client_id.clone(),
                    delivery: CodeDelivery::Device,
                    scope: approved,
                    audience: device.audience.clone(),
                    username: user.username.clone(),
                    user_grants_key: user.grants_key.clone(),
                    family_id: generate_id()?,
                    issued_at: now,
                    expires_at: device.usable_until,
                    redeemed_at: None,
                    nonce: None,
                    auth_time: signed_in.session.auth_time,
                    sid: signed_in.session.sid.clone(),
                })
            })
            .transpose()?;
        if !self
            .store
            .decide_device(&device.device_code_hash, code.as_ref(), now)
            .await?
        {
            return Ok(pages::error(StatusCode::BAD_REQUEST, GONE));
        }
        tracing::info!(
            client_id = %client.client_id,
            outcome = if allowed { "approved" } else { "denied" },
            "device authorization decided"
        );
        Ok(pages::device_decided(&client.name, allowed))
    }
}
