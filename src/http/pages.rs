//! HTML pages of the authorization endpoint (RFC 6749 §4.1.1, §10.12, §10.13) and the claims interaction endpoint
//! (UMA Grant §3.3.2): login, consent, claims release and error pages; and the response every HTML page of the
//! server goes out in ([`html`]), the owner's console included.
//!
//! Markup comes only from the askama templates under `templates/`, which escape every value they interpolate;
//! nothing here builds HTML from strings. Every page carries headers that stop caching, framing (clickjacking of
//! the consent button), sniffing and referrer leaks, and a strict Content-Security-Policy: no script at all,
//! the server's own stylesheet only, and forms that may post only to this server and, for the sign-in pages,
//! to the origins of the client's registered redirect URIs (a form's answer there is a redirect to the client,
//! which `form-action` governs too).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::paths;
use crate::protocol::client::Client;
use crate::scope::{EMAIL, OPENID, PROFILE, UMA_POLICY, UMA_PROTECTION};

/// The Content-Security-Policy of a page whose forms post only to this server.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The generic login failure: identical for an unknown user and a wrong password (no account enumeration).
pub const LOGIN_FAILED: &str = "Invalid username or password.";

/// The stylesheet of every page, served at [`paths::CONSOLE_CSS`].
pub const STYLESHEET: &str = include_str!("../../static/console.css");

/// The Content-Security-Policy of a page whose forms may also end in a redirect to one of `redirects`.
pub fn csp_with(redirects: &[String]) -> String {
    let mut origins: Vec<String> = redirects.iter().filter_map(|r| form_source(r)).collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return CSP.to_owned();
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {}; \
         frame-ancestors 'none'; base-uri 'none'",
        origins.join(" ")
    )
}

/// The CSP source matching a redirect URI: its origin, or its scheme for a private-use scheme (RFC 8252 §7.1).
/// Anything that could break out of the header value is left out.
fn form_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let origin = url.origin();
    let source = if origin.is_tuple() {
        origin.ascii_serialization()
    } else {
        format!("{}:", url.scheme())
    };
    source
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\''))
        .then_some(source)
}

/// Every URI a sign-in form of `client` may end up redirecting to.
pub fn redirects_of(client: &Client) -> Vec<String> {
    client
        .redirect_uris
        .iter()
        .chain(&client.claims_redirect_uris)
        .cloned()
        .collect()
}

/// A page rendered into a response with the protective headers, under the CSP `csp`.
pub fn html(status: StatusCode, page: &impl Template, csp: &str) -> HttpResponse {
    rendered(status, page.render(), csp)
}

/// A page already rendered (on the blocking pool, say) in a response with the protective headers.
pub fn rendered(
    status: StatusCode,
    page: Result<String, askama::Error>,
    csp: &str,
) -> HttpResponse {
    match page {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("Content-Security-Policy", csp))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(body),
        Err(e) => {
            log::error!("cannot render a page: {e}");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body("The server could not show this page.")
        }
    }
}

/// What the login page shows.
#[derive(Debug, Clone, Copy)]
pub struct LoginView<'a> {
    /// Where the form posts: each endpoint that signs people in has its own login path.
    pub action: &'a str,
    /// The client's name, or its id when it has none.
    pub client: &'a str,
    /// The pending request the form answers; the console's own sign-in answers none.
    pub request: Option<&'a str>,
    pub csrf_token: &'a str,
    /// Refilled after a failed attempt so the user only retypes the password.
    pub username: &'a str,
    /// An error (failed login) or notice (session expired) shown above the form.
    pub message: Option<&'a str>,
    /// Where the answer to this form may redirect the browser besides this server ([`redirects_of`]).
    pub redirects: &'a [String],
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    title: &'a str,
    view: &'a LoginView<'a>,
    /// The upstream OpenID providers offered as "Sign in with".
    upstream: &'a [String],
    upstream_action: &'a str,
}

pub fn login(view: &LoginView<'_>) -> HttpResponse {
    login_with_upstream(view, &[])
}

/// The login page with a "Sign in with `<issuer>`" button for each upstream provider (the claims interaction
/// endpoint): each a form of its own posting the provider to [`paths::CLAIMS_UPSTREAM`].
pub fn login_with_upstream(view: &LoginView<'_>, upstream: &[String]) -> HttpResponse {
    // A button's post answers with a redirect to the provider, which `form-action` governs too: allow the
    // providers' origins (their authorization endpoints are expected on the issuer's origin).
    let mut allowed = view.redirects.to_vec();
    allowed.extend(upstream.iter().cloned());
    html(
        StatusCode::OK,
        &LoginPage {
            title: "Sign in",
            view,
            upstream,
            upstream_action: paths::CLAIMS_UPSTREAM,
        },
        &csp_with(&allowed),
    )
}

/// Plain words for a scope, for the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        OPENID => "Confirm who you are: your username, and your name and email address if your account has them".into(),
        EMAIL => "See your email address".into(),
        PROFILE => "See your name".into(),
        UMA_PROTECTION => "Register your resources with this server and manage who may access them on your behalf".into(),
        UMA_POLICY => "Read, write and remove your sharing policies: who may access your resources".into(),
        other => format!("Use the permission “{other}”"),
    }
}

/// What the consent page shows.
#[derive(Debug, Clone, Copy)]
pub struct ConsentView<'a> {
    pub client: &'a str,
    pub username: &'a str,
    pub scopes: &'a [&'a str],
    pub request: Option<&'a str>,
    pub csrf_token: &'a str,
    /// Where the answer may redirect the browser: the client's redirect URIs.
    pub redirects: &'a [String],
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    title: &'a str,
    action: &'a str,
    scopes: Vec<String>,
    view: &'a ConsentView<'a>,
}

pub fn consent(view: &ConsentView<'_>) -> HttpResponse {
    html(
        StatusCode::OK,
        &ConsentPage {
            title: "Allow access?",
            action: paths::AUTHORIZE_CONSENT,
            scopes: view.scopes.iter().map(|s| describe_scope(s)).collect(),
            view,
        },
        &csp_with(view.redirects),
    )
}

/// What the claims interaction page (UMA Grant §3.3.2) shows before the party's claims are released.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseView<'a> {
    pub client: &'a str,
    /// The resource owner whose policies will see the claims.
    pub owner: &'a str,
    /// How the party is named (email address, or username).
    pub identity: &'a str,
    /// The names of the claims released.
    pub claims: &'a [&'a str],
    pub request: Option<&'a str>,
    pub csrf_token: &'a str,
    /// Where the answer may redirect the browser: the client's claims redirect URIs.
    pub redirects: &'a [String],
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage<'a> {
    title: &'a str,
    action: &'a str,
    view: &'a ReleaseView<'a>,
}

pub fn release(view: &ReleaseView<'_>) -> HttpResponse {
    html(
        StatusCode::OK,
        &ReleasePage {
            title: "Show who you are?",
            action: paths::CLAIMS_DECISION,
            view,
        },
        &csp_with(view.redirects),
    )
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    hint: &'a str,
}

/// An error the browser's user must read, shown instead of redirecting (RFC 6749 §4.1.2.1: never redirect to
/// an unverified redirect URI).
pub fn error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    error_with_hint(
        status,
        title,
        message,
        "Return to the application you came from and try again.",
    )
}

/// As [`error`], with the line that says what to do next.
pub fn error_with_hint(status: StatusCode, title: &str, message: &str, hint: &str) -> HttpResponse {
    html(
        status,
        &ErrorPage {
            title,
            message,
            hint,
        },
        CSP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(resp: HttpResponse) -> String {
        let bytes = resp.into_body().try_into_bytes().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn csp_of(resp: &HttpResponse) -> String {
        resp.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn values_are_escaped() {
        let html = body_of(consent(&ConsentView {
            client: "<script>alert(1)</script>",
            username: "a&b",
            scopes: &["openid", "x\"y"],
            request: Some("r\"><img>"),
            csrf_token: "c",
            redirects: &[],
        }));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
            "{html}"
        );
        assert!(
            html.contains("a&amp;b") || html.contains("a&#38;b"),
            "{html}"
        );
        assert!(!html.contains("r\"><img>"));
        assert!(!html.contains("x\"y"));
    }

    #[test]
    fn pages_carry_protective_headers() {
        let resp = error(StatusCode::BAD_REQUEST, "Oops", "<b>bad</b>");
        let headers = resp.headers();
        for (name, value) in [
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ] {
            assert_eq!(
                headers.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
        let csp = csp_of(&resp);
        for directive in [
            "default-src 'none'",
            "style-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"));
        let html = body_of(resp);
        assert!(
            html.contains("&lt;b&gt;bad&lt;/b&gt;") || html.contains("&#60;b&#62;bad&#60;/b&#62;"),
            "{html}"
        );
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/console/static/console.css\">"));
        assert!(
            !html.contains("<script") && !html.contains("style="),
            "{html}"
        );
    }

    #[test]
    fn sign_in_pages_may_post_on_to_the_clients_redirect_origins_only() {
        let redirects = vec![
            "https://app.example:8443/cb?x=1".to_owned(),
            "https://app.example:8443/other".to_owned(),
            "com.example.app:/callback".to_owned(),
        ];
        let resp = consent(&ConsentView {
            client: "App",
            username: "alice",
            scopes: &["openid"],
            request: Some("r"),
            csrf_token: "c",
            redirects: &redirects,
        });
        let csp = csp_of(&resp);
        assert!(
            csp.contains("form-action 'self' com.example.app: https://app.example:8443;"),
            "{csp}"
        );
        assert_eq!(form_source("not a url"), None);
    }

    #[test]
    fn login_form_uses_the_field_names_password_managers_expect() {
        let html = body_of(login(&LoginView {
            action: paths::AUTHORIZE_LOGIN,
            client: "Bank",
            request: Some("r"),
            csrf_token: "c",
            username: "",
            message: Some(LOGIN_FAILED),
            redirects: &[],
        }));
        for needle in [
            "name=\"username\"",
            "name=\"password\"",
            "autocomplete=\"current-password\"",
            "<label for=\"username\">",
            "name=\"request\" value=\"r\"",
            "name=\"csrf_token\" value=\"c\"",
            "<title>Sign in</title>",
            LOGIN_FAILED,
        ] {
            assert!(html.contains(needle), "{needle} in {html}");
        }
    }
}
