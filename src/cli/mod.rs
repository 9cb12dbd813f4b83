//! The `uma-cedar` command line: `serve`, and admin commands that work directly on the data directory
//! (safe while the server runs on it: SQLite WAL with a busy timeout, and the server reads clients, users
//! and keys from the database, so changes take effect at once).
//!
//! Errors are printed as `error: ...` with a `help:` line a person can act on; the exit code is 1 for a
//! failed command and 2 for a usage error (`diff` and `prove` add their own: 2 not decided, 3 a change).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::clock::{Clock, SystemClock};
use crate::config::{self, FileSettings, Settings, SettingsInput};
use crate::crypto::{keys::Alg, password};
use crate::keyring;
use crate::oauth::registration::NewClient;
use crate::oauth::{AuthMethod, ClientSecret, GrantType};
use crate::owner::decisions::{self, Limit};
use crate::secret::InitialAccessToken;
use crate::store::{self, Store, clients, users};

mod impact;
mod policies;
mod requests;

#[derive(Debug, Parser)]
#[command(
    name = "uma-cedar",
    version,
    about = "A UMA 2.0 authorization server with Cedar sharing policies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the authorization server (with no options: 127.0.0.1:8080, data in ./uma-cedar-data)
    Serve(Box<ServeArgs>),
    /// Manage OAuth clients (resource servers and requesting parties' clients)
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage local user accounts (resource owners and requesting parties)
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check Cedar policy files against the schema (offline: no server, no database)
    Validate(policies::ValidateArgs),
    /// Dry-run a decision with policy files: the answer, the policies that decided it, the claims it needs
    Authorize(policies::AuthorizeArgs),
    /// Manage an owner's stored sharing policies
    #[command(subcommand)]
    Policy(policies::PolicyCommand),
    /// Review the UMA grant's decisions about an owner's resources
    #[command(subcommand)]
    Decisions(DecisionsCommand),
    /// Decide the requests an owner's `@ask` policies held (list, approve, deny)
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// Show, per scope, what NEW newly allows or denies compared with OLD (exit 0 none, 3 a change, 2 not decided)
    Diff(impact::DiffArgs),
    /// Prove that the policies allow no request a `--never` query matches (exit 0 proved, 1 not, 2 not decided)
    Prove(impact::ProveArgs),
}

#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// List an owner's most recent decisions, newest first
    List {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: policies::OwnerArg,
        /// How many to show (1 to 1000)
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding the database and signing keys (created on first start)
    #[arg(long, env = "UMA_CEDAR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, env = "UMA_CEDAR_LISTEN")]
    pub listen: Option<String>,
    /// Issuer identifier (default: `http://` followed by the listen address)
    #[arg(long, env = "UMA_CEDAR_ISSUER")]
    pub issuer: Option<String>,
    /// TOML configuration file
    #[arg(long, env = "UMA_CEDAR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Algorithm for newly generated signing keys (ES256 or RS256)
    #[arg(long, env = "UMA_CEDAR_SIGNING_ALG")]
    pub signing_alg: Option<String>,
    // Numbers are taken as text and parsed in `settings`, not by clap, so that a bad value (from the
    // environment especially) is a setting error, exit 1 naming the variable, rather than a usage error.
    /// Lifetime of access tokens in seconds
    #[arg(long, env = "UMA_CEDAR_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<String>,
    /// Lifetime of permission tickets in seconds
    #[arg(long, env = "UMA_CEDAR_TICKET_TTL")]
    pub ticket_ttl: Option<String>,
    /// Bearer token that enables dynamic client registration (RFC 7591)
    #[arg(long, env = "UMA_CEDAR_INITIAL_ACCESS_TOKEN", hide_env_values = true)]
    pub initial_access_token: Option<String>,
    /// Cedar schema extending the built-in vocabulary with further claims
    #[arg(long, env = "UMA_CEDAR_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Start (with a warning) even when the data directory is readable or writable by group or others
    #[arg(
        long,
        env = "UMA_CEDAR_ALLOW_OPEN_DATA_DIR",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub allow_open_data_dir: bool,
    /// Failed logins per username and address before further attempts get 429
    #[arg(long, env = "UMA_CEDAR_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<String>,
    /// Seconds counted from a username and address's first failed login
    #[arg(long, env = "UMA_CEDAR_LOGIN_FAILURE_WINDOW")]
    pub login_failure_window: Option<String>,
    /// Failed client authentications per client id and address before further attempts get 429
    #[arg(long, env = "UMA_CEDAR_CLIENT_AUTH_MAX_FAILURES")]
    pub client_auth_max_failures: Option<String>,
    /// Seconds counted from a client id and address's first failed authentication
    #[arg(long, env = "UMA_CEDAR_CLIENT_AUTH_FAILURE_WINDOW")]
    pub client_auth_failure_window: Option<String>,
    /// How many password hashes may run at once
    #[arg(long, env = "UMA_CEDAR_MAX_CONCURRENT_PASSWORD_HASHES")]
    pub max_concurrent_password_hashes: Option<String>,
    /// How log lines are written: `text`, or `json` (one JSON object per line)
    #[arg(long, env = "UMA_CEDAR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Bearer token that `GET /metrics` requires (unset: the metrics are public)
    #[arg(long, env = "UMA_CEDAR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// Parses the number a flag or its environment variable gave for the setting `name` (flag `--name-with-dashes`,
/// variable `UMA_CEDAR_NAME`), naming whichever gave `text` when it is not a number.
fn number<T: std::str::FromStr>(
    name: &'static str,
    text: Option<String>,
) -> Result<Option<T>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    let env = format!("UMA_CEDAR_{}", name.to_ascii_uppercase());
    let source = if std::env::var(&env).is_ok_and(|v| v == text) {
        format!("the environment variable {env}")
    } else {
        format!("--{}", name.replace('_', "-"))
    };
    Ok(Some(config::parse_number(name, &source, &text)?))
}

impl ServeArgs {
    pub fn settings(self) -> Result<Settings, Failure> {
        let file = match &self.config {
            Some(path) => FileSettings::load(path)?,
            None => FileSettings::default(),
        };
        let input = SettingsInput {
            listen: self.listen,
            issuer: self.issuer,
            signing_alg: self.signing_alg,
            access_token_ttl: number("access_token_ttl", self.access_token_ttl)?,
            ticket_ttl: number("ticket_ttl", self.ticket_ttl)?,
            initial_access_token: self.initial_access_token.map(InitialAccessToken::new),
            schema: self.schema,
            allow_open_data_dir: self.allow_open_data_dir.then_some(true),
            login_max_failures: number("login_max_failures", self.login_max_failures)?,
            login_failure_window: number("login_failure_window", self.login_failure_window)?,
            client_auth_max_failures: number(
                "client_auth_max_failures",
                self.client_auth_max_failures,
            )?,
            client_auth_failure_window: number(
                "client_auth_failure_window",
                self.client_auth_failure_window,
            )?,
            max_concurrent_password_hashes: number(
                "max_concurrent_password_hashes",
                self.max_concurrent_password_hashes,
            )?,
            log_format: self.log_format,
            metrics_token: self.metrics_token.map(crate::secret::MetricsToken::new),
        };
        let settings = input.resolve(file, self.data_dir)?;
        // Checked again when the server starts; here so a bad entry is refused before the data directory
        // is touched.
        crate::claims::issuers::parse_trusted_issuers(&settings.trusted_issuers, &settings.issuer)?;
        Ok(settings)
    }
}

#[derive(Debug, Args)]
pub struct DataDir {
    /// Directory holding the database (the one `serve` uses)
    #[arg(long, env = "UMA_CEDAR_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client
    Add {
        #[command(flatten)]
        dir: DataDir,
        /// The client id
        #[arg(long)]
        id: String,
        /// The client secret (at least 16 characters); prefer --secret-stdin to keep it out of shell history
        #[arg(long, conflicts_with_all = ["secret_stdin", "public"])]
        secret: Option<String>,
        /// Read the client secret from the first line of standard input
        #[arg(long, conflicts_with = "public")]
        secret_stdin: bool,
        /// A public client without a secret (PKCE required)
        #[arg(long)]
        public: bool,
        /// Redirect URI for the authorization code flow (repeatable)
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Claims redirect URI for the claims interaction endpoint (repeatable)
        #[arg(long = "claims-redirect-uri")]
        claims_redirect_uris: Vec<String>,
        /// Human-readable name shown on the consent page
        #[arg(long)]
        name: Option<String>,
        /// Restrict the client to these grant types (repeatable; default: any its type allows)
        #[arg(long = "grant-type")]
        grant_types: Vec<GrantType>,
        /// How the client authenticates at the token, introspection and revocation endpoints, and the only
        /// way it may (default: client_secret_basic with a secret, none for --public)
        #[arg(long)]
        token_endpoint_auth_method: Option<AuthMethod>,
    },
    /// List clients
    List {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove a client with its tokens and the resources it registered
    Remove {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a local account; the password is read from standard input
    Add {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input (required)
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List local accounts
    List {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove an account with its sessions, tokens and the resources it owns
    Remove {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; older public keys stay in the JWKS until tokens they signed have expired
    Rotate {
        #[command(flatten)]
        dir: DataDir,
        /// Algorithm of the new key
        #[arg(long, default_value = "ES256")]
        alg: String,
        /// The server's TOML configuration file, to read token lifetimes from
        #[arg(long, env = "UMA_CEDAR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List signing keys
    List {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// A failed command: what went wrong and, where we know, what to do about it.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub help: Option<String>,
    /// The process's exit code (1 unless a command documents another).
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
            code: 1,
        }
    }

    /// Not an error but an answer told by the exit code (the output has said it already): nothing printed.
    pub fn exit(code: u8) -> Self {
        Self {
            message: String::new(),
            help: None,
            code,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

macro_rules! failure_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Failure {
            fn from(err: $ty) -> Self {
                Self::new(err.to_string())
            }
        }
    )*};
}
impl From<config::ConfigError> for Failure {
    fn from(err: config::ConfigError) -> Self {
        let help = err.help();
        Self::new(err.to_string()).help(help)
    }
}

failure_from!(
    crate::store::StoreError,
    crate::keyring::KeyError,
    crate::crypto::CryptoError,
    crate::oauth::registration::ClientError
);

/// How the `serve` command runs the server: handed down by the binary's entry point
/// ([`crate::server::main`]), which sits above this module, so the admin commands never depend on the server.
pub type Serve = fn(Settings) -> Result<(), Failure>;

/// Parses the command line and runs the command, with `serve` running the server; the process's exit code.
pub fn main(serve: Serve) -> ExitCode {
    let cli = Cli::parse();
    crate::ops::logging::init();
    match run(cli.command, serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            if let Some(help) = failure.help {
                eprintln!("  help: {help}");
            }
            ExitCode::from(failure.code)
        }
    }
}

pub fn run(command: Command, serve: Serve) -> Result<(), Failure> {
    match command {
        Command::Serve(args) => {
            store::restrict_new_files();
            serve(args.settings()?)
        }
        Command::Client(cmd) => client(cmd),
        Command::User(cmd) => user(cmd),
        Command::Keys(cmd) => keys(cmd),
        Command::Validate(args) => policies::validate(args),
        Command::Authorize(args) => policies::authorize(args),
        Command::Policy(cmd) => policies::policy(cmd),
        Command::Decisions(cmd) => decisions(cmd),
        Command::Requests(cmd) => requests::run(cmd),
        Command::Diff(args) => impact::diff(args),
        Command::Prove(args) => impact::prove(args),
    }
}

fn open_store(dir: &Path) -> Result<Store, Failure> {
    store::restrict_new_files();
    Store::open(dir).map_err(|e| {
        Failure::from(e)
            .help("pass the data directory the server uses with --data-dir (or UMA_CEDAR_DATA_DIR)")
    })
}

fn read_secret_line(what: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("{what}: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read the {what} from standard input: {e}")))?;
    let value = line.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(
            Failure::new(format!("no {what} on standard input")).help(format!(
                "pipe it in, for example: printf '%s\\n' \"$SECRET\" | uma-cedar ... --{}-stdin",
                what.replace(' ', "-")
            )),
        );
    }
    Ok(value)
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints `list` as one JSON array, or as one tab-separated line a row followed (on standard error, so
/// the lines stay machine-readable) by the count of `noun`.
fn print_list<T>(
    format: Format,
    list: &[T],
    json: impl Fn(&T) -> serde_json::Value,
    line: impl Fn(&T) -> String,
    noun: Option<&str>,
) {
    match format {
        Format::Json => print_json(&serde_json::Value::Array(list.iter().map(json).collect())),
        Format::Text => {
            for row in list {
                println!("{}", line(row));
            }
            if let Some(noun) = noun {
                eprintln!("{} {noun}", list.len());
            }
        }
    }
}

/// The answer of `client remove` and `user remove`: what was removed, or that there is no such `kind`
/// (the `list` subcommand shows `listed`).
fn removed(found: bool, kind: &str, name: &str, listed: &str) -> Result<(), Failure> {
    if found {
        println!("removed {kind} `{name}`");
        Ok(())
    } else {
        Err(Failure::new(format!("there is no {kind} `{name}`"))
            .help(format!("`uma-cedar {kind} list` shows {listed}")))
    }
}

fn client(cmd: ClientCommand) -> Result<(), Failure> {
    let now = SystemClock.now();
    match cmd {
        ClientCommand::Add {
            dir,
            id,
            secret,
            secret_stdin,
            public,
            redirect_uris,
            claims_redirect_uris,
            name,
            grant_types,
            token_endpoint_auth_method,
        } => {
            let secret = match (secret, secret_stdin, public) {
                (Some(s), _, _) => Some(s),
                (None, true, _) => Some(read_secret_line("secret")?),
                (None, false, true) => None,
                (None, false, false) => {
                    return Err(Failure::new("the client needs a secret, or --public")
                        .help("give --secret SECRET, --secret-stdin, or --public for a client without a secret"));
                }
            };
            let record = NewClient {
                client_id: id.clone(),
                secret: secret.map(ClientSecret::new),
                auth_method: token_endpoint_auth_method,
                client_name: name,
                redirect_uris,
                claims_redirect_uris,
                grant_types,
                ..Default::default()
            }
            .build(now)?;
            let store = open_store(&dir.data_dir)?;
            store
                .write(|tx| clients::insert(tx, &record))
                .map_err(|e| {
                    Failure::from(e)
                        .help("choose another --id; usernames and client ids share one namespace")
                })?;
            println!(
                "added {} client `{id}`",
                if record.is_public() {
                    "public"
                } else {
                    "confidential"
                }
            );
            Ok(())
        }
        ClientCommand::List { dir, format } => {
            let list = open_store(&dir.data_dir)?.read(clients::list)?;
            print_list(
                format,
                &list,
                |c| {
                    json!({
                        "client_id": c.client_id,
                        "client_name": c.client_name,
                        "token_endpoint_auth_method": c.auth_method,
                        "redirect_uris": c.redirect_uris,
                        "claims_redirect_uris": c.claims_redirect_uris,
                        "grant_types": c.grant_types,
                        "created_at": c.created_at,
                    })
                },
                |c| {
                    format!(
                        "{}\t{}\t{}",
                        c.client_id,
                        c.auth_method,
                        c.redirect_uris.join(" ")
                    )
                },
                Some("client(s)"),
            );
            Ok(())
        }
        ClientCommand::Remove { dir, id } => {
            let found = open_store(&dir.data_dir)?.write(|tx| clients::remove(tx, &id))?;
            removed(found, "client", &id, "the registered clients")
        }
    }
}

fn user(cmd: UserCommand) -> Result<(), Failure> {
    match cmd {
        UserCommand::Add {
            dir,
            username,
            password_stdin: _,
            email,
            name,
        } => {
            crate::oauth::registration::check_client_id(&username)
                .map_err(|_| Failure::new(format!("username `{username}` must be 1 to 128 printable ASCII characters without spaces or `:`")))?;
            let password = read_secret_line("password")?;
            if password.chars().count() < 8 {
                return Err(Failure::new("the password is shorter than 8 characters"));
            }
            let store = open_store(&dir.data_dir)?;
            let record = users::User {
                username: username.clone(),
                password_hash: password::hash_password(&password)?,
                email,
                name,
                created_at: SystemClock.now(),
            };
            store.write(|tx| users::insert(tx, &record)).map_err(|e| {
                Failure::from(e)
                    .help("choose another --username; usernames and client ids share one namespace")
            })?;
            println!("added user `{username}`");
            Ok(())
        }
        UserCommand::List { dir, format } => {
            let list = open_store(&dir.data_dir)?.read(users::list)?;
            print_list(
                format,
                &list,
                |u| json!({"username": u.username, "email": u.email, "name": u.name, "created_at": u.created_at}),
                |u| {
                    format!(
                        "{}\t{}\t{}",
                        u.username,
                        u.email.as_deref().unwrap_or("-"),
                        u.name.as_deref().unwrap_or("-")
                    )
                },
                Some("user(s)"),
            );
            Ok(())
        }
        UserCommand::Remove { dir, username } => {
            let found = open_store(&dir.data_dir)?.write(|tx| users::remove(tx, &username))?;
            removed(found, "user", &username, "the accounts")
        }
    }
}

fn keys(cmd: KeysCommand) -> Result<(), Failure> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cmd {
        KeysCommand::Rotate { dir, alg, config } => {
            let alg: Alg = alg.parse().map_err(Failure::new)?;
            let file = match &config {
                Some(path) => FileSettings::load(path)?,
                None => FileSettings::default(),
            };
            let settings = SettingsInput::default().resolve(file, Some(dir.data_dir.clone()))?;
            let store = open_store(&dir.data_dir)?;
            let kid = keyring::rotate(&store, alg, clock.now(), settings.max_signed_token_ttl())?;
            println!(
                "new {alg} signing key `{kid}`; previous keys stay in the JWKS for {} seconds",
                settings.max_signed_token_ttl()
            );
            Ok(())
        }
        KeysCommand::List { dir, format } => {
            let list = open_store(&dir.data_dir)?.read(store::keys::all)?;
            let now = clock.now();
            let state = |k: &store::keys::StoredKey| match (k.retired_at, k.publish_until) {
                (None, _) => "signing",
                (Some(_), Some(until)) if until > now => "published",
                _ => "expired",
            };
            print_list(
                format,
                &list,
                |k| json!({"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "state": state(k)}),
                |k| format!("{}\t{}\t{}", k.kid, k.alg, state(k)),
                None,
            );
            Ok(())
        }
    }
}

fn decisions(cmd: DecisionsCommand) -> Result<(), Failure> {
    let DecisionsCommand::List {
        dir,
        owner,
        limit,
        format,
    } = cmd;
    let store = open_store(&dir.data_dir)?;
    policies::check_owner(&store, &owner.owner)?;
    let limit = Limit::new(usize::from(limit)).unwrap_or_default();
    let log = store.read(|c| decisions::recent(c, &owner.owner, limit))?;
    match format {
        Format::Json => print_json(&serde_json::to_value(&log).unwrap_or_default()),
        Format::Text => {
            for d in &log {
                let who = match (d.party_parts(), d.party.as_deref()) {
                    (Some((iss, sub)), _) => format!("{sub} ({iss})"),
                    (None, Some(id)) => id.to_owned(),
                    (None, None) => "(no claims)".to_owned(),
                };
                let list = |items: &[String]| {
                    if items.is_empty() {
                        "-".to_owned()
                    } else {
                        items.join(",")
                    }
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\trequested={}\tgranted={}\tpolicies={}\thttp_request={}\t{}",
                    d.time,
                    d.client_id,
                    who,
                    d.resource_id,
                    d.answer,
                    list(&d.scopes),
                    list(&d.granted),
                    list(&d.policies),
                    d.http_request_id.as_deref().unwrap_or("-"),
                    d.detail.as_deref().unwrap_or(""),
                );
            }
            eprintln!(
                "{} decision(s) about `{}`'s resources",
                log.len(),
                owner.owner
            );
        }
    }
    Ok(())
}
