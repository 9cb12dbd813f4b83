//! Reading a trusted issuer's JWK Set document from where the admin said it is: an http(s) URL or a local file;
//! and, for upstream sign-in ([`super::upstream`]), an OpenID provider's discovery document and its token
//! endpoint. The only module of `claims` that talks to ureq.
//!
//! What this module must never do: wait longer than its timeout, read more than its size limit, follow an
//! https URL to plain http, or run on an async worker — it blocks, so its callers run inside `web::block`.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::issuers::JwksSource;

/// How long one fetch may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWK Set document read. Real ones are a few kilobytes.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024;
/// Redirects followed; a JWKS URL that moved is normal, a chain is not.
const MAX_REDIRECTS: u32 = 3;

/// Fetches JWK Set documents. A trait so the cache can be driven by a test double as well as by [`Fetcher`].
pub trait FetchJwks: Send + Sync {
    fn fetch(&self, source: &JwksSource) -> Result<Vec<u8>, FetchError>;
}

/// Why a document could not be obtained. Logged for the admin; never shown to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the document is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("cannot read the file: {0}")]
    File(String),
}

/// The real fetcher: ureq for URLs (TLS through the system's OpenSSL and its root certificates), the file
/// system for paths.
#[derive(Debug)]
pub struct Fetcher {
    agent: ureq::Agent,
    max_bytes: u64,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new(DEFAULT_TIMEOUT, DEFAULT_MAX_BYTES)
    }
}

impl Fetcher {
    pub fn new(timeout: Duration, max_bytes: u64) -> Self {
        // The system roots, not a bundled list: an admin who trusts an in-house IdP's CA adds it to the system.
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(MAX_REDIRECTS)
            .tls_config(tls)
            .user_agent(concat!("uma-cedar/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent, max_bytes }
    }

    fn fetch_url(&self, url: &url::Url) -> Result<Vec<u8>, FetchError> {
        self.get(url, "application/jwk-set+json, application/json")
    }

    /// GETs a JSON document (an OpenID provider's discovery document) within the time and size limits.
    pub fn get_json(&self, url: &url::Url) -> Result<Vec<u8>, FetchError> {
        self.get(url, "application/json")
    }

    fn get(&self, url: &url::Url, accept: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .agent
            .get(url.as_str())
            .header("Accept", accept)
            .config()
            .https_only(url.scheme() == "https")
            .build()
            .call()
            .map_err(|e| self.map_error(e))?;
        self.read_body(&mut response)
    }

    /// POSTs an `application/x-www-form-urlencoded` body (a token request, RFC 6749 §4.1.3) with an optional
    /// `Authorization` header, and returns the status and body whatever the status: a token endpoint explains
    /// a refusal in a 400's JSON body (RFC 6749 §5.2). Redirects are not followed.
    pub fn post_form(
        &self,
        url: &url::Url,
        authorization: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let mut request = self
            .agent
            .post(url.as_str())
            .header("Accept", "application/json");
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let mut response = request
            .config()
            .https_only(url.scheme() == "https")
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .send_form(form.iter().copied())
            .map_err(|e| self.map_error(e))?;
        let status = response.status().as_u16();
        Ok((status, self.read_body(&mut response)?))
    }

    /// The body, up to the size limit.
    fn read_body(
        &self,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, FetchError> {
        response
            .body_mut()
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|e| self.map_error(e))
    }

    fn map_error(&self, err: ureq::Error) -> FetchError {
        match err {
            ureq::Error::StatusCode(code) => FetchError::Status(code),
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                limit: self.max_bytes,
            },
            other => FetchError::Transport(other.to_string()),
        }
    }

    fn read_file(&self, path: &Path) -> Result<Vec<u8>, FetchError> {
        let file = std::fs::File::open(path).map_err(|e| FetchError::File(e.to_string()))?;
        let mut bytes = Vec::new();
        // One byte past the limit tells an oversize file from one exactly at the limit.
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| FetchError::File(e.to_string()))?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.max_bytes {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(bytes)
    }
}

impl FetchJwks for Fetcher {
    fn fetch(&self, source: &JwksSource) -> Result<Vec<u8>, FetchError> {
        match source {
            JwksSource::Url(url) => self.fetch_url(url),
            JwksSource::File(path) => self.read_file(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::JwksServer;
    use super::*;

    fn url(text: &str) -> JwksSource {
        JwksSource::Url(url::Url::parse(text).expect("url"))
    }

    #[test]
    fn reads_a_document_over_http() {
        let server = JwksServer::start(br#"{"keys":[]}"#.to_vec());
        let body = Fetcher::default()
            .fetch(&url(&server.url()))
            .expect("fetch");
        assert_eq!(body, br#"{"keys":[]}"#);
        assert_eq!(server.requests(), 1);
    }

    #[test]
    fn an_oversize_http_body_is_refused() {
        let server = JwksServer::start(vec![b' '; 2048]);
        let err = Fetcher::new(DEFAULT_TIMEOUT, 1024)
            .fetch(&url(&server.url()))
            .expect_err("too large");
        assert_eq!(err, FetchError::TooLarge { limit: 1024 });
    }

    #[test]
    fn an_error_status_is_reported() {
        let server = JwksServer::start_with_status(404, b"missing".to_vec());
        let err = Fetcher::default()
            .fetch(&url(&server.url()))
            .expect_err("404");
        assert_eq!(err, FetchError::Status(404));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let started = std::time::Instant::now();
        let err = Fetcher::new(Duration::from_millis(300), DEFAULT_MAX_BYTES)
            .fetch(&url(&format!("http://{addr}/jwks")))
            .expect_err("timeout");
        assert!(matches!(err, FetchError::Transport(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn reads_a_file_within_the_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, vec![b'x'; 1024]).expect("write");
        let fetcher = Fetcher::new(DEFAULT_TIMEOUT, 1024);
        assert_eq!(
            fetcher
                .fetch(&JwksSource::File(path.clone()))
                .expect("at the limit")
                .len(),
            1024
        );
        std::fs::write(&path, vec![b'x'; 1025]).expect("write");
        assert_eq!(
            fetcher.fetch(&JwksSource::File(path.clone())),
            Err(FetchError::TooLarge { limit: 1024 })
        );
        assert!(matches!(
            fetcher.fetch(&JwksSource::File(dir.path().join("gone.json"))),
            Err(FetchError::File(_))
        ));
    }
}
