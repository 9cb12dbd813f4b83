"""Narrowing (issue 3 point 8, G §6.1): when the owner narrows or removes a policy, RPTs already issued stop granting
what the new policies deny at once: the resource server's introspection drops the permission, or answers
inactive when none is left. Changes come from the CLI or the policy API while the server runs."""

from support import assert_error, client_credentials_pat
from uma_support import (
    PolicyApi, assert_active_rpt, email_policy, introspect_rpt, owner_token,
    permissions_by_resource, remove_policy,
)


def bobs_rpt(scene, bob, *permissions):
    return scene.rpt_for(bob, *permissions)["access_token"]


def test_removing_the_policy_with_the_cli_deactivates_the_rpt(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    rpt = bobs_rpt(scene, bob, (checking, ["view"]))
    assert_active_rpt(introspect_rpt(uma, rpt, pat=scene.pat), server=uma, rs=scene.rs, client=scene.app,
                      expected={checking: {"view"}})

    remove_policy(uma, scene.alice.username, "bob-views")
    assert introspect_rpt(uma, rpt, pat=scene.pat) == {"active": False}
    assert introspect_rpt(uma, rpt, client=scene.rs) == {"active": False}


def test_narrowing_with_the_cli_drops_only_what_is_no_longer_permitted(uma, scene, bob):
    checking = scene.register(["view", "transfer"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-banking", email_policy(["view", "transfer"], [bob.email]))
    rpt = bobs_rpt(scene, bob, (checking, ["view", "transfer"]), (savings, ["view"]))
    assert_active_rpt(introspect_rpt(uma, rpt, pat=scene.pat), server=uma, rs=scene.rs, client=scene.app,
                      expected={checking: {"view", "transfer"}, savings: {"view"}})

    # Same file name: the push replaces the policy. Bob keeps `view` on the checking account only.
    scene.share("bob-banking", email_policy(["view"], [bob.email], resource_name="Checking"))
    assert_active_rpt(introspect_rpt(uma, rpt, pat=scene.pat), server=uma, rs=scene.rs, client=scene.app,
                      expected={checking: {"view"}})


def test_deleting_the_policy_over_http_deactivates_the_rpt(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    dashboard = uma.admin.add_client("dashboard")
    policies = PolicyApi(uma, owner_token(uma, dashboard, scene.alice))
    created = policies.put("bob-views", email_policy(["view"], [bob.email]))
    assert created.status_code == 201, created.text
    rpt = bobs_rpt(scene, bob, (checking, ["view"]))
    assert introspect_rpt(uma, rpt, pat=scene.pat)["active"] is True

    deleted = policies.delete("bob-views")
    assert deleted.status_code == 204, deleted.text
    assert introspect_rpt(uma, rpt, pat=scene.pat) == {"active": False}


def test_narrowing_over_http(uma, scene, bob):
    checking = scene.register(["view", "transfer"], name="Checking")
    dashboard = uma.admin.add_client("dashboard")
    policies = PolicyApi(uma, owner_token(uma, dashboard, scene.alice))
    assert policies.put("bob-banking", email_policy(["view", "transfer"], [bob.email])).status_code == 201
    rpt = bobs_rpt(scene, bob, (checking, ["view", "transfer"]))
    replaced = policies.put("bob-banking", email_policy(["view"], [bob.email]))
    assert replaced.status_code == 200, replaced.text
    body = introspect_rpt(uma, rpt, pat=scene.pat)
    assert body.get("active") is True, body
    assert permissions_by_resource(body["permissions"]) == {checking: {"view"}}, body


def test_a_resource_server_pat_cannot_change_policies(uma, scene, bob):
    """Only the owner narrows or widens: a PAT (uma_protection alone) is refused by the policy API."""
    for token in (scene.pat, client_credentials_pat(uma, scene.rs)):
        response = PolicyApi(uma, token).put("rs-wants-it", 'permit (principal, action, resource);\n')
        assert_error(response, 403, "insufficient_scope")


def test_deleting_a_resource_drops_its_permission(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    rpt = bobs_rpt(scene, bob, (checking, ["view"]), (savings, ["view"]))
    assert scene.api.delete(savings).status_code in (200, 204)
    body = introspect_rpt(uma, rpt, pat=scene.pat)
    assert body.get("active") is True, body
    assert permissions_by_resource(body["permissions"]) == {checking: {"view"}}, body


def test_an_other_owners_policy_change_leaves_the_rpt_alone(uma, scene, bob):
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    rpt = bobs_rpt(scene, bob, (checking, ["view"]))
    mallory = scene.party("mallory")
    # Mallory forbids everything, in a policy of the same name: her policies decide only her resources.
    scene.share("bob-views", 'forbid (principal, action, resource);\n', owner=mallory.username)
    assert_active_rpt(introspect_rpt(uma, rpt, pat=scene.pat), server=uma, rs=scene.rs, client=scene.app,
                      expected={checking: {"view"}})
