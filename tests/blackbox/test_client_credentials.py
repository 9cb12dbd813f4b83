"""2. PATs for a resource server that owns its resources: the client credentials grant."""

import base64
from dataclasses import replace

import pytest
import requests
from authlib.integrations.base_client import OAuthError

from support import HTTP_TIMEOUT, PAT_SCOPE, oauth_session


def recorded(session):
    """Records the token requests a session sends, to check how it authenticated."""
    sent = []
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response))
    return sent


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_issue_a_pat(uma, method):
    client = uma.admin.add_client(auth_method=method)
    with oauth_session(uma, client, scope=PAT_SCOPE, auth_method=method) as session:
        sent = recorded(session)
        token = session.fetch_token(uma.endpoint("token_endpoint"), grant_type="client_credentials")
    request = sent[-1].request
    if method == "client_secret_basic":
        expected = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected}"
    else:
        assert "Authorization" not in request.headers
        assert "client_secret=" in request.body
    assert sent[-1].headers.get("Cache-Control") == "no-store"
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"]
    assert token["expires_in"] > 0
    assert PAT_SCOPE in token["scope"].split()
    assert "refresh_token" not in token, "RFC 6749 §4.4.3: no refresh token for client credentials"


def test_scope_defaults_to_uma_protection(uma):
    client = uma.admin.add_client()
    response = requests.post(
        uma.endpoint("token_endpoint"), data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret), timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"].split() == [PAT_SCOPE]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_wrong_secret_is_invalid_client(uma, method):
    client = uma.admin.add_client(auth_method=method)
    impostor = replace(client, secret=client.secret + "x")
    with oauth_session(uma, impostor, scope=PAT_SCOPE, auth_method=method) as session:
        sent = recorded(session)
        with pytest.raises(OAuthError) as failure:
            session.fetch_token(uma.endpoint("token_endpoint"), grant_type="client_credentials")
    assert failure.value.error == "invalid_client"
    assert sent[-1].status_code == 401
    assert sent[-1].headers.get("Cache-Control") == "no-store"
    if method == "client_secret_basic":
        assert sent[-1].headers.get("WWW-Authenticate", "").lower().startswith("basic")


@pytest.mark.parametrize("registered,used", [
    ("client_secret_basic", "client_secret_post"),
    ("client_secret_post", "client_secret_basic"),
])
def test_a_client_authenticates_only_with_the_method_it_registered(uma, registered, used):
    """RFC 7591 §2, RFC 6749 §2.3: the right secret sent the other way is invalid_client."""
    client = uma.admin.add_client(auth_method=registered)
    with oauth_session(uma, client, scope=PAT_SCOPE, auth_method=used) as session:
        sent = recorded(session)
        with pytest.raises(OAuthError) as failure:
            session.fetch_token(uma.endpoint("token_endpoint"), grant_type="client_credentials")
    assert failure.value.error == "invalid_client"
    assert registered in failure.value.description
    assert sent[-1].status_code == 401
    challenge = sent[-1].headers.get("WWW-Authenticate", "").lower()
    assert challenge.startswith("basic") == (used == "client_secret_basic")


def test_unknown_client_is_invalid_client(uma):
    response = requests.post(
        uma.endpoint("token_endpoint"), data={"grant_type": "client_credentials"},
        auth=("nobody-registered-this", "0123456789abcdef0123"), timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
