//! Running the `uma-cedar` binary from tests: a clean environment, standard input given or closed, output
//! read whole.

#![allow(dead_code, reason = "each test binary uses its own part")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary with no `UMA_CEDAR_*` settings inherited, plain (uncoloured) output, and the repository as its
/// working directory.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uma-cedar"));
    cmd.env_remove("UMA_CEDAR_DATA_DIR")
        .env_remove("UMA_CEDAR_CONFIG")
        .env_remove("UMA_CEDAR_SCHEMA")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs the binary with `args`, writing `stdin` (or nothing) to its standard input.
pub fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn uma-cedar");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output parsed as JSON.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// The data directory the tests use inside a temporary folder, as a command-line argument.
pub fn data_dir(tmp: &std::path::Path) -> String {
    tmp.join("data").to_string_lossy().into_owned()
}

/// `user add` of `username` on `data`, the password given on standard input as `stdin` (which may be empty or
/// too short: the refusals are tested too).
pub fn add_user(data: &str, username: &str, stdin: &str) -> Output {
    run_with_stdin(
        &[
            "user",
            "add",
            "--data-dir",
            data,
            "--username",
            username,
            "--password-stdin",
        ],
        Some(stdin),
    )
}
