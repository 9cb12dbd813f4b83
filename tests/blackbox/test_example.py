"""The runnable walkthrough `examples/uma_walkthrough.rs`, run against a fresh server.

The example plays the resource server and the client of the whole UMA flow; these tests run its binary as a user
would (built with `cargo build --example uma_walkthrough` when missing or older than its source) and check both
what it prints and, through the admin CLI, what it left on the server.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, child_env

EXAMPLE = "uma_walkthrough"
REDIRECT_URI = "http://127.0.0.1:9/cb"  # not the example's default, so the option is exercised
BOB_EMAIL = "bob@example.com"  # the owner's policy in the example names Bob by this email
BUILD_TIMEOUT = 900  # a cold `cargo build` of the example
RUN_TIMEOUT = 60  # the example bounds each request to 10 s and makes about a dozen


def example_binary() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    target = Path(configured) if configured else REPO_ROOT / "target"
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "examples" / EXAMPLE


@pytest.fixture(scope="session")
def walkthrough() -> Path:
    binary = example_binary()
    source = REPO_ROOT / "examples" / f"{EXAMPLE}.rs"
    if binary.is_file() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    command = ["cargo", "build", "--example", EXAMPLE]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except FileNotFoundError:
        pytest.fail(f"{binary} is missing and cargo is not on PATH to build it", pytrace=False)
    if done.returncode != 0 or not binary.is_file():
        pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-3000:]}", pytrace=False)
    return binary


@pytest.fixture
def photos(make_server):
    """A fresh server with the resource server, the client and Bob, as the example's `--help` says."""
    server = make_server()
    rs = server.admin.add_client("photos-rs", redirect_uri=None, name="Photo Album")
    client = server.admin.add_client("photo-app", redirect_uri=REDIRECT_URI, name="Photo App")
    password = secrets.token_urlsafe(12)
    server.admin.run(
        "user", "add", "--data-dir", str(server.data_dir), "--username", "bob", "--password-stdin",
        "--email", BOB_EMAIL, "--name", "Bob", stdin=f"{password}\n",
    )
    return server, rs, client, password


def run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=child_env(),
    )


def walk(binary: Path, server, rs, client, password: str) -> subprocess.CompletedProcess:
    return run(
        binary, "--as-uri", server.base_url, "--rs", f"{rs.client_id}:{rs.secret}",
        "--client", f"{client.client_id}:{client.secret}", "--user", f"bob:{password}",
        "--redirect-uri", REDIRECT_URI,
    )


def steps(output: str) -> dict[str, str]:
    """The output cut into its steps, keyed by step number ("1", "2a", ... "4")."""
    parts = re.split(r"^=== (\S+)\. .* ===$", output, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def report(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_walks_the_whole_flow(walkthrough, photos):
    server, rs, client, password = photos
    done = walk(walkthrough, server, rs, client, password)
    assert done.returncode == 0, report(done)
    step = steps(done.stdout)
    assert list(step) == ["1", "2a", "2b", "2c", "2d", "3a", "3b", "3c", "4"], report(done)

    # Every endpoint came from discovery, and the RS's challenge names this AS.
    assert server.endpoint("token_endpoint") in step["1"]
    assert f'WWW-Authenticate: UMA realm="photos", as_uri="{server.issuer}", ticket="' in step["2d"]

    # need_info, naming the email claim the owner's policy reads.
    assert "<- 403 Forbidden" in step["3a"] and '"error": "need_info"' in step["3a"], report(done)
    claims = re.search(r"^  need_info: .*: (.*)$", step["3a"], flags=re.MULTILINE)
    assert claims and "email" in claims.group(1).split(", "), report(done)

    # Bob's login (PKCE, CSRF-protected forms) ends in a redirect carrying the code, not followed.
    assert "<- 303" in step["3b"] and f"Location: {REDIRECT_URI}?code=" in step["3b"], report(done)
    assert f'"email": "{BOB_EMAIL}"' in step["3b"]

    # The claim token bought an RPT (with a PCT) listing the view permission.
    assert "<- 200 OK" in step["3c"] and "An RPT and a PCT." in step["3c"], report(done)
    resource_id = re.search(r"Granted: view on (\S+)\.", step["4"])
    assert resource_id, report(done)
    resource_id = resource_id.group(1)
    assert f'"resource_id": "{resource_id}"' in step["3c"]

    # Introspection: active, with `view` on that resource; then the RS served it.
    assert '"active": true' in step["4"] and f'"resource_id": "{resource_id}"' in step["4"], report(done)
    assert re.search(r'"resource_scopes": \[\s*"view"\s*\]', step["4"]), report(done)
    assert "HTTP/1.1 200 OK" in step["4"]

    # What the example left on the server: the owner's policy, stored under the RS's client id.
    policies = server.admin.run(
        "policy", "list", "--data-dir", str(server.data_dir), "--owner", rs.client_id, "--format", "json"
    )
    assert "bob-views-album" in policies.stdout


def test_a_refused_login_fails_with_the_servers_reason(walkthrough, photos):
    server, rs, client, _ = photos
    done = walk(walkthrough, server, rs, client, "not-bobs-password")
    assert done.returncode == 1, report(done)
    # The login page came back instead of the consent page, with the server's alert as the explanation.
    assert "error: expected a page with `decision`" in done.stderr, report(done)
    assert "Invalid username or password" in done.stderr, report(done)
    assert "Granted" not in done.stdout


def test_a_bad_client_secret_names_the_oauth_error(walkthrough, photos):
    server, rs, client, password = photos
    wrong = type(client)(client.client_id, "x" * 24, client.redirect_uri)
    done = walk(walkthrough, server, rs, wrong, password)
    assert done.returncode == 1, report(done)
    assert "error `invalid_client`" in done.stderr, report(done)


@pytest.mark.parametrize("as_uri", ["http://192.0.2.1:8080", "http://example.com:8080", "ftp://127.0.0.1/"])
def test_refuses_anything_but_loopback(walkthrough, as_uri):
    done = run(walkthrough, "--as-uri", as_uri, "--rs", "a:b", "--client", "c:d", "--user", "e:f")
    assert done.returncode == 1, report(done)
    assert f"refusing `{as_uri}`" in done.stderr
    assert done.stdout == "", "nothing may be sent before the address is checked"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--rs", "a:b", "--help"], ["--rs", "--help"]])
def test_help_prints_the_usage_anywhere_and_exits_zero(walkthrough, args):
    done = run(walkthrough, *args)
    assert done.returncode == 0, report(done)
    assert done.stdout.startswith("usage: uma_walkthrough "), report(done)
    for option in ["--rs ID:SECRET", "--client ID:SECRET", "--user NAME:PASSWORD", "--as-uri URL",
                   "--redirect-uri URI", "-h, --help"]:
        assert f"\n  {option} " in done.stdout, f"`{option}` is not described:\n{done.stdout}"
    assert "\nsetup, " in done.stdout and "\nthen, " in done.stdout


def test_the_usage_setup_is_the_readmes_walkthrough(walkthrough):
    from test_readme import walkthrough_blocks

    usage = run(walkthrough, "--help").stdout
    setup = [line.strip() for line in usage.split("\nsetup, ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]]
    assert len(setup) >= 6 and any(line.startswith("uma-cedar serve") for line in setup), usage
    readme = {re.sub(r"\s+#\s.*$", "", line).strip() for block in walkthrough_blocks() for line in block.splitlines()}
    missing = [line for line in setup if line not in readme]
    assert not missing, f"setup lines of --help that are not in the README's walk-through: {missing}"

    # The command it then suggests uses the credentials and the port that setup creates.
    then = usage.split("\nthen, ", 1)[1].replace("\\\n", " ").split()
    options = dict(zip(then[then.index("--") + 1 :: 2], then[then.index("--") + 2 :: 2]))
    assert options["--as-uri"] == "http://127.0.0.1:8081" and "127.0.0.1:8081" in " ".join(setup)
    for flag in ["--rs", "--client"]:
        client_id, secret = options[flag].split(":")
        assert any(f"client add --id {client_id} --secret {secret} " in line for line in setup), flag
    username, password = options["--user"].split(":")
    assert f"printf '{password}\\n' | uma-cedar user add --username {username} " in "\n".join(setup)
    assert any("--email bob@example.com" in line for line in setup)
    assert any("--redirect-uri http://127.0.0.1:9000/cb" in line for line in setup) and "--redirect-uri" not in options


def test_an_option_without_its_value_is_named(walkthrough):
    done = run(walkthrough, "--client", "c:d", "--user", "e:f", "--rs")
    assert done.returncode == 1, report(done)
    assert "error: --rs takes a value" in done.stderr and "--help" in done.stderr, report(done)
    assert done.stdout == ""
