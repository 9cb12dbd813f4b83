"""The claims interaction endpoint (UMA Grant §3.3.2–§3.3.3), driven from outside: Authlib asks for RPTs, a
form-following browser (cookie jar, real login and release pages) plays the requesting party.

Alice's policy lets Bob view her checking account by his email address. The budget app gets `need_info` with
`redirect_user`, sends Bob's browser there with its ticket and `state`, Bob signs in and continues, and the app
comes back with a new ticket that yields an RPT, without ever seeing Bob's claims or password.
"""

import secrets
from urllib.parse import urlencode, urljoin

import pytest

from support import Browser, Page, query_of
from uma_support import UmaClient, assert_need_info, assert_rpt_claims, email_policy, make_scene

CLAIMS_BACK = "https://budget.example/claims-back"


@pytest.fixture
def scene(uma, tmp_path):
    return make_scene(uma, tmp_path)


@pytest.fixture
def app(uma):
    return uma.admin.add_client("budget", name="Budget App", claims_redirect_uris=(CLAIMS_BACK,))


def claims_url(uma, **params) -> str:
    return uma.endpoint("claims_interaction_endpoint") + "?" + urlencode(params)


def need_info_for_bob(uma, scene, app):
    """Alice shares with Bob by email; the app asks without claims and gets need_info. Returns (client, bob,
    need_info body)."""
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    client = UmaClient(uma, app)
    first = scene.ticket((checking, ["view"]))
    answer = assert_need_info(client.grant(first), first)
    return client, bob, checking, answer


def test_need_info_redirect_user_sign_in_new_ticket_rpt(uma, scene, app):
    assert uma.endpoint("claims_interaction_endpoint") == uma.issuer + "/uma/claims"
    client, bob, checking, answer = need_info_for_bob(uma, scene, app)
    # G §3.3.6: need_info says where to send the requesting party.
    assert answer.get("redirect_user") == uma.endpoint("claims_interaction_endpoint"), answer
    state = secrets.token_urlsafe(12)
    url = answer["redirect_user"] + "?" + urlencode(
        {"client_id": app.client_id, "ticket": answer["ticket"], "claims_redirect_uri": CLAIMS_BACK,
         "state": state})

    browser = Browser(uma)
    page = Page.of(browser.get(url))
    assert page.status == 200 and page.login_form() is not None, page.text[:300]
    released = Page.of(browser.login(page, bob))
    # What will be released, and to whom, in plain words.
    assert "Budget App asks to show" in released.text and bob.email in released.text, released.text
    form = released.consent_form("allow")
    assert form is not None and form.has_control("csrf_token"), released.text
    back = browser.submit(released, form, form.fill({}, submit=("decision", "allow")))
    assert back.status_code == 302, back.text
    location = back.headers["Location"]
    assert location.startswith(CLAIMS_BACK + "?"), location
    query = query_of(location)
    assert query.get("state") == state, query
    new_ticket = query.get("ticket")
    assert new_ticket and new_ticket != answer["ticket"], query
    assert bob.email not in location and bob.username not in location, "claims never reach the client"

    # The old ticket was spent by the sign-in; the new one gives the RPT.
    assert client.grant(answer["ticket"]).json().get("error") == "invalid_grant"
    token = client.rpt(new_ticket)
    rpt = assert_rpt_claims(uma, token, rs=scene.rs, client=app, expected={checking: {"view"}})
    assert rpt.get("sub") == bob.username, "the RPT names the party who signed in"
    # And only once.
    assert client.grant(new_ticket).json().get("error") == "invalid_grant"


def test_the_ticket_is_bound_to_the_client_that_sent_the_browser(uma, scene, app):
    client, bob, _, answer = need_info_for_bob(uma, scene, app)
    browser = Browser(uma)
    location = browser.authorize(claims_url(uma, client_id=app.client_id, ticket=answer["ticket"]),
                                 CLAIMS_BACK, bob)
    new_ticket = query_of(location)["ticket"]
    thief = UmaClient(uma, uma.admin.add_client("thief"))
    assert thief.grant(new_ticket).json().get("error") == "invalid_grant"
    assert "access_token" in client.rpt(new_ticket)


@pytest.mark.parametrize("bad", ["unregistered", "near-miss", "missing-client", "unknown-client"])
def test_a_bad_client_or_claims_redirect_uri_shows_a_page_and_never_redirects(uma, scene, app, bad):
    _, _, _, answer = need_info_for_bob(uma, scene, app)
    params = {"client_id": app.client_id, "ticket": answer["ticket"], "claims_redirect_uri": CLAIMS_BACK,
              "state": "s"}
    if bad == "unregistered":
        params["claims_redirect_uri"] = "https://evil.example/steal"
    elif bad == "near-miss":
        params["claims_redirect_uri"] = CLAIMS_BACK + "/"
    elif bad == "missing-client":
        del params["client_id"]
    else:
        params["client_id"] = "nobody"
    response = Browser(uma).get(claims_url(uma, **params))
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert Page.of(response).login_form() is None


def test_cancel_answers_access_denied_with_state(uma, scene, app):
    client, bob, _, answer = need_info_for_bob(uma, scene, app)
    location = Browser(uma).authorize(
        claims_url(uma, client_id=app.client_id, ticket=answer["ticket"], state="keep-me"),
        CLAIMS_BACK, bob, decision="deny")
    query = query_of(location)
    assert query.get("error") == "access_denied" and query.get("state") == "keep-me", query
    assert "ticket" not in query
    assert client.grant(answer["ticket"]).json().get("error") == "invalid_grant", "the cancelled ticket is spent"


def test_an_unknown_ticket_redirects_invalid_request_and_a_visit_spends_nothing(uma, scene, app):
    client, _, _, answer = need_info_for_bob(uma, scene, app)
    browser = Browser(uma)
    response = browser.get(claims_url(uma, client_id=app.client_id, ticket="no-such-ticket", state="s1"))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(CLAIMS_BACK)
    assert query.get("error") == "invalid_request" and query.get("state") == "s1", query

    # A visitor who opens the page with the real ticket but never signs in spends nothing.
    page = browser.get(claims_url(uma, client_id=app.client_id, ticket=answer["ticket"]))
    assert page.status_code == 200
    again = assert_need_info(client.grant(answer["ticket"]), answer["ticket"])
    assert again.get("redirect_user")


def test_the_forms_are_csrf_protected(uma, scene, app):
    _, bob, _, answer = need_info_for_bob(uma, scene, app)
    browser = Browser(uma)
    page = Page.of(browser.get(claims_url(uma, client_id=app.client_id, ticket=answer["ticket"])))
    form = page.login_form()
    data = form.fill({"username": bob.username, "password": bob.password, "csrf_token": "forged"})
    response = browser.http.post(urljoin(page.url, form.action), data=data, allow_redirects=False)
    assert response.status_code == 403, response.status_code
    # Another browser (no CSRF cookie) cannot post the form either.
    stranger = Browser(uma)
    response = stranger.http.post(urljoin(page.url, form.action), data=form.fill(
        {"username": bob.username, "password": bob.password}), allow_redirects=False)
    assert response.status_code == 403, response.status_code
