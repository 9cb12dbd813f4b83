//! The core against a scripted authorization server on loopback (one thread, one request per connection): the
//! order of calls, the PAT renewed when the AS answers `401`, registrations updated, and re-created when the AS
//! no longer knows them. The real server is exercised by `tests/blackbox/test_rs_library.py`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops at the first surprise"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};
use uma_cedar_rs::{Config, Refusal, Required, Resource, ResourceServer};

#[derive(Default)]
struct State {
    log: Vec<String>,
    pats: usize,
    resources: usize,
    revoked: HashSet<String>,
    deleted: HashSet<String>,
    refuse_tickets: bool,
    /// The owner's refresh token the AS accepts now (rotated on each use).
    refresh: Option<String>,
}

struct FakeAs {
    base: String,
    state: Arc<Mutex<State>>,
}

fn answer(
    state: &Mutex<State>,
    base: &str,
    (method, path, auth): (&str, &str, &str),
    body: &str,
) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.log.push(format!("{method} {path}"));
    let bearer = auth.strip_prefix("Bearer ").unwrap_or_default().to_owned();
    match (method, path) {
        ("GET", "/.well-known/uma2-configuration") => (
            200,
            json!({
            "issuer": base, "token_endpoint": format!("{base}/token"), "jwks_uri": format!("{base}/jwks"),
            "introspection_endpoint": format!("{base}/introspect"),
            "resource_registration_endpoint": format!("{base}/uma/resources"),
            "permission_endpoint": format!("{base}/uma/permission")}),
        ),
        ("POST", "/token") if body.contains("grant_type=refresh_token") => {
            assert!(
                auth.starts_with("Basic "),
                "client authentication by HTTP Basic"
            );
            let held = s.refresh.clone().unwrap_or_default();
            if body != format!("grant_type=refresh_token&refresh_token={held}") {
                return (400, json!({"error": "invalid_grant"}));
            }
            s.pats += 1;
            let rotated = format!("rt-{}", s.pats);
            s.refresh = Some(rotated.clone());
            s.log.push("refresh".into());
            (
                200,
                json!({"access_token": format!("pat-{}", s.pats), "token_type": "Bearer",
                       "expires_in": 3600, "refresh_token": rotated}),
            )
        }
        ("POST", "/token") => {
            assert!(
                auth.starts_with("Basic "),
                "client credentials by HTTP Basic"
            );
            assert!(body.contains("grant_type=client_credentials"), "{body}");
            s.pats += 1;
            (
                200,
                json!({"access_token": format!("pat-{}", s.pats), "token_type": "Bearer", "expires_in": 3600}),
            )
        }
        _ if s.revoked.contains(&bearer) || bearer.is_empty() => {
            (401, json!({"error": "invalid_token"}))
        }
        ("POST", "/uma/resources") => {
            s.resources += 1;
            (201, json!({"_id": format!("id-{}", s.resources)}))
        }
        ("PUT", p) if s.deleted.contains(p.trim_start_matches("/uma/resources/")) => {
            (404, json!({"error": "not_found"}))
        }
        ("PUT", _) => (200, json!({})),
        ("POST", "/uma/permission") if s.refuse_tickets => (
            400,
            json!({"error": "invalid_resource_id", "error_description": "unknown"}),
        ),
        ("POST", "/uma/permission") => (201, json!({"ticket": "t\"1"})),
        _ => (400, json!({"error": "invalid_request"})),
    }
}

fn start() -> FakeAs {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(State::default()));
    let (shared, url) = (Arc::clone(&state), base.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let (mut length, mut auth) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => auth = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let (status, json) = answer(&shared, &url, (&method, &path, &auth), &body);
            let text = json.to_string();
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            stream.write_all(reply.as_bytes()).unwrap();
        }
    });
    FakeAs { base, state }
}

fn server(fake: &FakeAs) -> ResourceServer {
    ResourceServer::new(Config::new(&fake.base, "bank-rs", "secret", "bank").unwrap())
}

#[test]
fn registrations_are_updated_with_a_renewed_pat_and_recreated_when_gone() {
    let fake = start();
    let rs = server(&fake);
    let statement = Resource::new("Statement", &["view"]).kind("statement");
    assert_eq!(rs.register("s", &statement).unwrap(), "id-1");
    assert_eq!(rs.resource_id("s").as_deref(), Some("id-1"));

    // The AS revoked the PAT: the update is answered 401, a new PAT is fetched and the update retried.
    fake.state.lock().unwrap().revoked.insert("pat-1".into());
    assert_eq!(
        rs.register("s", &statement.clone().description("renamed"))
            .unwrap(),
        "id-1"
    );

    // The AS no longer knows the resource: it is registered anew.
    fake.state.lock().unwrap().deleted.insert("id-1".into());
    assert_eq!(rs.register("s", &statement).unwrap(), "id-2");
    assert_eq!(rs.resource_id("s").as_deref(), Some("id-2"));

    let log = fake.state.lock().unwrap().log.clone();
    let expected = [
        "GET /.well-known/uma2-configuration",
        "POST /token",
        "POST /uma/resources",
        "PUT /uma/resources/id-1",
        "POST /token",
        "PUT /uma/resources/id-1",
        "PUT /uma/resources/id-1",
        "POST /uma/resources",
    ];
    assert_eq!(log, expected);
}

#[test]
fn a_missing_rpt_gets_a_quoted_ticket_and_a_refused_one_a_bare_403() {
    let fake = start();
    let rs = server(&fake);
    let required = [Required::new("id-1", &["view"])];
    let refusal = rs.check(None, &required).unwrap_err();
    let expected = format!(r#"UMA realm="bank", as_uri="{}", ticket="t\"1""#, fake.base);
    assert_eq!(refusal, Refusal::Challenge(expected));

    fake.state.lock().unwrap().refuse_tickets = true;
    assert_eq!(
        rs.check(Some("Bearer not-a-jwt"), &required).unwrap_err(),
        Refusal::Forbidden
    );
}

#[test]
fn an_owners_refresh_token_gets_the_pat_and_its_rotations_are_followed() {
    let fake = start();
    fake.state.lock().unwrap().refresh = Some("rt-0".into());
    let config = Config::new(&fake.base, "bank-rs", "secret", "bank")
        .unwrap()
        .owner_refresh_token("rt-0");
    let rs = ResourceServer::new(config);
    let statement = Resource::new("Statement", &["view"]);
    assert_eq!(rs.register("s", &statement).unwrap(), "id-1");

    // The PAT is revoked: the next one comes from the rotated refresh token, not the spent one.
    fake.state.lock().unwrap().revoked.insert("pat-1".into());
    rs.register("s", &statement.clone().description("renamed"))
        .unwrap();
    let state = fake.state.lock().unwrap();
    assert_eq!(state.refresh.as_deref(), Some("rt-2"));
    let refreshes = state.log.iter().filter(|l| *l == "refresh").count();
    assert_eq!(refreshes, 2, "{:?}", state.log);
}
