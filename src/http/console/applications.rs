//! "Connected applications": the clients and resource servers holding live tokens of the owner's, read and
//! revoked through [`crate::owner::apps`]. Revoking one kills every grant she gave it (and every token under
//! them); an application that holds nothing of hers, whether another owner's or unknown, is a 404.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{AppState, Nav, Out, act, day, get_only, post_only, urls, view};
use crate::owner::apps;

/// Longest client id the revoke path accepts.
const MAX_CLIENT_ID: usize = 256;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(urls::APPLICATIONS, page));
    cfg.service(post_only(
        "/console/applications/{client_id}/revoke",
        revoke,
    ));
}

/// The address of the form revoking `client_id`.
fn revoke_url(client_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!("{}/{id}/revoke", urls::APPLICATIONS)
}

struct AppItem {
    name: String,
    client_id: String,
    kind: &'static str,
    scopes: String,
    since: String,
    offline: bool,
    revoke_url: String,
}

#[derive(Template)]
#[template(path = "console/applications.html")]
struct ApplicationsPage {
    title: &'static str,
    nav: Nav,
    /// Shown after a revocation.
    revoked: bool,
    apps: Vec<AppItem>,
}

async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let revoked = super::super::forms::query(&req)
        .ok()
        .is_some_and(|q| q.get("done") == Some("revoked"));
    view(&req, &state, move |st, owner| {
        let now = st.now();
        let listed = st.store.read(|c| apps::list(c, &owner.username, now))?;
        let apps = listed
            .into_iter()
            .map(|a| AppItem {
                name: a.client_name.clone().unwrap_or_else(|| a.client_id.clone()),
                kind: a.kind.label(),
                scopes: a.scopes.iter().cloned().collect::<Vec<_>>().join(" "),
                since: day(a.issued_at),
                offline: a.offline,
                revoke_url: revoke_url(&a.client_id),
                client_id: a.client_id,
            })
            .collect();
        Ok(Out::page(&ApplicationsPage {
            title: "Connected applications",
            nav: Nav::of(owner, "applications"),
            revoked,
            apps,
        }))
    })
    .await
}

async fn revoke(
    req: HttpRequest,
    client_id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let client_id = client_id.into_inner();
    act(&req, payload, &state, move |st, owner, _| {
        if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
            return Ok(Out::not_found("No such connected application."));
        }
        let now = st.now();
        let revoked = st
            .store
            .write(|tx| apps::revoke(tx, &owner.username, &client_id, now))?;
        if revoked == 0 {
            return Ok(Out::not_found("No such connected application."));
        }
        Ok(Out::SeeOther(format!(
            "{}?done=revoked",
            urls::APPLICATIONS
        )))
    })
    .await
}
