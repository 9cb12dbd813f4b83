"""Owner approvals (issue 8 part 2; UMA Grant §3.3.6 `request_submitted`): a permit annotated `@ask` holds the
request for the owner, the client polls with the ticket it got, and the owner approves (by CLI or over HTTP:
`uma_cedar_requests_endpoint`) or denies. An approval is a policy `approved-<id>` in the owner's set, so the next
poll is granted by Cedar. Another owner can neither see nor decide the request; a restart keeps it."""

import json
import time

import pytest
import requests

from support import HTTP_TIMEOUT
from uma_support import (
    ID_TOKEN_FORMAT, assert_request_denied, assert_rpt_response, cli_decisions, decode_rpt, make_scene,
    owner_token, permissions_by_resource,
)

INTERVAL = 3
ASK_FAMILY = """// the black-box suite: family members may ask; alice decides
@ask("family")
permit (principal, action, resource);
"""


@pytest.fixture
def server(make_server, tmp_path):
    config = tmp_path / "approvals.toml"
    config.write_text(f"poll_interval = {INTERVAL}\n")
    return make_server("--config", str(config))


@pytest.fixture
def scene(server, tmp_path):
    scene = make_scene(server, tmp_path)
    scene.share("ask-family", ASK_FAMILY)
    return scene


def assert_submitted(response: requests.Response, *presented: str) -> dict:
    assert response.status_code == 403, f"expected 403 request_submitted, got {response.status_code}: {response.text}"
    body = response.json()
    assert body.get("error") == "request_submitted", body
    ticket = body.get("ticket")
    assert isinstance(ticket, str) and len(ticket) >= 16, f"request_submitted carries a new ticket: {body}"
    assert ticket not in presented, "request_submitted rotates the ticket"
    assert body.get("interval") == INTERVAL, body
    return body


def hold(scene, scopes=("view",)):
    """Bob asks for `scopes` on a new resource of Alice's and is held; returns (resource, bob, submitted body)."""
    resource = scene.register(["view", "edit"], name="Photos")
    bob = scene.party("bob")
    ticket = scene.ticket((resource, list(scopes)))
    body = assert_submitted(scene.client.with_id_token(ticket, scene.id_token(bob)), ticket)
    return resource, bob, body


def cli_requests(server, owner: str) -> list[dict]:
    done = server.admin.run("requests", "list", "--data-dir", str(server.data_dir), "--owner", owner,
                            "--format", "json")
    listed = json.loads(done.stdout)
    assert isinstance(listed, list), done.stdout
    return listed


def poll(scene, ticket: str) -> requests.Response:
    time.sleep(INTERVAL + 0.2)
    return scene.client.grant(ticket)


class RequestsApi:
    def __init__(self, server, token: str):
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        listed = server.discovery.get("uma_cedar_requests_endpoint")
        assert isinstance(listed, str) and listed.startswith(server.issuer), server.discovery
        self.url = listed.rstrip("/")

    def list(self) -> requests.Response:
        return self.http.get(self.url, timeout=HTTP_TIMEOUT)

    def decide(self, request_id: str, verb: str, **body) -> requests.Response:
        return self.http.post(f"{self.url}/{request_id}/{verb}", json=body or None, timeout=HTTP_TIMEOUT)


def test_held_request_approved_by_cli_yields_an_rpt(server, scene):
    resource, bob, submitted = hold(scene)
    # Polled too soon: slow_down, and the ticket stays good.
    too_soon = scene.client.grant(submitted["ticket"])
    assert too_soon.status_code == 400 and too_soon.json().get("error") == "slow_down", too_soon.text
    listed = cli_requests(server, scene.alice.username)
    assert len(listed) == 1, listed
    request = listed[0]
    assert request["state"] == "pending", request
    assert request["resource_id"] == resource and request["scopes"] == ["view"], request
    assert request["party"] == [server.issuer, bob.username], request
    assert request["client_id"] == scene.app.client_id, request

    # Still pending: request_submitted again, with a new ticket.
    again = assert_submitted(poll(scene, submitted["ticket"]), submitted["ticket"])

    server.admin.run("requests", "approve", "--data-dir", str(server.data_dir), "--owner", scene.alice.username,
                     request["id"], "--until", "2099-01-01")
    policy = server.admin.run("policy", "show", "--data-dir", str(server.data_dir), "--owner",
                              scene.alice.username, f"approved-{request['id']}").stdout
    assert "permit" in policy and resource in policy and "2099-01-01" in policy, policy

    token = assert_rpt_response(poll(scene, again["ticket"]))
    claims = decode_rpt(server, token["access_token"]).claims
    assert permissions_by_resource(claims["permissions"]) == {resource: {"view"}}, claims
    # The approval is a policy like any other: a new request of Bob's for the same is granted at once.
    assert_rpt_response(scene.client.with_id_token(scene.ticket((resource, ["view"])), scene.id_token(bob)))
    # ...but not a scope the owner did not approve: that is held anew.
    assert_submitted(scene.client.with_id_token(scene.ticket((resource, ["edit"])), scene.id_token(bob)))

    answers = [e["answer"] for e in cli_decisions(server, scene.alice.username)]
    assert {"request_submitted", "owner_approved", "permit"} <= set(answers), answers


def test_held_request_approved_over_http_yields_an_rpt_and_others_get_404(server, scene):
    resource, bob, submitted = hold(scene)
    dashboard = server.admin.add_client("dashboard")
    alice = RequestsApi(server, owner_token(server, dashboard, scene.alice))
    carol_user = server.admin.add_user("carol")
    carol = RequestsApi(server, owner_token(server, dashboard, carol_user))

    listed = alice.list()
    assert listed.status_code == 200, listed.text
    [request] = listed.json()
    assert carol.list().json() == [], "another owner sees none of alice's requests"
    for verb in ("approve", "deny"):
        refused = carol.decide(request["id"], verb)
        assert refused.status_code == 404 and refused.json().get("error") == "not_found", refused.text
    unauthenticated = requests.get(alice.url, timeout=HTTP_TIMEOUT)
    assert unauthenticated.status_code == 401, unauthenticated.text
    rs_pat = requests.get(alice.url, headers={"Authorization": f"Bearer {scene.pat}"}, timeout=HTTP_TIMEOUT)
    assert rs_pat.status_code == 403 and rs_pat.json().get("error") == "insufficient_scope", rs_pat.text

    approved = alice.decide(request["id"], "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and approved.json()["policy"] == f"approved-{request['id']}"
    twice = alice.decide(request["id"], "deny")
    assert twice.status_code == 400 and twice.json().get("error") == "invalid_request", twice.text

    token = assert_rpt_response(poll(scene, submitted["ticket"]))
    assert permissions_by_resource(decode_rpt(server, token["access_token"]).claims["permissions"]) == {resource: {"view"}}


def test_owner_denies_and_the_next_poll_is_request_denied(server, scene):
    _, bob, submitted = hold(scene)
    [request] = cli_requests(server, scene.alice.username)
    carol = server.admin.add_user("carol")
    refused = server.admin.run("requests", "deny", "--data-dir", str(server.data_dir), "--owner", carol.username,
                               request["id"], check=False)
    assert refused.returncode != 0 and request["id"] in refused.stderr, refused.stderr
    server.admin.run("requests", "deny", "--data-dir", str(server.data_dir), "--owner", scene.alice.username,
                     request["id"])
    assert_request_denied(poll(scene, submitted["ticket"]))
    assert cli_requests(server, scene.alice.username)[0]["state"] == "denied"


def test_a_duplicate_joins_the_pending_request_and_a_restart_keeps_it(server, scene):
    resource, bob, submitted = hold(scene)
    again = assert_submitted(scene.client.with_id_token(scene.ticket((resource, ["view"])), scene.id_token(bob)))
    assert len(cli_requests(server, scene.alice.username)) == 1, "the same party, resource and scopes: merged"

    server.restart()

    [request] = cli_requests(server, scene.alice.username)
    assert request["state"] == "pending"
    server.admin.run("requests", "approve", "--data-dir", str(server.data_dir), "--owner", scene.alice.username,
                     request["id"])
    assert_rpt_response(poll(scene, submitted["ticket"]))
    assert_rpt_response(scene.client.grant(again["ticket"]))


def test_claims_gathered_interactively_are_held_for_the_owner_then_approved(server, tmp_path):
    """need_info -> the claims interaction (Bob signs in in a browser) -> new ticket -> the only permit is `@ask`,
    so the request is held with the gathered claims -> Alice approves by CLI -> the next poll gets the RPT."""
    from urllib.parse import urlencode

    from support import Browser, query_of
    from uma_support import UmaClient, assert_need_info

    claims_back = "https://budget.example/claims-back"
    scene = make_scene(server, tmp_path)
    bob = scene.party("bob")
    scene.share("ask-bob", f'// the black-box suite: bob may ask; alice decides\n@ask("bob")\n'
                           f'permit (principal, action, resource) when {{ principal has email && '
                           f'principal.email == "{bob.email}" }};\n')
    app = server.admin.add_client("budget", name="Budget App", claims_redirect_uris=(claims_back,))
    client = UmaClient(server, app)
    photos = scene.register(["view"], name="Photos")
    first = scene.ticket((photos, ["view"]))
    answer = assert_need_info(client.grant(first), first)
    assert answer.get("redirect_user"), answer

    url = answer["redirect_user"] + "?" + urlencode(
        {"client_id": app.client_id, "ticket": answer["ticket"], "claims_redirect_uri": claims_back})
    gathered = query_of(Browser(server).authorize(url, claims_back, bob))["ticket"]

    submitted = assert_submitted(client.grant(gathered), gathered, answer["ticket"])
    listed = cli_requests(server, scene.alice.username)
    assert len(listed) == 1, listed
    request = listed[0]
    assert request["party"] == [server.issuer, bob.username], request
    assert request["client_id"] == app.client_id and request["resource_id"] == photos, request
    # Still pending: request_submitted again, with a new ticket.
    time.sleep(INTERVAL + 0.2)
    again = assert_submitted(client.grant(submitted["ticket"]), submitted["ticket"])

    server.admin.run("requests", "approve", "--data-dir", str(server.data_dir), "--owner", scene.alice.username,
                     request["id"])
    time.sleep(INTERVAL + 0.2)
    token = assert_rpt_response(client.grant(again["ticket"]))
    claims = decode_rpt(server, token["access_token"]).claims
    assert permissions_by_resource(claims["permissions"]) == {photos: {"view"}}, claims
    assert claims.get("sub") == bob.username, claims
