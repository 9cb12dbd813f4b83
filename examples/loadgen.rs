//! A small load generator for a running uma-cedar, or for the benchmark's peer (node oidc-provider), on loopback.
//!
//! It only ever talks to 127.0.0.0/8 or ::1, runs for a bounded time, and stops by itself. Each worker
//! thread keeps one HTTP/1.1 keep-alive connection and sends the scenario's request in a loop; at the end it
//! prints throughput and latency percentiles, and with `--server-pid` the server's CPU time per request
//! (utime + stime of the server process from `/proc/PID/stat` over the measured phase, divided by the
//! completed requests) and its resident memory. The last line, `result key=value ...`, is for scripts
//! (`scripts/bench` runs every scenario against both servers and prints the tables).
//!
//! ```text
//! cargo run --release -- serve &                       # the server under test
//! cargo run --release -- client add --id bench --secret bench-secret-0123456789
//! cargo run --release --example loadgen -- --scenario client-credentials --client bench:bench-secret-0123456789
//! ```
//!
//! Scenarios against uma-cedar (`--server uma-cedar`, the default):
//! - `discovery`: GET the UMA metadata;
//! - `client-credentials`: POST /token for a PAT;
//! - `introspect`: POST /introspect of a PAT with the PAT itself;
//! - `permission`: register one resource, then POST /uma/permission for tickets;
//! - `uma-grant`: push a permit-all policy, then per iteration a ticket and an RPT for it (two requests,
//!   counted as one iteration);
//! - `uma-grant-only`: the same set-up, then a first phase (as long as the measured one, at most
//!   [`MAX_TICKETS`] tickets) that only collects tickets, then the measured phase that only asks for RPTs: the
//!   UMA grant alone. A worker whose tickets run out stops early (said in the output). The server must keep
//!   tickets alive for both phases (`--ticket-ttl`).
//!
//! Scenarios against oidc-provider (`--server oidc-provider`, see `tests/oidc-provider/bench-provider.mjs`):
//! `discovery` (the OpenID metadata), `client-credentials` (add `--resource URI` for a JWT access token) and
//! `introspect` (POST /token/introspection of an access token, client authentication with HTTP Basic).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The most tickets `uma-grant-only` collects in its first phase, over all workers.
const MAX_TICKETS: usize = 2_000_000;
/// Largest response body read; anything longer is a failure (the scenarios' answers are well under 8 KiB).
const MAX_BODY: usize = 1 << 20;
/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ: 100 on every Linux architecture's user ABI).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    UmaCedar,
    OidcProvider,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::UmaCedar => "uma-cedar",
            Server::OidcProvider => "oidc-provider",
        }
    }
}

struct Options {
    addr: SocketAddr,
    server: Server,
    scenario: String,
    seconds: u64,
    concurrency: usize,
    client: Option<(String, String)>,
    resource: Option<String>,
    server_pid: Option<u32>,
}

fn usage() -> String {
    "usage: loadgen [--addr 127.0.0.1:8080] [--server uma-cedar|oidc-provider]\n\
     \x20             [--scenario discovery|client-credentials|introspect|permission|uma-grant|uma-grant-only]\n\
     \x20             [--seconds 10] [--concurrency 8] [--client ID:SECRET] [--resource URI] [--server-pid PID]"
        .to_owned()
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        server: Server::UmaCedar,
        scenario: "discovery".into(),
        seconds: 10,
        concurrency: 8,
        client: None,
        resource: None,
        server_pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        match flag.as_str() {
            "--addr" => opts.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--server" => {
                opts.server = match value()?.as_str() {
                    "uma-cedar" => Server::UmaCedar,
                    "oidc-provider" => Server::OidcProvider,
                    other => return Err(format!("--server: unknown server `{other}`")),
                }
            }
            "--scenario" => opts.scenario = value()?,
            "--seconds" => {
                opts.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--concurrency" => {
                opts.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--client" => {
                let v = value()?;
                let (id, secret) = v.split_once(':').ok_or("--client takes ID:SECRET")?;
                opts.client = Some((id.to_owned(), secret.to_owned()));
            }
            "--resource" => opts.resource = Some(value()?),
            "--server-pid" => {
                opts.server_pid = Some(value()?.parse().map_err(|e| format!("--server-pid: {e}"))?)
            }
            "--help" | "-h" => return Err(usage()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    if !opts.addr.ip().is_loopback() {
        return Err(format!(
            "refusing to load {}: only loopback addresses are allowed",
            opts.addr
        ));
    }
    if !(1..=600).contains(&opts.seconds) || !(1..=256).contains(&opts.concurrency) {
        return Err("--seconds must be 1..=600 and --concurrency 1..=256".into());
    }
    if opts
        .resource
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.len() > 512 || !r.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err("--resource must be 1 to 512 printable ASCII characters".into());
    }
    Ok(opts)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// Sends a request and returns (status, body). Only `Content-Length` framed responses are understood.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.reader.get_mut().write_all(req.as_bytes())?;

        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(std::io::Error::other("chunked responses are not supported"));
                }
            }
        }
        if length > MAX_BODY {
            return Err(std::io::Error::other("response body too long"));
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn json_field(body: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("Content-Type", "application/json");
const UMA_TICKET_GRANT: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Auma-ticket";

/// The client credentials grant's form body, with the resource indicator when one is given.
fn client_credentials_body(resource: Option<&str>) -> String {
    match resource {
        Some(r) => format!("grant_type=client_credentials&resource={}", url_encode(r)),
        None => "grant_type=client_credentials".to_owned(),
    }
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get_token(conn: &mut Conn, auth: &str, body: &str) -> Result<String, String> {
    let (status, answer) = conn
        .request("POST", "/token", &[("Authorization", auth), FORM], body)
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!(
            "could not get an access token ({status}): {answer}"
        ));
    }
    json_field(&answer, "access_token")
        .ok_or_else(|| "no access_token in the token response".into())
}

/// Registers a resource with scopes `view` and `pay` and returns its `_id`.
fn register_resource(conn: &mut Conn, bearer: &str) -> Result<String, String> {
    let (status, body) = conn
        .request(
            "POST",
            "/uma/resources",
            &[("Authorization", bearer), JSON],
            r#"{"name":"Checking","resource_scopes":["view","pay"]}"#,
        )
        .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("could not register a resource ({status}): {body}"));
    }
    json_field(&body, "_id").ok_or_else(|| "no _id in the registration response".to_owned())
}

/// A PAT, a registered resource and a permit-all policy on its `view` scope: what the UMA grant scenarios need.
/// The client is also the organisation owning the resource and the requesting party.
fn uma_setup(conn: &mut Conn, auth: &str) -> Result<(String, String), String> {
    let pat = get_token(conn, auth, "grant_type=client_credentials")?;
    let bearer = format!("Bearer {pat}");
    let id = register_resource(conn, &bearer)?;
    let policy_token = get_token(conn, auth, "grant_type=client_credentials&scope=uma_policy")?;
    let (status, body) = conn
        .request(
            "PUT",
            "/uma/policies/loadgen",
            &[
                ("Authorization", &format!("Bearer {policy_token}")),
                ("Content-Type", "text/plain"),
            ],
            r#"permit (principal, action == Uma::Action::"view", resource);"#,
        )
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!("could not push the policy ({status}): {body}"));
    }
    Ok((
        bearer,
        format!(r#"{{"resource_id":"{id}","resource_scopes":["view"]}}"#),
    ))
}

/// What one worker does: an optional unmeasured first phase, then one iteration per `step`.
trait Work: Send {
    /// The first phase, before the measurement starts; runs until `until`.
    fn prepare(&mut self, _conn: &mut Conn, _until: Instant) -> Result<(), String> {
        Ok(())
    }
    /// One iteration: the status of its last response, or `None` when the worker has nothing left to do.
    fn step(&mut self, conn: &mut Conn) -> std::io::Result<Option<u16>>;
}

/// One request, the same every time.
struct Fixed {
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Work for Fixed {
    fn step(&mut self, conn: &mut Conn) -> std::io::Result<Option<u16>> {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        conn.request(self.method, self.path, &headers, &self.body)
            .map(|r| Some(r.0))
    }
}

/// A ticket, then an RPT for it.
struct TicketAndGrant {
    bearer: String,
    auth: String,
    permission: String,
}

fn ticket(
    conn: &mut Conn,
    bearer: &str,
    permission: &str,
) -> std::io::Result<(u16, Option<String>)> {
    let (status, body) = conn.request(
        "POST",
        "/uma/permission",
        &[("Authorization", bearer), JSON],
        permission,
    )?;
    Ok((status, json_field(&body, "ticket")))
}

fn grant(conn: &mut Conn, auth: &str, ticket: &str) -> std::io::Result<u16> {
    conn.request(
        "POST",
        "/token",
        &[("Authorization", auth), FORM],
        &format!("{UMA_TICKET_GRANT}&ticket={}", url_encode(ticket)),
    )
    .map(|r| r.0)
}

impl Work for TicketAndGrant {
    fn step(&mut self, conn: &mut Conn) -> std::io::Result<Option<u16>> {
        let (status, ticket) = ticket(conn, &self.bearer, &self.permission)?;
        match ticket {
            Some(t) => grant(conn, &self.auth, &t).map(Some),
            None => Ok(Some(status)),
        }
    }
}

/// Tickets collected in the first phase, then only RPTs.
struct GrantOnly {
    bearer: String,
    auth: String,
    permission: String,
    per_worker: usize,
    tickets: Vec<String>,
}

impl Work for GrantOnly {
    fn prepare(&mut self, conn: &mut Conn, until: Instant) -> Result<(), String> {
        while Instant::now() < until && self.tickets.len() < self.per_worker {
            match ticket(conn, &self.bearer, &self.permission) {
                Ok((_, Some(t))) => self.tickets.push(t),
                Ok((status, None)) => return Err(format!("could not get a ticket ({status})")),
                Err(e) => return Err(format!("could not get a ticket: {e}")),
            }
        }
        // Spent in the order they were made, oldest first, so none expires while newer ones wait.
        self.tickets.reverse();
        Ok(())
    }

    fn step(&mut self, conn: &mut Conn) -> std::io::Result<Option<u16>> {
        match self.tickets.pop() {
            Some(t) => grant(conn, &self.auth, &t).map(Some),
            None => Ok(None),
        }
    }
}

type MakeWork = Box<dyn Fn() -> Box<dyn Work> + Sync + Send>;

fn scenario(opts: &Options) -> Result<MakeWork, String> {
    let auth = opts.client.as_ref().map(|(id, secret)| basic(id, secret));
    let need_auth = || {
        auth.clone()
            .ok_or_else(|| format!("scenario `{}` needs --client ID:SECRET", opts.scenario))
    };
    let fixed = |method: &'static str,
                 path: &'static str,
                 headers: Vec<(&'static str, String)>,
                 body: String|
     -> MakeWork {
        Box::new(move || {
            Box::new(Fixed {
                method,
                path,
                headers: headers.clone(),
                body: body.clone(),
            })
        })
    };
    let form = || (FORM.0, FORM.1.to_owned());
    let json = || (JSON.0, JSON.1.to_owned());
    let peer = opts.server == Server::OidcProvider;
    if opts.resource.is_some() && opts.scenario != "client-credentials" {
        return Err("--resource only goes with the client-credentials scenario".into());
    }
    match (opts.scenario.as_str(), opts.server) {
        ("discovery", Server::UmaCedar) => Ok(fixed(
            "GET",
            "/.well-known/uma2-configuration",
            vec![],
            String::new(),
        )),
        ("discovery", Server::OidcProvider) => Ok(fixed(
            "GET",
            "/.well-known/openid-configuration",
            vec![],
            String::new(),
        )),
        ("client-credentials", _) => Ok(fixed(
            "POST",
            "/token",
            vec![("Authorization", need_auth()?), form()],
            client_credentials_body(opts.resource.as_deref()),
        )),
        ("introspect", _) => {
            // uma-cedar's introspection endpoint takes the PAT as the caller's credential (UMA's protection
            // API); oidc-provider's takes client authentication.
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let token = get_token(&mut conn, &auth, "grant_type=client_credentials")?;
            let (path, caller) = if peer {
                ("/token/introspection", auth)
            } else {
                ("/introspect", format!("Bearer {token}"))
            };
            Ok(fixed(
                "POST",
                path,
                vec![("Authorization", caller), form()],
                format!("token={}", url_encode(&token)),
            ))
        }
        ("permission", Server::UmaCedar) => {
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let pat = get_token(&mut conn, &auth, "grant_type=client_credentials")?;
            let bearer = format!("Bearer {pat}");
            let id = register_resource(&mut conn, &bearer)?;
            Ok(fixed(
                "POST",
                "/uma/permission",
                vec![("Authorization", bearer), json()],
                format!(r#"{{"resource_id":"{id}","resource_scopes":["view"]}}"#),
            ))
        }
        ("uma-grant", Server::UmaCedar) => {
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let (bearer, permission) = uma_setup(&mut conn, &auth)?;
            Ok(Box::new(move || {
                Box::new(TicketAndGrant {
                    bearer: bearer.clone(),
                    auth: auth.clone(),
                    permission: permission.clone(),
                })
            }))
        }
        ("uma-grant-only", Server::UmaCedar) => {
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let (bearer, permission) = uma_setup(&mut conn, &auth)?;
            let per_worker = MAX_TICKETS / opts.concurrency.max(1);
            Ok(Box::new(move || {
                Box::new(GrantOnly {
                    bearer: bearer.clone(),
                    auth: auth.clone(),
                    permission: permission.clone(),
                    per_worker,
                    tickets: Vec::new(),
                })
            }))
        }
        (other @ ("permission" | "uma-grant" | "uma-grant-only"), Server::OidcProvider) => Err(
            format!("scenario `{other}` is UMA: only uma-cedar serves it"),
        ),
        (other, _) => Err(format!("unknown scenario `{other}`\n{}", usage())),
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The process's CPU time so far (utime + stime, all its threads), in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11); // field 3 is `state`; utime is field 14
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

struct WorkerResult {
    latencies: Vec<Duration>,
    errors: u64,
    /// Failed iterations by the status of their last response; 0 for an I/O error (a reset or a timeout).
    failures: BTreeMap<u16, u64>,
    /// When the worker ran out of work before the deadline.
    exhausted: Option<Instant>,
    prepare_error: Option<String>,
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let make_work = match scenario(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seconds = Duration::from_secs(opts.seconds);
    let has_first_phase = opts.scenario == "uma-grant-only";
    if has_first_phase {
        eprintln!(
            "preparing: {} connections collect tickets for {} s",
            opts.concurrency, opts.seconds
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Every worker and the main thread meet here between the first phase and the measured one.
    let start_line = Arc::new(Barrier::new(opts.concurrency + 1));
    let prepare_until = Instant::now() + seconds;
    let mut handles = Vec::new();
    for _ in 0..opts.concurrency {
        let mut work = make_work();
        let stop = stop.clone();
        let start_line = start_line.clone();
        let addr = opts.addr;
        handles.push(std::thread::spawn(move || {
            let mut result = WorkerResult {
                latencies: Vec::new(),
                errors: 0,
                failures: BTreeMap::new(),
                exhausted: None,
                prepare_error: None,
            };
            let conn = Conn::open(addr)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    work.prepare(&mut c, prepare_until)?;
                    Ok(c)
                });
            start_line.wait();
            let mut conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    result.prepare_error = Some(e);
                    return result;
                }
            };
            let deadline = Instant::now() + seconds;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let start = Instant::now();
                match work.step(&mut conn) {
                    Ok(Some(status)) if (200..300).contains(&status) => {
                        result.latencies.push(start.elapsed())
                    }
                    Ok(Some(status)) => {
                        result.errors += 1;
                        *result.failures.entry(status).or_default() += 1;
                    }
                    Ok(None) => {
                        result.exhausted = Some(Instant::now());
                        break;
                    }
                    Err(_) => {
                        result.errors += 1;
                        *result.failures.entry(0).or_default() += 1;
                        match Conn::open(addr) {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
            }
            result
        }));
    }
    start_line.wait();
    let cpu_before = opts.server_pid.and_then(cpu_seconds);
    let rss_before = opts.server_pid.and_then(rss_kib);
    let started = Instant::now();
    let deadline = started + seconds;
    eprintln!(
        "loading {} ({}) with scenario `{}`: {} connections for {} s",
        opts.addr,
        opts.server.name(),
        opts.scenario,
        opts.concurrency,
        opts.seconds
    );
    let mut last = Instant::now();
    while Instant::now() < deadline && !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "  ... {} s left",
                deadline.saturating_duration_since(Instant::now()).as_secs()
            );
            last = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    // The measured phase ends here: the requests still in flight finish inside the window's last moments.
    let elapsed = started.elapsed().min(seconds);
    let cpu_after = opts.server_pid.and_then(cpu_seconds);
    let mut all = Vec::new();
    let mut errors = 0;
    let mut failures: BTreeMap<u16, u64> = BTreeMap::new();
    let mut exhausted = 0usize;
    let mut first_exhausted: Option<Instant> = None;
    for h in handles {
        match h.join() {
            Ok(r) => {
                all.extend(r.latencies);
                errors += r.errors;
                for (status, n) in r.failures {
                    *failures.entry(status).or_default() += n;
                }
                if let Some(at) = r.exhausted {
                    exhausted += 1;
                    first_exhausted = Some(first_exhausted.map_or(at, |f| f.min(at)));
                }
                if let Some(e) = r.prepare_error {
                    errors += 1;
                    eprintln!("error: a worker could not start: {e}");
                }
            }
            Err(_) => errors += 1,
        }
    }
    if let Some(at) = first_exhausted {
        eprintln!(
            "warning: {exhausted} of {} workers ran out of tickets, the first after {:.1} s: \
             fewer connections were busy at the end",
            opts.concurrency,
            at.saturating_duration_since(started).as_secs_f64()
        );
    }
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(status, n)| match status {
                0 => format!("{n} I/O errors"),
                s => format!("{n} x HTTP {s}"),
            })
            .collect();
        eprintln!(
            "warning: {} `{}` on {} with {} connections: failed iterations: {}",
            opts.server.name(),
            opts.scenario,
            opts.addr,
            opts.concurrency,
            list.join(", ")
        );
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let secs = elapsed.as_secs_f64().max(0.001);
    let rps = all.len() as f64 / secs;
    let cpu_us = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if !all.is_empty() => Some((a - b) * 1e6 / all.len() as f64),
        _ => None,
    };
    println!("scenario:     {} ({})", opts.scenario, opts.server.name());
    println!(
        "requests:     {} ok, {} failed in {:.2} s",
        all.len(),
        errors,
        secs
    );
    println!("throughput:   {rps:.0} req/s");
    println!("latency p50:  {:.2} ms", pct(0.50));
    println!("latency p99:  {:.2} ms", pct(0.99));
    if let (Some(us), Some(b), Some(a)) = (cpu_us, cpu_before, cpu_after) {
        println!(
            "server CPU:   {us:.0} µs/request ({:.2} s utime+stime)",
            a - b
        );
    }
    if let (Some(before), Some(after)) = (rss_before, opts.server_pid.and_then(rss_kib)) {
        println!("server RSS:   {before} KiB before, {after} KiB after");
    }
    println!(
        "result server={} scenario={} concurrency={} ok={} failed={} seconds={:.2} rps={:.0} p50_ms={:.2} \
         p99_ms={:.2} cpu_us={}",
        opts.server.name(),
        opts.scenario,
        opts.concurrency,
        all.len(),
        errors,
        secs,
        rps,
        pct(0.50),
        pct(0.99),
        cpu_us.map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"))
    );
    if all.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
