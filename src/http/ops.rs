//! Operations endpoints and the middleware every request passes through.
//!
//! - `GET /healthz`: the process is up and serving (200, a tiny body; touches nothing else).
//! - `GET /readyz`: the server can do its work: a real write to the database commits, and the signing keys
//!   in force load. 503 with a JSON `reason` otherwise, so a load balancer takes the instance out.
//! - `GET /metrics`: Prometheus text format 0.0.4 ([`crate::ops::metrics`]). When `metrics_token` is set, only
//!   a caller presenting it as a bearer token gets them.
//! - [`observe`]: gives each request its id (`X-Request-Id`, taken when well formed, else generated, and
//!   echoed in the response), counts and times it by route pattern and status, and writes its access log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{AppState, get_only};
use crate::ops::logging::{self, Access};
use crate::ops::metrics;
use crate::ops::request_id::{self, RequestId};

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// The content type of the text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(HEALTHZ, healthz))
        .service(get_only(READYZ, readyz))
        .service(get_only(METRICS, scrape));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

/// Why the server is not ready, in words for the operator (no internals beyond what failed).
fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "unavailable", "reason": reason}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checked = state
        .run(|st| {
            let now = st.now();
            if let Err(e) = st.store.write(|tx| tx.mark_ready(now)) {
                log::warn!("readiness: the database refused a write: {e}");
                return Ok(Err("the database does not accept writes"));
            }
            if let Err(e) = st.keys.current(now) {
                log::warn!("readiness: the signing keys do not load: {e}");
                return Ok(Err("the signing keys do not load"));
            }
            Ok(Ok(()))
        })
        .await;
    match checked {
        Ok(Ok(())) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"status": "ready"})),
        Ok(Err(reason)) => not_ready(reason),
        Err(_) => not_ready("the readiness check could not run"),
    }
}

/// True when the settings protect the metrics and `req` does not carry their token.
fn metrics_refused(state: &AppState, req: &HttpRequest) -> bool {
    let Some(token) = &state.settings.metrics_token else {
        return false;
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    !crate::crypto::constant_time_eq(presented.as_bytes(), token.secret().as_bytes())
}

async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if metrics_refused(&state, &req) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"error": "invalid_token", "error_description": "the metrics need the bearer token set as `metrics_token`"}));
    }
    let backlog = state
        .run(|st| Ok(st.store.read(|r| r.outbox_backlog())))
        .await
        .ok()
        .and_then(|read| {
            read.map_err(|e| log::warn!("metrics: cannot read the outbox backlog: {e}"))
                .ok()
        });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, METRICS_CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics::render(backlog))
}

/// The request id [`observe`] gave `req`, if it passed through it.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
}

fn new_request_id(req: &ServiceRequest) -> RequestId {
    let incoming = req
        .headers()
        .get(request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse);
    if let Some(id) = incoming {
        return id;
    }
    req.app_data::<web::Data<AppState>>()
        .and_then(|st| st.random.string(16).ok())
        .and_then(|s| RequestId::parse(&s))
        .unwrap_or_else(RequestId::sequential)
}

/// The middleware around every request: request id, metrics, access log.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let id = new_request_id(&req);
    req.extensions_mut().insert(id.clone());
    let method = metrics::method_label(req.method().as_str());
    // What only the access line shows is kept only when that line is written.
    let logged = logging::access_enabled().then(|| {
        (
            req.path().to_owned(),
            req.peer_addr().map(|a| a.ip().to_string()),
        )
    });
    let answered = next.call(req).await;
    let (status, route) = match &answered {
        Ok(res) => (res.status(), res.request().match_pattern()),
        Err(e) => (e.as_response_error().status_code(), None),
    };
    let route = route.unwrap_or_else(|| metrics::UNMATCHED_ROUTE.to_owned());
    let elapsed = start.elapsed();
    metrics::http_request(method, &route, status.as_u16(), elapsed);
    if let Some((path, peer)) = logged {
        logging::access(&Access {
            request_id: id.as_str(),
            peer,
            method,
            path: &path,
            route: &route,
            status: status.as_u16(),
            duration: elapsed,
        });
    }
    let mut res = answered?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut()
            .insert(header::HeaderName::from_static(request_id::HEADER), value);
    }
    Ok(res)
}
