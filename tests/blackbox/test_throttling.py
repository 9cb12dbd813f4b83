"""Throttling of failed authentications (issue 7, finding 2), seen from outside: after the allowed failures for
one client id (or username) from one address, even the right secret (or password) gets 429 with `Retry-After`."""

from dataclasses import replace

import pytest
import requests
from authlib.integrations.base_client import OAuthError

from support import HTTP_TIMEOUT, PAT_SCOPE, Browser, Page, oauth_session

# The server's defaults: 10 failures per pair within 900 seconds.
DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW = 900


def fetch_pat(server, client, method="client_secret_basic"):
    with oauth_session(server, client, scope=PAT_SCOPE, auth_method=method) as session:
        return session.fetch_token(server.endpoint("token_endpoint"), grant_type="client_credentials")


def assert_retry_after(response, window):
    value = response.headers.get("Retry-After", "")
    assert value.isdigit() and 0 < int(value) <= window, f"Retry-After: {value!r}"


def test_ten_wrong_client_secrets_then_the_right_one_gets_429(uma):
    client = uma.admin.add_client()
    impostor = replace(client, secret="wrong-" + client.secret)
    for _ in range(DEFAULT_MAX_FAILURES):
        with pytest.raises(OAuthError) as failure:
            fetch_pat(uma, impostor)
        assert failure.value.error == "invalid_client"

    response = requests.post(
        uma.endpoint("token_endpoint"), data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret), timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 429, response.text
    assert_retry_after(response, DEFAULT_WINDOW)
    assert response.headers.get("Cache-Control") == "no-store"
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert "retry after" in body["error_description"]
    assert "access_token" not in body

    # Authlib surfaces it as an OAuth error too, with either authentication method.
    for method in ("client_secret_basic", "client_secret_post"):
        with pytest.raises(OAuthError) as failure:
            fetch_pat(uma, client, method)
        assert failure.value.error == "temporarily_unavailable"

    # The same client's introspection and revocation calls from this address are blocked as well.
    for endpoint in ("introspection_endpoint", "revocation_endpoint"):
        blocked = requests.post(uma.endpoint(endpoint), data={"token": "x"},
                                auth=(client.client_id, client.secret), timeout=HTTP_TIMEOUT)
        assert blocked.status_code == 429, f"{endpoint}: {blocked.text}"
        assert_retry_after(blocked, DEFAULT_WINDOW)

    # Another client is not affected.
    assert fetch_pat(uma, uma.admin.add_client())["access_token"]


def test_wrong_passwords_then_the_right_one_gets_429_at_the_login_form(make_server):
    window = 120
    server = make_server("--login-max-failures", "3", "--login-failure-window", str(window))
    rs = server.admin.add_client("rs")
    alice = server.admin.add_user("alice")
    bob = server.admin.add_user("bob")

    browser = Browser(server)
    session = oauth_session(server, rs, scope=PAT_SCOPE)
    url, _ = session.create_authorization_url(server.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    page = Page.of(browser.settle(browser.get(url)))
    for _ in range(3):
        answer = browser.settle(browser.login(page, alice, password="not-" + alice.password))
        assert answer.status_code == 200, answer.text
        page = Page.of(answer)
        assert page.login_form() is not None, "a failed login shows the login page again"

    blocked = browser.login(page, alice)
    assert blocked.status_code == 429, blocked.text
    assert blocked.headers.get("Content-Type", "").startswith("text/html")
    assert_retry_after(blocked, window)
    assert not any(c.name.endswith("uma_session") for c in browser.http.cookies), "no session after a 429"

    # Another username from the same address signs in.
    consent = browser.settle(browser.login(page, bob))
    assert Page.of(consent).consent_form("allow") is not None, consent.text
