//! A small load generator for a running uma-cedar on loopback.
//!
//! It only ever talks to 127.0.0.0/8 or ::1, runs for a bounded time, and stops by itself. Each worker
//! thread keeps one HTTP/1.1 keep-alive connection and sends the scenario's request in a loop; at the end it
//! prints throughput and latency percentiles (and the server's resident memory when `--server-pid` is given).
//!
//! ```text
//! cargo run --release -- serve &                       # the server under test
//! cargo run --release -- client add --id bench --secret bench-secret-0123456789
//! cargo run --release --example loadgen -- --scenario client-credentials --client bench:bench-secret-0123456789
//! ```
//!
//! Scenarios: `discovery` (GET the UMA metadata), `client-credentials` (POST /token for a PAT),
//! `introspect` (POST /introspect of a PAT with the PAT itself), `permission` (register one resource, then
//! POST /uma/permission for tickets), `uma-grant` (push a permit-all policy, then per iteration a ticket and an
//! RPT for it: two requests, counted as one).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Options {
    addr: SocketAddr,
    scenario: String,
    seconds: u64,
    concurrency: usize,
    client: Option<(String, String)>,
    server_pid: Option<u32>,
}

fn usage() -> String {
    "usage: loadgen [--addr 127.0.0.1:8080] [--scenario discovery|client-credentials|introspect|permission|uma-grant] \
     [--seconds 10] [--concurrency 8] [--client ID:SECRET] [--server-pid PID]"
        .to_owned()
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        scenario: "discovery".into(),
        seconds: 10,
        concurrency: 8,
        client: None,
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

    /// Sends a request and returns (status, body).
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
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
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

fn get_pat(conn: &mut Conn, auth: &str) -> Result<String, String> {
    let (status, body) = conn
        .request(
            "POST",
            "/token",
            &[
                ("Authorization", auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "grant_type=client_credentials",
        )
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("could not get a PAT ({status}): {body}"));
    }
    json_field(&body, "access_token").ok_or_else(|| "no access_token in the token response".into())
}

/// Registers a resource with scopes `view` and `pay` and returns its `_id`.
fn register_resource(conn: &mut Conn, bearer: &str) -> Result<String, String> {
    let (status, body) = conn
        .request(
            "POST",
            "/uma/resources",
            &[
                ("Authorization", bearer),
                ("Content-Type", "application/json"),
            ],
            r#"{"name":"Checking","resource_scopes":["view","pay"]}"#,
        )
        .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("could not register a resource ({status}): {body}"));
    }
    json_field(&body, "_id").ok_or_else(|| "no _id in the registration response".to_owned())
}

/// Prepares the scenario and returns a request-making closure for one worker.
type Step = Box<dyn FnMut(&mut Conn) -> std::io::Result<u16> + Send>;

fn scenario(opts: &Options) -> Result<Box<dyn Fn() -> Step + Sync + Send>, String> {
    let auth = opts.client.as_ref().map(|(id, secret)| basic(id, secret));
    let need_auth = || {
        auth.clone()
            .ok_or_else(|| format!("scenario `{}` needs --client ID:SECRET", opts.scenario))
    };
    match opts.scenario.as_str() {
        "discovery" => Ok(Box::new(|| {
            Box::new(|c: &mut Conn| {
                c.request("GET", "/.well-known/uma2-configuration", &[], "")
                    .map(|r| r.0)
            })
        })),
        "client-credentials" => {
            let auth = need_auth()?;
            Ok(Box::new(move || {
                let auth = auth.clone();
                Box::new(move |c: &mut Conn| {
                    c.request(
                        "POST",
                        "/token",
                        &[
                            ("Authorization", &auth),
                            ("Content-Type", "application/x-www-form-urlencoded"),
                        ],
                        "grant_type=client_credentials",
                    )
                    .map(|r| r.0)
                })
            }))
        }
        "introspect" => {
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let pat = get_pat(&mut conn, &auth)?;
            Ok(Box::new(move || {
                let bearer = format!("Bearer {pat}");
                let body = format!("token={pat}");
                Box::new(move |c: &mut Conn| {
                    c.request(
                        "POST",
                        "/introspect",
                        &[
                            ("Authorization", &bearer),
                            ("Content-Type", "application/x-www-form-urlencoded"),
                        ],
                        &body,
                    )
                    .map(|r| r.0)
                })
            }))
        }
        "permission" => {
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let pat = get_pat(&mut conn, &auth)?;
            let bearer = format!("Bearer {pat}");
            let id = register_resource(&mut conn, &bearer)?;
            Ok(Box::new(move || {
                let bearer = bearer.clone();
                let body = format!(r#"{{"resource_id":"{id}","resource_scopes":["view"]}}"#);
                Box::new(move |c: &mut Conn| {
                    c.request(
                        "POST",
                        "/uma/permission",
                        &[
                            ("Authorization", &bearer),
                            ("Content-Type", "application/json"),
                        ],
                        &body,
                    )
                    .map(|r| r.0)
                })
            }))
        }
        "uma-grant" => {
            // The client is also the organisation owning the resource: one permit-all policy, then per
            // iteration a ticket from the permission endpoint and an RPT for it at the token endpoint.
            let auth = need_auth()?;
            let mut conn = Conn::open(opts.addr).map_err(|e| e.to_string())?;
            let pat = get_pat(&mut conn, &auth)?;
            let bearer = format!("Bearer {pat}");
            let id = register_resource(&mut conn, &bearer)?;
            let (status, body) = conn
                .request(
                    "POST",
                    "/token",
                    &[
                        ("Authorization", &auth),
                        ("Content-Type", "application/x-www-form-urlencoded"),
                    ],
                    "grant_type=client_credentials&scope=uma_policy",
                )
                .map_err(|e| e.to_string())?;
            let policy_token = json_field(&body, "access_token")
                .ok_or_else(|| format!("could not get a uma_policy token ({status}): {body}"))?;
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
            Ok(Box::new(move || {
                let (bearer, auth) = (bearer.clone(), auth.clone());
                let permission = format!(r#"{{"resource_id":"{id}","resource_scopes":["view"]}}"#);
                Box::new(move |c: &mut Conn| {
                    let (status, body) = c.request(
                        "POST",
                        "/uma/permission",
                        &[
                            ("Authorization", &bearer),
                            ("Content-Type", "application/json"),
                        ],
                        &permission,
                    )?;
                    let Some(ticket) = json_field(&body, "ticket") else {
                        return Ok(status);
                    };
                    c.request(
                        "POST",
                        "/token",
                        &[("Authorization", &auth), ("Content-Type", "application/x-www-form-urlencoded")],
                        &format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Auma-ticket&ticket={ticket}"),
                    )
                    .map(|r| r.0)
                })
            }))
        }
        other => Err(format!("unknown scenario `{other}`\n{}", usage())),
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

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let make_step = match scenario(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rss_before = opts.server_pid.and_then(rss_kib);
    eprintln!(
        "loading {} with scenario `{}`: {} connections for {} s",
        opts.addr, opts.scenario, opts.concurrency, opts.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let mut handles = Vec::new();
    for _ in 0..opts.concurrency {
        let mut step = make_step();
        let stop = stop.clone();
        let addr = opts.addr;
        handles.push(std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let Ok(mut conn) = Conn::open(addr) else {
                return (latencies, 1);
            };
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let start = Instant::now();
                match step(&mut conn) {
                    Ok(status) if (200..300).contains(&status) => latencies.push(start.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        match Conn::open(addr) {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut last = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "  ... {} s left",
                deadline.saturating_duration_since(Instant::now()).as_secs()
            );
            last = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((lat, err)) = h.join() {
            all.extend(lat);
            errors += err;
        }
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!("scenario:     {}", opts.scenario);
    println!("requests:     {} ok, {} failed", all.len(), errors);
    println!(
        "throughput:   {:.0} req/s",
        all.len() as f64 / opts.seconds as f64
    );
    println!("latency p50:  {:.2} ms", pct(0.50));
    println!("latency p99:  {:.2} ms", pct(0.99));
    if let (Some(before), Some(after)) = (rss_before, opts.server_pid.and_then(rss_kib)) {
        println!("server RSS:   {} KiB before, {} KiB after", before, after);
    }
    if all.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
