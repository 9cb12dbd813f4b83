//! The budgeting app, a UMA client acting for Bob: it fetches a statement from Alice's bank and walks
//! whatever the UMA grant asks of it, printing each step.
//!
//! 1. `GET` the statement without a token: `401` with `WWW-Authenticate: UMA realm, as_uri, ticket`;
//! 2. discovery at `as_uri` (`/.well-known/uma2-configuration`);
//! 3. the ticket at the token endpoint (grant `urn:ietf:params:oauth:grant-type:uma-ticket`);
//! 4. on `need_info` with `redirect_user`: claims interaction (UMA Grant §3.3.2), playing Bob's browser: his
//!    sign-in and "Continue" at the authorization server, back at the claims redirect URI with a new ticket
//!    (which is never contacted: the app reads the ticket from the `Location` header), then the new ticket at
//!    the token endpoint;
//! 5. the RPT on the statement: served.
//!
//! Exit status: 0 when the statement was served, 3 when the authorization server denied access
//! (`request_denied`), 1 on anything else. Loopback only; every request has a 10-second timeout.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use url::Url;

const UMA_TICKET_GRANT: &str = "urn:ietf:params:oauth:grant-type:uma-ticket";
const DENIED: u8 = 3;
const USAGE: &str = "usage: budget_client --resource URL --client ID:SECRET --user NAME:PASSWORD --claims-redirect-uri URI

The budgeting app acting for Bob: fetches a resource from a UMA resource server, redeeming the ticket, meeting
need_info by claims interaction (signing Bob in at the authorization server), and presenting the RPT.

options:
  --resource URL               the resource, e.g. http://127.0.0.1:PORT/accounts/checking/statements/2026-11
  --client ID:SECRET           the app's client credentials at the authorization server
  --user NAME:PASSWORD         Bob's account at the authorization server
  --claims-redirect-uri URI    the app's registered claims redirect URI (never contacted)
  -h, --help                   print this and exit

exit status: 0 served, 3 access denied (request_denied), 1 any other failure";

enum Failure {
    Denied(String),
    Error(String),
}

type Result<T> = std::result::Result<T, Failure>;

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(Failure::Error(message.into()))
}

struct Options {
    resource: Url,
    client: (String, String),
    user: (String, String),
    claims_redirect_uri: String,
}

fn loopback(text: &str) -> Result<Url> {
    let Ok(url) = Url::parse(text) else {
        return fail(format!("`{text}` is not a URL"));
    };
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !local || !matches!(url.scheme(), "http" | "https") {
        return fail(format!("refusing `{text}`: not http(s) on loopback"));
    }
    Ok(url)
}

fn parse_args(args: &[String]) -> Result<Option<Options>> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(None);
    }
    let mut given = BTreeMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let Some(value) = args.next().filter(|v| !v.starts_with("--")) else {
            return fail(format!("{flag} takes a value (see --help)"));
        };
        given.insert(flag.as_str(), value.as_str());
    }
    let mut take = |flag: &str| match given.remove(flag) {
        Some(value) => Ok(value.to_owned()),
        None => fail(format!("{flag} is required (see --help)")),
    };
    let pair = |flag: &str, value: String| match value.split_once(':') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
        _ => fail(format!("{flag} takes two values joined by `:`")),
    };
    let resource = loopback(&take("--resource")?)?;
    let client = pair("--client", take("--client")?)?;
    let user = pair("--user", take("--user")?)?;
    let claims_redirect_uri = take("--claims-redirect-uri")?;
    if let Some(flag) = given.keys().next() {
        return fail(format!("unknown option `{flag}`"));
    }
    Ok(Some(Options {
        resource,
        client,
        user,
        claims_redirect_uri,
    }))
}

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One blocking agent: no redirects followed, a cookie jar for the one AS it signs in at, loopback only.
struct Http {
    agent: ureq::Agent,
    cookies: BTreeMap<String, String>,
}

impl Http {
    fn new() -> Self {
        let config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10)));
        let config = config.http_status_as_error(false).max_redirects(0);
        let agent = config.user_agent("budget-client").build().into();
        Self {
            agent,
            cookies: BTreeMap::new(),
        }
    }

    fn send(
        &mut self,
        method: &str,
        url: &Url,
        auth: Option<String>,
        form: Option<&[(&str, &str)]>,
    ) -> Result<Reply> {
        loopback(url.as_str())?;
        println!(
            "  -> {method} {}",
            url.as_str().split('?').next().unwrap_or_default()
        );
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str());
        if let Some(value) = auth {
            builder = builder.header("Authorization", value);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            builder = builder.header("Cookie", jar.join("; "));
        }
        let mut payload = String::new();
        if let Some(pairs) = form {
            builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
            payload = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
        }
        let Ok(request) = builder.body(payload) else {
            return fail(format!("cannot build a request to {url}"));
        };
        let mut response = match self.agent.run(request) {
            Ok(response) => response,
            Err(e) => return fail(format!("{method} {url}: {e}")),
        };
        let mut headers = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = value.to_str().unwrap_or_default().to_owned();
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    self.cookies
                        .insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            headers.insert(name.as_str().to_owned(), value);
        }
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        println!("  <- {status}");
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

fn basic(client: &(String, String)) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(&client.0), enc(&client.1));
    format!("Basic {}", openssl::base64::encode_block(pair.as_bytes()))
}

/// The parameters of a `WWW-Authenticate: UMA ...` challenge (quoted-strings, `\` escapes).
fn parse_challenge(header: &str) -> Result<BTreeMap<String, String>> {
    let Some(mut rest) = header.strip_prefix("UMA ") else {
        return fail(format!("not an UMA challenge: {header}"));
    };
    let mut params = BTreeMap::new();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once("=\"") else {
            return fail(format!("bad challenge: {header}"));
        };
        let (mut value, mut chars, mut end) = (String::new(), after.char_indices(), None);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => value.push(c),
            }
        }
        let Some(end) = end else {
            return fail(format!("unterminated value in challenge: {header}"));
        };
        params.insert(name.trim().to_owned(), value);
        rest = after
            .get(end..)
            .unwrap_or_default()
            .trim_start_matches([',', ' ']);
    }
    Ok(params)
}

/// The first form of an AS page: its action and its named controls.
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

/// Claims interaction: Bob's browser at `redirect_user`, signing in and continuing; returns the new ticket.
fn claims_interaction(
    http: &mut Http,
    opts: &Options,
    redirect_user: &str,
    ticket: &str,
) -> Result<String> {
    let mut raw = [0u8; 16];
    if openssl::rand::rand_bytes(&mut raw).is_err() {
        return fail("no randomness for `state`");
    }
    let state: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut page = loopback(redirect_user)?;
    page.query_pairs_mut().extend_pairs([
        ("client_id", opts.client.0.as_str()),
        ("ticket", ticket),
        ("claims_redirect_uri", &opts.claims_redirect_uri),
        ("state", &state),
    ]);
    let mut reply = http.send("GET", &page, None, None)?;
    for _ in 0..5 {
        if reply.status / 100 == 3 {
            let location = reply.header("location").unwrap_or_default();
            let Ok(target) = page.join(location) else {
                return fail(format!("bad Location `{location}`"));
            };
            if target.as_str().starts_with(&opts.claims_redirect_uri) {
                let query: BTreeMap<String, String> = target.query_pairs().into_owned().collect();
                if let Some(error) = query.get("error") {
                    return fail(format!("claims interaction refused: {error}"));
                }
                if query.get("state") != Some(&state) {
                    return fail("the claims redirect carries another state");
                }
                println!("  back at the claims redirect URI with a new ticket (not followed)");
                return query
                    .get("ticket")
                    .cloned()
                    .map_or_else(|| fail("no ticket in the claims redirect"), Ok);
            }
            page = loopback(target.as_str())?;
            reply = http.send("GET", &page, None, None)?;
            continue;
        }
        let Some((action, controls)) = form(&reply.body).filter(|_| reply.status == 200) else {
            return fail(format!(
                "expected a sign-in or release page, got HTTP {}",
                reply.status
            ));
        };
        let Ok(target) = page.join(&action) else {
            return fail(format!("bad form action `{action}`"));
        };
        let hidden = |name: &str| controls.get(name).cloned().unwrap_or_default();
        let (request, csrf) = (hidden("request"), hidden("csrf_token"));
        let mut fields = vec![("request", request.as_str()), ("csrf_token", csrf.as_str())];
        if controls.contains_key("password") {
            println!("  the sign-in page: Bob signs in as {}", opts.user.0);
            fields.extend([
                ("username", opts.user.0.as_str()),
                ("password", opts.user.1.as_str()),
            ]);
        } else if controls.contains_key("decision") {
            println!("  the release page: Bob continues");
            fields.push(("decision", "allow"));
        } else {
            return fail("a page with neither a sign-in nor a release form");
        }
        reply = http.send("POST", &target, None, Some(&fields))?;
        page = target;
    }
    fail("no way back to the claims redirect URI after five pages")
}

fn run(opts: &Options) -> Result<Value> {
    let mut http = Http::new();
    println!("=== 1. the resource, without a token ===");
    let first = http.send("GET", &opts.resource, None, None)?;
    if first.status != 401 {
        return fail(format!(
            "expected 401 and a ticket, got HTTP {}: {}",
            first.status, first.body
        ));
    }
    let header = first
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    println!("  WWW-Authenticate: {header}");
    let challenge = parse_challenge(&header)?;
    let (Some(as_uri), Some(ticket)) = (challenge.get("as_uri"), challenge.get("ticket")) else {
        return fail("the challenge lacks as_uri or ticket");
    };

    println!("=== 2. discovery ===");
    let discovery = loopback(&format!(
        "{}/.well-known/uma2-configuration",
        as_uri.trim_end_matches('/')
    ))?;
    let metadata = http.send("GET", &discovery, None, None)?.json();
    let Some(token_endpoint) = metadata.get("token_endpoint").and_then(Value::as_str) else {
        return fail("discovery has no token_endpoint");
    };
    let token_endpoint = loopback(token_endpoint)?;
    println!("  token endpoint: {token_endpoint}");

    let mut ticket = ticket.clone();
    let mut interacted = false;
    let rpt = loop {
        println!("=== 3. the ticket at the token endpoint ===");
        let form = [
            ("grant_type", UMA_TICKET_GRANT),
            ("ticket", ticket.as_str()),
        ];
        let reply = http.send(
            "POST",
            &token_endpoint,
            Some(basic(&opts.client)),
            Some(&form),
        )?;
        let answer = reply.json();
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let description = answer
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (reply.status, error) {
            (200, _) => match answer.get("access_token").and_then(Value::as_str) {
                Some(rpt) => break rpt.to_owned(),
                None => return fail("the token answer has no access_token"),
            },
            (403, "need_info") if !interacted => {
                println!("  need_info: {description}");
                let (Some(next), Some(redirect_user)) = (
                    answer.get("ticket").and_then(Value::as_str),
                    answer.get("redirect_user").and_then(Value::as_str),
                ) else {
                    return fail(
                        "need_info without a ticket and redirect_user: this app cannot push claims",
                    );
                };
                println!("=== 4. claims interaction ===");
                ticket = claims_interaction(&mut http, opts, redirect_user, next)?;
                interacted = true;
            }
            (403, "request_denied") => return Err(Failure::Denied(description.to_owned())),
            _ => return fail(format!("HTTP {} `{error}`: {description}", reply.status)),
        }
    };
    println!("  an RPT");

    println!("=== 5. the resource, with the RPT ===");
    let served = http.send("GET", &opts.resource, Some(format!("Bearer {rpt}")), None)?;
    if served.status != 200 {
        return fail(format!(
            "the bank answered HTTP {} with the RPT: {}",
            served.status, served.body
        ));
    }
    Ok(served.json())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = parse_args(&args).and_then(|opts| match opts {
        None => Ok(None),
        Some(opts) => run(&opts).map(Some),
    });
    match outcome {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(statement)) => {
            println!("served: {statement}");
            ExitCode::SUCCESS
        }
        Err(Failure::Denied(description)) => {
            println!("denied: {description}");
            ExitCode::from(DENIED)
        }
        Err(Failure::Error(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
