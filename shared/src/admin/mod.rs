//! Administration over any [`AdminStore`]: clients, users, minted tokens and
//! the import from django-oauth-toolkit. `oauthctl` is a command line over
//! this module; tests use it the same way, over DynamoDB or in memory.

pub mod import_dot;
pub mod keys;

use std::collections::BTreeSet;

use crate::issue::{issue_access_token, IssuedToken, TokenRequest};
use crate::model::{Client, ClientAuth, GrantType, User, MAX_USERNAME_BYTES};
use crate::origin::Origin;
use crate::password::make_password;
use crate::redirect_uri::RedirectUri;
use crate::scope::ScopeSet;
use crate::secret::{generate_id, generate_secret, sha256_hex};
use crate::store::{AdminStore, ClientChange, StoreError, UserChange};

/// Why an administrative action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No such client or user (its description, e.g. `client "abc"`).
    NotFound(String),
    /// One already exists under that name.
    AlreadyExists(String),
    /// An argument is not acceptable.
    Invalid {
        /// What it is (`scope`, `default_scope`, `expires_in`...).
        field: &'static str,
        /// Why not.
        problem: String,
    },
    /// The store failed.
    Store(StoreError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::NotFound(what) => write!(f, "no {what}"),
            AdminError::AlreadyExists(what) => write!(f, "{what} already exists"),
            AdminError::Invalid { field, problem } => write!(f, "{field}: {problem}"),
            AdminError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        problem: problem.into(),
    }
}

fn randomness(e: crate::secret::RandomnessUnavailable) -> AdminError {
    AdminError::Store(StoreError::Unavailable(e.to_string()))
}

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Human-readable name.
    pub name: String,
    /// Grant types it may use.
    pub grants: BTreeSet<GrantType>,
    /// Scopes it may be granted (at least one).
    pub scopes: ScopeSet,
    /// Scopes granted when a request names none (a subset of `scopes`).
    pub default_scopes: ScopeSet,
    /// Its own access-token lifetime, seconds.
    pub token_lifetime: Option<u64>,
    /// Where authorization responses may go (the authorization code grant
    /// needs at least one); see [`RedirectUri::parse`].
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; the authorization code grant only).
    pub public: bool,
    /// Users are not asked to consent.
    pub skip_consent: bool,
    /// Origins whose pages may read the token, revocation and UserInfo
    /// answers (DOT's `allowed_origins`); see [`Origin::parse`].
    pub allowed_origins: Vec<String>,
    /// Where RP-initiated logout may send the browser back (DOT's
    /// `post_logout_redirect_uris`), matched exactly; see [`RedirectUri::parse`].
    pub post_logout_redirect_uris: Vec<String>,
    /// Opaque (the default) or JWT access tokens.
    pub access_token_format: crate::model::AccessTokenFormat,
    /// The resources (RFC 8707) it may ask tokens for; none: any.
    pub resources: Vec<String>,
}

/// Registers a client with a fresh id and, unless it is public, a secret,
/// returned this once (only its SHA-256 is stored).
pub async fn create_client<S: AdminStore>(
    store: &S,
    new: NewClient,
    now: u64,
) -> Result<(Client, Option<String>), AdminError> {
    if new.scopes.is_empty() {
        return Err(invalid("scope", "name at least one scope"));
    }
    if let Some(extra) = new.default_scopes.difference(&new.scopes).next() {
        return Err(invalid(
            "default_scope",
            format!("{extra:?} is not in the client's scope"),
        ));
    }
    let redirect_uris = new
        .redirect_uris
        .iter()
        .map(|uri| RedirectUri::parse(uri).map_err(|why| invalid("redirect_uri", why.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_origins = new
        .allowed_origins
        .iter()
        .map(|origin| {
            Origin::parse(origin).map_err(|why| invalid("allowed_origin", format!("{origin:?}: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout_redirect_uris = new
        .post_logout_redirect_uris
        .iter()
        .map(|uri| {
            RedirectUri::parse(uri).map_err(|why| invalid("post_logout_redirect_uri", why.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resources = new
        .resources
        .iter()
        .map(|r| {
            crate::resource::canonical(r)
                .map(|_| r.clone())
                .map_err(|why| invalid("resource", format!("{r:?} {why}")))
        })
        .collect::<Result<_, _>>()?;
    let code_grant = new.grants.contains(&GrantType::AuthorizationCode);
    if !code_grant && !post_logout_redirect_uris.is_empty() {
        return Err(invalid(
            "post_logout_redirect_uri",
            "only clients that sign people in (the authorization code grant) sign them out",
        ));
    }
    if code_grant && new.redirect_uris.is_empty() {
        return Err(invalid(
            "redirect_uri",
            "the authorization code grant needs at least one",
        ));
    }
    if !code_grant && !new.redirect_uris.is_empty() {
        return Err(invalid(
            "redirect_uri",
            "only the authorization code grant redirects",
        ));
    }
    if new.public && new.grants.iter().any(|g| !g.open_to_public_clients()) {
        return Err(invalid(
            "public",
            "a public client has no secret, so only the grants a user approves here are open to it (authorization code with PKCE, device code)",
        ));
    }
    let (auth, secret) = if new.public {
        (ClientAuth::Public, None)
    } else {
        let secret = generate_secret().map_err(randomness)?;
        let secret_hash = sha256_hex(&secret);
        (ClientAuth::Confidential { secret_hash }, Some(secret))
    };
    let client = Client {
        client_id: generate_id().map_err(randomness)?,
        name: new.name,
        auth,
        grant_types: new.grants,
        scopes: new.scopes,
        default_scopes: new.default_scopes,
        token_lifetime: new.token_lifetime,
        disabled: false,
        created_at: now,
        redirect_uris,
        skip_consent: new.skip_consent,
        allowed_origins,
        post_logout_redirect_uris,
        access_token_format: new.access_token_format,
        registration: Default::default(),
        resources,
    };
    store.create_client(&client).await?;
    Ok((client, secret))
}

/// One client.
pub async fn client<S: AdminStore>(store: &S, client_id: &str) -> Result<Client, AdminError> {
    store
        .get_client(client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("client {client_id:?}")))
}

/// Every client, oldest first.
pub async fn clients<S: AdminStore>(store: &S) -> Result<Vec<Client>, AdminError> {
    Ok(store.list_clients().await?)
}

/// Disables a client. A URL no client has yet, but that a metadata document
/// may have, is disabled before its first use: kept as a disabled client,
/// never fetched, until enabled.
pub async fn disable_client<S: AdminStore>(
    store: &S,
    client_id: &str,
    now: u64,
) -> Result<Client, AdminError> {
    // Twice: the service may store the document's client between the two writes.
    for _ in 0..2 {
        if let Some(disabled) = store.update_client(client_id, ClientChange::Disable).await? {
            return Ok(disabled);
        }
        let Some(banned) = crate::service::never_fetched(client_id, now) else {
            break;
        };
        if store.put_metadata_document_client(&banned).await? {
            return Ok(banned);
        }
    }
    Err(AdminError::NotFound(format!("client {client_id:?}")))
}

/// Applies `change` to a client (disable, enable).
pub async fn change_client<S: AdminStore>(
    store: &S,
    client_id: &str,
    change: ClientChange,
) -> Result<Client, AdminError> {
    store
        .update_client(client_id, change)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("client {client_id:?}")))
}

/// Gives a client a new secret, returned this once; the old one stops working.
pub async fn rotate_secret<S: AdminStore>(
    store: &S,
    client_id: &str,
) -> Result<(Client, String), AdminError> {
    if client(store, client_id).await?.is_public() {
        return Err(invalid(
            "client",
            format!("{client_id:?} is public: it has no secret"),
        ));
    }
    let secret = generate_secret().map_err(randomness)?;
    let client = change_client(store, client_id, ClientChange::SecretHash(sha256_hex(&secret))).await?;
    Ok((client, secret))
}

/// Deletes a client.
pub async fn delete_client<S: AdminStore>(store: &S, client_id: &str) -> Result<(), AdminError> {
    if store.delete_client(client_id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("client {client_id:?}")))
    }
}

/// Mints an access token for a client, as `oauthctl token mint` does for a
/// resource server's `RESOURCE_SERVER_AUTH_TOKEN`.
pub async fn mint_token<S: AdminStore>(
    store: &S,
    client_id: &str,
    scope: ScopeSet,
    expires_in: u64,
    now: u64,
) -> Result<IssuedToken, AdminError> {
    let client = client(store, client_id).await?;
    if client.disabled {
        return Err(invalid("client", format!("{:?} is disabled", client.client_id)));
    }
    if scope.is_empty() {
        return Err(invalid("scope", "name at least one scope"));
    }
    if let Some(denied) = scope.difference(&client.scopes).next() {
        return Err(invalid(
            "scope",
            format!("{denied:?} is not allowed for this client"),
        ));
    }
    let request = TokenRequest {
        client_id: &client.client_id,
        scope,
        audience: Default::default(),
        lifetime: expires_in,
        username: None,
        now,
        // Minted tokens (a resource server's) are opaque.
        jwt: None,
    };
    issue_access_token(store, request)
        .await
        .map_err(|e| AdminError::Store(StoreError::Unavailable(e.to_string())))
}

/// Creates a user with `password`, hashed as Django does.
pub async fn create_user<S: AdminStore>(
    store: &S,
    username: &str,
    password: &str,
    iterations: u32,
    now: u64,
) -> Result<User, AdminError> {
    check_username(username)?;
    let hash = hashed(password, iterations)?;
    let user = User::new(username, hash, now).map_err(randomness)?;
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::AlreadyExists => AdminError::AlreadyExists(format!("user {username:?}")),
        e => AdminError::Store(e),
    })?;
    Ok(user)
}

/// A username a person can type and every item keyed by it can hold.
pub fn check_username(username: &str) -> Result<(), AdminError> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
        return Err(invalid(
            "username",
            format!("must be 1 to {MAX_USERNAME_BYTES} bytes"),
        ));
    }
    if username.chars().any(char::is_control) {
        return Err(invalid("username", "must not hold control characters"));
    }
    Ok(())
}

fn hashed(password: &str, iterations: u32) -> Result<String, AdminError> {
    if password.is_empty() {
        return Err(invalid("password", "the password is empty"));
    }
    if iterations == 0 {
        return Err(invalid("iterations", "must be at least 1"));
    }
    make_password(password, iterations).map_err(randomness)
}

/// One user.
pub async fn user<S: AdminStore>(store: &S, username: &str) -> Result<User, AdminError> {
    store
        .get_user(username)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("user {username:?}")))
}

/// Replaces a user's password; every grant made before ends.
pub async fn set_password<S: AdminStore>(
    store: &S,
    username: &str,
    password: &str,
    iterations: u32,
) -> Result<User, AdminError> {
    change_user(
        store,
        username,
        UserChange::PasswordHash(hashed(password, iterations)?),
    )
    .await
}

/// Applies `change` to a user (disable, enable, revoke their grants).
pub async fn change_user<S: AdminStore>(
    store: &S,
    username: &str,
    change: UserChange,
) -> Result<User, AdminError> {
    store
        .update_user(username, change)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("user {username:?}")))
}

/// Replaces a user's name and e-mail address (`oauthctl user set`), each
/// value checked by [`check_profile`].
pub async fn set_profile<S: AdminStore>(
    store: &S,
    username: &str,
    profile: crate::model::UserProfile,
) -> Result<User, AdminError> {
    check_profile(&profile)?;
    change_user(store, username, UserChange::Profile(profile)).await
}

/// Whether `profile` may be stored: each value at most
/// [`crate::model::MAX_PROFILE_VALUE_BYTES`], no control characters, an
/// e-mail address that looks like one.
pub fn check_profile(profile: &crate::model::UserProfile) -> Result<(), AdminError> {
    for (field, value) in [
        ("first_name", &profile.first_name),
        ("last_name", &profile.last_name),
        ("email", &profile.email),
    ] {
        if value.len() > crate::model::MAX_PROFILE_VALUE_BYTES {
            return Err(invalid(
                field,
                format!("longer than {} bytes", crate::model::MAX_PROFILE_VALUE_BYTES),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(field, "holds a control character"));
        }
    }
    if !profile.email.is_empty() && !profile.email.contains('@') {
        return Err(invalid("email", "is not an e-mail address"));
    }
    Ok(())
}

/// Lets a username sign in again at once, whatever its failed sign-ins in
/// the current lockout window (`oauthctl user unlock`).
pub async fn unlock_user<S: AdminStore>(store: &S, username: &str) -> Result<(), AdminError> {
    Ok(store
        .clear_attempts(&crate::store::AttemptsOf::SignIn(username.to_owned()))
        .await?)
}

/// Deletes a user (their grants end with them).
pub async fn delete_user<S: AdminStore>(store: &S, username: &str) -> Result<(), AdminError> {
    if store.delete_user(username).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("user {username:?}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::password::check_password;
    use crate::scope::parse_scope;
    use crate::store::Store;

    fn store() -> MemoryStore {
        MemoryStore::new(Arc::new(ManualClock::new()))
    }

    fn new_client(scope: &str, default_scope: &str) -> NewClient {
        NewClient {
            name: "Billing".into(),
            grants: [GrantType::ClientCredentials].into(),
            scopes: parse_scope(scope).unwrap(),
            default_scopes: parse_scope(default_scope).unwrap(),
            token_lifetime: None,
            redirect_uris: Vec::new(),
            public: false,
            skip_consent: false,
            allowed_origins: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            access_token_format: crate::model::AccessTokenFormat::Opaque,
            resources: Default::default(),
        }
    }

    #[tokio::test]
    async fn clients_are_created_with_a_secret_shown_once_and_rotated() {
        let store = store();
        let (created, secret) = create_client(&store, new_client("read write", "read"), 7)
            .await
            .unwrap();
        let secret = secret.unwrap();
        assert_eq!(
            created.auth,
            ClientAuth::Confidential {
                secret_hash: sha256_hex(&secret)
            }
        );
        assert_eq!(client(&store, &created.client_id).await.unwrap(), created);
        assert_eq!(clients(&store).await.unwrap(), vec![created.clone()]);

        let (rotated, new_secret) = rotate_secret(&store, &created.client_id).await.unwrap();
        assert_ne!(new_secret, secret);
        assert_eq!(
            rotated.auth,
            ClientAuth::Confidential {
                secret_hash: sha256_hex(&new_secret)
            }
        );

        let disabled = change_client(&store, &created.client_id, ClientChange::Disable)
            .await
            .unwrap();
        assert!(disabled.disabled);
        delete_client(&store, &created.client_id).await.unwrap();
        assert_eq!(
            client(&store, &created.client_id).await,
            Err(AdminError::NotFound(format!("client {:?}", created.client_id)))
        );
        assert!(matches!(
            delete_client(&store, &created.client_id).await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn bad_client_arguments_are_refused_naming_the_field() {
        let store = store();
        let no_scope = create_client(&store, new_client("", ""), 0).await.unwrap_err();
        assert!(matches!(no_scope, AdminError::Invalid { field: "scope", .. }));
        let wider_default = create_client(&store, new_client("read", "write"), 0)
            .await
            .unwrap_err();
        assert!(matches!(
            wider_default,
            AdminError::Invalid {
                field: "default_scope",
                ..
            }
        ));
        assert!(clients(&store).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn code_grant_clients_need_redirect_uris_and_public_ones_have_no_secret() {
        let store = store();
        let spa = NewClient {
            grants: [GrantType::AuthorizationCode].into(),
            redirect_uris: vec![
                "https://spa.example.com/cb".into(),
                "http://127.0.0.1:8765/cb".into(),
            ],
            public: true,
            skip_consent: true,
            ..new_client("read", "")
        };
        let (created, secret) = create_client(&store, spa.clone(), 0).await.unwrap();
        assert_eq!(secret, None);
        assert!(created.is_public() && created.skip_consent);
        let stored: Vec<String> = client(&store, &created.client_id)
            .await
            .unwrap()
            .redirect_uris
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(stored, spa.redirect_uris);
        assert!(matches!(
            rotate_secret(&store, &created.client_id).await,
            Err(AdminError::Invalid { field: "client", .. })
        ));

        let refused = [
            (
                NewClient {
                    redirect_uris: vec![],
                    ..spa.clone()
                },
                "redirect_uri",
            ),
            (
                NewClient {
                    redirect_uris: vec!["http://spa.example.com/cb".into()],
                    ..spa.clone()
                },
                "redirect_uri",
            ),
            (
                NewClient {
                    grants: [GrantType::AuthorizationCode, GrantType::ClientCredentials].into(),
                    ..spa.clone()
                },
                "public",
            ),
            (
                NewClient {
                    redirect_uris: vec!["https://x.example/cb".into()],
                    ..new_client("read", "")
                },
                "redirect_uri",
            ),
        ];
        for (new, field) in refused {
            match create_client(&store, new, 0).await {
                Err(AdminError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(clients(&store).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn tokens_are_minted_only_within_the_clients_scope() {
        let store = store();
        // Now as the store sees it: a token is stored live.
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let (rs, _) = create_client(&store, new_client("introspection", ""), 0)
            .await
            .unwrap();
        let minted = mint_token(
            &store,
            &rs.client_id,
            parse_scope("introspection").unwrap(),
            60,
            now,
        )
        .await
        .unwrap();
        assert_eq!(minted.record.expires_at, now + 60);
        let stored = store
            .load(&[crate::store::Key::Token(sha256_hex(&minted.access_token))])
            .await
            .unwrap();
        assert!(stored[0].is_some());
        let denied = mint_token(&store, &rs.client_id, parse_scope("read").unwrap(), 60, 100).await;
        assert!(matches!(denied, Err(AdminError::Invalid { field: "scope", .. })));
        assert!(matches!(
            mint_token(&store, "nobody", parse_scope("read").unwrap(), 60, 100).await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn users_get_django_hashes_and_new_grants_keys_when_their_grants_end() {
        let store = store();
        let ann = create_user(&store, "ann", "correct horse", 1000, 0)
            .await
            .unwrap();
        assert!(check_password("correct horse", Some(&ann.password_hash), 1000).matches);
        assert_eq!(
            create_user(&store, "ann", "other", 1000, 0).await.unwrap_err(),
            AdminError::AlreadyExists("user \"ann\"".into())
        );
        assert!(matches!(
            create_user(&store, "bob", "", 1000, 0).await,
            Err(AdminError::Invalid {
                field: "password",
                ..
            })
        ));

        let changed = set_password(&store, "ann", "battery staple", 1000).await.unwrap();
        assert!(check_password("battery staple", Some(&changed.password_hash), 1000).matches);
        assert_ne!(
            changed.grants_key, ann.grants_key,
            "a new password ends every grant"
        );
        let revoked = change_user(&store, "ann", UserChange::RevokeGrants)
            .await
            .unwrap();
        assert_ne!(revoked.grants_key, changed.grants_key);
        let enabled_again = change_user(&store, "ann", UserChange::Disabled(false))
            .await
            .unwrap();
        assert_eq!(
            enabled_again.grants_key, revoked.grants_key,
            "enabling brings no grant back"
        );

        delete_user(&store, "ann").await.unwrap();
        assert!(matches!(user(&store, "ann").await, Err(AdminError::NotFound(_))));
        assert!(matches!(
            set_password(&store, "ann", "x", 1000).await,
            Err(AdminError::NotFound(_))
        ));
    }
}
