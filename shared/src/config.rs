//! Service configuration, read once at cold start from the environment.

use std::collections::BTreeMap;

use crate::scope::{is_reserved, parse_scope, ScopeSet, INTROSPECTION_SCOPE, REGISTRATION_SCOPE};

/// Default access-token lifetime, as in django-oauth-toolkit.
pub const DEFAULT_ACCESS_TOKEN_EXPIRE_SECONDS: u64 = 3600;
/// Default refresh-token lifetime: 14 days.
pub const DEFAULT_REFRESH_TOKEN_EXPIRE_SECONDS: u64 = 14 * 24 * 3600;
/// Default unused lifetime of a self-registered client: 30 days.
pub const DEFAULT_REGISTERED_CLIENT_EXPIRE_SECONDS: u64 = 30 * 86_400;
/// Longest lifetime accepted anywhere (a year): bounds TTL arithmetic and
/// stops a typo from minting near-eternal tokens.
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 366 * 24 * 3600;

/// Everything the token service needs besides its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// DynamoDB table holding clients and tokens (`TABLE_NAME`).
    pub table_name: String,
    /// Issuer identifier (`ISSUER`), no trailing slash: `iss` in every token
    /// and the base of the discovery URL.
    pub issuer: String,
    /// The URL the endpoints' paths (`/o/token/`...) hang off (`BASE_URL`,
    /// default the issuer), no trailing slash: a DOT deployment's issuer
    /// `https://host/o` is kept with `BASE_URL=https://host`.
    pub base_url: String,
    /// Access-token lifetime for clients without their own (`ACCESS_TOKEN_EXPIRE_SECONDS`).
    pub access_token_expire_seconds: u64,
    /// Known scopes with their descriptions (`SCOPES`); always has `introspection`.
    pub scopes: BTreeMap<String, String>,
    /// Scopes granted when a request names none and its client has no defaults
    /// of its own (`DEFAULT_SCOPES`).
    pub default_scopes: ScopeSet,
    /// Refresh-token lifetime (`REFRESH_TOKEN_EXPIRE_SECONDS`, default 14 days).
    pub refresh_token_expire_seconds: u64,
    /// How long a spent refresh token still returns the pair it was exchanged
    /// for instead of revoking its family (`REFRESH_TOKEN_GRACE_PERIOD_SECONDS`,
    /// default 0 as in DOT).
    pub refresh_token_grace_period_seconds: u64,
    /// Whether exchanging a refresh token revokes the access token issued
    /// with it, as DOT does (`ROTATION_REVOKES_ACCESS_TOKEN`, default true).
    pub rotation_revokes_access_token: bool,
    /// PBKDF2 work factor of the configured password hasher: what passwords
    /// are re-hashed to on sign-in, and what every refusal without a hash to
    /// check spends (`PASSWORD_HASH_ITERATIONS`, default Django's).
    pub password_hash_iterations: u32,
    /// How many checks of one client's secret imported from Django (a slow
    /// hash, until its first success re-stores it as SHA-256) may run per
    /// minute; beyond, the client is refused unchecked
    /// (`IMPORTED_SECRET_CHECKS_PER_MINUTE`, default 10).
    pub imported_secret_checks_per_minute: u32,
    /// How long a browser stays signed in at the authorization endpoint
    /// (`SESSION_EXPIRE_SECONDS`, default 12 hours).
    pub session_expire_seconds: u64,
    /// Failed sign-ins for one username that lock it (`SIGN_IN_LOCKOUT_ATTEMPTS`, default 5)...
    pub sign_in_lockout_attempts: u32,
    /// ...counted over, and locking it for, this long (`SIGN_IN_LOCKOUT_SECONDS`, default 900).
    pub sign_in_lockout_seconds: u64,
    /// How signing keys are sealed (`SIGNING_KEY_KMS_KEY_ID` or
    /// `SIGNING_KEY_SECRET`); OpenID Connect is on when one is set.
    pub key_sealing: Option<KeySealing>,
    /// How often the service rotates its signing key by itself
    /// (`SIGNING_KEY_ROTATION_DAYS`, default none: only `oauthctl keys rotate`).
    pub signing_key_rotation_seconds: Option<u64>,
    /// ID-token lifetime (`ID_TOKEN_EXPIRE_SECONDS`, default 36000 as DOT's
    /// `OIDC_ID_TOKEN_EXPIRE_SECONDS`).
    pub id_token_expire_seconds: u64,
    /// The `aud` of JWT access tokens (`JWT_ACCESS_TOKEN_AUDIENCE`, default the issuer).
    pub jwt_access_token_audience: String,
    /// The resources tokens may be asked for (RFC 8707, `RESOURCES`), each
    /// with the scopes it accepts; none by default.
    pub resources: crate::resource::Resources,
    /// RFC 7591 dynamic client registration at `/o/register/`
    /// (`CLIENT_REGISTRATION`); off by default.
    pub client_registration: ClientRegistration,
    /// The scopes a dynamically registered client may be allowed
    /// (`REGISTRATION_SCOPES`; default every known scope but `introspection`).
    pub registration_scopes: ScopeSet,
    /// How long a dynamically registered client lives unused, seconds
    /// (`REGISTERED_CLIENT_EXPIRE_SECONDS`, default 30 days); a client known
    /// by its metadata document too.
    pub registered_client_expire_seconds: u64,
    /// Whether a `client_id` that is an https URL is fetched as the
    /// client's metadata document (`CLIENT_METADATA_DOCUMENTS`); off by
    /// default.
    pub client_metadata_documents: ClientMetadataDocuments,
    /// The hosts whose metadata documents are fetched
    /// (`CLIENT_METADATA_DOCUMENT_HOSTS`); `None`: any public host.
    pub client_metadata_document_hosts: Option<HostPatterns>,
    /// The hosts whose metadata documents are refused, even if named above
    /// (`CLIENT_METADATA_DOCUMENT_DENIED_HOSTS`); `None`: none.
    pub client_metadata_document_denied_hosts: Option<HostPatterns>,
    /// The least seconds between a device's polls (`DEVICE_FLOW_INTERVAL`,
    /// default 5 as DOT's).
    pub device_flow_interval: u64,
    /// How long a device code may be approved and redeemed
    /// (`DEVICE_CODE_EXPIRE_SECONDS`, default 900).
    pub device_code_expire_seconds: u64,
    /// What a user code looks like (`DEVICE_USER_CODE_FORMAT`, default
    /// `XXXX-XXXX`).
    pub user_code_format: crate::user_code::UserCodeFormat,
    /// JWT access-token lifetime for clients without their own
    /// (`JWT_ACCESS_TOKEN_EXPIRE_SECONDS`, default 300: an edge that verifies
    /// them itself sees a revocation only when they expire).
    pub jwt_access_token_expire_seconds: u64,
}

/// Where the private halves of signing keys are sealed.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySealing {
    /// By AWS KMS under this key (id, ARN or alias): what the template sets.
    Kms {
        /// The KMS key.
        key_id: String,
    },
    /// Under a 256-bit secret: for standalone runs without KMS.
    Secret([u8; 32]),
}

// The secret never reaches a log.
impl std::fmt::Debug for KeySealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySealing::Kms { key_id } => f.debug_struct("Kms").field("key_id", key_id).finish(),
            KeySealing::Secret(_) => f.write_str("Secret(..)"),
        }
    }
}

/// Who may register a client at `/o/register/` (RFC 7591).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRegistration {
    /// Nobody: `403`.
    Off,
    /// Anyone (an MCP client, say), within what registration allows.
    Open,
    /// Whoever presents an initial access token (RFC 7591 §3): an access
    /// token with the `registration` scope an administrator handed out.
    InitialAccessToken,
}

/// Whether clients may name themselves by the URL of their Client ID
/// Metadata Document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMetadataDocuments {
    /// No: such a `client_id` is an unknown client.
    Off,
    /// Yes, documents on public addresses only.
    On,
    /// Yes, and on loopback addresses too: for tests on one machine only
    /// (`CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK=true`).
    OnIncludingLoopback,
}

/// Hosts, as Django's `ALLOWED_HOSTS` names them: `claude.ai` is that host
/// only, `.example.com` that domain and every subdomain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPatterns(Vec<String>);

impl HostPatterns {
    /// A list separated by spaces or commas; each entry a host name (lower
    /// case), optionally with a leading dot.
    pub fn parse(value: &str) -> Result<Self, String> {
        let hosts: Vec<String> = value
            .split([' ', ','])
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if hosts.is_empty() {
            return Err("names no host".into());
        }
        for host in &hosts {
            let name = host.strip_prefix('.').unwrap_or(host);
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(format!("{host:?} is not a host name (or .domain)"));
            }
        }
        Ok(Self(hosts))
    }

    /// Whether `host` (as a URL parser writes it) is on the list.
    pub fn matches(&self, host: &str) -> bool {
        self.0.iter().any(|allowed| match allowed.strip_prefix('.') {
            Some(domain) => {
                host == domain
                    || host
                        .strip_suffix(allowed.as_str())
                        .is_some_and(|sub| !sub.is_empty())
            }
            None => host == allowed,
        })
    }
}

/// The OpenID Connect scopes (Core §5.4, §11), known whenever OpenID
/// Connect is on.
pub const OIDC_SCOPES: [(&str, &str); 4] = [
    ("openid", "Sign you in (OpenID Connect)"),
    ("profile", "Your name and username"),
    ("email", "Your e-mail address"),
    ("offline_access", "Stay connected while you are away"),
];

/// How long an authorization code may be redeemed (RFC 6749 §4.1.2 advises
/// at most ten minutes; a client redeems it at once).
pub const AUTHORIZATION_CODE_EXPIRE_SECONDS: u64 = 60;

/// Default of [`ServiceConfig::imported_secret_checks_per_minute`].
pub const DEFAULT_IMPORTED_SECRET_CHECKS_PER_MINUTE: u32 = 10;

/// A configuration variable is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration error in {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error in `variable`.
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

fn error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(variable, problem)
}

impl ServiceConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let table_name = get("TABLE_NAME").ok_or_else(|| error("TABLE_NAME", "is not set"))?;
        let issuer = parse_issuer(&get("ISSUER").ok_or_else(|| error("ISSUER", "is not set"))?)?;
        let base_url = match get("BASE_URL") {
            None => issuer.clone(),
            Some(v) => parse_service_url("BASE_URL", &v)?,
        };

        let access_token_expire_seconds = match get("ACCESS_TOKEN_EXPIRE_SECONDS") {
            None => DEFAULT_ACCESS_TOKEN_EXPIRE_SECONDS,
            Some(v) => parse_lifetime(&v).map_err(|p| error("ACCESS_TOKEN_EXPIRE_SECONDS", p))?,
        };

        let mut scopes = match get("SCOPES") {
            None => BTreeMap::from([
                ("read".to_owned(), "Reading scope".to_owned()),
                ("write".to_owned(), "Writing scope".to_owned()),
            ]),
            Some(v) => parse_scopes_json(&v).map_err(|p| error("SCOPES", p))?,
        };
        scopes
            .entry(INTROSPECTION_SCOPE.to_owned())
            .or_insert_with(|| "Introspect token scope".to_owned());

        let client_registration = match get("CLIENT_REGISTRATION").as_deref().map(str::trim) {
            None | Some("off") => ClientRegistration::Off,
            Some("open") => ClientRegistration::Open,
            Some("token") => ClientRegistration::InitialAccessToken,
            Some(other) => {
                return Err(error(
                    "CLIENT_REGISTRATION",
                    format!("{other:?} is none of off, open and token"),
                ))
            }
        };
        if client_registration == ClientRegistration::InitialAccessToken {
            scopes
                .entry(REGISTRATION_SCOPE.to_owned())
                .or_insert_with(|| "Register clients".to_owned());
        }

        let default_scopes = match get("DEFAULT_SCOPES") {
            None => scopes.keys().filter(|s| !is_reserved(s)).cloned().collect(),
            Some(v) => {
                let set = parse_scope(&v)
                    .map_err(|bad| error("DEFAULT_SCOPES", format!("{bad:?} is not a valid scope name")))?;
                if let Some(unknown) = set.iter().find(|s| !scopes.contains_key(*s)) {
                    return Err(error(
                        "DEFAULT_SCOPES",
                        format!("{unknown:?} is not one of SCOPES"),
                    ));
                }
                set
            }
        };

        let resources = match get("RESOURCES") {
            None => crate::resource::Resources::default(),
            Some(v) => crate::resource::Resources::parse_json(&v).map_err(|p| error("RESOURCES", p))?,
        };
        if let Some((resource, unknown)) = resources
            .iter()
            .find_map(|r| Some((r, r.scopes.iter().find(|s| !scopes.contains_key(*s))?)))
        {
            return Err(error(
                "RESOURCES",
                format!(
                    "{unknown:?}, which {:?} accepts, is not one of SCOPES",
                    resource.identifier
                ),
            ));
        }

        let registered_client_expire_seconds = match get("REGISTERED_CLIENT_EXPIRE_SECONDS") {
            None => DEFAULT_REGISTERED_CLIENT_EXPIRE_SECONDS,
            Some(v) => parse_lifetime(&v).map_err(|p| error("REGISTERED_CLIENT_EXPIRE_SECONDS", p))?,
        };

        const DOCUMENTS: &str = "CLIENT_METADATA_DOCUMENTS";
        const LOOPBACK: &str = "CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK";
        let documents_on = match get(DOCUMENTS).as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => return Err(error(DOCUMENTS, format!("{other:?} is neither on nor off"))),
        };
        let loopback = match get(LOOPBACK).as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(error(LOOPBACK, format!("{other:?} is neither true nor false"))),
        };
        let host_patterns = |variable: &'static str| match get(variable) {
            None => Ok(None),
            Some(v) => HostPatterns::parse(&v).map(Some).map_err(|p| error(variable, p)),
        };
        let client_metadata_document_hosts = host_patterns("CLIENT_METADATA_DOCUMENT_HOSTS")?;
        let client_metadata_document_denied_hosts = host_patterns("CLIENT_METADATA_DOCUMENT_DENIED_HOSTS")?;
        let client_metadata_documents = match (documents_on, loopback) {
            (false, false) => ClientMetadataDocuments::Off,
            (true, false) => ClientMetadataDocuments::On,
            (true, true) => ClientMetadataDocuments::OnIncludingLoopback,
            (false, true) => return Err(error(LOOPBACK, format!("is true, but {DOCUMENTS} is not on"))),
        };

        let refresh_token_expire_seconds = match get("REFRESH_TOKEN_EXPIRE_SECONDS") {
            None => DEFAULT_REFRESH_TOKEN_EXPIRE_SECONDS,
            Some(v) => parse_lifetime(&v).map_err(|p| error("REFRESH_TOKEN_EXPIRE_SECONDS", p))?,
        };
        let refresh_token_grace_period_seconds = match get("REFRESH_TOKEN_GRACE_PERIOD_SECONDS") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 3600)
                .ok_or_else(|| {
                    error(
                        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
                        format!("{v:?} is not a whole number of seconds from 0 to 3600"),
                    )
                })?,
        };
        const ROTATION_REVOKES: &str = "ROTATION_REVOKES_ACCESS_TOKEN";
        let rotation_revokes_access_token = match get(ROTATION_REVOKES).as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(error(
                    ROTATION_REVOKES,
                    format!("{other:?} is neither true nor false"),
                ))
            }
        };
        let password_hash_iterations = match get("PASSWORD_HASH_ITERATIONS") {
            None => crate::password::DEFAULT_ITERATIONS,
            Some(v) => v.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                error(
                    "PASSWORD_HASH_ITERATIONS",
                    format!("{v:?} is not a positive whole number"),
                )
            })?,
        };

        const SECRET_CHECKS: &str = "IMPORTED_SECRET_CHECKS_PER_MINUTE";
        let imported_secret_checks_per_minute = match get(SECRET_CHECKS) {
            None => DEFAULT_IMPORTED_SECRET_CHECKS_PER_MINUTE,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    error(
                        SECRET_CHECKS,
                        format!("{v:?} is not a whole number from 1 to 10000"),
                    )
                })?,
        };

        let session_expire_seconds = match get("SESSION_EXPIRE_SECONDS") {
            None => 12 * 3600,
            Some(v) => parse_lifetime(&v).map_err(|p| error("SESSION_EXPIRE_SECONDS", p))?,
        };
        const ATTEMPTS: &str = "SIGN_IN_LOCKOUT_ATTEMPTS";
        let sign_in_lockout_attempts = match get(ATTEMPTS) {
            None => 5,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| error(ATTEMPTS, format!("{v:?} is not a whole number from 1 to 1000")))?,
        };
        let sign_in_lockout_seconds = match get("SIGN_IN_LOCKOUT_SECONDS") {
            None => 900,
            Some(v) => parse_lifetime(&v).map_err(|p| error("SIGN_IN_LOCKOUT_SECONDS", p))?,
        };

        let key_sealing = parse_key_sealing(&get)?;
        if key_sealing.is_some() {
            for (scope, description) in OIDC_SCOPES {
                scopes
                    .entry(scope.to_owned())
                    .or_insert_with(|| description.to_owned());
            }
        }
        let registration_scopes = match get("REGISTRATION_SCOPES") {
            None => scopes.keys().filter(|s| !is_reserved(s)).cloned().collect(),
            Some(v) => {
                let set = parse_scope(&v).map_err(|bad| {
                    error(
                        "REGISTRATION_SCOPES",
                        format!("{bad:?} is not a valid scope name"),
                    )
                })?;
                if let Some(reserved) = set.iter().find(|s| is_reserved(s)) {
                    return Err(error(
                        "REGISTRATION_SCOPES",
                        format!("{reserved:?} is the authorization server's own, for clients an administrator registers"),
                    ));
                }
                if let Some(unknown) = set.iter().find(|s| !scopes.contains_key(*s)) {
                    return Err(error(
                        "REGISTRATION_SCOPES",
                        format!("{unknown:?} is not one of SCOPES"),
                    ));
                }
                set
            }
        };
        let id_token_expire_seconds = match get("ID_TOKEN_EXPIRE_SECONDS") {
            None => 36_000,
            Some(v) => parse_lifetime(&v).map_err(|p| error("ID_TOKEN_EXPIRE_SECONDS", p))?,
        };

        // A rotation must leave room for its successor's publication ahead
        // (2 h 15 min) and, after, for the old key's (an ID token's life).
        let signing_key_rotation_seconds = match get("SIGNING_KEY_ROTATION_DAYS") {
            None => None,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(days) if days <= 3650 => Some(days * 24 * 3600),
                _ => {
                    return Err(error(
                        "SIGNING_KEY_ROTATION_DAYS",
                        format!("{v:?} is not a whole number of days from 1 to 3650 (0: off)"),
                    ))
                }
            },
        };

        let jwt_access_token_audience = match get("JWT_ACCESS_TOKEN_AUDIENCE") {
            None => issuer.clone(),
            Some(v) if v.len() <= 1024 && !v.trim().contains(char::is_whitespace) => v.trim().to_owned(),
            Some(_) => {
                return Err(error(
                    "JWT_ACCESS_TOKEN_AUDIENCE",
                    "is one audience, without spaces, at most 1024 bytes",
                ))
            }
        };
        let jwt_access_token_expire_seconds = match get("JWT_ACCESS_TOKEN_EXPIRE_SECONDS") {
            None => 300,
            Some(v) => parse_lifetime(&v).map_err(|p| error("JWT_ACCESS_TOKEN_EXPIRE_SECONDS", p))?,
        };

        let device_flow_interval = match get("DEVICE_FLOW_INTERVAL") {
            None => 5,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=300).contains(n))
                .ok_or_else(|| {
                    error(
                        "DEVICE_FLOW_INTERVAL",
                        format!("{v:?} is not a whole number of seconds from 1 to 300"),
                    )
                })?,
        };
        let device_code_expire_seconds = match get("DEVICE_CODE_EXPIRE_SECONDS") {
            None => 900,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (60..=3600).contains(n))
                .ok_or_else(|| {
                    error(
                        "DEVICE_CODE_EXPIRE_SECONDS",
                        format!("{v:?} is not a whole number of seconds from 60 to 3600"),
                    )
                })?,
        };
        let user_code_format = match get("DEVICE_USER_CODE_FORMAT") {
            None => crate::user_code::UserCodeFormat::default(),
            Some(v) => crate::user_code::UserCodeFormat::parse(v.trim())
                .map_err(|p| error("DEVICE_USER_CODE_FORMAT", p))?,
        };

        Ok(Self {
            device_flow_interval,
            device_code_expire_seconds,
            user_code_format,
            key_sealing,
            signing_key_rotation_seconds,
            id_token_expire_seconds,
            jwt_access_token_audience,
            jwt_access_token_expire_seconds,
            resources,
            client_registration,
            registration_scopes,
            registered_client_expire_seconds,
            client_metadata_documents,
            client_metadata_document_hosts,
            client_metadata_document_denied_hosts,
            table_name,
            issuer,
            base_url,
            access_token_expire_seconds,
            scopes,
            default_scopes,
            refresh_token_expire_seconds,
            refresh_token_grace_period_seconds,
            rotation_revokes_access_token,
            password_hash_iterations,
            imported_secret_checks_per_minute,
            session_expire_seconds,
            sign_in_lockout_attempts,
            sign_in_lockout_seconds,
        })
    }

    /// How signing keys are sealed, from the environment alone (for
    /// `oauthctl keys rotate`): an error if neither way is set.
    pub fn key_sealing_from_env() -> Result<KeySealing, ConfigError> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        parse_key_sealing(&get)?.ok_or_else(|| {
            error(
                "SIGNING_KEY_KMS_KEY_ID",
                "is not set, nor is SIGNING_KEY_SECRET: set the one the token service has",
            )
        })
    }

    /// The URL of an endpoint: `path` (DOT's, like `/o/token/`) under `BASE_URL`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The set of scope names this server knows.
    pub fn known_scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(String::as_str)
    }

    /// Whether `scope` is one this server knows.
    pub fn is_known_scope(&self, scope: &str) -> bool {
        self.scopes.contains_key(scope)
    }
}

/// `SIGNING_KEY_KMS_KEY_ID` or `SIGNING_KEY_SECRET`, at most one.
fn parse_key_sealing(get: &impl Fn(&str) -> Option<String>) -> Result<Option<KeySealing>, ConfigError> {
    Ok(match (get("SIGNING_KEY_KMS_KEY_ID"), get("SIGNING_KEY_SECRET")) {
        (Some(_), Some(_)) => {
            return Err(error(
                "SIGNING_KEY_SECRET",
                "is set with SIGNING_KEY_KMS_KEY_ID; set one of them",
            ))
        }
        (Some(key_id), None) => Some(KeySealing::Kms {
            key_id: key_id.trim().to_owned(),
        }),
        (None, Some(secret)) => Some(KeySealing::Secret(parse_secret(&secret).ok_or_else(|| {
            error(
                "SIGNING_KEY_SECRET",
                "is not 64 hexadecimal digits (256 random bits; `openssl rand -hex 32` makes one)",
            )
        })?)),
        (None, None) => None,
    })
}

/// 32 bytes from 64 hexadecimal digits.
fn parse_secret(value: &str) -> Option<[u8; 32]> {
    let value = value.trim();
    if value.len() != 64 || !value.is_ascii() {
        return None;
    }
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(secret)
}

/// A token lifetime in whole seconds, 1 to [`MAX_TOKEN_LIFETIME_SECONDS`].
pub fn parse_lifetime(value: &str) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_TOKEN_LIFETIME_SECONDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{value:?} is not a whole number of seconds between 1 and {MAX_TOKEN_LIFETIME_SECONDS}"
        )),
    }
}

/// The issuer (RFC 8414 §2): `https`, or plain `http` to this machine only
/// (codes, tokens and `__Host-` cookies must never cross a network in
/// clear); a host, no userinfo, query or fragment; the trailing slash cut.
fn parse_issuer(value: &str) -> Result<String, ConfigError> {
    parse_service_url("ISSUER", value)
}

/// A URL of this service (the issuer, the endpoints' base), under the
/// issuer's rules.
fn parse_service_url(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let issuer = value.trim().trim_end_matches('/');
    let bad = |why: &str| Err(error(variable, format!("{value:?} {why}")));
    let Ok(url) = url::Url::parse(issuer) else {
        return bad("is not an absolute http(s) URL");
    };
    if !issuer.is_ascii() || issuer.contains(['\\', ' ']) {
        return bad("must be an ASCII URL without spaces or backslashes");
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || issuer.ends_with(['?', '#'])
    {
        return bad("must be a URL with a host and no userinfo, query or fragment");
    }
    if url.host().is_none() {
        return bad("has no host");
    }
    let loopback = crate::redirect_uri::is_loopback(url.host());
    match url.scheme() {
        "https" => Ok(issuer.to_owned()),
        "http" if loopback => Ok(issuer.to_owned()),
        "http" => bad("is plain http to another host than this machine; use https"),
        _ => bad("is not an http(s) URL"),
    }
}

fn parse_scopes_json(value: &str) -> Result<BTreeMap<String, String>, String> {
    let map: BTreeMap<String, String> = serde_json::from_str(value).map_err(|e| {
        format!(
            r#"must be a JSON object of scope names to descriptions, like {{"read": "Reading scope"}} ({e})"#
        )
    })?;
    if let Some(bad) = map.keys().find(|k| !crate::scope::is_valid_scope_token(k)) {
        return Err(format!("{bad:?} is not a valid scope name"));
    }
    if map.is_empty() {
        return Err("names no scope".to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ServiceConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_django_oauth_toolkit() {
        let c = config(&[("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com/")]).unwrap();
        assert_eq!(c.issuer, "https://auth.example.com");
        assert_eq!(c.access_token_expire_seconds, 3600);
        assert_eq!(
            c.known_scopes().collect::<Vec<_>>(),
            ["introspection", "read", "write"]
        );
        assert_eq!(crate::scope::format_scope(&c.default_scopes), "read write");
    }

    #[test]
    fn each_bad_variable_is_named() {
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://a.example")];
        assert_eq!(
            config(&[("ISSUER", "https://a")]).unwrap_err().variable,
            "TABLE_NAME"
        );
        assert_eq!(
            config(&[("TABLE_NAME", "t"), ("ISSUER", "ftp://x")])
                .unwrap_err()
                .variable,
            "ISSUER"
        );
        for (var, value) in [
            ("ACCESS_TOKEN_EXPIRE_SECONDS", "0"),
            ("ACCESS_TOKEN_EXPIRE_SECONDS", "1h"),
            ("SCOPES", "read write"),
            ("SCOPES", r#"{"bad scope": "x"}"#),
            ("DEFAULT_SCOPES", "admin"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, var, "{value}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn custom_scopes_keep_introspection_known() {
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("ISSUER", "https://a.example"),
            ("SCOPES", r#"{"items:read": "Read items"}"#),
        ])
        .unwrap();
        assert!(c.is_known_scope("introspection"));
        assert_eq!(crate::scope::format_scope(&c.default_scopes), "items:read");
    }

    /// Codes and tokens never cross a network in clear: plain http only to
    /// this machine (browsers also keep `__Host-` cookies for
    /// `http://localhost`).
    #[test]
    fn the_issuer_is_https_or_loopback_http() {
        let issuer = |value: &str| config(&[("TABLE_NAME", "t"), ("ISSUER", value)]).map(|c| c.issuer);
        for ok in [
            "https://auth.example.com",
            "https://auth.example.com/tenant/",
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8080",
        ] {
            assert!(issuer(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.com",
            "http://127.0.0.1.example.com",
            "https://user:pw@auth.example.com",
            "https://auth.example.com?x=1",
            "https://auth.example.com/#f",
            "https://",
            "auth.example.com",
        ] {
            assert_eq!(issuer(bad).unwrap_err().variable, "ISSUER", "{bad}");
        }
    }

    #[test]
    fn registration_is_off_open_or_by_token_and_never_hands_out_reserved_scopes() {
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            config(&vars)
        };
        assert_eq!(with(&[]).unwrap().client_registration, ClientRegistration::Off);
        let open = with(&[("CLIENT_REGISTRATION", "open")]).unwrap();
        assert_eq!(open.client_registration, ClientRegistration::Open);
        assert!(!open.is_known_scope(REGISTRATION_SCOPE));
        let closed = with(&[("CLIENT_REGISTRATION", "token")]).unwrap();
        assert_eq!(closed.client_registration, ClientRegistration::InitialAccessToken);
        assert!(closed.is_known_scope(REGISTRATION_SCOPE));
        for c in [&open, &closed] {
            assert!(!c.registration_scopes.iter().any(|s| is_reserved(s)));
            assert!(!c.default_scopes.iter().any(|s| is_reserved(s)));
        }
        assert_eq!(
            with(&[("CLIENT_REGISTRATION", "yes")]).unwrap_err().variable,
            "CLIENT_REGISTRATION"
        );
        let reserved = with(&[
            ("CLIENT_REGISTRATION", "open"),
            ("REGISTRATION_SCOPES", "read introspection"),
        ]);
        assert_eq!(reserved.unwrap_err().variable, "REGISTRATION_SCOPES");
    }

    #[test]
    fn metadata_documents_are_off_on_or_on_with_loopback_for_tests() {
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            config(&vars)
        };
        let documents = |extra| with(extra).map(|c| c.client_metadata_documents);
        assert_eq!(documents(&[]), Ok(ClientMetadataDocuments::Off));
        assert_eq!(
            documents(&[("CLIENT_METADATA_DOCUMENTS", "on")]),
            Ok(ClientMetadataDocuments::On)
        );
        assert_eq!(
            documents(&[
                ("CLIENT_METADATA_DOCUMENTS", "on"),
                ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true")
            ]),
            Ok(ClientMetadataDocuments::OnIncludingLoopback)
        );
        for (extra, variable) in [
            (
                &[("CLIENT_METADATA_DOCUMENTS", "yes")][..],
                "CLIENT_METADATA_DOCUMENTS",
            ),
            (
                &[("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "true")][..],
                "CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK",
            ),
            (
                &[
                    ("CLIENT_METADATA_DOCUMENTS", "on"),
                    ("CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK", "1"),
                ][..],
                "CLIENT_METADATA_DOCUMENTS_ALLOW_LOOPBACK",
            ),
        ] {
            assert_eq!(documents(extra).unwrap_err().variable, variable, "{extra:?}");
        }
    }

    #[test]
    fn document_hosts_are_named_as_django_names_allowed_hosts() {
        let hosts = HostPatterns::parse("claude.ai, .example.com vscode.dev").unwrap();
        for host in [
            "claude.ai",
            "example.com",
            "app.example.com",
            "a.b.example.com",
            "vscode.dev",
        ] {
            assert!(hosts.matches(host), "{host}");
        }
        for host in [
            "evil.claude.ai",
            "claude.ai.evil",
            "notexample.com",
            "example.com.evil",
            "127.0.0.1",
            "",
        ] {
            assert!(!hosts.matches(host), "{host}");
        }
        for bad in [
            "",
            " , ",
            "https://claude.ai",
            "claude.ai/x",
            "..example.com",
            "a..b",
        ] {
            assert!(HostPatterns::parse(bad).is_err(), "{bad:?}");
        }
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com")];
        let with = |v: &'static str| {
            let mut vars = base.to_vec();
            vars.push(("CLIENT_METADATA_DOCUMENT_HOSTS", v));
            config(&vars)
        };
        assert!(with("claude.ai")
            .unwrap()
            .client_metadata_document_hosts
            .is_some());
        assert_eq!(
            with("https://x").unwrap_err().variable,
            "CLIENT_METADATA_DOCUMENT_HOSTS"
        );
        assert_eq!(config(&base).unwrap().client_metadata_document_hosts, None);
        let mut denied = base.to_vec();
        denied.push(("CLIENT_METADATA_DOCUMENT_DENIED_HOSTS", ".evil.example"));
        assert!(config(&denied)
            .unwrap()
            .client_metadata_document_denied_hosts
            .is_some_and(|hosts| hosts.matches("cdn.evil.example") && !hosts.matches("example")));
        denied[2].1 = "not a host!";
        assert_eq!(
            config(&denied).unwrap_err().variable,
            "CLIENT_METADATA_DOCUMENT_DENIED_HOSTS"
        );
    }

    #[test]
    fn resources_accept_only_known_scopes() {
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com")];
        let with = |resources: &str| {
            let mut vars = base.to_vec();
            vars.push(("RESOURCES", resources));
            config(&vars)
        };
        let c = with(r#"{"https://mcp.example.com/mcp": "read"}"#).unwrap();
        assert_eq!(c.resources.iter().count(), 1);
        let e = with(r#"{"https://mcp.example.com/mcp": "tools"}"#).unwrap_err();
        assert_eq!(e.variable, "RESOURCES");
        assert!(e.problem.contains("\"tools\""), "{}", e.problem);
        assert_eq!(with("not json").unwrap_err().variable, "RESOURCES");
        assert!(config(&base).unwrap().resources.iter().next().is_none());
    }

    /// The endpoints hang off the issuer unless `BASE_URL` says where (a DOT
    /// issuer `https://host/o` serves `https://host/o/token/`), under the
    /// issuer's own rules.
    #[test]
    fn the_endpoints_hang_off_base_url_or_the_issuer() {
        let base = [("TABLE_NAME", "t"), ("ISSUER", "https://auth.example.com/o")];
        let c = config(&base).unwrap();
        assert_eq!(c.endpoint("/o/token/"), "https://auth.example.com/o/o/token/");
        let c = config(&[base[0], base[1], ("BASE_URL", "https://auth.example.com/")]).unwrap();
        assert_eq!(c.issuer, "https://auth.example.com/o");
        assert_eq!(c.endpoint("/o/token/"), "https://auth.example.com/o/token/");
        for bad in [
            "http://auth.example.com",
            "https://auth.example.com?x",
            "relative/path",
        ] {
            let refused = config(&[base[0], base[1], ("BASE_URL", bad)]).unwrap_err();
            assert_eq!(refused.variable, "BASE_URL", "{bad}");
        }
    }
}
