"""Fixtures of the black-box suite: they build nothing, they run the real `uma-cedar` binary.

The binary is taken from `UMA_CEDAR_BIN`, or `target/debug/uma-cedar` under the repository root. Each server
listens on a free 127.0.0.1 port with its own temporary data directory; clients and users are created with the
real admin CLI. Every endpoint is taken from the discovery document, which is fetched once per server start.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from support import HTTP_TIMEOUT, Client, User
from uma_support import Scene, make_scene

# The servers under test speak plain HTTP on loopback; Authlib refuses non-https URLs unless told otherwise.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

REPO_ROOT = Path(__file__).resolve().parents[2]
DISCOVERY_PATH = "/.well-known/uma2-configuration"
STARTUP_TIMEOUT = float(os.environ.get("UMA_CEDAR_STARTUP_TIMEOUT", "30"))
CLI_TIMEOUT = 60
STOP_TIMEOUT = 10
TEST_TIMEOUT = 120  # seconds per test (pytest-timeout): a hung server fails one test, not the whole CI run


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Adds the end of each server's log to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    servers = []
    if isinstance(item.funcargs.get("uma"), UmaServer):
        servers.append(item.funcargs["uma"])
    factory = getattr(item.funcargs.get("make_server"), "__self__", None)
    if isinstance(factory, ServerFactory):
        servers += factory.servers
    for server in servers:
        report.sections.append((f"uma-cedar log {server.log_path.name} (last lines)", server.log_tail(40)))


def server_binary() -> Path:
    configured = os.environ.get("UMA_CEDAR_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "uma-cedar"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def child_env() -> dict[str, str]:
    """The environment for the binary: no inherited UMA_CEDAR_* setting may change what a test asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMA_CEDAR_")}
    env.setdefault("RUST_LOG", "info")
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str) -> str:
    """An id no other test uses (client ids and usernames share one namespace on the server)."""
    return f"{prefix}-{secrets.token_hex(4)}"


class Admin:
    """The `uma-cedar` admin commands on one data directory."""

    def __init__(self, binary: Path, data_dir: Path):
        self.binary = binary
        self.data_dir = data_dir

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.binary), *args]
        done = subprocess.run(
            command,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            env=child_env(),
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` exited with {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def add_client(
        self,
        prefix: str = "rs",
        *,
        public: bool = False,
        redirect_uri: str | None = "https://client.example/callback",
        claims_redirect_uris: tuple[str, ...] = (),
        name: str | None = None,
        grant_types: tuple[str, ...] = (),
        auth_method: str | None = None,
    ) -> Client:
        client_id = unique(prefix)
        args = ["client", "add", "--data-dir", str(self.data_dir), "--id", client_id]
        secret = None
        if public:
            args.append("--public")
        else:
            secret = secrets.token_urlsafe(24)
            args.append("--secret-stdin")
        if redirect_uri:
            args += ["--redirect-uri", redirect_uri]
        for uri in claims_redirect_uris:
            args += ["--claims-redirect-uri", uri]
        if name:
            args += ["--name", name]
        for grant in grant_types:
            args += ["--grant-type", grant]
        if auth_method:
            args += ["--token-endpoint-auth-method", auth_method]
        self.run(*args, stdin=f"{secret}\n" if secret else None)
        return Client(client_id, secret, redirect_uri, auth_method)

    def add_user(self, prefix: str = "user") -> User:
        username = unique(prefix)
        user = User(
            username=username,
            password=secrets.token_urlsafe(12),
            email=f"{username}@example.org",
            name=f"Test {username}",
        )
        self.run(
            "user", "add", "--data-dir", str(self.data_dir), "--username", user.username, "--password-stdin",
            "--email", user.email, "--name", user.name,
            stdin=f"{user.password}\n",
        )
        return user

    def list_json(self, kind: str) -> list[dict]:
        done = self.run(kind, "list", "--data-dir", str(self.data_dir), "--format", "json")
        return json.loads(done.stdout)

    def rotate_keys(self, alg: str = "ES256") -> None:
        self.run("keys", "rotate", "--data-dir", str(self.data_dir), "--alg", alg)


class UmaServer:
    """One `uma-cedar serve` process on a data directory; stop() always leaves no process behind."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = extra_args
        self.admin = Admin(binary, data_dir)
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.discovery: dict = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.discovery["issuer"]

    def endpoint(self, name: str) -> str:
        url = self.discovery.get(name)
        assert isinstance(url, str) and url, f"discovery has no `{name}`: {self.discovery}"
        return url

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self, port: int | None = None) -> None:
        """Starts the server (on `port`, or a free one) and waits until discovery answers."""
        assert self.process is None, "server already running"
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            self.port = port if port is not None else free_port()
            self._spawn()
            outcome = self._wait_ready()
            if outcome == "ready":
                return
            busy = "in use" in self.log_tail()
            self._reap()
            if not (busy and attempt + 1 < attempts):
                pytest.fail(
                    f"uma-cedar serve did not become ready: {outcome}\n--- server stderr ---\n{self.log_tail()}"
                )

    def _spawn(self) -> None:
        command = [
            str(self.binary), "serve",
            "--data-dir", str(self.data_dir),
            "--listen", f"127.0.0.1:{self.port}",
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env(), start_new_session=True,
            )

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return f"the process exited with status {code}"
            try:
                response = requests.get(self.base_url + DISCOVERY_PATH, timeout=2)
                if response.status_code == 200:
                    self.discovery = response.json()
                    return "ready"
                last_error = f"discovery answered {response.status_code}"
            except (requests.ConnectionError, requests.Timeout, ValueError) as err:
                last_error = f"{type(err).__name__}: {err}"
            time.sleep(0.05)
        return f"discovery did not answer within {STARTUP_TIMEOUT:.0f} s ({last_error})"

    def _reap(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        self._reap()
        self.discovery = {}

    def restart(self) -> None:
        """Stops the server and starts it again on the same data directory and port (so the issuer is unchanged)."""
        port = self.port
        self.stop()
        self.start(port=port)

    # Small conveniences every test module uses.

    def jwks(self) -> dict:
        response = requests.get(self.endpoint("jwks_uri"), timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()

    def kids(self) -> set[str]:
        return {key.get("kid") for key in self.jwks()["keys"]}


@pytest.fixture(scope="session")
def uma_binary() -> Path:
    path = server_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"uma-cedar binary not found at {path}: run `cargo build` first or set UMA_CEDAR_BIN", pytrace=False
        )
    return path


class ServerFactory:
    """Creates servers for one test (or the session) and stops every one of them afterwards."""

    def __init__(self, binary: Path, root: Path):
        self.binary = binary
        self.root = root
        self.servers: list[UmaServer] = []

    def create(self, *extra_args: str, start: bool = True) -> UmaServer:
        index = len(self.servers)
        data_dir = self.root / f"server{index}-data"
        data_dir.mkdir(mode=0o700, parents=True)  # the server refuses a data directory others can read
        server = UmaServer(self.binary, data_dir, self.root / f"server{index}.log", tuple(extra_args))
        self.servers.append(server)
        if start:
            server.start()
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def uma(uma_binary, tmp_path_factory) -> UmaServer:
    """The server most tests share. Tests create their own clients and users on it, so they never collide."""
    factory = ServerFactory(uma_binary, tmp_path_factory.mktemp("shared"))
    try:
        yield factory.create()
    finally:
        factory.stop_all()


@pytest.fixture
def make_server(uma_binary, tmp_path):
    """A factory for servers of one test: `make_server("--initial-access-token", tok)`; each has `.restart()`."""
    factory = ServerFactory(uma_binary, tmp_path)
    try:
        yield factory.create
    finally:
        factory.stop_all()


# The start of most UMA grant tests (test_uma_*.py); a module that needs another server overrides `scene`.


@pytest.fixture
def scene(uma, tmp_path) -> Scene:
    """On the shared server: Alice, her resource server `rs` holding a PAT, and the client `app`."""
    return make_scene(uma, tmp_path)


@pytest.fixture
def bob(scene) -> User:
    """A requesting party with an account on the server."""
    return scene.party("bob")
