"""8. A restart on the same data directory keeps clients, users, tokens, resources and signing keys."""

from support import ProtectionApi, assert_inactive, client_credentials_pat, consent_flow, introspect, oauth_session


def test_restart_keeps_clients_tokens_resources_and_keys(make_server):
    server = make_server()
    rs = server.admin.add_client("rs")
    revoked_pat = client_credentials_pat(server, rs)
    pat = client_credentials_pat(server, rs)
    api = ProtectionApi(server, pat)
    ids = {api.register(["read"], name=f"record {n}") for n in range(3)}
    with oauth_session(server, rs) as session:
        assert session.revoke_token(server.endpoint("revocation_endpoint"), token=revoked_pat).status_code == 200
    kids = server.kids()
    issuer = server.issuer

    server.restart()

    assert server.issuer == issuer
    assert server.kids() == kids, "the signing keys must survive a restart"
    body = introspect(server, pat, client=rs).json()
    assert body.get("active") is True and body.get("client_id") == rs.client_id, body
    assert_inactive(introspect(server, revoked_pat, client=rs))
    api = ProtectionApi(server, pat)
    assert set(api.ids()) == ids
    for resource_id in ids:
        assert api.get(resource_id).status_code == 200
    assert client_credentials_pat(server, rs), "the client registered before the restart still authenticates"


def test_restart_keeps_users_and_consented_grants(make_server):
    server = make_server()
    rs = server.admin.add_client("rs")
    user = server.admin.add_user("alice")
    grant = consent_flow(server, rs, user, scope="openid uma_protection")

    server.restart()

    refreshed = grant.session.refresh_token(server.endpoint("token_endpoint"),
                                            refresh_token=grant.token["refresh_token"])
    assert refreshed["access_token"] and refreshed["refresh_token"] != grant.token["refresh_token"]
    again = consent_flow(server, rs, user, scope="openid")
    assert again.token["id_token"], "the user can still log in after a restart"
    assert {u["username"] for u in server.admin.list_json("user")} == {user.username}
