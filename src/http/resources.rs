//! Resource registration endpoint (Federated Authorization §3): routes, PAT check, parsing of the body and
//! rendering; the rules (scoping to the PAT's owner and resource server, the 404 for anyone else's resource,
//! what a description may contain) are [`uma::resources`]'.
//!
//! This module must never look a resource up itself.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::bearer::{Pat, bearer_token, with_pat};
use super::forms::read_json;
use super::{AppState, console, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::uma::{self, Requester};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The specification's examples write the collection as `rreg/`; accept it with and without the slash.
    cfg.service(
        web::resource(vec![
            paths::RESOURCES.to_owned(),
            format!("{}/", paths::RESOURCES),
        ])
        .route(web::get().to(list))
        .route(web::post().to(create))
        .default_service(method_not_allowed("GET, POST")),
    );
    cfg.service(
        web::resource(format!("{}/{{id}}", paths::RESOURCES))
            .route(web::get().to(read))
            .route(web::put().to(update))
            .route(web::delete().to(remove))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    );
}

fn path_id(req: &HttpRequest) -> String {
    req.match_info().query("id").to_owned()
}

fn requester(pat: &Pat) -> Requester<'_> {
    Requester {
        owner: &pat.owner,
        resource_server: &pat.client_id,
    }
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    bearer_token(&req)?;
    // Read before the PAT is checked (one trip to the blocking pool); a bad body is reported after the PAT.
    let body = read_json(&req, payload, &state).await;
    let id = with_pat(&req, &state, move |st, pat| {
        let description = uma::resources::parse_description(body?)?;
        st.store
            .write(|tx| uma::resources::create(&st.context(), tx, requester(&pat), description))
    })
    .await?;
    let location = format!("{}/{id}", state.settings.endpoint(paths::RESOURCES));
    let location = HeaderValue::from_str(&location).map_err(|e| OAuthError::server_error(&e))?;
    let mut response = no_store_json(StatusCode::CREATED, &registered(&state, &id));
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let ids = with_pat(&req, &state, move |st, pat| {
        st.store
            .read(|r| Ok(uma::resources::list(r, requester(&pat))))?
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &json!(ids)))
}

async fn read(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let id = path_id(&req);
    let body = with_pat(&req, &state, move |st, pat| {
        st.store
            .read(|r| Ok(uma::resources::read(r, requester(&pat), &id)))?
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &body))
}

async fn update(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    bearer_token(&req)?;
    // Read before the PAT is checked (one trip to the blocking pool); a bad body is reported after the PAT.
    let body = read_json(&req, payload, &state).await;
    let id = path_id(&req);
    let id = with_pat(&req, &state, move |st, pat| {
        let description = uma::resources::parse_description(body?)?;
        st.store.write(|tx| {
            uma::resources::replace(&st.context(), tx, requester(&pat), &id, &description)
        })?;
        Ok(id)
    })
    .await?;
    Ok(no_store_json(StatusCode::OK, &registered(&state, &id)))
}

/// The answer to a create or update (F §3.2.1, §3.2.3): the resource's `_id`, and `user_access_policy_uri`, the
/// owner console's share page for that resource, where the resource server may send its owner to set who may
/// use it right away.
fn registered(state: &AppState, id: &str) -> serde_json::Value {
    let share: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("resource", id)
        .finish();
    json!({
        "_id": id,
        "user_access_policy_uri": format!("{}?{share}", state.settings.endpoint(console::urls::SHARE)),
    })
}

async fn remove(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let id = path_id(&req);
    with_pat(&req, &state, move |st, pat| {
        st.store
            .write(|tx| uma::resources::delete(tx, requester(&pat), &id))
    })
    .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
