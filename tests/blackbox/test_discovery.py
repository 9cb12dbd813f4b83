"""1. Discovery: RFC 8414 metadata with the UMA 2.0 fields, served at every well-known path; a usable JWKS."""

import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc.jwk import KeySet

from support import HTTP_TIMEOUT, poll

UMA_ENDPOINTS = ("resource_registration_endpoint", "permission_endpoint", "introspection_endpoint")
ALL_ENDPOINTS = (
    "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint",
    "revocation_endpoint", "resource_registration_endpoint", "permission_endpoint",
)
GRANT_TYPES = (
    "authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:uma-ticket",
)


def test_metadata_validates_as_rfc8414(uma):
    metadata = AuthorizationServerMetadata(uma.discovery)
    metadata.validate()
    assert metadata["issuer"] == uma.base_url, "issuer must be the URL the document was fetched from"


def test_uma_fields_and_capabilities(uma):
    doc = uma.discovery
    for name in ALL_ENDPOINTS:
        url = doc.get(name)
        assert isinstance(url, str) and url.startswith(("http://", "https://")), f"{name}: {url!r}"
    for name in UMA_ENDPOINTS:
        assert name in doc
    assert set(GRANT_TYPES) <= set(doc["grant_types_supported"])
    assert {"uma_protection", "openid", "email", "profile"} <= set(doc["scopes_supported"])
    assert "S256" in doc["code_challenge_methods_supported"]
    assert "plain" not in doc["code_challenge_methods_supported"]
    assert "code" in doc["response_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(doc["token_endpoint_auth_methods_supported"])


def test_no_registration_endpoint_without_initial_access_token(uma):
    assert "registration_endpoint" not in uma.discovery


def test_same_document_at_every_well_known_path(uma):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = requests.get(uma.issuer + path, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, path
        assert response.json() == uma.discovery, path


def test_jwks_keys_are_signing_keys_with_ids(uma):
    response = requests.get(uma.endpoint("jwks_uri"), timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    jwks = response.json()
    assert jwks["keys"], "the JWKS holds no key"
    kids = [key.get("kid") for key in jwks["keys"]]
    assert all(kids) and len(set(kids)) == len(kids), f"kids must be present and distinct: {kids}"
    for key in jwks["keys"]:
        assert key.get("use") == "sig", key
        assert key.get("alg") in ("ES256", "RS256"), key
        assert "d" not in key and "p" not in key, "the JWKS must not publish private key material"
    key_set = KeySet.import_key_set(jwks)
    assert {key.kid for key in key_set.keys} == set(kids)


def fresh_metadata(server) -> dict:
    response = requests.get(server.issuer + "/.well-known/oauth-authorization-server", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    return response.json()


def test_metadata_says_the_authorization_response_carries_iss(uma):
    # RFC 9207 §2.3: a server that sends `iss` in authorization responses says so.
    assert uma.discovery.get("authorization_response_iss_parameter_supported") is True


def advertised_and_published_algs(server) -> tuple[set[str], set[str]]:
    doc = fresh_metadata(server)
    advertised = {
        alg for name, values in doc.items() if name.endswith("_alg_values_supported") for alg in values
    }
    published = {key["alg"] for key in server.jwks()["keys"]}
    return advertised, published


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_only_algorithms_of_published_keys_are_advertised(make_server, alg):
    server = make_server("--signing-alg", alg)
    advertised, published = advertised_and_published_algs(server)
    assert published == {alg}
    assert advertised == {alg}, f"only {alg} keys exist, yet the metadata advertises {advertised}"
    assert fresh_metadata(server)["id_token_signing_alg_values_supported"] == [alg]


def test_advertised_algorithms_follow_a_key_rotation(make_server):
    server = make_server("--signing-alg", "ES256")
    server.admin.rotate_keys("RS256")
    both = poll(lambda: advertised_and_published_algs(server)[0] == {"ES256", "RS256"}, timeout=5.0)
    assert both, f"after rotating to RS256 the metadata advertises {advertised_and_published_algs(server)[0]}"
    # The new signing key's algorithm comes first.
    assert fresh_metadata(server)["id_token_signing_alg_values_supported"][0] == "RS256"
