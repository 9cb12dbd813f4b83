"""Persisted claims tokens (G §3.3.1, §3.3.5; issue 3 point 6): returned with the RPT when a claim token was used,
reusable by the same client for later tickets on other resources and other resource servers without pushing
claims again, useless to another client, opaque, and revocable with `token_type_hint=pct`."""

import base64
import binascii

import pytest

from support import ProtectionApi, consent_flow
from uma_support import (
    UmaClient, assert_need_info, assert_revocation_refused_or_ignored, assert_rpt_claims,
    email_policy, introspect_rpt, )


@pytest.fixture
def bob(scene):
    party = scene.party("bob")
    scene.share("bob-views", email_policy(["view"], [party.email]))
    return party


@pytest.fixture
def pct(scene, bob):
    """Bob's PCT at the app, from a first grant with his ID token."""
    checking = scene.register(["view"], name="Checking")
    token = scene.rpt_for(bob, (checking, ["view"]))
    assert isinstance(token.get("pct"), str) and len(token["pct"]) >= 16, token
    assert token["pct"] != token["access_token"]
    return token["pct"]


def test_pct_reused_for_another_resource_without_claims(scene, pct):
    savings = scene.register(["view"], name="Savings")
    ticket = scene.ticket((savings, ["view"]))
    # Without the PCT (and without claims), the same request needs Bob's email...
    assert_need_info(scene.client.grant(ticket), ticket)
    # ... with it, the app gets the RPT without pushing the ID token again.
    token = scene.client.rpt(scene.ticket((savings, ["view"])), pct=pct)
    assert_rpt_claims(scene.server, token, rs=scene.rs, client=scene.app, expected={savings: {"view"}})


def test_pct_reused_at_another_resource_server(uma, scene, pct):
    brokerage = uma.admin.add_client("rs", name="Brokerage")
    other_pat = consent_flow(uma, brokerage, scene.alice, scope="uma_protection").token["access_token"]
    other_api = ProtectionApi(uma, other_pat)
    portfolio = other_api.register(["view"], name="Portfolio")
    token = scene.client.rpt(scene.ticket((portfolio, ["view"]), api=other_api), pct=pct)
    assert_rpt_claims(uma, token, rs=brokerage, client=scene.app, expected={portfolio: {"view"}})
    assert introspect_rpt(uma, token["access_token"], pat=other_pat)["active"] is True
    assert introspect_rpt(uma, token["access_token"], pat=scene.pat) == {"active": False}, \
        "the RPT is for the brokerage, not the bank"


def test_another_clients_use_of_the_pct_does_not_grant(uma, scene, pct):
    savings = scene.register(["view"], name="Savings")
    other = UmaClient(uma, uma.admin.add_client("app"))
    ticket = scene.ticket((savings, ["view"]))
    response = other.grant(ticket, pct=pct)
    assert response.status_code != 200, f"another client's PCT yielded an RPT: {response.text}"
    assert_need_info(response, ticket)
    # The PCT still works for the client it was issued to.
    scene.client.rpt(scene.ticket((savings, ["view"])), pct=pct)


def test_pct_revocation(uma, scene, pct):
    savings = scene.register(["view"], name="Savings")
    stranger = UmaClient(uma, uma.admin.add_client("app"))
    assert_revocation_refused_or_ignored(stranger.revoke(pct, hint="pct"))
    scene.client.rpt(scene.ticket((savings, ["view"])), pct=pct)  # another client cannot revoke it

    response = scene.client.revoke(pct, hint="pct")
    assert response.status_code == 200, response.text
    ticket = scene.ticket((savings, ["view"]))
    assert_need_info(scene.client.grant(ticket, pct=pct), ticket)


def test_no_pct_without_claims(scene):
    anyone = scene.register(["view"], name="Public notes")
    scene.share("public-notes", 'permit (principal, action == Uma::Action::"view", resource)\n'
                                'when { resource has name && resource.name == "Public notes" };\n')
    token = scene.client.rpt(scene.ticket((anyone, ["view"])))
    assert "pct" not in token, f"a PCT persists claims; none were pushed ({token})"


def test_the_pct_reveals_no_claims(uma, scene, bob, pct):
    for part in pct.split("."):
        try:
            decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            continue
        assert bob.email.encode() not in decoded and bob.username.encode() not in decoded, \
            "a PCT holds claims by reference, never by value"
    assert introspect_rpt(uma, pct, pat=scene.pat) == {"active": False}, \
        "a resource server learns nothing from a PCT"

