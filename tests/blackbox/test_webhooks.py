"""Issue 8 §3: owners' notifications by webhook, from a durable outbox (docs/webhooks.md).

A receiver on 127.0.0.1 (Python's http.server in a thread) checks each delivery as docs/webhooks.md tells a
receiver to: the HMAC-SHA256 in `Uma-Cedar-Signature` over `<t>.<body>`, computed with `hmac`, never with
anything of the server's. Policies are written with the real CLI while the server runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port
from support import poll
from uma_support import PERMIT_ALL, push_policy, remove_policy

EVENT_TIMEOUT = 30.0  # seconds: the first retries come after 2, 4, 8 and 16 s


def verify(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check from docs/webhooks.md."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Receiver:
    """A webhook receiver on a fixed loopback port that can be started after the fact and stopped."""

    def __init__(self, secret: str, port: int | None = None):
        self.secret = secret
        self.port = port or free_port()
        self.deliveries: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/uma"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.deliveries.append({
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                })
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, kind: str | None = None) -> list[dict]:
        found = [json.loads(d["body"]) for d in self.deliveries]
        return [e for e in found if kind is None or e["type"] == kind]

    def wait_for(self, kind: str, owner: str, timeout: float = EVENT_TIMEOUT) -> list[dict]:
        found = poll(lambda: [e for e in self.events(kind) if e["owner"] == owner], timeout=timeout, interval=0.2)
        assert found, f"no `{kind}` for `{owner}` within {timeout:.0f} s; received: {self.events()}"
        return found


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def make(secret: str, port: int | None = None, start: bool = True) -> Receiver:
        receiver = Receiver(secret, port)
        started.append(receiver)
        return receiver.start() if start else receiver

    try:
        yield make
    finally:
        for receiver in started:
            receiver.stop()


def server_with_webhooks(make_server, tmp_path, *hooks: tuple[str, str, list[str] | None]):
    lines = []
    for url, secret, events in hooks:
        lines += ["[[webhooks]]", f'url = "{url}"', f'secret = "{secret}"']
        if events is not None:
            lines.append("events = [" + ", ".join(f'"{e}"' for e in events) + "]")
    config = tmp_path / f"webhooks-{secrets.token_hex(4)}.toml"
    config.write_text("\n".join(lines) + "\n")
    return make_server("--config", str(config))


def test_policy_changed_arrives_signed(make_server, receivers, tmp_path):
    secret = secrets.token_urlsafe(24)
    receiver = receivers(secret)
    server = server_with_webhooks(make_server, tmp_path, (receiver.url, secret, None))
    alice = server.admin.add_user("alice")

    push_policy(server, alice.username, "everyone", PERMIT_ALL, tmp_path)

    [event] = receiver.wait_for("policy.changed", alice.username)
    assert event["data"] == {"change": "stored", "names": ["everyone"]}
    assert isinstance(event["id"], str) and len(event["id"]) >= 32
    assert abs(event["time"] - time.time()) < 120
    assert set(event) == {"id", "type", "time", "owner", "data"}
    [delivery] = [d for d in receiver.deliveries if json.loads(d["body"])["id"] == event["id"]]
    headers = delivery["headers"]
    assert delivery["path"] == "/hooks/uma"
    assert headers["content-type"] == "application/json"
    assert headers["uma-cedar-event"] == "policy.changed"
    assert headers["uma-cedar-event-id"] == event["id"]
    assert verify(secret, headers["uma-cedar-signature"], delivery["body"]), headers
    assert not verify("not-the-secret-at-all", headers["uma-cedar-signature"], delivery["body"])
    timestamp = int(dict(p.split("=", 1) for p in headers["uma-cedar-signature"].split(","))["t"])
    assert abs(timestamp - time.time()) < 120

    remove_policy(server, alice.username, "everyone")
    removed = poll(lambda: [e for e in receiver.events("policy.changed") if e["data"]["change"] == "removed"],
                   timeout=EVENT_TIMEOUT)
    assert removed and removed[0]["data"]["names"] == ["everyone"], receiver.events()


def test_a_webhook_gets_only_the_events_it_asked_for(make_server, receivers, tmp_path):
    secret = secrets.token_urlsafe(24)
    wants_all = receivers(secret)
    wants_requests = receivers(secret)
    server = server_with_webhooks(make_server, tmp_path, (wants_all.url, secret, None),
                                  (wants_requests.url, secret, ["request.submitted", "request.decided"]))
    alice = server.admin.add_user("alice")

    push_policy(server, alice.username, "everyone", PERMIT_ALL, tmp_path)

    wants_all.wait_for("policy.changed", alice.username)
    time.sleep(1.5)  # the worker delivers to both in the same round; give it time to (wrongly) do so
    assert wants_requests.deliveries == []


def test_a_receiver_that_is_down_gets_the_event_when_it_comes_back(make_server, receivers, tmp_path):
    secret = secrets.token_urlsafe(24)
    receiver = receivers(secret, start=False)
    server = server_with_webhooks(make_server, tmp_path, (receiver.url, secret, None))
    alice = server.admin.add_user("alice")

    push_policy(server, alice.username, "everyone", PERMIT_ALL, tmp_path)
    assert poll(lambda: "attempt 1 at event" in server.log_tail(200), timeout=EVENT_TIMEOUT), server.log_tail()

    receiver.start()

    [event] = receiver.wait_for("policy.changed", alice.username)
    [delivery] = receiver.deliveries
    assert verify(secret, delivery["headers"]["uma-cedar-signature"], delivery["body"])


def test_a_restart_loses_no_queued_event(make_server, receivers, tmp_path):
    secret = secrets.token_urlsafe(24)
    receiver = receivers(secret, start=False)
    server = server_with_webhooks(make_server, tmp_path, (receiver.url, secret, None))
    alice = server.admin.add_user("alice")

    push_policy(server, alice.username, "first", PERMIT_ALL, tmp_path)
    assert poll(lambda: "attempt 1 at event" in server.log_tail(200), timeout=EVENT_TIMEOUT), server.log_tail()
    server.stop()
    # Raised while no server runs: the CLI writes the event into the outbox with the policy.
    push_policy(server, alice.username, "second", PERMIT_ALL, tmp_path)
    receiver.start()
    server.start(port=server.port)

    found = poll(lambda: len(receiver.events("policy.changed")) >= 2, timeout=EVENT_TIMEOUT, interval=0.2)
    assert found, receiver.events()
    names = sorted(e["data"]["names"][0] for e in receiver.events("policy.changed"))
    assert names == ["first", "second"]
    for delivery in receiver.deliveries:
        assert verify(secret, delivery["headers"]["uma-cedar-signature"], delivery["body"])


def test_bad_webhook_settings_stop_the_server_with_the_reason(uma_binary, tmp_path):
    import subprocess

    from conftest import child_env

    config = tmp_path / "bad.toml"
    config.write_text('[[webhooks]]\nurl = "https://hooks.example/"\nsecret = "tiny-s3cret"\n')
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    done = subprocess.run(
        [str(uma_binary), "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{free_port()}",
         "--config", str(config)],
        capture_output=True, text=True, timeout=30, env=child_env(),
    )
    assert done.returncode != 0
    assert "webhooks" in done.stderr and "16 to 512" in done.stderr, done.stderr
    assert "tiny-s3cret" not in done.stderr, "the secret is never printed"
