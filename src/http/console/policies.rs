//! "My policies": the owner's Cedar policies, each with its text; edit and add with validation on save
//! (located diagnostics next to the text, and the stored set unchanged when any is an error), remove, and a
//! "check access" form answered by the engine the grant uses, on her stored set.
//!
//! Writes go through [`crate::owner::Policies`], like the CLI's `policy push` and the policy API. A name that is
//! not one of the owner's policies is a 404, whoever else may have a policy of that name.
//!
//! Before an edit (or an addition, or a share) is saved, the owner sees its impact ([`crate::owner::impact`]):
//! "Save" first shows what the change newly allows or denies, with a "Confirm and save" button that carries a
//! digest of what was previewed (her set's version, the name, the text). Only a post whose digest matches the
//! set as it is now and the text as sent is saved; anything else (an edited text, a set changed meanwhile) is
//! previewed again. An undecided impact is shown as such and can still be saved.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Map, Value};

use super::resources::{label, owner_resource, owner_resources};
use super::{AppState, Nav, Out, Owner, act, day, urls, view};
use crate::error::OAuthError;
use crate::owner::impact::{self, Preview};
use crate::owner::policies as service;
use crate::owner::{PolicyError, PushOutcome};
use crate::policy::impact::Status;
use crate::policy::{Claims, Decision, Diagnostic, Source};
use crate::store::users;
use crate::uma::interaction::local_claims;

/// The longest person, group list or scope the check form takes.
const MAX_FIELD: usize = 512;
/// The most groups the check form takes.
const MAX_GROUPS: usize = 32;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    use super::method_not_allowed;
    cfg.service(
        web::resource(urls::POLICIES)
            .route(web::get().to(list))
            .route(web::post().to(add))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource(urls::NEW_POLICY)
            .route(web::get().to(new_form))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource(format!("{}/{{name}}", urls::POLICIES))
            .route(web::get().to(edit_form))
            .route(web::post().to(save))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource(format!("{}/{{name}}/remove", urls::POLICIES))
            .route(web::post().to(remove))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource(urls::CHECK)
            .route(web::get().to(check_form))
            .route(web::post().to(check))
            .default_service(method_not_allowed("GET, POST")),
    );
}

fn policy_url(name: &str) -> String {
    format!("{}/{name}", urls::POLICIES)
}

struct PolicyItem {
    name: String,
    updated: String,
    text: String,
    edit_url: String,
    remove_url: String,
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct PoliciesPage {
    title: &'static str,
    nav: Nav,
    notice: Option<String>,
    policies: Vec<PolicyItem>,
}

/// The notice a redirect back to the list asks for (`?saved=name`, `?removed=name`).
fn notice(req: &HttpRequest) -> Option<String> {
    let query = super::super::forms::query(req).ok()?;
    let name = |key| {
        query
            .get(key)
            .filter(|n| service::check_name(n).is_ok())
            .map(str::to_owned)
    };
    if let Some(n) = name("saved") {
        return Some(format!("Saved policy {n}."));
    }
    name("removed").map(|n| format!("Removed policy {n}."))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let notice = notice(&req);
    view(&req, &state, move |st, owner| {
        let texts = st.store.read(|c| {
            use crate::store::PolicyRead;
            c.policy_texts(&owner.username)
        })?;
        let infos = st.store.read(|c| service::list(c, &owner.username))?;
        let policies = infos
            .into_iter()
            .map(|info| {
                let text = texts
                    .iter()
                    .find(|(name, _)| *name == info.name)
                    .map(|(_, text)| text.clone())
                    .unwrap_or_default();
                PolicyItem {
                    edit_url: policy_url(&info.name),
                    remove_url: format!("{}/remove", policy_url(&info.name)),
                    updated: day(info.updated_at),
                    name: info.name,
                    text,
                }
            })
            .collect();
        Ok(Out::page(&PoliciesPage {
            title: "My policies",
            nav: Nav::of(owner, "policies"),
            notice,
            policies,
        }))
    })
    .await
}

/// A diagnostic as the edit page shows it, next to the text.
struct DiagnosticItem {
    line: usize,
    column: usize,
    severity: &'static str,
    message: String,
    help: Option<String>,
}

impl From<&Diagnostic> for DiagnosticItem {
    fn from(d: &Diagnostic) -> Self {
        Self {
            line: d.line,
            column: d.column,
            severity: d.severity.as_str(),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/policy_edit.html")]
struct EditPage {
    title: String,
    heading: String,
    nav: Nav,
    is_new: bool,
    action: String,
    name: String,
    text: String,
    notice: Option<String>,
    error: Option<String>,
    diagnostics_heading: &'static str,
    diagnostics: Vec<DiagnosticItem>,
    impact: Option<ImpactView>,
}

/// A change's impact as the console shows it, with the digest its confirm button carries.
pub(super) struct ImpactView {
    pub summary: String,
    pub changes: Vec<String>,
    pub undecided: Vec<String>,
    /// What "Confirm" posts back as `confirmed`: see [`confirmation`].
    pub confirm: String,
}

impl ImpactView {
    fn new(preview: &Preview, confirm: String) -> Self {
        let summary = match preview.status() {
            Status::Changed => "Saving this changes who can use your resources:",
            Status::NoChange => {
                "No change in what is allowed: nobody gains or loses access to any scope."
            }
            Status::Undecided => {
                "Not decided: the server could not work out everything this change does."
            }
        };
        let text = |lines: Vec<impact::Line>| lines.into_iter().map(|l| l.text).collect();
        Self {
            summary: summary.to_owned(),
            changes: text(preview.changes()),
            undecided: text(preview.undecided()),
            confirm,
        }
    }
}

/// The digest a confirm button carries: of the owner's set version, the policy's name and what was previewed
/// (the text of an edit, the fields of a share form), so a confirmation is for exactly that change, against the
/// set as it was then.
pub(super) fn confirmation(
    state: &AppState,
    owner: &Owner,
    name: &str,
    previewed: &str,
) -> Result<String, OAuthError> {
    use crate::store::PolicyRead;
    let version = state.store.read(|c| c.policy_version(&owner.username))?;
    Ok(crate::crypto::sha256_base64url(
        format!("uma-cedar console preview\n{version}\n{name}\n{previewed}").as_bytes(),
    ))
}

/// True when the form confirms exactly this change (see [`confirmation`]), against the set as it is now.
pub(super) fn confirmed(
    state: &AppState,
    owner: &Owner,
    form: &crate::http::forms::Params,
    name: &str,
    previewed: &str,
) -> Result<bool, OAuthError> {
    let Some(sent) = form.get("confirmed") else {
        return Ok(false);
    };
    let expected = confirmation(state, owner, name, previewed)?;
    Ok(crate::crypto::constant_time_eq(
        sent.as_bytes(),
        expected.as_bytes(),
    ))
}

/// The impact of saving `text` as `owner`'s policy `name`, or the push's own refusal; its confirm button is
/// for `previewed` (see [`confirmation`]).
pub(super) fn impact_of(
    state: &AppState,
    owner: &Owner,
    name: &str,
    text: &str,
    previewed: &str,
) -> Result<Result<ImpactView, PolicyError>, OAuthError> {
    let confirm = confirmation(state, owner, name, previewed)?;
    let sources = [Source::new(name, text)];
    match impact::of_push(
        &state.policies,
        &state.store,
        &owner.username,
        &sources,
        Some(&state.settings.issuer),
    ) {
        Ok(preview) => Ok(Ok(ImpactView::new(&preview, confirm))),
        Err(PolicyError::Store(e)) => Err(e.into()),
        Err(e) => Ok(Err(e)),
    }
}

impl EditPage {
    fn new(owner: &Owner, name: Option<&str>, text: &str) -> Self {
        let (title, action) = match name {
            Some(name) => (format!("Edit policy {name}"), policy_url(name)),
            None => ("Add a policy".to_owned(), urls::POLICIES.to_owned()),
        };
        Self {
            heading: title.clone(),
            title,
            nav: Nav::of(owner, "policies"),
            is_new: name.is_none(),
            action,
            name: name.unwrap_or_default().to_owned(),
            text: text.to_owned(),
            notice: None,
            error: None,
            diagnostics_heading: "",
            diagnostics: Vec::new(),
            impact: None,
        }
    }
}

async fn new_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    view(&req, &state, |_, owner| {
        let text = "// Who may do what with which of your resources.\n\
                    permit (\n  principal,\n  action == Uma::Action::\"view\",\n  resource\n)\n\
                    when { principal has email && principal.email == \"someone@example.com\" };\n";
        Ok(Out::page(&EditPage::new(owner, None, text)))
    })
    .await
}

async fn edit_form(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let name = name.into_inner();
    view(&req, &state, move |st, owner| {
        let Some(stored) = st.store.read(|c| service::get(c, &owner.username, &name))? else {
            return Ok(no_such_policy(&name));
        };
        Ok(Out::page(&EditPage::new(owner, Some(&name), &stored.text)))
    })
    .await
}

fn no_such_policy(name: &str) -> Out {
    Out::not_found(format!("You have no policy named `{name}`."))
}

/// Saves `text` as `owner`'s policy `name` through the policy service once `confirmed` (the form confirms its
/// previewed impact, see [`confirmed`]); until then (or when the text or her set changed since), shows the
/// impact with a confirm button and stores nothing. A valid text redirects to the list (or, with warnings, shows them); an invalid one shows the
/// form again with its diagnostics, nothing stored.
pub(super) fn store_policy(
    state: &AppState,
    owner: &Owner,
    name: &str,
    text: &str,
    is_new: bool,
    confirmed: bool,
) -> Result<Out, OAuthError> {
    let sources = [Source::new(name, text)];
    let page = |error: Option<String>, diagnostics: &[Diagnostic], heading| {
        let mut page = EditPage::new(owner, (!is_new).then_some(name), text);
        if is_new {
            page.name = name.to_owned();
        }
        page.error = error;
        page.diagnostics_heading = heading;
        page.diagnostics = diagnostics.iter().map(DiagnosticItem::from).collect();
        page
    };
    let result = if confirmed {
        state
            .policies
            .push(&state.store, &owner.username, &sources, state.now())
    } else {
        match impact_of(state, owner, name, text, text)? {
            Ok(view) => {
                let mut shown = page(None, &[], "");
                shown.impact = Some(view);
                return Ok(Out::page(&shown));
            }
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(PushOutcome { warnings, .. }) if warnings.is_empty() => {
            Ok(Out::SeeOther(format!("{}?saved={name}", urls::POLICIES)))
        }
        Ok(PushOutcome { warnings, .. }) => {
            let mut shown = page(None, &warnings, "Saved, with warnings:");
            shown.notice = Some(format!("Saved policy {name}."));
            shown.is_new = false;
            shown.action = policy_url(name);
            shown.title = format!("Edit policy {name}");
            shown.heading = shown.title.clone();
            Ok(Out::page(&shown))
        }
        Err(PolicyError::Invalid(validation)) => Ok(Out::page_with(
            StatusCode::BAD_REQUEST,
            &page(
                None,
                &validation.diagnostics,
                "Not saved: the policy has errors. Your stored policies are unchanged.",
            ),
        )),
        Err(PolicyError::Store(e)) => Err(e.into()),
        Err(e @ (PolicyError::BadName { .. } | PolicyError::DuplicateName(_))) => Ok(
            Out::page_with(StatusCode::BAD_REQUEST, &page(Some(e.to_string()), &[], "")),
        ),
        Err(PolicyError::UnknownOwner(_)) => Ok(Out::bad_request(
            "Your account no longer exists on this server.",
        )),
    }
}

async fn add(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    act(&req, payload, &state, |st, owner, form| {
        let name = form.get("name").unwrap_or_default().trim().to_owned();
        let text = form.get("text").unwrap_or_default().to_owned();
        let exists = !name.is_empty()
            && st
                .store
                .read(|c| service::get(c, &owner.username, &name))?
                .is_some();
        if exists {
            let mut page = EditPage::new(owner, None, &text);
            page.name = name.clone();
            page.error = Some(format!(
                "You already have a policy named `{name}`: choose another name, or edit that one."
            ));
            return Ok(Out::page_with(StatusCode::BAD_REQUEST, &page));
        }
        let confirmed = confirmed(st, owner, form, &name, &text)?;
        store_policy(st, owner, &name, &text, true, confirmed)
    })
    .await
}

async fn save(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let name = name.into_inner();
    act(&req, payload, &state, move |st, owner, form| {
        // Only an existing policy of hers is edited here; adding goes through the add form.
        if st
            .store
            .read(|c| service::get(c, &owner.username, &name))?
            .is_none()
        {
            return Ok(no_such_policy(&name));
        }
        let text = form.get("text").unwrap_or_default();
        let confirmed = confirmed(st, owner, form, &name, text)?;
        store_policy(st, owner, &name, text, false, confirmed)
    })
    .await
}

async fn remove(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let name = name.into_inner();
    act(&req, payload, &state, move |st, owner, _| {
        match st
            .policies
            .remove(&st.store, &owner.username, &name, st.now())
        {
            Ok(true) => Ok(Out::SeeOther(format!("{}?removed={name}", urls::POLICIES))),
            Ok(false) => Ok(no_such_policy(&name)),
            Err(PolicyError::Store(e)) => Err(e.into()),
            Err(e) => Ok(Out::bad_request(e.to_string())),
        }
    })
    .await
}

struct ResourceOption {
    id: String,
    label: String,
}

/// The answer shown under the check form.
struct Answer {
    decision: &'static str,
    meaning: &'static str,
    policies: Vec<String>,
    claims: Vec<String>,
    errors: Vec<String>,
}

impl From<&Decision> for Answer {
    fn from(decision: &Decision) -> Self {
        let policies = decision
            .policies()
            .iter()
            .map(ToString::to_string)
            .collect();
        let (name, meaning, claims, errors) = match decision {
            Decision::Permit { .. } => ("permit", "They would get access.", vec![], vec![]),
            Decision::Ask { .. } => (
                "ask",
                "The request would be held for you to approve or deny.",
                vec![],
                vec![],
            ),
            Decision::NeedInfo { claims, .. } => (
                "need_info",
                "Not yet: with more claims about the person a policy could permit it.",
                claims.clone(),
                vec![],
            ),
            Decision::Deny { errors, .. } => (
                "deny",
                "They would not get access.",
                vec![],
                errors.iter().map(ToString::to_string).collect(),
            ),
        };
        Self {
            decision: name,
            meaning,
            policies,
            claims,
            errors,
        }
    }
}

#[derive(Template)]
#[template(path = "console/check.html")]
struct CheckPage {
    title: &'static str,
    nav: Nav,
    person: String,
    groups: String,
    resource: String,
    scope: String,
    resources: Vec<ResourceOption>,
    error: Option<String>,
    answer: Option<Answer>,
}

fn check_page(state: &AppState, owner: &Owner) -> Result<CheckPage, OAuthError> {
    let resources = owner_resources(state, &owner.username)?
        .into_iter()
        .flat_map(|(client, resources)| {
            let server = super::resources::server_label(&client);
            resources.into_iter().map(move |r| ResourceOption {
                label: format!("{} ({server})", label(&r)),
                id: r.id,
            })
        })
        .collect();
    Ok(CheckPage {
        title: "Check access",
        nav: Nav::of(owner, "policies"),
        person: String::new(),
        groups: String::new(),
        resource: String::new(),
        scope: String::new(),
        resources,
        error: None,
        answer: None,
    })
}

async fn check_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    view(&req, &state, |st, owner| {
        Ok(Out::page(&check_page(st, owner)?))
    })
    .await
}

/// The claims the check decides with: a local user's own claims when the person is one of this server's
/// usernames, else someone who proved that email address (verified) at this server; with the groups given.
fn person_claims(
    state: &AppState,
    person: &str,
    groups: &[String],
) -> Result<Option<Claims>, OAuthError> {
    let issuer = &state.settings.issuer;
    let mut claims = match state.store.read(|c| users::get(c, person))? {
        Some(user) => local_claims(issuer, &user),
        None if person.contains('@') => {
            let mut map = Map::new();
            map.insert("iss".into(), Value::from(issuer.as_str()));
            map.insert("sub".into(), Value::from(person));
            map.insert("email".into(), Value::from(person));
            map.insert("email_verified".into(), Value::from(true));
            map
        }
        None => return Ok(None),
    };
    if !groups.is_empty() {
        claims.insert("groups".into(), Value::from(groups.to_vec()));
    }
    Ok(Claims::from_json(claims).ok())
}

async fn check(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    act(&req, payload, &state, |st, owner, form| {
        let mut page = check_page(st, owner)?;
        let field = |name| form.get(name).unwrap_or_default().trim().to_owned();
        page.person = field("person");
        page.groups = field("groups");
        page.resource = field("resource");
        page.scope = field("scope");
        let groups: Vec<String> = page
            .groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        let too_long = [&page.person, &page.groups, &page.scope]
            .iter()
            .any(|f| f.len() > MAX_FIELD);
        if too_long || groups.len() > MAX_GROUPS {
            page.error = Some(format!(
                "Each field holds at most {MAX_FIELD} characters, and at most {MAX_GROUPS} groups."
            ));
            return Ok(Out::page_with(StatusCode::BAD_REQUEST, &page));
        }
        if page.person.is_empty() || page.scope.is_empty() {
            page.error = Some("Name a person and a scope.".to_owned());
            return Ok(Out::page_with(StatusCode::BAD_REQUEST, &page));
        }
        let Some(resource) = owner_resource(st, &owner.username, &page.resource)? else {
            return Ok(Out::not_found("You have no resource with that id."));
        };
        let Some(claims) = person_claims(st, &page.person, &groups)? else {
            page.error = Some(format!(
                "`{}` is neither a username of this server nor an email address.",
                page.person
            ));
            return Ok(Out::page_with(StatusCode::BAD_REQUEST, &page));
        };
        let decision = st.policies.decide(
            &st.store,
            &resource,
            Some(&claims),
            &page.scope,
            "",
            st.now(),
        )?;
        page.answer = Some(Answer::from(&decision));
        Ok(Out::page(&page))
    })
    .await
}
