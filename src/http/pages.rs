//! HTML pages of the authorization endpoint (RFC 6749 §4.1.1, §10.12, §10.13) and the claims interaction endpoint
//! (UMA Grant §3.3.2): login, consent, claims release and error pages.
//!
//! Every value that reaches a page (client names, usernames, tokens, error text) is escaped here with
//! `html-escape`; nothing may be interpolated raw. Every page carries headers that stop caching, framing
//! (clickjacking of the consent button) and referrer leaks. The CSP deliberately has no `form-action`: the
//! consent form's answer is a redirect to the client, which `form-action` would block in some browsers.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::paths;
use crate::scope::{EMAIL, OPENID, PROFILE, UMA_POLICY, UMA_PROTECTION};

/// The Content-Security-Policy of every page: no scripts, no external anything, inline styles only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// The generic login failure: identical for an unknown user and a wrong password (no account enumeration).
pub const LOGIN_FAILED: &str = "Invalid username or password.";

const STYLE: &str = "\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;background:#f3f4f6;color:#111827}\
main{max-width:26rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:.75rem;\
box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.35rem;margin:0 0 1rem}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input[type=text],input[type=password]{box-sizing:border-box;width:100%;padding:.6rem;\
border:1px solid #9ca3af;border-radius:.4rem;font:inherit}\
input:focus,button:focus{outline:3px solid #93c5fd;outline-offset:1px}\
button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #1d4ed8;cursor:pointer}\
.primary{background:#1d4ed8;color:#fff}\
.secondary{background:#fff;color:#1d4ed8}\
.actions{display:flex;gap:.75rem;margin-top:1.5rem}\
.alert{background:#fef2f2;border:1px solid #fca5a5;color:#991b1b;padding:.6rem;border-radius:.4rem}\
.muted{color:#4b5563;font-size:.9rem}\
ul{padding-left:1.2rem}";

/// Wraps `body` in a complete document and sets the protective headers.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>\n",
        text(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html)
}

/// The hidden fields that tie a form to its pending request and to the browser's CSRF cookie.
fn hidden_fields(request: &str, csrf_token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        attr(request),
        attr(csrf_token)
    )
}

/// What the login page shows.
#[derive(Debug, Clone, Copy)]
pub struct LoginView<'a> {
    /// Where the form posts: each endpoint that signs people in has its own login path.
    pub action: &'a str,
    /// The client's name, or its id when it has none.
    pub client: &'a str,
    pub request: &'a str,
    pub csrf_token: &'a str,
    /// Refilled after a failed attempt so the user only retypes the password.
    pub username: &'a str,
    /// An error (failed login) or notice (session expired) shown above the form.
    pub message: Option<&'a str>,
}

pub fn login(view: &LoginView<'_>) -> HttpResponse {
    login_with_upstream(view, &[])
}

/// The login page with a "Sign in with `<issuer>`" button for each upstream provider (the claims interaction
/// endpoint): each a form of its own posting the provider to [`paths::CLAIMS_UPSTREAM`].
pub fn login_with_upstream(view: &LoginView<'_>, upstream: &[String]) -> HttpResponse {
    let upstream: String = upstream
        .iter()
        .map(|issuer| {
            format!(
                "<form method=\"post\" action=\"{action}\">{hidden}\
                 <div class=\"actions\"><button type=\"submit\" name=\"issuer\" value=\"{value}\" \
                 class=\"secondary\">Sign in with {label}</button></div></form>",
                action = attr(paths::CLAIMS_UPSTREAM),
                hidden = hidden_fields(view.request, view.csrf_token),
                value = attr(issuer),
                label = text(issuer),
            )
        })
        .collect();
    let message = view
        .message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", text(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>\
         <p>Sign in to continue to <strong>{client}</strong>.</p>\
         {message}\
         <form method=\"post\" action=\"{action}\">\
         {hidden}\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <div class=\"actions\"><button type=\"submit\" class=\"primary\">Sign in</button></div>\
         </form>{upstream}",
        client = text(view.client),
        action = attr(view.action),
        hidden = hidden_fields(view.request, view.csrf_token),
        username = attr(view.username),
    );
    page(StatusCode::OK, "Sign in", &body)
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
    pub request: &'a str,
    pub csrf_token: &'a str,
}

pub fn consent(view: &ConsentView<'_>) -> HttpResponse {
    let items: String = view
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>", text(&describe_scope(s))))
        .collect();
    let body = format!(
        "<h1>Allow access?</h1>\
         <p><strong>{client}</strong> asks to:</p>\
         <ul>{items}</ul>\
         <p class=\"muted\">Signed in as <strong>{user}</strong>.</p>\
         <form method=\"post\" action=\"{action}\">\
         {hidden}\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </div></form>",
        client = text(view.client),
        user = text(view.username),
        action = attr(paths::AUTHORIZE_CONSENT),
        hidden = hidden_fields(view.request, view.csrf_token),
    );
    page(StatusCode::OK, "Allow access?", &body)
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
    pub request: &'a str,
    pub csrf_token: &'a str,
}

pub fn release(view: &ReleaseView<'_>) -> HttpResponse {
    let items: String = view
        .claims
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", text(c)))
        .collect();
    let body = format!(
        "<h1>Show who you are?</h1>\
         <p><strong>{client}</strong> asks to show {owner}'s resource server that you are \
         <strong>{identity}</strong>.</p>\
         <p class=\"muted\">Released to {owner}'s sharing policies, never to {client}:</p>\
         <ul>{items}</ul>\
         <form method=\"post\" action=\"{action}\">\
         {hidden}\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\">Continue</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Cancel</button>\
         </div></form>",
        client = text(view.client),
        owner = text(view.owner),
        identity = text(view.identity),
        action = attr(paths::CLAIMS_DECISION),
        hidden = hidden_fields(view.request, view.csrf_token),
    );
    page(StatusCode::OK, "Show who you are?", &body)
}

/// An error the browser's user must read, shown instead of redirecting (RFC 6749 §4.1.2.1: never redirect to
/// an unverified redirect URI).
pub fn error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<h1>{}</h1><p class=\"alert\" role=\"alert\">{}</p>\
         <p class=\"muted\">Return to the application you came from and try again.</p>",
        text(title),
        text(message)
    );
    page(status, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(resp: HttpResponse) -> String {
        let bytes = resp.into_body().try_into_bytes().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn values_are_escaped() {
        let html = body_of(consent(&ConsentView {
            client: "<script>alert(1)</script>",
            username: "a&b",
            scopes: &["openid", "x\"y"],
            request: "r\"><img>",
            csrf_token: "c",
        }));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a&amp;b"));
        assert!(!html.contains("r\"><img>"));
    }

    #[test]
    fn pages_carry_protective_headers() {
        let resp = error(StatusCode::BAD_REQUEST, "Oops", "<b>bad</b>");
        let headers = resp.headers();
        assert_eq!(
            headers.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        assert_eq!(
            headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );
        assert!(
            headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("frame-ancestors 'none'") && !v.contains("form-action"))
        );
        assert!(body_of(resp).contains("&lt;b&gt;bad&lt;/b&gt;"));
    }

    #[test]
    fn login_form_uses_the_field_names_password_managers_expect() {
        let html = body_of(login(&LoginView {
            action: paths::AUTHORIZE_LOGIN,
            client: "Bank",
            request: "r",
            csrf_token: "c",
            username: "",
            message: Some(LOGIN_FAILED),
        }));
        for needle in [
            "name=\"username\"",
            "name=\"password\"",
            "autocomplete=\"current-password\"",
            "<label for=\"username\">",
            LOGIN_FAILED,
        ] {
            assert!(html.contains(needle), "{needle} in {html}");
        }
    }
}
