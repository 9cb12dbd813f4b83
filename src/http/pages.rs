//! Placeholder: implemented in its own change.

#[allow(unused_imports)]
use actix_web::web;

#[allow(dead_code)]
pub fn routes(_cfg: &mut web::ServiceConfig) {}
