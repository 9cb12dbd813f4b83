//! Plain protocol values shared by the layers: the grant types and client authentication methods
//! ([`types`]), the one model of a registered client ([`client`]), grants, tokens and codes ([`tokens`]),
//! RPTs and PCTs ([`uma`]), local accounts ([`user`]), the kinds of webhook events ([`events`]) and the signing algorithms ([`alg`], which the settings
//! name and [`crate::crypto`] implements). The store maps its rows to them and the OAuth domain
//! ([`crate::oauth`], which re-exports them) works with them, so neither imports the other for them. Nothing
//! here does I/O or imports a module above plain values.

pub mod alg;
pub mod client;
pub mod decisions;
pub mod events;
pub mod requests;
pub mod tokens;
pub mod types;
pub mod uma;
pub mod upstream;
pub mod user;
