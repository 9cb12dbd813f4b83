//! "Activity": the decision log about the owner's resources, newest first, a page at a time, filterable by
//! resource and answer, read through [`crate::owner::decisions`] like the decisions API.
//!
//! The log service returns the newest entries up to [`MAX_LIMIT`]; pages and filters are taken within those.
//! The integrator's seam: an owner-domain query with offset and filters replaces [`window`] when it exists.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::resources::{label, owner_resources};
use super::{AppState, Nav, Out, Owner, day, method_not_allowed, urls, view};
use crate::error::OAuthError;
use crate::owner::decisions::{self, Limit, MAX_LIMIT};
use crate::protocol::decisions::Decision;

/// Entries on one page.
const PAGE_SIZE: usize = 25;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(urls::ACTIVITY)
            .route(web::get().to(page))
            .default_service(method_not_allowed("GET")),
    );
}

/// What the page's query asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    resource: String,
    answer: String,
    /// 1-based.
    page: usize,
}

impl Filter {
    fn parse(req: &HttpRequest) -> Self {
        let query = super::super::forms::query(req).unwrap_or_default();
        let text = |name| {
            query
                .get(name)
                .unwrap_or_default()
                .chars()
                .take(128)
                .collect()
        };
        Self {
            resource: text("resource"),
            answer: text("answer"),
            page: query
                .get("page")
                .and_then(|p| p.parse::<usize>().ok())
                .filter(|p| *p >= 1 && *p <= MAX_LIMIT / PAGE_SIZE)
                .unwrap_or(1),
        }
    }

    fn url(&self, page: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.resource.is_empty() {
            query.append_pair("resource", &self.resource);
        }
        if !self.answer.is_empty() {
            query.append_pair("answer", &self.answer);
        }
        query.append_pair("page", &page.to_string());
        format!("{}?{}", urls::ACTIVITY, query.finish())
    }

    fn keeps(&self, d: &Decision) -> bool {
        (self.resource.is_empty() || d.resource_id == self.resource)
            && (self.answer.is_empty() || d.answer == self.answer)
    }
}

/// The page of the owner's log the filter asks for, and whether an older page follows.
fn window(
    state: &AppState,
    owner: &Owner,
    filter: &Filter,
) -> Result<(Vec<Decision>, Vec<String>, bool), OAuthError> {
    let limit = Limit::new(MAX_LIMIT).unwrap_or_default();
    let all = state
        .store
        .read(|c| decisions::recent(c, &owner.username, limit))?;
    let mut answers: Vec<String> = all.iter().map(|d| d.answer.clone()).collect();
    answers.sort();
    answers.dedup();
    let kept: Vec<Decision> = all.into_iter().filter(|d| filter.keeps(d)).collect();
    let start = (filter.page - 1) * PAGE_SIZE;
    let more = kept.len() > start + PAGE_SIZE;
    let page = kept.into_iter().skip(start).take(PAGE_SIZE).collect();
    Ok((page, answers, more))
}

struct Entry {
    time: String,
    who: String,
    client: String,
    resource: String,
    scopes: String,
    answer: String,
    detail: Option<String>,
    policies: String,
}

struct ResourceOption {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "console/activity.html")]
struct ActivityPage {
    title: &'static str,
    nav: Nav,
    resource: String,
    answer: String,
    resources: Vec<ResourceOption>,
    answers: Vec<String>,
    page: usize,
    entries: Vec<Entry>,
    newer: Option<String>,
    older: Option<String>,
}

async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let filter = Filter::parse(&req);
    view(&req, &state, move |st, owner| {
        let (log, answers, more) = window(st, owner, &filter)?;
        let resources: Vec<ResourceOption> = owner_resources(st, &owner.username)?
            .into_iter()
            .flat_map(|(_, resources)| resources)
            .map(|r| ResourceOption {
                label: label(&r),
                id: r.id,
            })
            .collect();
        let name_of = |id: &str| {
            resources
                .iter()
                .find(|r| r.id == id)
                .map_or_else(|| id.to_owned(), |r| r.label.clone())
        };
        let entries = log
            .into_iter()
            .map(|d| Entry {
                time: day(d.time),
                who: d.party_parts().map_or_else(
                    || "nobody known".to_owned(),
                    |(iss, sub)| format!("{sub} at {iss}"),
                ),
                client: d.client_id.clone(),
                resource: name_of(&d.resource_id),
                scopes: d.scopes.join(", "),
                answer: d.answer.clone(),
                detail: d.detail.clone(),
                policies: d.policies.join(", "),
            })
            .collect();
        Ok(Out::page(&ActivityPage {
            title: "Activity",
            nav: Nav::of(owner, "activity"),
            newer: (filter.page > 1).then(|| filter.url(filter.page - 1)),
            older: more.then(|| filter.url(filter.page + 1)),
            resource: filter.resource.clone(),
            answer: filter.answer.clone(),
            resources,
            answers,
            page: filter.page,
            entries,
        }))
    })
    .await
}
