//! The `[[webhooks]]` tables of the config file: where owners' notifications are POSTed ([`crate::notify`]),
//! checked when the server starts so a typo is an error, not a silence.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{ConfigError, invalid};
use crate::protocol::events::EventKind;
use crate::secret::WebhookSecret;

/// Most webhooks a server may have: each event is delivered to each, one at a time.
pub const MAX_WEBHOOKS: usize = 16;
/// The shortest and the longest secret.
pub const MIN_SECRET_LEN: usize = 16;
pub const MAX_SECRET_LEN: usize = 512;
/// The longest URL.
pub const MAX_URL_LEN: usize = 2048;

/// One `[[webhooks]]` table as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEntry {
    /// Where events are POSTed: an `https://` (or, for local use, `http://`) URL.
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with, shared with the receiver.
    pub secret: WebhookSecret,
    /// The event types sent to it (`request.submitted`, `request.decided`, `policy.changed`); all when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A webhook, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The URL, as written; it also names the webhook in the outbox.
    pub url: String,
    pub secret: WebhookSecret,
    /// The event types it receives.
    pub events: BTreeSet<EventKind>,
}

/// Checks the `[[webhooks]]` tables: URLs that parse, use http(s) and carry no fragment, appear once each;
/// secrets of 16 to 512 characters; event lists that are not empty and name known events.
pub fn check_webhooks(entries: Vec<WebhookEntry>) -> Result<Vec<Webhook>, ConfigError> {
    if entries.len() > MAX_WEBHOOKS {
        return Err(invalid(
            "webhooks",
            format!(
                "at most {MAX_WEBHOOKS} webhooks may be configured, got {}",
                entries.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut webhooks = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let which = format!("webhook #{} (`{}`)", index + 1, entry.url);
        let bad = |reason: String| invalid("webhooks", format!("{which}: {reason}"));
        if entry.url.len() > MAX_URL_LEN {
            return Err(bad(format!("the URL is longer than {MAX_URL_LEN} bytes")));
        }
        let url =
            url::Url::parse(&entry.url).map_err(|e| bad(format!("`url` is not a URL: {e}")))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(bad(
                "`url` must use https (or http for local use)".to_owned()
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("`url` must not have a fragment".to_owned()));
        }
        if !seen.insert(entry.url.clone()) {
            return Err(bad("the same `url` is configured twice".to_owned()));
        }
        let length = entry.secret.secret().chars().count();
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&length) {
            return Err(bad(format!(
                "`secret` must have {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters, it has {length}"
            )));
        }
        let events = match entry.events {
            None => EventKind::ALL.into_iter().collect(),
            Some(names) if names.is_empty() => {
                return Err(bad(
                    "`events` is empty; leave it out to receive every event".to_owned(),
                ));
            }
            Some(names) => {
                let mut events = BTreeSet::new();
                for name in names {
                    let Some(kind) = EventKind::parse(&name) else {
                        let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                        return Err(bad(format!(
                            "unknown event `{name}` in `events`; known events: {}",
                            known.join(", ")
                        )));
                    };
                    events.insert(kind);
                }
                events
            }
        };
        webhooks.push(Webhook {
            url: entry.url,
            secret: entry.secret,
            events,
        });
    }
    Ok(webhooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str, secret: &str, events: Option<&[&str]>) -> WebhookEntry {
        WebhookEntry {
            url: url.into(),
            secret: WebhookSecret::new(secret),
            events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    const SECRET: &str = "0123456789abcdef";

    fn reason(entries: Vec<WebhookEntry>) -> String {
        match check_webhooks(entries).expect_err("refused") {
            ConfigError::Invalid { name, reason } => {
                assert_eq!(name, "webhooks");
                reason
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_webhook_without_events_receives_all() {
        let hooks = check_webhooks(vec![
            entry("https://hooks.example.com/uma", SECRET, None),
            entry("http://127.0.0.1:9000/", SECRET, Some(&["policy.changed"])),
        ])
        .expect("valid");
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].events.len(), 3);
        assert_eq!(
            hooks[1].events.iter().copied().collect::<Vec<_>>(),
            [EventKind::PolicyChanged]
        );
    }

    #[test]
    fn bad_webhooks_are_refused_with_the_reason() {
        assert!(reason(vec![entry("not a url", SECRET, None)]).contains("is not a URL"));
        assert!(reason(vec![entry("ftp://x/", SECRET, None)]).contains("https"));
        assert!(reason(vec![entry("https://x/#f", SECRET, None)]).contains("fragment"));
        assert!(reason(vec![entry("https://x/", "short", None)]).contains("16 to 512"));
        let twice = reason(vec![
            entry("https://x/", SECRET, None),
            entry("https://x/", SECRET, None),
        ]);
        assert!(
            twice.contains("webhook #2") && twice.contains("twice"),
            "{twice}"
        );
        let unknown = reason(vec![entry("https://x/", SECRET, Some(&["policy.change"]))]);
        assert!(
            unknown.contains("`policy.change`") && unknown.contains("policy.changed"),
            "{unknown}"
        );
        assert!(reason(vec![entry("https://x/", SECRET, Some(&[]))]).contains("empty"));
        let many = (0..=MAX_WEBHOOKS)
            .map(|i| entry(&format!("https://x/{i}"), SECRET, None))
            .collect();
        assert!(reason(many).contains("at most"));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let hooks =
            check_webhooks(vec![entry("https://x/", "s3cret-s3cret-s3cret", None)]).expect("valid");
        let printed = format!("{hooks:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
