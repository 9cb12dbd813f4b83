"""The decision log (issue 3 point 9): every grant decision about an owner's resources is recorded, and the owner
lists them, newest first, over HTTP (`GET <issuer>/uma/decisions` with a `uma_policy` token) and with
`uma-cedar decisions list --owner OWNER --format json`. Nobody sees another owner's decisions."""

import time
from datetime import datetime

import pytest
import requests

from support import HTTP_TIMEOUT, ProtectionApi, client_credentials_pat, oauth_session
from uma_support import (
    ID_TOKEN_FORMAT, PolicyApi, assert_need_info, assert_request_denied, cli_decisions, decisions_url,
    email_policy, owner_token,
)

FIELDS = {"time", "client_id", "party", "resource_id", "scopes", "granted", "answer", "policies"}


def seconds(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    assert isinstance(value, str), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def history(uma, scene):
    """Alice's resource after need_info, a grant to Bob and a denial to Carol (in this order)."""
    bob, carol = scene.party("bob"), scene.party("carol")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    started = time.time()
    ticket = scene.ticket((checking, ["view"]))
    rotated = assert_need_info(scene.client.grant(ticket), ticket)["ticket"]
    scene.client.rpt(rotated, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)
    assert_request_denied(scene.client.with_id_token(scene.ticket((checking, ["view"])), scene.id_token(carol)))
    return {"bob": bob, "carol": carol, "checking": checking, "started": started}


def assert_history(entries: list[dict], scene, history) -> None:
    mine = [e for e in entries if e.get("resource_id") == history["checking"]]
    assert len(mine) == 3, f"three decisions about the checking account: {entries}"
    for entry in mine:
        assert FIELDS <= set(entry), entry
        assert entry["client_id"] == scene.app.client_id, entry
        assert entry["scopes"] == ["view"], entry
        assert history["started"] - 60 <= seconds(entry["time"]) <= time.time() + 60, entry
    denied, granted, need_info = mine
    times = [seconds(e["time"]) for e in mine]
    assert times == sorted(times, reverse=True), f"newest first: {mine}"

    assert denied["answer"] == "request_denied" and denied["granted"] == [], denied
    assert denied["party"] == [scene.server.issuer, history["carol"].username], denied

    assert granted["answer"] == "permit" and granted["granted"] == ["view"], granted
    assert granted["party"] == [scene.server.issuer, history["bob"].username], granted
    assert any(p.split("#")[0] == "bob-views" for p in granted["policies"]), \
        f"the policy that decided is named: {granted}"

    assert need_info["answer"] == "need_info" and need_info["granted"] == [], need_info
    assert need_info["party"] in (None, ""), f"no claims, no requesting party yet: {need_info}"


def test_decision_log_over_http(uma, scene, history):
    dashboard = uma.admin.add_client("dashboard")
    policies = PolicyApi(uma, owner_token(uma, dashboard, scene.alice))
    response = policies.decisions()
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    entries = response.json()
    assert isinstance(entries, list), entries
    assert_history(entries, scene, history)

    newest = policies.http.get(decisions_url(uma), params={"limit": "1"}, timeout=HTTP_TIMEOUT)
    assert newest.status_code == 200, newest.text
    assert newest.json() == entries[:1], "`limit` keeps the newest"


def test_decision_log_with_the_cli(uma, scene, history):
    entries = cli_decisions(uma, scene.alice.username)
    assert_history(entries, scene, history)
    newest = cli_decisions(uma, scene.alice.username, "--limit", "1")
    assert newest == entries[:1], "`--limit` keeps the newest"


def test_nobody_reads_another_owners_decisions(uma, scene, history):
    mallory = scene.party("mallory")
    dashboard = uma.admin.add_client("dashboard")
    response = PolicyApi(uma, owner_token(uma, dashboard, mallory)).decisions()
    assert response.status_code == 200, response.text
    assert response.json() == [], "Mallory owns nothing and was never asked about anything"
    assert cli_decisions(uma, mallory.username) == []


def test_the_decision_log_needs_the_owners_policy_token(uma, scene, history):
    url = decisions_url(uma)
    assert requests.get(url, timeout=HTTP_TIMEOUT).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=HTTP_TIMEOUT).status_code == 401
    for pat in (scene.pat, client_credentials_pat(uma, scene.rs)):
        response = requests.get(url, headers={"Authorization": f"Bearer {pat}"}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 403, f"a PAT does not read the owner's decisions: {response.text}"


def test_an_organisation_reads_its_own_decisions(uma, scene):
    """A client-owned organisation gets its `uma_policy` token by client credentials."""
    org_api = ProtectionApi(uma, client_credentials_pat(uma, scene.rs))
    ledger = org_api.register(["view"], name="Ledger")
    scene.share("everything", 'permit (principal, action, resource);\n', owner=scene.rs.client_id)
    scene.client.rpt(scene.ticket((ledger, ["view"]), api=org_api))
    with oauth_session(uma, scene.rs, scope="uma_policy") as session:
        token = session.fetch_token(uma.endpoint("token_endpoint"), grant_type="client_credentials")
    entries = PolicyApi(uma, token["access_token"]).decisions().json()
    assert [(e["resource_id"], e["answer"]) for e in entries] == [(ledger, "permit")], entries
    assert [e["resource_id"] for e in cli_decisions(uma, scene.rs.client_id)] == [ledger]
