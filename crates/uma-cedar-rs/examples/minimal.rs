//! The README's "For resource servers" example, compiled with the others (`tests/blackbox/test_rs_library.py`
//! checks that the README shows exactly this `main`): one statement, served only with an RPT that grants `view`.
//! Setup as in the README's walk-through, plus `uma-cedar client add --id bank-rs --secret bank-rs-secret-0123`.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use uma_cedar_rs::{Config, Granted, Required, Resource, ResourceServer, actix::UmaProtect};

// One screen, as the README shows it (rustfmt would spread it over three).
#[rustfmt::skip]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::new("http://127.0.0.1:8081", "bank-rs", "bank-rs-secret-0123", "bank")?;
    let rs = Arc::new(ResourceServer::new(config)); // discovery and the PAT come on first use
    let id = rs.register("statement", &Resource::new("November statement", &["view"]))?;
    let protect = UmaProtect::new(rs, move |_| Some(vec![Required::new(id.clone(), &["view"])]));
    let app = move || App::new().wrap(protect.clone()).route("/statement", web::get().to(statement));
    let server = async { HttpServer::new(app).bind("127.0.0.1:8000")?.run().await };
    Ok(actix_web::rt::System::new().block_on(server)?)
}

async fn statement(granted: Granted) -> String {
    format!("served with {:?}", granted.permissions)
}
