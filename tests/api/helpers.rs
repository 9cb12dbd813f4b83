//! Test harness: an app on a temporary data directory with a manual clock, and small request helpers.

#![allow(dead_code)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use base64::Engine as _;
use serde_json::Value;
use uma_cedar::clock::ManualClock;
use uma_cedar::config::Settings;
use uma_cedar::crypto::password;
use uma_cedar::http::{AppState, configure};
use uma_cedar::oauth::registration::NewClient;
use uma_cedar::store::{clients, users};

pub const START: i64 = 1_800_000_000;
pub const SECRET: &str = "s3cret-s3cret-s3cret";

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: web::Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts an OAuth error response with this status and `error` code.
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        let body = self.json();
        assert_eq!(body["error"], error, "error code; body: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "error_description present; body: {body}"
        );
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_settings(|_| {})
    }

    pub fn with_settings(change: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::for_data_dir(&dir.path().join("data"));
        settings.issuer = "http://as.test".into();
        change(&mut settings);
        let clock = Arc::new(ManualClock::new(START));
        let state = uma_cedar::app::open(settings, clock.clone()).expect("open app");
        Self { dir, state, clock }
    }

    pub async fn service(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    uma_cedar::http::ops::observe,
                ))
                .configure(configure(self.state.clone())),
        )
        .await
    }

    /// Registers a confidential client with [`SECRET`].
    pub fn add_client(&self, id: &str, redirect_uris: &[&str]) {
        self.insert_client(NewClient {
            client_id: id.into(),
            secret: Some(SECRET.into()),
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
    }

    /// Registers a confidential client with [`SECRET`] that authenticates with `client_secret_post`.
    pub fn add_post_client(&self, id: &str) {
        self.insert_client(NewClient {
            client_id: id.into(),
            secret: Some(SECRET.into()),
            auth_method: Some(uma_cedar::oauth::AuthMethod::ClientSecretPost),
            ..Default::default()
        });
    }

    /// Registers a public client (no secret).
    pub fn add_public_client(&self, id: &str, redirect_uris: &[&str]) {
        self.insert_client(NewClient {
            client_id: id.into(),
            secret: None,
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
    }

    pub fn insert_client(&self, client: NewClient) {
        let record = client.build(START).expect("valid client");
        self.state
            .store
            .write(|tx| clients::insert(tx, &record))
            .expect("insert client");
    }

    pub fn add_user(&self, username: &str, password_text: &str, email: Option<&str>) {
        let user = users::User {
            username: username.into(),
            password_hash: password::hash_password(password_text).expect("hash"),
            email: email.map(str::to_owned),
            name: Some(format!("{username} Example")),
            created_at: START,
        };
        self.state
            .store
            .write(|tx| users::insert(tx, &user))
            .expect("insert user");
    }
}

pub fn basic(id: &str, secret: &str) -> (String, String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    ("Authorization".into(), format!("Basic {encoded}"))
}

pub fn bearer(token: &str) -> (String, String) {
    ("Authorization".into(), format!("Bearer {token}"))
}

/// Sends a request and reads the whole response.
pub async fn send<S, B>(app: &S, req: TestRequest) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await;
    Resp {
        status,
        headers,
        body,
    }
}

/// POSTs a form.
pub fn form(path: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

/// Sends a JSON body with the given method.
pub fn json_req(method: actix_web::http::Method, path: &str, body: &Value) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_string())
}

/// A PAT for a client-owned resource server, by client credentials.
pub async fn client_pat<S, B>(app: &S, client_id: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(
        app,
        form(
            "/token",
            "grant_type=client_credentials&scope=uma_protection",
        )
        .insert_header(basic(client_id, SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "PAT: {}", resp.text());
    resp.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// An access token for a local user's grant to `client_id`, minted directly (as if the user had consented).
pub fn user_token(t: &TestApp, username: &str, client_id: &str, scope: &str) -> String {
    let now = t.state.now();
    t.state
        .store
        .write(|tx| {
            let grant = uma_cedar::store::tokens::create_grant(
                tx,
                &uma_cedar::store::tokens::NewGrant {
                    client_id,
                    subject: username,
                    subject_kind: uma_cedar::store::tokens::SubjectKind::User,
                    scope,
                    auth_time: Some(now),
                    nonce: None,
                },
                now,
            )?;
            uma_cedar::issue::issue_tokens(tx, &t.state.settings, grant, scope, false, now)
        })
        .expect("mint token")
        .access_token
}
