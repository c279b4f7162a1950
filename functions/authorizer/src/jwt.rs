//! JWT access tokens (RFC 9068) verified here, before or instead of an
//! introspection: RS256 against the issuer's JWKS (fetched once, again only
//! for a `kid` not seen, at most once a minute), `typ: at+jwt`, `iss`, `aud`
//! and the times with a small leeway. A token that fails is refused without
//! asking anyone; one that passes is introspected all the same (so a
//! revocation counts at once) unless `JWT_TRUST_UNTIL_EXPIRY` says to trust
//! it until `exp`. Tokens that are no JWT go to introspection as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::ACCEPT;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use shared::scope::parse_scope;

use crate::introspection::{HttpClient, IntrospectionError};
use crate::token::TokenInfo;

/// How far clocks may disagree, seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// The least time between two JWKS fetches for an unknown `kid`, seconds:
/// a stream of tokens with made-up `kid`s costs one fetch a minute.
pub const REFETCH_SECONDS: u64 = 60;
/// The largest JWKS read.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The largest token looked at as a JWT.
const MAX_JWT_BYTES: usize = 16 * 1024;

/// Where JWT access tokens come from, and whom they must be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// `JWT_ISSUER`: `iss`.
    pub issuer: String,
    /// `JWT_JWKS_URL` (default `<issuer>/o/.well-known/jwks.json`).
    pub jwks_url: Uri,
    /// `JWT_AUDIENCE`: `aud` must name one (default: the issuer).
    pub audiences: Vec<String>,
    /// `JWT_TRUST_UNTIL_EXPIRY`: a verified token is not introspected.
    pub trust_until_expiry: bool,
}

/// What local verification says of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a JWT at all: introspection decides.
    NotAJwt,
    /// A JWT that is not a valid access token for this API.
    Invalid(&'static str),
    /// A valid one, and what it says.
    Valid(TokenInfo),
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, (Vec<u8>, Vec<u8>)>,
    fetched_at: Option<u64>,
}

/// The verifier, with the keys it has fetched.
pub struct JwtVerifier {
    settings: JwtSettings,
    client: HttpClient,
    timeout: Duration,
    keys: Mutex<Keys>,
}

fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

impl JwtVerifier {
    /// A verifier for `settings`, fetching the JWKS over `client`.
    pub fn new(settings: JwtSettings, client: HttpClient, timeout: Duration) -> Self {
        Self {
            settings,
            client,
            timeout,
            keys: Mutex::new(Keys::default()),
        }
    }

    /// Whether a token verified here is trusted until `exp`.
    pub fn trusts_until_expiry(&self) -> bool {
        self.settings.trust_until_expiry
    }

    /// Verifies `token` at `now`; an error only when the JWKS cannot be had.
    pub async fn verify(&self, token: &str, now: u64) -> Result<Verdict, IntrospectionError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Ok(Verdict::NotAJwt);
        };
        let Some(header) = decode_json(header).filter(|h| h.get("alg").is_some()) else {
            return Ok(Verdict::NotAJwt);
        };
        if token.len() > MAX_JWT_BYTES {
            return Ok(Verdict::Invalid("the JWT is too large"));
        }
        // RS256 only: never `none`, never an HMAC keyed with a public key.
        if header["alg"] != "RS256" {
            return Ok(Verdict::Invalid("the JWT is not signed with RS256"));
        }
        let typ = header["typ"].as_str().unwrap_or("").to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Ok(Verdict::Invalid("the JWT is not an access token (typ at+jwt)"));
        }
        let Some(kid) = header["kid"].as_str() else {
            return Ok(Verdict::Invalid("the JWT names no key"));
        };
        let Some((n, e)) = self.key(kid, now).await? else {
            return Ok(Verdict::Invalid(
                "the JWT is signed by a key the issuer does not publish",
            ));
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return Ok(Verdict::Invalid("the JWT's signature is malformed"));
        };
        let signed = &token[..token.len() - parts[2].len() - 1];
        let verified = ring::signature::RsaPublicKeyComponents { n: &n, e: &e }.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        );
        if verified.is_err() {
            return Ok(Verdict::Invalid("the JWT's signature does not verify"));
        }
        let Some(claims) = decode_json(claims) else {
            return Ok(Verdict::Invalid("the JWT's claims are malformed"));
        };
        Ok(self.judge(&claims, now))
    }

    fn judge(&self, claims: &Value, now: u64) -> Verdict {
        if claims["iss"] != self.settings.issuer.as_str() {
            return Verdict::Invalid("the JWT is from another issuer");
        }
        let Some(audience) = crate::token::audience(claims.get("aud")) else {
            return Verdict::Invalid("the JWT's aud is malformed");
        };
        if !audience
            .iter()
            .any(|a| self.settings.audiences.iter().any(|ours| ours == a))
        {
            return Verdict::Invalid("the JWT is for another audience");
        }
        let Some(exp) = claims["exp"].as_u64() else {
            return Verdict::Invalid("the JWT has no exp");
        };
        if exp + LEEWAY_SECONDS <= now {
            return Verdict::Invalid("the JWT has expired");
        }
        if claims["iat"]
            .as_u64()
            .is_some_and(|iat| iat > now + LEEWAY_SECONDS)
            || claims["nbf"]
                .as_u64()
                .is_some_and(|nbf| nbf > now + LEEWAY_SECONDS)
        {
            return Verdict::Invalid("the JWT is not valid yet");
        }
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        let scope = text("scope").unwrap_or_default();
        let Ok(scopes) = parse_scope(&scope) else {
            return Verdict::Invalid("the JWT's scope is malformed");
        };
        Verdict::Valid(TokenInfo {
            scopes,
            scope,
            exp: Some(exp),
            client_id: text("client_id"),
            username: None,
            sub: text("sub"),
            audience,
        })
    }

    /// The key `kid`, fetching the JWKS when it is not known and the last
    /// fetch is old enough.
    async fn key(&self, kid: &str, now: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>, IntrospectionError> {
        {
            let keys = self.lock();
            if let Some(key) = keys.by_kid.get(kid) {
                return Ok(Some(key.clone()));
            }
            if keys.fetched_at.is_some_and(|at| now < at + REFETCH_SECONDS) {
                return Ok(None);
            }
        }
        let fetched = self.fetch().await?;
        let mut keys = self.lock();
        keys.by_kid = fetched;
        keys.fetched_at = Some(now);
        Ok(keys.by_kid.get(kid).cloned())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The issuer's RS256 signing keys, by `kid`; a failure says it was the JWKS.
    async fn fetch(&self) -> Result<HashMap<String, (Vec<u8>, Vec<u8>)>, IntrospectionError> {
        let jwks = |why: String| {
            IntrospectionError::Unreachable(format!("the JWKS at {}: {why}", self.settings.jwks_url))
        };
        self.fetch_keys().await.map_err(|e| match e {
            IntrospectionError::Unreachable(why) => jwks(why),
            IntrospectionError::Timeout => jwks("no answer in time".into()),
            IntrospectionError::Status(status) => jwks(format!("HTTP {status}")),
            IntrospectionError::NotJson => jwks("not a JSON key set".into()),
        })
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, (Vec<u8>, Vec<u8>)>, IntrospectionError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.settings.jwks_url.clone())
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| IntrospectionError::Unreachable(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| IntrospectionError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(IntrospectionError::Status(status));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|_| IntrospectionError::NotJson)?
                .to_bytes();
            let jwks: Value = serde_json::from_slice(&body).map_err(|_| IntrospectionError::NotJson)?;
            let mut keys = HashMap::new();
            for key in jwks["keys"].as_array().into_iter().flatten() {
                let usable = key["kty"] == "RSA"
                    && key.get("use").is_none_or(|u| u == "sig")
                    && key.get("alg").is_none_or(|a| a == "RS256");
                let decoded = |name: &str| key[name].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
                if let (true, Some(kid), Some(n), Some(e)) =
                    (usable, key["kid"].as_str(), decoded("n"), decoded("e"))
                {
                    keys.insert(kid.to_owned(), (n, e));
                }
            }
            Ok(keys)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(IntrospectionError::Timeout))
    }
}
