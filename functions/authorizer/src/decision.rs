//! The authorizer's decision, knowing nothing of Lambda: find the bearer
//! token, introspect it (or reuse a warm answer), judge the answer and hold
//! its scopes against the rules for the route.

use std::sync::{Arc, Mutex, MutexGuard};

use shared::secret::sha256;
use shared::SharedClock;

use crate::cache::TokenCache;
use crate::config::{AuthorizerConfig, HttpApiResponse};
use crate::introspection::{HttpClient, IntrospectionAuth, IntrospectionError, Introspector};
use crate::jwt::{JwtVerifier, Verdict};
use crate::rules::Rules;
use crate::token::{bearer_token, judge, TokenInfo};

/// What the authorizer decides for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An active token whose scopes meet every rule for the route.
    Allow(Arc<TokenInfo>),
    /// An active token whose scopes miss a rule for the route (403).
    Forbidden(Arc<TokenInfo>),
    /// No usable bearer token, or the token is not active (401).
    Unauthorized(&'static str),
    /// Introspection gave no answer: fail closed, never Allow.
    Failed(IntrospectionError),
}

/// The authorizer: introspection client, warm cache and rules, built once at
/// cold start from what `main` gathered (no I/O here).
pub struct Authorizer {
    introspector: Introspector,
    /// JWT access tokens verified here first, when configured.
    jwt: Option<JwtVerifier>,
    cache: Mutex<TokenCache>,
    clock: SharedClock,
    rules: Rules,
    caching_seconds: u64,
    http_api_response: HttpApiResponse,
    /// This API's resource identifiers: a token must be for one, when set.
    resources: Vec<String>,
}

impl Authorizer {
    /// An authorizer for `config`, authenticating to the introspection
    /// endpoint with `auth` (already read from wherever `config` says) over
    /// `client`.
    pub fn new(
        config: AuthorizerConfig,
        auth: &IntrospectionAuth,
        client: HttpClient,
        clock: SharedClock,
    ) -> Result<Self, String> {
        let jwt = config
            .jwt
            .map(|settings| JwtVerifier::new(settings, client.clone(), config.timeout));
        let introspector = Introspector::new(client, config.introspection_url, auth, config.timeout)?;
        Ok(Self {
            introspector,
            jwt,
            cache: Mutex::new(TokenCache::default()),
            clock,
            rules: config.rules,
            caching_seconds: config.caching_seconds,
            http_api_response: config.http_api_response,
            resources: config.resources,
        })
    }

    /// Decides a request to `method path` carrying the `Authorization`
    /// header value `authorization`.
    pub async fn decide(&self, authorization: Option<&str>, method: &str, path: &str) -> Decision {
        let token = match self.authenticate(authorization).await {
            Ok(token) => token,
            Err(decision) => return decision,
        };
        if self.rules.allows(&token.scopes, method, path) {
            Decision::Allow(token)
        } else {
            Decision::Forbidden(token)
        }
    }

    /// The scope rules, for answers that cover every route at once (policies).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// What HTTP API events are answered with.
    pub fn http_api_response(&self) -> HttpApiResponse {
        self.http_api_response
    }

    /// How many answers the warm cache holds.
    pub fn cached(&self) -> usize {
        self.lock_cache().len()
    }

    /// The active token behind an `Authorization` header value, or the
    /// decision refusing it.
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<TokenInfo>, Decision> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(Decision::Unauthorized(
                "no bearer token in the Authorization header",
            ))?;
        let key = sha256(&token);
        let now = self.clock.now();
        if let Some(info) = self.lock_cache().get(&key, now) {
            return Ok(info);
        }
        // A JWT that fails here is refused without an introspection; one
        // that passes is trusted until `exp` only when configured so.
        let verified = match &self.jwt {
            None => Verdict::NotAJwt,
            Some(verifier) => verifier.verify(&token, now).await.map_err(Decision::Failed)?,
        };
        let trusted = match verified {
            Verdict::Invalid(why) => return Err(Decision::Unauthorized(why)),
            Verdict::Valid(info) if self.jwt.as_ref().is_some_and(JwtVerifier::trusts_until_expiry) => {
                Some(info)
            }
            Verdict::Valid(_) | Verdict::NotAJwt => None,
        };
        let info = match trusted {
            Some(info) => Arc::new(info),
            None => {
                let answer = self
                    .introspector
                    .introspect(&token)
                    .await
                    .map_err(Decision::Failed)?;
                Arc::new(judge(&answer, now).map_err(Decision::Unauthorized)?)
            }
        };
        // RFC 8707: a token for another resource is no token here (and is
        // never cached, so every cached answer passed this check).
        if !self.resources.is_empty() && !info.audience.iter().any(|a| self.resources.contains(a)) {
            return Err(Decision::Unauthorized("the token was not issued for this API"));
        }
        if self.caching_seconds > 0 {
            let until = now + self.caching_seconds;
            let until = info.exp.map_or(until, |exp| exp.min(until));
            self.lock_cache().insert(key, info.clone(), until, now);
        }
        Ok(info)
    }

    fn lock_cache(&self) -> MutexGuard<'_, TokenCache> {
        // A poisoned cache only ever held complete entries; keep using it.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
