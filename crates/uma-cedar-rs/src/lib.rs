//! UMA 2.0 support for resource servers, made for uma-cedar and usable with any UMA authorization server that
//! issues RFC 9068 JWT RPTs or answers introspection with `permissions`.
//!
//! - [`ResourceServer`] (framework-free, blocking): discovery, the PAT (client credentials, or an owner's
//!   refresh token, [`PatGrant`]; renewed before it expires), resource registration (Federated Authorization §3), permission tickets (F §4) and RPT checks,
//!   locally against the JWK Set ([`jwt`]) or by introspection with a bounded cache ([`introspect`]).
//! - [`actix`] (feature `actix`, on by default): [`actix::UmaProtect`], a middleware answering `401` with
//!   `WWW-Authenticate: UMA realm, as_uri, ticket` (UMA Grant §3.2), and [`Granted`] as an extractor.
//!
//! When the authorization server cannot be reached, a request that needs a ticket is answered `403` with
//! `Warning: 199 - "UMA Authorization Server Unreachable"` ([`Refusal::Unreachable`]); when the permission
//! endpoint refuses to issue a ticket, `403` without one ([`Refusal::Forbidden`]).

#[cfg(feature = "actix")]
pub mod actix;
pub mod challenge;
pub mod client;
pub mod error;
pub mod grant;
pub mod introspect;
pub mod jwt;
pub mod server;

pub use challenge::{Refusal, uma_challenge};
pub use client::PatGrant;
pub use error::{Error, TokenError};
pub use grant::{Granted, Permission, Required};
pub use server::{Config, Resource, ResourceServer, Verification};
