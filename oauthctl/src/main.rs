//! `oauthctl`: administers the token service's DynamoDB table.
//!
//! Works against AWS with the usual credential chain, and against DynamoDB
//! Local through the SDK's own `AWS_ENDPOINT_URL_DYNAMODB`.

mod import_dot;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use shared::config::parse_lifetime;
use shared::dynamo::DynamoClient;
use shared::issue::{issue_access_token, TokenRequest};
use shared::model::User;
use shared::password::make_password;
use shared::scope::{format_scope, parse_scope, ScopeSet};
use shared::secret::{generate_id, generate_secret, sha256_hex};
use shared::store::{ClientChange, UserChange};
use shared::{Client, DynamoStore, GrantType, SharedClock, Store, StoreError, SystemClock};

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
    },
    /// Users (resource owners). Passwords are read from a prompt, or from
    /// standard input when it is not a terminal: never from an argument.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create(UserPassword),
    /// Replace a user's password; every grant made before ends.
    SetPassword(UserPassword),
    /// Show a user (without the password hash).
    Show { username: String },
    /// Disable a user: they cannot sign in and their grants end, for good.
    Disable { username: String },
    /// Enable a disabled user again (their old grants stay ended).
    Enable { username: String },
    /// End every grant made to a user so far (every app signs them in again).
    RevokeGrants { username: String },
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
    /// Disable a client: it can no longer authenticate and its tokens become inactive.
    Disable { client_id: String },
    /// Enable a disabled client again.
    Enable { client_id: String },
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
    let store_error = |e: StoreError| e.to_string();

    match cli.command {
        Command::Table(TableCommand::Create) => {
            DynamoStore::create_table(&dynamo, &table)
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists => format!("table {table:?} already exists"),
                    e => e.to_string(),
                })?;
            Ok(Some(json!({ "table": table, "created": true })))
        }
        Command::Client(ClientCommand::Create(args)) => {
            let scopes = scope_arg("--scope", &args.scope)?;
            if scopes.is_empty() {
                return Err("--scope: name at least one scope".into());
            }
            let default_scopes = match &args.default_scope {
                Some(v) => scope_arg("--default-scope", v)?,
                None => ScopeSet::new(),
            };
            if let Some(extra) = default_scopes.difference(&scopes).next() {
                return Err(format!("--default-scope: {extra:?} is not in --scope"));
            }
            let secret = generate_secret().map_err(|e| e.to_string())?;
            let client = Client {
                client_id: generate_id().map_err(|e| e.to_string())?,
                name: args.name,
                secret_hash: sha256_hex(&secret),
                grant_types: args.grants.into_iter().collect::<BTreeSet<_>>(),
                scopes,
                default_scopes,
                token_lifetime: args.token_lifetime,
                disabled: false,
                created_at: clock.now(),
            };
            store.create_client(&client).await.map_err(store_error)?;
            Ok(Some(with_secret(&client, &secret)))
        }
        Command::Client(ClientCommand::List) => {
            let clients = store.list_clients().await.map_err(store_error)?;
            Ok(Some(Value::Array(
                clients.iter().map(Client::to_public_json).collect(),
            )))
        }
        Command::Client(ClientCommand::Show { client_id }) => {
            Ok(Some(existing(&store, &client_id).await?.to_public_json()))
        }
        Command::Client(ClientCommand::Disable { client_id }) => Ok(Some(
            update(&store, &client_id, ClientChange::Disabled(true))
                .await?
                .to_public_json(),
        )),
        Command::Client(ClientCommand::Enable { client_id }) => Ok(Some(
            update(&store, &client_id, ClientChange::Disabled(false))
                .await?
                .to_public_json(),
        )),
        Command::Client(ClientCommand::Delete { client_id }) => {
            if !store.delete_client(&client_id).await.map_err(store_error)? {
                return Err(format!("no client {client_id:?}"));
            }
            Ok(Some(json!({ "client_id": client_id, "deleted": true })))
        }
        Command::Client(ClientCommand::RotateSecret { client_id }) => {
            let secret = generate_secret().map_err(|e| e.to_string())?;
            let client = update(&store, &client_id, ClientChange::SecretHash(sha256_hex(&secret))).await?;
            Ok(Some(with_secret(&client, &secret)))
        }
        Command::User(UserCommand::Create(args)) => {
            let password = read_password()?;
            let hash = make_password(&password, args.iterations).map_err(|e| e.to_string())?;
            let user = User::new(&args.username, hash, clock.now()).map_err(|e| e.to_string())?;
            store.create_user(&user).await.map_err(|e| match e {
                StoreError::AlreadyExists => format!("user {:?} already exists", user.username),
                e => e.to_string(),
            })?;
            Ok(Some(user.to_public_json()))
        }
        Command::User(UserCommand::SetPassword(args)) => {
            if store
                .get_user(&args.username)
                .await
                .map_err(store_error)?
                .is_none()
            {
                return Err(format!("no user {:?}", args.username));
            }
            let password = read_password()?;
            let hash = make_password(&password, args.iterations).map_err(|e| e.to_string())?;
            Ok(Some(
                update_user(&store, &args.username, UserChange::PasswordHash(hash))
                    .await?
                    .to_public_json(),
            ))
        }
        Command::User(UserCommand::Show { username }) => {
            let user = store.get_user(&username).await.map_err(store_error)?;
            Ok(Some(
                user.ok_or_else(|| format!("no user {username:?}"))?
                    .to_public_json(),
            ))
        }
        Command::User(UserCommand::Disable { username }) => Ok(Some(
            update_user(&store, &username, UserChange::Disabled(true))
                .await?
                .to_public_json(),
        )),
        Command::User(UserCommand::Enable { username }) => Ok(Some(
            update_user(&store, &username, UserChange::Disabled(false))
                .await?
                .to_public_json(),
        )),
        Command::User(UserCommand::RevokeGrants { username }) => Ok(Some(
            update_user(&store, &username, UserChange::RevokeGrants)
                .await?
                .to_public_json(),
        )),
        Command::User(UserCommand::Delete { username }) => {
            if !store.delete_user(&username).await.map_err(store_error)? {
                return Err(format!("no user {username:?}"));
            }
            Ok(Some(json!({ "username": username, "deleted": true })))
        }
        Command::ImportDot {
            file,
            scope,
            refresh_token_lifetime,
        } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let dump: Value =
                serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let scopes = scope_arg("--scope", &scope)?;
            import_dot::import(&store, &dump, &scopes, refresh_token_lifetime, clock.now())
                .await
                .map(Some)
        }
        Command::Token(TokenCommand::Mint {
            client,
            scope,
            expires_in,
        }) => {
            let client = existing(&store, &client).await?;
            if client.disabled {
                return Err(format!("client {:?} is disabled", client.client_id));
            }
            let scope = scope_arg("--scope", &scope)?;
            if scope.is_empty() {
                return Err("--scope: name at least one scope".into());
            }
            if let Some(denied) = scope.difference(&client.scopes).next() {
                return Err(format!("--scope: {denied:?} is not allowed for this client"));
            }
            let issued = issue_access_token(
                &store,
                TokenRequest {
                    client_id: &client.client_id,
                    scope,
                    lifetime: expires_in,
                    username: None,
                    now: clock.now(),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(Some(json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in(issued.record.issued_at),
                "scope": format_scope(&issued.record.scope),
                "client_id": client.client_id,
            })))
        }
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

async fn update_user(store: &DynamoStore, username: &str, change: UserChange) -> Result<User, String> {
    store
        .update_user(username, change)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {username:?}"))
}

fn with_secret(client: &Client, secret: &str) -> Value {
    let mut value = client.to_public_json();
    value["client_secret"] = Value::String(secret.to_owned());
    value
}

async fn existing(store: &DynamoStore, client_id: &str) -> Result<Client, String> {
    store
        .get_client(client_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {client_id:?}"))
}

async fn update(store: &DynamoStore, client_id: &str, change: ClientChange) -> Result<Client, String> {
    store
        .update_client(client_id, change)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {client_id:?}"))
}
