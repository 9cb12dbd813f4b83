"""5. Isolation: a PAT reaches only the resources of its own (owner, resource server) pair."""

from support import ProtectionApi, assert_error, client_credentials_pat, owner_pat


def assert_invisible(api: ProtectionApi, resource_id: str):
    """`api` must neither see nor change nor ticket `resource_id`."""
    assert resource_id not in api.ids()
    assert_error(api.get(resource_id), 404, "not_found")
    assert_error(api.put(resource_id, {"resource_scopes": ["read"], "name": "hijacked"}), 404, "not_found")
    assert_error(api.delete(resource_id), 404, "not_found")
    assert_error(api.ticket({"resource_id": resource_id, "resource_scopes": ["read"]}), 400, "invalid_resource_id")


def assert_untouched(api: ProtectionApi, resource_id: str, name: str):
    read = api.get(resource_id)
    assert read.status_code == 200, read.text
    assert read.json()["name"] == name


def test_two_organisations(uma):
    org_a = ProtectionApi(uma, client_credentials_pat(uma, uma.admin.add_client("org")))
    org_b = ProtectionApi(uma, client_credentials_pat(uma, uma.admin.add_client("org")))
    a_id = org_a.register(["read"], name="A's ledger")
    b_id = org_b.register(["read"], name="B's ledger")
    assert_invisible(org_b, a_id)
    assert_invisible(org_a, b_id)
    assert org_a.ids() == [a_id] and org_b.ids() == [b_id]
    assert_untouched(org_a, a_id, "A's ledger")


def test_two_owners_at_one_resource_server(uma):
    rs = uma.admin.add_client("bank")
    alice = ProtectionApi(uma, owner_pat(uma, rs, uma.admin.add_user("alice")))
    bob = ProtectionApi(uma, owner_pat(uma, rs, uma.admin.add_user("bob")))
    a_id = alice.register(["view"], name="Checking")
    b_id = bob.register(["view"], name="Savings")
    assert_invisible(bob, a_id)
    assert_invisible(alice, b_id)
    assert alice.ids() == [a_id] and bob.ids() == [b_id]
    assert_untouched(alice, a_id, "Checking")


def test_one_owner_at_two_resource_servers(uma):
    kate = uma.admin.add_user("kate")
    clinic = ProtectionApi(uma, owner_pat(uma, uma.admin.add_client("clinic"), kate))
    lab = ProtectionApi(uma, owner_pat(uma, uma.admin.add_client("lab"), kate))
    clinic_id = clinic.register(["read"], name="Visit notes")
    lab_id = lab.register(["read"], name="Lab report")
    assert_invisible(lab, clinic_id)
    assert_invisible(clinic, lab_id)
    assert clinic.ids() == [clinic_id] and lab.ids() == [lab_id]
    assert_untouched(clinic, clinic_id, "Visit notes")


def test_the_owner_is_not_the_organisation(uma):
    """A user's PAT and the client's own PAT at the same resource server are two different owners."""
    rs = uma.admin.add_client("rs")
    own = ProtectionApi(uma, client_credentials_pat(uma, rs))
    users = ProtectionApi(uma, owner_pat(uma, rs, uma.admin.add_user("dana")))
    org_id = own.register(["read"], name="Org data")
    user_id = users.register(["read"], name="Dana's data")
    assert_invisible(users, org_id)
    assert_invisible(own, user_id)


def test_a_second_pat_of_the_same_pair_sees_the_same_resources(uma):
    rs = uma.admin.add_client("rs")
    first = ProtectionApi(uma, client_credentials_pat(uma, rs))
    resource_id = first.register(["read"], name="kept")
    second = ProtectionApi(uma, client_credentials_pat(uma, rs))
    assert second.ids() == [resource_id]
