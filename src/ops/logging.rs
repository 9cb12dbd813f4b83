//! The server's log output: plain text lines (env_logger's usual format), or with `--log-format json` one JSON
//! object per line, and the access log line written for each request with its request id.
//!
//! The format is chosen once the settings are known, after the logger was installed (the command line is
//! parsed before the config file is read), so the formatter reads it from an atomic.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// env_logger's human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `time`, `level`, `target`, `message`, and the request's fields on access lines.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "{} is not a log format: use `text` or `json`",
                crate::error::quoted(other)
            )),
        }
    }
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Chooses the format of every line from now on.
pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

pub fn format() -> LogFormat {
    if JSON.load(Ordering::Relaxed) {
        LogFormat::Json
    } else {
        LogFormat::Text
    }
}

/// The log target of the access log lines.
pub const ACCESS_TARGET: &str = "uma_cedar::access";

/// Installs the process's logger (`RUST_LOG` filters it; `info` when unset).
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            if format() == LogFormat::Json {
                let line = json!({
                    "time": now_rfc3339(),
                    "level": record.level().as_str(),
                    "target": record.target(),
                    "message": record.args().to_string(),
                });
                writeln!(buf, "{line}")
            } else {
                let style = buf.default_level_style(record.level());
                writeln!(
                    buf,
                    "[{} {style}{}{style:#} {}] {}",
                    buf.timestamp(),
                    record.level(),
                    record.target(),
                    record.args()
                )
            }
        })
        .init();
}

/// The time now as RFC 3339 UTC with milliseconds, for log lines.
fn now_rfc3339() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, since.subsec_nanos())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// One answered request, as the access log records it.
#[derive(Debug)]
pub struct Access<'a> {
    pub request_id: &'a str,
    pub peer: Option<String>,
    pub method: &'a str,
    /// The path, without the query (which may carry codes, tickets or tokens).
    pub path: &'a str,
    /// The route pattern that matched, for grouping.
    pub route: &'a str,
    pub status: u16,
    pub duration: std::time::Duration,
}

/// Whether access log lines are written (the access target's `info` level is enabled): when not, a request
/// need not keep what only its line would show.
pub fn access_enabled() -> bool {
    log::log_enabled!(target: ACCESS_TARGET, log::Level::Info)
}

/// Writes the access log line of a request, if [`access_enabled`].
pub fn access(entry: &Access<'_>) {
    if !access_enabled() {
        return;
    }
    let millis = entry.duration.as_secs_f64() * 1000.0;
    match format() {
        LogFormat::Json => {
            let mut line = Map::new();
            line.insert("time".into(), now_rfc3339().into());
            line.insert("level".into(), "INFO".into());
            line.insert("target".into(), ACCESS_TARGET.into());
            line.insert(
                "message".into(),
                format!("{} {} {}", entry.method, entry.path, entry.status).into(),
            );
            line.insert("request_id".into(), entry.request_id.into());
            line.insert(
                "peer".into(),
                entry.peer.clone().map_or(Value::Null, Value::from),
            );
            line.insert("method".into(), entry.method.into());
            line.insert("path".into(), entry.path.into());
            line.insert("route".into(), entry.route.into());
            line.insert("status".into(), entry.status.into());
            line.insert("duration_ms".into(), millis.into());
            // Written whole in one call, so lines from concurrent requests never interleave.
            let text = format!("{}\n", Value::Object(line));
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        LogFormat::Text => log::info!(
            target: ACCESS_TARGET,
            "{} \"{} {}\" {} {millis:.3}ms request_id={}",
            entry.peer.as_deref().unwrap_or("-"),
            entry.method,
            entry.path,
            entry.status,
            entry.request_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_others_are_refused() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 24, "{t}");
    }
}
