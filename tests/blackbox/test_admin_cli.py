"""9. The admin CLI against a running server, and `serve`'s answer to a busy port or a bad setting."""

import subprocess

import pytest
from authlib.integrations.base_client import OAuthError

from conftest import STOP_TIMEOUT, child_env
from support import PAT_SCOPE, client_credentials_pat, oauth_session, poll

KEY_ROTATION_DEADLINE = 5.0


def test_client_added_while_running_works_at_once(uma):
    client = uma.admin.add_client("late")
    assert client_credentials_pat(uma, client)
    listed = {c["client_id"]: c for c in uma.admin.list_json("client")}
    assert listed[client.client_id]["token_endpoint_auth_method"] == "client_secret_basic"


@pytest.mark.parametrize("public,method,expected", [
    (False, None, "client_secret_basic"),
    (True, None, "none"),
    (False, "client_secret_post", "client_secret_post"),
])
def test_client_add_records_the_auth_method(uma, public, method, expected):
    client = uma.admin.add_client("m", public=public, auth_method=method)
    listed = {c["client_id"]: c for c in uma.admin.list_json("client")}
    assert listed[client.client_id]["token_endpoint_auth_method"] == expected


def test_client_add_refuses_an_unknown_or_inconsistent_auth_method(uma):
    for extra in (["--secret-stdin", "--token-endpoint-auth-method", "private_key_jwt"],
                  ["--public", "--token-endpoint-auth-method", "client_secret_basic"]):
        done = uma.admin.run("client", "add", "--data-dir", str(uma.data_dir), "--id", "odd-one", *extra,
                             stdin="0123456789abcdef0123\n", check=False)
        assert done.returncode != 0
        assert "auth" in done.stderr, done.stderr


def test_client_removed_while_running_stops_working_at_once(uma):
    client = uma.admin.add_client("gone")
    assert client_credentials_pat(uma, client)
    uma.admin.run("client", "remove", "--data-dir", str(uma.data_dir), "--id", client.client_id)
    with oauth_session(uma, client, scope=PAT_SCOPE) as session:
        with pytest.raises(OAuthError) as failure:
            session.fetch_token(uma.endpoint("token_endpoint"), grant_type="client_credentials")
    assert failure.value.error == "invalid_client"


@pytest.mark.parametrize("alg,kty", [("ES256", "EC"), ("RS256", "RSA")])
def test_key_rotation_publishes_a_new_key_and_keeps_the_old(make_server, alg, kty):
    server = make_server()
    before = server.kids()
    server.admin.rotate_keys(alg)
    listed = {k["kid"]: k for k in server.admin.list_json("keys")}
    new = set(listed) - before
    assert len(new) == 1, f"`keys rotate` should add exactly one key: {listed}"
    (new_kid,) = new

    published = poll(lambda: new_kid in server.kids(), timeout=KEY_ROTATION_DEADLINE)
    assert published, f"the new key {new_kid} did not appear in the JWKS within {KEY_ROTATION_DEADLINE} s"
    jwks = {k["kid"]: k for k in server.jwks()["keys"]}
    assert before <= set(jwks), "the previous keys must stay published"
    assert jwks[new_kid]["kty"] == kty and jwks[new_kid]["alg"] == alg
    assert jwks[new_kid]["use"] == "sig"


def serve_and_wait(uma_binary, data_dir, listen: str) -> subprocess.CompletedProcess:
    command = [str(uma_binary), "serve", "--data-dir", str(data_dir), "--listen", listen]
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=STOP_TIMEOUT, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command)}` kept running; it should have refused to start")


def test_busy_port_makes_serve_fail(uma, uma_binary, tmp_path):
    done = serve_and_wait(uma_binary, tmp_path / "data", f"127.0.0.1:{uma.port}")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert str(uma.port) in errors[0]
    assert any(line.strip().startswith("help:") for line in done.stderr.splitlines()), done.stderr


def test_bad_listen_address_makes_serve_fail(uma_binary, tmp_path):
    done = serve_and_wait(uma_binary, tmp_path / "data", "not-an-address")
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert any(line.startswith("error:") for line in lines), done.stderr
    assert any(line.strip().startswith("help:") for line in lines), done.stderr
