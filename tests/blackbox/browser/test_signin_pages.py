"""The sign-in pages in a real browser (Chromium through Playwright): the authorization endpoint's login and
consent pages, and the claims interaction endpoint's (UMA Grant §3.3.2). Each page is found by its accessible
labels and button names, the way a person would use it, and a screenshot of each is saved.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from authlib.common.security import generate_token

from browser_support import chromium, page, shoot  # noqa: F401 (fixtures)
from support import PAT_SCOPE, Authorization, oauth_session, query_of
from uma_support import UmaClient, assert_need_info, assert_rpt_claims, email_policy, make_scene

CLIENT_BACK = "https://client.example/callback"
CLAIMS_BACK = "https://budget.example/claims-back"


def stub_client(page, prefix: str) -> None:
    """The client's redirect URI answers inside the browser, so the test reads where the server sent it."""
    page.route(prefix + "**", lambda route: route.fulfill(status=200, content_type="text/plain", body="client"))


def sign_in(page, user) -> None:
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()


def test_authorization_code_login_and_consent(uma, page, shoot):
    client = uma.admin.add_client("photos", name="Photo Printer")
    alice = uma.admin.add_user("alice")
    session = oauth_session(uma, client, scope=f"openid email {PAT_SCOPE}")
    verifier, nonce = generate_token(64), generate_token(24)
    url, state = session.create_authorization_url(
        uma.endpoint("authorization_endpoint"), code_verifier=verifier, nonce=nonce)
    stub_client(page, CLIENT_BACK)

    page.goto(url)
    assert page.get_by_role("heading", name="Sign in").is_visible()
    shoot("login")
    page.get_by_label("Password").fill("not her password")
    page.get_by_label("Username").fill(alice.username)
    page.get_by_role("button", name="Sign in").click()
    # A wrong password keeps her on the login page with an alert, and no redirect happened.
    assert page.get_by_role("alert").is_visible()
    assert not page.url.startswith(CLIENT_BACK)
    shoot("login refused")

    sign_in(page, alice)
    assert page.get_by_role("heading", name="Allow access?").is_visible()
    assert "Photo Printer" in page.content()
    shoot("consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(CLIENT_BACK + "?**")
    shoot("back at the client")

    query = query_of(page.url)
    assert query.get("state") == state and query.get("code"), page.url
    grant = Authorization(session, url, verifier, nonce, state, page.url)
    token = grant.redeem(uma)
    assert token.get("access_token") and PAT_SCOPE in token.get("scope", ""), token


def test_claims_interaction_sign_in_and_continue(uma, tmp_path, page, shoot):
    scene = make_scene(uma, tmp_path)
    app = uma.admin.add_client("budget", name="Budget App", claims_redirect_uris=(CLAIMS_BACK,))
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    client = UmaClient(uma, app)
    first = scene.ticket((checking, ["view"]))
    answer = assert_need_info(client.grant(first), first)
    state = secrets.token_urlsafe(12)
    url = answer["redirect_user"] + "?" + urlencode(
        {"client_id": app.client_id, "ticket": answer["ticket"], "claims_redirect_uri": CLAIMS_BACK, "state": state})
    stub_client(page, CLAIMS_BACK)

    page.goto(url)
    shoot("claims sign in")
    sign_in(page, bob)
    assert page.get_by_role("heading", name="Show who you are?").is_visible()
    assert "Budget App" in page.content() and bob.email in page.content()
    shoot("claims release")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(CLAIMS_BACK + "?**")
    shoot("back at the client")

    query = query_of(page.url)
    assert query.get("state") == state, page.url
    ticket = query.get("ticket")
    assert ticket and ticket != answer["ticket"], page.url
    assert bob.email not in page.url, "claims never reach the client"
    token = client.rpt(ticket)
    rpt = assert_rpt_claims(uma, token, rs=scene.rs, client=app, expected={checking: {"view"}})
    assert rpt.get("sub") == bob.username
