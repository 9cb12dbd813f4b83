//! The HTTP layer: the only module that talks to actix-web. It parses requests into typed values, runs the
//! protocol logic on a blocking thread (SQLite and argon2 never run on the async workers), and maps
//! [`OAuthError`] to responses in one place ([`error`]).
//!
//! [`configure`] registers every route; `main` and the integration tests share it, so the tests exercise the
//! real routing.

pub mod authorize;
pub mod bearer;
pub mod claims;
pub mod client_auth;
pub mod console;
pub mod decisions;
pub mod discovery;
pub mod error;
pub mod forms;
pub mod introspect;
pub mod ops;
pub mod pages;
pub mod permission;
pub mod policies;
pub mod register;
pub mod requests;
pub mod resources;
pub mod revoke;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::Value;

use crate::claims::ClaimsVerifier;
use crate::claims::upstream::Upstream;
use crate::clock::{Clock, UnixTime};
use crate::config::Settings;
use crate::context::{Context, Random};
use crate::crypto::keys::KeySet;
use crate::crypto::password::HashGate;
use crate::error::OAuthError;
use crate::keyring::KeyRing;
use crate::owner::Policies;
use crate::store::Store;
use crate::throttle::Throttle;

/// Paths of every endpoint, relative to the issuer. Discovery and routing both read these.
pub mod paths {
    pub const UMA_CONFIGURATION: &str = "/.well-known/uma2-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/jwks";
    pub const AUTHORIZE: &str = "/authorize";
    pub const AUTHORIZE_LOGIN: &str = "/authorize/login";
    pub const AUTHORIZE_CONSENT: &str = "/authorize/consent";
    pub const TOKEN: &str = "/token";
    pub const INTROSPECT: &str = "/introspect";
    pub const REVOKE: &str = "/revoke";
    pub const REGISTER: &str = "/register";
    pub const USERINFO: &str = "/userinfo";
    pub const RESOURCES: &str = "/uma/resources";
    pub const PERMISSION: &str = "/uma/permission";
    /// The owners' policy API (an extension, not UMA).
    pub const POLICIES: &str = "/uma/policies";
    pub const DECISIONS: &str = "/uma/decisions";
    /// Requests held for the owner's decision (an extension, not UMA).
    pub const REQUESTS: &str = "/uma/requests";
    /// The claims interaction endpoint (UMA Grant §3.3.2) and its two form posts.
    pub const CLAIMS: &str = crate::uma::interaction::ENDPOINT_PATH;
    pub const CLAIMS_LOGIN: &str = "/uma/claims/login";
    pub const CLAIMS_DECISION: &str = "/uma/claims/decision";
    /// Upstream OpenID Connect sign-in from the claims interaction: the button's post and the provider's
    /// callback.
    pub const CLAIMS_UPSTREAM: &str = "/uma/claims/upstream";
    pub const CLAIMS_CALLBACK: &str = crate::uma::interaction::CALLBACK_PATH;
    /// The owner's console (browser pages, an extension) and the stylesheet every page uses.
    pub const CONSOLE: &str = "/console";
    pub const CONSOLE_CSS: &str = "/console/static/console.css";
}

/// Everything a request handler needs; built by the composition root ([`crate::app::open`]). Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<Store>,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    /// The Cedar schema and the per-owner cache of parsed policy sets.
    pub policies: Arc<Policies>,
    /// Verifies claim tokens pushed to the UMA grant; call it inside [`AppState::run`] (it may fetch keys).
    pub claims: Arc<ClaimsVerifier>,
    /// The upstream OpenID providers requesting parties may sign in with (claims interaction).
    pub upstream: Arc<Upstream>,
    /// Where tickets, token values and identifiers come from.
    pub random: Arc<dyn Random>,
    /// Failed logins and client authentications per (name, address) ([`crate::throttle`]).
    pub throttle: Arc<Throttle>,
    /// Bounds how many password hashes run at once.
    pub password_hashes: Arc<HashGate>,
}

impl AppState {
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The clock, randomness and settings for a domain service.
    pub fn context(&self) -> Context {
        Context {
            clock: self.clock.clone(),
            random: self.random.clone(),
            settings: self.settings.clone(),
        }
    }

    /// The signing and verification keys in force now.
    pub fn key_set(&self) -> Result<Arc<KeySet>, OAuthError> {
        self.keys
            .current(self.now())
            .map_err(|e| OAuthError::server_error(&e))
    }

    /// Runs blocking work (SQLite, password hashing, signing) on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, OAuthError> + Send + 'static,
    {
        let state = self.clone();
        web::block(move || work(&state))
            .await
            .map_err(|e| OAuthError::server_error(&e))?
    }
}

/// Registers every endpoint. Used by the server and by the integration tests.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let dcr = state.settings.initial_access_token.is_some();
        cfg.app_data(web::Data::new(state))
            .configure(discovery::routes)
            .configure(authorize::routes)
            .configure(token::routes)
            .configure(introspect::routes)
            .configure(revoke::routes)
            .configure(userinfo::routes)
            .configure(resources::routes)
            .configure(permission::routes)
            .configure(decisions::routes)
            .configure(claims::routes)
            .configure(policies::routes)
            .configure(requests::routes)
            .configure(console::routes)
            .configure(ops::routes);
        if dcr {
            cfg.configure(register::routes);
        }
        cfg.default_service(web::to(not_found));
    }
}

async fn not_found() -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::not_found("there is no endpoint at this path"))
}

/// A JSON response that must not be cached (tokens, token metadata, registration secrets).
pub fn no_store_json(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body)
}

/// A resource at `path` answering GET with `handler` and every other method with 405.
pub fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(method_not_allowed("GET"))
}

/// A resource at `path` answering POST with `handler` and every other method with 405.
pub fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(method_not_allowed("POST"))
}

/// A handler answering `unsupported_method_type` (405) with the methods a path accepts.
pub fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::route()
        .to(move || async move { Err::<HttpResponse, _>(OAuthError::method_not_allowed(allow)) })
}
