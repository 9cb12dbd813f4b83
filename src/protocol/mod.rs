//! Plain protocol values shared by the layers: the grant types and client authentication methods
//! ([`types`]), the one model of a registered client ([`client`]) and the signing algorithms ([`alg`], which
//! the settings name and [`crate::crypto`] implements). The store maps its rows to them and the OAuth domain
//! ([`crate::oauth`], which re-exports them) works with them, so neither imports the other for them. Nothing here does I/O or imports a module above plain values.

pub mod alg;
pub mod client;
pub mod types;
