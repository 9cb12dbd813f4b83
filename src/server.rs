//! Starting the HTTP server on the configured address.

use std::sync::Arc;

use actix_web::{App, HttpServer, middleware};

use crate::app::{self, StartError};
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
    #[error("server stopped with an error: {0}")]
    Run(std::io::Error),
}

/// Opens the data directory and serves until interrupted.
pub async fn serve(settings: Settings) -> Result<(), ServeError> {
    let addr = settings.listen;
    let state = app::open(settings, Arc::new(SystemClock))?;
    log::info!(
        "uma-cedar {} serving issuer {} on http://{addr} with data in `{}`",
        env!("CARGO_PKG_VERSION"),
        state.settings.issuer,
        state.settings.data_dir.display()
    );
    spawn_housekeeping(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::Logger::new("%a \"%r\" %s %b %Dms"))
            .configure(http::configure(state.clone()))
    })
    .bind(addr)
    .map_err(|source| ServeError::Bind { addr, source })?;
    server.run().await.map_err(ServeError::Run)
}

/// How often expired rows are deleted.
const HOUSEKEEPING_SECONDS: u64 = 600;

/// Deletes expired tokens, tickets and the like every [`HOUSEKEEPING_SECONDS`], so the database does not grow
/// with traffic. Failures are logged and retried at the next round.
fn spawn_housekeeping(state: AppState) {
    actix_web::rt::spawn(async move {
        let mut every =
            actix_web::rt::time::interval(std::time::Duration::from_secs(HOUSEKEEPING_SECONDS));
        loop {
            every.tick().await;
            match state
                .run(|st| Ok(crate::store::purge_expired(&st.store, st.now())?))
                .await
            {
                Ok(0) => {}
                Ok(n) => log::info!("housekeeping: deleted {n} expired row(s)"),
                Err(e) => log::warn!("housekeeping failed: {e}"),
            }
        }
    });
}
