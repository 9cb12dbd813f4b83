"""The resource server library `uma-cedar-rs`, run as its examples would be by a user: Alice's bank (a resource
server on the library) and the budgeting app acting for Bob, in Rust and in Python (Authlib), against a real
server.

Alice's bank registers her accounts and statements at start. Until the bank's policy lets Bob view statements,
the app is denied; once it does, the app walks 401 + ticket, `need_info`, claims interaction (Bob signs in), an
RPT, and the statement is served. The bank is run both ways the library checks RPTs: locally against the JWK
Set, and by introspection. The examples are built by `scripts/test` (or here, when missing or stale).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, child_env
from support import HTTP_TIMEOUT, ProtectionApi, client_credentials_pat
from uma_support import PERMIT_ALL, UmaClient, push_policy, remove_policy

CRATE = REPO_ROOT / "crates" / "uma-cedar-rs"
PYTHON_CLIENT = REPO_ROOT / "examples" / "python" / "budget_client.py"
CLAIMS_BACK = "http://127.0.0.1:9/claims-back"  # registered, never contacted
STATEMENT = "/accounts/checking/statements/2026-11"
BOB_EMAIL = "bob@example.com"
BUILD_TIMEOUT = 900
RUN_TIMEOUT = 60
DENIED = 3
POLICY = f"""// Alice's bank lets Bob view statements (not accounts)
permit (principal, action == Uma::Action::"view", resource)
when {{ principal has email && principal.email == "{BOB_EMAIL}" &&
       resource has type && resource.type == "statement" }};
"""

# RFC 9110 §11: auth-scheme 1*SP auth-param *( OWS "," OWS auth-param ), every value a quoted-string here.
QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
CHALLENGE = re.compile(rf"^UMA ((?:[A-Za-z_]+={QUOTED})(?:[ \t]*,[ \t]*[A-Za-z_]+={QUOTED})*)$")


def parse_challenge(header: str) -> dict[str, str]:
    match = CHALLENGE.match(header)
    assert match, f"not a well-formed UMA challenge: {header!r}"
    params = {}
    for name, value in re.findall(rf"([A-Za-z_]+)=({QUOTED})", match.group(1)):
        assert name not in params, f"`{name}` twice in {header!r}"
        params[name] = re.sub(r"\\(.)", r"\1", value[1:-1])
    return params


def example(name: str) -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    target = Path(configured) if configured else REPO_ROOT / "target"
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "examples" / name


@pytest.fixture(scope="session")
def examples() -> dict[str, Path]:
    binaries = {name: example(name) for name in ("bank", "budget_client")}
    sources = [*(CRATE / "src").glob("*.rs"), *(CRATE / "examples").glob("*.rs")]
    newest = max(source.stat().st_mtime for source in sources)
    if all(b.is_file() and b.stat().st_mtime >= newest for b in binaries.values()):
        return binaries
    command = ["cargo", "build", "-p", "uma-cedar-rs", "--examples"]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except FileNotFoundError:
        pytest.fail("the examples are missing and cargo is not on PATH to build them", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed:\n{done.stderr[-3000:]}", pytrace=False)
    return binaries


class Bank:
    """A running `bank` example: its address and the ids it registered, its output kept."""

    def __init__(self, binary: Path, server, rs, verify: str, *args: str, stop_after: int = 120):
        command = [str(binary), "--as-uri", server.base_url, "--rs", f"{rs.client_id}:{rs.secret}",
                   "--listen", "127.0.0.1:0", "--verify", verify, "--stop-after", str(stop_after), *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=child_env())
        self.ids: dict[str, str] = {}
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(RUN_TIMEOUT) or not self.url:
            self.stop()
            pytest.fail(f"the bank did not start:\n{self.output()}", pytrace=False)

    def _read(self, ready: threading.Event) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if registered := re.match(r"registered \w+ (\S+) as (\S+)$", line):
                self.ids[registered.group(1)] = registered.group(2)
            if listening := re.match(r"listening on (http://127\.0\.0\.1:\d+)$", line):
                self.url = listening.group(1)
                ready.set()
        ready.set()

    def output(self) -> str:
        stderr = self.process.stderr.read() if self.process.poll() is not None else ""
        return "\n".join(self.lines) + "\n--- stderr ---\n" + stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=RUN_TIMEOUT)


@pytest.fixture
def setup(make_server):
    """The server with the bank (a confidential client owning its resources), the budget app and Bob."""
    server = make_server()
    rs = server.admin.add_client("bank", redirect_uri=None, name="Alice's Bank")
    app = server.admin.add_client("budget", redirect_uri=None, name="Budget App", claims_redirect_uris=(CLAIMS_BACK,))
    password = secrets.token_urlsafe(12)
    server.admin.run("user", "add", "--data-dir", str(server.data_dir), "--username", "bob", "--password-stdin",
                     "--email", BOB_EMAIL, "--name", "Bob", stdin=f"{password}\n")
    return server, rs, app, password


@pytest.fixture(params=["jwt", "introspection"])
def bank(request, examples, setup):
    server, rs, _, _ = setup
    running = Bank(examples["bank"], server, rs, request.param)
    yield running
    running.stop()


def report(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


def budget(command: list[str], bank: Bank, path: str, app, password: str) -> subprocess.CompletedProcess:
    args = ["--resource", bank.url + path, "--client", f"{app.client_id}:{app.secret}", "--user",
            f"bob:{password}", "--claims-redirect-uri", CLAIMS_BACK]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=child_env())


def clients(examples) -> dict[str, list[str]]:
    return {"rust": [str(examples["budget_client"])], "python": [sys.executable, str(PYTHON_CLIENT)]}


def served(done: subprocess.CompletedProcess) -> dict:
    line = [line for line in done.stdout.splitlines() if line.startswith("served: ")]
    assert done.returncode == 0 and len(line) == 1, report(done)
    return json.loads(line[0].removeprefix("served: "))


@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_the_statement_is_served_only_once_the_policy_allows_it(examples, setup, bank, tmp_path):
    server, rs, app, password = setup
    statement_id = bank.ids["checking/2026-11"]
    for name, command in clients(examples).items():
        # No policy yet: the ticket is good, but the owner's policies grant nothing.
        denied = budget(command, bank, STATEMENT, app, password)
        assert denied.returncode == DENIED, f"{name}: {report(denied)}"
        assert "denied: " in denied.stdout and "served:" not in denied.stdout, report(denied)
        assert "=== 5." not in denied.stdout, "the RPT step must never be reached"

    push_policy(server, rs.client_id, "bob-views-statements", POLICY, tmp_path)
    for name, command in clients(examples).items():
        done = budget(command, bank, STATEMENT, app, password)
        statement = served(done)
        assert statement["resource_id"] == statement_id, f"{name}: {report(done)}"
        assert statement["data"]["month"] == "2026-11" and statement["for"] == "bob", report(done)
        # The whole walk: 401 + ticket, need_info, claims interaction, a new ticket, the RPT.
        steps = re.findall(r"^=== (\d)\. ", done.stdout, flags=re.MULTILINE)
        assert steps == ["1", "2", "3", "4", "3", "5"], f"{name}: {report(done)}"
        assert "need_info: " in done.stdout and "email" in done.stdout, report(done)
        assert "the sign-in page" in done.stdout and "the release page" in done.stdout, report(done)

    # The policy names statements only: Bob's app is still denied the account itself.
    account = budget(clients(examples)["python"], bank, "/accounts/checking", app, password)
    assert account.returncode == DENIED, report(account)


def test_the_401_challenge_is_well_formed_and_its_ticket_redeemable(examples, setup, bank):
    server, _, app, _ = setup
    response = requests.get(bank.url + STATEMENT, timeout=HTTP_TIMEOUT)
    assert response.status_code == 401, response.text
    challenge = parse_challenge(response.headers["WWW-Authenticate"])
    assert set(challenge) == {"realm", "as_uri", "ticket"}, challenge
    assert challenge["realm"] == "bank" and challenge["as_uri"] == server.issuer, challenge
    assert response.headers.get("Cache-Control") == "no-store"
    # A real ticket of this server: redeeming it gets a grant answer, not invalid_grant.
    answer = UmaClient(server, app).grant(challenge["ticket"])
    assert answer.status_code == 403 and answer.json()["error"] == "request_denied", answer.text

    # Anything but a valid RPT gets a fresh ticket: garbage, another scheme, a forged JWT.
    header = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0"
    for authorization in ["Bearer garbage", "Basic Ym9iOmJvYg==", f"Bearer {header}.e30."]:
        again = requests.get(bank.url + STATEMENT, headers={"Authorization": authorization}, timeout=HTTP_TIMEOUT)
        assert again.status_code == 401, (authorization, again.text)
        assert parse_challenge(again.headers["WWW-Authenticate"])["ticket"] != challenge["ticket"]


def test_a_refused_ticket_is_a_403_without_one(examples, setup, bank):
    server, rs, _, _ = setup
    # The statement's registration is deleted behind the bank's back: the permission endpoint refuses it.
    api = ProtectionApi(server, client_credentials_pat(server, rs))
    assert api.delete(bank.ids["checking/2026-11"]).status_code == 204
    response = requests.get(bank.url + STATEMENT, timeout=HTTP_TIMEOUT)
    assert response.status_code == 403, response.text
    assert "WWW-Authenticate" not in response.headers and "Warning" not in response.headers
    assert "ticket" not in response.json()


def test_an_unreachable_authorization_server_is_a_403_with_a_warning(examples, setup, bank):
    server, _, _, _ = setup
    server.stop()
    response = requests.get(bank.url + STATEMENT, timeout=HTTP_TIMEOUT * 3)
    assert response.status_code == 403, response.text
    assert response.headers.get("Warning") == '199 - "UMA Authorization Server Unreachable"'
    assert "WWW-Authenticate" not in response.headers


def test_the_bank_stops_by_itself_and_stays_on_loopback(examples, setup):
    server, rs, _, _ = setup
    bank = Bank(examples["bank"], server, rs, "jwt", stop_after=1)
    assert bank.process.wait(timeout=RUN_TIMEOUT) == 0, bank.output()
    for args in [["--as-uri", "http://192.0.2.1:8080"], ["--as-uri", server.base_url, "--listen", "0.0.0.0:0"]]:
        done = subprocess.run([str(examples["bank"]), *args, "--rs", "a:b"], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=child_env())
        assert done.returncode == 1 and "loopback" in done.stderr, report(done)
    for command in clients(examples).values():
        done = subprocess.run([*command, "--resource", "http://192.0.2.1/x", "--client", "a:b", "--user", "c:d",
                               "--claims-redirect-uri", CLAIMS_BACK], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=child_env())
        assert done.returncode == 1 and "refusing" in done.stderr and "->" not in done.stdout, report(done)


def test_the_readme_shows_the_minimal_example_as_compiled():
    """The README's "For resource servers" Rust block is `examples/minimal.rs` of the crate, which CI builds."""
    from test_readme import readme, section

    blocks = re.findall(r"^```rust\n(.*?)^```$", section(readme(), "For resource servers"), re.M | re.S)
    assert len(blocks) == 1, "the section shows one Rust block"
    source = (CRATE / "examples" / "minimal.rs").read_text()
    source = source[source.index("use std::sync::Arc;"):]
    source = re.sub(r"^(//.*|#\[rustfmt::skip\])\n", "", source, flags=re.M)
    assert blocks[0] == source, "README block and crates/uma-cedar-rs/examples/minimal.rs differ"
    lines = [line for line in blocks[0].splitlines() if line.strip() and not line.startswith("use ")]
    assert len(lines) <= 14, "the example is meant to fit in about ten lines"


@pytest.mark.parametrize("verify", ["jwt", "introspection"])
def test_an_rpt_serves_until_the_owner_withdraws_it_as_documented(examples, setup, verify, tmp_path):
    """With introspection (here uncached) a withdrawn permission stops at once; a JWT RPT checked locally keeps
    working until it expires (README, docs/uma-grant.md). A tampered RPT never works."""
    server, rs, app, _ = setup
    bank = Bank(examples["bank"], server, rs, verify, "--cache-seconds", "0")
    try:
        push_policy(server, rs.client_id, "anyone", PERMIT_ALL, tmp_path)
        first = requests.get(bank.url + STATEMENT, timeout=HTTP_TIMEOUT)
        ticket = parse_challenge(first.headers["WWW-Authenticate"])["ticket"]
        rpt = UmaClient(server, app).rpt(ticket)["access_token"]
        bearer = {"Authorization": f"Bearer {rpt}"}
        served = requests.get(bank.url + STATEMENT, headers=bearer, timeout=HTTP_TIMEOUT)
        assert served.status_code == 200 and served.json()["resource_id"] == bank.ids["checking/2026-11"], served.text
        # The RPT names this statement only: another one needs a new ticket.
        other = requests.get(bank.url + "/accounts/checking/statements/2026-10", headers=bearer, timeout=HTTP_TIMEOUT)
        assert other.status_code == 401 and "ticket=" in other.headers["WWW-Authenticate"], other.text

        head, payload, signature = rpt.split(".")
        flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
        tampered = {"Authorization": f"Bearer {head}.{flipped}.{signature}"}
        refused = requests.get(bank.url + STATEMENT, headers=tampered, timeout=HTTP_TIMEOUT)
        assert refused.status_code == 401, refused.text

        remove_policy(server, rs.client_id, "anyone")
        after = requests.get(bank.url + STATEMENT, headers=bearer, timeout=HTTP_TIMEOUT)
        assert after.status_code == (200 if verify == "jwt" else 401), after.text
    finally:
        bank.stop()
