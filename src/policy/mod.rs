//! Owners' sharing policies in Cedar: the only module that talks to cedar-policy. Everything else uses the
//! plain Rust types it exports.
//!
//! - [`PolicySchema`]: the published vocabulary (base schema built in, or an admin's extension);
//! - [`validate`]: named sources checked against it, with located [`Diagnostic`]s rendered by [`render`];
//! - [`compile`] an owner's sources into a [`Compiled`] set, cached per owner by [`PolicyCache`];
//! - [`decide`] one (requesting party, resource, scope): [`Decision::Permit`], [`Decision::NeedInfo`] (the
//!   claims that could help, read off the policies by partial evaluation), [`Decision::Ask`] (only `@ask`
//!   permits apply: the owner decides) or [`Decision::Deny`];
//! - [`summarize`]: a readable "who, which scopes, which resources, until" of each policy in a source;
//! - [`impact`]: what a change of set newly allows or denies, and proofs that a set never allows what a
//!   query describes, by Cedar's symbolic compiler and the `cvc5` solver;
//! - [`approval_policy`]: the Cedar text of an owner's approval of one held request.
//!
//! This module must never let a request's input reach the context or the resource (only verified claims
//! become principal attributes), never evaluate more than the one set it is handed, and never turn an
//! evaluation error into anything but a deny.

mod approval;
mod cache;
mod decide;
mod diagnostic;
pub mod impact;
mod limits;
mod schema;
mod summary;
mod validate;

pub use approval::{
    Approval, approval_policy, date as approval_date, escape as cedar_string,
    one_line as comment_text,
};
pub use cache::PolicyCache;
pub use decide::{
    ANONYMOUS_PRINCIPAL, ASK, Claims, ClaimsError, Compiled, ContextFacts, Decision, EvalError,
    PolicyRef, ResourceFacts, compile, decide, decide_among, refused,
};
pub use diagnostic::{Diagnostic, Kind, Severity, render};
pub use limits::{
    MAX_EXPR_DEPTH, MAX_NESTING, MAX_POLICY_BYTES, MAX_SCHEMA_BYTES, MAX_SET_BYTES,
    MAX_SOURCE_BYTES, MAX_UNARY_RUN, check_set_size,
};
pub use schema::{BASE_SCHEMA, BASE_SCHEMA_NAME, ClaimAttr, ClaimType, PolicySchema, SchemaError};
pub use summary::{Only, Summary, Who, summarize};
pub use validate::{ScopeCheck, Source, Validation, validate};
