//! The authorization request (RFC 6749 §4.1.1), parsed once into what the
//! later steps take: first what decides whether the client may be
//! redirected to at all (the client, the redirect URI), then the rest, whose
//! errors go back to the client.

use http::StatusCode;

use super::super::client_metadata::ClientUnavailable;
use super::super::grant_scope::ScopeRefused;
use super::super::pkce::CodeChallenge;
use super::super::{OAuthError, TokenService};
use crate::form::Form;
use crate::model::{Client, GrantType, MAX_USERNAME_BYTES};
use crate::redirect_uri::RedirectUri;
use crate::resource::{Audience, TargetRefused};
use crate::scope::ScopeSet;
use crate::store::Store;

/// The parameters of an authorization request, carried through the forms.
const REQUEST_PARAMS: [&str; 11] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
];

/// OpenID Connect's `prompt` (Core §3.1.2.1): what the request insists on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Prompt {
    /// `none`: no page at all; an error back if one would be needed.
    pub none: bool,
    /// `login` (or `select_account`): the sign-in form, even when signed in.
    pub login: bool,
    /// `consent`: the consent form, even when approved before.
    pub consent: bool,
}

impl Prompt {
    fn parse(value: Option<&str>) -> Result<Self, &'static str> {
        let mut prompt = Prompt::default();
        for word in value.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                // Core §3.1.2.1 (errata): a value not understood is ignored.
                _ => {}
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err("prompt=none cannot be combined with another value");
        }
        Ok(prompt)
    }
}

/// The longest `nonce` kept (OpenID Connect sets none; it is copied into
/// a code item and an ID token, so it is bounded like every other value).
const MAX_NONCE_BYTES: usize = 512;

/// A valid authorization request.
pub(super) struct AuthorizationRequest {
    pub client: Client,
    /// Where the answer goes: the URI the request named (a loopback one at
    /// the port it named), or the one registered when it named none.
    pub redirect_uri: RedirectUri,
    /// Whether the request named it (the token request must then repeat it).
    pub redirect_uri_sent: bool,
    pub scope: ScopeSet,
    /// The resources named (RFC 8707), which the code's tokens are for.
    pub audience: Audience,
    pub state: Option<String>,
    pub code_challenge: CodeChallenge,
    /// OpenID Connect's `nonce`, copied into the ID token.
    pub nonce: Option<String>,
    /// OpenID Connect's `prompt`.
    pub prompt: Prompt,
    /// OpenID Connect's `max_age`: the longest time since the user signed in, seconds.
    pub max_age: Option<u64>,
    /// OpenID Connect's `login_hint`, to fill in the username (when it could be one).
    pub login_hint: Option<String>,
    /// The request's parameters as received, for the forms to carry.
    pub carried: Vec<(&'static str, String)>,
}

/// Why an authorization request cannot go on.
pub(super) enum Refused {
    /// Shown as a page: the client or its redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        to: Box<RedirectUri>,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl From<OAuthError> for Refused {
    fn from(e: OAuthError) -> Self {
        // Storage failures and the like, before a redirect URI is trusted.
        Refused::Page(e.status(), e.description().to_owned())
    }
}

impl AuthorizationRequest {
    /// An error sent back to the client (RFC 6749 §4.1.2.1).
    pub fn back(&self, error: &'static str, description: &str) -> Refused {
        Refused::Redirect {
            to: Box::new(self.redirect_uri.clone()),
            state: self.state.clone(),
            error,
            description: description.to_owned(),
        }
    }

    /// Checks an authorization request against the client it names.
    pub async fn parse<S: Store>(service: &TokenService<S>, params: &Form) -> Result<Self, Refused> {
        let page = |message: &str| Refused::Page(StatusCode::BAD_REQUEST, message.to_owned());
        let param = |name: &str| params.get(name).map_err(|e| page(&e.to_string()));
        let client_id = param("client_id")?.ok_or_else(|| page("client_id is missing"))?;
        let client = match service.find_client(client_id).await {
            Ok(client) => client,
            Err(ClientUnavailable::Store(e)) => return Err(Refused::from(OAuthError::from(e))),
            Err(ClientUnavailable::Document(why)) => {
                return Err(page(&ClientUnavailable::document_description(&why)))
            }
        }
        .filter(|c| !c.disabled)
        .ok_or_else(|| page("the client is unknown"))?;
        let unregistered = || page("the redirect_uri is not registered for this client");
        let (redirect_uri, redirect_uri_sent) = match param("redirect_uri")? {
            Some(asked) => {
                let asked = RedirectUri::parse(asked).map_err(|_| unregistered())?;
                if !client.redirect_uris.iter().any(|r| r.admits(&asked)) {
                    return Err(unregistered());
                }
                (asked, true)
            }
            // RFC 6749 §3.1.2.3: may be left out when only one is registered.
            None => match client.redirect_uris.as_slice() {
                [only] => (only.clone(), false),
                _ => return Err(page("redirect_uri is missing")),
            },
        };
        let state = param("state")?.map(str::to_owned);
        let back = |error: &'static str, description: &str| Refused::Redirect {
            to: Box::new(redirect_uri.clone()),
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
        let code_challenge = CodeChallenge::parse(value("code_challenge")?, value("code_challenge_method")?)
            .map_err(|why| back("invalid_request", why))?;
        let resources = params.get_all("resource");
        let audience = service
            .requested_audience(&client, params)
            .map_err(|TargetRefused(why)| back("invalid_target", &why))?;
        let scope = service
            .granted_scope(&client, value("scope")?, &audience)
            .map_err(|ScopeRefused(why)| back("invalid_scope", &why))?;
        let nonce = value("nonce")?.map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
            return Err(back(
                "invalid_request",
                &format!("nonce is longer than {MAX_NONCE_BYTES} bytes"),
            ));
        }
        let prompt = Prompt::parse(value("prompt")?).map_err(|why| back("invalid_request", why))?;
        let max_age = match value("max_age")? {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| back("invalid_request", "max_age is not a whole number of seconds"))?,
            ),
        };
        let login_hint = value("login_hint")?
            .filter(|hint| hint.len() <= MAX_USERNAME_BYTES && !hint.chars().any(char::is_control))
            .map(str::to_owned);
        let carried = REQUEST_PARAMS
            .iter()
            .filter_map(|name| Some((*name, params.get(name).ok()??.to_owned())))
            .chain(resources.iter().map(|r| ("resource", (*r).to_owned())))
            .collect();
        Ok(Self {
            client,
            redirect_uri,
            redirect_uri_sent,
            scope,
            audience,
            state,
            code_challenge,
            nonce,
            prompt,
            max_age,
            login_hint,
            carried,
        })
    }
}
