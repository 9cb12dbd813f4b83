//! Integration tests: one binary driving the real routing (`uma_cedar::http::configure`) in process.

mod authorize;
mod discovery;
mod helpers;
mod introspect;
mod permission;
mod policies;
mod register;
mod resources;
mod revoke;
mod token;
mod uma_grant;
