"""RPT upgrade (G §3.3.5.1, issue 3 point 7): a still-valid RPT of the same client and requesting party, presented
with a new ticket, has its permissions merged into the new RPT (`upgraded: true`), and the old RPT is revoked.
An RPT of another requesting party or another client is never merged."""

import time

from uma_support import (
    ID_TOKEN_FORMAT, UmaClient, assert_active_rpt, assert_rpt_claims, decode_rpt, email_policy, introspect_rpt,
    make_scene, permissions_by_resource,
)


def assert_refused_or_not_merged(server, response, expected):
    """Presenting someone else's RPT may be refused outright; if an RPT comes back, nothing was merged into it."""
    if response.status_code != 200:
        assert response.status_code in (400, 403), response.text
        assert response.json().get("error"), response.text
        return
    token = response.json()
    assert token.get("upgraded") is not True, token
    granted = permissions_by_resource(decode_rpt(server, token["access_token"]).claims["permissions"])
    assert granted == expected, f"permissions of someone else's RPT were merged: {granted}"


def permission_exps(rpt_claims: dict) -> dict[str, int]:
    return {p["resource_id"]: p["exp"] for p in rpt_claims["permissions"]}


def test_upgrade_merges_two_resources_and_revokes_the_old_rpt(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    first = scene.rpt_for(bob, (checking, ["view"]))
    first_claims = assert_rpt_claims(uma, first, rs=scene.rs, client=scene.app, expected={checking: {"view"}})

    second = scene.rpt_for(bob, (savings, ["view"]), rpt=first["access_token"])
    assert second.get("upgraded") is True, second
    assert second["access_token"] != first["access_token"]
    both = {checking: {"view"}, savings: {"view"}}
    second_claims = assert_rpt_claims(uma, second, rs=scene.rs, client=scene.app, expected=both)
    assert permission_exps(second_claims)[checking] <= permission_exps(first_claims)[checking], \
        "a merged permission keeps its own expiry: upgrading never extends it"

    assert_active_rpt(introspect_rpt(uma, second["access_token"], pat=scene.pat), server=uma, rs=scene.rs,
                      client=scene.app, expected=both)
    assert introspect_rpt(uma, first["access_token"], pat=scene.pat) == {"active": False}, \
        "the upgraded RPT is revoked"


def test_upgrade_with_a_pct_adds_a_scope_on_the_same_resource(uma, scene, bob):
    checking = scene.register(["view", "transfer"], name="Checking")
    scene.share("bob-all", email_policy(["view", "transfer"], [bob.email]))
    first = scene.rpt_for(bob, (checking, ["view"]))
    second = scene.client.rpt(scene.ticket((checking, ["transfer"])), pct=first["pct"], rpt=first["access_token"])
    assert second.get("upgraded") is True, second
    assert_rpt_claims(uma, second, rs=scene.rs, client=scene.app, expected={checking: {"view", "transfer"}})
    assert introspect_rpt(uma, first["access_token"], pat=scene.pat) == {"active": False}


def test_no_upgrade_without_an_rpt(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    first = scene.rpt_for(bob, (checking, ["view"]))
    second = scene.client.rpt(scene.ticket((checking, ["view"])), pct=first["pct"])
    assert second.get("upgraded") in (None, False), second
    assert introspect_rpt(uma, first["access_token"], pat=scene.pat)["active"] is True, \
        "an RPT not presented for upgrade stays valid"


def test_another_partys_rpt_is_never_merged(uma, scene, bob):
    carol = scene.party("carol")
    checking = scene.register(["view"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-checking", email_policy(["view"], [bob.email], resource_name="Checking"))
    scene.share("carol-savings", email_policy(["view"], [carol.email], resource_name="Savings"))
    bobs = scene.rpt_for(bob, (checking, ["view"]))
    response = scene.client.grant(scene.ticket((savings, ["view"])), claim_token=scene.id_token(carol),
                                  claim_token_format=ID_TOKEN_FORMAT, rpt=bobs["access_token"])
    assert_refused_or_not_merged(uma, response, {savings: {"view"}})


def test_another_clients_rpt_is_never_merged(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    theirs = scene.rpt_for(bob, (checking, ["view"]))
    other_app = uma.admin.add_client("app")
    other = UmaClient(uma, other_app)
    response = other.grant(scene.ticket((savings, ["view"])), claim_token=scene.id_token(bob, client=other_app),
                           claim_token_format=ID_TOKEN_FORMAT, rpt=theirs["access_token"])
    assert_refused_or_not_merged(uma, response, {savings: {"view"}})


def test_an_expired_rpt_is_not_merged(make_server, tmp_path):
    config = tmp_path / "short-rpt.toml"
    config.write_text("rpt_ttl = 1\n")
    server = make_server("--config", str(config))
    scene = make_scene(server, tmp_path)
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    first = scene.rpt_for(bob, (checking, ["view"]))
    time.sleep(2.2)
    assert introspect_rpt(server, first["access_token"], pat=scene.pat) == {"active": False}
    second = scene.client.rpt(scene.ticket((savings, ["view"])), pct=first["pct"], rpt=first["access_token"])
    granted = permissions_by_resource(decode_rpt(server, second["access_token"]).claims["permissions"])
    assert granted == {savings: {"view"}}, f"an expired RPT's permissions were carried over: {granted}"
