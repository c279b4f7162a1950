//! Issuing access tokens: the one place a token is created, used by the token
//! endpoint and by `oauthctl token mint`.

use crate::model::AccessToken;
use crate::scope::ScopeSet;
use crate::secret::{generate_access_token, sha256_hex, RandomnessUnavailable};
use crate::store::{Store, StoreError};

/// A token just issued; the only moment its value exists outside the client.
#[derive(Clone)]
pub struct IssuedToken {
    /// The bearer token value.
    pub access_token: String,
    /// What was stored for it.
    pub record: AccessToken,
}

// The token value must never reach a log.
impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl IssuedToken {
    /// Seconds until expiry, as `expires_in`.
    pub fn expires_in(&self) -> u64 {
        self.record.expires_at - self.record.issued_at
    }
}

/// Why a token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// The OS random source failed.
    Randomness(RandomnessUnavailable),
    /// The store failed; nothing was issued.
    Store(StoreError),
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::Randomness(e) => e.fmt(f),
            IssueError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for IssueError {}

/// What to issue.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The client the token is for.
    pub client_id: &'a str,
    /// Granted scopes (already checked against the client).
    pub scope: ScopeSet,
    /// Lifetime in seconds.
    pub lifetime: u64,
    /// The user, for tokens issued to a user.
    pub username: Option<String>,
    /// Issue time, epoch seconds.
    pub now: u64,
}

/// Generates a token, stores its hash with one conditional write, and returns it.
pub async fn issue_access_token<S: Store>(
    store: &S,
    request: TokenRequest<'_>,
) -> Result<IssuedToken, IssueError> {
    let access_token = generate_access_token(request.client_id).map_err(IssueError::Randomness)?;
    let record = AccessToken {
        token_hash: sha256_hex(&access_token),
        client_id: request.client_id.to_owned(),
        scope: request.scope,
        issued_at: request.now,
        expires_at: request.now + request.lifetime,
        username: request.username,
    };
    store.put_token(&record).await.map_err(IssueError::Store)?;
    Ok(IssuedToken { access_token, record })
}
