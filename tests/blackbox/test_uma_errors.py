"""The UMA grant's error answers (G §3.3.6, issue 3): request_denied, invalid_grant for unknown, reused, expired
and stolen rotated tickets (a replay revokes what the ticket produced), invalid_request, invalid_scope and
invalid_client, each as RFC 6749 §5.2 JSON that is never cached."""

import time

import pytest

from support import Client, assert_error
from uma_support import (
    ID_TOKEN_FORMAT, UmaClient, assert_need_info, assert_request_denied, email_policy, introspect_rpt, make_scene,
    raw_grant,
)


@pytest.fixture
def scene(uma, tmp_path):
    return make_scene(uma, tmp_path)


@pytest.fixture
def checking(scene):
    return scene.register(["view", "transfer"], name="Checking")


def assert_grant_error(response, status, error):
    body = assert_error(response, status, error)
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    assert "access_token" not in body and "ticket" not in body, body
    return body


def test_request_denied_when_the_party_does_not_match(scene, checking):
    bob, carol = scene.party("bob"), scene.party("carol")
    scene.share("carol-views", email_policy(["view"], [carol.email]))
    ticket = scene.ticket((checking, ["view"]))
    assert_request_denied(scene.client.with_id_token(ticket, scene.id_token(bob)))


def test_request_denied_when_the_owner_shares_nothing(scene, checking):
    bob = scene.party("bob")
    assert_request_denied(scene.client.with_id_token(scene.ticket((checking, ["view"])), scene.id_token(bob)))
    assert_request_denied(scene.client.grant(scene.ticket((checking, ["view"]))))


def test_a_denied_ticket_is_used_up(scene, checking):
    bob, carol = scene.party("bob"), scene.party("carol")
    scene.share("carol-views", email_policy(["view"], [carol.email]))
    ticket = scene.ticket((checking, ["view"]))
    assert_request_denied(scene.client.with_id_token(ticket, scene.id_token(bob)))
    assert_grant_error(scene.client.with_id_token(ticket, scene.id_token(carol)), 400, "invalid_grant")


def test_unknown_ticket_is_invalid_grant(scene):
    assert_grant_error(scene.client.grant("no-such-ticket"), 400, "invalid_grant")


def test_reusing_a_ticket_is_invalid_grant_and_revokes_the_rpt(uma, scene, checking):
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    ticket = scene.ticket((checking, ["view"]))
    token = scene.client.rpt(ticket, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)
    assert introspect_rpt(uma, token["access_token"], pat=scene.pat)["active"] is True

    replay = scene.client.with_id_token(ticket, scene.id_token(bob))
    assert_grant_error(replay, 400, "invalid_grant")
    assert introspect_rpt(uma, token["access_token"], pat=scene.pat) == {"active": False}, \
        "a replayed ticket revokes the RPT it produced"


def test_a_ticket_rotated_by_need_info_is_single_use_too(scene, checking):
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    first = scene.ticket((checking, ["view"]))
    rotated = assert_need_info(scene.client.grant(first), first)["ticket"]
    assert_grant_error(scene.client.with_id_token(first, scene.id_token(bob)), 400, "invalid_grant")
    scene.client.rpt(rotated, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)
    assert_grant_error(scene.client.with_id_token(rotated, scene.id_token(bob)), 400, "invalid_grant")


def test_a_rotated_ticket_presented_by_another_client_is_invalid_grant(uma, scene, checking):
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    first = scene.ticket((checking, ["view"]))
    rotated = assert_need_info(scene.client.grant(first), first)["ticket"]

    thief_client = uma.admin.add_client("thief")
    thief = UmaClient(uma, thief_client)
    response = thief.with_id_token(rotated, scene.id_token(bob, client=thief_client))
    assert_grant_error(response, 400, "invalid_grant")
    # The ticket stays usable by the client it was rotated for: a thief cannot burn it.
    scene.client.rpt(rotated, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)


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


@pytest.mark.parametrize("lone", ["claim_token", "claim_token_format"])
def test_a_lone_claim_token_or_format_is_invalid_request(scene, checking, lone):
    bob = scene.party("bob")
    value = scene.id_token(bob) if lone == "claim_token" else ID_TOKEN_FORMAT
    ticket = scene.ticket((checking, ["view"]))
    assert_grant_error(scene.client.grant(ticket, **{lone: value}), 400, "invalid_request")
    # A malformed request leaves the ticket alone: it is still good for a well-formed one.
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    scene.client.rpt(ticket, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)


def test_a_missing_ticket_is_invalid_request(scene):
    assert_grant_error(scene.client.grant(), 400, "invalid_request")


@pytest.mark.parametrize("name", ["ticket", "scope", "claim_token_format"])
def test_repeated_parameters_are_invalid_request(scene, checking, name):
    ticket = scene.ticket((checking, ["view"]))
    bob = scene.party("bob")
    pairs = {"ticket": [("ticket", ticket), ("ticket", ticket)],
             "scope": [("ticket", ticket), ("scope", "view"), ("scope", "view")],
             "claim_token_format": [("ticket", ticket), ("claim_token", scene.id_token(bob)),
                                    ("claim_token_format", ID_TOKEN_FORMAT),
                                    ("claim_token_format", ID_TOKEN_FORMAT)]}[name]
    assert_grant_error(raw_grant(scene.server, scene.app, pairs), 400, "invalid_request")


@pytest.mark.parametrize("token_format", ["urn:ietf:params:oauth:token-type:jwt",
                                          "urn:ietf:params:oauth:token-type:saml2"])
def test_a_claim_token_format_other_than_the_id_tokens_is_invalid_request(scene, checking, token_format):
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    response = scene.client.grant(scene.ticket((checking, ["view"])), claim_token=scene.id_token(bob),
                                  claim_token_format=token_format)
    assert_grant_error(response, 400, "invalid_request")


def test_a_scope_no_ticket_resource_has_is_invalid_scope(scene, checking):
    ticket = scene.ticket((checking, ["view"]))
    assert_grant_error(scene.client.grant(ticket, scope="delete"), 400, "invalid_scope")


def test_a_wrong_client_secret_is_invalid_client(uma, scene, checking):
    ticket = scene.ticket((checking, ["view"]))
    impostor = Client(scene.app.client_id, "not-the-secret-at-all", scene.app.redirect_uri)
    response = UmaClient(uma, impostor).grant(ticket)
    assert_error(response, 401, "invalid_client")


def test_a_failed_client_authentication_does_not_burn_the_ticket(uma, scene, checking):
    scene.share("anyone", 'permit (principal, action == Uma::Action::"view", resource);\n')
    ticket = scene.ticket((checking, ["view"]))
    impostor = Client(scene.app.client_id, "not-the-secret-at-all", scene.app.redirect_uri)
    assert_error(UmaClient(uma, impostor).grant(ticket), 401, "invalid_client")
    scene.client.rpt(ticket)


def test_a_public_client_gets_an_rpt_with_its_client_id(uma, scene, checking):
    public_app = uma.admin.add_client("spa", public=True)
    bob = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    client = UmaClient(uma, public_app)
    token = client.rpt(scene.ticket((checking, ["view"])), claim_token=scene.id_token(bob, client=public_app),
                       claim_token_format=ID_TOKEN_FORMAT)
    assert introspect_rpt(uma, token["access_token"], pat=scene.pat)["client_id"] == public_app.client_id


def test_a_request_for_no_scope_is_request_denied(scene, checking):
    """A ticket naming no scope is no default permit (G §5.6), and nothing the client sent is malformed: the request
    is denied, with a description. `invalid_scope` stays for a `scope` no ticket resource has."""
    scene.share("everyone", "permit (principal, action, resource);\n")
    response = scene.api.ticket({"resource_id": checking, "resource_scopes": []})
    assert response.status_code == 201, response.text
    body = assert_request_denied(scene.client.grant(response.json()["ticket"]))
    assert "no scope" in body.get("error_description", ""), body
