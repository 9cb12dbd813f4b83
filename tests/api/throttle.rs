//! Throttling (issue 7, finding 2): failed logins per (username, address) at the login form and failed client
//! authentications per (client id, address) at `/token`, `/introspect` and `/revoke`; the bound on concurrent
//! password hashes.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use uma_cedar::config::Settings;
use uma_cedar::http::authorize::HASH_WAIT;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery";
const CB: &str = "https://web.example/cb";
const WINDOW: i64 = 900;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

fn app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let t = TestApp::with_settings(change);
    t.add_client("web", &[CB]);
    t.add_user("alice", PASSWORD, None);
    t.add_user("bob", PASSWORD, None);
    t
}

/// A pending authorization request as seen by one browser: its form fields and CSRF cookie.
struct LoginForm {
    request: String,
    csrf_token: String,
    cookie: String,
}

async fn open_login<S, B>(app: &S) -> LoginForm
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let query = format!(
        "response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s",
        enc(CB)
    );
    let page = send(app, TestRequest::get().uri(&format!("/authorize?{query}"))).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let cookie = page
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("uma_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let html = page.text();
    LoginForm {
        request: hidden(&html, "request"),
        csrf_token: hidden(&html, "csrf_token"),
        cookie,
    }
}

async fn log_in<S, B>(app: &S, login: &LoginForm, from: &str, user: &str, pw: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = format!(
        "request={}&csrf_token={}&username={}&password={}",
        enc(&login.request),
        enc(&login.csrf_token),
        enc(user),
        enc(pw)
    );
    let req = form("/authorize/login", &body)
        .insert_header(("Cookie", login.cookie.clone()))
        .peer_addr(addr(from));
    send(app, req).await
}

fn has_session(resp: &Resp) -> bool {
    resp.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("uma_session="))
}

fn assert_login_failed(resp: &Resp) {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("Invalid username or password."));
    assert!(!has_session(resp));
}

fn assert_consent(resp: &Resp) {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("Allow access?"), "{}", resp.text());
    assert!(has_session(resp));
}

fn assert_login_throttled(resp: &Resp, retry_after: i64) {
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "an HTML page"
    );
    assert_eq!(
        resp.header("retry-after").as_deref(),
        Some(retry_after.to_string().as_str())
    );
    assert!(resp.text().contains("Too many failed sign-ins"));
    assert!(!has_session(resp), "no session");
}

#[actix_web::test]
async fn ten_wrong_passwords_then_even_the_right_one_gets_429_until_the_window_passes() {
    let t = app_with(|_| {});
    let app = t.service().await;
    let login = open_login(&app).await;
    let from = "192.0.2.1:40000";
    for _ in 0..10 {
        assert_login_failed(&log_in(&app, &login, from, "alice", "guess").await);
    }
    assert_login_throttled(&log_in(&app, &login, from, "alice", PASSWORD).await, WINDOW);
    // Another source port of the same address is the same caller, on a new authorization request too.
    t.clock.advance(WINDOW - 1);
    let login = open_login(&app).await;
    assert_login_throttled(
        &log_in(&app, &login, "192.0.2.1:40001", "alice", PASSWORD).await,
        1,
    );

    t.clock.advance(1);
    let login = open_login(&app).await;
    assert_consent(&log_in(&app, &login, from, "alice", PASSWORD).await);
}

#[actix_web::test]
async fn a_blocked_login_pair_leaves_other_usernames_and_addresses_alone() {
    let t = app_with(|s| s.login_max_failures = 2);
    let app = t.service().await;
    let login = open_login(&app).await;
    let from = "192.0.2.1:40000";
    for _ in 0..2 {
        assert_login_failed(&log_in(&app, &login, from, "alice", "guess").await);
    }
    assert_login_throttled(&log_in(&app, &login, from, "alice", "guess").await, WINDOW);
    // Another username from the same address still gets the generic answer, and logs in.
    assert_login_failed(&log_in(&app, &login, from, "bob", "guess").await);
    assert_consent(&log_in(&app, &login, from, "bob", PASSWORD).await);
    // The same username from another address (IPv4 or IPv6) logs in.
    let login = open_login(&app).await;
    assert_consent(&log_in(&app, &login, "192.0.2.2:40000", "alice", PASSWORD).await);
    let login = open_login(&app).await;
    assert_consent(&log_in(&app, &login, "[2001:db8::1]:40000", "alice", PASSWORD).await);
    // An unknown username is throttled like any other.
    for _ in 0..2 {
        assert_login_failed(&log_in(&app, &login, from, "mallory", "guess").await);
    }
    assert_login_throttled(
        &log_in(&app, &login, from, "mallory", "guess").await,
        WINDOW,
    );
}

#[actix_web::test]
async fn a_successful_login_forgets_the_pairs_earlier_failures() {
    let t = app_with(|s| s.login_max_failures = 3);
    let app = t.service().await;
    let from = "192.0.2.1:40000";
    let login = open_login(&app).await;
    for _ in 0..2 {
        assert_login_failed(&log_in(&app, &login, from, "alice", "guess").await);
    }
    assert_consent(&log_in(&app, &login, from, "alice", PASSWORD).await);
    let login = open_login(&app).await;
    for _ in 0..3 {
        assert_login_failed(&log_in(&app, &login, from, "alice", "guess").await);
    }
    assert_login_throttled(&log_in(&app, &login, from, "alice", PASSWORD).await, WINDOW);
}

#[actix_web::test]
async fn a_login_finding_every_hash_slot_busy_gets_503_and_does_not_count() {
    let t = app_with(|s| {
        s.max_concurrent_password_hashes = 1;
        s.login_max_failures = 1;
    });
    let app = t.service().await;
    let login = open_login(&app).await;
    let from = "192.0.2.1:40000";
    {
        let _held = t
            .state
            .password_hashes
            .permit(Duration::ZERO)
            .expect("the only slot");
        let busy = log_in(&app, &login, from, "alice", "guess").await;
        assert_eq!(busy.status, 503, "{}", busy.text());
        assert!(busy.header("retry-after").is_some(), "Retry-After");
        assert!(!has_session(&busy));
    }
    assert!(HASH_WAIT <= Duration::from_secs(5), "the wait stays brief");
    // The turned-away attempt did not use up alice's single allowed failure.
    assert_login_failed(&log_in(&app, &login, from, "alice", "guess").await);
    assert_login_throttled(&log_in(&app, &login, from, "alice", PASSWORD).await, WINDOW);
}

/// A request authenticating `client_id` with `secret` (HTTP Basic) at one of the three endpoints.
fn client_request(endpoint: &str, client_id: &str, secret: &str, from: &str) -> TestRequest {
    let body = match endpoint {
        "/token" => "grant_type=client_credentials&scope=uma_protection",
        _ => "token=some-token",
    };
    form(endpoint, body)
        .insert_header(basic(client_id, secret))
        .peer_addr(addr(from))
}

fn assert_client_throttled(resp: &Resp, retry_after: i64) {
    resp.assert_error(429, "temporarily_unavailable");
    assert_eq!(
        resp.header("retry-after").as_deref(),
        Some(retry_after.to_string().as_str())
    );
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let description = resp.json()["error_description"]
        .as_str()
        .expect("description")
        .to_owned();
    assert!(
        description.contains(&format!("retry after {retry_after} seconds")),
        "{description}"
    );
}

#[actix_web::test]
async fn ten_wrong_client_secrets_then_even_the_right_one_gets_429_at_each_endpoint() {
    for endpoint in ["/token", "/introspect", "/revoke"] {
        let t = TestApp::new();
        t.add_client("rs", &[]);
        let app = t.service().await;
        let from = "198.51.100.7:5000";
        for _ in 0..10 {
            send(&app, client_request(endpoint, "rs", "wrong", from))
                .await
                .assert_error(401, "invalid_client");
        }
        let blocked = send(&app, client_request(endpoint, "rs", SECRET, from)).await;
        assert_client_throttled(&blocked, WINDOW);
        // The body's credentials (client_secret_post) are the same client: blocked too.
        let post = form(
            endpoint,
            &format!("token=x&grant_type=client_credentials&client_id=rs&client_secret={SECRET}"),
        )
        .peer_addr(addr(from));
        assert_client_throttled(&send(&app, post).await, WINDOW);

        t.clock.advance(WINDOW);
        let resp = send(&app, client_request(endpoint, "rs", SECRET, from)).await;
        assert_eq!(resp.status, 200, "{endpoint}: {}", resp.text());
    }
}

#[actix_web::test]
async fn a_blocked_client_pair_leaves_other_clients_and_addresses_alone() {
    let t = TestApp::with_settings(|s| s.client_auth_max_failures = 3);
    t.add_client("rs1", &[]);
    t.add_client("rs2", &[]);
    let app = t.service().await;
    let from = "198.51.100.7:5000";
    for _ in 0..3 {
        send(&app, client_request("/token", "rs1", "wrong", from))
            .await
            .assert_error(401, "invalid_client");
    }
    assert_client_throttled(
        &send(&app, client_request("/token", "rs1", SECRET, from)).await,
        WINDOW,
    );
    // The failures were per client id and address, whatever the endpoint.
    assert_client_throttled(
        &send(&app, client_request("/introspect", "rs1", SECRET, from)).await,
        WINDOW,
    );
    let other_client = send(&app, client_request("/token", "rs2", SECRET, from)).await;
    assert_eq!(other_client.status, 200, "{}", other_client.text());
    let other_address = send(
        &app,
        client_request("/token", "rs1", SECRET, "198.51.100.8:5000"),
    )
    .await;
    assert_eq!(other_address.status, 200, "{}", other_address.text());
}

#[actix_web::test]
async fn a_successful_client_authentication_forgets_the_pairs_failures() {
    let t = TestApp::with_settings(|s| s.client_auth_max_failures = 3);
    t.add_client("rs", &[]);
    let app = t.service().await;
    let from = "198.51.100.7:5000";
    for round in 0..3 {
        for _ in 0..2 {
            send(&app, client_request("/token", "rs", "wrong", from))
                .await
                .assert_error(401, "invalid_client");
        }
        let ok = send(&app, client_request("/token", "rs", SECRET, from)).await;
        assert_eq!(ok.status, 200, "round {round}: {}", ok.text());
    }
}
