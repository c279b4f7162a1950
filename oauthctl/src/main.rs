//! `oauthctl`: administers the token service's DynamoDB table.
//!
//! Works against AWS with the usual credential chain, and against DynamoDB
//! Local through the SDK's own `AWS_ENDPOINT_URL_DYNAMODB`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use shared::admin::{self, AdminError, NewClient};
use shared::config::parse_lifetime;
use shared::dynamo::DynamoClient;
use shared::keys::{KmsClient, Sealer};
use shared::model::UserProfile;
use shared::scope::{format_scope, parse_scope, ScopeSet};
use shared::store::Store;
use shared::store::{ClientChange, UserChange};
use shared::{Client, DynamoStore, GrantType, SharedClock, StoreError, SystemClock};

#[derive(Parser)]
#[command(
    name = "oauthctl",
    version,
    about = "Administer the OAuth token service's DynamoDB table"
)]
struct Cli {
    /// DynamoDB table name.
    #[arg(long, global = true, env = "TABLE_NAME")]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The table itself.
    #[command(subcommand)]
    Table(TableCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import users, applications and live tokens from django-oauth-toolkit
    /// (the JSON of `manage.py dumpdata oauth2_provider auth.user`).
    ImportDot {
        /// The dumpdata JSON file.
        file: std::path::PathBuf,
        /// Scopes every imported application may have, besides those its tokens carry.
        #[arg(long, default_value = "read write")]
        scope: String,
        /// Lifetime given to imported refresh tokens, seconds (DOT's do not expire by themselves).
        #[arg(long, default_value_t = shared::config::DEFAULT_REFRESH_TOKEN_EXPIRE_SECONDS, value_parser = parse_lifetime)]
        refresh_token_lifetime: u64,
        /// How long an imported self-registered client (DOT's DCR and CIMD
        /// applications) lives unused, seconds (the service's REGISTERED_CLIENT_EXPIRE_SECONDS).
        #[arg(long, env = "REGISTERED_CLIENT_EXPIRE_SECONDS", default_value_t = shared::config::DEFAULT_REGISTERED_CLIENT_EXPIRE_SECONDS, value_parser = parse_lifetime)]
        registered_client_lifetime: u64,
        /// DOT's DCR_REGISTRATION_SCOPE: its registration access tokens stay
        /// their clients' registration tokens here.
        #[arg(long, default_value = admin::import_dot::DOT_REGISTRATION_SCOPE)]
        dcr_registration_scope: String,
    },
    /// Users (resource owners). Passwords are read from a prompt, or from
    /// standard input when it is not a terminal: never from an argument.
    #[command(subcommand)]
    User(UserCommand),
    /// The keys that sign ID tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the published keys: which signs, which will, which no longer does.
    List,
    /// Add a key that signs after --publish-ahead; the keys it supersedes
    /// stay published --keep-published after that. Sealed by KMS under
    /// SIGNING_KEY_KMS_KEY_ID, or under SIGNING_KEY_SECRET (standalone).
    Rotate {
        /// Seconds the new key is published before it signs (API Gateway
        /// caches a JWKS for up to two hours).
        #[arg(long, default_value_t = admin::keys::DEFAULT_PUBLISH_AHEAD_SECONDS)]
        publish_ahead: u64,
        /// Seconds a superseded key stays published once it stops signing:
        /// the longest lifetime of what it signs (the service's ID_TOKEN_EXPIRE_SECONDS).
        #[arg(long, env = "ID_TOKEN_EXPIRE_SECONDS", default_value_t = 36_000, value_parser = parse_lifetime)]
        keep_published: u64,
    },
    /// Import django-oauth-toolkit's OpenID Connect keys (PEM files): its
    /// signing key (OIDC_RSA_PRIVATE_KEY) signs here from now, its inactive
    /// ones (OIDC_RSA_PRIVATE_KEYS_INACTIVE) are published --keep-published
    /// and never sign, so every ID token DOT issued verifies here. Sealed
    /// as `keys rotate` seals.
    ImportDot {
        /// DOT's OIDC_RSA_PRIVATE_KEY, a PEM file.
        #[arg(long)]
        key: std::path::PathBuf,
        /// One of DOT's OIDC_RSA_PRIVATE_KEYS_INACTIVE, a PEM file (repeatable).
        #[arg(long = "inactive-key")]
        inactive_keys: Vec<std::path::PathBuf>,
        /// Seconds the keys it supersedes, and the inactive ones, stay
        /// published: the longest lifetime of what they signed.
        #[arg(long, env = "ID_TOKEN_EXPIRE_SECONDS", default_value_t = 36_000, value_parser = parse_lifetime)]
        keep_published: u64,
    },
    /// Unpublish a key at once (a compromised key): whatever it signed stops
    /// verifying. If it was signing, its successor published ahead signs at
    /// once (or, without one, a key the service makes).
    Retire {
        /// The key's `kid` (base64url: it may begin with a hyphen).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create(UserPassword),
    /// Replace a user's password; every grant made before ends.
    SetPassword(UserPassword),
    /// Show a user (without the password hash).
    Show { username: String },
    /// Set a user's name and e-mail address (what OpenID Connect's profile and email scopes release).
    Set(UserProfileArgs),
    /// Disable a user: they cannot sign in and their grants end, for good.
    Disable { username: String },
    /// Enable a disabled user again (their old grants stay ended).
    Enable { username: String },
    /// End every grant made to a user so far (every app signs them in again).
    RevokeGrants { username: String },
    /// Let a username locked out by failed sign-ins (SIGN_IN_LOCKOUT_ATTEMPTS) sign in again at once.
    Unlock { username: String },
    /// Delete a user: their grants end, whatever is later created under that name.
    Delete { username: String },
}

#[derive(Args)]
struct UserPassword {
    /// The username.
    username: String,
    /// PBKDF2 iterations for the new hash (Django's pbkdf2_sha256 format).
    #[arg(long, env = "PASSWORD_HASH_ITERATIONS", default_value_t = shared::password::DEFAULT_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
}

#[derive(Args)]
struct UserProfileArgs {
    /// The username.
    username: String,
    /// Django's first_name (given_name).
    #[arg(long, default_value = "")]
    first_name: String,
    /// Django's last_name (family_name).
    #[arg(long, default_value = "")]
    last_name: String,
    /// Django's email.
    #[arg(long, default_value = "")]
    email: String,
    /// The e-mail address is known to be the user's (email_verified).
    #[arg(long)]
    email_verified: bool,
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the table as template.yaml defines it (for local use).
    Create,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client; prints its secret, the only time it is shown.
    Create(CreateClient),
    /// List all clients (without secrets).
    List,
    /// Show one client.
    Show { client_id: String },
    /// Disable a client: it can no longer authenticate and its tokens become
    /// inactive. A client known by its metadata document stays disabled
    /// until enabled (its URL is not fetched meanwhile); such a URL may be
    /// disabled before any client has used it.
    Disable { client_id: String },
    /// Enable a disabled client again. A client known by its metadata
    /// document is fetched afresh at its next use.
    Enable {
        client_id: String,
        /// How long a client known by its metadata document then lives
        /// unused, seconds (the service's REGISTERED_CLIENT_EXPIRE_SECONDS).
        #[arg(long, env = "REGISTERED_CLIENT_EXPIRE_SECONDS", default_value_t = shared::config::DEFAULT_REGISTERED_CLIENT_EXPIRE_SECONDS, value_parser = parse_lifetime)]
        registered_client_lifetime: u64,
    },
    /// Delete a client: its tokens become inactive.
    Delete { client_id: String },
    /// Replace a client's secret; prints the new one, the only time it is shown.
    RotateSecret { client_id: String },
}

#[derive(Args)]
struct CreateClient {
    /// Human-readable name.
    #[arg(long)]
    name: String,
    /// Grant type the client may use (repeatable).
    #[arg(long = "grant", required = true, value_parser = parse_grant)]
    grants: Vec<GrantType>,
    /// Space-separated scopes the client may be granted.
    #[arg(long)]
    scope: String,
    /// Space-separated scopes granted when a request names none (default: the service's DEFAULT_SCOPES).
    #[arg(long)]
    default_scope: Option<String>,
    /// Access-token lifetime for this client, seconds (default: the service's ACCESS_TOKEN_EXPIRE_SECONDS).
    #[arg(long, value_parser = parse_lifetime)]
    token_lifetime: Option<u64>,
    /// Where authorization responses may be sent, matched exactly (repeatable;
    /// the authorization_code grant needs one): https, http to a loopback
    /// address, or a private-use scheme such as com.example.app:/callback.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; the authorization_code grant with PKCE only).
    #[arg(long)]
    public: bool,
    /// Do not ask users to consent for this client (DOT's skip_authorization).
    #[arg(long)]
    skip_consent: bool,
    /// An origin whose pages may read the token, revocation and UserInfo
    /// answers, such as a single-page app's https://app.example.com
    /// (repeatable; DOT's allowed_origins).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Where OpenID Connect RP-initiated logout may send the browser back,
    /// matched exactly (repeatable; DOT's post_logout_redirect_uris).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// opaque (random, introspected) or jwt (RFC 9068, signed, verifiable at
    /// the edge; short-lived by default: JWT_ACCESS_TOKEN_EXPIRE_SECONDS).
    #[arg(long, default_value = "opaque", value_parser = parse_format)]
    access_token_format: shared::model::AccessTokenFormat,
    /// A resource (RFC 8707) the client may ask tokens for, one of the
    /// service's RESOURCES (repeatable; none: any of them).
    #[arg(long = "resource")]
    resources: Vec<String>,
}

fn parse_format(value: &str) -> Result<shared::model::AccessTokenFormat, String> {
    shared::model::AccessTokenFormat::parse(value).ok_or_else(|| "opaque or jwt".to_owned())
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint an access token for a client, such as a resource server's
    /// long-lived introspection token (RESOURCE_SERVER_AUTH_TOKEN).
    Mint {
        /// The client the token is issued to.
        #[arg(long)]
        client: String,
        /// Space-separated scopes, all allowed for the client.
        #[arg(long)]
        scope: String,
        /// Lifetime, seconds.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: u64,
    },
}

fn parse_grant(value: &str) -> Result<GrantType, String> {
    // The device grant's type is a URN; its last word names it too.
    if value == "device_code" {
        return Ok(GrantType::DeviceCode);
    }
    GrantType::parse(value).ok_or_else(|| {
        let known: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        format!("unknown grant type; known: {}", known.join(", "))
    })
}

fn scope_arg(flag: &str, value: &str) -> Result<ScopeSet, String> {
    parse_scope(value).map_err(|bad| format!("{flag}: {bad:?} is not a valid scope name"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // What the library logs (a KMS refusal's cause, say) goes to stderr, warnings and up.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(output) => {
            if let Some(output) = output {
                println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("oauthctl: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<Option<Value>, String> {
    let table = cli.table.ok_or("no table: pass --table or set TABLE_NAME")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = DynamoClient::new(&aws);
    let clock: SharedClock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamo.clone(), table.clone(), clock.clone());

    let value = match cli.command {
        Command::Table(TableCommand::Create) => {
            DynamoStore::create_table(&dynamo, &table)
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists => format!("table {table:?} already exists"),
                    e => e.to_string(),
                })?;
            json!({ "table": table, "created": true })
        }
        Command::Client(ClientCommand::Create(args)) => {
            let new = NewClient {
                name: args.name,
                grants: args.grants.into_iter().collect(),
                scopes: scope_arg("--scope", &args.scope)?,
                default_scopes: match &args.default_scope {
                    Some(v) => scope_arg("--default-scope", v)?,
                    None => ScopeSet::new(),
                },
                token_lifetime: args.token_lifetime,
                redirect_uris: args.redirect_uris,
                public: args.public,
                skip_consent: args.skip_consent,
                allowed_origins: args.allowed_origins,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                access_token_format: args.access_token_format,
                resources: args.resources,
            };
            let (client, secret) = admin::create_client(&store, new, clock.now())
                .await
                .map_err(flagged)?;
            match secret {
                Some(secret) => with_secret(&client, &secret),
                None => client.to_public_json(),
            }
        }
        Command::Client(ClientCommand::List) => Value::Array(
            admin::clients(&store)
                .await
                .map_err(flagged)?
                .iter()
                .map(Client::to_public_json)
                .collect(),
        ),
        Command::Client(ClientCommand::Show { client_id }) => admin::client(&store, &client_id)
            .await
            .map_err(flagged)?
            .to_public_json(),
        Command::Client(ClientCommand::Disable { client_id }) => {
            admin::disable_client(&store, &client_id, clock.now())
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::Client(ClientCommand::Enable {
            client_id,
            registered_client_lifetime,
        }) => {
            let document_expires_at = clock.now() + registered_client_lifetime;
            admin::change_client(&store, &client_id, ClientChange::Enable { document_expires_at })
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::Client(ClientCommand::Delete { client_id }) => {
            admin::delete_client(&store, &client_id).await.map_err(flagged)?;
            json!({ "client_id": client_id, "deleted": true })
        }
        Command::Client(ClientCommand::RotateSecret { client_id }) => {
            let (client, secret) = admin::rotate_secret(&store, &client_id).await.map_err(flagged)?;
            with_secret(&client, &secret)
        }
        Command::User(UserCommand::Create(args)) => {
            let password = read_password()?;
            admin::create_user(&store, &args.username, &password, args.iterations, clock.now())
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::User(UserCommand::SetPassword(args)) => {
            // Asked only for a user who exists.
            admin::user(&store, &args.username).await.map_err(flagged)?;
            let password = read_password()?;
            admin::set_password(&store, &args.username, &password, args.iterations)
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::User(UserCommand::Show { username }) => admin::user(&store, &username)
            .await
            .map_err(flagged)?
            .to_public_json(),
        Command::User(UserCommand::Set(args)) => {
            let profile = UserProfile {
                first_name: args.first_name,
                last_name: args.last_name,
                email: args.email,
                email_verified: args.email_verified,
            };
            admin::set_profile(&store, &args.username, profile)
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::Keys(KeysCommand::List) => {
            let keys = store.get_signing_keys().await.map_err(|e| e.to_string())?;
            Value::Array(admin::keys::describe(&keys, clock.now()))
        }
        Command::Keys(KeysCommand::Rotate {
            publish_ahead,
            keep_published,
        }) => {
            let sealing = shared::ServiceConfig::key_sealing_from_env().map_err(|e| e.to_string())?;
            let sealer = Sealer::for_config(&sealing, || KmsClient::new(&aws));
            let schedule = admin::keys::RotationSchedule {
                publish_ahead,
                keep_published,
            };
            let kid = admin::keys::rotate(&store, &sealer, schedule, clock.now())
                .await
                .map_err(flagged)?;
            let keys = store.get_signing_keys().await.map_err(|e| e.to_string())?;
            json!({ "rotated": kid, "keys": admin::keys::describe(&keys, clock.now()) })
        }
        Command::Keys(KeysCommand::ImportDot {
            key,
            inactive_keys,
            keep_published,
        }) => {
            let read = |path: &std::path::PathBuf| {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            };
            let signing = read(&key)?;
            let inactive = inactive_keys.iter().map(read).collect::<Result<Vec<_>, _>>()?;
            let sealing = shared::ServiceConfig::key_sealing_from_env().map_err(|e| e.to_string())?;
            let sealer = Sealer::for_config(&sealing, || KmsClient::new(&aws));
            let kids =
                admin::keys::import_dot(&store, &sealer, &signing, &inactive, keep_published, clock.now())
                    .await
                    .map_err(flagged)?;
            let keys = store.get_signing_keys().await.map_err(|e| e.to_string())?;
            json!({ "imported": kids, "keys": admin::keys::describe(&keys, clock.now()) })
        }
        Command::Keys(KeysCommand::Retire { kid }) => {
            admin::keys::retire(&store, &kid, clock.now())
                .await
                .map_err(flagged)?;
            json!({ "kid": kid, "retired": true })
        }
        Command::User(UserCommand::Disable { username }) => {
            admin::change_user(&store, &username, UserChange::Disabled(true))
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::User(UserCommand::Enable { username }) => {
            admin::change_user(&store, &username, UserChange::Disabled(false))
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::User(UserCommand::RevokeGrants { username }) => {
            admin::change_user(&store, &username, UserChange::RevokeGrants)
                .await
                .map_err(flagged)?
                .to_public_json()
        }
        Command::User(UserCommand::Unlock { username }) => {
            admin::unlock_user(&store, &username).await.map_err(flagged)?;
            json!({ "username": username, "unlocked": true })
        }
        Command::User(UserCommand::Delete { username }) => {
            admin::delete_user(&store, &username).await.map_err(flagged)?;
            json!({ "username": username, "deleted": true })
        }
        Command::ImportDot {
            file,
            scope,
            refresh_token_lifetime,
            registered_client_lifetime,
            dcr_registration_scope,
        } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let dump: Value =
                serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let options = admin::import_dot::ImportOptions {
                extra_scopes: scope_arg("--scope", &scope)?,
                refresh_lifetime: refresh_token_lifetime,
                registered_client_lifetime,
                registration_scope: dcr_registration_scope,
            };
            admin::import_dot::import(&store, &dump, &options, clock.now()).await?
        }
        Command::Token(TokenCommand::Mint {
            client,
            scope,
            expires_in,
        }) => {
            let scope = scope_arg("--scope", &scope)?;
            let issued = admin::mint_token(&store, &client, scope, expires_in, clock.now())
                .await
                .map_err(flagged)?;
            json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in(issued.record.issued_at),
                "scope": format_scope(&issued.record.scope),
                "client_id": issued.record.client_id,
            })
        }
    };
    Ok(Some(value))
}

/// An administrative error as this command line says it: a bad argument is
/// named by its flag (`default_scope` → `--default-scope`).
fn flagged(e: AdminError) -> String {
    match e {
        AdminError::Invalid { field, problem } => format!("--{}: {problem}", field.replace('_', "-")),
        e => e.to_string(),
    }
}

/// The new password: from a prompt (twice) on a terminal, else one line of stdin.
fn read_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

fn with_secret(client: &Client, secret: &str) -> Value {
    let mut value = client.to_public_json();
    value["client_secret"] = Value::String(secret.to_owned());
    value
}
