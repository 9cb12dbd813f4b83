//! actix-web glue: [`UmaProtect`], a middleware that runs [`ResourceServer::check`] on a blocking thread for
//! every request its resolver says is protected, and [`Granted`] as an extractor for the handlers behind it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{App, HttpServer, web};
//! use uma_cedar_rs::{Config, Granted, Required, Resource, ResourceServer, actix::UmaProtect};
//!
//! # fn main() -> std::io::Result<()> { actix_web::rt::System::new().block_on(async {
//! let config = Config::new("https://as.example.com", "bank-rs", "secret", "bank").map_err(std::io::Error::other)?;
//! let rs = Arc::new(ResourceServer::new(config));
//! let id = rs.register("statement", &Resource::new("Statement", &["view"])).map_err(std::io::Error::other)?;
//! let protect = UmaProtect::new(Arc::clone(&rs), move |_req| Some(vec![Required::new(id.clone(), &["view"])]));
//! HttpServer::new(move || {
//!     App::new().wrap(protect.clone()).route("/statement", web::get().to(|g: Granted| async move {
//!         format!("{} permissions", g.permissions.len())
//!     }))
//! }).bind(("127.0.0.1", 8000))?.run().await
//! # }) }
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};

use crate::challenge::Refusal;
use crate::grant::{Granted, Required};
use crate::server::ResourceServer;

/// Says what a request needs; `None` leaves it unprotected.
pub type Resolve = dyn Fn(&ServiceRequest) -> Option<Vec<Required>> + Send + Sync;

/// The middleware factory: wrap an `App` or a `scope` with it.
#[derive(Clone)]
pub struct UmaProtect {
    rs: Arc<ResourceServer>,
    resolve: Arc<Resolve>,
}

impl UmaProtect {
    pub fn new(
        rs: Arc<ResourceServer>,
        resolve: impl Fn(&ServiceRequest) -> Option<Vec<Required>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            rs,
            resolve: Arc::new(resolve),
        }
    }
}

/// The HTTP answer for a refusal.
pub fn refusal_response(refusal: &Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = HttpResponse::build(status);
    for (name, value) in refusal.headers() {
        response.insert_header((name, value));
    }
    response
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(refusal.body())
}

impl<S, B> Transform<S, ServiceRequest> for UmaProtect
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = UmaProtectService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(UmaProtectService {
            service: Rc::new(service),
            rs: Arc::clone(&self.rs),
            resolve: Arc::clone(&self.resolve),
        }))
    }
}

/// The middleware itself, one per worker.
pub struct UmaProtectService<S> {
    service: Rc<S>,
    rs: Arc<ResourceServer>,
    resolve: Arc<Resolve>,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for UmaProtectService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let Some(required) = (self.resolve)(&req) else {
            return Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) });
        };
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let rs = Arc::clone(&self.rs);
        Box::pin(async move {
            // The checks block on HTTP to the AS: never on the async worker.
            let decided =
                actix_web::web::block(move || rs.check(authorization.as_deref(), &required)).await;
            let refusal = match decided {
                Ok(Ok(granted)) => {
                    req.extensions_mut().insert(granted);
                    return Ok(service.call(req).await?.map_into_left_body());
                }
                Ok(Err(refusal)) => refusal,
                Err(e) => {
                    log::error!("the UMA check could not run: {e}");
                    Refusal::Unreachable
                }
            };
            Ok(req
                .into_response(refusal_response(&refusal))
                .map_into_right_body())
        })
    }
}

impl FromRequest for Granted {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The permissions the middleware accepted; a handler outside the middleware gets a 500 (a wiring bug).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let granted = req.extensions().get::<Granted>().cloned();
        ready(granted.ok_or_else(|| {
            log::error!("`Granted` extracted on a route the UMA middleware does not protect");
            actix_web::error::ErrorInternalServerError("internal error")
        }))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn a_refusal_becomes_its_status_and_headers() {
        let header = r#"UMA realm="bank", as_uri="http://as", ticket="t""#.to_owned();
        let response = refusal_response(&Refusal::Challenge(header.clone()));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            header.as_str()
        );
        assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
        let response = refusal_response(&Refusal::Unreachable);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get("warning").is_some());
        let body = to_bytes(response.into_body()).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("authorization_server_unreachable"));
    }

    #[actix_web::test]
    async fn unprotected_routes_pass_and_protected_ones_are_refused_without_an_as() {
        use actix_web::{App, test, web};
        let config = crate::Config::new("http://127.0.0.1:9", "rs", "s", "bank").unwrap();
        let rs = Arc::new(ResourceServer::new(config));
        let protect = UmaProtect::new(rs, |req: &ServiceRequest| {
            (req.path() != "/open").then(|| vec![Required::new("r", &["view"])])
        });
        let app = test::init_service(
            App::new()
                .wrap(protect)
                .route("/open", web::get().to(|| async { "open" }))
                .route(
                    "/closed",
                    web::get().to(|g: Granted| async move { format!("{g:?}") }),
                ),
        )
        .await;
        let open =
            test::call_service(&app, test::TestRequest::get().uri("/open").to_request()).await;
        assert_eq!(open.status(), StatusCode::OK);
        let closed =
            test::call_service(&app, test::TestRequest::get().uri("/closed").to_request()).await;
        assert_eq!(closed.status(), StatusCode::FORBIDDEN);
        assert!(closed.headers().get("warning").is_some());
    }

    #[actix_web::test]
    async fn granted_outside_the_middleware_is_an_error_not_an_empty_grant() {
        use actix_web::{App, test, web};
        let handler = |g: Granted| async move { format!("{g:?}") };
        let app = test::init_service(App::new().route("/bare", web::get().to(handler))).await;
        let bare =
            test::call_service(&app, test::TestRequest::get().uri("/bare").to_request()).await;
        assert_eq!(bare.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
