//! uma-cedar: a User-Managed Access (UMA 2.0) authorization server whose resource owners write their sharing
//! policies in Cedar.
//!
//! Layout (one external dependency per boundary; the README's Architecture section has the layering):
//! - [`server`]: the top: the binary's entry point and the HTTP server, above [`app`] and [`cli`];
//! - [`app`]: the composition root, which builds the [`http::AppState`] from the settings;
//! - [`http`]: actix-web endpoints, request parsing and the mapping of [`error::OAuthError`] to responses;
//! - [`uma`]: UMA protocol logic against the storage traits and a [`context::Context`], with no HTTP or SQL;
//! - [`store`]: SQLite through rusqlite, behind typed transactions and the traits of [`store::traits`];
//! - [`crypto`]: openssl, josekit and argon2;
//! - [`policy`]: cedar-policy (schema, validation, decisions);
//! - [`oauth`]: the OAuth side of the domain layer (grant types, auth methods, typed token requests, the
//!   client model and its rules, client authentication), without HTTP or SQL;
//! - [`config`], [`clock`], [`scope`], [`protocol`], [`secret`], [`issue`], [`keyring`], [`throttle`]: plain
//!   Rust in between;
//! - [`owner`]: the owner's services (sharing policies, the decision log), against the storage traits;
//! - [`claims`]: verification of claim tokens pushed to the UMA grant (ureq only in [`claims::fetch`]);
//! - [`notify`]: owners' notifications by webhook from a durable outbox (ureq only in [`notify::send`]);
//! - [`cli`]: the admin commands behind the `uma-cedar` binary;
//! - [`ops`]: metrics, log output and request ids for operators (plain values and atomics).

pub mod app;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod crypto;
pub mod error;
pub mod http;
pub mod issue;
pub mod keyring;
pub mod notify;
pub mod oauth;
pub mod ops;
pub mod owner;
pub mod policy;
pub mod protocol;
pub mod scope;
pub mod secret;
pub mod server;
pub mod store;
pub mod throttle;
pub mod uma;
