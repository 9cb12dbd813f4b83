//! The claims interaction endpoint (UMA 2.0 Grant §3.3.2–§3.3.3): a client sends the requesting party's
//! browser here with its ticket; the party signs in, agrees to have who they are shown to the resource owner's
//! policies, and the browser goes back to the client with a new ticket. The claims gathered are bound to that
//! ticket and the client, and the UMA grant ([`crate::uma::grant`]) uses them when the ticket is presented.
//!
//! The rules, each a function or a step of [`ClaimsInteraction`] below:
//! - the claims redirect URI must exactly match one the client registered, and may be left out only when it
//!   registered exactly one; until both the client and that URI are known, errors are pages, never redirects;
//! - a ticket that is unknown, expired, used or bound to another client sends the browser back with
//!   `invalid_request`, and is not spent by that visit (no one signed in);
//! - the signed-in party's answer spends the ticket: `allow` gives a new ticket bound to the client (with the
//!   claims), `deny` gives `access_denied`; both carry the client's `state`.
//!
//! What this module must never do: redirect to an address the client did not register as a claims redirect
//! URI, hand the gathered claims to the client, or let one client redeem claims gathered for another.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::claims::ClaimsVerifier;
use crate::claims::upstream::{AuthRequest, Upstream, UpstreamError};
use crate::config::Settings;
use crate::context::Context;
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::client::Client;
use crate::protocol::uma::{Consumed, Ticket};
use crate::protocol::uma::{Gathered, Interaction};
use crate::protocol::upstream::UpstreamSignIn;
use crate::protocol::user::User;
use crate::store::InteractionStore;
use crate::store::TicketStore;
use crate::store::UpstreamStore;
use crate::uma::assess::Needed;

/// The endpoint's path, relative to the issuer (`claims_interaction_endpoint`, and `need_info`'s
/// `redirect_user`).
pub const ENDPOINT_PATH: &str = "/uma/claims";

/// How long the party has between arriving and answering.
pub const VISIT_TTL: i64 = 600;

/// Where an upstream provider sends the browser back after sign-in (relative to the issuer); registered at the
/// provider as the redirect URI `<issuer>/uma/claims/callback`.
pub const CALLBACK_PATH: &str = "/uma/claims/callback";

/// How long the party has to sign in at an upstream provider.
pub const UPSTREAM_TTL: i64 = 600;

/// Longest `state` echoed back to the client.
pub const MAX_STATE_LEN: usize = 1024;

/// The claims a local account can give, besides `iss`: what a sign-in here could supply.
pub const LOCAL_CLAIMS: [&str; 4] = ["sub", "preferred_username", "email", "name"];

/// Why the browser gets a page instead of a redirect: the client or its claims redirect URI is not known to
/// be good, so there is nowhere safe to send it (G §3.3.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request does not say which application is asking (`client_id` is missing)")]
    MissingClient,
    #[error("the application `{0}` is not registered with this server")]
    UnknownClient(String),
    #[error(
        "the return address `{0}` is not registered for this application as a claims redirect URI"
    )]
    UnregisteredRedirect(String),
    #[error("this application registered no claims redirect URI, so it cannot send people here")]
    NoRedirect,
    #[error(
        "this application registered several claims redirect URIs; the request must name one \
         (`claims_redirect_uri` is missing)"
    )]
    AmbiguousRedirect,
    #[error("parameter `{0}` is repeated; it must be sent once")]
    Repeated(String),
}

/// The claims redirect URI to answer to: the one sent, if the client registered exactly that string, or the
/// client's only one when none was sent.
pub fn claims_redirect_uri(client: &Client, sent: Option<&str>) -> Result<String, Refusal> {
    match (sent, client.claims_redirect_uris.as_slice()) {
        (Some(uri), registered) => registered
            .iter()
            .find(|r| r.as_str() == uri)
            .cloned()
            .ok_or_else(|| Refusal::UnregisteredRedirect(uri.to_owned())),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(Refusal::NoRedirect),
        (None, _) => Err(Refusal::AmbiguousRedirect),
    }
}

/// The standard claims of OpenID Connect Core §5.1 besides `sub`: what any upstream provider may give.
pub const STANDARD_CLAIMS: [&str; 20] = [
    "sub",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

/// Whether signing in at the claims interaction endpoint could supply one of the `needed` claims: a claim a
/// local account has, wanted from any issuer or from this server; or a claim wanted from an upstream issuer
/// requesting parties may sign in with (`[[trusted_issuers]]` with a client id and secret), or a standard
/// OpenID Connect claim wanted from any issuer when there is such an upstream issuer.
pub fn sign_in_could_supply(needed: &Needed, settings: &Settings) -> bool {
    let own_issuer = settings.issuer.as_str();
    let upstream: Vec<&str> = settings
        .trusted_issuers
        .iter()
        .filter(|e| e.offers_sign_in())
        .map(|e| e.issuer.as_str())
        .collect();
    needed.iter().any(|(name, from)| {
        let local = LOCAL_CLAIMS.contains(&name.as_str())
            && from.as_ref().is_none_or(|f| f.contains(own_issuer));
        let upstream = match from {
            Some(from) => upstream.iter().any(|u| from.contains(*u)),
            None => !upstream.is_empty() && STANDARD_CLAIMS.contains(&name.as_str()),
        };
        local || upstream
    })
}

/// The claims a local account proves by signing in: what its ID token would say about it.
pub fn local_claims(own_issuer: &str, user: &User) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(own_issuer));
    claims.insert("sub".into(), Value::from(user.username.as_str()));
    claims.insert(
        "preferred_username".into(),
        Value::from(user.username.as_str()),
    );
    if let Some(email) = &user.email {
        // Recorded by the administrator: this server vouches for it, as in its ID tokens.
        claims.insert("email".into(), Value::from(email.as_str()));
        claims.insert("email_verified".into(), Value::from(true));
    }
    if let Some(name) = &user.name {
        claims.insert("name".into(), Value::from(name.as_str()));
    }
    claims
}

/// How the party is named on the page: the email address, the name, or the subject, whichever is there.
pub fn shown_identity(claims: &Map<String, Value>) -> String {
    ["email", "preferred_username", "name", "sub"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
        .unwrap_or("(unnamed)")
        .to_owned()
}

/// `redirect_uri` with `pairs` and the client's `state` added to its query (any query it has is kept).
pub fn location(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> Result<String, OAuthError> {
    let mut url = url::Url::parse(redirect_uri).map_err(|e| {
        OAuthError::server_error(&format!(
            "registered claims redirect URI `{redirect_uri}`: {e}"
        ))
    })?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    Ok(url.into())
}

fn error_location(
    redirect_uri: &str,
    code: ErrorCode,
    description: &str,
    state: Option<&str>,
) -> Result<String, OAuthError> {
    location(
        redirect_uri,
        &[("error", code.as_str()), ("error_description", description)],
        state,
    )
}

/// What happens to a browser that arrived with a good client and claims redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrived {
    /// The ticket is no good: send the browser back with this location (`invalid_request`).
    Back(String),
    /// The visit is stored under `id`: the party signs in (or, with a session, answers straight away).
    Pending { id: String, owner: String },
}

/// What the party's answer led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Send the browser to this location (a new ticket, or an error for the client).
    Back(String),
    /// The visit was already answered (a second submission): nothing happened.
    AlreadyAnswered,
}

/// The party's answer on the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Release these verified claims to the owner's policies.
    Allow(Map<String, Value>),
    Deny,
}

/// The claims interaction service.
#[derive(Debug, Clone, Copy)]
pub struct ClaimsInteraction<'a> {
    pub ctx: &'a Context,
}

impl ClaimsInteraction<'_> {
    /// A browser arrived from `client` (already found) with its `ticket` and `state`; `redirect_uri` is the
    /// checked claims redirect URI. Stores the visit, bound to `csrf_token`, unless the ticket is no good.
    pub fn arrive(
        &self,
        tx: &impl InteractionStore,
        client: &Client,
        redirect_uri: &str,
        ticket: Option<&str>,
        state: Option<&str>,
        csrf_token: &str,
    ) -> Result<Arrived, OAuthError> {
        let back = |description: &str| -> Result<Arrived, OAuthError> {
            error_location(redirect_uri, ErrorCode::InvalidRequest, description, state)
                .map(Arrived::Back)
        };
        if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
            // Not echoed: a state this long is not one the client meant to get back.
            return error_location(
                redirect_uri,
                ErrorCode::InvalidRequest,
                &format!("`state` is longer than {MAX_STATE_LEN} characters"),
                None,
            )
            .map(Arrived::Back);
        }
        let Some(ticket) = ticket else {
            return back("`ticket` is missing");
        };
        let now = self.ctx.now();
        let ticket_hash = crypto::hash_secret(ticket);
        let found = match tx.ticket_state(&ticket_hash, now)? {
            Consumed::Valid(found) => found,
            Consumed::Unknown => return back("the ticket is unknown"),
            Consumed::Expired => {
                return back("the ticket has expired; ask the resource server for a new one");
            }
            Consumed::AlreadyUsed => return back("the ticket was already used"),
        };
        if found
            .bound_client
            .as_deref()
            .is_some_and(|bound| bound != client.client_id)
        {
            return back("the ticket was issued to another client");
        }
        let id = self.ctx.token()?;
        tx.insert_interaction(
            &crypto::hash_secret(&id),
            &Interaction {
                csrf_hash: crypto::hash_secret(csrf_token),
                client_id: client.client_id.clone(),
                ticket_hash,
                owner: found.owner.clone(),
                redirect_uri: redirect_uri.to_owned(),
                state: state.map(str::to_owned),
                expires_at: now + VISIT_TTL,
            },
            now,
        )?;
        Ok(Arrived::Pending {
            id,
            owner: found.owner,
        })
    }

    /// The signed-in party answered the visit `id` (found by the caller, whose CSRF token checked out). Spends
    /// the ticket either way; on `Allow`, a new ticket bound to the client carries the claims.
    pub fn answer(
        &self,
        tx: &(impl InteractionStore + TicketStore),
        id: &str,
        visit: &Interaction,
        answer: Answer,
    ) -> Result<Answered, OAuthError> {
        if !tx.remove_interaction(&crypto::hash_secret(id))? {
            return Ok(Answered::AlreadyAnswered);
        }
        let now = self.ctx.now();
        let state = visit.state.as_deref();
        let back = |code: ErrorCode, description: &str| -> Result<Answered, OAuthError> {
            error_location(&visit.redirect_uri, code, description, state).map(Answered::Back)
        };
        // A ticket bound to another client is left alone: only its rightful client may spend it.
        if let Consumed::Valid(t) = tx.ticket_state(&visit.ticket_hash, now)?
            && t.bound_client
                .as_deref()
                .is_some_and(|bound| bound != visit.client_id)
        {
            return back(
                ErrorCode::InvalidRequest,
                "the ticket was issued to another client",
            );
        }
        let old = match tx.consume_ticket(&visit.ticket_hash, now)? {
            Consumed::Valid(old) => old,
            Consumed::Unknown | Consumed::AlreadyUsed => {
                return back(
                    ErrorCode::InvalidRequest,
                    "the ticket was used or withdrawn meanwhile; ask the resource server for a new one",
                );
            }
            Consumed::Expired => {
                return back(
                    ErrorCode::InvalidRequest,
                    "the ticket expired meanwhile; ask the resource server for a new one",
                );
            }
        };
        let claims = match answer {
            Answer::Deny => {
                return back(
                    ErrorCode::AccessDenied,
                    "the requesting party cancelled the sign-in",
                );
            }
            Answer::Allow(claims) => claims,
        };
        let value = self.ctx.token()?;
        let hash = crypto::hash_secret(&value);
        tx.insert_ticket(&Ticket {
            hash: hash.clone(),
            owner: old.owner,
            client_id: old.client_id,
            permissions: old.permissions,
            created_at: now,
            expires_at: now + self.ctx.settings.ticket_ttl,
            bound_client: Some(visit.client_id.clone()),
        })?;
        tx.bind_claims(
            &hash,
            &Gathered {
                client_id: visit.client_id.clone(),
                claims,
            },
        )?;
        location(&visit.redirect_uri, &[("ticket", &value)], state).map(Answered::Back)
    }
}

/// A sign-in at an upstream provider, ready to go: send the browser to `location` once `signin` is stored
/// under `state_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStart {
    pub state_hash: String,
    pub signin: UpstreamSignIn,
    pub location: String,
}

/// Why a provider's callback is refused outright (a page, never a redirect: the visit is not known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefusal {
    #[error("the provider's answer has no `state`")]
    MissingState,
    #[error(
        "this sign-in is unknown, has expired, was already used, or was started in another browser"
    )]
    UnknownState,
    #[error("the answer comes from another issuer than the one this sign-in went to (`iss`)")]
    WrongIssuer,
}

impl ClaimsInteraction<'_> {
    /// The first leg of an upstream sign-in for the visit `visit_id`, whose form came with `csrf_token`: fresh
    /// `state`, `nonce` and PKCE verifier, and the provider's authorization request. May fetch the provider's
    /// discovery document: call it outside a transaction.
    pub fn start_upstream(
        &self,
        upstream: &Upstream,
        issuer: &str,
        visit_id: &str,
        csrf_token: &str,
    ) -> Result<Result<UpstreamStart, UpstreamError>, OAuthError> {
        let now = self.ctx.now();
        let provider = match upstream.provider(issuer) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let endpoints = match upstream.endpoints(provider, now) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        let state = self.ctx.token()?;
        let signin = UpstreamSignIn {
            visit_id: visit_id.to_owned(),
            csrf_hash: crypto::hash_secret(csrf_token),
            issuer: provider.issuer.clone(),
            nonce: self.ctx.token()?,
            code_verifier: self.ctx.token()?,
            expires_at: now + UPSTREAM_TTL,
        };
        let location = crate::claims::upstream::authorization_url(
            &endpoints,
            provider,
            &AuthRequest {
                state: &state,
                nonce: &signin.nonce,
                code_challenge: &crypto::pkce_s256(&signin.code_verifier),
                redirect_uri: &self.ctx.settings.endpoint(CALLBACK_PATH),
            },
        );
        Ok(Ok(UpstreamStart {
            state_hash: crypto::hash_secret(&state),
            signin,
            location,
        }))
    }

    /// The provider sent the browser back with `state` (and `iss`, RFC 9207, when it sends one): takes the
    /// sign-in it names, which must be live, unused, and started by this browser (`csrf_cookie`). A state is
    /// spent by its first use, good or bad.
    pub fn take_upstream(
        &self,
        tx: &impl UpstreamStore,
        state: Option<&str>,
        iss: Option<&str>,
        csrf_cookie: Option<&str>,
    ) -> Result<Result<UpstreamSignIn, CallbackRefusal>, OAuthError> {
        let Some(state) = state else {
            return Ok(Err(CallbackRefusal::MissingState));
        };
        let Some(signin) = tx.take_upstream_signin(&crypto::hash_secret(state), self.ctx.now())?
        else {
            return Ok(Err(CallbackRefusal::UnknownState));
        };
        if !csrf_cookie.is_some_and(|c| crypto::secret_matches(c, &signin.csrf_hash)) {
            return Ok(Err(CallbackRefusal::UnknownState));
        }
        if iss.is_some_and(|iss| iss != signin.issuer) {
            return Ok(Err(CallbackRefusal::WrongIssuer));
        }
        Ok(Ok(signin))
    }

    /// The last leg: redeems `code` with the PKCE verifier and checks the ID token (signature, `iss`, `aud`,
    /// `exp`, `nonce`). Returns the claims about the party. Talks to the provider: call it outside a
    /// transaction.
    pub fn finish_upstream(
        &self,
        upstream: &Upstream,
        verifier: &ClaimsVerifier,
        signin: &UpstreamSignIn,
        code: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let now = self.ctx.now();
        let provider = upstream.provider(&signin.issuer)?;
        let id_token = upstream.exchange(
            provider,
            code,
            &signin.code_verifier,
            &self.ctx.settings.endpoint(CALLBACK_PATH),
            now,
        )?;
        upstream.verify(verifier, provider, &id_token, &signin.nonce, now)
    }
}

/// The names of the claims released, for the page.
pub fn released_names(claims: &Map<String, Value>) -> BTreeSet<String> {
    claims.keys().filter(|k| *k != "iss").cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::clock::{ManualClock, UnixTime};
    use crate::config::Settings;
    use crate::context::FixedRandom;
    use crate::protocol::uma::Permission;
    use crate::store::testing::{public_client, temp_store};
    use crate::store::{Store, clients, users};

    const NOW: UnixTime = 1_000;
    const BACK: &str = "https://app.example/claims";

    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        ctx: Context,
        client: Client,
    }

    impl World {
        fn new() -> Self {
            let (dir, store) = temp_store();
            let settings = Settings::for_data_dir(dir.path());
            let mut client = public_client("app");
            client.claims_redirect_uris = vec![BACK.into()];
            store
                .write(|tx| {
                    users::insert(tx, &crate::store::testing::test_user("alice"))?;
                    for id in ["rs1", "other"] {
                        clients::insert(tx, &public_client(id))?;
                    }
                    clients::insert(tx, &client)
                })
                .expect("seed");
            Self {
                _dir: dir,
                store,
                ctx: Context {
                    clock: Arc::new(ManualClock::new(NOW)),
                    random: Arc::new(FixedRandom::new("n")),
                    settings: Arc::new(settings),
                },
                client,
            }
        }

        fn ticket(&self, value: &str, bound: Option<&str>, expires_at: UnixTime) {
            self.store
                .write(|tx| {
                    tx.insert_ticket(&Ticket {
                        hash: crypto::hash_secret(value),
                        owner: "alice".into(),
                        client_id: "rs1".into(),
                        permissions: vec![Permission {
                            resource_id: "r1".into(),
                            resource_scopes: vec!["view".into()],
                        }],
                        created_at: NOW,
                        expires_at,
                        bound_client: bound.map(str::to_owned),
                    })
                })
                .expect("ticket");
        }

        fn service(&self) -> ClaimsInteraction<'_> {
            ClaimsInteraction { ctx: &self.ctx }
        }

        fn arrive(&self, ticket: Option<&str>) -> Arrived {
            self.store
                .write(|tx| {
                    self.service()
                        .arrive(tx, &self.client, BACK, ticket, Some("xyz"), "csrf")
                })
                .expect("arrive")
        }

        fn answer(&self, id: &str, answer: Answer) -> Answered {
            self.store
                .write(|tx| {
                    let visit = tx
                        .interaction(&crypto::hash_secret(id), NOW)?
                        .ok_or_else(|| OAuthError::invalid_request("no visit"))?;
                    self.service().answer(tx, id, &visit, answer)
                })
                .expect("answer")
        }

        fn state(&self, ticket: &str) -> Consumed {
            self.store
                .write(|tx| tx.ticket_state(&crypto::hash_secret(ticket), NOW))
                .expect("state")
        }
    }

    fn query(location: &str) -> BTreeMap<String, String> {
        let url = url::Url::parse(location).expect("url");
        assert!(location.starts_with(BACK), "{location}");
        url.query_pairs().into_owned().collect()
    }

    fn bob() -> Map<String, Value> {
        local_claims(
            "https://as.example",
            &User {
                username: "bob".into(),
                password_hash: String::new(),
                email: Some("bob@example.com".into()),
                name: None,
                created_at: 0,
            },
        )
    }

    #[test]
    fn the_claims_redirect_uri_must_match_exactly_or_be_the_only_one() {
        let mut client = public_client("app");
        assert_eq!(claims_redirect_uri(&client, None), Err(Refusal::NoRedirect));
        client.claims_redirect_uris = vec![BACK.into()];
        assert_eq!(claims_redirect_uri(&client, None).as_deref(), Ok(BACK));
        assert_eq!(
            claims_redirect_uri(&client, Some(BACK)).as_deref(),
            Ok(BACK)
        );
        for near_miss in [
            "https://app.example/claims/",
            "https://app.example/claims?x=1",
            "https://APP.example/claims",
            "https://app.example/claim",
        ] {
            assert_eq!(
                claims_redirect_uri(&client, Some(near_miss)),
                Err(Refusal::UnregisteredRedirect(near_miss.into())),
                "{near_miss}"
            );
        }
        // A plain redirect URI is not a claims redirect URI.
        client.redirect_uris = vec!["https://app.example/cb".into()];
        assert!(claims_redirect_uri(&client, Some("https://app.example/cb")).is_err());
        client
            .claims_redirect_uris
            .push("https://app.example/other".into());
        assert_eq!(
            claims_redirect_uri(&client, None),
            Err(Refusal::AmbiguousRedirect)
        );
    }

    const IDP: &str = "https://idp.example";

    /// A provider whose discovery document is served from memory.
    struct Discovered;

    impl crate::claims::upstream::ProviderHttp for Discovered {
        fn get_json(&self, url: &url::Url) -> Result<Vec<u8>, crate::claims::fetch::FetchError> {
            assert_eq!(
                url.as_str(),
                "https://idp.example/.well-known/openid-configuration"
            );
            Ok(serde_json::to_vec(&serde_json::json!({
                "issuer": IDP,
                "authorization_endpoint": "https://idp.example/auth",
                "token_endpoint": "https://idp.example/token",
            }))
            .expect("json"))
        }

        fn post_form(
            &self,
            _: &url::Url,
            _: Option<&str>,
            _: &[(&str, &str)],
        ) -> Result<(u16, Vec<u8>), crate::claims::fetch::FetchError> {
            Err(crate::claims::fetch::FetchError::Status(500))
        }
    }

    fn upstream() -> Upstream {
        let entry = crate::config::TrustedIssuerEntry {
            issuer: IDP.into(),
            jwks_uri: "https://idp.example/jwks".into(),
            client_id: Some("uma".into()),
            client_secret: Some(crate::secret::ClientSecret::new("secret")),
            scopes: None,
        };
        let providers = crate::claims::upstream::providers(&[entry]).expect("provider");
        Upstream::new(providers, Arc::new(Discovered))
    }

    #[test]
    fn an_upstream_sign_in_sends_state_nonce_and_the_challenge_of_what_it_keeps() {
        let w = World::new();
        let start = w
            .service()
            .start_upstream(&upstream(), IDP, "visit-1", "csrf-1")
            .expect("no server error")
            .expect("started");
        let sent: BTreeMap<String, String> = url::Url::parse(&start.location)
            .expect("url")
            .query_pairs()
            .into_owned()
            .collect();
        assert!(start.location.starts_with("https://idp.example/auth?"));
        let state = sent.get("state").expect("state");
        assert_eq!(
            start.state_hash,
            crypto::hash_secret(state),
            "kept under the state sent"
        );
        assert_eq!(sent.get("nonce"), Some(&start.signin.nonce));
        assert_eq!(
            sent.get("code_challenge"),
            Some(&crypto::pkce_s256(&start.signin.code_verifier))
        );
        assert_eq!(
            sent.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_ne!(state, &start.signin.nonce);
        assert_ne!(state, &start.signin.code_verifier);
        assert!(
            !start.location.contains(&start.signin.code_verifier),
            "the verifier stays here"
        );
        assert_eq!(
            sent.get("redirect_uri"),
            Some(&w.ctx.settings.endpoint(CALLBACK_PATH))
        );
        assert_eq!(start.signin.visit_id, "visit-1");
        assert_eq!(start.signin.csrf_hash, crypto::hash_secret("csrf-1"));
        assert_eq!(start.signin.expires_at, NOW + UPSTREAM_TTL);

        let unknown = w
            .service()
            .start_upstream(&upstream(), "https://evil.example", "visit-1", "csrf-1")
            .expect("no server error");
        assert!(matches!(unknown, Err(UpstreamError::UnknownProvider(_))));
    }

    #[test]
    fn an_upstream_state_is_bound_to_its_browser_and_issuer_and_good_once() {
        let w = World::new();
        let signin = UpstreamSignIn {
            visit_id: "visit-1".into(),
            csrf_hash: crypto::hash_secret("csrf-1"),
            issuer: IDP.into(),
            nonce: "n".into(),
            code_verifier: "v".into(),
            expires_at: NOW + UPSTREAM_TTL,
        };
        let put = |state: &str| {
            w.store
                .write(|tx| tx.insert_upstream_signin(&crypto::hash_secret(state), &signin, NOW))
                .expect("insert")
        };
        let take = |state: Option<&str>, iss: Option<&str>, csrf: Option<&str>| {
            w.store
                .write(|tx| w.service().take_upstream(tx, state, iss, csrf))
                .expect("no server error")
        };
        put("s1");
        assert_eq!(
            take(None, None, Some("csrf-1")),
            Err(CallbackRefusal::MissingState)
        );
        assert_eq!(
            take(Some("s1"), None, Some("csrf-2")),
            Err(CallbackRefusal::UnknownState),
            "another browser"
        );
        assert_eq!(
            take(Some("s1"), None, Some("csrf-1")),
            Err(CallbackRefusal::UnknownState),
            "a state is spent by its first use, even a bad one"
        );
        put("s2");
        assert_eq!(
            take(Some("s2"), None, None),
            Err(CallbackRefusal::UnknownState)
        );
        put("s3");
        assert_eq!(
            take(Some("s3"), Some("https://other.example"), Some("csrf-1")),
            Err(CallbackRefusal::WrongIssuer)
        );
        put("s4");
        assert_eq!(
            take(Some("s4-tampered"), None, Some("csrf-1")),
            Err(CallbackRefusal::UnknownState)
        );
        assert_eq!(
            take(Some("s4"), Some(IDP), Some("csrf-1")),
            Ok(signin.clone())
        );
        assert_eq!(
            take(Some("s4"), Some(IDP), Some("csrf-1")),
            Err(CallbackRefusal::UnknownState)
        );
    }

    #[test]
    fn redirect_user_only_when_a_sign_in_could_supply_a_claim() {
        let own = "https://as.example";
        let needed = |name: &str, from: Option<&[&str]>| -> Needed {
            BTreeMap::from([(
                name.to_owned(),
                from.map(|f| f.iter().map(|s| s.to_string()).collect()),
            )])
        };
        let mut settings = Settings::for_data_dir(std::path::Path::new("unused"));
        settings.issuer = own.into();
        let idp = "https://idp.example";
        settings.trusted_issuers = vec![crate::config::TrustedIssuerEntry {
            issuer: idp.into(),
            jwks_uri: "https://idp.example/jwks".into(),
            ..Default::default()
        }];
        let s = &settings;
        assert!(sign_in_could_supply(&needed("email", None), s));
        assert!(sign_in_could_supply(&needed("email", Some(&[own])), s));
        assert!(
            !sign_in_could_supply(&needed("email", Some(&[idp])), s),
            "a trusted issuer without sign-in cannot be asked interactively"
        );
        assert!(!sign_in_could_supply(&needed("groups", None), s));

        // The same issuer with a client id and secret: its claims can be gathered by signing in there.
        if let Some(entry) = settings.trusted_issuers.first_mut() {
            entry.client_id = Some("uma".into());
            entry.client_secret = Some(crate::secret::ClientSecret::new("secret"));
        }
        let s = &settings;
        assert!(sign_in_could_supply(&needed("email", Some(&[idp])), s));
        assert!(sign_in_could_supply(&needed("groups", Some(&[idp])), s));
        assert!(sign_in_could_supply(&needed("phone_number", None), s));
        assert!(
            !sign_in_could_supply(&needed("groups", None), s),
            "a non-standard claim from anyone: no provider is known to have it"
        );
        assert!(!sign_in_could_supply(
            &needed("groups", Some(&["https://elsewhere.example"])),
            s
        ));
    }

    #[test]
    fn a_bad_ticket_sends_the_browser_back_without_spending_anything() {
        let w = World::new();
        w.ticket("stale", None, NOW);
        w.ticket("foreign", Some("other"), NOW + 60);
        for (ticket, why) in [
            (None, "missing"),
            (Some("unknown"), "unknown"),
            (Some("stale"), "expired"),
            (Some("foreign"), "another client"),
        ] {
            let Arrived::Back(location) = w.arrive(ticket) else {
                panic!("{why}: expected a redirect");
            };
            let q = query(&location);
            assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
            assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
            assert!(
                q.get("error_description").is_some_and(|d| d.contains(why)),
                "{q:?}"
            );
        }
        // The other client's ticket is still usable by it.
        assert!(matches!(w.state("foreign"), Consumed::Valid(_)));
    }

    #[test]
    fn continuing_spends_the_ticket_and_binds_the_claims_to_a_new_one() {
        let w = World::new();
        w.ticket("tk", None, NOW + 60);
        let Arrived::Pending { id, owner } = w.arrive(Some("tk")) else {
            panic!("expected a pending visit");
        };
        assert_eq!(owner, "alice");
        assert!(
            matches!(w.state("tk"), Consumed::Valid(_)),
            "arriving spends nothing"
        );
        let Answered::Back(location) = w.answer(&id, Answer::Allow(bob())) else {
            panic!("expected a redirect");
        };
        let q = query(&location);
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
        assert!(!q.contains_key("error"), "{q:?}");
        let new = q.get("ticket").expect("new ticket").clone();
        assert_ne!(new, "tk");
        assert_eq!(w.state("tk"), Consumed::AlreadyUsed);
        let Consumed::Valid(rotated) = w.state(&new) else {
            panic!("the new ticket is live");
        };
        assert_eq!(rotated.bound_client.as_deref(), Some("app"));
        assert_eq!(rotated.owner, "alice");
        let gathered = w
            .store
            .write(|tx| tx.gathered_claims(&crypto::hash_secret(&new)))
            .expect("claims")
            .expect("bound");
        assert_eq!(gathered.client_id, "app");
        assert_eq!(gathered.claims, bob());
        // The location carries no claim.
        assert!(!location.contains("bob"), "{location}");
        // A second submission does nothing.
        assert_eq!(
            w.store
                .write(|tx| {
                    let visit = Interaction {
                        csrf_hash: String::new(),
                        client_id: "app".into(),
                        ticket_hash: crypto::hash_secret(&new),
                        owner: "alice".into(),
                        redirect_uri: BACK.into(),
                        state: None,
                        expires_at: NOW + 60,
                    };
                    w.service().answer(tx, &id, &visit, Answer::Deny)
                })
                .expect("answer"),
            Answered::AlreadyAnswered
        );
        assert!(matches!(w.state(&new), Consumed::Valid(_)));
    }

    #[test]
    fn cancelling_answers_access_denied_and_spends_the_ticket() {
        let w = World::new();
        w.ticket("tk", None, NOW + 60);
        let Arrived::Pending { id, .. } = w.arrive(Some("tk")) else {
            panic!("expected a pending visit");
        };
        let Answered::Back(location) = w.answer(&id, Answer::Deny) else {
            panic!("expected a redirect");
        };
        let q = query(&location);
        assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
        assert!(!q.contains_key("ticket"));
        assert_eq!(w.state("tk"), Consumed::AlreadyUsed);
    }

    #[test]
    fn an_overlong_state_is_not_echoed() {
        let w = World::new();
        w.ticket("tk", None, NOW + 60);
        let long = "s".repeat(MAX_STATE_LEN + 1);
        let arrived = w
            .store
            .write(|tx| {
                w.service()
                    .arrive(tx, &w.client, BACK, Some("tk"), Some(&long), "csrf")
            })
            .expect("arrive");
        let Arrived::Back(location) = arrived else {
            panic!("expected a redirect");
        };
        assert!(!query(&location).contains_key("state"));
    }
}
