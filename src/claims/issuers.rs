//! The admin's list of trusted claim token issuers: the `[[trusted_issuers]]` tables of the config file, checked
//! once at startup.
//!
//! What this module must never do: let a malformed entry through to be discovered on the first claim token (the
//! server refuses to start instead, naming the entry), or normalise an issuer identifier — a token's `iss` is
//! compared with it character for character (OpenID Connect Core §3.1.3.7).

use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigError;
pub use crate::config::TrustedIssuerEntry;

/// Where a trusted issuer's keys are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP(S).
    Url(url::Url),
    /// Read from a local file, for issuers whose keys the admin installs by hand (or tests).
    File(PathBuf),
}

impl fmt::Display for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.write_str(url.as_str()),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A validated trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub jwks: JwksSource,
}

fn invalid(number: usize, issuer: &str, reason: impl fmt::Display) -> ConfigError {
    let which = if issuer.is_empty() {
        format!("entry {number}")
    } else {
        format!("entry {number} (`{issuer}`)")
    };
    ConfigError::Invalid {
        name: "trusted_issuers",
        reason: format!("{which}: {reason}"),
    }
}

/// Checks the configured issuers. `own_issuer` is this server's issuer, which is always trusted with its own
/// keys and so must not be listed.
pub fn parse_trusted_issuers(
    entries: &[TrustedIssuerEntry],
    own_issuer: &str,
) -> Result<Vec<TrustedIssuer>, ConfigError> {
    let mut parsed: Vec<TrustedIssuer> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        let fail = |reason: String| invalid(number, &entry.issuer, reason);
        check_issuer(&entry.issuer).map_err(fail)?;
        if entry.issuer.trim_end_matches('/') == own_issuer {
            return Err(fail(
                "this is the server's own issuer, which is always trusted with its own keys; remove the entry"
                    .into(),
            ));
        }
        if parsed.iter().any(|p| p.issuer == entry.issuer) {
            return Err(fail("this issuer is listed twice".into()));
        }
        let jwks = parse_jwks_source(&entry.jwks_uri).map_err(fail)?;
        parsed.push(TrustedIssuer {
            issuer: entry.issuer.clone(),
            jwks,
        });
    }
    Ok(parsed)
}

/// OpenID Connect Core §1.2 (Issuer Identifier): a URL with no query or fragment. `http` is allowed for local
/// issuers (tests, a development IdP on loopback).
fn check_issuer(issuer: &str) -> Result<(), String> {
    if issuer.is_empty() {
        return Err("`issuer` is empty".into());
    }
    let url = url::Url::parse(issuer).map_err(|e| format!("`issuer` is not a URL: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err("`issuer` must be an https (or http) URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("`issuer` must not have a query or fragment".into());
    }
    Ok(())
}

fn parse_jwks_source(text: &str) -> Result<JwksSource, String> {
    if text.is_empty() {
        return Err("`jwks_uri` is empty".into());
    }
    let source = if text.contains("://") {
        let url = url::Url::parse(text)
            .map_err(|e| format!("`jwks_uri` `{text}` is not a valid URL: {e}"))?;
        match url.scheme() {
            "https" | "http" => {
                if url.host().is_none() {
                    return Err(format!("`jwks_uri` `{text}` has no host"));
                }
                return Ok(JwksSource::Url(url));
            }
            "file" => JwksSource::File(url.to_file_path().map_err(|()| {
                format!("`jwks_uri` `{text}` is not a local file URL (use file:///absolute/path)")
            })?),
            other => {
                return Err(format!(
                    "`jwks_uri` `{text}` uses scheme `{other}`; use https://, http://, file:// or a file path"
                ));
            }
        }
    } else {
        JwksSource::File(PathBuf::from(text))
    };
    // A missing file is a typo the admin wants to hear about now, not on the first claim token.
    if let JwksSource::File(path) = &source
        && !path.is_file()
    {
        return Err(format!(
            "`jwks_uri` file `{}` does not exist or is not a file",
            path.display()
        ));
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://as.example";

    fn entry(issuer: &str, jwks_uri: &str) -> TrustedIssuerEntry {
        TrustedIssuerEntry {
            issuer: issuer.into(),
            jwks_uri: jwks_uri.into(),
            ..TrustedIssuerEntry::default()
        }
    }

    fn error_of(entries: &[TrustedIssuerEntry]) -> String {
        match parse_trusted_issuers(entries, OWN) {
            Err(err) => err.to_string(),
            Ok(parsed) => panic!("expected an error, got {parsed:?}"),
        }
    }

    #[test]
    fn urls_file_urls_and_paths_are_accepted() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, "{}").expect("write");
        let file_url = url::Url::from_file_path(&file).expect("file url");
        let parsed = parse_trusted_issuers(
            &[
                entry("https://idp.example", "https://idp.example/jwks"),
                entry("http://127.0.0.1:9999/", "http://127.0.0.1:9999/jwks"),
                entry("https://files.example", file_url.as_str()),
                entry("https://path.example", &file.display().to_string()),
            ],
            OWN,
        )
        .expect("valid");
        assert_eq!(parsed.len(), 4);
        assert!(
            matches!(&parsed[0].jwks, JwksSource::Url(u) if u.as_str() == "https://idp.example/jwks")
        );
        // The issuer is kept exactly, trailing slash included: `iss` must match it character for character.
        assert_eq!(parsed[1].issuer, "http://127.0.0.1:9999/");
        assert_eq!(parsed[2].jwks, JwksSource::File(file.clone()));
        assert_eq!(parsed[3].jwks, JwksSource::File(file));
    }

    #[test]
    fn a_bad_scheme_names_the_entry() {
        let err = error_of(&[
            entry("https://ok.example", "https://ok.example/jwks"),
            entry("https://idp.example", "ftp://idp.example/jwks"),
        ]);
        assert!(err.contains("`trusted_issuers`"), "{err}");
        assert!(err.contains("entry 2 (`https://idp.example`)"), "{err}");
        assert!(err.contains("scheme `ftp`"), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_entry() {
        let err = error_of(&[entry("https://idp.example", "/nonexistent/dir/jwks.json")]);
        assert!(err.contains("entry 1 (`https://idp.example`)"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        let err = error_of(&[entry(
            "https://idp.example",
            "file:///nonexistent/jwks.json",
        )]);
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn bad_issuers_are_refused() {
        assert!(error_of(&[entry("", "https://x.example/jwks")]).contains("entry 1:"));
        assert!(error_of(&[entry("idp", "https://x.example/jwks")]).contains("not a URL"));
        assert!(
            error_of(&[entry("urn:idp:x", "https://x.example/jwks")]).contains("https (or http)")
        );
        assert!(
            error_of(&[entry(
                "https://idp.example?tenant=1",
                "https://x.example/jwks"
            )])
            .contains("query")
        );
        let err = error_of(&[entry("https://as.example/", "https://x.example/jwks")]);
        assert!(err.contains("own issuer"), "{err}");
        let twice = entry("https://idp.example", "https://idp.example/jwks");
        assert!(error_of(&[twice.clone(), twice]).contains("twice"));
        assert!(error_of(&[entry("https://idp.example", "")]).contains("empty"));
        assert!(error_of(&[entry("https://idp.example", "https://")]).contains("jwks_uri"));
    }

    #[test]
    fn the_config_file_tables_reach_the_settings() {
        use crate::config::{FileSettings, SettingsInput};
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("partner.json");
        std::fs::write(&file, "{}").expect("write");
        let text = format!(
            "issuer = \"https://as.example\"\n\
             [[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_uri = \"https://idp.example/jwks\"\n\
             [[trusted_issuers]]\nissuer = \"https://partner.example\"\njwks_uri = {:?}\n",
            file.display().to_string()
        );
        let parsed: FileSettings = toml::from_str(&text).expect("toml");
        let settings = SettingsInput::default()
            .resolve(parsed, None)
            .expect("settings");
        let trusted =
            parse_trusted_issuers(&settings.trusted_issuers, &settings.issuer).expect("valid");
        assert_eq!(trusted.len(), 2);
        assert_eq!(trusted[1].jwks, JwksSource::File(file));

        let bad: FileSettings = toml::from_str(
            "[[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_uri = \"gopher://idp.example/jwks\"\n",
        )
        .expect("toml");
        let settings = SettingsInput::default()
            .resolve(bad, None)
            .expect("plain data");
        let err = parse_trusted_issuers(&settings.trusted_issuers, &settings.issuer)
            .expect_err("bad scheme");
        assert!(
            err.to_string()
                .starts_with("invalid setting `trusted_issuers`: entry 1 (`https://idp.example`)"),
            "{err}"
        );
        assert!(
            toml::from_str::<FileSettings>("[[trusted_issuers]]\nissuer = \"https://i.example\"\n")
                .is_err(),
            "jwks_uri is required"
        );
    }

    #[test]
    fn unknown_keys_in_an_entry_are_refused() {
        let parsed: Result<TrustedIssuerEntry, _> =
            toml::from_str("issuer = \"https://i.example\"\njwks_url = \"https://i.example/k\"");
        assert!(parsed.is_err());
    }
}
