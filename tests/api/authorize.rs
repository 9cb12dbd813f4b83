//! The browser side of OAuth (RFC 6749 §4.1, RFC 7636, RFC 9207), the authorization code and refresh token
//! grants (RFC 6749 §4.1.3, §6), ID tokens and the UserInfo endpoint (OpenID Connect Core §3.1, §5.3), driven
//! through the real routing with a hand-kept cookie jar.

use std::collections::{BTreeMap, HashMap};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use serde_json::Value;
use uma_cedar::http::bearer;
use uma_cedar::oauth::registration::NewClient;
use uma_cedar::store::tokens::SubjectKind;

use crate::helpers::*;

const WEB_CB: &str = "https://web.example/cb";
const SPA_CB: &str = "https://spa.example/cb";
const PASSWORD: &str = "correct horse battery";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A browser: keeps the cookies the server sets and sends them back.
#[derive(Debug, Default, Clone)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn keep_cookies(&mut self, resp: &Resp) {
        for value in resp.headers.get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().expect("name=value");
            let (name, value) = pair.split_once('=').expect("cookie has =");
            self.cookies.insert(name.trim().into(), value.trim().into());
        }
    }

    fn with_cookies(&self, req: TestRequest) -> TestRequest {
        if self.cookies.is_empty() {
            return req;
        }
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        req.insert_header(("Cookie", header.join("; ")))
    }
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
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

/// The `Set-Cookie` header of the named cookie, attributes included.
fn set_cookie(resp: &Resp, name: &str) -> Option<String> {
    resp.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The query parameters of a redirect's `Location`, after checking where it points.
fn redirect_params(resp: &Resp, expected_base: &str) -> HashMap<String, String> {
    assert!(
        matches!(resp.status, 302 | 303),
        "expected a redirect, got {}: {}",
        resp.status,
        resp.text()
    );
    let location = resp.header("location").expect("Location");
    let url = url::Url::parse(&location).expect("absolute Location");
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
        expected_base
    );
    url.query_pairs().into_owned().collect()
}

fn assert_html_page(resp: &Resp, status: u16) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "HTML page"
    );
    assert!(resp.header("location").is_none(), "a page never redirects");
    assert_eq!(resp.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
}

fn web_query(extra: &str) -> String {
    format!(
        "response_type=code&client_id=web&redirect_uri={}&scope=openid%20uma_protection&state=xyz&nonce=n-0S6{extra}",
        enc(WEB_CB)
    )
}

fn spa_query(extra: &str) -> String {
    format!(
        "response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=s1\
         &code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        enc(SPA_CB)
    )
}

fn setup() -> TestApp {
    let t = TestApp::new();
    prepare(&t);
    t
}

fn prepare(t: &TestApp) {
    t.insert_client(NewClient {
        client_id: "web".into(),
        secret: Some(SECRET.into()),
        client_name: Some("Web Bank".into()),
        redirect_uris: vec![WEB_CB.into()],
        ..Default::default()
    });
    t.add_public_client("spa", &[SPA_CB]);
    t.add_user("alice", PASSWORD, Some("alice@example.com"));
}

async fn get_authorize<S, B>(app: &S, browser: &mut Browser, query: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = browser.with_cookies(TestRequest::get().uri(&format!("/authorize?{query}")));
    let resp = send(app, req).await;
    browser.keep_cookies(&resp);
    resp
}

async fn post_page<S, B>(app: &S, browser: &mut Browser, path: &str, body: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(app, browser.with_cookies(form(path, body))).await;
    browser.keep_cookies(&resp);
    resp
}

/// Submits the login form found in `page`.
async fn log_in<S, B>(app: &S, browser: &mut Browser, page: &Resp, user: &str, pw: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let html = page.text();
    let body = format!(
        "request={}&csrf_token={}&username={}&password={}",
        enc(&hidden(&html, "request")),
        enc(&hidden(&html, "csrf_token")),
        enc(user),
        enc(pw)
    );
    post_page(app, browser, "/authorize/login", &body).await
}

/// Submits the consent form found in `page`.
async fn decide<S, B>(app: &S, browser: &mut Browser, page: &Resp, decision: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let html = page.text();
    let body = format!(
        "request={}&csrf_token={}&decision={decision}",
        enc(&hidden(&html, "request")),
        enc(&hidden(&html, "csrf_token")),
    );
    post_page(app, browser, "/authorize/consent", &body).await
}

/// Runs the whole browser flow as alice and returns the redirect's parameters.
async fn authorize_as_alice<S, B>(app: &S, query: &str, redirect: &str) -> HashMap<String, String>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut browser = Browser::default();
    let login_page = get_authorize(app, &mut browser, query).await;
    assert_eq!(login_page.status, 200, "{}", login_page.text());
    let consent_page = log_in(app, &mut browser, &login_page, "alice", PASSWORD).await;
    assert_eq!(consent_page.status, 200, "{}", consent_page.text());
    let done = decide(app, &mut browser, &consent_page, "allow").await;
    redirect_params(&done, redirect)
}

async fn web_code<S, B>(app: &S, scope: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let query = web_query("").replace("openid%20uma_protection", &enc(scope));
    authorize_as_alice(app, &query, WEB_CB).await["code"].clone()
}

async fn redeem_web<S, B>(app: &S, code: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        enc(code),
        enc(WEB_CB)
    );
    send(
        app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await
}

async fn refresh_web<S, B>(app: &S, refresh_token: &str, scope: Option<&str>) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = format!(
        "grant_type=refresh_token&refresh_token={}",
        enc(refresh_token)
    );
    if let Some(scope) = scope {
        body.push_str(&format!("&scope={}", enc(scope)));
    }
    send(
        app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await
}

async fn userinfo_status<S, B>(app: &S, access_token: &str) -> u16
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        TestRequest::get()
            .uri("/userinfo")
            .insert_header(bearer(access_token)),
    )
    .await
    .status
}

fn token_of(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` in {body}"))
        .to_owned()
}

#[actix_web::test]
async fn confidential_client_full_flow_issues_a_pat_refresh_and_id_token() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();

    let login_page = get_authorize(&app, &mut browser, &web_query("")).await;
    assert_html_page(&login_page, 200);
    assert_eq!(
        login_page.header("content-security-policy").as_deref(),
        Some(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https://web.example; \
             frame-ancestors 'none'; base-uri 'none'"
        ),
        "no script, the server's stylesheet, and forms that post here or on to the client's redirect origin"
    );
    assert_eq!(
        login_page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let html = login_page.text();
    assert!(html.contains("Web Bank"), "login names the client");
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let csrf = set_cookie(&login_page, "uma_csrf").expect("CSRF cookie");
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax"),
        "{csrf}"
    );
    assert!(
        !csrf.contains("Secure"),
        "plain http issuer: no Secure flag"
    );
    assert_eq!(
        browser.cookies["uma_csrf"],
        hidden(&html, "csrf_token"),
        "double submit: the form carries the cookie's token"
    );

    let consent_page = log_in(&app, &mut browser, &login_page, "alice", PASSWORD).await;
    assert_html_page(&consent_page, 200);
    let session = set_cookie(&consent_page, "uma_session").expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let html = consent_page.text();
    assert!(html.contains("Web Bank"), "consent names the client");
    assert!(
        html.contains("Register your resources"),
        "uma_protection in words"
    );
    assert!(html.contains("Confirm who you are"), "openid in words");
    assert!(html.contains("name=\"decision\" value=\"allow\""));

    let done = decide(&app, &mut browser, &consent_page, "allow").await;
    assert_eq!(done.status, 303);
    let params = redirect_params(&done, WEB_CB);
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], "http://as.test");
    assert!(!params.contains_key("error"));

    let resp = redeem_web(&app, &params["code"]).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid uma_protection");
    assert!(body["refresh_token"].is_string());
    let access = token_of(&body, "access_token");
    let pat = bearer::check_pat(&t.state, &access).expect("the access token is a PAT");
    assert_eq!(pat.owner, "alice");
    assert_eq!(pat.owner_kind, SubjectKind::User);
    assert_eq!(pat.client_id, "web");

    let claims = t
        .state
        .key_set()
        .unwrap()
        .verify(&token_of(&body, "id_token"))
        .expect("ID token signature verifies");
    assert_eq!(claims["iss"], "http://as.test");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "web");
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + t.state.settings.id_token_ttl);
    assert_eq!(claims["auth_time"], START);
    assert_eq!(claims["nonce"], "n-0S6");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "alice Example");
}

#[actix_web::test]
async fn public_client_with_pkce_gets_tokens_and_refreshes_with_client_id_only() {
    let t = setup();
    let app = t.service().await;
    let params = authorize_as_alice(&app, &spa_query(""), SPA_CB).await;
    assert_eq!(params["state"], "s1");
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id=spa&code_verifier={VERIFIER}",
        enc(&params["code"]),
        enc(SPA_CB)
    );
    let resp = send(&app, form("/token", &body)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let tokens = resp.json();
    let claims = t
        .state
        .key_set()
        .unwrap()
        .verify(&token_of(&tokens, "id_token"))
        .expect("verify");
    assert_eq!(claims["aud"], "spa");
    assert!(
        claims.get("nonce").is_none(),
        "no nonce sent, none returned"
    );

    let body = format!(
        "grant_type=refresh_token&client_id=spa&refresh_token={}",
        enc(&token_of(&tokens, "refresh_token"))
    );
    let resp = send(&app, form("/token", &body)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        userinfo_status(&app, &token_of(&resp.json(), "access_token")).await,
        200
    );
}

#[actix_web::test]
async fn https_issuer_sets_secure_host_prefixed_cookies() {
    let t = TestApp::with_settings(|s| s.issuer = "https://as.test".into());
    prepare(&t);
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let csrf = set_cookie(&page, "__Host-uma_csrf").expect("prefixed CSRF cookie");
    assert!(csrf.contains("Secure") && csrf.contains("Path=/"), "{csrf}");
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    let session = set_cookie(&consent_page, "__Host-uma_session").expect("prefixed session");
    assert!(session.contains("Secure"), "{session}");
    let done = decide(&app, &mut browser, &consent_page, "allow").await;
    assert_eq!(redirect_params(&done, WEB_CB)["iss"], "https://as.test");
}

#[actix_web::test]
async fn unknown_client_or_unregistered_redirect_uri_shows_a_page_and_never_redirects() {
    let t = setup();
    t.insert_client(NewClient {
        client_id: "multi".into(),
        secret: Some(SECRET.into()),
        redirect_uris: vec!["https://m.example/a".into(), "https://m.example/b".into()],
        ..Default::default()
    });
    let app = t.service().await;
    let evil = enc("https://evil.example/cb");
    let cases = [
        format!("response_type=code&client_id=ghost&redirect_uri={evil}&scope=openid&state=x"),
        format!("response_type=code&client_id=web&redirect_uri={evil}&scope=openid&state=x"),
        // No prefix matching, no normalisation.
        format!(
            "response_type=code&client_id=web&redirect_uri={}&scope=openid",
            enc("https://web.example/cb/extra")
        ),
        format!(
            "response_type=code&client_id=web&redirect_uri={}&scope=openid",
            enc("https://WEB.example/cb")
        ),
        format!("response_type=code&redirect_uri={evil}&scope=openid"),
        "response_type=code&client_id=web&client_id=spa&scope=openid".to_owned(),
        format!(
            "response_type=code&client_id=web&redirect_uri={}&redirect_uri={evil}&scope=openid",
            enc(WEB_CB)
        ),
        // Several registered and none named.
        "response_type=code&client_id=multi&scope=openid".to_owned(),
    ];
    for query in cases {
        let resp = send(&app, TestRequest::get().uri(&format!("/authorize?{query}"))).await;
        assert_html_page(&resp, 400);
        assert!(!resp.text().contains("evil.example/cb\""), "{query}");
    }
}

#[actix_web::test]
async fn omitted_redirect_uri_uses_the_only_registered_one_and_is_then_optional() {
    let t = setup();
    let app = t.service().await;
    let query = "response_type=code&client_id=web&scope=openid&state=q";
    let params = authorize_as_alice(&app, query, WEB_CB).await;
    let body = format!(
        "grant_type=authorization_code&code={}",
        enc(&params["code"])
    );
    let resp = send(
        &app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[actix_web::test]
async fn public_client_without_pkce_is_redirected_with_invalid_request() {
    let t = setup();
    let app = t.service().await;
    let query = format!(
        "response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=s1",
        enc(SPA_CB)
    );
    let resp = get_authorize(&app, &mut Browser::default(), &query).await;
    assert_eq!(resp.status, 302);
    let params = redirect_params(&resp, SPA_CB);
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("PKCE"));
    assert_eq!(params["state"], "s1");
    assert_eq!(params["iss"], "http://as.test");
}

#[actix_web::test]
async fn plain_or_implicit_plain_pkce_method_is_refused() {
    let t = setup();
    let app = t.service().await;
    for extra in [
        "&code_challenge_method=plain",
        // No method means `plain` (RFC 7636 §4.3).
        "",
    ] {
        let query = format!(
            "response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=s1\
             &code_challenge={VERIFIER}{extra}",
            enc(SPA_CB)
        );
        let resp = get_authorize(&app, &mut Browser::default(), &query).await;
        let params = redirect_params(&resp, SPA_CB);
        assert_eq!(params["error"], "invalid_request", "{extra}");
        assert!(params["error_description"].contains("S256"));
        assert_eq!(params["state"], "s1");
    }
}

#[actix_web::test]
async fn request_errors_are_redirected_with_state_and_iss() {
    let t = setup();
    let app = t.service().await;
    let base = format!("client_id=web&redirect_uri={}&state=st", enc(WEB_CB));
    let cases = [
        (
            format!("{base}&response_type=token&scope=openid"),
            "unsupported_response_type",
        ),
        (format!("{base}&scope=openid"), "invalid_request"),
        (
            format!("{base}&response_type=code&scope=admin"),
            "invalid_scope",
        ),
        (format!("{base}&response_type=code"), "invalid_scope"),
        (
            format!("{base}&response_type=code&scope=openid&scope=openid"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&scope=openid&code_challenge_method=S256"),
            "invalid_request",
        ),
    ];
    for (query, error) in cases {
        let resp = get_authorize(&app, &mut Browser::default(), &query).await;
        assert_eq!(resp.status, 302, "{query}");
        let params = redirect_params(&resp, WEB_CB);
        assert_eq!(params["error"], error, "{query}");
        assert!(!params["error_description"].is_empty());
        assert_eq!(params["state"], "st");
        assert_eq!(params["iss"], "http://as.test");
        assert!(!params.contains_key("code"));
    }
}

#[actix_web::test]
async fn client_restricted_to_other_grants_cannot_start_the_flow() {
    let t = setup();
    t.insert_client(NewClient {
        client_id: "machine".into(),
        secret: Some(SECRET.into()),
        redirect_uris: vec![WEB_CB.into()],
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    });
    let app = t.service().await;
    let query = format!(
        "response_type=code&client_id=machine&redirect_uri={}&scope=openid",
        enc(WEB_CB)
    );
    let resp = get_authorize(&app, &mut Browser::default(), &query).await;
    assert_eq!(
        redirect_params(&resp, WEB_CB)["error"],
        "unauthorized_client"
    );
}

#[actix_web::test]
async fn wrong_or_missing_code_verifier_is_invalid_grant_and_does_not_burn_the_code() {
    let t = setup();
    let app = t.service().await;
    let params = authorize_as_alice(&app, &spa_query(""), SPA_CB).await;
    let token_req = |verifier: Option<&str>| {
        let mut body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&client_id=spa",
            enc(&params["code"]),
            enc(SPA_CB)
        );
        if let Some(v) = verifier {
            body.push_str(&format!("&code_verifier={v}"));
        }
        form("/token", &body)
    };
    let wrong = VERIFIER.replace('d', "e");
    send(&app, token_req(Some(&wrong)))
        .await
        .assert_error(400, "invalid_grant");
    send(&app, token_req(None))
        .await
        .assert_error(400, "invalid_grant");
    send(&app, token_req(Some("too-short")))
        .await
        .assert_error(400, "invalid_request");
    let resp = send(&app, token_req(Some(VERIFIER))).await;
    assert_eq!(
        resp.status,
        200,
        "the right verifier still works: {}",
        resp.text()
    );
}

#[actix_web::test]
async fn verifier_without_a_challenge_is_refused() {
    let t = setup();
    let app = t.service().await;
    let code = web_code(&app, "openid").await;
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
        enc(&code),
        enc(WEB_CB)
    );
    send(
        &app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await
    .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn bad_login_gives_the_same_generic_message_for_unknown_user_and_wrong_password() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;

    let unknown = log_in(&app, &mut browser, &page, "mallory", PASSWORD).await;
    let wrong = log_in(&app, &mut browser, &page, "alice", "not the password").await;
    for resp in [&unknown, &wrong] {
        assert_html_page(resp, 200);
        assert!(resp.text().contains("Invalid username or password."));
        assert!(set_cookie(resp, "uma_session").is_none(), "no session");
    }
    // Apart from the refilled username, the two pages are identical.
    assert_eq!(
        unknown.text().replace("mallory", "USER"),
        wrong.text().replace("alice", "USER")
    );
    assert!(!browser.cookies.contains_key("uma_session"));

    // The request is still pending: the right password now works.
    let ok = log_in(&app, &mut browser, &wrong, "alice", PASSWORD).await;
    assert!(ok.text().contains("Allow access?"), "{}", ok.text());
}

#[actix_web::test]
async fn login_without_a_valid_csrf_token_is_refused_and_does_nothing() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let html = page.text();
    let request = enc(&hidden(&html, "request"));
    let token = enc(&hidden(&html, "csrf_token"));
    let creds = format!("username=alice&password={}", enc(PASSWORD));

    // A second browser with its own valid request, cookie and token.
    let mut other = Browser::default();
    let other_page = get_authorize(&app, &mut other, &web_query("")).await;
    let other_token = enc(&hidden(&other_page.text(), "csrf_token"));

    let attempts = [
        // No token in the form.
        (browser.clone(), format!("request={request}&{creds}")),
        // A token that matches neither.
        (
            browser.clone(),
            format!("request={request}&csrf_token=AAAA{}&{creds}", &token[4..]),
        ),
        // The right token but no cookie (a cross-site post from another browser).
        (
            Browser::default(),
            format!("request={request}&csrf_token={token}&{creds}"),
        ),
        // Another browser's own matching cookie and token, aimed at this browser's request.
        (
            other.clone(),
            format!("request={request}&csrf_token={other_token}&{creds}"),
        ),
    ];
    for (mut who, body) in attempts {
        let resp = post_page(&app, &mut who, "/authorize/login", &body).await;
        assert_html_page(&resp, 403);
        assert!(set_cookie(&resp, "uma_session").is_none(), "{body}");
        assert!(!resp.text().contains("Allow access?"));
    }
    let ok = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    assert!(ok.text().contains("Allow access?"));
}

#[actix_web::test]
async fn consent_without_a_valid_csrf_token_is_refused_and_issues_nothing() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    let request = enc(&hidden(&consent_page.text(), "request"));

    let forged = post_page(
        &app,
        &mut browser.clone(),
        "/authorize/consent",
        &format!("request={request}&decision=allow"),
    )
    .await;
    assert_html_page(&forged, 403);
    let mut no_csrf_cookie = browser.clone();
    no_csrf_cookie.cookies.remove("uma_csrf");
    let token = enc(&hidden(&consent_page.text(), "csrf_token"));
    let forged = post_page(
        &app,
        &mut no_csrf_cookie,
        "/authorize/consent",
        &format!("request={request}&csrf_token={token}&decision=allow"),
    )
    .await;
    assert_html_page(&forged, 403);

    // Nothing was decided: the genuine form still works.
    let done = decide(&app, &mut browser, &consent_page, "allow").await;
    assert!(redirect_params(&done, WEB_CB).contains_key("code"));
}

#[actix_web::test]
async fn deny_redirects_access_denied_with_state() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    let done = decide(&app, &mut browser, &consent_page, "deny").await;
    assert_eq!(done.status, 303);
    let params = redirect_params(&done, WEB_CB);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], "http://as.test");
    assert!(!params.contains_key("code"));
}

#[actix_web::test]
async fn a_decision_is_single_use() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    let first = decide(&app, &mut browser, &consent_page, "allow").await;
    assert!(redirect_params(&first, WEB_CB).contains_key("code"));
    let again = decide(&app, &mut browser, &consent_page, "allow").await;
    assert_html_page(&again, 400);
}

#[actix_web::test]
async fn existing_session_skips_the_login_page_until_it_expires() {
    // A session shorter than a pending request, so the request outlives it.
    let t = TestApp::with_settings(|s| s.session_ttl = 300);
    prepare(&t);
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    decide(&app, &mut browser, &consent_page, "allow").await;

    let second = get_authorize(&app, &mut browser, &web_query("")).await;
    assert_html_page(&second, 200);
    let html = second.text();
    assert!(
        html.contains("Allow access?") && html.contains("alice"),
        "{html}"
    );
    assert!(!html.contains("name=\"password\""));

    // The consent page stays open past the session's end: the user must sign in again.
    t.clock.advance(t.state.settings.session_ttl);
    let resp = decide(&app, &mut browser, &second, "allow").await;
    assert_html_page(&resp, 200);
    assert!(resp.text().contains("name=\"password\""), "login again");
    let third = get_authorize(&app, &mut browser, &web_query("")).await;
    assert!(third.text().contains("name=\"password\""));
}

#[actix_web::test]
async fn expired_authorization_request_is_refused() {
    let t = setup();
    let app = t.service().await;
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &web_query("")).await;
    t.clock.advance(uma_cedar::http::authorize::REQUEST_TTL);
    let resp = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    assert_html_page(&resp, 400);
    assert!(set_cookie(&resp, "uma_session").is_none());
}

#[actix_web::test]
async fn consent_page_escapes_the_client_name() {
    let t = setup();
    t.insert_client(NewClient {
        client_id: "xss".into(),
        secret: Some(SECRET.into()),
        client_name: Some("<script>alert(1)</script>".into()),
        redirect_uris: vec![WEB_CB.into()],
        ..Default::default()
    });
    let app = t.service().await;
    let query = format!(
        "response_type=code&client_id=xss&redirect_uri={}&scope=openid",
        enc(WEB_CB)
    );
    let mut browser = Browser::default();
    let page = get_authorize(&app, &mut browser, &query).await;
    let consent_page = log_in(&app, &mut browser, &page, "alice", PASSWORD).await;
    for html in [page.text(), consent_page.text()] {
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
    }
}

#[actix_web::test]
async fn reused_code_is_invalid_grant_and_revokes_the_first_tokens() {
    let t = setup();
    let app = t.service().await;
    let code = web_code(&app, "openid uma_protection").await;
    let first = redeem_web(&app, &code).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    let access = token_of(&first, "access_token");
    assert_eq!(userinfo_status(&app, &access).await, 200);

    redeem_web(&app, &code)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "access token revoked"
    );
    assert!(bearer::check_pat(&t.state, &access).is_err());
    refresh_web(&app, &token_of(&first, "refresh_token"), None)
        .await
        .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn expired_code_is_invalid_grant() {
    let t = setup();
    let app = t.service().await;
    let code = web_code(&app, "openid").await;
    t.clock.advance(t.state.settings.code_ttl);
    let resp = redeem_web(&app, &code).await;
    resp.assert_error(400, "invalid_grant");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[actix_web::test]
async fn unknown_code_is_invalid_grant() {
    let t = setup();
    let app = t.service().await;
    redeem_web(&app, "no-such-code")
        .await
        .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn redirect_uri_must_match_at_the_token_endpoint() {
    let t = setup();
    let app = t.service().await;
    let code = web_code(&app, "openid").await;
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        enc(&code),
        enc("https://web.example/other")
    );
    send(
        &app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await
    .assert_error(400, "invalid_grant");
    // Sent at the authorization endpoint, so required here.
    let body = format!("grant_type=authorization_code&code={}", enc(&code));
    send(
        &app,
        form("/token", &body).insert_header(basic("web", SECRET)),
    )
    .await
    .assert_error(400, "invalid_request");
    let resp = redeem_web(&app, &code).await;
    assert_eq!(resp.status, 200, "the code was not burned: {}", resp.text());
}

#[actix_web::test]
async fn code_issued_to_another_client_is_refused() {
    let t = setup();
    t.add_client("other", &[WEB_CB]);
    let app = t.service().await;
    let code = web_code(&app, "openid").await;
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        enc(&code),
        enc(WEB_CB)
    );
    send(
        &app,
        form("/token", &body).insert_header(basic("other", SECRET)),
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(redeem_web(&app, &code).await.status, 200);
}

#[actix_web::test]
async fn refresh_rotates_and_a_replayed_refresh_token_revokes_the_grant() {
    let t = setup();
    let app = t.service().await;
    let code = web_code(&app, "openid uma_protection").await;
    let first = redeem_web(&app, &code).await.json();
    let old_refresh = token_of(&first, "refresh_token");

    let resp = refresh_web(&app, &old_refresh, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let second = resp.json();
    let new_refresh = token_of(&second, "refresh_token");
    let new_access = token_of(&second, "access_token");
    assert_ne!(new_refresh, old_refresh, "rotated");
    assert_eq!(second["scope"], "openid uma_protection");
    assert_eq!(userinfo_status(&app, &new_access).await, 200);

    refresh_web(&app, &old_refresh, None)
        .await
        .assert_error(400, "invalid_grant");
    refresh_web(&app, &new_refresh, None)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(userinfo_status(&app, &new_access).await, 401);
}

#[actix_web::test]
async fn refresh_cannot_widen_the_scope_but_may_narrow_the_access_token() {
    let t = setup();
    let app = t.service().await;
    let narrow = redeem_web(&app, &web_code(&app, "openid").await)
        .await
        .json();
    refresh_web(
        &app,
        &token_of(&narrow, "refresh_token"),
        Some("openid uma_protection"),
    )
    .await
    .assert_error(400, "invalid_scope");

    let full = redeem_web(&app, &web_code(&app, "openid uma_protection").await)
        .await
        .json();
    let resp = refresh_web(&app, &token_of(&full, "refresh_token"), Some("openid")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let narrowed = resp.json();
    assert_eq!(narrowed["scope"], "openid");
    assert!(bearer::check_pat(&t.state, &token_of(&narrowed, "access_token")).is_err());
    // The new refresh token keeps the grant's scope (RFC 6749 §6).
    let resp = refresh_web(&app, &token_of(&narrowed, "refresh_token"), None).await;
    assert_eq!(resp.json()["scope"], "openid uma_protection");
}

#[actix_web::test]
async fn refresh_token_of_another_client_or_an_access_token_is_refused() {
    let t = setup();
    t.add_client("other", &[WEB_CB]);
    let app = t.service().await;
    let tokens = redeem_web(&app, &web_code(&app, "openid").await)
        .await
        .json();
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        enc(&token_of(&tokens, "refresh_token"))
    );
    send(
        &app,
        form("/token", &body).insert_header(basic("other", SECRET)),
    )
    .await
    .assert_error(400, "invalid_grant");
    refresh_web(&app, &token_of(&tokens, "access_token"), None)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        refresh_web(&app, &token_of(&tokens, "refresh_token"), None)
            .await
            .status,
        200,
        "the failed attempts did not consume it"
    );
}

#[actix_web::test]
async fn expired_refresh_token_is_invalid_grant() {
    let t = setup();
    let app = t.service().await;
    let tokens = redeem_web(&app, &web_code(&app, "openid").await)
        .await
        .json();
    t.clock.advance(t.state.settings.refresh_token_ttl);
    refresh_web(&app, &token_of(&tokens, "refresh_token"), None)
        .await
        .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn userinfo_answers_for_openid_tokens_only() {
    let t = setup();
    t.add_client("rs1", &[]);
    let app = t.service().await;
    let tokens = redeem_web(&app, &web_code(&app, "openid").await)
        .await
        .json();
    let access = token_of(&tokens, "access_token");

    for req in [TestRequest::get(), TestRequest::post()] {
        let resp = send(&app, req.uri("/userinfo").insert_header(bearer(&access))).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(
            resp.json(),
            serde_json::json!({"sub": "alice", "email": "alice@example.com", "email_verified": true, "name": "alice Example"})
        );
    }

    let missing = send(&app, TestRequest::get().uri("/userinfo")).await;
    missing.assert_error(401, "invalid_token");
    assert_eq!(
        missing.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"uma-cedar\"")
    );
    send(
        &app,
        TestRequest::get()
            .uri("/userinfo")
            .insert_header(bearer("not-a-token")),
    )
    .await
    .assert_error(401, "invalid_token");

    let pat_only = redeem_web(&app, &web_code(&app, "uma_protection").await)
        .await
        .json();
    let resp = send(
        &app,
        TestRequest::get()
            .uri("/userinfo")
            .insert_header(bearer(&token_of(&pat_only, "access_token"))),
    )
    .await;
    resp.assert_error(403, "insufficient_scope");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.contains("scope=\"openid\""))
    );
    let client_pat = client_pat(&app, "rs1").await;
    send(
        &app,
        TestRequest::get()
            .uri("/userinfo")
            .insert_header(bearer(&client_pat)),
    )
    .await
    .assert_error(403, "insufficient_scope");
    send(&app, TestRequest::delete().uri("/userinfo"))
        .await
        .assert_error(405, "unsupported_method_type");
}

#[actix_web::test]
async fn posting_to_authorize_or_getting_a_form_endpoint_is_not_allowed() {
    let t = setup();
    let app = t.service().await;
    send(&app, form("/authorize", "client_id=web"))
        .await
        .assert_error(405, "unsupported_method_type");
    send(&app, TestRequest::get().uri("/authorize/login"))
        .await
        .assert_error(405, "unsupported_method_type");
}
