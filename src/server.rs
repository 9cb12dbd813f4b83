//! Starting the HTTP server on the configured address.

use std::sync::Arc;

use actix_web::{App, HttpServer, middleware};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::http::{self, AppState, StartError};

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
    let state = AppState::open(settings, Arc::new(SystemClock))?;
    log::info!(
        "uma-cedar {} serving issuer {} on http://{addr} with data in `{}`",
        env!("CARGO_PKG_VERSION"),
        state.settings.issuer,
        state.settings.data_dir.display()
    );
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::Logger::new("%a \"%r\" %s %b %Dms"))
            .configure(http::configure(state.clone()))
    })
    .bind(addr)
    .map_err(|source| ServeError::Bind { addr, source })?;
    server.run().await.map_err(ServeError::Run)
}
