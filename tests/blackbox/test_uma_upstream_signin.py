"""Upstream OpenID Connect sign-in at the claims interaction endpoint (issue 8), against a real OpenID provider
on loopback (node oidc-provider, tests/oidc-provider) that the server trusts with a client id and secret.

Alice shares her checking account with whoever that provider says is bob@upstream.example. The budget app gets
`need_info` with `redirect_user`, Bob's browser goes there, picks "Sign in with <provider>", signs in at the
provider, comes back to the release page, continues, and the app gets a new ticket that yields an RPT. The
`state` of the sign-in is single use and bound to the browser that started it; a provider that is down gets a
page, never a crash.
"""

import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from oidc_provider import OpenIdProvider, node, openid_provider  # noqa: F401  (fixtures)
from support import Browser, Page, query_of
from uma_support import UmaClient, assert_need_info, assert_rpt_claims, make_scene, required_claim

CLAIMS_BACK = "https://budget.example/claims-back"


@pytest.fixture
def upstream_server(make_server, openid_provider, tmp_path):
    """This server on the port the provider's client redirects to, trusting the provider with sign-in."""
    config = tmp_path / "upstream.toml"
    config.write_text(openid_provider.config())
    server = make_server("--config", str(config), start=False)
    server.start(port=openid_provider.server_port)
    return server


def upstream_policy(provider: OpenIdProvider, email: str) -> str:
    """Lets the party with this email *at the provider* view: only the provider can supply that claim."""
    return ("// written by the black-box suite\n"
            'permit (principal, action in [Uma::Action::"view"], resource)\n'
            f'when {{ principal has email && principal.iss == "{provider.issuer}" && principal.email == "{email}" }};\n')


def need_info(server, provider, tmp_path, email):
    scene = make_scene(server, tmp_path)
    app = server.admin.add_client("budget", name="Budget App", claims_redirect_uris=(CLAIMS_BACK,))
    checking = scene.register(["view"], name="Checking")
    scene.share("upstream-bob", upstream_policy(provider, email))
    client = UmaClient(server, app)
    first = scene.ticket((checking, ["view"]))
    answer = assert_need_info(client.grant(first), first)
    return scene, app, client, checking, answer


def arrive(server, app, ticket: str, state: str) -> tuple[Browser, Page]:
    browser = Browser(server)
    url = server.endpoint("claims_interaction_endpoint") + "?" + urlencode(
        {"client_id": app.client_id, "ticket": ticket, "claims_redirect_uri": CLAIMS_BACK, "state": state})
    page = Page.of(browser.get(url))
    assert page.status == 200 and page.login_form() is not None, page.text[:300]
    return browser, page


def press_sign_in_with(browser: Browser, page: Page, provider: OpenIdProvider) -> str:
    """Presses "Sign in with <provider>" and returns where the server sends the browser."""
    assert f"Sign in with {provider.issuer}" in page.text, page.text[:500]
    form = next((f for f in page.forms if f.has_control("issuer", provider.issuer)), None)
    assert form is not None and form.has_control("csrf_token") and form.has_control("request"), page.forms
    response = browser.submit(page, form, form.fill({}, submit=("issuer", provider.issuer)))
    assert response.status_code in (302, 303), f"{response.status_code}: {response.text[:300]}"
    return response.headers["Location"]


def test_sign_in_with_the_upstream_provider_yields_an_rpt(upstream_server, openid_provider, tmp_path):
    server, provider = upstream_server, openid_provider
    email = provider.email("bob")
    scene, app, client, checking, answer = need_info(server, provider, tmp_path, email)
    # The email is wanted from the provider only: signing in there can supply it, so need_info says where to go.
    assert required_claim(answer, "email").get("issuer") == [provider.issuer], answer
    assert answer.get("redirect_user") == server.endpoint("claims_interaction_endpoint"), answer

    state = secrets.token_urlsafe(12)
    browser, page = arrive(server, app, answer["ticket"], state)
    location = press_sign_in_with(browser, page, provider)

    # An authorization code request with PKCE (S256), state and nonce, to the endpoint from discovery.
    assert location.startswith(provider.issuer + "/auth?"), location
    request = query_of(location)
    assert request["response_type"] == "code" and request["client_id"] == "uma-cedar", request
    assert request["redirect_uri"] == server.issuer + "/uma/claims/callback", request
    assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43, request
    assert request["state"] and request["nonce"] and request["state"] != request["nonce"], request
    assert set(request["scope"].split()) == {"openid", "email", "profile"}, request

    callback = provider.sign_in(browser.http, location, "bob", stop_at=server.issuer + "/uma/claims/callback")
    assert query_of(callback)["state"] == request["state"], callback
    released = Page.of(browser.get(callback))
    assert released.status == 200, released.text[:500]
    assert f"asks to show {scene.alice.username}'s resource server that you are {email}" in released.text, \
        released.text[:500]
    continue_form = released.consent_form("allow")
    assert continue_form is not None, released.text[:500]
    back = browser.submit(released, continue_form, continue_form.fill({}, submit=("decision", "allow")))
    assert back.status_code == 302, back.text[:300]
    assert back.headers["Location"].startswith(CLAIMS_BACK + "?"), back.headers["Location"]
    returned = query_of(back.headers["Location"])
    assert returned["state"] == state and returned["ticket"] != answer["ticket"], returned

    # The new ticket carries the provider's verified claims: Alice's policy grants the RPT.
    token = client.rpt(returned["ticket"])
    assert_rpt_claims(server, token, rs=scene.rs, client=app, expected={checking: {"view"}})
    # The old ticket was spent by the visit.
    assert client.grant(answer["ticket"]).status_code != 200

    # The callback is single use: replaying it shows a page, it does not sign anyone in again.
    replay = browser.get(callback)
    assert replay.status_code == 400 and "Location" not in replay.headers, replay.text[:300]


def test_a_tampered_state_or_another_browser_is_refused(upstream_server, openid_provider, tmp_path):
    server, provider = upstream_server, openid_provider
    email = provider.email("bob")
    scene, app, client, checking, answer = need_info(server, provider, tmp_path, email)
    browser, page = arrive(server, app, answer["ticket"], "s1")
    location = press_sign_in_with(browser, page, provider)
    callback = provider.sign_in(browser.http, location, "bob", stop_at=server.issuer + "/uma/claims/callback")

    parts = urlsplit(callback)
    params = dict(parse_qsl(parts.query))
    params["state"] = params["state"][:-2] + ("AA" if not params["state"].endswith("AA") else "BB")
    tampered = urlunsplit(parts._replace(query=urlencode(params)))
    refused = browser.get(tampered)
    assert refused.status_code == 400 and "Location" not in refused.headers, refused.text[:300]
    assert "unknown" in refused.text and "consent" not in refused.text.lower(), refused.text[:500]

    # The genuine answer, from another browser (no cookie of the one that started it), is refused too, and
    # that spends the state: the sign-in must start again.
    stranger = Browser(server)
    stolen = stranger.get(callback)
    assert stolen.status_code == 400 and "Location" not in stolen.headers, stolen.text[:300]
    assert browser.get(callback).status_code == 400

    # Nothing was lost: the visit is still open, a new sign-in from the same page completes.
    location = press_sign_in_with(browser, page, provider)
    callback = provider.sign_in(browser.http, location, "bob", stop_at=server.issuer + "/uma/claims/callback")
    released = Page.of(browser.get(callback))
    continue_form = released.consent_form("allow")
    assert continue_form is not None, released.text[:500]
    back = browser.submit(released, continue_form, continue_form.fill({}, submit=("decision", "allow")))
    token = client.rpt(query_of(back.headers["Location"])["ticket"])
    assert_rpt_claims(server, token, rs=scene.rs, client=app, expected={checking: {"view"}})


def test_someone_else_at_the_provider_gets_no_rpt(upstream_server, openid_provider, tmp_path):
    server, provider = upstream_server, openid_provider
    scene, app, client, checking, answer = need_info(server, provider, tmp_path, provider.email("bob"))
    browser, page = arrive(server, app, answer["ticket"], "s2")
    location = press_sign_in_with(browser, page, provider)
    callback = provider.sign_in(browser.http, location, "mallory", stop_at=server.issuer + "/uma/claims/callback")
    released = Page.of(browser.get(callback))
    assert f"that you are {provider.email('mallory')}" in released.text, released.text[:500]
    continue_form = released.consent_form("allow")
    back = browser.submit(released, continue_form, continue_form.fill({}, submit=("decision", "allow")))
    response = client.grant(query_of(back.headers["Location"])["ticket"])
    assert response.status_code == 403, response.text


def test_a_provider_that_is_down_gets_a_page(make_server, tmp_path):
    """No node needed: the provider is a port nothing listens on."""
    from conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "dead.toml"
    config.write_text(f'[[trusted_issuers]]\nissuer = "{dead}"\njwks_uri = "{dead}/jwks"\n'
                      'client_id = "uma-cedar"\nclient_secret = "whatever-secret"\n')
    server = make_server("--config", str(config))
    scene = make_scene(server, tmp_path)
    app = server.admin.add_client("budget", name="Budget App", claims_redirect_uris=(CLAIMS_BACK,))
    checking = scene.register(["view"], name="Checking")
    browser, page = arrive(server, app, scene.ticket((checking, ["view"])), "s3")
    form = next((f for f in page.forms if f.has_control("issuer", dead)), None)
    assert form is not None, page.text[:500]
    response = browser.submit(page, form, form.fill({}, submit=("issuer", dead)))
    assert response.status_code == 502 and "Location" not in response.headers, response.text[:300]
    assert "cannot be reached" in Page.of(response).text, response.text[:500]
    # Only configured providers: an issuer made up by the form is refused.
    forged = browser.submit(page, form, form.fill({}, submit=("issuer", "https://evil.example")))
    assert forged.status_code == 400 and "Location" not in forged.headers, forged.text[:300]
