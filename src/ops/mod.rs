//! What operators watch: metrics ([`metrics`]), log output and request ids ([`logging`], [`request_id`]).
//! Plain values and process-wide atomics, used by the HTTP layer and by small hooks in the store and policy
//! cache; nothing here does I/O on a request's path except writing its log line.

pub mod logging;
pub mod metrics;
pub mod request_id;
