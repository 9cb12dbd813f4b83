"""7. Token introspection (RFC 7662, Federated Authorization §5) and revocation (RFC 7009)."""

import time

import pytest
import requests
from authlib.integrations.base_client import OAuthError

from support import (
    HTTP_TIMEOUT, PAT_SCOPE, ProtectionApi, assert_error, assert_inactive, client_credentials_pat, consent_flow,
    introspect, oauth_session, poll,
)


@pytest.fixture
def rs(uma):
    return uma.admin.add_client("rs")


def assert_active_pat(response, client_id):
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("active") is True, body
    assert body.get("client_id") == client_id
    assert PAT_SCOPE in body.get("scope", "").split()
    assert body.get("exp", 0) > time.time()
    return body


def test_introspection_with_a_pat(uma, rs):
    caller = client_credentials_pat(uma, rs)
    other_pat = client_credentials_pat(uma, rs)
    assert_active_pat(introspect(uma, other_pat, bearer=caller), rs.client_id)
    assert_active_pat(introspect(uma, caller, bearer=caller), rs.client_id)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_introspection_with_client_credentials(uma, method):
    rs = uma.admin.add_client("rs", auth_method=method)
    pat = client_credentials_pat(uma, rs)
    with oauth_session(uma, rs) as session:
        response = session.introspect_token(uma.endpoint("introspection_endpoint"), token=pat)
    assert_active_pat(response, rs.client_id)
    with oauth_session(uma, rs, auth_method="client_secret_basic" if method == "client_secret_post"
                       else "client_secret_post") as session:
        refused = session.introspect_token(uma.endpoint("introspection_endpoint"), token=pat)
    assert_error(refused, 401, "invalid_client")


def test_owner_consented_pat(uma, rs):
    user = uma.admin.add_user("olga")
    token = consent_flow(uma, rs, user, scope=PAT_SCOPE).token
    assert_active_pat(introspect(uma, token["access_token"], client=rs), rs.client_id)
    assert_inactive(introspect(uma, token["access_token"], client=uma.admin.add_client("rs")))
    assert_inactive(introspect(uma, token["refresh_token"], client=uma.admin.add_client("rs")))


def test_tokens_of_other_clients_are_inactive(uma, rs):
    stranger = uma.admin.add_client("rs")
    pat = client_credentials_pat(uma, rs)
    assert_inactive(introspect(uma, pat, bearer=client_credentials_pat(uma, stranger)))
    assert_inactive(introspect(uma, pat, client=stranger))


def test_unknown_tokens_are_inactive(uma, rs):
    assert_inactive(introspect(uma, "no-such-token", client=rs))
    assert_inactive(introspect(uma, "no-such-token", bearer=client_credentials_pat(uma, rs)))


def test_introspection_needs_authentication(uma, rs):
    pat = client_credentials_pat(uma, rs)
    url = uma.endpoint("introspection_endpoint")
    assert requests.post(url, data={"token": pat}, timeout=HTTP_TIMEOUT).status_code == 401
    forged = requests.post(url, data={"token": pat}, headers={"Authorization": "Bearer forged"},
                           timeout=HTTP_TIMEOUT)
    assert forged.status_code == 401


def test_revoked_access_token(uma, rs):
    pat = client_credentials_pat(uma, rs)
    api = ProtectionApi(uma, pat)
    assert api.list().status_code == 200
    with oauth_session(uma, rs) as session:
        response = session.revoke_token(uma.endpoint("revocation_endpoint"), token=pat,
                                        token_type_hint="access_token")
    assert response.status_code == 200, response.text
    assert_inactive(introspect(uma, pat, client=rs))
    assert_error(api.list(), 401, "invalid_token")


def test_revoking_a_refresh_token_revokes_its_grant(uma, rs):
    user = uma.admin.add_user("rita")
    grant = consent_flow(uma, rs, user, scope=PAT_SCOPE)
    token = grant.token
    response = grant.session.revoke_token(uma.endpoint("revocation_endpoint"), token=token["refresh_token"],
                                          token_type_hint="refresh_token")
    assert response.status_code == 200, response.text
    assert_inactive(introspect(uma, token["access_token"], client=rs))
    with pytest.raises(OAuthError) as failure:
        grant.session.refresh_token(uma.endpoint("token_endpoint"), refresh_token=token["refresh_token"])
    assert failure.value.error == "invalid_grant"


def test_refresh_token_reuse_revokes_issued_access_tokens(uma, rs):
    user = uma.admin.add_user("rudi")
    grant = consent_flow(uma, rs, user, scope=PAT_SCOPE)
    first = dict(grant.token)
    token_endpoint = uma.endpoint("token_endpoint")
    second = grant.session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert_active_pat(introspect(uma, second["access_token"], client=rs), rs.client_id)
    with pytest.raises(OAuthError):
        grant.session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert_inactive(introspect(uma, second["access_token"], client=rs))


def test_unknown_token_revocation_succeeds(uma, rs):
    with oauth_session(uma, rs) as session:
        response = session.revoke_token(uma.endpoint("revocation_endpoint"), token="no-such-token")
    assert response.status_code == 200


def test_revocation_needs_client_authentication(uma, rs):
    pat = client_credentials_pat(uma, rs)
    response = requests.post(uma.endpoint("revocation_endpoint"), data={"token": pat}, timeout=HTTP_TIMEOUT)
    assert_error(response, 401, "invalid_client")
    assert_active_pat(introspect(uma, pat, client=rs), rs.client_id)


def test_a_client_cannot_revoke_another_clients_token(uma, rs):
    pat = client_credentials_pat(uma, rs)
    with oauth_session(uma, uma.admin.add_client("rs")) as session:
        session.revoke_token(uma.endpoint("revocation_endpoint"), token=pat)
    assert_active_pat(introspect(uma, pat, client=rs), rs.client_id)


def test_expired_pat_is_inactive(make_server):
    server = make_server("--access-token-ttl", "1")
    client = server.admin.add_client("rs")
    with oauth_session(server, client, scope=PAT_SCOPE) as session:
        token = session.fetch_token(server.endpoint("token_endpoint"), grant_type="client_credentials")
    assert token["expires_in"] == 1
    expired = poll(lambda: introspect(server, token["access_token"], client=client).json() == {"active": False},
                   timeout=5)
    assert expired, "the PAT is still active well after its lifetime"
    assert_error(ProtectionApi(server, token["access_token"]).list(), 401, "invalid_token")
