//! The owner's console through the real routing: `/` leads to it, sign-in is the one of `/authorize` (CSRF
//! double submit, session cookie), every page carries the security headers, a post without the session's CSRF
//! token changes nothing, another owner's policy, request and resource ids are 404, an invalid policy edit
//! shows located diagnostics and leaves the stored set as it was, the share form writes a policy that grants,
//! requests are approved from the page, and sign-out ends the session.

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use serde_json::json;
use uma_cedar::policy::Source;
use uma_cedar::store::{PolicyRead as _, RequestRead as _};

use crate::helpers::*;
use crate::introspect::introspect_as;
use crate::requests::{Held, setup, submitted};
use crate::resources::{register, user_pat};

/// A browser: keeps the cookies the server sets.
#[derive(Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    async fn send<S, B>(&mut self, app: &S, req: TestRequest) -> Resp
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let req = if self.cookies.is_empty() {
            req
        } else {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            req.insert_header(("Cookie", header.join("; ")))
        };
        let resp = send(app, req).await;
        for value in resp.headers.get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        resp
    }

    async fn get<S, B>(&mut self, app: &S, path: &str) -> Resp
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(app, TestRequest::get().uri(path)).await
    }

    async fn post<S, B>(&mut self, app: &S, path: &str, fields: &[(&str, &str)]) -> Resp
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(app, form(path, &body)).await
    }

    /// Signs in at the console as `username` and returns the session's CSRF token from the next page.
    async fn sign_in<S, B>(&mut self, app: &S, username: &str, password: &str) -> String
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let page = self.get(app, "/console").await;
        assert_eq!(page.status, 200, "{}", page.text());
        let token = hidden(&page.text(), "csrf_token");
        let resp = self
            .post(
                app,
                "/console/login",
                &[
                    ("csrf_token", &token),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(resp.status, 303, "{}", resp.text());
        assert_eq!(resp.header("location").as_deref(), Some("/console"));
        let home = self.get(app, "/console").await;
        assert_eq!(home.status, 200);
        assert!(home.text().contains("My resources"), "{}", home.text());
        hidden(&home.text(), "csrf_token")
    }
}

/// The value of a hidden form field in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field `{name}` in page: {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

fn assert_security_headers(resp: &Resp, what: &str) {
    assert_eq!(
        resp.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        resp.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        resp.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    let csp = resp.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: `{directive}` in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    let html = resp.text();
    assert!(!html.contains("<script"), "{what}: no script");
}

fn policy_text(t: &TestApp, owner: &str, name: &str) -> Option<String> {
    t.state
        .store
        .read(|c| c.policy(owner, name))
        .expect("read")
        .map(|p| p.text)
}

#[actix_web::test]
async fn the_root_leads_to_a_sign_in_and_every_page_carries_the_security_headers() {
    let t = setup();
    let app = t.service().await;
    let pat = user_pat(&t, "alice", "rs1");
    register(
        &app,
        &pat,
        &json!({"name": "Photos", "resource_scopes": ["view", "edit"]}),
    )
    .await;
    let mut browser = Browser::default();

    let root = browser.get(&app, "/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location").as_deref(), Some("/console"));

    let login = browser.get(&app, "/console").await;
    assert_eq!(login.status, 200);
    assert_security_headers(&login, "sign-in page");
    assert!(login.text().contains("name=\"password\""));
    assert!(login.text().contains("action=\"/console/login\""));
    let csrf_cookie = login.header("set-cookie").unwrap_or_default();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
        "{csrf_cookie}"
    );

    // A wrong password shows the form again, and no session.
    let token = hidden(&login.text(), "csrf_token");
    let wrong = browser
        .post(
            &app,
            "/console/login",
            &[
                ("csrf_token", &token),
                ("username", "alice"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.text().contains("Invalid username or password."));
    assert!(!browser.cookies.contains_key("uma_session"));

    browser.sign_in(&app, "alice", "alice-password").await;
    assert!(browser.cookies.contains_key("uma_session"));
    let home = browser.get(&app, "/console").await;
    let html = home.text();
    assert!(
        html.contains("<h2 id=\"server-1\">rs1</h2>") && html.contains("<h3>Photos</h3>"),
        "grouped by resource server: {html}"
    );
    assert!(
        html.contains("<code>view</code>, <code>edit</code>"),
        "{html}"
    );

    for path in [
        "/console",
        "/console/policies",
        "/console/new-policy",
        "/console/check",
        "/console/share",
        "/console/requests",
        "/console/activity",
        "/console/applications",
    ] {
        let page = browser.get(&app, path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        assert_security_headers(&page, path);
        assert!(page.text().contains("<title>"), "{path}");
        assert!(page.text().contains("Sign out"), "{path}");
    }

    let css = browser.get(&app, "/console/static/console.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        css.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
}

#[actix_web::test]
async fn posts_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let t = setup();
    let app = t.service().await;
    t.state
        .policies
        .push(
            &t.state.store,
            "alice",
            &[Source::new("p", "permit (principal, action, resource);")],
            t.state.now(),
        )
        .expect("push");
    let mut browser = Browser::default();

    // The sign-in form itself is double submitted.
    browser.get(&app, "/console").await;
    let no_token = browser
        .post(
            &app,
            "/console/login",
            &[("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert!(!browser.cookies.contains_key("uma_session"));

    let csrf = browser.sign_in(&app, "alice", "alice-password").await;
    for fields in [vec![], vec![("csrf_token", "forged")]] {
        let resp = browser
            .post(&app, "/console/policies/p/remove", &fields)
            .await;
        assert_eq!(resp.status, 403, "{fields:?}: {}", resp.text());
        assert_security_headers(&resp, "refusal");
    }
    // The sign-in form's double-submit token is not the session's form token.
    let cookie_token = browser.cookies.get("uma_csrf").cloned().unwrap_or_default();
    let resp = browser
        .post(
            &app,
            "/console/policies/p/remove",
            &[("csrf_token", &cookie_token)],
        )
        .await;
    assert_eq!(resp.status, 403);
    assert!(policy_text(&t, "alice", "p").is_some(), "nothing removed");

    let done = browser
        .post(&app, "/console/policies/p/remove", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(done.status, 303, "{}", done.text());
    assert_eq!(policy_text(&t, "alice", "p"), None);
}

#[actix_web::test]
async fn another_owners_policy_request_and_resource_ids_are_404() {
    let t = setup();
    let app = t.service().await;
    let held = Held::new(&t, &app).await;
    submitted(&held.ask(&app, "bob", &["view"]).await);
    let request_id = t
        .state
        .store
        .read(|c| c.access_requests_of_owner("alice", 10))
        .expect("read")
        .first()
        .expect("a held request")
        .id
        .clone();
    let carols = "permit (principal, action, resource) when { principal.sub == \"dave\" };";
    t.state
        .policies
        .push(
            &t.state.store,
            "carol",
            &[Source::new("carols", carols)],
            t.state.now(),
        )
        .expect("push");

    let mut alice = Browser::default();
    let csrf = alice.sign_in(&app, "alice", "alice-password").await;
    assert_eq!(
        alice.get(&app, "/console/policies/carols").await.status,
        404
    );
    let save = alice
        .post(
            &app,
            "/console/policies/carols",
            &[
                ("csrf_token", &csrf),
                ("text", "permit (principal, action, resource);"),
            ],
        )
        .await;
    assert_eq!(save.status, 404, "{}", save.text());
    let remove = alice
        .post(
            &app,
            "/console/policies/carols/remove",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(remove.status, 404);
    assert_eq!(policy_text(&t, "carol", "carols").as_deref(), Some(carols));
    assert_eq!(policy_text(&t, "alice", "carols"), None);

    let mut carol = Browser::default();
    let carol_csrf = carol.sign_in(&app, "carol", "carol-password").await;
    for action in ["approve", "deny"] {
        let resp = carol
            .post(
                &app,
                &format!("/console/requests/{request_id}/{action}"),
                &[("csrf_token", &carol_csrf)],
            )
            .await;
        assert_eq!(resp.status, 404, "{action}: {}", resp.text());
    }
    let share = carol
        .get(&app, &format!("/console/share?resource={}", held.resource))
        .await;
    assert_eq!(share.status, 404);
    let shared = carol
        .post(
            &app,
            "/console/share",
            &[
                ("csrf_token", &carol_csrf),
                ("resource", &held.resource),
                ("who", "mallory@example.com"),
                ("kind", "email"),
                ("scope.1", "view"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(shared.status, 404);
    let requests = carol.get(&app, "/console/requests").await;
    assert!(
        !requests.text().contains(&request_id),
        "carol sees none of alice's"
    );
    let still = t
        .state
        .store
        .read(|c| c.access_request(&request_id))
        .expect("read")
        .expect("request");
    assert_eq!(
        uma_cedar::uma::requests::state_at(&still, t.state.now()),
        "pending"
    );

    // Alice herself approves it from the page.
    let approved = alice
        .post(
            &app,
            &format!("/console/requests/{request_id}/approve"),
            &[("csrf_token", &csrf), ("until", "2099-01-01")],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.text());
    let text = policy_text(&t, "alice", &format!("approved-{request_id}")).expect("policy");
    assert!(text.contains("2099-01-01T00:00:00Z"), "{text}");
}

#[actix_web::test]
async fn an_invalid_edit_shows_located_diagnostics_and_leaves_the_set_unchanged() {
    let t = setup();
    let app = t.service().await;
    let valid = "permit (principal, action, resource) when { principal.sub == \"bob\" };";
    t.state
        .policies
        .push(
            &t.state.store,
            "alice",
            &[Source::new("p", valid)],
            t.state.now(),
        )
        .expect("push");
    let version = t
        .state
        .store
        .read(|c| c.policy_version("alice"))
        .expect("version");
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;

    let edit = browser.get(&app, "/console/policies/p").await;
    assert_eq!(edit.status, 200);
    assert!(edit.text().contains("<label for=\"text\">"));
    assert!(
        edit.text().contains("principal.sub == &#34;bob&#34;")
            || edit.text().contains("principal.sub == &quot;bob&quot;")
    );

    let invalid = "permit (principal, action, resource)\nwhen { principal.emial == \"x\" };";
    let resp = browser
        .post(
            &app,
            "/console/policies/p",
            &[("csrf_token", &csrf), ("text", invalid)],
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let html = resp.text();
    assert!(html.contains("line 2, column 8"), "located: {html}");
    assert!(
        html.contains("Your stored policies are unchanged"),
        "{html}"
    );
    assert!(html.contains("emial"), "the text is shown again: {html}");
    assert_eq!(policy_text(&t, "alice", "p").as_deref(), Some(valid));
    assert_eq!(
        t.state
            .store
            .read(|c| c.policy_version("alice"))
            .expect("version"),
        version
    );

    // A valid edit is first previewed with its impact, and stored only once confirmed, through the same
    // service.
    let wider = "permit (principal, action, resource);";
    let preview = browser
        .post(
            &app,
            "/console/policies/p",
            &[("csrf_token", &csrf), ("text", wider)],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    assert!(
        preview.text().contains("What this change does"),
        "{}",
        preview.text()
    );
    assert_eq!(policy_text(&t, "alice", "p").as_deref(), Some(valid));
    let confirm = hidden(&preview.text(), "confirmed");
    // A confirmation is for the text previewed: another text is previewed in turn, not stored.
    let other = browser
        .post(
            &app,
            "/console/policies/p",
            &[
                ("csrf_token", &csrf),
                ("text", "// nobody\n"),
                ("confirmed", &confirm),
            ],
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text());
    assert_eq!(policy_text(&t, "alice", "p").as_deref(), Some(valid));
    let ok = browser
        .post(
            &app,
            "/console/policies/p",
            &[
                ("csrf_token", &csrf),
                ("text", wider),
                ("confirmed", &confirm),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(
        policy_text(&t, "alice", "p").as_deref(),
        Some("permit (principal, action, resource);")
    );
}

#[actix_web::test]
async fn the_share_form_saves_a_policy_that_check_access_then_permits() {
    let t = setup();
    let app = t.service().await;
    let pat = user_pat(&t, "alice", "rs1");
    let resource = register(
        &app,
        &pat,
        &json!({"name": "Photos", "resource_scopes": ["view", "edit"]}),
    )
    .await;
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;
    let share = |action: &str| {
        owned(&[
            ("csrf_token", &csrf),
            ("resource", &resource),
            ("who", "bob@example.com"),
            ("kind", "email"),
            ("scope.1", "view"),
            ("action", action),
        ])
    };
    let name = "share-bob-photos".to_owned();
    let preview = browser
        .post(&app, "/console/share", &borrowed(&share("preview")))
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    assert!(preview.text().contains("Generated policy"));
    assert_eq!(
        policy_text(&t, "alice", &name),
        None,
        "a preview stores nothing"
    );

    assert!(
        preview.text().contains("What this change does"),
        "the preview shows the impact: {}",
        preview.text()
    );

    // "Share" without a confirmation previews too, and stores nothing.
    let unconfirmed = browser
        .post(&app, "/console/share", &borrowed(&share("save")))
        .await;
    assert_eq!(unconfirmed.status, 200, "{}", unconfirmed.text());
    assert_eq!(policy_text(&t, "alice", &name), None);
    let confirm = hidden(&unconfirmed.text(), "confirmed");
    let mut confirmed = share("save");
    confirmed.push(("confirmed".to_owned(), confirm));
    let saved = browser
        .post(&app, "/console/share", &borrowed(&confirmed))
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text());
    let text = policy_text(&t, "alice", &name).expect("stored");
    assert!(
        text.contains("principal.email == \"bob@example.com\""),
        "{text}"
    );
    let location = saved.header("location").expect("location");
    let list = browser.get(&app, &location).await;
    assert!(
        list.text().contains(&format!("Saved policy {name}.")),
        "{location}: {}",
        list.text()
    );

    for (scope, decision) in [("view", "permit"), ("edit", "deny")] {
        let fields = owned(&[
            ("csrf_token", &csrf),
            ("person", "bob@example.com"),
            ("resource", &resource),
            ("scope", scope),
        ]);
        let resp = browser
            .post(&app, "/console/check", &borrowed(&fields))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(
            resp.text().contains(&format!("Decision: {decision}")),
            "{scope}: {}",
            resp.text()
        );
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn borrowed(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[actix_web::test]
async fn sign_out_ends_the_session() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;
    let session = browser
        .cookies
        .get("uma_session")
        .cloned()
        .expect("session");
    let out = browser
        .post(&app, "/console/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert!(
        !browser.cookies.contains_key("uma_session"),
        "cookie cleared"
    );
    // Even a browser that kept the old cookie is signed out: the session is gone from the server.
    let mut stale = Browser::default();
    stale.cookies.insert("uma_session".into(), session);
    let page = stale.get(&app, "/console/policies").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("name=\"password\""), "{}", page.text());
}

#[actix_web::test]
async fn an_expired_session_is_asked_to_sign_in_again() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;
    t.clock.advance(t.state.settings.session_ttl + 1);
    let resp = browser
        .post(&app, "/console/new-policy", &[("csrf_token", &csrf)])
        .await;
    // The add form posts to /console/policies; a post there after expiry changes nothing.
    assert_eq!(resp.status, 405);
    let add = browser
        .post(
            &app,
            "/console/policies",
            &[
                ("csrf_token", &csrf),
                ("name", "late"),
                ("text", "permit (principal, action, resource);"),
            ],
        )
        .await;
    assert_eq!(add.status, 200);
    assert!(
        add.text().contains("Your session has ended"),
        "{}",
        add.text()
    );
    assert_eq!(policy_text(&t, "alice", "late"), None);
}

#[actix_web::test]
async fn connected_applications_are_hers_and_revoking_one_kills_its_tokens() {
    let t = setup();
    t.add_client("rs2", &[]);
    let app = t.service().await;
    let alices = user_pat(&t, "alice", "rs1");
    let carols = user_pat(&t, "carol", "rs2");

    let mut alice = Browser::default();
    let csrf = alice.sign_in(&app, "alice", "alice-password").await;
    let page = alice.get(&app, "/console/applications").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("rs1"), "{}", page.text());
    assert!(
        !page.text().contains("rs2"),
        "carol's application is not alice's: {}",
        page.text()
    );

    // Another owner's application, and one that does not exist: 404, and carol's PAT lives on.
    for other in ["rs2", "nobody"] {
        let resp = alice
            .post(
                &app,
                &format!("/console/applications/{other}/revoke"),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(resp.status, 404, "{other}: {}", resp.text());
    }
    assert_eq!(introspect_as(&app, "rs2", &carols).await["active"], true);

    // Without the session's CSRF token nothing happens.
    let forged = alice
        .post(
            &app,
            "/console/applications/rs1/revoke",
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(introspect_as(&app, "rs1", &alices).await["active"], true);

    let revoked = alice
        .post(
            &app,
            "/console/applications/rs1/revoke",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.text());
    assert_eq!(introspect_as(&app, "rs1", &alices).await["active"], false);
    assert_eq!(introspect_as(&app, "rs2", &carols).await["active"], true);
    let location = revoked.header("location").expect("location");
    let after = alice.get(&app, &location).await;
    assert!(after.text().contains("Revoked"), "{}", after.text());
    assert!(
        !after.text().contains("<code>rs1</code>"),
        "{}",
        after.text()
    );
}

#[actix_web::test]
async fn an_application_whose_id_has_reserved_characters_can_be_revoked() {
    // Client ids may hold any printable ASCII but spaces and `:`, so the revoke form's address must escape
    // `+`, `/`, `%`, `?` and `#` for the path to name the same client again.
    let t = setup();
    let id = "rs+1/a%20b?c#d";
    t.add_client(id, &[]);
    let app = t.service().await;
    let pat = user_pat(&t, "alice", id);
    let mut alice = Browser::default();
    let csrf = alice.sign_in(&app, "alice", "alice-password").await;
    let page = alice.get(&app, "/console/applications").await;
    let text = page.text();
    let action = text
        .split("action=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default())
        .find(|a| a.ends_with("/revoke"))
        .unwrap_or_else(|| panic!("no revoke form: {text}"))
        .replace("&#x2f;", "/")
        .replace("&#x25;", "%");
    let revoked = alice.post(&app, &action, &[("csrf_token", &csrf)]).await;
    assert_eq!(revoked.status, 303, "{action}: {}", revoked.text());
    let after = alice.get(&app, "/console/applications").await;
    assert!(!after.text().contains("rs+1"), "{}", after.text());
    // The client authenticates as RFC 6749 §2.3.1 says: its id form-encoded inside Basic.
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    assert_eq!(introspect_as(&app, &encoded, &pat).await["active"], false);
}

#[actix_web::test]
async fn my_resources_show_who_can_use_each_and_by_which_policy() {
    let t = setup();
    let app = t.service().await;
    let pat = user_pat(&t, "alice", "rs1");
    let photos = register(
        &app,
        &pat,
        &json!({"name": "Photos", "resource_scopes": ["view", "edit"]}),
    )
    .await;
    register(
        &app,
        &pat,
        &json!({"name": "Diary", "resource_scopes": ["view"]}),
    )
    .await;
    let text = format!(
        "permit (principal, action == Uma::Action::\"view\", resource == Uma::Resource::\"{photos}\") \
         when {{ principal has email && principal.email == \"bob@example.com\" }};"
    );
    t.state
        .policies
        .push(
            &t.state.store,
            "alice",
            &[Source::new("spouse-read-only", &text)],
            t.state.now(),
        )
        .expect("push");

    let mut alice = Browser::default();
    alice.sign_in(&app, "alice", "alice-password").await;
    let home = alice.get(&app, "/console").await;
    let html = home.text();
    assert!(
        html.contains("bob@example.com: view — policy spouse-read-only"),
        "{html}"
    );
    // Bob may view the photos only: the diary shows nobody, and edit is nowhere.
    let diary = html.find("Diary").expect("the diary is listed");
    assert!(html[diary..].contains("Nobody else can use it."), "{html}");
    assert!(!html.contains("view, edit — policy"), "{html}");
}

#[actix_web::test]
async fn the_activity_is_filtered_by_the_store_and_bad_filters_are_400() {
    let t = setup();
    let app = t.service().await;
    let held = Held::new(&t, &app).await;
    submitted(&held.ask(&app, "bob", &["view"]).await);

    let mut alice = Browser::default();
    alice.sign_in(&app, "alice", "alice-password").await;
    let all = alice.get(&app, "/console/activity").await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert!(
        all.text().contains("<td>request_submitted"),
        "{}",
        all.text()
    );
    let permits = alice.get(&app, "/console/activity?answer=permit").await;
    assert_eq!(permits.status, 200, "{}", permits.text());
    assert!(
        permits.text().contains("No decision to show."),
        "{}",
        permits.text()
    );
    for bad in ["answer=maybe", "page=0", "page=x", "page=999999"] {
        let resp = alice.get(&app, &format!("/console/activity?{bad}")).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text());
    }

    // Carol sees none of alice's log.
    let mut carol = Browser::default();
    carol.sign_in(&app, "carol", "carol-password").await;
    let hers = carol.get(&app, "/console/activity").await;
    assert!(
        hers.text().contains("No decision to show."),
        "{}",
        hers.text()
    );
}

/// The share fields for `who` (a group) with `view` on `resource`.
fn group_share(csrf: &str, resource: &str, group: &str, action: &str) -> Vec<(String, String)> {
    owned(&[
        ("csrf_token", csrf),
        ("resource", resource),
        ("who", group),
        ("kind", "group"),
        ("scope.1", "view"),
        ("action", action),
    ])
}

#[actix_web::test]
async fn a_share_preview_says_what_it_newly_allows_before_anything_is_saved() {
    if !crate::impact::cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let pat = user_pat(&t, "alice", "rs1");
    let diary = register(
        &app,
        &pat,
        &json!({"name": "Diary", "resource_scopes": ["view", "edit"]}),
    )
    .await;
    let version = t
        .state
        .store
        .read(|c| c.policy_version("alice"))
        .expect("version");
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;

    let preview = browser
        .post(
            &app,
            "/console/share",
            &borrowed(&group_share(&csrf, &diary, "guests", "preview")),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    let html = preview.text();
    assert!(html.contains("What this change does"), "{html}");
    assert!(
        html.contains("This also lets someone in group `guests` `view` Diary."),
        "the impact names the group, the scope and her resource: {html}"
    );
    assert!(html.contains("Confirm and share"), "{html}");
    assert_eq!(
        t.state
            .store
            .read(|c| c.policy_version("alice"))
            .expect("version"),
        version,
        "a preview stores nothing"
    );

    // Sharing the same again changes nothing more: the preview says so.
    let confirm = hidden(&html, "confirmed");
    let mut fields = group_share(&csrf, &diary, "guests", "save");
    fields.push(("confirmed".to_owned(), confirm));
    let saved = browser
        .post(&app, "/console/share", &borrowed(&fields))
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text());
    let again = browser
        .post(
            &app,
            "/console/share",
            &borrowed(&group_share(&csrf, &diary, "guests", "preview")),
        )
        .await;
    assert!(
        again.text().contains("No change in what is allowed"),
        "{}",
        again.text()
    );
}

#[actix_web::test]
async fn without_the_solver_the_preview_says_not_decided_and_the_save_still_works() {
    let mut t = setup();
    t.state.policies = std::sync::Arc::new(
        uma_cedar::owner::Policies::new(uma_cedar::policy::PolicySchema::base().expect("schema"))
            .with_impact_limits(uma_cedar::policy::impact::Limits {
                solver: "/nonexistent/cvc5".into(),
                timeout: std::time::Duration::from_secs(5),
            }),
    );
    let app = t.service().await;
    let pat = user_pat(&t, "alice", "rs1");
    register(
        &app,
        &pat,
        &json!({"name": "Diary", "resource_scopes": ["view"]}),
    )
    .await;
    let mut browser = Browser::default();
    let csrf = browser.sign_in(&app, "alice", "alice-password").await;
    let text = "permit (principal, action, resource);";
    let preview = browser
        .post(
            &app,
            "/console/policies",
            &[("csrf_token", &csrf), ("name", "everyone"), ("text", text)],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    let html = preview.text();
    assert!(html.contains("Not decided"), "{html}");
    assert!(!html.contains("No change in what is allowed"), "{html}");
    assert_eq!(policy_text(&t, "alice", "everyone"), None);
    let confirm = hidden(&html, "confirmed");
    let saved = browser
        .post(
            &app,
            "/console/policies",
            &[
                ("csrf_token", &csrf),
                ("name", "everyone"),
                ("text", text),
                ("confirmed", &confirm),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text());
    assert_eq!(policy_text(&t, "alice", "everyone").as_deref(), Some(text));
}
