//! "Requests": the owner's held requests (UMA Grant §3.3.6 from the owner's side), pending ones with Approve
//! (optionally until a date) and Deny, through [`OwnerRequests`], the service of the CLI and the requests API.
//! Another owner's request id is a 404, like an unknown one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::{AppState, Nav, Out, act, day, method_not_allowed, urls, view};
use crate::error::OAuthError;
use crate::http::requests::owner_requests;
use crate::owner::PolicyError;
use crate::uma::requests::{RequestError, RequestView, parse_until};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(urls::REQUESTS)
            .route(web::get().to(list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource(format!("{}/{{id}}/approve", urls::REQUESTS))
            .route(web::post().to(approve))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource(format!("{}/{{id}}/deny", urls::REQUESTS))
            .route(web::post().to(deny))
            .default_service(method_not_allowed("POST")),
    );
}

struct Item {
    id: String,
    who: String,
    client: String,
    resource: String,
    scopes: String,
    state: String,
    created: String,
    expires: String,
    policy: Option<String>,
    approve_url: String,
    deny_url: String,
}

impl From<RequestView> for Item {
    fn from(r: RequestView) -> Self {
        let who = r
            .email
            .clone()
            .or_else(|| r.name.clone())
            .unwrap_or_else(|| match &r.party {
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" at "),
                other => other.to_string(),
            });
        let url = format!("{}/{}", urls::REQUESTS, r.id);
        Self {
            approve_url: format!("{url}/approve"),
            deny_url: format!("{url}/deny"),
            who,
            client: r.client_id,
            resource: r.resource_id,
            scopes: r.scopes.join(", "),
            state: r.state,
            created: day(r.created_at),
            expires: day(r.expires_at),
            policy: r.policy,
            id: r.id,
        }
    }
}

#[derive(Template)]
#[template(path = "console/requests.html")]
struct RequestsPage {
    title: &'static str,
    nav: Nav,
    notice: Option<String>,
    pending: Vec<Item>,
    decided: Vec<Item>,
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let notice = super::super::forms::query(&req)
        .ok()
        .and_then(|q| match q.get("done") {
            Some("approved") => Some("Approved: the client's next poll gets the permission."),
            Some("denied") => Some("Denied: the client's next poll is refused."),
            _ => None,
        })
        .map(str::to_owned);
    view(&req, &state, move |st, owner| {
        let all = owner_requests(st, None)
            .list(&owner.username, st.now())
            .map_err(into_oauth)?;
        let (pending, decided): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|r| r.state == "pending");
        Ok(Out::page(&RequestsPage {
            title: "Requests",
            nav: Nav::of(owner, "requests"),
            notice,
            pending: pending.into_iter().map(Item::from).collect(),
            decided: decided.into_iter().map(Item::from).collect(),
        }))
    })
    .await
}

fn into_oauth(e: RequestError) -> OAuthError {
    match e {
        RequestError::Store(e) | RequestError::Policy(PolicyError::Store(e)) => e.into(),
        other => OAuthError::invalid_request(other.to_string()),
    }
}

/// A refused decision as a page: 404 for a request that is not the owner's, 400 for the rest.
fn refused(e: RequestError) -> Result<Out, OAuthError> {
    match e {
        RequestError::NotFound(_) => Ok(Out::not_found("You have no request with that id.")),
        RequestError::Store(e) | RequestError::Policy(PolicyError::Store(e)) => Err(e.into()),
        other => Ok(Out::Error {
            status: StatusCode::BAD_REQUEST,
            title: "Not done",
            message: capitalized(&other.to_string()),
        }),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

async fn approve(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let id = id.into_inner();
    let http_request_id = crate::http::ops::request_id(&req);
    act(&req, payload, &state, move |st, owner, form| {
        let until = match form.get("until").map(parse_until).transpose() {
            Ok(until) => until,
            Err(e) => return refused(e),
        };
        match owner_requests(st, http_request_id).approve(&owner.username, &id, until, st.now()) {
            Ok(_) => Ok(Out::SeeOther(format!("{}?done=approved", urls::REQUESTS))),
            Err(e) => refused(e),
        }
    })
    .await
}

async fn deny(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let id = id.into_inner();
    let http_request_id = crate::http::ops::request_id(&req);
    act(
        &req,
        payload,
        &state,
        move |st, owner, _| match owner_requests(st, http_request_id).deny(
            &owner.username,
            &id,
            st.now(),
        ) {
            Ok(_) => Ok(Out::SeeOther(format!("{}?done=denied", urls::REQUESTS))),
            Err(e) => refused(e),
        },
    )
    .await
}
