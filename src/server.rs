//! The top of the program: the binary's entry point, and starting the HTTP server on the configured
//! address. It sits above both the composition root ([`crate::app`]) and the admin commands ([`crate::cli`]),
//! handing the latter the way to serve, so nothing below imports it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{App, HttpServer, middleware};

use crate::app::{self, StartError};
use crate::cli::{self, Failure};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::http::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The data directory holds the private signing keys and is open to other users.
    #[error(
        "the data directory `{}` is {} by other users (mode {mode:04o}), and it holds the private signing keys",
        path.display(),
        open_to(*mode)
    )]
    OpenDataDir { path: PathBuf, mode: u32 },
    #[error("cannot use data directory `{}`: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("server stopped with an error: {0}")]
    Run(std::io::Error),
    #[error("cannot start the webhook delivery thread: {0}")]
    Notifications(std::io::Error),
}

fn open_to(mode: u32) -> &'static str {
    match (mode & 0o044 != 0, mode & 0o022 != 0) {
        (true, true) => "readable and writable",
        (false, true) => "writable",
        _ => "readable",
    }
}

/// The `uma-cedar` binary: the admin commands, with `serve` running [`serve`].
pub fn main() -> ExitCode {
    cli::main(run)
}

/// The `serve` command: serves until interrupted, or says why it could not, with a hint at the fix.
pub fn run(settings: Settings) -> Result<(), Failure> {
    let listen = settings.listen;
    let data_dir = settings.data_dir.display().to_string();
    let system = actix_web::rt::System::new();
    system.block_on(serve(settings)).map_err(|e| {
        let hint = match &e {
            ServeError::Bind { .. } => Some(format!(
                "is another process using {listen}? Choose another address with --listen"
            )),
            ServeError::Start(StartError::Claims(_) | StartError::Config(_)) => Some(
                "fix the `[[trusted_issuers]]` entry's `jwks_uri` file in the config file"
                    .to_owned(),
            ),
            ServeError::OpenDataDir { .. } => Some(format!(
                "make it private with `chmod 700 {data_dir}`, or start anyway with \
                 --allow-open-data-dir (UMA_CEDAR_ALLOW_OPEN_DATA_DIR=1, or \
                 `allow_open_data_dir = true` in the config file)"
            )),
            ServeError::Start(_) | ServeError::DataDir { .. } => Some(
                "check that the data directory is readable and writable by this user".to_owned(),
            ),
            ServeError::Run(_) | ServeError::Notifications(_) => None,
        };
        let failure = Failure::new(e.to_string());
        match hint {
            Some(h) => failure.help(h),
            None => failure,
        }
    })
}

/// Refuses (or, when `allow` is set, warns about) an existing data directory that group or others can read or
/// write. A directory that does not exist yet is created private.
pub fn check_data_dir(dir: &Path, allow: bool) -> Result<(), ServeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => meta.permissions().mode() & 0o7777,
            // Opening the store says what is wrong with something that is not a directory.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ServeError::DataDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        };
        if mode & 0o066 != 0 {
            let err = ServeError::OpenDataDir {
                path: dir.to_path_buf(),
                mode,
            };
            if !allow {
                return Err(err);
            }
            log::warn!("{err}; starting anyway (allow_open_data_dir is set)");
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, allow);
    Ok(())
}

/// Binds the listening socket, then opens the data directory, and serves until interrupted. Binding comes
/// first so that a busy port is reported before anything is created, migrated or generated on disk.
pub async fn serve(settings: Settings) -> Result<(), ServeError> {
    crate::ops::logging::set_format(settings.log_format);
    let addr = settings.listen;
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    check_data_dir(&settings.data_dir, settings.allow_open_data_dir)?;
    let state = app::open(settings, Arc::new(SystemClock))?;
    log::info!(
        "uma-cedar {} serving issuer {} on http://{addr} with data in `{}`",
        env!("CARGO_PKG_VERSION"),
        state.settings.issuer,
        state.settings.data_dir.display()
    );
    spawn_housekeeping(state.clone());
    let notifications = app::start_notifications(&state).map_err(ServeError::Notifications)?;
    log::info!(
        "delivering notifications to {} webhook(s)",
        state.settings.webhooks.len()
    );
    let server = HttpServer::new(move || {
        App::new()
            // Request ids, metrics and the access log ([`http::ops::observe`]).
            .wrap(middleware::from_fn(http::ops::observe))
            .configure(http::configure(state.clone()))
    })
    .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
    .listen(listener)
    .map_err(|source| ServeError::Bind { addr, source })?;
    let served = server.run().await.map_err(ServeError::Run);
    // What is still queued stays in the outbox for the next start.
    notifications.stop();
    served
}

/// Blocking threads per HTTP worker (actix-web starts one worker per core): every request's store, Cedar and
/// signing work runs on one of them. actix-web's default (512 shared by the workers) lets every connection in
/// flight have its own thread; on 2 cores at 64 connections that cost more in thread switches (kernel futex and
/// scheduler time) than the work itself (see BENCHMARKS.md: 4, 8 and 16 measured alike, 256 worse). Past this
/// many, requests queue for a thread. It leaves room for the few that wait: on the single writer's group
/// commit, or on another issuer's key set fetched for a claim token (see `crate::claims`). The store keeps as
/// many read connections, so that none is opened per request.
const BLOCKING_THREADS_PER_WORKER: usize = crate::store::CONNECTIONS_PER_CORE;

/// How often expired rows are deleted.
const HOUSEKEEPING_SECONDS: u64 = 600;

/// Deletes expired and spent rows and the decision log past its retention every [`HOUSEKEEPING_SECONDS`]
/// ([`crate::oauth::housekeeping`]), so the database does not grow with traffic. Failures are logged and
/// retried at the next round.
fn spawn_housekeeping(state: AppState) {
    let retention = crate::oauth::housekeeping::Retention::from_settings(&state.settings);
    actix_web::rt::spawn(async move {
        let mut every =
            actix_web::rt::time::interval(std::time::Duration::from_secs(HOUSEKEEPING_SECONDS));
        loop {
            every.tick().await;
            match state
                .run(move |st| {
                    Ok(crate::oauth::housekeeping::purge(
                        &st.store,
                        &retention,
                        st.now(),
                    )?)
                })
                .await
            {
                Ok(0) => {}
                Ok(n) => log::info!("housekeeping: deleted {n} expired row(s)"),
                Err(e) => log::warn!("housekeeping failed: {e}"),
            }
        }
    });
}
