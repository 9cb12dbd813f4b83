"""A real OpenID provider on loopback for the upstream sign-in tests: node `oidc-provider` (pinned in
tests/oidc-provider/package.json, installed there with `npm ci` once per session) running
tests/oidc-provider/provider.mjs. Its one client is this server's: redirect URI `<server>/uma/claims/callback`.

A test module imports the fixtures it uses by name: `node`, `openid_provider`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from conftest import REPO_ROOT, child_env, free_port
from support import HTTP_TIMEOUT, Page

PROVIDER_DIR = REPO_ROOT / "tests" / "oidc-provider"
INSTALL_TIMEOUT = 600
STARTUP_TIMEOUT = 30
STOP_TIMEOUT = 10
CLIENT_ID = "uma-cedar"
CLIENT_SECRET = "a-test-only-secret-for-the-loopback-provider"
EMAIL_DOMAIN = "upstream.example"


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the provider's packages installed (`npm ci`, once). Skips only when node or npm is
    missing on a developer's machine; in CI (.ci/run installs them) that is a failure."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed to run the OpenID provider of tests/oidc-provider"
        if os.environ.get("CI"):
            pytest.fail(message + " (.ci/run installs them)")
        pytest.skip(message)
    installed = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.is_file():
        result = subprocess.run(
            [npm, "ci", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund"],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return node


@dataclass
class OpenIdProvider:
    """One provider process; stop() leaves none behind."""

    node: str
    port: int
    redirect_uri: str
    log_path: Path
    server_port: int
    process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The server's `[[trusted_issuers]]` entry for this provider, with sign-in."""
        return (f'[[trusted_issuers]]\nissuer = "{self.issuer}"\njwks_uri = "{self.issuer}/jwks"\n'
                f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n')

    def start(self) -> OpenIdProvider:
        env = child_env()
        env.update(OP_PORT=str(self.port), OP_REDIRECT_URI=self.redirect_uri, OP_CLIENT_ID=CLIENT_ID,
                   OP_CLIENT_SECRET=CLIENT_SECRET, OP_EMAIL_DOMAIN=EMAIL_DOMAIN)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.node, str(PROVIDER_DIR / "provider.mjs")], cwd=PROVIDER_DIR, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the OpenID provider exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                found = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2)
                if found.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"the OpenID provider did not start:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def email(self, login: str) -> str:
        """The email address the provider gives the account `login`."""
        return f"{login}@{EMAIL_DOMAIN}"

    def sign_in(self, http: requests.Session, location: str, login: str, stop_at: str) -> str:
        """Plays the browser at the provider: follows `location`, fills its login form (any password) and its
        consent form, and returns the first redirect to a URL starting with `stop_at` (the callback)."""
        response = http.get(location, allow_redirects=False, timeout=HTTP_TIMEOUT)
        for _ in range(12):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["Location"])
                if target.startswith(stop_at):
                    return target
                assert target.startswith(self.issuer), f"the provider sent the browser elsewhere: {target}"
                response = http.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)
                continue
            assert response.status_code == 200, f"{response.url}: {response.status_code} {response.text[:500]}"
            page = Page.of(response)
            assert page.forms, f"no form at the provider's {page.url}: {page.text[:500]}"
            form = page.forms[0]
            values = {"login": login, "password": "any"} if form.has_control("login") else {}
            response = http.post(urljoin(page.url, form.action), data=form.fill(values), allow_redirects=False,
                                 timeout=HTTP_TIMEOUT)
        raise AssertionError("the provider never sent the browser back")


@pytest.fixture
def openid_provider(node, tmp_path):
    """A provider whose client redirects to a server that is to listen on `provider.server_port`."""
    server_port = free_port()
    provider = OpenIdProvider(node, free_port(), f"http://127.0.0.1:{server_port}/uma/claims/callback",
                              tmp_path / "openid-provider.log", server_port)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
