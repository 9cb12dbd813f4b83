//! The OAuth side of the domain layer: protocol values as types and the rules about clients, free of HTTP and
//! SQL. Nothing here may import the web framework or the SQLite driver, nor any module of the HTTP layer: the web layer
//! parses requests into these types and the store maps its rows to them.

pub mod authorization_code;
pub mod authorize;
pub mod client_auth;
pub mod client_credentials;
pub mod housekeeping;
pub mod introspection;
pub mod presented;
pub mod refresh;
pub mod registration;
pub mod revocation;
pub mod token;

pub use crate::protocol::{client, types};
pub use crate::secret::{
    AccessToken, AuthCode, ClientSecret, InitialAccessToken, Password, Pct, RefreshToken, Ticket,
};
pub use client::Client;
pub use types::{AuthMethod, GrantType};
