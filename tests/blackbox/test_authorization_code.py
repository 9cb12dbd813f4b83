"""3. Owner-consented PATs: the authorization code flow with PKCE through the real login and consent pages,
the ID token verified against the JWKS, refresh token rotation, and the login page's answer to a bad password."""

import base64
import json
from dataclasses import replace

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from support import PAT_SCOPE, Browser, Page, User, authorize, consent_flow, oauth_session, query_of, same_origin

OIDC_SCOPE = f"openid email profile {PAT_SCOPE}"


@pytest.fixture
def rs(uma):
    return uma.admin.add_client("rs", name="Photo Store")


@pytest.fixture
def alice(uma):
    return uma.admin.add_user("alice")


def decode_id_token(server, id_token):
    keys = KeySet.import_key_set(server.jwks())
    return jwt.decode(id_token, keys, algorithms=["ES256", "RS256"])


def test_consent_with_pkce_issues_pat_and_id_token(uma, rs, alice):
    grant = authorize(uma, rs, alice, scope=OIDC_SCOPE)
    request = query_of(grant.url)
    assert request["code_challenge"] == create_s256_code_challenge(grant.verifier)
    assert request["code_challenge_method"] == "S256"
    answer = query_of(grant.redirect)
    assert answer["state"] == grant.state
    assert answer["iss"] == uma.issuer, "RFC 9207: the redirect names the issuer"
    assert answer.get("code")

    token = grant.redeem(uma)
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["refresh_token"]
    assert {PAT_SCOPE, "openid"} <= set(token["scope"].split())

    id_token = decode_id_token(uma, token["id_token"])
    assert id_token.header["alg"] == "ES256"
    assert id_token.header["kid"] in uma.kids()
    JWTClaimsRegistry(
        iss={"essential": True, "value": uma.issuer},
        aud={"essential": True, "value": rs.client_id},
        sub={"essential": True, "value": alice.username},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": grant.nonce},
        email={"essential": True, "value": alice.email},
        name={"essential": True, "value": alice.name},
    ).validate(id_token.claims)


def test_id_token_signature_is_checked(uma, rs, alice):
    token = consent_flow(uma, rs, alice, scope="openid email").token
    header, payload, signature = token["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    decode_id_token(uma, token["id_token"])
    with pytest.raises(BadSignatureError):
        decode_id_token(uma, f"{header}.{forged}.{signature}")


def test_public_client_with_pkce(uma, alice):
    app = uma.admin.add_client("app", public=True)
    token = consent_flow(uma, app, alice, scope=PAT_SCOPE).token
    assert token["access_token"] and token["refresh_token"]
    assert "id_token" not in token, "no ID token without the openid scope"


def test_public_client_needs_pkce(uma):
    app = uma.admin.add_client("app", public=True)
    browser = Browser(uma)
    session = oauth_session(uma, app, scope=PAT_SCOPE)
    url, state = session.create_authorization_url(uma.endpoint("authorization_endpoint"))  # no code_verifier
    assert "code_challenge" not in query_of(url)
    response = browser.get(url)
    if response.is_redirect:
        answer = query_of(response.headers["Location"])
        assert response.headers["Location"].startswith(app.redirect_uri)
        assert answer.get("error") == "invalid_request" and "code" not in answer, answer
        assert answer.get("state") == state
    else:
        assert 400 <= response.status_code < 500, response.status_code
        assert Page.of(response).login_form() is None, "a login page for a request that must be refused"


def test_wrong_code_verifier_is_invalid_grant(uma, rs, alice):
    grant = authorize(uma, rs, alice, scope=PAT_SCOPE)
    with pytest.raises(OAuthError) as failure:
        grant.redeem(uma, verifier="x" * 64)
    assert failure.value.error == "invalid_grant"


def test_code_is_single_use(uma, rs, alice):
    grant = authorize(uma, rs, alice, scope=PAT_SCOPE)
    grant.redeem(uma)
    with pytest.raises(OAuthError) as failure:
        grant.redeem(uma)
    assert failure.value.error == "invalid_grant"


def test_code_is_bound_to_its_client(uma, rs, alice):
    other = uma.admin.add_client("rs")
    grant = authorize(uma, rs, alice, scope=PAT_SCOPE)
    thief = oauth_session(uma, replace(other, redirect_uri=rs.redirect_uri), scope=PAT_SCOPE)
    with pytest.raises(OAuthError) as failure:
        thief.fetch_token(uma.endpoint("token_endpoint"), authorization_response=grant.redirect,
                          code_verifier=grant.verifier, state=grant.state)
    assert failure.value.error == "invalid_grant"


def test_refresh_rotates_and_reuse_revokes_the_grant(uma, rs, alice):
    grant = consent_flow(uma, rs, alice, scope=PAT_SCOPE)
    first = dict(grant.token)
    token_endpoint = uma.endpoint("token_endpoint")
    second = grant.session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"], "the refresh token must rotate"
    assert PAT_SCOPE in second["scope"].split()

    with pytest.raises(OAuthError) as reuse:
        grant.session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as after:
        grant.session.refresh_token(token_endpoint, refresh_token=second["refresh_token"])
    assert after.value.error == "invalid_grant", "reusing a rotated refresh token must revoke the whole grant"


def test_bad_password_shows_the_login_page_again_with_a_generic_message(uma, rs, alice):
    browser = Browser(uma)
    session = oauth_session(uma, rs, scope=PAT_SCOPE)
    url, state = session.create_authorization_url(uma.endpoint("authorization_endpoint"),
                                                  code_verifier="v" * 64)
    first = Page.of(browser.settle(browser.get(url)))
    assert first.status == 200 and first.login_form() is not None

    wrong = "not-" + alice.password
    answer = browser.settle(browser.login(first, alice, password=wrong))
    bad_password = Page.of(answer)
    assert answer.status_code < 500
    assert bad_password.login_form() is not None, "the login page must be shown again"
    assert wrong not in answer.text, "the password must not be echoed back"
    assert bad_password.text != first.text, "the page must say the login failed"

    stranger = User("nobody-" + alice.username, wrong, "x@example.org", "X")
    unknown_user = Page.of(browser.settle(browser.login(bad_password, stranger)))
    assert unknown_user.login_form() is not None
    assert unknown_user.text.replace(stranger.username, alice.username) == bad_password.text, (
        "the message must not tell an unknown user from a wrong password"
    )

    consent = browser.settle(browser.login(unknown_user, alice))
    assert Page.of(consent).consent_form("allow") is not None, "the right password then leads to consent"


def test_deny_redirects_with_access_denied(uma, rs, alice):
    grant = authorize(uma, rs, alice, scope=PAT_SCOPE, decision="deny")
    assert grant.redirect.startswith(rs.redirect_uri)
    answer = query_of(grant.redirect)
    assert answer.get("error") == "access_denied"
    assert answer.get("state") == grant.state
    assert "code" not in answer


def test_login_page_is_on_the_server(uma, rs):
    session = oauth_session(uma, rs, scope=PAT_SCOPE)
    url, _ = session.create_authorization_url(uma.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    browser = Browser(uma)
    response = browser.settle(browser.get(url))
    assert same_origin(response.url, uma.issuer)
    assert response.headers.get("Content-Type", "").startswith("text/html")
    assert browser.http.cookies, "a CSRF cookie must be set with the login page"


def test_login_needs_the_csrf_cookie(uma, rs, alice):
    session = oauth_session(uma, rs, scope=PAT_SCOPE)
    url, _ = session.create_authorization_url(uma.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    browser = Browser(uma)
    page = Page.of(browser.settle(browser.get(url)))
    browser.http.cookies.clear()
    response = browser.settle(browser.login(page, alice))
    assert Page.of(response).consent_form("allow") is None, "a login without the CSRF cookie must not succeed"
    assert response.status_code in (200, 400, 403), response.status_code


def test_unregistered_redirect_uri_is_never_used(uma, rs):
    session = oauth_session(uma, replace(rs, redirect_uri="https://attacker.example/cb"), scope=PAT_SCOPE)
    url, _ = session.create_authorization_url(uma.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    response = Browser(uma).get(url)
    assert not response.is_redirect, f"redirected to {response.headers.get('Location')}"
    assert response.status_code == 400
    assert Page.of(response).login_form() is None
