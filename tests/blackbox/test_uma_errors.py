"""The UMA grant across processes (G §3.3.6, issue 3): a ticket expires on the server's own clock as the
`--ticket-ttl` flag says, and a public client gets its RPT through a real OAuth client library.

The protocol edge cases of the grant (unknown, reused, denied and rotated tickets, malformed requests, scopes,
client authentication) are tested once, in process, in `tests/api/uma_grant.rs`; their bodies are pinned in
`tests/api/snapshots/`."""

import time

import pytest

from support import assert_error
from uma_support import ID_TOKEN_FORMAT, UmaClient, email_policy, introspect_rpt, make_scene


@pytest.fixture
def checking(scene):
    return scene.register(["view", "transfer"], name="Checking")


def assert_grant_error(response, status, error):
    body = assert_error(response, status, error)
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    assert "access_token" not in body and "ticket" not in body, body
    return body


def test_expired_ticket_is_invalid_grant(make_server, tmp_path):
    server = make_server("--ticket-ttl", "1")
    scene = make_scene(server, tmp_path)
    checking = scene.register(["view"], name="Checking")
    scene.share("anyone", 'permit (principal, action == Uma::Action::"view", resource);\n')
    ticket = scene.ticket((checking, ["view"]))
    time.sleep(2.5)
    assert_grant_error(scene.client.grant(ticket), 400, "invalid_grant")
    # The same request with a fresh ticket succeeds: it was the expiry, not the policy.
    scene.client.rpt(scene.ticket((checking, ["view"])))


def test_a_public_client_gets_an_rpt_with_its_client_id(uma, scene, checking):
    public_app = uma.admin.add_client("spa", public=True)
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    client = UmaClient(uma, public_app)
    token = client.rpt(scene.ticket((checking, ["view"])), claim_token=scene.id_token(bob, client=public_app),
                       claim_token_format=ID_TOKEN_FORMAT)
    assert introspect_rpt(uma, token["access_token"], pat=scene.pat)["client_id"] == public_app.client_id