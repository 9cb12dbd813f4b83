//! The `uma-cedar` binary as an admin uses it: admin commands on a data directory, and `serve` failing
//! clearly on bad settings. Drives the real executable.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use uma_cedar::store::DecisionLog;

mod common;

use common::{add_user, bin, data_dir, json, run_with_stdin as run, stderr, stdout};

#[test]
fn client_add_list_remove() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let out = run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "bank-rs",
            "--secret",
            "0123456789abcdef",
            "--redirect-uri",
            "https://bank.example/cb",
            "--claims-redirect-uri",
            "https://bank.example/claims",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("added confidential client `bank-rs`"));

    let out = run(
        &["client", "list", "--data-dir", &data, "--format", "json"],
        None,
    );
    assert!(out.status.success());
    let list = json(&out);
    assert_eq!(list[0]["client_id"], "bank-rs");
    assert_eq!(
        list[0]["claims_redirect_uris"][0],
        "https://bank.example/claims"
    );
    assert!(
        !stdout(&out).contains("0123456789abcdef"),
        "secrets are never listed"
    );

    // The same id again is refused with a diagnostic.
    let out = run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "bank-rs",
            "--public",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: the identifier `bank-rs` is already used by a client"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("help:"));

    // The text listing: one tab-separated line a client, the count on standard error.
    let out = run(&["client", "list", "--data-dir", &data], None);
    assert_eq!(
        stdout(&out),
        "bank-rs\tclient_secret_basic\thttps://bank.example/cb\n"
    );
    assert_eq!(stderr(&out).trim(), "1 client(s)");

    let out = run(
        &["client", "remove", "--data-dir", &data, "--id", "bank-rs"],
        None,
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "removed client `bank-rs`");
    let out = run(
        &["client", "remove", "--data-dir", &data, "--id", "bank-rs"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("there is no client `bank-rs`"));
    assert!(
        stderr(&out).contains("`uma-cedar client list` shows the registered clients"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn client_without_secret_or_public_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let out = run(&["client", "add", "--data-dir", &data, "--id", "x"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--public"), "{}", stderr(&out));
    let out = run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "x",
            "--secret",
            "short",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("at least 16 characters"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "x",
            "--public",
            "--redirect-uri",
            "not a uri",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("redirect URI"), "{}", stderr(&out));
}

#[test]
fn user_add_reads_the_password_from_stdin() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let out = run(
        &[
            "user",
            "add",
            "--data-dir",
            &data,
            "--username",
            "alice",
            "--password-stdin",
            "--email",
            "alice@example.com",
        ],
        Some("correct horse battery\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &["user", "list", "--data-dir", &data, "--format", "json"],
        None,
    );
    let list = json(&out);
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list[0]["email"], "alice@example.com");
    assert!(!stdout(&out).contains("correct horse"));

    // No password on stdin, a short password, and a name already used by a client are all refused.
    let out = add_user(&data, "bob", "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no password on standard input"),
        "{}",
        stderr(&out)
    );
    let out = add_user(&data, "bob", "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("shorter than 8"), "{}", stderr(&out));
    run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "rs1",
            "--public",
        ],
        None,
    );
    let out = add_user(&data, "rs1", "long enough pw\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already used by a client"),
        "{}",
        stderr(&out)
    );

    let out = run(&["user", "list", "--data-dir", &data], None);
    assert_eq!(
        stdout(&out),
        "alice\talice@example.com\t-\n",
        "one tab-separated line a user"
    );
    assert_eq!(stderr(&out).trim(), "1 user(s)");

    let out = run(
        &["user", "remove", "--data-dir", &data, "--username", "alice"],
        None,
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "removed user `alice`");
    let out = run(
        &["user", "list", "--data-dir", &data, "--format", "json"],
        None,
    );
    assert_eq!(stdout(&out).trim(), "[]");
    let out = run(
        &["user", "remove", "--data-dir", &data, "--username", "alice"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("there is no user `alice`"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("`uma-cedar user list` shows the accounts"));
}

#[test]
fn keys_rotate_keeps_the_old_key_published() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    // The first rotation on an empty directory creates the first key; the second retires it.
    for alg in ["ES256", "RS256"] {
        let out = run(&["keys", "rotate", "--data-dir", &data, "--alg", alg], None);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains(&format!("new {alg} signing key")));
    }
    let out = run(
        &["keys", "list", "--data-dir", &data, "--format", "json"],
        None,
    );
    let keys = json(&out);
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["state"], "signing");
    assert_eq!(keys[1]["alg"], "ES256");
    assert_eq!(keys[1]["state"], "published");

    let out = run(
        &["keys", "rotate", "--data-dir", &data, "--alg", "HS256"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unsupported signing algorithm `HS256`"));
}

#[test]
fn serve_refuses_bad_settings_with_a_diagnostic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let out = run(&["serve", "--data-dir", &data, "--listen", "nowhere"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: invalid setting `listen`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("help: fix `listen`: it comes from --listen, UMA_CEDAR_LISTEN"),
        "{}",
        stderr(&out)
    );

    let out = run(
        &["serve", "--data-dir", &data, "--issuer", "ftp://as.example"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`issuer`"), "{}", stderr(&out));

    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").expect("write config");
    let out = run(
        &[
            "serve",
            "--data-dir",
            &data,
            "--config",
            &config.to_string_lossy(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not valid"), "{}", stderr(&out));

    // A file where the data directory should be.
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write file");
    let out = run(
        &[
            "serve",
            "--data-dir",
            &file.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot use data directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_on_a_busy_port_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = run(&["serve", "--data-dir", &data, "--listen", &addr], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serve_starts_on_an_empty_data_dir_and_publishes_discovery() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        bin()
            .args(["serve", "--data-dir", &data, "--listen", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        if let Some(r) = http_get(&addr, "/.well-known/uma2-configuration") {
            break r;
        }
        assert!(Instant::now() < deadline, "server did not answer in time");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(&format!("\"issuer\":\"http://{addr}\"")),
        "{response}"
    );
    assert!(
        Path::new(&data).join("uma-cedar.db").exists(),
        "database created in the data directory"
    );
}

#[test]
fn serve_refuses_bad_trusted_issuers_naming_the_entry() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let serve_with = |toml: &str| {
        let config = tmp.path().join("issuers.toml");
        std::fs::write(&config, toml).expect("write config");
        run(
            &[
                "serve",
                "--data-dir",
                &data,
                "--listen",
                "127.0.0.1:0",
                "--config",
                &config.to_string_lossy(),
            ],
            None,
        )
    };

    let missing = tmp.path().join("missing.json");
    let out = serve_with(&format!(
        "[[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_uri = {:?}\n",
        missing.to_string_lossy()
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "invalid setting `trusted_issuers`: entry 1 (`https://idp.example`): `jwks_uri` file"
        ),
        "{}",
        stderr(&out)
    );

    let out = serve_with(
        "[[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_uri = \"ftp://idp.example/k\"\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("scheme `ftp`"), "{}", stderr(&out));

    // A file that exists but holds no usable key stops the server at startup, with a hint about the file.
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, r#"{"keys": []}"#).expect("write jwks");
    let out = serve_with(&format!(
        "[[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_uri = {:?}\n",
        empty.to_string_lossy()
    ));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no usable signature verification key"),
        "{err}"
    );
    assert!(err.contains("trusted_issuers"), "{err}");
    assert!(!err.contains("data directory"), "{err}");
}

#[test]
fn decisions_list_shows_an_owners_log() {
    use uma_cedar::store::{Store, decisions, users};
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let store = Store::open(&data).expect("store");
    store
        .write(|tx| {
            users::insert(
                tx,
                &users::User {
                    username: "alice".into(),
                    password_hash: "x".into(),
                    email: None,
                    name: None,
                    created_at: 0,
                },
            )?;
            tx.record_decision(&decisions::Decision {
                time: 1_800_000_000,
                owner: "alice".into(),
                client_id: "app".into(),
                party: Some(r#"["http://as.test","bob"]"#.into()),
                resource_id: "r1".into(),
                scopes: vec!["view".into()],
                granted: vec!["view".into()],
                answer: "permit".into(),
                policies: vec!["bob-views#1".into()],
                detail: None,
                http_request_id: None,
            })
        })
        .expect("seed");
    drop(store);
    let data = data.to_string_lossy().into_owned();

    let out = run(
        &["decisions", "list", "--data-dir", &data, "--owner", "alice"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("permit\trequested=view\tgranted=view\tpolicies=bob-views#1"),
        "{text}"
    );
    assert!(text.contains("\tbob (http://as.test)\t"), "{text}");
    assert!(stderr(&out).contains("1 decision(s)"));

    let out = run(
        &[
            "decisions",
            "list",
            "--data-dir",
            &data,
            "--owner",
            "alice",
            "--format",
            "json",
        ],
        None,
    );
    let log = json(&out);
    assert_eq!(log[0]["answer"], "permit");
    assert_eq!(
        log[0]["party"],
        serde_json::json!(["http://as.test", "bob"]),
        "the party is a JSON array, not a string holding one"
    );

    let out = run(
        &[
            "decisions",
            "list",
            "--data-dir",
            &data,
            "--owner",
            "nobody",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nobody"), "{}", stderr(&out));

    // The limit is bounded where it arrives, as on the HTTP endpoint.
    for bad in ["0", "1001"] {
        let out = run(
            &[
                "decisions",
                "list",
                "--data-dir",
                &data,
                "--owner",
                "alice",
                "--limit",
                bad,
            ],
            None,
        );
        assert!(!out.status.success(), "--limit {bad} was accepted");
        assert!(stderr(&out).contains("1..=1000"), "{}", stderr(&out));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Starts `serve` on a free port with `extra` arguments and environment, waits until discovery answers.
fn start_server(data: &str, extra: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = bin();
    cmd.args(["serve", "--data-dir", data, "--listen", &addr])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server(cmd.spawn().expect("spawn"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&addr, "/.well-known/uma2-configuration").is_none() {
        assert!(Instant::now() < deadline, "server did not answer in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr)
}

#[cfg(unix)]
#[test]
fn first_start_leaves_only_private_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let (server, addr) = start_server(&data, &[], &[]);
    // A request that writes, so the WAL holds data, while the server still runs.
    let _ = http_get(&addr, "/jwks");
    assert_eq!(mode(Path::new(&data)), 0o700, "the data directory");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&data).expect("read dir") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{} is not private", path.display());
        seen.push(
            path.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
        );
    }
    drop(server);
    assert!(seen.iter().any(|n| n == "uma-cedar.db"), "{seen:?}");
    assert!(seen.iter().any(|n| n == "uma-cedar.db-wal"), "{seen:?}");
}

#[cfg(unix)]
#[test]
fn a_data_directory_open_to_others_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(
        &["serve", "--data-dir", &data, "--listen", "127.0.0.1:0"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("error: the data directory"), "{err}");
    assert!(err.contains("readable by other users (mode 0755)"), "{err}");
    assert!(
        err.contains(&format!("help: make it private with `chmod 700 {data}`")),
        "{err}"
    );
    assert!(err.contains("--allow-open-data-dir"), "{err}");
    assert_eq!(
        std::fs::read_dir(&data).expect("read dir").count(),
        0,
        "nothing is created in a refused directory"
    );

    // Allowed by the flag, by the environment and by the config file.
    let config = tmp.path().join("open.toml");
    std::fs::write(&config, "allow_open_data_dir = true\n").expect("write config");
    let config = config.to_string_lossy().into_owned();
    drop(start_server(&data, &["--allow-open-data-dir"], &[]));
    drop(start_server(
        &data,
        &[],
        &[("UMA_CEDAR_ALLOW_OPEN_DATA_DIR", "1")],
    ));
    drop(start_server(&data, &["--config", &config], &[]));
}

#[test]
fn a_busy_port_is_found_before_the_data_directory_is_created() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = run(&["serve", "--data-dir", &data, "--listen", &addr], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !Path::new(&data).exists(),
        "the data directory was created although the server could not listen"
    );
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    for (var, name) in [
        ("UMA_CEDAR_ACCESS_TOKEN_TTL", "access_token_ttl"),
        ("UMA_CEDAR_TICKET_TTL", "ticket_ttl"),
        ("UMA_CEDAR_LOGIN_MAX_FAILURES", "login_max_failures"),
        (
            "UMA_CEDAR_MAX_CONCURRENT_PASSWORD_HASHES",
            "max_concurrent_password_hashes",
        ),
    ] {
        let out = bin()
            .args(["serve", "--data-dir", &data, "--listen", "127.0.0.1:0"])
            .env(var, "abc")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "error: invalid setting `{name}`: the environment variable {var} is `abc`"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("help: fix `{name}`")) && err.contains(var),
            "{err}"
        );
    }
    let out = run(&["serve", "--data-dir", &data, "--ticket-ttl", "5m"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid setting `ticket_ttl`: --ticket-ttl is `5m`"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new(&data).exists());
}

#[test]
fn client_add_refuses_redirect_uris_that_run_code() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    for (flag, uri) in [
        ("--redirect-uri", "javascript://x/%0aalert(1)"),
        ("--redirect-uri", "data:text/html,hi"),
        ("--claims-redirect-uri", "vbscript://x/y"),
        ("--claims-redirect-uri", "file:///etc/passwd"),
        ("--redirect-uri", "https://app.example/cb#frag"),
    ] {
        let out = run(
            &[
                "client",
                "add",
                "--data-dir",
                &data,
                "--id",
                "app",
                "--public",
                "--grant-type",
                "urn:ietf:params:oauth:grant-type:uma-ticket",
                flag,
                uri,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1), "{uri}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("error: redirect URI `"),
            "{uri}: {}",
            stderr(&out)
        );
    }
    // Native apps keep a private-use scheme and loopback http (RFC 8252 §7).
    let out = run(
        &[
            "client",
            "add",
            "--data-dir",
            &data,
            "--id",
            "native",
            "--public",
            "--redirect-uri",
            "com.example.app:/oauth2redirect",
            "--redirect-uri",
            "http://127.0.0.1:53123/cb",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A request id is pasted as given: one that starts with `-` is an id, not an option, and an unknown id gets
/// the not-found diagnostic (exit 1), not a usage error.
#[test]
fn requests_take_an_id_that_starts_with_a_hyphen() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = data_dir(tmp.path());
    assert!(
        add_user(&data, "alice", "correct horse battery\n")
            .status
            .success()
    );
    for verb in ["approve", "deny"] {
        let out = run(
            &[
                "requests",
                verb,
                "--data-dir",
                &data,
                "--owner",
                "alice",
                "-aMRb",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("-aMRb"), "names the id: {err}");
        assert!(!err.contains("unexpected argument"), "{err}");
    }
}
