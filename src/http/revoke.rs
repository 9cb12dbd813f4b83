//! Token revocation (RFC 7009), for access and refresh tokens; UMA Grant §3.3.5 and §8 add RPTs and PCTs.
//!
//! The client authenticates as at the token endpoint: confidential clients with Basic or
//! `client_secret_post`, public clients with `client_id` (RFC 7009 §2.1, §5).
//!
//! What may be revoked, by whom, and what revoking a refresh token, an RPT or a PCT takes with it is decided
//! by [`crate::oauth::revocation`]; this file authenticates the client, reads the token, runs the service in
//! one write transaction and answers 200 with `Cache-Control: no-store` (RFC 7009 §2.2), or the service's
//! error.

use actix_web::{HttpRequest, HttpResponse, web};

use super::forms;
use super::{AppState, client_auth, paths, post_only};
use crate::error::OAuthError;
use crate::oauth::presented::PresentedToken;
use crate::oauth::revocation;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only(paths::REVOKE, revoke));
}

async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = forms::read_form(&req, payload, &state).await?;
    let creds = client_auth::credentials(&req, &params)?;
    let token = params.require("token")?.to_owned();
    let hint = params.get("token_type_hint").map(str::to_owned);
    state
        .run(move |st| {
            let client = client_auth::authenticate(st, &creds)?;
            let now = st.now();
            let token = PresentedToken::read(&*st.key_set()?, &token);
            st.store
                .write(|tx| revocation::revoke(tx, &client, &token, hint.as_deref(), now))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
