"""10. Dynamic client registration (RFC 7591) with `claims_redirect_uris` (UMA Grant §2)."""

import pytest
import requests
from authlib.common.security import generate_token

from support import HTTP_TIMEOUT, Client, ProtectionApi, assert_error, client_credentials_pat

METADATA = {
    "client_name": "Dynamic Photo Store",
    "redirect_uris": ["https://photos.example/callback"],
    "claims_redirect_uris": ["https://photos.example/claims"],
    # A resource server (client credentials PAT) that is also a UMA client (claims redirect URIs).
    "grant_types": ["client_credentials", "urn:ietf:params:oauth:grant-type:uma-ticket"],
    "token_endpoint_auth_method": "client_secret_basic",
}


@pytest.fixture
def initial_token():
    return generate_token(32)


@pytest.fixture
def dcr(make_server, initial_token):
    return make_server("--initial-access-token", initial_token)


def register(server, token, metadata):
    return requests.post(server.endpoint("registration_endpoint"), json=metadata,
                         headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)


def test_register_then_get_a_pat(dcr, initial_token):
    response = register(dcr, initial_token, METADATA)
    assert response.status_code == 201, response.text
    assert response.headers.get("Cache-Control") == "no-store"
    body = response.json()
    assert body["client_id"] and body["client_secret"]
    assert body["claims_redirect_uris"] == METADATA["claims_redirect_uris"]
    assert body["redirect_uris"] == METADATA["redirect_uris"]
    assert body["client_name"] == METADATA["client_name"]

    stored = {c["client_id"]: c for c in dcr.admin.list_json("client")}
    assert stored[body["client_id"]]["claims_redirect_uris"] == METADATA["claims_redirect_uris"]

    client = Client(body["client_id"], body["client_secret"], METADATA["redirect_uris"][0])
    pat = client_credentials_pat(dcr, client)
    assert ProtectionApi(dcr, pat).ids() == []


def test_registration_needs_the_initial_access_token(dcr):
    url = dcr.endpoint("registration_endpoint")
    assert requests.post(url, json=METADATA, timeout=HTTP_TIMEOUT).status_code == 401
    assert_error(register(dcr, "wrong-token", METADATA), 401, "invalid_token")


def test_bad_redirect_uri_is_refused(dcr, initial_token):
    metadata = dict(METADATA, redirect_uris=["https://photos.example/cb#fragment"])
    assert_error(register(dcr, initial_token, metadata), 400, ("invalid_redirect_uri", "invalid_client_metadata"))
    metadata = dict(METADATA, claims_redirect_uris=["not a uri"])
    assert_error(register(dcr, initial_token, metadata), 400, ("invalid_redirect_uri", "invalid_client_metadata"))


DANGEROUS_REDIRECTS = (
    "javascript://photos.example/%0aalert(document.cookie)",
    "JAVASCRIPT://photos.example/%0aalert(1)",
    "data://photos.example/text/html,x",
    "vbscript://photos.example/msgbox",
    "file:///etc/passwd",
)


@pytest.mark.parametrize("field", ["redirect_uris", "claims_redirect_uris"])
@pytest.mark.parametrize("uri", DANGEROUS_REDIRECTS)
def test_redirect_uris_that_run_code_are_refused(dcr, initial_token, field, uri):
    metadata = dict(METADATA, **{field: [uri]})
    body = assert_error(register(dcr, initial_token, metadata), 400, "invalid_redirect_uri")
    assert "scheme" in body.get("error_description", ""), body


def test_native_app_redirect_uris_are_still_accepted(dcr, initial_token):
    # RFC 8252 §7: a private-use scheme and a loopback address.
    uris = ["com.example.photos:/oauth2redirect", "http://127.0.0.1:53123/callback"]
    response = register(dcr, initial_token, dict(METADATA, redirect_uris=uris))
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == uris


def test_fragment_in_claims_redirect_uri_is_refused(dcr, initial_token):
    metadata = dict(METADATA, claims_redirect_uris=["https://photos.example/claims#x"])
    body = assert_error(register(dcr, initial_token, metadata), 400, "invalid_redirect_uri")
    assert "fragment" in body.get("error_description", ""), body
