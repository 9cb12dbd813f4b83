//! Alice's bank: a resource server on `uma-cedar-rs`, serving Alice's accounts and monthly statements (in
//! memory) to whoever holds an RPT for them.
//!
//! At startup it discovers the authorization server, gets its PAT (client credentials: the bank is the
//! organisation that owns and registers the resources, so the owner's policies are stored under its client id)
//! and registers every account and statement (type `account` or `statement`, scope `view`). Then it listens:
//!
//! - `GET /accounts/{account}` needs `view` on the account;
//! - `GET /accounts/{account}/statements/{month}` needs `view` on that statement;
//!
//! and answers a request without a sufficient RPT with `401` and `WWW-Authenticate: UMA realm="bank",
//! as_uri="...", ticket="..."`. It prints `listening on http://ADDR` once ready and stops by itself after
//! `--stop-after` seconds. Loopback only: the AS and the listening address must be on this machine.
//!
//! ```text
//! cargo run -p uma-cedar-rs --example bank -- --as-uri http://127.0.0.1:8081 --rs bank-rs:bank-rs-secret-0123
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use uma_cedar_rs::actix::UmaProtect;
use uma_cedar_rs::server::unix_now;
use uma_cedar_rs::{Config, Granted, Required, Resource, ResourceServer, Verification};

const USAGE: &str = "usage: bank --as-uri URL --rs ID:SECRET [--listen ADDR] [--verify jwt|introspection] [--cache-seconds N] [--stop-after SECONDS]

Alice's bank, a UMA resource server: registers Alice's accounts and statements at the authorization server and
serves them to holders of an RPT.

options:
  --as-uri URL            the authorization server's issuer, loopback only
  --rs ID:SECRET          the bank's client credentials at the authorization server
  --listen ADDR           where to listen, loopback only (default 127.0.0.1:0, any free port)
  --verify MODE           how RPTs are checked: jwt (locally, the default) or introspection
  --cache-seconds N       how long an introspection answer is reused (default 30; 0: never)
  --stop-after SECONDS    stop by itself after this long (default 300)
  -h, --help              print this and exit";

/// Alice's data: accounts, and statements by (account, month).
struct Bank {
    accounts: BTreeMap<&'static str, Value>,
    statements: BTreeMap<(&'static str, &'static str), Value>,
}

fn alices_bank() -> Bank {
    let accounts = BTreeMap::from([
        (
            "checking",
            json!({"account": "checking", "holder": "Alice", "balance": "2450.17", "currency": "EUR"}),
        ),
        (
            "savings",
            json!({"account": "savings", "holder": "Alice", "balance": "12800.00", "currency": "EUR"}),
        ),
    ]);
    let statements = BTreeMap::from([
        (
            ("checking", "2026-10"),
            json!({"account": "checking", "month": "2026-10", "lines": [
            {"date": "2026-10-01", "text": "Salary", "amount": "3100.00"},
            {"date": "2026-10-03", "text": "Rent", "amount": "-1150.00"},
            {"date": "2026-10-17", "text": "Groceries", "amount": "-212.40"}]}),
        ),
        (
            ("checking", "2026-11"),
            json!({"account": "checking", "month": "2026-11", "lines": [
            {"date": "2026-11-01", "text": "Salary", "amount": "3100.00"},
            {"date": "2026-11-03", "text": "Rent", "amount": "-1150.00"},
            {"date": "2026-11-12", "text": "Electricity", "amount": "-87.25"}]}),
        ),
    ]);
    Bank {
        accounts,
        statements,
    }
}

fn account_key(account: &str) -> String {
    format!("account/{account}")
}

fn statement_key(account: &str, month: &str) -> String {
    format!("statement/{account}/{month}")
}

struct Options {
    as_uri: String,
    client_id: String,
    secret: String,
    listen: SocketAddr,
    verify: Verification,
    cache: Duration,
    stop_after: Duration,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(None);
    }
    let mut given = BTreeMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().filter(|v| !v.starts_with("--"));
        let value = value.ok_or_else(|| format!("{flag} takes a value (see --help)"))?;
        if given.insert(flag.as_str(), value.as_str()).is_some() {
            return Err(format!("{flag} is given twice"));
        }
    }
    let mut take = |flag: &str| given.remove(flag);
    let as_uri = take("--as-uri")
        .ok_or("--as-uri is required (see --help)")?
        .to_owned();
    let rs = take("--rs").ok_or("--rs is required (see --help)")?;
    let (client_id, secret) = rs.split_once(':').ok_or("--rs takes ID:SECRET")?;
    let listen = take("--listen").unwrap_or("127.0.0.1:0");
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| format!("`{listen}` is not an address"))?;
    let verify = match take("--verify").unwrap_or("jwt") {
        "jwt" => Verification::Jwt,
        "introspection" => Verification::Introspection,
        other => {
            return Err(format!(
                "--verify takes jwt or introspection, not `{other}`"
            ));
        }
    };
    let cache = take("--cache-seconds").unwrap_or("30");
    let cache = cache
        .parse()
        .map_err(|_| "--cache-seconds takes seconds".to_owned())?;
    let stop_after = take("--stop-after").unwrap_or("300");
    let stop_after = stop_after
        .parse()
        .map_err(|_| "--stop-after takes seconds".to_owned())?;
    if let Some(flag) = given.keys().next() {
        return Err(format!("unknown option `{flag}`"));
    }
    if !listen.ip().is_loopback() || !is_loopback_url(&as_uri) {
        return Err(
            "refusing to leave loopback: --as-uri and --listen must be on this machine".into(),
        );
    }
    Ok(Some(Options {
        as_uri,
        client_id: client_id.to_owned(),
        secret: secret.to_owned(),
        listen,
        verify,
        cache: Duration::from_secs(cache),
        stop_after: Duration::from_secs(stop_after),
    }))
}

fn is_loopback_url(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else {
        return false;
    };
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    local && matches!(url.scheme(), "http" | "https")
}

/// What a request needs: `view` on the account or statement its path names; `None` for other paths (404).
fn requirement(rs: &ResourceServer, req: &ServiceRequest) -> Option<Vec<Required>> {
    let parts: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let key = match parts.as_slice() {
        ["accounts", account] => account_key(account),
        ["accounts", account, "statements", month] => statement_key(account, month),
        _ => return None,
    };
    let id = rs.resource_id(&key)?;
    Some(vec![Required::new(id, &["view"])])
}

/// The middleware let the request through; the handler still checks the permission it relies on.
fn serve(rs: &ResourceServer, granted: &Granted, key: &str, data: Option<&Value>) -> HttpResponse {
    let (Some(id), Some(data)) = (rs.resource_id(key), data) else {
        return HttpResponse::NotFound().finish();
    };
    if !granted.allows(&id, "view", unix_now()) {
        return HttpResponse::Forbidden().finish();
    }
    HttpResponse::Ok().json(json!({"resource_id": id, "data": data, "for": granted.subject}))
}

fn run(opts: Options) -> Result<(), String> {
    let config = Config::new(&opts.as_uri, &opts.client_id, &opts.secret, "bank")
        .map_err(|e| e.to_string())?;
    let mut config = config.verification(opts.verify);
    config.introspection_ttl = opts.cache;
    let rs = Arc::new(ResourceServer::new(config));
    rs.connect()
        .map_err(|e| format!("cannot reach the authorization server: {e}"))?;
    let bank = Arc::new(alices_bank());
    for account in bank.accounts.keys() {
        let resource =
            Resource::new(&format!("Alice's {account} account"), &["view"]).kind("account");
        let id = rs
            .register(&account_key(account), &resource)
            .map_err(|e| e.to_string())?;
        println!("registered account {account} as {id}");
    }
    for (account, month) in bank.statements.keys() {
        let name = format!("Alice's {account} statement {month}");
        let resource = Resource::new(&name, &["view"]).kind("statement");
        let id = rs
            .register(&statement_key(account, month), &resource)
            .map_err(|e| e.to_string())?;
        println!("registered statement {account}/{month} as {id}");
    }

    let resolver_rs = Arc::clone(&rs);
    let protect = UmaProtect::new(Arc::clone(&rs), move |req| requirement(&resolver_rs, req));
    let (app_rs, app_bank) = (web::Data::from(rs), web::Data::from(bank));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(protect.clone())
            .app_data(app_rs.clone())
            .app_data(app_bank.clone())
            .route(
                "/accounts/{account}",
                web::get().to(
                    |rs: web::Data<ResourceServer>,
                     bank: web::Data<Bank>,
                     path: web::Path<String>,
                     g: Granted| async move {
                        let account = path.into_inner();
                        serve(
                            &rs,
                            &g,
                            &account_key(&account),
                            bank.accounts.get(account.as_str()),
                        )
                    },
                ),
            )
            .route(
                "/accounts/{account}/statements/{month}",
                web::get().to(
                    |rs: web::Data<ResourceServer>,
                     bank: web::Data<Bank>,
                     path: web::Path<(String, String)>,
                     g: Granted| async move {
                        let (account, month) = path.into_inner();
                        let data = bank.statements.get(&(account.as_str(), month.as_str()));
                        serve(&rs, &g, &statement_key(&account, &month), data)
                    },
                ),
            )
    })
    .workers(2)
    .bind(opts.listen)
    .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or("no listening address")?;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();

    let stop_after = opts.stop_after;
    actix_web::rt::System::new()
        .block_on(async move {
            let server = server.run();
            let handle = server.handle();
            actix_web::rt::spawn(async move {
                actix_web::rt::time::sleep(stop_after).await;
                handle.stop(true).await;
            });
            server.await
        })
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    env_logger_lite();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(opts)) => match run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings of the library (a refused ticket, an unreachable AS) to stderr, without a logging dependency.
fn env_logger_lite() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!("{}: {}", record.level(), record.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
