//! Server settings. Each comes from, in order of precedence: a command-line flag, an environment variable
//! (`UMA_CEDAR_*`), the TOML file given with `--config`, and the built-in default. With nothing set the server
//! runs on the embedded default: 127.0.0.1:8080, issuer `http://127.0.0.1:8080`, data in `./uma-cedar-data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ops::logging::LogFormat;
use crate::protocol::alg::Alg;
use crate::secret::{InitialAccessToken, MetricsToken};
use crate::throttle::{Limit, Limits};

mod webhooks;
pub use webhooks::{Webhook, WebhookEntry, check_webhooks};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "uma-cedar-data";

/// Everything the server needs to run, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The issuer identifier, without a trailing slash; endpoints are built by appending their paths.
    pub issuer: String,
    /// Algorithm for newly generated signing keys.
    pub signing_alg: Alg,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub id_token_ttl: i64,
    pub code_ttl: i64,
    pub ticket_ttl: i64,
    pub session_ttl: i64,
    /// Lifetime of an RPT: short, since a resource server that verifies RPTs locally sees a narrowed
    /// policy only when the RPTs it holds expire.
    pub rpt_ttl: i64,
    /// Lifetime of a persisted claims token.
    pub pct_ttl: i64,
    /// How long a request held for the owner's decision (`@ask`) waits before it expires.
    pub request_ttl: i64,
    /// The `interval` (seconds) a client polling a held request must wait between polls (UMA Grant §3.3.6).
    pub poll_interval: i64,
    /// Enables dynamic client registration (RFC 7591) for callers presenting this bearer token. Its `Debug`
    /// is redacted, so printing the settings never shows it.
    pub initial_access_token: Option<InitialAccessToken>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A Cedar schema extending the base vocabulary with further claims (None: the base schema built in).
    pub schema: Option<PathBuf>,
    /// Issuers whose ID tokens are accepted as claim tokens, besides this server, as the config file lists
    /// them. Plain data: [`crate::claims::issuers`] checks and interprets them when the server starts.
    pub trusted_issuers: Vec<TrustedIssuerEntry>,
    /// Start even when the data directory (which holds the private signing keys) is readable or writable by
    /// group or others, with a warning, instead of refusing.
    pub allow_open_data_dir: bool,
    /// Failed logins allowed per (username, address) within `login_failure_window` ([`crate::throttle`]).
    pub login_max_failures: u32,
    pub login_failure_window: i64,
    /// Failed client authentications allowed per (client id, address) within `client_auth_failure_window`.
    pub client_auth_max_failures: u32,
    pub client_auth_failure_window: i64,
    /// How many password hashes may run at once.
    pub max_concurrent_password_hashes: usize,
    /// Where owners' notifications are delivered ([`crate::notify`]), checked.
    pub webhooks: Vec<Webhook>,
    /// Decisions older than this many days are deleted from the decision log.
    pub decision_log_retention_days: i64,
    /// The decision log keeps at most this many decisions (the newest).
    pub decision_log_max_rows: u64,
    /// How log lines are written: text, or one JSON object per line.
    pub log_format: LogFormat,
    /// When set, `GET /metrics` answers only a caller presenting this bearer token.
    pub metrics_token: Option<MetricsToken>,
}

/// One `[[trusted_issuers]]` table as written in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerEntry {
    /// The issuer identifier, exactly as its tokens carry it in `iss`.
    pub issuer: String,
    /// Where its JWK Set is: an `https://` or `http://` URL, a `file://` URL or a local path.
    pub jwks_uri: String,
    /// With `client_secret`: this server is registered at the issuer as an OpenID Connect client under this id,
    /// and the claims interaction's login page offers "Sign in with" it ([`crate::claims::upstream`]).
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<crate::secret::ClientSecret>,
    /// The scopes asked of the issuer at sign-in; "openid email profile" when not set.
    #[serde(default)]
    pub scopes: Option<String>,
}

impl TrustedIssuerEntry {
    /// True when requesting parties may sign in with this issuer (it has both a client id and a secret).
    pub fn offers_sign_in(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some()
    }
}

impl Settings {
    /// The longest lifetime of anything signed with a key: how long a retired key stays in the JWKS.
    pub fn max_signed_token_ttl(&self) -> i64 {
        self.id_token_ttl
            .max(self.access_token_ttl)
            .max(self.rpt_ttl)
    }

    /// The absolute URL of an endpoint path such as `/token`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Settings for tests and tools: defaults with the given data directory.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        defaults(data_dir)
    }

    /// The throttling limits these settings ask for.
    pub fn throttle_limits(&self) -> Limits {
        Limits {
            login: Limit {
                max_failures: self.login_max_failures,
                window: self.login_failure_window,
            },
            client_auth: Limit {
                max_failures: self.client_auth_max_failures,
                window: self.client_auth_failure_window,
            },
        }
    }
}

/// Most failures a throttling setting may allow, and the longest window: beyond these it throttles nothing.
const MAX_FAILURES_LIMIT: u32 = 1000;
const MAX_FAILURE_WINDOW: i64 = 24 * 3600;
const MAX_PASSWORD_HASHES: usize = 256;

/// The default bound on concurrent password hashes: the number of CPUs, at most 8 (each argon2 hash holds
/// about 19 MiB while it runs).
fn default_password_hashes() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(2)
        .min(8)
}

/// The built-in default of every setting.
fn defaults(data_dir: &Path) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        issuer: format!("http://{DEFAULT_LISTEN}"),
        signing_alg: Alg::ES256,
        access_token_ttl: 3600,
        refresh_token_ttl: 30 * 24 * 3600,
        id_token_ttl: 3600,
        code_ttl: 60,
        ticket_ttl: 300,
        session_ttl: 8 * 3600,
        rpt_ttl: 300,
        pct_ttl: 30 * 24 * 3600,
        request_ttl: 7 * 24 * 3600,
        poll_interval: 5,
        initial_access_token: None,
        max_body_bytes: 64 * 1024,
        schema: None,
        trusted_issuers: Vec::new(),
        allow_open_data_dir: false,
        login_max_failures: 10,
        login_failure_window: 900,
        client_auth_max_failures: 10,
        client_auth_failure_window: 900,
        max_concurrent_password_hashes: default_password_hashes(),
        webhooks: Vec::new(),
        decision_log_retention_days: 90,
        decision_log_max_rows: 10_000_000,
        log_format: LogFormat::Text,
        metrics_token: None,
    }
}

/// The optional TOML file. Unknown keys are refused so a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub signing_alg: Option<String>,
    pub access_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub code_ttl: Option<i64>,
    pub ticket_ttl: Option<i64>,
    pub session_ttl: Option<i64>,
    pub rpt_ttl: Option<i64>,
    pub pct_ttl: Option<i64>,
    pub request_ttl: Option<i64>,
    pub poll_interval: Option<i64>,
    pub initial_access_token: Option<InitialAccessToken>,
    pub max_body_bytes: Option<usize>,
    pub schema: Option<PathBuf>,
    pub allow_open_data_dir: Option<bool>,
    /// `[[trusted_issuers]]` tables: `issuer` and `jwks_uri` each.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerEntry>,
    pub login_max_failures: Option<u32>,
    pub login_failure_window: Option<i64>,
    pub client_auth_max_failures: Option<u32>,
    pub client_auth_failure_window: Option<i64>,
    pub max_concurrent_password_hashes: Option<usize>,
    /// `[[webhooks]]` tables: `url`, `secret` and optionally `events` each.
    #[serde(default)]
    pub webhooks: Vec<WebhookEntry>,
    pub decision_log_retention_days: Option<i64>,
    pub decision_log_max_rows: Option<u64>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    pub metrics_token: Option<MetricsToken>,
}

impl FileSettings {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// What flags and environment variables said (everything optional).
#[derive(Debug, Default, Clone)]
pub struct SettingsInput {
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub signing_alg: Option<String>,
    pub access_token_ttl: Option<i64>,
    pub ticket_ttl: Option<i64>,
    pub initial_access_token: Option<InitialAccessToken>,
    pub schema: Option<PathBuf>,
    pub allow_open_data_dir: Option<bool>,
    pub login_max_failures: Option<u32>,
    pub login_failure_window: Option<i64>,
    pub client_auth_max_failures: Option<u32>,
    pub client_auth_failure_window: Option<i64>,
    pub max_concurrent_password_hashes: Option<usize>,
    pub log_format: Option<String>,
    pub metrics_token: Option<MetricsToken>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("config file `{path}` is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("invalid setting `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// What the person running the server can do about it.
    pub fn help(&self) -> String {
        match self {
            Self::Read { .. } => {
                "check the path given with --config (or UMA_CEDAR_CONFIG)".to_owned()
            }
            Self::Parse { .. } => {
                "the file must be TOML with the keys listed under Configuration in the README"
                    .to_owned()
            }
            Self::Invalid {
                name: "webhooks", ..
            } => "fix the `[[webhooks]]` tables of the config file (docs/webhooks.md)".to_owned(),
            Self::Invalid { name, .. } => {
                let flag = name.replace('_', "-");
                let env = name.to_ascii_uppercase();
                format!(
                    "fix `{name}`: it comes from --{flag}, UMA_CEDAR_{env}, or the `{name}` key of the config file"
                )
            }
        }
    }
}

/// Parses a number given as a flag or an environment variable. `source` names where the text came from
/// (`--ticket-ttl` or `the environment variable UMA_CEDAR_TICKET_TTL`), so the error points at what to fix.
pub fn parse_number<T: std::str::FromStr>(
    name: &'static str,
    source: &str,
    text: &str,
) -> Result<T, ConfigError> {
    text.trim().parse().map_err(|_| {
        invalid(
            name,
            format!(
                "{source} is {}, not a whole number",
                crate::error::quoted(text)
            ),
        )
    })
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

fn positive(name: &'static str, value: i64) -> Result<i64, ConfigError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(invalid(
            name,
            format!("must be a positive number of seconds, got {value}"),
        ))
    }
}

/// The longest decision log retention accepted: a hundred years.
const MAX_RETENTION_DAYS: i64 = 36_500;

fn decision_log_retention_days(value: i64) -> Result<i64, ConfigError> {
    if (1..=MAX_RETENTION_DAYS).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            "decision_log_retention_days",
            format!("must be a number of days between 1 and {MAX_RETENTION_DAYS}, got {value}"),
        ))
    }
}

fn decision_log_max_rows(value: u64) -> Result<u64, ConfigError> {
    if value >= 1 && i64::try_from(value).is_ok() {
        Ok(value)
    } else {
        Err(invalid(
            "decision_log_max_rows",
            format!("must be between 1 and {}, got {value}", i64::MAX),
        ))
    }
}

fn failures(name: &'static str, value: u32) -> Result<u32, ConfigError> {
    if (1..=MAX_FAILURES_LIMIT).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            name,
            format!("must be between 1 and {MAX_FAILURES_LIMIT}, got {value}"),
        ))
    }
}

fn failure_window(name: &'static str, value: i64) -> Result<i64, ConfigError> {
    if (1..=MAX_FAILURE_WINDOW).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            name,
            format!("must be between 1 and {MAX_FAILURE_WINDOW} seconds, got {value}"),
        ))
    }
}

/// Checks an issuer identifier (RFC 8414 §2): an http(s) URL with no query or fragment.
pub fn parse_issuer(text: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(text)
        .map_err(|e| invalid("issuer", format!("`{text}` is not a URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(
            "issuer",
            format!("`{text}` must use https (or http for local use)"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "issuer",
            format!("`{text}` must not have a query or fragment"),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

impl SettingsInput {
    /// Merges flags/environment over the file over the defaults, and validates the result.
    pub fn resolve(
        self,
        file: FileSettings,
        data_dir: Option<PathBuf>,
    ) -> Result<Settings, ConfigError> {
        let defaults = defaults(Path::new(DEFAULT_DATA_DIR));
        let data_dir = data_dir.or(file.data_dir).unwrap_or(defaults.data_dir);

        let listen_text = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{listen_text}` is not an address such as 127.0.0.1:8080"),
            )
        })?;

        let issuer = match self.issuer.or(file.issuer) {
            Some(text) => parse_issuer(&text)?,
            None => format!("http://{listen}"),
        };

        let signing_alg = match self.signing_alg.or(file.signing_alg) {
            Some(text) => text
                .parse()
                .map_err(|e: String| invalid("signing_alg", e))?,
            None => defaults.signing_alg,
        };

        let max_body_bytes = file.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        if max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        let initial_access_token = self.initial_access_token.or(file.initial_access_token);
        if initial_access_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "initial_access_token",
                "must be at least 16 characters so it cannot be guessed",
            ));
        }

        let trusted_issuers = file.trusted_issuers;
        let webhooks = check_webhooks(file.webhooks)?;

        let max_concurrent_password_hashes = self
            .max_concurrent_password_hashes
            .or(file.max_concurrent_password_hashes)
            .unwrap_or(defaults.max_concurrent_password_hashes);
        if !(1..=MAX_PASSWORD_HASHES).contains(&max_concurrent_password_hashes) {
            return Err(invalid(
                "max_concurrent_password_hashes",
                format!(
                    "must be between 1 and {MAX_PASSWORD_HASHES}, got {max_concurrent_password_hashes}"
                ),
            ));
        }

        let log_format = match self.log_format.or(file.log_format) {
            Some(text) => text.parse().map_err(|e: String| invalid("log_format", e))?,
            None => defaults.log_format,
        };
        let metrics_token = self.metrics_token.or(file.metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "metrics_token",
                "must be at least 16 characters so it cannot be guessed",
            ));
        }

        Ok(Settings {
            data_dir,
            listen,
            issuer,
            signing_alg,
            access_token_ttl: positive(
                "access_token_ttl",
                self.access_token_ttl
                    .or(file.access_token_ttl)
                    .unwrap_or(defaults.access_token_ttl),
            )?,
            refresh_token_ttl: positive(
                "refresh_token_ttl",
                file.refresh_token_ttl.unwrap_or(defaults.refresh_token_ttl),
            )?,
            id_token_ttl: positive(
                "id_token_ttl",
                file.id_token_ttl.unwrap_or(defaults.id_token_ttl),
            )?,
            code_ttl: positive("code_ttl", file.code_ttl.unwrap_or(defaults.code_ttl))?,
            ticket_ttl: positive(
                "ticket_ttl",
                self.ticket_ttl
                    .or(file.ticket_ttl)
                    .unwrap_or(defaults.ticket_ttl),
            )?,
            rpt_ttl: positive("rpt_ttl", file.rpt_ttl.unwrap_or(defaults.rpt_ttl))?,
            pct_ttl: positive("pct_ttl", file.pct_ttl.unwrap_or(defaults.pct_ttl))?,
            request_ttl: positive(
                "request_ttl",
                file.request_ttl.unwrap_or(defaults.request_ttl),
            )?,
            poll_interval: positive(
                "poll_interval",
                file.poll_interval.unwrap_or(defaults.poll_interval),
            )?,
            session_ttl: positive(
                "session_ttl",
                file.session_ttl.unwrap_or(defaults.session_ttl),
            )?,
            initial_access_token,
            max_body_bytes,
            schema: self.schema.or(file.schema),
            trusted_issuers,
            allow_open_data_dir: self
                .allow_open_data_dir
                .or(file.allow_open_data_dir)
                .unwrap_or(defaults.allow_open_data_dir),
            login_max_failures: failures(
                "login_max_failures",
                self.login_max_failures
                    .or(file.login_max_failures)
                    .unwrap_or(defaults.login_max_failures),
            )?,
            login_failure_window: failure_window(
                "login_failure_window",
                self.login_failure_window
                    .or(file.login_failure_window)
                    .unwrap_or(defaults.login_failure_window),
            )?,
            client_auth_max_failures: failures(
                "client_auth_max_failures",
                self.client_auth_max_failures
                    .or(file.client_auth_max_failures)
                    .unwrap_or(defaults.client_auth_max_failures),
            )?,
            client_auth_failure_window: failure_window(
                "client_auth_failure_window",
                self.client_auth_failure_window
                    .or(file.client_auth_failure_window)
                    .unwrap_or(defaults.client_auth_failure_window),
            )?,
            max_concurrent_password_hashes,
            webhooks,
            decision_log_retention_days: decision_log_retention_days(
                file.decision_log_retention_days
                    .unwrap_or(defaults.decision_log_retention_days),
            )?,
            decision_log_max_rows: decision_log_max_rows(
                file.decision_log_max_rows
                    .unwrap_or(defaults.decision_log_max_rows),
            )?,
            log_format,
            metrics_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_default() {
        let s = SettingsInput::default()
            .resolve(FileSettings::default(), None)
            .expect("defaults");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(s.signing_alg, Alg::ES256);
        assert!(s.initial_access_token.is_none());
    }

    #[test]
    fn decision_log_retention_comes_from_the_file_within_bounds() {
        let s = SettingsInput::default()
            .resolve(FileSettings::default(), None)
            .expect("defaults");
        assert_eq!(
            (s.decision_log_retention_days, s.decision_log_max_rows),
            (90, 10_000_000)
        );
        let file: FileSettings =
            toml::from_str("decision_log_retention_days = 30\ndecision_log_max_rows = 5000")
                .expect("toml");
        let s = SettingsInput::default()
            .resolve(file, None)
            .expect("resolve");
        assert_eq!(
            (s.decision_log_retention_days, s.decision_log_max_rows),
            (30, 5000)
        );
        for bad in [
            "decision_log_retention_days = 0",
            "decision_log_retention_days = 36501",
            "decision_log_max_rows = 0",
        ] {
            let file: FileSettings = toml::from_str(bad).expect("toml");
            let err = SettingsInput::default().resolve(file, None).expect_err(bad);
            assert!(err.to_string().contains("decision_log_"), "{err}");
        }
    }

    #[test]
    fn log_format_and_metrics_token_are_checked() {
        let file: FileSettings =
            toml::from_str("log_format = \"json\"\nmetrics_token = \"sixteen-chars-ok\"")
                .expect("toml");
        let s = SettingsInput::default()
            .resolve(file, None)
            .expect("resolve");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(
            s.metrics_token.as_ref().map(MetricsToken::secret),
            Some("sixteen-chars-ok")
        );
        let flag = SettingsInput {
            log_format: Some("text".into()),
            ..Default::default()
        };
        let file: FileSettings = toml::from_str("log_format = \"json\"").expect("toml");
        assert_eq!(
            flag.resolve(file, None).expect("resolve").log_format,
            LogFormat::Text
        );
        for (toml_text, name) in [
            ("log_format = \"xml\"", "log_format"),
            ("metrics_token = \"short\"", "metrics_token"),
        ] {
            let file: FileSettings = toml::from_str(toml_text).expect("toml");
            match SettingsInput::default().resolve(file, None) {
                Err(ConfigError::Invalid { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{toml_text}: {other:?}"),
            }
        }
    }

    #[test]
    fn flags_beat_file_and_issuer_follows_listen() {
        let file: FileSettings =
            toml::from_str("listen = \"127.0.0.1:9000\"\nticket_ttl = 60\nsigning_alg = \"RS256\"")
                .expect("toml");
        let input = SettingsInput {
            ticket_ttl: Some(30),
            ..Default::default()
        };
        let s = input.resolve(file, None).expect("resolve");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.issuer, "http://127.0.0.1:9000");
        assert_eq!(s.ticket_ttl, 30);
        assert_eq!(s.signing_alg, Alg::RS256);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let bad = |input: SettingsInput| {
            input
                .resolve(FileSettings::default(), None)
                .expect_err("bad")
        };
        let err = bad(SettingsInput {
            listen: Some("nowhere".into()),
            ..Default::default()
        });
        assert!(err.to_string().contains("`listen`"), "{err}");
        let err = bad(SettingsInput {
            issuer: Some("ftp://x".into()),
            ..Default::default()
        });
        assert!(err.to_string().contains("`issuer`"), "{err}");
        let err = bad(SettingsInput {
            ticket_ttl: Some(0),
            ..Default::default()
        });
        assert!(err.to_string().contains("`ticket_ttl`"), "{err}");
        let err = bad(SettingsInput {
            initial_access_token: Some("short".into()),
            ..Default::default()
        });
        assert!(err.to_string().contains("initial_access_token"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_initial_access_token() {
        const TOKEN: &str = "iat-value-that-must-stay-secret";
        let file: FileSettings =
            toml::from_str(&format!("initial_access_token = \"{TOKEN}\"")).expect("toml");
        assert!(!format!("{file:?}").contains(TOKEN));
        let input = SettingsInput {
            initial_access_token: Some(TOKEN.into()),
            ..Default::default()
        };
        assert!(!format!("{input:?}").contains(TOKEN));
        let settings = input.resolve(file, None).expect("settings");
        assert_eq!(
            settings
                .initial_access_token
                .as_ref()
                .map(InitialAccessToken::secret),
            Some(TOKEN)
        );
        let printed = format!("{settings:?} {settings:#?}");
        assert!(!printed.contains(TOKEN), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn schema_comes_from_the_flag_or_the_file() {
        let file: FileSettings =
            toml::from_str("schema = \"/etc/uma/claims.cedarschema\"").expect("toml");
        let s = SettingsInput::default()
            .resolve(file, None)
            .expect("resolve");
        assert_eq!(s.schema, Some(PathBuf::from("/etc/uma/claims.cedarschema")));
        let file: FileSettings = toml::from_str("schema = \"a\"").expect("toml");
        let input = SettingsInput {
            schema: Some(PathBuf::from("b")),
            ..Default::default()
        };
        assert_eq!(
            input.resolve(file, None).expect("resolve").schema,
            Some(PathBuf::from("b"))
        );
    }

    #[test]
    fn throttling_settings_have_defaults_and_refuse_zero_or_absurd_values() {
        let s = SettingsInput::default()
            .resolve(FileSettings::default(), None)
            .expect("defaults");
        assert_eq!((s.login_max_failures, s.login_failure_window), (10, 900));
        assert_eq!(
            (s.client_auth_max_failures, s.client_auth_failure_window),
            (10, 900)
        );
        assert!((1..=8).contains(&s.max_concurrent_password_hashes));

        let file: FileSettings = toml::from_str(
            "login_max_failures = 3\nlogin_failure_window = 60\nclient_auth_max_failures = 4\n\
             client_auth_failure_window = 30\nmax_concurrent_password_hashes = 2",
        )
        .expect("toml");
        let input = SettingsInput {
            login_max_failures: Some(5),
            ..Default::default()
        };
        let s = input.resolve(file, None).expect("resolve");
        assert_eq!((s.login_max_failures, s.login_failure_window), (5, 60));
        assert_eq!(
            (s.client_auth_max_failures, s.client_auth_failure_window),
            (4, 30)
        );
        assert_eq!(s.max_concurrent_password_hashes, 2);

        for (toml_text, name) in [
            ("login_max_failures = 0", "login_max_failures"),
            (
                "client_auth_max_failures = 100000",
                "client_auth_max_failures",
            ),
            ("login_failure_window = 0", "login_failure_window"),
            (
                "client_auth_failure_window = -5",
                "client_auth_failure_window",
            ),
            (
                "client_auth_failure_window = 9999999",
                "client_auth_failure_window",
            ),
            (
                "max_concurrent_password_hashes = 0",
                "max_concurrent_password_hashes",
            ),
            (
                "max_concurrent_password_hashes = 100000",
                "max_concurrent_password_hashes",
            ),
        ] {
            let file: FileSettings = toml::from_str(toml_text).expect("toml");
            let err = SettingsInput::default()
                .resolve(file, None)
                .expect_err(toml_text);
            assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileSettings>("lisen = \"x\"").is_err());
    }

    #[test]
    fn issuer_trailing_slash_is_dropped() {
        assert_eq!(
            parse_issuer("https://as.example/").expect("ok"),
            "https://as.example"
        );
        assert!(parse_issuer("https://as.example/?q=1").is_err());
    }
}
