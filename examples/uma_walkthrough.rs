//! The whole UMA 2.0 flow against a running uma-cedar, playing both the resource server (RS) and the client,
//! and printing every step with the protocol messages exchanged: documentation that runs.
//!
//! It talks only to loopback (the AS URI and every endpoint discovery names must be 127.0.0.0/8, ::1 or
//! `localhost`), gives each request a 10-second timeout, and exits by itself: 0 once the RS served the
//! resource, 1 on any unexpected answer, naming the server's `error` and `error_description`.
//!
//! `cargo run --example uma_walkthrough -- --help` prints its options and the setup it needs, the first blocks
//! of the README's walk-through: a resource server `photos-rs`, a client `photo-app` and Bob with his email.
//!
//! The resource server (`--rs`) is an organisation owning its resources: it gets its PAT by client credentials,
//! so the owner of the album "Summer 2026" is its client id, and it stores the owner's Cedar policy "Bob may view
//! the album" through the policy API. The client (`--client`) acts for Bob (`--user`, whose account must have the
//! email `bob@example.com`): it meets `need_info`, logs Bob in (authorization code + PKCE) for an ID token,
//! pushes it as a claim token and gets an RPT, which the resource server introspects before serving the album.
//! The redirect URI (`--redirect-uri`) is never contacted: the client reads the code from the `Location`
//! header. Running it again against the same server registers another album and replaces the policy.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Value, json};
use url::Url;

const TIMEOUT: Duration = Duration::from_secs(10);
const UMA_TICKET_GRANT: &str = "urn:ietf:params:oauth:grant-type:uma-ticket";
const ID_TOKEN_FORMAT: &str = "http://openid.net/specs/openid-connect-core-1_0.html#IDToken";
const POLICY_NAME: &str = "bob-views-album";
const ALBUM: &str = "Summer 2026";
const POLICY: &str = r#"// Bob may view the album
permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" &&
       resource has name && resource.name == "Summer 2026" };
"#;
const DEFAULT_AS_URI: &str = "http://127.0.0.1:8080";
const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:9000/cb";
const HINT: &str = "run with --help for the options and the setup they need";
/// The setup lines are the README's walk-through, word for word (`tests/blackbox/test_example.py` checks).
const USAGE: &str = r#"usage: uma_walkthrough --rs ID:SECRET --client ID:SECRET --user NAME:PASSWORD [--as-uri URL] [--redirect-uri URI]

Plays the resource server and the client through the whole UMA 2.0 flow against a running uma-cedar on
loopback, printing every message exchanged.

options:
  --rs ID:SECRET          the resource server, a confidential client; it owns the album it registers
  --client ID:SECRET      the client acting for the user; a confidential client with --redirect-uri registered
  --user NAME:PASSWORD    a local account with the email bob@example.com, which the owner's policy names
  --as-uri URL            the server, loopback only (default http://127.0.0.1:8080)
  --redirect-uri URI      the client's registered redirect URI, never contacted (default http://127.0.0.1:9000/cb)
  -h, --help              print this and exit

setup, as in the README's walk-through (uma-cedar on PATH, a bash shell):
  cd "$(mktemp -d)"
  export UMA_CEDAR_DATA_DIR=$PWD/data
  export UMA_CEDAR_LISTEN=${UMA_CEDAR_LISTEN:-127.0.0.1:8081}
  uma-cedar client add --id photos-rs --secret photos-rs-secret-0123 --name "Photo Album"
  uma-cedar client add --id photo-app --secret photo-app-secret-0123 --redirect-uri http://127.0.0.1:9000/cb
  printf 'bob-password-1\n' | uma-cedar user add --username bob --password-stdin --email bob@example.com --name Bob
  uma-cedar serve 2> server.log &

then, back in the clone (cd -):
  cargo run --example uma_walkthrough -- --as-uri http://127.0.0.1:8081 \
      --rs photos-rs:photos-rs-secret-0123 --client photo-app:photo-app-secret-0123 --user bob:bob-password-1"#;

type Result<T> = std::result::Result<T, String>;

/// `.ctx("what failed")?` turns any error, or a missing value, into this program's error message.
trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Context<T> for Option<T> {
    fn ctx(self, what: &str) -> Result<T> {
        self.ok_or_else(|| what.to_owned())
    }
}

struct Credentials {
    id: String,
    secret: String,
}

struct Options {
    as_uri: Url,
    rs: Credentials,
    client: Credentials,
    user: Credentials,
    redirect_uri: String,
}

/// The options of a run, or `None` when the usage is asked for (`-h` or `--help`, anywhere).
fn parse_args(args: &[String]) -> Result<Option<Options>> {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(None);
    }
    let mut given = BTreeMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if !flag.starts_with("--") {
            return Err(format!("unexpected argument `{flag}`\n{HINT}"));
        }
        let value = args.next().filter(|value| !value.starts_with("--"));
        let value = value.ctx(&format!("{flag} takes a value\n{HINT}"))?;
        if given.insert(flag.as_str(), value.clone()).is_some() {
            return Err(format!("{flag} is given twice\n{HINT}"));
        }
    }
    let mut take = |flag: &str| given.remove(flag);
    let mut pair = |flag: &str| -> Result<Credentials> {
        let value = take(flag).ctx(&format!("{flag} is required\n{HINT}"))?;
        match value.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                let (id, secret) = (id.to_owned(), secret.to_owned());
                Ok(Credentials { id, secret })
            }
            _ => Err(format!("{flag} takes two values joined by `:`\n{HINT}")),
        }
    };
    let (rs, client, user) = (pair("--rs")?, pair("--client")?, pair("--user")?);
    let as_uri = take("--as-uri").unwrap_or_else(|| DEFAULT_AS_URI.into());
    let redirect_uri = take("--redirect-uri").unwrap_or_else(|| DEFAULT_REDIRECT_URI.into());
    if let Some(flag) = given.keys().next() {
        return Err(format!("unknown option `{flag}`\n{HINT}"));
    }
    let as_uri = loopback(&as_uri)?;
    Ok(Some(Options {
        as_uri,
        rs,
        client,
        user,
        redirect_uri,
    }))
}

/// Every URL this program calls goes through here: it is a demo, and must never reach beyond this machine.
fn loopback(text: &str) -> Result<Url> {
    let url = Url::parse(text).ctx(&format!("`{text}` is not a URL"))?;
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !local || !matches!(url.scheme(), "http" | "https") {
        return Err(format!("refusing `{text}`: not http(s) on loopback"));
    }
    Ok(url)
}

// ----------------------------------------------------------------------------------------------------------
// HTTP: one blocking agent that never follows redirects (the code must be read from `Location`) and keeps the
// cookies of the one server it talks to (the login pages' CSRF and session cookies). Each request is printed
// before it is sent (passwords masked, long tokens shortened), each answer's status after.

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Browser,
    Basic(&'a Credentials),
    Bearer(&'a str, &'a str),
}

enum Body<'a> {
    Empty,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
    Text(&'a str),
}

struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Reply {
    /// The JSON body of an answer with one of the expected statuses, printed; anything else is an error.
    fn expect(&self, ok: &[u16], what: &str) -> Result<Value> {
        if !ok.contains(&self.status) {
            return Err(format!("{what}: {}", self.problem()));
        }
        let value = serde_json::from_str(&self.body);
        let value = value.ctx(&format!("{what}: not JSON: {}", excerpt(&self.body)))?;
        show(&value);
        Ok(value)
    }

    /// One string member of the JSON body of an answer with one of the expected statuses.
    fn take(&self, ok: &[u16], name: &str) -> Result<String> {
        field(&self.expect(ok, name)?, name)
    }

    /// The server's own account of what went wrong: `error` and `error_description` when it sent them.
    fn problem(&self) -> String {
        let status = self.status;
        let Ok(body) = serde_json::from_str::<Value>(&self.body) else {
            return format!("unexpected HTTP {status}: {}", excerpt(&self.body));
        };
        let description = body.get("error_description").map_or("(none)".into(), text);
        let error = body.get("error").map_or("(none)".into(), text);
        format!("HTTP {status} error `{error}`: {description}")
    }
}

struct Http {
    agent: ureq::Agent,
    cookies: BTreeMap<String, String>,
}

impl Http {
    fn new() -> Self {
        let config = ureq::Agent::config_builder().timeout_global(Some(TIMEOUT));
        let config = config.http_status_as_error(false).max_redirects(0);
        let agent = config.user_agent("uma-walkthrough").build().into();
        let cookies = BTreeMap::new();
        Self { agent, cookies }
    }

    fn send(&mut self, method: &str, url: &Url, auth: Auth<'_>, body: Body<'_>) -> Result<Reply> {
        loopback(url.as_str())?;
        let jar = self.cookies.iter().map(|(k, v)| format!("{k}={v}"));
        let jar: Vec<String> = jar.collect();
        let (who, header) = match auth {
            Auth::None => (String::new(), None),
            Auth::Browser if jar.is_empty() => ("   (Bob's browser)".into(), None),
            Auth::Browser => {
                let names: Vec<&String> = self.cookies.keys().collect();
                let who = format!("   (Bob's browser, cookies: {names:?})");
                (who, Some(("Cookie", jar.join("; "))))
            }
            // RFC 6749 §2.3.1: id and secret are form-encoded, then base64-encoded together.
            Auth::Basic(c) => {
                let pair = format!("{}:{}", form_encode(&c.id), form_encode(&c.secret));
                let header = format!("Basic {}", STANDARD.encode(pair));
                let who = format!("   (client {}, HTTP Basic)", c.id);
                (who, Some(("Authorization", header)))
            }
            Auth::Bearer(name, token) => {
                let header = ("Authorization", format!("Bearer {token}"));
                (format!("   (Bearer {name})"), Some(header))
            }
        };
        println!("  -> {method} {url}{who}");
        let (content_type, payload) = match body {
            Body::Empty => ("text/plain", String::new()),
            Body::Form(pairs) => {
                for (name, value) in pairs {
                    let masked = (*name == "password").then_some("********".into());
                    println!("       {name}={}", masked.unwrap_or_else(|| short(value)));
                }
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                let form = form.extend_pairs(pairs).finish();
                ("application/x-www-form-urlencoded", form)
            }
            Body::Json(value) => {
                show(value);
                ("application/json", value.to_string())
            }
            Body::Text(text) => {
                text.lines().for_each(|line| println!("       {line}"));
                ("text/plain; charset=utf-8", text.to_owned())
            }
        };
        let sent = if method == "GET" {
            let request = self.agent.get(url.as_str());
            let request = header.into_iter().fold(request, |r, (k, v)| r.header(k, v));
            request.call()
        } else {
            let request = match method {
                "PUT" => self.agent.put(url.as_str()),
                _ => self.agent.post(url.as_str()),
            };
            let request = header.into_iter().fold(request, |r, (k, v)| r.header(k, v));
            let request = request.header("Content-Type", content_type);
            request.send(payload.as_bytes())
        };
        let mut response = sent.ctx(&format!("{method} {url} failed"))?;
        for cookie in response.headers().get_all("set-cookie") {
            let cookie = cookie.to_str().unwrap_or("");
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.insert(name.trim().into(), value.trim().into());
            }
        }
        let location = response.headers().get("location");
        let location = location.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.body_mut().with_config().limit(1 << 20);
        let body = body.read_to_string().ctx(&format!("{method} {url}"))?;
        let status = response.status();
        let reason = status.canonical_reason().unwrap_or("");
        let status = status.as_u16();
        println!("  <- {status} {reason}");
        Ok(Reply {
            status,
            location,
            body,
        })
    }
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn step(title: &str) {
    println!("\n=== {title} ===");
}

fn show(value: &Value) {
    let pretty = serde_json::to_string_pretty(&shorten(value)).unwrap_or_default();
    pretty.lines().for_each(|line| println!("     {line}"));
}

fn shorten(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(short(s)),
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect(),
        other => other.clone(),
    }
}

/// Tokens are long and random; their first characters are enough to follow them from step to step.
fn short(s: &str) -> String {
    if s.len() <= 64 || s.contains("://") || s.contains(' ') {
        return s.to_owned();
    }
    let start: String = s.chars().take(24).collect();
    format!("{start}...({} chars)", s.len())
}

fn excerpt(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    words.join(" ").chars().take(300).collect()
}

fn text(value: &Value) -> String {
    let string = value.as_str().map(str::to_owned);
    string.unwrap_or_else(|| value.to_string())
}

fn field(value: &Value, name: &str) -> Result<String> {
    let found = value.get(name).and_then(Value::as_str).map(str::to_owned);
    found.ctx(&format!("the answer has no `{name}`: {value}"))
}

/// A JWT's payload, decoded without checking the signature: for display only.
fn jwt_payload(jwt: &str) -> Result<Value> {
    let payload = jwt.split('.').nth(1).ctx("not a JWT")?;
    let bytes = B64URL.decode(payload).ctx("bad JWT payload")?;
    serde_json::from_slice(&bytes).ctx("the JWT payload is not JSON")
}

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).ctx("no randomness")?;
    Ok(B64URL.encode(bytes))
}

// ----------------------------------------------------------------------------------------------------------
// The flow.

struct Endpoints {
    issuer: String,
    authorization: Url,
    token: Url,
    introspection: Url,
    resources: Url,
    permission: Url,
    policies: Url,
}

fn discover(http: &mut Http, as_uri: &Url) -> Result<Endpoints> {
    step("1. Discovery: every endpoint comes from the AS's UMA metadata");
    let base = as_uri.as_str().trim_end_matches('/');
    let url = loopback(&format!("{base}/.well-known/uma2-configuration"))?;
    let reply = http.send("GET", &url, Auth::None, Body::Empty)?;
    if reply.status != 200 {
        return Err(format!("discovery: {}", reply.problem()));
    }
    let meta: Value = serde_json::from_str(&reply.body).ctx("discovery")?;
    let issuer = field(&meta, "issuer")?;
    println!("     {:<32} {issuer}", "issuer");
    if issuer.trim_end_matches('/') != base {
        println!(
            "     (RFC 8414 §3.3 wants the issuer identical to --as-uri: pass --as-uri {issuer})"
        );
    }
    let endpoint = |name: &str| -> Result<Url> {
        let url = loopback(&field(&meta, name)?)?;
        println!("     {name:<32} {url}");
        Ok(url)
    };
    Ok(Endpoints {
        issuer,
        authorization: endpoint("authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        introspection: endpoint("introspection_endpoint")?,
        resources: endpoint("resource_registration_endpoint")?,
        permission: endpoint("permission_endpoint")?,
        policies: endpoint("uma_cedar_policy_endpoint")?,
    })
}

/// Client credentials (RFC 6749 §4.4): the RS is its own resource owner.
fn client_token(http: &mut Http, ep: &Endpoints, rs: &Credentials, scope: &str) -> Result<String> {
    let params = [("grant_type", "client_credentials"), ("scope", scope)];
    let reply = http.send("POST", &ep.token, Auth::Basic(rs), Body::Form(&params))?;
    reply.take(&[200], "access_token")
}

/// The resource server's side up to the 401 it answers a client without an RPT: (PAT, resource, challenge).
fn resource_server(http: &mut Http, ep: &Endpoints, rs: &Credentials) -> Result<[String; 3]> {
    step("2a. RS: a PAT (scope uma_protection) by client credentials; the RS owns its resources");
    let pat = client_token(http, ep, rs, "uma_protection")?;
    let with_pat = Auth::Bearer("PAT", &pat);

    step("2b. RS: registers the resource (Federated Authorization §3)");
    let resource =
        json!({"name": ALBUM, "type": "photo-album", "resource_scopes": ["view", "comment"]});
    let reply = http.send("POST", &ep.resources, with_pat, Body::Json(&resource))?;
    println!(
        "     Location: {}",
        reply.location.as_deref().unwrap_or("(none)")
    );
    let resource_id = reply.take(&[201], "_id")?;

    step("2c. RS: stores the owner's sharing policy, in Cedar, through the policy API");
    let token = client_token(http, ep, rs, "uma_policy")?;
    let base = ep.policies.as_str().trim_end_matches('/');
    let url = loopback(&format!("{base}/{POLICY_NAME}"))?;
    let with_token = Auth::Bearer("uma_policy token", &token);
    let reply = http.send("PUT", &url, with_token, Body::Text(POLICY))?;
    reply.expect(&[200, 201], "policy")?;

    step("2d. RS: a client asks for the album without an RPT; the RS asks for a ticket (§4)");
    let permission = json!({"resource_id": resource_id, "resource_scopes": ["view"]});
    let reply = http.send("POST", &ep.permission, with_pat, Body::Json(&permission))?;
    let ticket = reply.take(&[200, 201], "ticket")?;
    let issuer = &ep.issuer;
    let challenge = format!(r#"UMA realm="photos", as_uri="{issuer}", ticket="{ticket}""#);
    println!("  The RS answers the client:\n     HTTP/1.1 401 Unauthorized");
    println!("     WWW-Authenticate: {challenge}");
    Ok([pat, resource_id, challenge])
}

/// What a client reads from the RS's `WWW-Authenticate: UMA ...` challenge (UMA Grant §3.2).
fn parse_challenge(header: &str) -> Result<BTreeMap<&str, &str>> {
    let params = header.strip_prefix("UMA ").ctx("not an UMA challenge")?;
    let pairs = params.split(", ").map(|part| part.split_once('='));
    let pairs = pairs.map(|pair| pair.map(|(k, v)| (k.trim(), v.trim_matches('"'))));
    pairs.collect::<Option<_>>().ctx("bad challenge")
}

/// The first form of one of the AS's pages: its action and named controls (double-quoted attributes).
fn form(html: &str) -> Option<(String, BTreeMap<String, String>)> {
    let html = html.get(html.find("<form")?..)?;
    let html = html.get(..html.find("</form>")?)?;
    let attr = |tag: &str, name: &str| -> Option<String> {
        let rest = tag.get(tag.find(&format!(" {name}=\""))? + name.len() + 3..)?;
        Some(rest.get(..rest.find('"')?)?.replace("&amp;", "&"))
    };
    let action = attr(html.get(..html.find('>')?)?, "action").unwrap_or_default();
    let mut controls = BTreeMap::new();
    for tag in html.split('<') {
        if let (Some(name), value) = (attr(tag, "name"), attr(tag, "value")) {
            controls.entry(name).or_insert(value.unwrap_or_default());
        }
    }
    Some((action, controls))
}

/// Where the form of an AS page posts, and its hidden `request` and `csrf_token` fields. `control` is the
/// field telling which page it is: `password` (login) or `decision` (consent).
fn page_form(page: &Url, reply: &Reply, control: &str) -> Result<(Url, String, String)> {
    let found = form(&reply.body).filter(|(_, controls)| controls.contains_key(control));
    let Some((action, controls)) = found.filter(|_| reply.status == 200) else {
        // The page's alert (a wrong password, say) is the best explanation; else the page itself.
        let alert = reply.body.split("role=\"alert\">").nth(1);
        let alert = alert.and_then(|t| t.split('<').next());
        let alert = alert.map_or_else(|| excerpt(&reply.body), str::to_owned);
        let status = reply.status;
        return Err(format!(
            "expected a page with `{control}`, got HTTP {status}: {alert}"
        ));
    };
    let target = loopback(page.join(&action).ctx("bad form action")?.as_str())?;
    let hidden = |name: &str| {
        controls
            .get(name)
            .cloned()
            .ctx(&format!("no `{name}` field"))
    };
    Ok((target, hidden("request")?, hidden("csrf_token")?))
}

/// Bob logs in at the authorization endpoint and consents (authorization code + PKCE S256, RFC 7636); the
/// client then redeems the code for his ID token.
fn log_bob_in(http: &mut Http, ep: &Endpoints, opts: &Options) -> Result<String> {
    let (verifier, state, nonce) = (random_token()?, random_token()?, random_token()?);
    let challenge = B64URL.encode(openssl::sha::sha256(verifier.as_bytes()));
    let mut page = ep.authorization.clone();
    page.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", &opts.client.id),
        ("redirect_uri", &opts.redirect_uri),
        ("scope", "openid email"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let reply = http.send("GET", &page, Auth::Browser, Body::Empty)?;
    let (login, request, csrf) = page_form(&page, &reply, "password")?;
    println!("  The login page: a form with hidden `request` and `csrf_token`, a CSRF cookie.");
    println!("  Bob signs in:");
    let (user, password) = (opts.user.id.as_str(), opts.user.secret.as_str());
    let params = [
        ("request", request.as_str()),
        ("csrf_token", &csrf),
        ("username", user),
        ("password", password),
    ];
    let mut reply = http.send("POST", &login, Auth::Browser, Body::Form(&params))?;
    if reply.status == 200 {
        let (consent, request, csrf) = page_form(&login, &reply, "decision")?;
        println!("  The consent page. Bob allows:");
        let params = [
            ("request", request.as_str()),
            ("csrf_token", &csrf),
            ("decision", "allow"),
        ];
        reply = http.send("POST", &consent, Auth::Browser, Body::Form(&params))?;
    }
    let location = reply
        .location
        .as_deref()
        .filter(|_| reply.status / 100 == 3);
    let location = location.ctx(&format!("expected a redirect, got {}", reply.problem()))?;
    let redirect = login.join(location).ctx("bad Location")?;
    println!("     Location: {redirect}\n  (not followed: the client reads the code from it)");
    if !redirect.as_str().starts_with(&opts.redirect_uri) {
        return Err(format!(
            "the AS redirected elsewhere than {}",
            opts.redirect_uri
        ));
    }
    let query: BTreeMap<String, String> = redirect.query_pairs().into_owned().collect();
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        return Err(format!("authorization refused: `{error}`: {description}"));
    }
    // The state ties the answer to this request; `iss` (RFC 9207) says which AS sent it.
    let foreign_iss = query.get("iss").is_some_and(|iss| *iss != ep.issuer);
    if query.get("state") != Some(&state) || foreign_iss {
        return Err(format!("`state` or `iss` is not ours: {redirect}"));
    }
    let code = query.get("code").ctx("the redirect has no `code`")?;
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &opts.redirect_uri),
        ("code_verifier", &verifier),
    ];
    let client = Auth::Basic(&opts.client);
    let reply = http.send("POST", &ep.token, client, Body::Form(&params))?;
    let id_token = reply.take(&[200], "id_token")?;
    println!("  Bob's ID token says:");
    show(&jwt_payload(&id_token)?);
    Ok(id_token)
}

fn run(opts: &Options) -> Result<()> {
    let mut http = Http::new();
    let ep = discover(&mut http, &opts.as_uri)?;
    let [pat, resource_id, challenge] = resource_server(&mut http, &ep, &opts.rs)?;

    step("3a. Client: reads the challenge, asks for an RPT with the ticket alone (Grant §3.3.1)");
    let client = Auth::Basic(&opts.client);
    let challenge = parse_challenge(&challenge)?;
    let ticket = challenge.get("ticket").ctx("the challenge has no ticket")?;
    let params = [("grant_type", UMA_TICKET_GRANT), ("ticket", ticket)];
    let reply = http.send("POST", &ep.token, client, Body::Form(&params))?;
    let answer = reply.expect(&[403], "UMA grant")?;
    if answer.get("error") != Some(&json!("need_info")) {
        return Err(format!("expected need_info, got {}", reply.problem()));
    }
    let claims = answer.get("required_claims").and_then(Value::as_array);
    let claims = claims
        .into_iter()
        .flatten()
        .filter_map(|claim| claim.get("name"));
    let claims: Vec<String> = claims.map(text).collect();
    let claims = claims.join(", ");
    println!("  need_info: the owner's policies need these claims about Bob: {claims}");
    let ticket = field(&answer, "ticket")?;

    step("3b. Client: Bob logs in at the AS (authorization code + PKCE) for his ID token");
    let id_token = log_bob_in(&mut http, &ep, opts)?;

    step("3c. Client: pushes the ID token as a claim token with the new ticket (Grant §3.3.1)");
    let params = [
        ("grant_type", UMA_TICKET_GRANT),
        ("ticket", &ticket),
        ("claim_token", &id_token),
        ("claim_token_format", ID_TOKEN_FORMAT),
    ];
    let reply = http.send("POST", &ep.token, client, Body::Form(&params))?;
    let granted = reply.expect(&[200], "UMA grant")?;
    let rpt = field(&granted, "access_token")?;
    let pct = granted.get("pct").map_or("", |_| " and a PCT");
    println!("  An RPT{pct}. The RPT's payload (not verified here: the RS introspects it below):");
    show(&jwt_payload(&rpt)?);

    step("4. RS: the client retries with the RPT; the RS introspects it (Federated Authz §5)");
    let params = [("token", rpt.as_str())];
    let with_pat = Auth::Bearer("PAT", &pat);
    let reply = http.send("POST", &ep.introspection, with_pat, Body::Form(&params))?;
    let info = reply.expect(&[200], "introspection")?;
    let view = json!("view");
    let permissions = info.get("permissions").and_then(Value::as_array);
    let granted = permissions.into_iter().flatten().any(|p| {
        let scopes = p.get("resource_scopes").and_then(Value::as_array);
        let scopes = scopes.is_some_and(|s| s.contains(&view));
        p.get("resource_id") == Some(&json!(resource_id)) && scopes
    });
    if info.get("active") != Some(&json!(true)) || !granted {
        println!("  The RS answers the client:\n     HTTP/1.1 403 Forbidden");
        return Err(format!("the RPT does not grant `view` on `{resource_id}`"));
    }
    println!("  Granted: view on {resource_id}. The RS serves the album:\n     HTTP/1.1 200 OK");
    show(&json!({"album": ALBUM, "owner": opts.rs.id, "photos": 42}));
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run(&opts) {
        Ok(()) => {
            println!("\nDone: the whole UMA flow, from discovery to the served resource.");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("\nerror: {message}");
            ExitCode::FAILURE
        }
    }
}
