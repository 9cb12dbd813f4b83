//! POSTing a signed payload to a webhook receiver. The only module of [`crate::notify`] that talks to ureq.
//!
//! What this module must never do: wait longer than its timeouts, follow a redirect (a receiver that moved
//! is fixed in the configuration, not guessed), or read more than a little of the receiver's answer.

use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// How long connecting to a receiver may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one delivery may take in all, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request. A trait so the worker can be driven by a test double as well as by [`HttpSender`].
pub trait Post: Send + Sync {
    /// POSTs `body` (JSON) to `url` with `headers`; `Ok` exactly when the receiver answered 2xx.
    fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<(), String>;
}

/// The real sender: ureq, TLS through the system's OpenSSL and its root certificates.
#[derive(Debug)]
pub struct HttpSender {
    agent: ureq::Agent,
}

impl Default for HttpSender {
    fn default() -> Self {
        Self::new(CONNECT_TIMEOUT, TIMEOUT)
    }
}

impl HttpSender {
    pub fn new(connect: Duration, total: Duration) -> Self {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect))
            .timeout_global(Some(total))
            .max_redirects(0)
            .http_status_as_error(false)
            .tls_config(tls)
            .user_agent(concat!("uma-cedar/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent }
    }
}

impl Post for HttpSender {
    fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<(), String> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let response = request.send(body).map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers one request with `status` and returns what it received.
    fn answer_once(status: &str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let status = status.to_owned();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers and the short body arrive together in practice; read until the body's end.
            while !String::from_utf8_lossy(&seen).ends_with("}") {
                let n = conn.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let reply =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            conn.write_all(reply.as_bytes()).expect("write");
            String::from_utf8_lossy(&seen).into_owned()
        });
        (url, handle)
    }

    #[test]
    fn posts_the_body_with_the_headers_and_accepts_2xx() {
        let (url, handle) = answer_once("204 No Content");
        HttpSender::default()
            .post(
                &url,
                &[("Uma-Cedar-Event", "policy.changed".into())],
                b"{\"a\":1}",
            )
            .expect("delivered");
        let seen = handle.join().expect("receiver");
        assert!(seen.starts_with("POST /hook HTTP/1.1"), "{seen}");
        let lower = seen.to_ascii_lowercase();
        assert!(lower.contains("uma-cedar-event: policy.changed"), "{seen}");
        assert!(lower.contains("content-type: application/json"), "{seen}");
        assert!(seen.ends_with("{\"a\":1}"), "{seen}");
    }

    #[test]
    fn an_error_status_or_a_redirect_is_a_failure() {
        for status in ["500 Internal Server Error", "302 Found"] {
            let (url, handle) = answer_once(status);
            let err = HttpSender::default()
                .post(&url, &[], b"{}")
                .expect_err("not delivered");
            assert!(err.contains(&status[..3]), "{err}");
            handle.join().expect("receiver");
        }
    }

    #[test]
    fn a_receiver_that_is_down_or_silent_fails_in_bounded_time() {
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", closed.local_addr().expect("addr"));
        drop(closed);
        assert!(HttpSender::default().post(&url, &[], b"{}").is_err());

        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", silent.local_addr().expect("addr"));
        let started = std::time::Instant::now();
        let sender = HttpSender::new(Duration::from_millis(300), Duration::from_millis(300));
        assert!(sender.post(&url, &[], b"{}").is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(silent);
    }
}
