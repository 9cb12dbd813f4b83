//! The claims interaction endpoint (UMA 2.0 Grant §3.3.2–§3.3.3) over HTTP: `GET /uma/claims` where the client
//! sends the requesting party's browser, and the two form posts behind it, `/uma/claims/login` (the same login
//! form, throttling, CSRF double submit and session cookie as `/authorize`) and `/uma/claims/decision`
//! (continue or cancel), and upstream OpenID Connect sign-in: `/uma/claims/upstream` (the "Sign in with"
//! button, CSRF checked like the login form) and `/uma/claims/callback` (where the provider sends the browser
//! back). The rules live in [`crate::uma::interaction`]; this module only reads the browser's
//! request, finds the client, and renders pages and redirects.
//!
//! What this module must never do: redirect before the client and its claims redirect URI checked out, act on
//! a post whose CSRF token does not match both the cookie and the visit, or show the gathered claims to the
//! client.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::authorize::{
    self, BUSY_RETRY_AFTER, Browser, CSRF_COOKIE, Query, Repeated, SESSION_COOKIE, SignInRefused,
};
use super::forms::Params;
use super::pages::{self, LoginView, ReleaseView};
use super::{AppState, get_only, paths, post_only};
use crate::claims::upstream::{MAX_CODE_LEN, UpstreamError};
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::store::clients::{self, Client};
use crate::store::interaction::Interaction;
use crate::store::users;
use crate::store::{InteractionStore, UpstreamStore};
use crate::uma::interaction::{
    self, Answer, Answered, Arrived, CallbackRefusal, ClaimsInteraction, Refusal, VISIT_TTL,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(paths::CLAIMS, arrive))
        .service(post_only(paths::CLAIMS_LOGIN, login))
        .service(post_only(paths::CLAIMS_DECISION, decision))
        .service(post_only(paths::CLAIMS_UPSTREAM, upstream))
        .service(get_only(paths::CLAIMS_CALLBACK, callback));
}

/// What to show, built on the blocking pool.
#[derive(Debug)]
enum Shown {
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
    Release {
        client: String,
        owner: String,
        identity: String,
        claims: Vec<String>,
        request: String,
        csrf_token: String,
        redirects: Vec<String>,
    },
}

#[derive(Debug)]
struct Reply {
    shown: Shown,
    set_csrf: Option<String>,
    set_session: Option<String>,
    retry_after: Option<i64>,
}

impl Reply {
    fn of(shown: Shown) -> Self {
        Self {
            shown,
            set_csrf: None,
            set_session: None,
            retry_after: None,
        }
    }

    fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self::of(Shown::Page {
            status,
            title,
            message: message.into(),
        })
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::page(StatusCode::BAD_REQUEST, "Invalid request", message)
    }

    fn refused_callback(refusal: &CallbackRefusal) -> Self {
        Self::bad_request(format!(
            "{} Return to the application and start again.",
            sentence(&refusal.to_string())
        ))
    }

    fn refused(refusal: &Refusal) -> Self {
        let mut message = refusal.to_string();
        if let Some(first) = message.get(..1) {
            message = format!(
                "{}{}.",
                first.to_uppercase(),
                message.get(1..).unwrap_or("")
            );
        }
        Self::bad_request(message)
    }
}

fn render(state: &AppState, reply: Reply) -> HttpResponse {
    let response = match reply.shown {
        Shown::Page {
            status,
            title,
            message,
        } => pages::error(status, title, &message),
        // G §3.3.3: the answer to the client is a 302 to its claims redirect URI.
        Shown::Redirect(location) => authorize::redirect(StatusCode::FOUND, location),
        Shown::Login {
            client,
            request,
            csrf_token,
            username,
            message,
            redirects,
        } => pages::login_with_upstream(
            &LoginView {
                action: paths::CLAIMS_LOGIN,
                client: &client,
                request: Some(&request),
                csrf_token: &csrf_token,
                username: &username,
                message,
                redirects: &redirects,
            },
            &state.upstream.issuers(),
        ),
        Shown::Release {
            client,
            owner,
            identity,
            claims,
            request,
            csrf_token,
            redirects,
        } => {
            let claims: Vec<&str> = claims.iter().map(String::as_str).collect();
            pages::release(&ReleaseView {
                client: &client,
                owner: &owner,
                identity: &identity,
                claims: &claims,
                request: Some(&request),
                csrf_token: &csrf_token,
                redirects: &redirects,
            })
        }
    };
    authorize::finish(
        state,
        response,
        Browser {
            set_csrf: reply.set_csrf,
            csrf_ttl: VISIT_TTL,
            set_session: reply.set_session,
            retry_after: reply.retry_after,
        },
    )
}

fn respond(state: &AppState, result: Result<Reply, OAuthError>) -> HttpResponse {
    match result {
        Ok(reply) => render(state, reply),
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

/// The release page for claims about to be shown to `owner`'s policies.
fn release(
    client: &Client,
    owner: &str,
    claims: &Map<String, Value>,
    request: String,
    csrf: String,
) -> Shown {
    Shown::Release {
        client: authorize::client_label(client),
        redirects: pages::redirects_of(client),
        owner: owner.to_owned(),
        identity: interaction::shown_identity(claims),
        claims: interaction::released_names(claims).into_iter().collect(),
        request,
        csrf_token: csrf,
    }
}

/// The claims of the signed-in user named by the browser's session, if the session is live.
fn session_claims(
    state: &AppState,
    session: Option<&str>,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(session) = authorize::current_session(state, session)? else {
        return Ok(None);
    };
    let user = state.store.read(|c| users::get(c, &session.username))?;
    Ok(user.map(|u| interaction::local_claims(&state.settings.issuer, &u)))
}

async fn arrive(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Query::parse(req.query_string());
    let csrf = authorize::cookie_value(&req, &state, CSRF_COOKIE);
    let session = authorize::cookie_value(&req, &state, SESSION_COOKIE);
    let result = state
        .run(move |st| start(st, &query, csrf.as_deref(), session.as_deref()))
        .await;
    respond(&state, result)
}

fn start(
    state: &AppState,
    query: &Query,
    csrf_cookie: Option<&str>,
    session: Option<&str>,
) -> Result<Reply, OAuthError> {
    // Until the client and its claims redirect URI are known to be good, every error is a page.
    let single = |name: &str| {
        query
            .single(name)
            .map_err(|Repeated| Refusal::Repeated(name.to_owned()))
    };
    let client_id = match single("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(Reply::refused(&Refusal::MissingClient)),
        Err(refusal) => return Ok(Reply::refused(&refusal)),
    };
    let Some(client) = state.store.read(|c| clients::get(c, client_id))? else {
        return Ok(Reply::refused(&Refusal::UnknownClient(
            client_id.to_owned(),
        )));
    };
    let redirect_uri = match single("claims_redirect_uri")
        .and_then(|sent| interaction::claims_redirect_uri(&client, sent))
    {
        Ok(uri) => uri,
        Err(refusal) => return Ok(Reply::refused(&refusal)),
    };
    if let Some(name) = query.first_repeated() {
        // A repeated `state` is not echoed: there is no telling which one the client meant.
        let location = interaction::location(
            &redirect_uri,
            &[
                ("error", ErrorCode::InvalidRequest.as_str()),
                (
                    "error_description",
                    &format!("parameter `{name}` is repeated; send it once"),
                ),
            ],
            query.single("state").ok().flatten(),
        )?;
        return Ok(Reply::of(Shown::Redirect(location)));
    }
    let get = |name| query.single(name).ok().flatten();
    // A browser keeps its CSRF token across visits, so two tabs both keep working.
    let csrf_token = match csrf_cookie.filter(|t| authorize::is_well_formed_token(t)) {
        Some(token) => token.to_owned(),
        None => authorize::new_secret()?,
    };
    let ctx = state.context();
    let service = ClaimsInteraction { ctx: &ctx };
    let arrived = state.store.write(|tx| {
        service.arrive(
            tx,
            &client,
            &redirect_uri,
            get("ticket"),
            get("state"),
            &csrf_token,
        )
    })?;
    let (id, owner) = match arrived {
        Arrived::Back(location) => return Ok(Reply::of(Shown::Redirect(location))),
        Arrived::Pending { id, owner } => (id, owner),
    };
    let shown = match session_claims(state, session)? {
        Some(claims) => release(&client, &owner, &claims, id, csrf_token.clone()),
        None => Shown::Login {
            client: authorize::client_label(&client),
            redirects: pages::redirects_of(&client),
            request: id,
            csrf_token: csrf_token.clone(),
            username: String::new(),
            message: None,
        },
    };
    Ok(Reply {
        shown,
        set_csrf: Some(csrf_token),
        set_session: None,
        retry_after: None,
    })
}

/// A visit whose form passed the CSRF check.
struct Visit {
    id: String,
    csrf_token: String,
    visit: Interaction,
    client: Client,
}

/// Finds the visit a form answers ([`authorize::check_form`]); the lookup does not spend it.
fn load_visit(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
) -> Result<Result<Visit, Reply>, OAuthError> {
    let now = state.now();
    let checked = authorize::check_form(
        state,
        form,
        csrf_cookie,
        |hash| Ok(state.store.write(|tx| tx.interaction(hash, now))?),
        |v| &v.csrf_hash,
        |v| &v.client_id,
    )?;
    Ok(match checked {
        Ok(form) => Ok(Visit {
            id: form.id,
            csrf_token: form.csrf_token,
            visit: form.found,
            client: form.client,
        }),
        Err(refused) => Err(Reply::page(refused.status, refused.title, refused.message)),
    })
}

async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let peer = req.peer_addr().map(|a| a.ip());
    form_post(&req, payload, &state, move |st, form, csrf| {
        sign_in(st, form, csrf, peer)
    })
    .await
}

/// Reads a browser's form post and answers it on the blocking pool with `handle(state, form, CSRF cookie)`.
async fn form_post<F>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    handle: F,
) -> HttpResponse
where
    F: FnOnce(&AppState, &Params, Option<&str>) -> Result<Reply, OAuthError> + Send + 'static,
{
    let form = match authorize::read_browser_form(req, payload, state).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let csrf = authorize::cookie_value(req, state, CSRF_COOKIE);
    let result = state
        .run(move |st| handle(st, &form, csrf.as_deref()))
        .await;
    respond(state, result)
}

fn sign_in(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
    peer: Option<IpAddr>,
) -> Result<Reply, OAuthError> {
    let visit = match load_visit(state, form, csrf_cookie)? {
        Ok(visit) => visit,
        Err(page) => return Ok(page),
    };
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let (user, session_id) = match authorize::check_credentials(state, username, password, peer)? {
        Ok(signed_in) => signed_in,
        Err(SignInRefused::Failed) => {
            return Ok(Reply::of(Shown::Login {
                client: authorize::client_label(&visit.client),
                redirects: pages::redirects_of(&visit.client),
                request: visit.id,
                csrf_token: visit.csrf_token,
                username: username.to_owned(),
                message: Some(pages::LOGIN_FAILED),
            }));
        }
        Err(SignInRefused::Throttled(retry_after)) => {
            let mut reply = Reply::page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                authorize::too_many_logins_message(retry_after),
            );
            reply.retry_after = Some(retry_after);
            return Ok(reply);
        }
        Err(SignInRefused::Busy) => {
            let mut reply = Reply::page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Server busy",
                "The server is busy. Wait a moment and sign in again.",
            );
            reply.retry_after = Some(BUSY_RETRY_AFTER);
            return Ok(reply);
        }
    };
    let claims = interaction::local_claims(&state.settings.issuer, &user);
    Ok(Reply {
        shown: release(
            &visit.client,
            &visit.visit.owner,
            &claims,
            visit.id,
            visit.csrf_token,
        ),
        set_csrf: None,
        set_session: Some(session_id),
        retry_after: None,
    })
}

async fn decision(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let session = authorize::cookie_value(&req, &state, SESSION_COOKIE);
    form_post(&req, payload, &state, move |st, form, csrf| {
        decide(st, form, csrf, session.as_deref())
    })
    .await
}

fn decide(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
    session: Option<&str>,
) -> Result<Reply, OAuthError> {
    let visit = match load_visit(state, form, csrf_cookie)? {
        Ok(visit) => visit,
        Err(page) => return Ok(page),
    };
    // Claims from an upstream sign-in are kept on the visit; otherwise the local session says who signed in.
    let visit_hash = crypto::hash_secret(&visit.id);
    let claims = match state.store.write(|tx| tx.visit_claims(&visit_hash))? {
        Some(claims) => Some(claims),
        None => session_claims(state, session)?,
    };
    let Some(claims) = claims else {
        // The session ended while the page was open: sign in again, the visit stays pending.
        return Ok(Reply::of(Shown::Login {
            client: authorize::client_label(&visit.client),
            redirects: pages::redirects_of(&visit.client),
            request: visit.id,
            csrf_token: visit.csrf_token,
            username: String::new(),
            message: Some("Your session has ended. Sign in again to continue."),
        }));
    };
    let answer = match form.get("decision") {
        Some("allow") => Answer::Allow(claims),
        Some("deny") => Answer::Deny,
        _ => {
            return Ok(Reply::bad_request(
                "The form must answer `decision=allow` or `decision=deny`.",
            ));
        }
    };
    let ctx = state.context();
    let service = ClaimsInteraction { ctx: &ctx };
    let answered = state
        .store
        .write(|tx| service.answer(tx, &visit.id, &visit.visit, answer))?;
    Ok(match answered {
        Answered::Back(location) => Reply::of(Shown::Redirect(location)),
        Answered::AlreadyAnswered => Reply::bad_request(
            "This request was already answered. Return to the application and start again.",
        ),
    })
}

/// A sentence for a page: the error's text, capitalised, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// The page for an upstream sign-in that failed. The visit stays pending: the party may go back and sign in
/// another way.
fn upstream_failed(error: &UpstreamError) -> Reply {
    let status = match error {
        UpstreamError::UnknownProvider(_) => StatusCode::BAD_REQUEST,
        UpstreamError::Unavailable(_)
        | UpstreamError::BadDiscovery(_)
        | UpstreamError::BadTokenResponse(_) => StatusCode::BAD_GATEWAY,
        UpstreamError::Refused(_)
        | UpstreamError::IdToken(_)
        | UpstreamError::NonceMismatch
        | UpstreamError::IssuerMismatch => StatusCode::FORBIDDEN,
    };
    log::info!("upstream sign-in failed: {error}");
    Reply::page(
        status,
        "Sign-in failed",
        format!(
            "{} Return to the application and start again.",
            sentence(&error.to_string())
        ),
    )
}

async fn upstream(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    form_post(&req, payload, &state, start_upstream).await
}

/// The "Sign in with" button: checks the form like the login form, then sends the browser to the provider.
fn start_upstream(
    state: &AppState,
    form: &Params,
    csrf_cookie: Option<&str>,
) -> Result<Reply, OAuthError> {
    let visit = match load_visit(state, form, csrf_cookie)? {
        Ok(visit) => visit,
        Err(page) => return Ok(page),
    };
    let issuer = form.get("issuer").unwrap_or_default();
    let ctx = state.context();
    let service = ClaimsInteraction { ctx: &ctx };
    // Discovery may take the network: outside the transaction.
    let start =
        match service.start_upstream(&state.upstream, issuer, &visit.id, &visit.csrf_token)? {
            Ok(start) => start,
            Err(error) => return Ok(upstream_failed(&error)),
        };
    let now = state.now();
    state
        .store
        .write(|tx| tx.insert_upstream_signin(&start.state_hash, &start.signin, now))?;
    Ok(Reply::of(Shown::Redirect(start.location)))
}

async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = Query::parse(req.query_string());
    let csrf = authorize::cookie_value(&req, &state, CSRF_COOKIE);
    let result = state
        .run(move |st| finish_upstream(st, &query, csrf.as_deref()))
        .await;
    respond(&state, result)
}

/// The provider's callback (OpenID Connect Core §3.1.2.5, §3.1.2.6): the `state` must name a live sign-in this
/// browser started; then the code is redeemed, the ID token checked, and the party sees the release page.
fn finish_upstream(
    state: &AppState,
    query: &Query,
    csrf_cookie: Option<&str>,
) -> Result<Reply, OAuthError> {
    const START_AGAIN: &str = " Return to the application and start again.";
    if let Some(name) = query.first_repeated() {
        return Ok(Reply::bad_request(format!(
            "Parameter `{name}` is repeated in the provider's answer.{START_AGAIN}"
        )));
    }
    let get = |name| query.single(name).ok().flatten();
    let ctx = state.context();
    let service = ClaimsInteraction { ctx: &ctx };
    let taken = state
        .store
        .write(|tx| service.take_upstream(tx, get("state"), get("iss"), csrf_cookie))?;
    let (signin, csrf_token) = match (taken, csrf_cookie) {
        (Ok(signin), Some(csrf)) => (signin, csrf.to_owned()),
        (Ok(_), None) => return Ok(Reply::refused_callback(&CallbackRefusal::UnknownState)),
        (Err(refusal), _) => return Ok(Reply::refused_callback(&refusal)),
    };
    let visit_hash = crypto::hash_secret(&signin.visit_id);
    let now = state.now();
    let expired = || {
        Reply::bad_request(format!(
            "This request has expired or was already answered.{START_AGAIN}"
        ))
    };
    let Some(visit) = state.store.write(|tx| tx.interaction(&visit_hash, now))? else {
        return Ok(expired());
    };
    let Some(client) = state.store.read(|c| clients::get(c, &visit.client_id))? else {
        return Ok(expired());
    };
    if get("error").is_some() {
        // The party cancelled at the provider, or it refused: the visit is still open, so sign in again.
        return Ok(Reply::of(Shown::Login {
            client: authorize::client_label(&client),
            request: signin.visit_id,
            csrf_token,
            username: String::new(),
            message: Some("The sign-in at the other provider did not complete. Sign in again."),
            redirects: pages::redirects_of(&client),
        }));
    }
    let Some(code) = get("code").filter(|c| !c.is_empty() && c.len() <= MAX_CODE_LEN) else {
        return Ok(Reply::bad_request(format!(
            "The provider's answer has no usable `code`.{START_AGAIN}"
        )));
    };
    let claims = match service.finish_upstream(&state.upstream, &state.claims, &signin, code) {
        Ok(claims) => claims,
        Err(error) => return Ok(upstream_failed(&error)),
    };
    if !state
        .store
        .write(|tx| tx.set_visit_claims(&visit_hash, &claims))?
    {
        return Ok(expired());
    }
    Ok(Reply::of(release(
        &client,
        &visit.owner,
        &claims,
        signin.visit_id,
        csrf_token,
    )))
}
