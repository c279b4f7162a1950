//! Issuing tokens: the one place tokens are created, used by the token
//! endpoint's grants and by `oauthctl token mint`.

use crate::keys::ActiveKey;
use crate::model::{AuthorizationCode, Family, Token, TokenKind, User};
use crate::resource::Audience;
use crate::scope::ScopeSet;
use crate::secret::{generate_access_token, generate_id, generate_secret, sha256_hex, RandomnessUnavailable};
use crate::store::{Redemption, Rotation, Store, StoreError};
use crate::successor::seal;

/// Tokens just issued; the only moment their values exist outside the client.
#[derive(Clone)]
pub struct IssuedToken {
    /// The bearer token value.
    pub access_token: String,
    /// What was stored for it.
    pub record: Token,
    /// The refresh token value, for user grants.
    pub refresh_token: Option<String>,
    /// The ID token, for an OpenID Connect code redeemed.
    pub id_token: Option<String>,
}

// The token values must never reach a log.
impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl IssuedToken {
    /// Seconds from `now` until the access token expires, as `expires_in`
    /// (less than its lifetime when a grace-period retry returns it again).
    pub fn expires_in(&self, now: u64) -> u64 {
        self.record.expires_at.saturating_sub(now)
    }
}

/// Why tokens could not be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// The OS random source failed.
    Randomness(RandomnessUnavailable),
    /// The store failed; nothing was issued.
    Store(StoreError),
    /// A JWT access token could not be signed.
    Signing(String),
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::Randomness(e) => e.fmt(f),
            IssueError::Store(e) => e.fmt(f),
            IssueError::Signing(why) => write!(f, "signing an access token: {why}"),
        }
    }
}

impl std::error::Error for IssueError {}

impl From<RandomnessUnavailable> for IssueError {
    fn from(e: RandomnessUnavailable) -> Self {
        IssueError::Randomness(e)
    }
}

impl From<StoreError> for IssueError {
    fn from(e: StoreError) -> Self {
        IssueError::Store(e)
    }
}

/// What a JWT access token (RFC 9068) says besides what every token says,
/// and the key that signs it.
#[derive(Debug, Clone)]
pub struct JwtAccess {
    /// The key signing now.
    pub key: ActiveKey,
    /// `iss`.
    pub issuer: String,
    /// `aud` when the token names no resource.
    pub audience: String,
    /// `sub`: the user's subject, or `client:<client_id>` for a client's own token.
    pub subject: String,
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The client the token is for.
    pub client_id: &'a str,
    /// Granted scopes (already checked against the client).
    pub scope: ScopeSet,
    /// The resources the access token is for (RFC 8707); empty: none named.
    pub audience: Audience,
    /// Access-token lifetime in seconds.
    pub lifetime: u64,
    /// The user, for tokens issued to a user.
    pub username: Option<String>,
    /// Issue time, epoch seconds.
    pub now: u64,
    /// For a client whose access tokens are JWTs: what they say and what signs them.
    pub jwt: Option<JwtAccess>,
}

impl TokenRequest<'_> {
    /// What the access token is granted.
    fn grant(&self) -> Grant<'_> {
        Grant {
            scope: &self.scope,
            audience: &self.audience,
        }
    }
}

/// A signed RFC 9068 access token for `request`, expiring at `expires_at`.
fn jwt_access_token(
    request: &TokenRequest<'_>,
    jwt: &JwtAccess,
    scope: &ScopeSet,
    expires_at: u64,
) -> Result<String, IssueError> {
    let audience = match request.audience.len() {
        0 => serde_json::Value::from(jwt.audience.as_str()),
        _ => audience_claim(&request.audience),
    };
    let claims = serde_json::json!({
        "iss": jwt.issuer,
        "sub": jwt.subject,
        "aud": audience,
        "client_id": request.client_id,
        "scope": crate::scope::format_scope(scope),
        "iat": request.now,
        "exp": expires_at,
        "jti": generate_id()?,
    });
    jwt.key
        .signer
        .sign(&jwt.key.kid, "at+jwt", &claims)
        .map_err(|e| IssueError::Signing(e.to_string()))
}

/// `aud` as RFC 7519 §4.1.3 writes it (and RFC 7662 answers it): one
/// string for one resource, else an array.
pub fn audience_claim(audience: &Audience) -> serde_json::Value {
    match audience.len() {
        1 => audience.iter().next().cloned().into(),
        _ => audience.iter().cloned().collect::<Vec<_>>().into(),
    }
}

/// What a new token is granted.
struct Grant<'a> {
    scope: &'a ScopeSet,
    audience: &'a Audience,
}

/// A new token value and its record.
fn new_token(
    request: &TokenRequest<'_>,
    kind: TokenKind,
    grant: Grant<'_>,
    lifetime: u64,
    family_id: Option<&str>,
) -> Result<Minted, IssueError> {
    let scope = grant.scope;
    let (value, expires_at) = match (kind, &request.jwt) {
        (TokenKind::Access, Some(jwt)) => {
            // Never past the publication of the key that verifies it.
            let expires_at = jwt.key.expiry(request.now, lifetime);
            (jwt_access_token(request, jwt, scope, expires_at)?, expires_at)
        }
        (TokenKind::Access, None) => (generate_access_token(request.client_id)?, request.now + lifetime),
        (TokenKind::Refresh, _) => (generate_secret()?, request.now + lifetime),
    };
    let record = Token {
        token_hash: sha256_hex(&value),
        client_id: request.client_id.to_owned(),
        scope: scope.clone(),
        issued_at: request.now,
        expires_at,
        username: request.username.clone(),
        kind,
        family_id: family_id.map(str::to_owned),
        rotated_at: None,
        access_hash: None,
        audience: grant.audience.clone(),
    };
    Ok((value, record))
}

/// A token's value and its record.
type Minted = (String, Token);

/// A new access token (`request`'s scope and audience) and refresh token
/// (`refresh`: the whole grant's) of family `family_id`.
fn new_pair(
    request: &TokenRequest<'_>,
    refresh: Grant<'_>,
    refresh_lifetime: u64,
    family_id: &str,
) -> Result<(Minted, Minted), IssueError> {
    let access = new_token(
        request,
        TokenKind::Access,
        request.grant(),
        request.lifetime,
        Some(family_id),
    )?;
    let mut refresh = new_token(
        request,
        TokenKind::Refresh,
        refresh,
        refresh_lifetime,
        Some(family_id),
    )?;
    refresh.1.access_hash = Some(access.1.token_hash.clone());
    Ok((access, refresh))
}

/// Generates an access token, stores its hash with one conditional write, and
/// returns it (client tokens: no refresh token, no family).
pub async fn issue_access_token<S: Store>(
    store: &S,
    request: TokenRequest<'_>,
) -> Result<IssuedToken, IssueError> {
    let (access_token, record) = new_token(
        &request,
        TokenKind::Access,
        request.grant(),
        request.lifetime,
        None,
    )?;
    store.put_token(&record).await?;
    Ok(IssuedToken {
        access_token,
        record,
        refresh_token: None,
        id_token: None,
    })
}

/// A new grant to `user`: a family, an access token and a refresh token,
/// stored in one transaction.
pub async fn issue_user_grant<S: Store>(
    store: &S,
    request: TokenRequest<'_>,
    user: &User,
    refresh_lifetime: u64,
) -> Result<IssuedToken, IssueError> {
    let family = Family {
        family_id: generate_id()?,
        client_id: request.client_id.to_owned(),
        username: user.username.clone(),
        user_grants_key: user.grants_key.clone(),
        revoked: false,
        expires_at: request.now + refresh_lifetime,
        successor: None,
    };
    let ((access_token, access), (refresh_token, refresh)) =
        new_pair(&request, request.grant(), refresh_lifetime, &family.family_id)?;
    store.put_grant(&family, &[access.clone(), refresh]).await?;
    Ok(IssuedToken {
        access_token,
        record: access,
        refresh_token: Some(refresh_token),
        id_token: None,
    })
}

/// Redeems authorization code `code` for a new grant to its user: a family
/// (with the id the code chose), an access token (`request`'s scope and
/// audience) and a refresh token (`grant_scope`, the code's audience), in
/// the same transaction that spends the code; `Err(Redemption)` for a
/// replayed or unknown code.
pub async fn redeem_authorization_code<S: Store>(
    store: &S,
    code: &AuthorizationCode,
    request: TokenRequest<'_>,
    grant_scope: &ScopeSet,
    refresh_lifetime: u64,
) -> Result<Result<IssuedToken, Redemption>, IssueError> {
    let family = Family {
        family_id: code.family_id.clone(),
        client_id: request.client_id.to_owned(),
        username: code.username.clone(),
        user_grants_key: code.user_grants_key.clone(),
        revoked: false,
        expires_at: request.now + refresh_lifetime,
        successor: None,
    };
    // The refresh token keeps the whole grant; the access token may be narrower.
    let grant = Grant {
        scope: grant_scope,
        audience: &code.audience,
    };
    let ((access_token, access), (refresh_token, refresh)) =
        new_pair(&request, grant, refresh_lifetime, &family.family_id)?;
    match store
        .redeem_code(&code.code_hash, &family, &[access.clone(), refresh], request.now)
        .await?
    {
        Redemption::Redeemed => Ok(Ok(IssuedToken {
            access_token,
            record: access,
            refresh_token: Some(refresh_token),
            id_token: None,
        })),
        refused => Ok(Err(refused)),
    }
}

/// How a refresh token is exchanged.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// Lifetime of the new refresh token (and its family), seconds.
    pub refresh_lifetime: u64,
    /// Keep the new pair sealed under the spent token, for a grace period;
    /// without one, nothing but hashes is stored.
    pub keep_successor: bool,
    /// Revoke the access token issued with the spent refresh token, in the
    /// same transaction (as DOT does).
    pub revoke_previous_access: bool,
}

/// Exchanges refresh token `old` (whose value is `presented`) of `family`
/// for a new pair, in one transaction; `Err(Rotation)` if it was already
/// spent or the family revoked. The access token gets `request.scope`
/// (perhaps narrower); the new refresh token keeps the old one's scope
/// (RFC 6749 §6). See [`RotationPolicy`] for what else happens.
pub async fn rotate_refresh_token<S: Store>(
    store: &S,
    presented: &str,
    old: &Token,
    family: &Family,
    request: TokenRequest<'_>,
    policy: RotationPolicy,
) -> Result<Result<IssuedToken, Rotation>, IssueError> {
    let refresh_lifetime = policy.refresh_lifetime;
    let family = Family {
        expires_at: request.now + refresh_lifetime,
        ..family.clone()
    };
    let grant = Grant {
        scope: &old.scope,
        audience: &old.audience,
    };
    let ((access_token, access), (refresh_token, refresh)) =
        new_pair(&request, grant, refresh_lifetime, &family.family_id)?;
    let successor = if policy.keep_successor {
        Some(seal(presented, &access_token, &refresh_token)?)
    } else {
        None
    };
    let tokens = [access.clone(), refresh];
    match store
        .rotate_refresh(
            &old.token_hash,
            successor.as_deref(),
            old.access_hash
                .as_deref()
                .filter(|_| policy.revoke_previous_access),
            &family,
            &tokens,
            request.now,
        )
        .await?
    {
        Rotation::Rotated => Ok(Ok(IssuedToken {
            access_token,
            record: access,
            refresh_token: Some(refresh_token),
            id_token: None,
        })),
        refused => Ok(Err(refused)),
    }
}
