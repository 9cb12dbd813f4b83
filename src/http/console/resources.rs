//! "My resources" and "Connected applications": the owner's registered resources grouped by the resource server
//! that registered them, and those resource servers.
//!
//! The owner's resources are listed through the scoped resource reads the protection API uses (per resource
//! server, then by id), so nothing of another owner can appear. The integrator's seam: when the owner domain
//! offers "who can use this resource" and "connected applications with revocation", [`owner_resources`] and
//! the applications page take them from there.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{AppState, Nav, Out, Owner, urls, view};
use crate::error::OAuthError;
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
    let groups = owner_resources(state, &owner.username)?
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
