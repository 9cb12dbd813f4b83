//! "Share": a form (who, which scopes of one resource, optionally until a date, optionally "ask me first") that
//! writes a named, commented Cedar policy ([`crate::owner::share`]), shows it, and saves it through the owner's
//! policy service like any other policy. Only the owner's own resources can be shared; another id is a 404.
//!
//! Nothing is shared before the owner has seen what it does: "Share" (or "Preview") shows the policy and its
//! impact ("this also lets someone in group `guests` view Diary"), and only "Confirm and share", carrying the
//! digest of what was previewed ([`super::policies::confirmation`]), saves it.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::policies::{ImpactView, confirmed, impact_of, store_policy};
use super::resources::{label, owner_resource, owner_resources, server_label};
use super::{AppState, Nav, Out, Owner, act, method_not_allowed, urls, view};
use crate::error::OAuthError;
use crate::owner::policies as service;
use crate::owner::share::{self as sharing, Who, share_policy};
use crate::protocol::uma::Resource;
use crate::uma::requests::parse_until;

/// The longest "who" the form takes.
const MAX_WHO: usize = 256;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(urls::SHARE)
            .route(web::get().to(page))
            .route(web::post().to(submit))
            .default_service(method_not_allowed("GET, POST")),
    );
}

struct ResourceOption {
    id: String,
    label: String,
}

struct ScopeBox {
    name: String,
    checked: bool,
}

struct ShareForm {
    resource: String,
    resource_label: String,
    who: String,
    kind: String,
    scopes: Vec<ScopeBox>,
    until: String,
    ask: bool,
    name: String,
    preview: Option<String>,
}

/// Nothing to preview yet.
const NO_IMPACT: Option<ImpactView> = None;

impl ShareForm {
    fn blank(resource: &Resource) -> Self {
        Self {
            resource: resource.id.clone(),
            resource_label: label(resource),
            who: String::new(),
            kind: "email".to_owned(),
            scopes: resource
                .description
                .resource_scopes
                .iter()
                .map(|s| ScopeBox {
                    name: s.clone(),
                    checked: false,
                })
                .collect(),
            until: String::new(),
            ask: false,
            name: String::new(),
            preview: None,
        }
    }
}

#[derive(Template)]
#[template(path = "console/share.html")]
struct SharePage {
    title: &'static str,
    nav: Nav,
    error: Option<String>,
    form: Option<ShareForm>,
    resources: Vec<ResourceOption>,
    impact: Option<ImpactView>,
}

fn chooser(state: &AppState, owner: &Owner) -> Result<SharePage, OAuthError> {
    let resources = owner_resources(state, &owner.username)?
        .into_iter()
        .flat_map(|(client, resources)| {
            let server = server_label(&client);
            resources.into_iter().map(move |r| ResourceOption {
                label: format!("{} ({server})", label(&r)),
                id: r.id,
            })
        })
        .collect();
    Ok(SharePage {
        title: "Share",
        nav: Nav::of(owner, "share"),
        error: None,
        form: None,
        resources,
        impact: NO_IMPACT,
    })
}

async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let resource = super::super::forms::query(&req)
        .ok()
        .and_then(|q| q.get("resource").map(str::to_owned));
    view(&req, &state, move |st, owner| {
        let Some(id) = resource else {
            return Ok(Out::page(&chooser(st, owner)?));
        };
        let Some(resource) = owner_resource(st, &owner.username, &id)? else {
            return Ok(Out::not_found("You have no resource with that id."));
        };
        Ok(Out::page(&SharePage {
            title: "Share",
            nav: Nav::of(owner, "share"),
            error: None,
            form: Some(ShareForm::blank(&resource)),
            resources: Vec::new(),
            impact: NO_IMPACT,
        }))
    })
    .await
}

async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    act(&req, payload, &state, |st, owner, form| {
        let id = form.get("resource").unwrap_or_default();
        let Some(resource) = owner_resource(st, &owner.username, id)? else {
            return Ok(Out::not_found("You have no resource with that id."));
        };
        let mut shown = ShareForm::blank(&resource);
        shown.who = form.get("who").unwrap_or_default().trim().to_owned();
        shown.kind = form.get("kind").unwrap_or("email").to_owned();
        shown.until = form.get("until").unwrap_or_default().trim().to_owned();
        shown.ask = form.get("ask").is_some();
        shown.name = form.get("name").unwrap_or_default().trim().to_owned();
        for (i, scope) in shown.scopes.iter_mut().enumerate() {
            scope.checked = form.get(&format!("scope.{}", i + 1)) == Some(scope.name.as_str());
        }
        let refuse = |shown: ShareForm, error: String| {
            Ok(Out::page_with(
                StatusCode::BAD_REQUEST,
                &SharePage {
                    title: "Share",
                    nav: Nav::of(owner, "share"),
                    error: Some(error),
                    form: Some(shown),
                    resources: Vec::new(),
                    impact: NO_IMPACT,
                },
            ))
        };
        if shown.who.is_empty() || shown.who.len() > MAX_WHO {
            return refuse(
                shown,
                format!("Say who to share with, in at most {MAX_WHO} characters."),
            );
        }
        let who = match shown.kind.as_str() {
            "email" => Who::Email(shown.who.clone()),
            "username" => Who::Username(shown.who.clone()),
            "group" => Who::Group(shown.who.clone()),
            _ => {
                return refuse(
                    shown,
                    "Choose an email address, a username or a group.".into(),
                );
            }
        };
        let scopes: Vec<String> = shown
            .scopes
            .iter()
            .filter(|s| s.checked)
            .map(|s| s.name.clone())
            .collect();
        let now = st.now();
        let until = if shown.until.is_empty() {
            None
        } else {
            match parse_until(&shown.until) {
                Ok(t) => Some(t),
                Err(e) => return refuse(shown, format!("{e}.")),
            }
        };
        let existing: BTreeSet<String> = st
            .store
            .read(|c| service::list(c, &owner.username))?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let shared = match share_policy(
            &sharing::ShareForm {
                who,
                scopes,
                until,
                ask_first: shown.ask,
            },
            &resource,
            &st.settings.issuer,
            &existing,
            now,
        ) {
            Ok(shared) => shared,
            Err(e) => return refuse(shown, format!("{}.", capitalized(&e.to_string()))),
        };
        let name = if shown.name.is_empty() {
            shared.name
        } else {
            shown.name.clone()
        };
        if let Err(e) = service::check_name(&name) {
            return refuse(shown, format!("{e}."));
        }
        let text = shared.text;
        // What the owner confirms: the form's fields, not the text, whose comment is dated to the second.
        let previewed = serde_json::json!([
            resource.id,
            shown.kind,
            shown.who,
            shown
                .scopes
                .iter()
                .filter(|s| s.checked)
                .map(|s| &s.name)
                .collect::<Vec<_>>(),
            shown.until,
            shown.ask,
        ])
        .to_string();
        let save = form.get("action") == Some("save");
        if !save || !confirmed(st, owner, form, &name, &previewed)? {
            shown.name = name.clone();
            shown.preview = Some(text.clone());
            let impact = match impact_of(st, owner, &name, &text, &previewed)? {
                Ok(view) => view,
                Err(e) => return refuse(shown, format!("{}.", capitalized(&e.to_string()))),
            };
            return Ok(Out::page(&SharePage {
                title: "Share",
                nav: Nav::of(owner, "share"),
                error: None,
                form: Some(shown),
                resources: Vec::new(),
                impact: Some(impact),
            }));
        }
        if st
            .store
            .read(|c| service::get(c, &owner.username, &name))?
            .is_some()
        {
            shown.name = name.clone();
            return refuse(
                shown,
                format!("You already have a policy named `{name}`: choose another name."),
            );
        }
        store_policy(st, owner, &name, &text, true, true)
    })
    .await
}

/// A domain error message (lowercase, as errors are written) as the start of a sentence on the page.
fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
