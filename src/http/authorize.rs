//! The authorization endpoint (RFC 6749 §4.1.1–§4.1.2, RFC 7636 §4.3–§4.4, RFC 9207, OpenID Connect Core
//! §3.1.2) and the two form posts behind it: login and consent.
//!
//! `GET /authorize` validates the request, stores it (its id and CSRF token hashed) and shows the login page,
//! or the consent page when the browser already has a session. The forms post back to `/authorize/login` and
//! `/authorize/consent`; each post must carry the pending request's id and a CSRF token equal both to the
//! browser's CSRF cookie and to the token stored with the request.
//!
//! What this module must never do: redirect to a redirect URI that is not registered for the client (a bad
//! client or redirect URI gets an HTML page instead, RFC 6749 §4.1.2.1); act on a post whose CSRF token does
//! not check out; tell an unknown user from a wrong password; or issue a code without the user's explicit
//! "allow".
//!
//! Failed logins are throttled per (username, peer address) ([`crate::throttle`]): once a pair has used up
//! `login_max_failures` within `login_failure_window`, its logins get a 429 page with `Retry-After` and the
//! password is not checked. Password hashes run under [`AppState::password_hashes`]: a login that finds no free
//! slot within [`HASH_WAIT`] gets a 503 page with `Retry-After` and does not count as a failure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, LOCATION, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use super::forms::{self, Params};
use super::pages::{self, ConsentView, LoginView};
use super::{AppState, get_only, paths, post_only};
use crate::crypto::{self, password};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::GrantType;
use crate::oauth::authorize::{self, Answered, Consent};
use crate::oauth::token::check_client_grant;
use crate::scope::{self, Scopes};
use crate::store::auth::{self, AuthRequest, RequestParams, Session};
use crate::store::clients::{self, Client};
use crate::store::users;
use crate::throttle::Kind;

/// How long a user has between arriving at the authorization endpoint and answering the consent page.
pub const REQUEST_TTL: i64 = 600;

/// Longest `state` or `nonce` accepted: both are stored and echoed, so they are kept to a sane size.
const MAX_ECHOED_LEN: usize = 1024;

/// How long a login waits for a free password-hash slot before the server answers that it is busy.
pub const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The `Retry-After` of a login turned away because every password-hash slot was busy.
pub(super) const BUSY_RETRY_AFTER: i64 = 2;

pub(super) const SESSION_COOKIE: &str = "uma_session";
pub(super) const CSRF_COOKIE: &str = "uma_csrf";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(paths::AUTHORIZE, authorize))
        .service(post_only(paths::AUTHORIZE_LOGIN, login))
        .service(post_only(paths::AUTHORIZE_CONSENT, consent));
}

/// Cookies get the `__Host-` prefix over https, so a sibling subdomain cannot plant its own CSRF token or
/// session in the browser (RFC 6265bis §4.1.3.2). Plain http (local development) cannot use the prefix.
fn cookie_name(state: &AppState, base: &str) -> String {
    if is_secure(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn is_secure(state: &AppState) -> bool {
    state.settings.issuer.starts_with("https://")
}

pub(super) fn build_cookie(
    state: &AppState,
    base: &str,
    value: String,
    max_age: i64,
) -> Cookie<'static> {
    // SameSite=Lax, not Strict: the browser arrives at /authorize by a cross-site navigation from the client,
    // and the session must be seen then to skip the login page.
    Cookie::build(cookie_name(state, base), value)
        .path("/")
        .http_only(true)
        .secure(is_secure(state))
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(max_age))
        .finish()
}

pub(super) fn cookie_value(req: &HttpRequest, state: &AppState, base: &str) -> Option<String> {
    req.cookie(&cookie_name(state, base))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// A random token as [`crypto::random_token`] makes them; anything else in a cookie is ignored.
pub(super) fn is_well_formed_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What to answer, built on the blocking pool and turned into a response on the async side (an
/// `HttpResponse` cannot cross threads).
#[derive(Debug)]
enum Answer {
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
    Redirect(String),
    Login {
        client: String,
        request: String,
        csrf_token: String,
        username: String,
        message: Option<&'static str>,
        redirects: Vec<String>,
    },
    Consent {
        client: String,
        username: String,
        scopes: Vec<String>,
        request: String,
        csrf_token: String,
        redirects: Vec<String>,
    },
}

#[derive(Debug)]
struct Reply {
    answer: Answer,
    /// A CSRF token to (re)set in the browser.
    set_csrf: Option<String>,
    /// A new session id to set in the browser.
    set_session: Option<String>,
    /// Seconds to send in `Retry-After`.
    retry_after: Option<i64>,
}

impl Reply {
    fn of(answer: Answer) -> Self {
        Self {
            answer,
            set_csrf: None,
            set_session: None,
            retry_after: None,
        }
    }

    fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self::of(Answer::Page {
            status,
            title,
            message: message.into(),
        })
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::page(StatusCode::BAD_REQUEST, "Invalid request", message)
    }
}

fn render(state: &AppState, reply: Reply, redirect_status: StatusCode) -> HttpResponse {
    let response = match reply.answer {
        Answer::Page {
            status,
            title,
            message,
        } => pages::error(status, title, &message),
        Answer::Redirect(location) => redirect(redirect_status, location),
        Answer::Login {
            client,
            request,
            csrf_token,
            username,
            message,
            redirects,
        } => pages::login(&LoginView {
            action: paths::AUTHORIZE_LOGIN,
            client: &client,
            request: Some(&request),
            csrf_token: &csrf_token,
            username: &username,
            message,
            redirects: &redirects,
        }),
        Answer::Consent {
            client,
            username,
            scopes,
            request,
            csrf_token,
            redirects,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            pages::consent(&ConsentView {
                client: &client,
                username: &username,
                scopes: &scopes,
                request: Some(&request),
                csrf_token: &csrf_token,
                redirects: &redirects,
            })
        }
    };
    finish(
        state,
        response,
        Browser {
            set_csrf: reply.set_csrf,
            csrf_ttl: REQUEST_TTL,
            set_session: reply.set_session,
            retry_after: reply.retry_after,
        },
    )
}

/// What a sign-in page's answer sets in the browser besides its body: the CSRF and session cookies and
/// `Retry-After`. Shared by `/authorize` and the claims interaction endpoint, which sign in alike.
pub(super) struct Browser {
    pub set_csrf: Option<String>,
    /// How long the CSRF cookie lives, in seconds.
    pub csrf_ttl: i64,
    pub set_session: Option<String>,
    pub retry_after: Option<i64>,
}

/// Adds what `browser` says to `response`; a cookie that cannot be set turns it into an error page.
pub(super) fn finish(
    state: &AppState,
    mut response: HttpResponse,
    browser: Browser,
) -> HttpResponse {
    if let Some(seconds) = browser.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    let cookies = [
        browser
            .set_csrf
            .map(|v| build_cookie(state, CSRF_COOKIE, v, browser.csrf_ttl)),
        browser
            .set_session
            .map(|v| build_cookie(state, SESSION_COOKIE, v, state.settings.session_ttl)),
    ];
    for cookie in cookies.iter().flatten() {
        if let Err(e) = response.add_cookie(cookie) {
            log::error!("cannot set cookie `{}`: {e}", cookie.name());
            return pages::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete the request.",
            );
        }
    }
    response
}

/// A redirect of the browser that keeps the location out of caches and of the next site's `Referer`.
pub(super) fn redirect(status: StatusCode, location: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish()
}

/// Turns the outcome of the blocking work into a response. A failure of that work itself (store,
/// randomness) was logged by [`OAuthError::server_error`] and is shown to the user without detail.
fn respond(
    state: &AppState,
    result: Result<Reply, OAuthError>,
    redirect: StatusCode,
) -> HttpResponse {
    match result {
        Ok(reply) => render(state, reply, redirect),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match e.code {
                ErrorCode::ServerError => "The server could not complete the request.".to_owned(),
                _ => e.description.unwrap_or_default(),
            };
            pages::error(status, "Something went wrong", &message)
        }
    }
}

/// Query parameters with every value kept, so a repeated parameter can be refused with the right answer: a
/// page when it is `client_id` or `redirect_uri`, a redirect otherwise.
#[derive(Debug, Default)]
pub(super) struct Query(BTreeMap<String, Vec<String>>);

/// A parameter sent more than once.
#[derive(Debug)]
pub(super) struct Repeated;

impl Query {
    pub(super) fn parse(text: &str) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
            // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
            if !value.is_empty() {
                map.entry(name.into_owned())
                    .or_default()
                    .push(value.into_owned());
            }
        }
        Self(map)
    }

    pub(super) fn single(&self, name: &str) -> Result<Option<&str>, Repeated> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value.as_str())),
            Some(_) => Err(Repeated),
        }
    }

    pub(super) fn first_repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, values)| values.len() > 1)
            .map(|(name, _)| name.as_str())
    }
}

/// The client and the redirect URI errors may be sent to. Until both are known, errors are pages.
struct Target {
    client: Client,
    redirect_uri: String,
    redirect_uri_sent: bool,
}

fn find_target(state: &AppState, query: &Query) -> Result<Result<Target, Reply>, OAuthError> {
    let client_id = match query.single("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Ok(Err(Reply::bad_request(
                "The request does not say which application is asking (`client_id` is missing).",
            )));
        }
        Err(Repeated) => {
            return Ok(Err(Reply::bad_request(
                "The request names the application more than once (`client_id` is repeated).",
            )));
        }
    };
    let Some(client) = state.store.read(|c| clients::get(c, client_id))? else {
        return Ok(Err(Reply::bad_request(format!(
            "The application `{client_id}` is not registered with this server."
        ))));
    };
    let (redirect_uri, redirect_uri_sent) = match query.single("redirect_uri") {
        Err(Repeated) => {
            return Ok(Err(Reply::bad_request(
                "The request names its return address more than once (`redirect_uri` is repeated).",
            )));
        }
        Ok(Some(uri)) => {
            // Exact string comparison (RFC 9700 §4.1.3): no prefix, no normalisation.
            if !client.redirect_uris.iter().any(|r| r == uri) {
                return Ok(Err(Reply::bad_request(format!(
                    "The return address `{uri}` is not registered for this application."
                ))));
            }
            (uri.to_owned(), true)
        }
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            [] => {
                return Ok(Err(Reply::bad_request(
                    "This application has no registered return address (redirect URI).",
                )));
            }
            _ => {
                return Ok(Err(Reply::bad_request(
                    "This application has several return addresses; the request must name one \
                     (`redirect_uri` is missing).",
                )));
            }
        },
    };
    Ok(Ok(Target {
        client,
        redirect_uri,
        redirect_uri_sent,
    }))
}

/// A PKCE code challenge as S256 produces it: 43 base64url characters (RFC 7636 §4.2).
fn is_s256_challenge(challenge: &str) -> bool {
    is_well_formed_token(challenge)
}

/// Checks everything after the client and redirect URI; errors from here on are redirected to the client.
fn check_request(query: &Query, target: &Target) -> Result<RequestParams, OAuthError> {
    if let Some(name) = query.first_repeated() {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{name}` is repeated; send it once"
        )));
    }
    let get = |name| query.single(name).ok().flatten();
    match get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response type `{other}` is not supported; use `code`"),
            ));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "`response_type` is missing; use `code`",
            ));
        }
    }
    check_client_grant(&target.client, &GrantType::AuthorizationCode)?;
    if get("request").is_some() || get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request objects (`request`, `request_uri`) are not supported; send plain parameters",
        ));
    }
    // RFC 6749 §3.3: without a default scope, a missing scope is `invalid_scope`.
    let scope = get("scope").ok_or_else(|| {
        OAuthError::invalid_scope(format!(
            "`scope` is missing; ask for one or more of: {}",
            scope::SUPPORTED.join(" ")
        ))
    })?;
    let scope = Scopes::parse(scope)?;
    scope.check_within(scope::SUPPORTED)?;

    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) if target.client.is_public() => {
            return Err(OAuthError::invalid_request(
                "public clients must use PKCE: send `code_challenge` with `code_challenge_method=S256`",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "`code_challenge_method` was sent without `code_challenge`",
            ));
        }
        // RFC 7636 §4.3: an absent method means `plain`, which leaks the verifier to whoever sees the request.
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "`code_challenge_method` is missing and would default to `plain`, which is not supported; \
                 use `S256`",
            ));
        }
        (Some(_), Some(method)) if method != "S256" => {
            return Err(OAuthError::invalid_request(format!(
                "code challenge method `{method}` is not supported; use `S256`"
            )));
        }
        (Some(challenge), Some(_)) => {
            if !is_s256_challenge(challenge) {
                return Err(OAuthError::invalid_request(
                    "`code_challenge` must be the base64url SHA-256 of the verifier (43 characters)",
                ));
            }
            Some(challenge.to_owned())
        }
    };
    let state = get("state").map(str::to_owned);
    let nonce = get("nonce").map(str::to_owned);
    for (name, value) in [("state", &state), ("nonce", &nonce)] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_ECHOED_LEN) {
            return Err(OAuthError::invalid_request(format!(
                "`{name}` is longer than {MAX_ECHOED_LEN} characters"
            )));
        }
    }
    Ok(RequestParams {
        redirect_uri: target.redirect_uri.clone(),
        redirect_uri_sent: target.redirect_uri_sent,
        scope: scope.to_string(),
        state,
        code_challenge,
        nonce,
    })
}

/// RFC 6749 §4.1.2.1 restricts `error_description` to printable ASCII without `"` and `\`.
pub(super) fn printable_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\x20'..='\x7e' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// The redirect URI with response parameters added to its query (keeping any query it already has).
fn redirect_to(
    state: &AppState,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    client_state: Option<&str>,
) -> Result<String, OAuthError> {
    let mut url = url::Url::parse(redirect_uri).map_err(|e| {
        OAuthError::server_error(&format!("registered redirect URI `{redirect_uri}`: {e}"))
    })?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(s) = client_state {
            query.append_pair("state", s);
        }
        // RFC 9207: tells the client which server answered, against mix-up attacks.
        query.append_pair("iss", &state.settings.issuer);
    }
    Ok(url.into())
}

fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    error: &OAuthError,
    client_state: Option<&str>,
) -> Result<Reply, OAuthError> {
    let description = printable_description(error.description.as_deref().unwrap_or_default());
    let mut pairs = vec![("error", error.code.as_str())];
    if !description.is_empty() {
        pairs.push(("error_description", description.as_str()));
    }
    Ok(Reply::of(Answer::Redirect(redirect_to(
        state,
        redirect_uri,
        &pairs,
        client_state,
    )?)))
}

pub(super) fn client_label(client: &Client) -> String {
    client
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| client.client_id.clone())
}

pub(super) fn new_secret() -> Result<String, OAuthError> {
    crypto::random_token().map_err(|e| OAuthError::server_error(&e))
}

/// The browser's session, if its cookie names one that is still valid.
pub(super) fn current_session(
    state: &AppState,
    session_id: Option<&str>,
) -> Result<Option<Session>, OAuthError> {
    let Some(id) = session_id.filter(|id| is_well_formed_token(id)) else {
        return Ok(None);
    };
    let hash = crypto::hash_secret(id);
    let now = state.now();
    Ok(state
        .store
        .read(|c| auth::get_session(c, &hash))?
        .filter(|s| now < s.expires_at))
}

fn consent_answer(
    client: &Client,
    username: &str,
    params: &RequestParams,
    request: String,
    csrf_token: String,
) -> Answer {
    Answer::Consent {
        client: client_label(client),
        redirects: pages::redirects_of(client),
        username: username.to_owned(),
        scopes: params.scope.split(' ').map(str::to_owned).collect(),
        request,
        csrf_token,
    }
}

/// Cookies the browser sent, read before moving to the blocking pool.
struct BrowserCookies {
    session: Option<String>,
    csrf: Option<String>,
}

impl BrowserCookies {
    fn read(req: &HttpRequest, state: &AppState) -> Self {
        Self {
            session: cookie_value(req, state, SESSION_COOKIE),
            csrf: cookie_value(req, state, CSRF_COOKIE),
        }
    }
}

async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Query::parse(req.query_string());
    let cookies = BrowserCookies::read(&req, &state);
    let result = state.run(move |st| start(st, &query, &cookies)).await;
    respond(&state, result, StatusCode::FOUND)
}

fn start(state: &AppState, query: &Query, cookies: &BrowserCookies) -> Result<Reply, OAuthError> {
    let target = match find_target(state, query)? {
        Ok(target) => target,
        Err(page) => return Ok(page),
    };
    let params = match check_request(query, &target) {
        Ok(params) => params,
        Err(e) => {
            // A repeated `state` is not echoed: there is no telling which one the client meant.
            let client_state = query.single("state").ok().flatten();
            return error_redirect(state, &target.redirect_uri, &e, client_state);
        }
    };
    let request_id = new_secret()?;
    // A browser keeps its CSRF token across requests, so two tabs with pending requests both keep working.
    let csrf_token = match cookies.csrf.as_deref().filter(|t| is_well_formed_token(t)) {
        Some(token) => token.to_owned(),
        None => new_secret()?,
    };
    let now = state.now();
    let session = current_session(state, cookies.session.as_deref())?;
    let client_id = target.client.client_id.clone();
    let stored = AuthRequest {
        csrf_hash: crypto::hash_secret(&csrf_token),
        client_id,
        params: params.clone(),
        expires_at: now + REQUEST_TTL,
    };
    // Expired requests, sessions and codes are refused when read and deleted by the background purge.
    state
        .store
        .write(|tx| auth::insert_request(tx, &crypto::hash_secret(&request_id), &stored))?;
    let answer = match session {
        Some(session) => consent_answer(
            &target.client,
            &session.username,
            &params,
            request_id,
            csrf_token.clone(),
        ),
        None => Answer::Login {
            client: client_label(&target.client),
            redirects: pages::redirects_of(&target.client),
            request: request_id,
            csrf_token: csrf_token.clone(),
            username: String::new(),
            message: None,
        },
    };
    Ok(Reply {
        answer,
        set_csrf: Some(csrf_token),
        set_session: None,
        retry_after: None,
    })
}

/// A pending request whose form passed the CSRF check.
struct Pending {
    id: String,
    csrf_token: String,
    request: AuthRequest,
    client: Client,
}

/// Why a sign-in form was turned away before anything happened: a page to show.
pub(super) struct FormRefused {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
}

/// A form of the sign-in flow whose double-submitted CSRF token matched both the browser's cookie and the
/// token bound to what it answers (`found`, a pending authorization request or claims interaction visit).
pub(super) struct CheckedForm<T> {
    pub id: String,
    pub csrf_token: String,
    pub found: T,
    pub client: Client,
}

/// Finds what a form answers (`find`, by the hash of its `request` field), after checking the CSRF token
/// against the browser's cookie and against the hash `csrf_hash` of what was found, then loads the client
/// `client_id` names. Any failure is a page and nothing else happens. `/authorize` and the claims interaction
/// endpoint share it.
pub(super) fn check_form<T>(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
    find: impl FnOnce(&str) -> Result<Option<T>, OAuthError>,
    csrf_hash: impl Fn(&T) -> &str,
    client_id: impl Fn(&T) -> &str,
) -> Result<Result<CheckedForm<T>, FormRefused>, OAuthError> {
    const FORBIDDEN: FormRefused = FormRefused {
        status: StatusCode::FORBIDDEN,
        title: "Request refused",
        message: "The form could not be verified (its security token is missing or does not match). \
                  Return to the application and start again.",
    };
    let bad_request = |message| FormRefused {
        status: StatusCode::BAD_REQUEST,
        title: "Invalid request",
        message,
    };
    let Some(id) = form.get("request") else {
        return Ok(Err(bad_request(
            "The form does not say which request it answers (`request` is missing).",
        )));
    };
    let (Some(token), Some(cookie)) = (form.get("csrf_token"), csrf_cookie) else {
        return Ok(Err(FORBIDDEN));
    };
    if !crypto::constant_time_eq(token.as_bytes(), cookie.as_bytes()) {
        return Ok(Err(FORBIDDEN));
    }
    let Some(found) = find(&crypto::hash_secret(id))? else {
        return Ok(Err(bad_request(
            "This request has expired or was already answered. Return to the application and start again.",
        )));
    };
    if !crypto::secret_matches(token, csrf_hash(&found)) {
        return Ok(Err(FORBIDDEN));
    }
    let Some(client) = state.store.read(|c| clients::get(c, client_id(&found)))? else {
        return Ok(Err(bad_request(
            "The application that made this request is no longer registered.",
        )));
    };
    Ok(Ok(CheckedForm {
        id: id.to_owned(),
        csrf_token: token.to_owned(),
        found,
        client,
    }))
}

/// Finds the pending authorization request a form answers ([`check_form`]).
fn load_pending(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
) -> Result<Result<Pending, Reply>, OAuthError> {
    let now = state.now();
    let checked = check_form(
        state,
        form,
        csrf_cookie,
        |hash| {
            Ok(state
                .store
                .read(|c| auth::get_request(c, hash))?
                .filter(|r| now < r.expires_at))
        },
        |r| &r.csrf_hash,
        |r| &r.client_id,
    )?;
    Ok(match checked {
        Ok(form) => Ok(Pending {
            id: form.id,
            csrf_token: form.csrf_token,
            request: form.found,
            client: form.client,
        }),
        Err(refused) => Err(Reply::page(refused.status, refused.title, refused.message)),
    })
}

/// A body that is not a proper form (wrong type, too large, repeated fields) gets a page, not JSON.
pub(super) async fn read_browser_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Params, HttpResponse> {
    forms::read_form(req, payload, state).await.map_err(|e| {
        let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        pages::error(
            status,
            "Invalid request",
            &format!(
                "The form could not be read: {}",
                e.description.unwrap_or_default()
            ),
        )
    })
}

async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match read_browser_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let csrf_cookie = cookie_value(&req, &state, CSRF_COOKIE);
    let peer = req.peer_addr().map(|a| a.ip());
    let result = state
        .run(move |st| sign_in(st, &form, csrf_cookie.as_deref(), peer))
        .await;
    respond(&state, result, StatusCode::SEE_OTHER)
}

fn sign_in(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
    peer: Option<IpAddr>,
) -> Result<Reply, OAuthError> {
    let pending = match load_pending(state, form, csrf_cookie)? {
        Ok(pending) => pending,
        Err(page) => return Ok(page),
    };
    let username = form.get("username").unwrap_or_default();
    let password_text = form.get("password").unwrap_or_default();
    let (user, session_id) = match check_credentials(state, username, password_text, peer)? {
        Ok(signed_in) => signed_in,
        Err(SignInRefused::Throttled(retry_after)) => return Ok(too_many_logins(retry_after)),
        Err(SignInRefused::Busy) => return Ok(server_busy()),
        Err(SignInRefused::Failed) => {
            return Ok(Reply::of(Answer::Login {
                client: client_label(&pending.client),
                redirects: pages::redirects_of(&pending.client),
                request: pending.id,
                csrf_token: pending.csrf_token,
                username: username.to_owned(),
                message: Some(pages::LOGIN_FAILED),
            }));
        }
    };
    Ok(Reply {
        answer: consent_answer(
            &pending.client,
            &user.username,
            &pending.request.params,
            pending.id,
            pending.csrf_token,
        ),
        set_csrf: None,
        set_session: Some(session_id),
        retry_after: None,
    })
}

/// Why a sign-in did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignInRefused {
    /// Unknown user or wrong password (the two are never told apart).
    Failed,
    /// Too many failures for this (username, address): retry after this many seconds.
    Throttled(i64),
    /// No password-hash slot came free in time.
    Busy,
}

/// Checks a username and password the way every sign-in form of this server does: throttled per (username,
/// peer address), under the password-hash gate, and as slow for an unknown user as for a wrong password. On
/// success opens a session and returns the user and the session id to set in the browser.
pub(super) fn check_credentials(
    state: &AppState,
    username: &str,
    password_text: &str,
    peer: Option<IpAddr>,
) -> Result<Result<(users::User, String), SignInRefused>, OAuthError> {
    let now = state.now();
    let attempt = match state.throttle.attempt(Kind::Login, username, peer, now) {
        Ok(attempt) => attempt,
        Err(blocked) => {
            log::info!("login for {username:?} refused: too many failures from this address");
            return Ok(Err(SignInRefused::Throttled(blocked.retry_after(now))));
        }
    };
    let Some(permit) = state.password_hashes.permit(HASH_WAIT) else {
        attempt.not_checked();
        log::warn!("login turned away: every password-hash slot stayed busy for {HASH_WAIT:?}");
        return Ok(Err(SignInRefused::Busy));
    };
    let user = if username.is_empty() {
        None
    } else {
        state.store.read(|c| users::get(c, username))?
    };
    let verified = match &user {
        Some(user) => permit.verify(password_text, &user.password_hash),
        None => {
            // Same work as for a real account, so timing does not reveal which usernames exist.
            let _ = permit.verify(password_text, password::dummy_hash());
            false
        }
    };
    drop(permit);
    let Some(user) = user.filter(|_| verified) else {
        log::info!("failed login for {}", crate::error::quoted(username));
        return Ok(Err(SignInRefused::Failed));
    };
    attempt.succeeded();
    let session_id = new_secret()?;
    let session = Session {
        username: user.username.clone(),
        auth_time: now,
        expires_at: now + state.settings.session_ttl,
    };
    state
        .store
        .write(|tx| auth::insert_session(tx, &crypto::hash_secret(&session_id), &session))?;
    Ok(Ok((user, session_id)))
}

/// The page for a login turned away because every password-hash slot was busy.
fn server_busy() -> Reply {
    let mut reply = Reply::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Server busy",
        "The server is busy. Wait a moment and sign in again.",
    );
    reply.retry_after = Some(BUSY_RETRY_AFTER);
    reply
}

/// The page for a (username, address) pair that has used up its failed logins. It says when to come back, and
/// the same for any username, so it reveals nothing about which accounts exist.
pub(super) fn too_many_logins_message(retry_after: i64) -> String {
    let minutes = (retry_after + 59) / 60;
    format!(
        "Too many failed sign-ins for this username from your address. Try again in {minutes} minute(s)."
    )
}

fn too_many_logins(retry_after: i64) -> Reply {
    let mut reply = Reply::page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        too_many_logins_message(retry_after),
    );
    reply.retry_after = Some(retry_after);
    reply
}

async fn consent(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match read_browser_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let cookies = BrowserCookies::read(&req, &state);
    let result = state.run(move |st| decide(st, &form, &cookies)).await;
    respond(&state, result, StatusCode::SEE_OTHER)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
}

fn decide(state: &AppState, form: &Params, cookies: &BrowserCookies) -> Result<Reply, OAuthError> {
    let pending = match load_pending(state, form, cookies.csrf.as_deref())? {
        Ok(pending) => pending,
        Err(page) => return Ok(page),
    };
    let Some(session) = current_session(state, cookies.session.as_deref())? else {
        // The session ended while the consent page was open: sign in again, the request stays pending.
        return Ok(Reply::of(Answer::Login {
            client: client_label(&pending.client),
            redirects: pages::redirects_of(&pending.client),
            request: pending.id,
            csrf_token: pending.csrf_token,
            username: String::new(),
            message: Some("Your session has ended. Sign in again to continue."),
        }));
    };
    let decision = match form.get("decision") {
        Some("allow") => Decision::Allow,
        Some("deny") => Decision::Deny,
        _ => {
            return Ok(Reply::bad_request(
                "The form must answer `decision=allow` or `decision=deny`.",
            ));
        }
    };
    let params = &pending.request.params;
    let consent = Consent {
        request_id: &pending.id,
        client_id: &pending.client.client_id,
        params,
        username: &session.username,
        auth_time: session.auth_time,
        allow: decision == Decision::Allow,
    };
    let ctx = state.context();
    let code = match state
        .store
        .write(|tx| authorize::answer(tx, &ctx, &consent))?
    {
        Answered::Code(code) => Some(code),
        Answered::Denied => None,
        Answered::AlreadyAnswered => {
            return Ok(Reply::bad_request(
                "This request was already answered. Return to the application and start again.",
            ));
        }
    };
    match code {
        Some(code) => Ok(Reply::of(Answer::Redirect(redirect_to(
            state,
            &params.redirect_uri,
            &[("code", &code)],
            params.state.as_deref(),
        )?))),
        None => error_redirect(
            state,
            &params.redirect_uri,
            &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            params.state.as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeats_and_drops_empty_values() {
        let q = Query::parse("a=1&b=&c=2&c=3&d=%20x");
        assert_eq!(q.single("a").ok().flatten(), Some("1"));
        assert_eq!(q.single("b").ok().flatten(), None);
        assert!(q.single("c").is_err());
        assert_eq!(q.single("d").ok().flatten(), Some(" x"));
        assert_eq!(q.first_repeated(), Some("c"));
    }

    #[test]
    fn descriptions_in_redirects_stay_in_the_allowed_charset() {
        assert_eq!(
            printable_description("scope `a\"b\\c` é"),
            "scope `a?b?c` ?"
        );
    }

    #[test]
    fn only_s256_shaped_challenges_pass() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge("short"));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
