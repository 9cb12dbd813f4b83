//! "Activity": the decision log about the owner's resources, newest first, a page at a time, filterable by
//! resource and answer, read through [`crate::owner::decisions`] like the decisions API.
//!
//! Pages and filters are the store's ([`decisions::activity`]), so every entry of the log can be reached, not
//! only the newest ones; a filter or page out of bounds is a 400 page that says which.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::resources::{label, owner_resources};
use super::{AppState, Nav, Out, day, get_only, urls, view};
use crate::owner::decisions::{self, ANSWERS, ActivityQuery};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(urls::ACTIVITY, page));
}

/// What the page's query asks for, as typed (checked by [`ActivityQuery::parse`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    resource: String,
    answer: String,
    page: String,
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
            page: text("page"),
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
        let query = match ActivityQuery::parse(
            Some(&filter.resource),
            Some(&filter.answer),
            Some(&filter.page),
        ) {
            Ok(query) => query,
            Err(e) => return Ok(Out::bad_request(format!("{e}."))),
        };
        let found = st
            .store
            .read(|c| decisions::activity(c, &owner.username, &query))?;
        let (log, page, more) = (found.entries, found.page, found.more);
        let answers: Vec<String> = ANSWERS.iter().map(|a| (*a).to_owned()).collect();
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
            newer: (page > 1).then(|| filter.url(page - 1)),
            older: more.then(|| filter.url(page + 1)),
            resource: filter.resource.clone(),
            answer: filter.answer.clone(),
            resources,
            answers,
            page,
            entries,
        }))
    })
    .await
}
