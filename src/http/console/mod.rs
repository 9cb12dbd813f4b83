//! The owner's console: server-rendered pages where a resource owner sees her resources, shares them, edits her
//! Cedar policies, answers held requests and reads the decision log. An extension of this server, published in
//! the UMA discovery document as `user_access_policy_uri`.
//!
//! Sign-in is the one of `/authorize` (the same login form, throttling, password-hash gate and session cookie),
//! so a browser signed in for a consent is signed in here too. Every form carries a CSRF token: before sign-in
//! the double-submitted cookie of the sign-in pages, after it a token derived from the session id, which only
//! this server and that browser can know. Cookies are `HttpOnly`, `SameSite=Lax` and `__Host-` over https.
//!
//! Every action goes through the domain service the CLI and the HTTP APIs use ([`crate::owner::Policies`],
//! [`crate::uma::requests::OwnerRequests`], [`crate::owner::decisions`]); this module only reads forms and
//! renders pages. What it must never do: show or change one owner's things for another (an id that is not
//! hers is a 404, like an unknown one), act on a post whose CSRF token does not check out, or build markup
//! outside the templates.

mod activity;
mod applications;
mod policies;
mod requests;
mod resources;
mod share;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::authorize::{self, Browser, CSRF_COOKIE, SESSION_COOKIE, SignInRefused};
use super::forms::Params;
use super::pages::{self, LoginView};
use super::{AppState, get_only, method_not_allowed, paths, post_only};
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::store::auth;

/// Paths of the console's pages and forms.
pub mod urls {
    pub const HOME: &str = super::paths::CONSOLE;
    pub const LOGIN: &str = "/console/login";
    pub const LOGOUT: &str = "/console/logout";
    pub const POLICIES: &str = "/console/policies";
    pub const NEW_POLICY: &str = "/console/new-policy";
    pub const CHECK: &str = "/console/check";
    pub const SHARE: &str = "/console/share";
    pub const REQUESTS: &str = "/console/requests";
    pub const ACTIVITY: &str = "/console/activity";
    pub const APPLICATIONS: &str = "/console/applications";
}

/// How long the CSRF cookie of the console's sign-in form lives.
const SIGN_IN_CSRF_TTL: i64 = 3600;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only("/", root))
        .service(get_only(paths::CONSOLE_CSS, stylesheet))
        .service(get_only(urls::HOME, resources::page))
        .service(post_only(urls::LOGIN, login))
        .service(post_only(urls::LOGOUT, logout));
    applications::routes(cfg);
    policies::routes(cfg);
    share::routes(cfg);
    requests::routes(cfg);
    activity::routes(cfg);
}

async fn root() -> HttpResponse {
    authorize::redirect(StatusCode::SEE_OTHER, urls::HOME.to_owned())
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(pages::STYLESHEET)
}

/// The signed-in owner a console request acts for.
pub(super) struct Owner {
    pub username: String,
    /// The CSRF token every form of this session must carry.
    pub csrf: String,
    session_hash: String,
}

/// The CSRF token of the session `session_id`: derived, so nothing more is stored, and unguessable without the
/// session id, which the browser keeps in an `HttpOnly` cookie.
fn session_csrf(session_id: &str) -> String {
    crypto::hash_secret(&format!("uma-cedar console form {session_id}"))
}

/// The owner whose live session the browser's cookie names.
fn signed_in(state: &AppState, session_id: Option<&str>) -> Result<Option<Owner>, OAuthError> {
    let Some(id) = session_id else {
        return Ok(None);
    };
    Ok(
        authorize::current_session(state, Some(id))?.map(|session| Owner {
            username: session.username,
            csrf: session_csrf(id),
            session_hash: crypto::hash_secret(id),
        }),
    )
}

/// The navigation bar of every console page.
pub(super) struct Nav {
    pub username: String,
    pub csrf: String,
    /// Which entry is the current page.
    pub current: &'static str,
}

impl Nav {
    pub fn of(owner: &Owner, current: &'static str) -> Self {
        Self {
            username: owner.username.clone(),
            csrf: owner.csrf.clone(),
            current,
        }
    }
}

/// What a console handler answers, built on the blocking pool (an `HttpResponse` cannot cross threads).
pub(super) enum Out {
    /// A rendered page.
    Page {
        status: StatusCode,
        html: Result<String, askama::Error>,
    },
    /// A redirect (303) after a form that changed something, to a console page.
    SeeOther(String),
    /// No live session: the sign-in form.
    SignIn {
        message: Option<&'static str>,
        username: String,
    },
    /// An error page.
    Error {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
}

impl Out {
    pub fn page(page: &impl Template) -> Self {
        Self::Page {
            status: StatusCode::OK,
            html: page.render(),
        }
    }

    pub fn page_with(status: StatusCode, page: &impl Template) -> Self {
        Self::Page {
            status,
            html: page.render(),
        }
    }

    /// What an id that is not the owner's gets, whether it belongs to another owner or to nobody.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Error {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Error {
            status: StatusCode::BAD_REQUEST,
            title: "Invalid request",
            message: message.into(),
        }
    }

    fn forbidden() -> Self {
        Self::Error {
            status: StatusCode::FORBIDDEN,
            title: "Request refused",
            message:
                "The form could not be verified (its security token is missing or does not match). \
                      Reload the page and try again."
                    .to_owned(),
        }
    }
}

/// Cookies the browser sent, read before moving to the blocking pool.
struct Cookies {
    session: Option<String>,
    csrf: Option<String>,
}

impl Cookies {
    fn read(req: &HttpRequest, state: &AppState) -> Self {
        Self {
            session: authorize::cookie_value(req, state, SESSION_COOKIE)
                .filter(|v| authorize::is_well_formed_token(v)),
            csrf: authorize::cookie_value(req, state, CSRF_COOKIE)
                .filter(|v| authorize::is_well_formed_token(v)),
        }
    }
}

/// Turns a handler's answer into a response; the sign-in form gets (and keeps) its CSRF cookie.
fn respond(
    state: &AppState,
    result: Result<Out, OAuthError>,
    csrf_cookie: Option<String>,
) -> HttpResponse {
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match e.code {
                ErrorCode::ServerError => "The server could not complete the request.".to_owned(),
                _ => e.description.unwrap_or_default(),
            };
            Out::Error {
                status,
                title: "Something went wrong",
                message,
            }
        }
    };
    match out {
        Out::Page { status, html } => pages::rendered(status, html, pages::CSP),
        Out::SeeOther(location) => authorize::redirect(StatusCode::SEE_OTHER, location),
        Out::Error {
            status,
            title,
            message,
        } => pages::error_with_hint(
            status,
            title,
            &message,
            "Go back to the console and try again.",
        ),
        Out::SignIn { message, username } => {
            let token = match csrf_cookie {
                Some(token) => token,
                None => match authorize::new_secret() {
                    Ok(token) => token,
                    Err(_) => {
                        return pages::error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Something went wrong",
                            "The server could not complete the request.",
                        );
                    }
                },
            };
            let page = pages::login(&LoginView {
                action: urls::LOGIN,
                client: "your console",
                request: None,
                csrf_token: &token,
                username: &username,
                message,
                redirects: &[],
            });
            authorize::finish(
                state,
                page,
                Browser {
                    set_csrf: Some(token),
                    csrf_ttl: SIGN_IN_CSRF_TTL,
                    set_session: None,
                    retry_after: None,
                },
            )
        }
    }
}

/// Runs `work` for the signed-in owner of a page view; without a live session, the sign-in form.
pub(super) async fn view<F>(req: &HttpRequest, state: &AppState, work: F) -> HttpResponse
where
    F: FnOnce(&AppState, &Owner) -> Result<Out, OAuthError> + Send + 'static,
{
    let cookies = Cookies::read(req, state);
    let session = cookies.session;
    let result = state
        .run(move |st| match signed_in(st, session.as_deref())? {
            Some(owner) => work(st, &owner),
            None => Ok(Out::SignIn {
                message: None,
                username: String::new(),
            }),
        })
        .await;
    respond(state, result, cookies.csrf)
}

/// Runs `work` for a form the signed-in owner posted, once its CSRF token checks out. Without a live session
/// nothing happens and the sign-in form is shown; with a bad token, a 403 page.
pub(super) async fn act<F>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    work: F,
) -> HttpResponse
where
    F: FnOnce(&AppState, &Owner, &Params) -> Result<Out, OAuthError> + Send + 'static,
{
    let form = match authorize::read_browser_form(req, payload, state).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let cookies = Cookies::read(req, state);
    let session = cookies.session;
    let result = state
        .run(move |st| {
            let Some(owner) = signed_in(st, session.as_deref())? else {
                return Ok(Out::SignIn {
                    message: Some("Your session has ended. Sign in again to continue."),
                    username: String::new(),
                });
            };
            let token = form.get("csrf_token").unwrap_or_default();
            if !crypto::constant_time_eq(token.as_bytes(), owner.csrf.as_bytes()) {
                return Ok(Out::forbidden());
            }
            work(st, &owner, &form)
        })
        .await;
    respond(state, result, cookies.csrf)
}

async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match authorize::read_browser_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let cookies = Cookies::read(&req, &state);
    let csrf_cookie = cookies.csrf.clone();
    let peer = req.peer_addr().map(|a| a.ip());
    let result = state
        .run(move |st| {
            // The sign-in form's token is double submitted: the form's copy must equal the cookie's.
            let token = form.get("csrf_token").unwrap_or_default();
            let matches = csrf_cookie
                .as_deref()
                .is_some_and(|c| crypto::constant_time_eq(c.as_bytes(), token.as_bytes()));
            if !matches {
                return Ok((Out::forbidden(), None, None));
            }
            let username = form.get("username").unwrap_or_default();
            let password = form.get("password").unwrap_or_default();
            Ok(
                match authorize::check_credentials(st, username, password, peer)? {
                    Ok((_, session_id)) => {
                        (Out::SeeOther(urls::HOME.to_owned()), Some(session_id), None)
                    }
                    Err(SignInRefused::Failed) => (
                        Out::SignIn {
                            message: Some(pages::LOGIN_FAILED),
                            username: username.to_owned(),
                        },
                        None,
                        None,
                    ),
                    Err(SignInRefused::Throttled(retry_after)) => (
                        Out::Error {
                            status: StatusCode::TOO_MANY_REQUESTS,
                            title: "Too many attempts",
                            message: authorize::too_many_logins_message(retry_after),
                        },
                        None,
                        Some(retry_after),
                    ),
                    Err(SignInRefused::Busy) => (
                        Out::Error {
                            status: StatusCode::SERVICE_UNAVAILABLE,
                            title: "Server busy",
                            message: "The server is busy. Wait a moment and sign in again."
                                .to_owned(),
                        },
                        None,
                        Some(authorize::BUSY_RETRY_AFTER),
                    ),
                },
            )
        })
        .await;
    let (result, session, retry_after) = match result {
        Ok((out, session, retry_after)) => (Ok(out), session, retry_after),
        Err(e) => (Err(e), None, None),
    };
    let response = respond(&state, result, cookies.csrf);
    authorize::finish(
        &state,
        response,
        Browser {
            set_csrf: None,
            csrf_ttl: SIGN_IN_CSRF_TTL,
            set_session: session,
            retry_after,
        },
    )
}

async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut response = act(&req, payload, &state, |st, owner, _| {
        st.store
            .write(|tx| auth::delete_session(tx, &owner.session_hash))?;
        Ok(Out::SeeOther(urls::HOME.to_owned()))
    })
    .await;
    if response.status() == StatusCode::SEE_OTHER {
        let mut gone = authorize::build_cookie(&state, SESSION_COOKIE, String::new(), 0);
        gone.make_removal();
        if let Err(e) = response.add_cookie(&gone) {
            log::error!("cannot clear the session cookie: {e}");
        }
    }
    response
}

/// A date for people (UTC).
pub(super) fn day(time: crate::clock::UnixTime) -> String {
    chrono::DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| time.to_string())
}
