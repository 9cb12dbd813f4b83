//! The composition root: opens the data directory and builds the services and the state the HTTP layer
//! serves with. The only module that knows every concrete implementation (the SQLite store, the key ring,
//! the claims verifier, the OS clock and RNG); everything below it is handed what it needs.
//!
//! Layers, top to bottom (a module imports only from layers below it):
//! `server` (the binary's entry point; it hands `cli` the way to serve) → `app`, `cli` → `http` (actix-web
//! only here) → `oauth`, `uma`, `owner` (domain logic; no actix-web, no rusqlite) → `policy` (Cedar),
//! `crypto`, `claims`, `store` traits → plain values (`protocol`, `config`), `clock`, `context`, `error`.
//! `store` implements the traits on SQLite and is the only module with rusqlite.

use std::sync::Arc;

use crate::claims::upstream::Upstream;
use crate::claims::{ClaimsSetupError, ClaimsVerifier};
use crate::clock::Clock;
use crate::config::Settings;
use crate::context::{OsRandom, Random};
use crate::crypto::password::HashGate;
use crate::http::AppState;
use crate::keyring::{self, KeyError, KeyRing};
use crate::notify;
use crate::owner::Policies;
use crate::policy::PolicySchema;
use crate::store::{Store, StoreError};
use crate::throttle::Throttle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The schema file does not load; the message carries its located diagnostics.
    #[error("{0}")]
    Schema(String),
    #[error(transparent)]
    Claims(#[from] ClaimsSetupError),
    /// A setting that only the component using it can check (the trusted issuers).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Opens the data directory, creating the database and the first signing key when they do not exist, and
/// builds the state every request handler shares.
pub fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
    open_with(settings, clock, Arc::new(OsRandom))
}

/// [`open`] with a chosen source of randomness (tests pin it).
pub fn open_with(
    settings: Settings,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Result<AppState, StartError> {
    let schema = PolicySchema::base_or_file(settings.schema.as_deref())
        .map_err(|e| StartError::Schema(format!("{e}:\n{}", e.render(false).trim_end())))?;
    let store = Arc::new(Store::open(&settings.data_dir)?);
    // No stored policy is read here: each owner's set is validated (when the schema changed since it was
    // written) and compiled on its first use, so start-up does not grow with the number of owners.
    let policies = Arc::new(Policies::new(schema));
    let now = clock.now();
    keyring::ensure_signing_key(&store, settings.signing_alg, now)?;
    let keys = Arc::new(KeyRing::load(store.clone(), now)?);
    let claims = Arc::new(ClaimsVerifier::from_settings(&settings, keys.clone())?);
    claims.load_local_keys(now)?;
    let upstream = Arc::new(Upstream::from_entries(&settings.trusted_issuers)?);
    let throttle = Arc::new(Throttle::new(settings.throttle_limits()));
    let password_hashes = Arc::new(HashGate::new(settings.max_concurrent_password_hashes));
    Ok(AppState {
        settings: Arc::new(settings),
        store,
        keys,
        clock,
        policies,
        claims,
        upstream,
        random,
        throttle,
        password_hashes,
    })
}

/// Starts the webhook delivery worker on its own thread, delivering the outbox of `state`'s store to the
/// configured webhooks over HTTP. It runs until [`notify::worker::Running::stop`].
pub fn start_notifications(state: &AppState) -> std::io::Result<notify::worker::Running> {
    notify::worker::Worker::new(
        state.store.clone(),
        state.clock.clone(),
        state.settings.webhooks.clone(),
        Box::new(notify::send::HttpSender::default()),
    )
    .spawn()
}
