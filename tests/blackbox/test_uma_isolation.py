"""Owner isolation in the UMA grant (design: "Rules the design must keep"; issue 3): a permission on an owner's
resource is decided by that owner's policies only. Another owner's `permit(principal, action, resource);` never
grants on it: not another user's, not a client-owned organisation's at the same resource server."""

from support import ProtectionApi, client_credentials_pat
from uma_support import (
    PERMIT_ALL, assert_request_denied, assert_rpt_claims, email_policy,
)


def test_another_users_permit_all_never_grants_on_alices_resource(scene):
    checking = scene.register(["view"], name="Checking")
    mallory = scene.party("mallory")
    scene.share("everything", PERMIT_ALL, owner=mallory.username)
    bob = scene.party("bob")
    assert_request_denied(scene.client.grant(scene.ticket((checking, ["view"]))))
    assert_request_denied(scene.client.with_id_token(scene.ticket((checking, ["view"])), scene.id_token(bob)))


def test_another_owners_permit_all_does_not_widen_alices_policy(scene):
    checking = scene.register(["view", "transfer"], name="Checking")
    bob, carol = scene.party("bob"), scene.party("carol")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    scene.share("everything", PERMIT_ALL, owner=scene.party("mallory").username)
    assert_request_denied(scene.client.with_id_token(scene.ticket((checking, ["view"])), scene.id_token(carol)))
    token = scene.rpt_for(bob, (checking, ["view", "transfer"]))
    assert_rpt_claims(scene.server, token, rs=scene.rs, client=scene.app, expected={checking: {"view"}})


def test_the_organisations_policies_never_reach_a_users_resources_at_its_server(uma, scene):
    """The resource server's own (client-owned) policy set and Alice's are two owners' sets, both ways."""
    alices = scene.register(["view"], name="Checking")
    org_api = ProtectionApi(uma, client_credentials_pat(uma, scene.rs))
    orgs = org_api.register(["view"], name="Branch ledger")
    scene.share("everything", PERMIT_ALL, owner=scene.rs.client_id)
    bob = scene.party("bob")

    # The organisation's permit-all opens its own resource...
    token = scene.client.rpt(scene.ticket((orgs, ["view"]), api=org_api))
    assert_rpt_claims(uma, token, rs=scene.rs, client=scene.app, expected={orgs: {"view"}})
    # ... and nothing of Alice's.
    assert_request_denied(scene.client.with_id_token(scene.ticket((alices, ["view"])), scene.id_token(bob)))

    # Alice's permit-all opens hers, and nothing of the organisation's once its own policy is gone.
    scene.share("everything", PERMIT_ALL)
    scene.server.admin.run("policy", "remove", "--data-dir", str(uma.data_dir), "--owner", scene.rs.client_id,
                           "everything")
    scene.client.rpt(scene.ticket((alices, ["view"])))
    assert_request_denied(scene.client.grant(scene.ticket((orgs, ["view"]), api=org_api)))
