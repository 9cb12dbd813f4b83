//! "My resources": the owner's registered resources grouped by the resource server that registered them, each
//! with who can currently use it.
//!
//! The owner's resources are listed through the scoped resource reads the protection API uses (per resource
//! server, then by id), so nothing of another owner can appear. Who can use each one is read off her policies by
//! [`crate::owner::access`].

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{AppState, Nav, Out, Owner, urls, view};
use crate::error::OAuthError;
use crate::owner::access::{self, Holder};
use crate::protocol::uma::Resource;
use crate::store::ResourceRead;
use crate::store::clients::{self, Client};

/// The owner's resources per resource server: (the server, its resources of hers, oldest first), servers by id.
pub(super) fn owner_resources(
    state: &AppState,
    owner: &str,
) -> Result<Vec<(Client, Vec<Resource>)>, OAuthError> {
    Ok(state.store.read(|c| {
        let mut groups = Vec::new();
        for client in clients::list(c)? {
            let ids = c.list_scoped(owner, &client.client_id)?;
            if ids.is_empty() {
                continue;
            }
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let resources = c.get_many_scoped(owner, &client.client_id, &ids)?;
            groups.push((client, resources));
        }
        Ok::<_, crate::store::StoreError>(groups)
    })?)
}

/// One of the owner's resources, found by id among hers only.
pub(super) fn owner_resource(
    state: &AppState,
    owner: &str,
    id: &str,
) -> Result<Option<Resource>, OAuthError> {
    Ok(owner_resources(state, owner)?
        .into_iter()
        .flat_map(|(_, resources)| resources)
        .find(|r| r.id == id))
}

/// How a resource is named on a page: its registered name, or its id.
pub(super) fn label(resource: &Resource) -> String {
    resource
        .description
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| resource.id.clone())
}

pub(super) fn server_label(client: &Client) -> String {
    super::authorize::client_label(client)
}

struct ResourceItem {
    id: String,
    name: String,
    kind: Option<String>,
    scopes: Vec<String>,
    share_url: String,
    /// Who can currently use it, one line each (`bob@example.com: view — policy spouse-read-only`).
    holders: Vec<HolderLine>,
}

struct HolderLine {
    line: String,
    /// "held for your approval", "until …", "under conditions", "unless …".
    notes: Vec<String>,
}

impl From<&Holder> for HolderLine {
    fn from(h: &Holder) -> Self {
        let mut notes = Vec::new();
        if h.ask {
            notes.push("held for your approval".to_owned());
        }
        if let Some(until) = &h.until {
            notes.push(format!("until {until}"));
        }
        if h.conditional {
            notes.push("under further conditions".to_owned());
        }
        if !h.unless.is_empty() {
            notes.push(format!("unless policy {}", h.unless.join(", ")));
        }
        Self {
            line: h.line(),
            notes,
        }
    }
}

struct Group {
    server: String,
    resources: Vec<ResourceItem>,
}

#[derive(Template)]
#[template(path = "console/resources.html")]
struct ResourcesPage {
    title: &'static str,
    nav: Nav,
    groups: Vec<Group>,
}

/// The share form's address for one resource.
pub(super) fn share_url(resource_id: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("resource", resource_id)
        .finish();
    format!("{}?{query}", urls::SHARE)
}

fn resources_page(state: &AppState, owner: &Owner) -> Result<Out, OAuthError> {
    let found = owner_resources(state, &owner.username)?;
    let all: Vec<Resource> = found.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
    let access = state
        .store
        .read(|c| access::who_can_use(c, &owner.username, &all))?;
    let holders_of = |id: &str| -> Vec<HolderLine> {
        access
            .iter()
            .find(|a| a.resource_id == id)
            .map(|a| a.holders.iter().map(HolderLine::from).collect())
            .unwrap_or_default()
    };
    let groups = found
        .into_iter()
        .map(|(client, resources)| Group {
            server: server_label(&client),
            resources: resources
                .iter()
                .map(|r| ResourceItem {
                    id: r.id.clone(),
                    name: label(r),
                    kind: r.description.kind.clone(),
                    scopes: r.description.resource_scopes.clone(),
                    share_url: share_url(&r.id),
                    holders: holders_of(&r.id),
                })
                .collect(),
        })
        .collect();
    Ok(Out::page(&ResourcesPage {
        title: "My resources",
        nav: Nav::of(owner, "resources"),
        groups,
    }))
}

pub(super) async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    view(&req, &state, resources_page).await
}
