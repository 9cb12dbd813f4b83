//! The owner's side of the server: the services a resource owner uses, whatever the door (the policy and
//! decision-log HTTP APIs, the CLI, and the approvals and console built on them).
//!
//! - [`policies`]: the owner's sharing policies, validated on every write and cached per owner for decisions;
//! - [`decisions`]: reading the decision log of the owner's resources;
//! - [`access`]: who can use each of her resources, with which scopes, by which policy;
//! - [`apps`]: her connected applications (PAT and token holders), revocable per client;
//! - [`share`]: the console's share form turned into a named, commented policy;
//! - [`impact`]: what a change to her policies would newly allow or deny, before it is made.
//!
//! Plain Rust against the storage traits of [`crate::store::traits`]; Cedar only through [`crate::policy`].
//! No actix-web and no rusqlite here. Nothing in this module may read or change one owner's data on behalf of
//! another.

pub mod access;
pub mod apps;
pub mod decisions;
pub mod impact;
pub mod policies;
pub mod share;

pub use policies::{Policies, PolicyError, PushOutcome, Pushed};
