//! Integration tests: one binary driving the real routing (`uma_cedar::http::configure`) in process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

mod authorize;
mod console;
mod discovery;
mod helpers;
mod impact;
mod introspect;
mod openapi;
mod operations;
mod permission;
mod policies;
mod register;
mod requests;
mod resources;
mod revoke;
mod shapes;
mod snapshot;
mod throttle;
mod token;
mod uma_grant;
