"""The owner's console from outside, against the real binary: `/` leads to it, its pages carry the security
headers, a post without the session's CSRF token changes nothing, and another owner's policy name is a 404.
Adding a policy shows its impact first and saves only the confirmed post."""

import re

import pytest

from support import Browser, Page

PERMIT_BOB = 'permit (principal, action, resource) when { principal.sub == "bob" };'


@pytest.fixture
def alice(uma):
    return uma.admin.add_user("alice")


@pytest.fixture
def carol(uma):
    return uma.admin.add_user("carol")


def session_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token in {html[:500]}"
    return match.group(1)


def sign_in(uma, user) -> tuple[Browser, str]:
    browser = Browser(uma)
    page = Page.of(browser.get(f"{uma.issuer}/console"))
    form = page.login_form()
    assert form is not None, page.text[:500]
    answer = browser.submit(page, form, form.fill({"username": user.username, "password": user.password}))
    assert answer.status_code == 303, answer.text[:500]
    home = browser.settle(answer)
    assert home.status_code == 200 and "My resources" in home.text
    return browser, session_token(home.text)


def add_policy(uma, browser: Browser, token: str, name: str, text: str):
    """Adds a policy as the form does: the first post shows its impact, the confirmed one saves it."""
    data = {"csrf_token": token, "name": name, "text": text}
    preview = browser.http.post(f"{uma.issuer}/console/policies", data=data, allow_redirects=False, timeout=30)
    assert preview.status_code == 200 and "What this change does" in preview.text, preview.text[:500]
    confirm = re.search(r'name="confirmed" value="([^"]+)"', preview.text)
    assert confirm, preview.text[:500]
    answer = browser.http.post(
        f"{uma.issuer}/console/policies",
        data={**data, "confirmed": confirm.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text[:500]


def test_the_root_leads_to_the_console_and_pages_carry_the_security_headers(uma, alice):
    browser = Browser(uma)
    root = browser.get(f"{uma.issuer}/")
    assert root.status_code == 303 and root.headers["Location"] == "/console"
    assert uma.discovery["user_access_policy_uri"] == f"{uma.issuer}/console"
    browser, _ = sign_in(uma, alice)
    for path in ["/console", "/console/policies", "/console/share", "/console/requests", "/console/activity"]:
        page = browser.get(f"{uma.issuer}{path}")
        assert page.status_code == 200, path
        csp = page.headers["Content-Security-Policy"]
        for directive in ["default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"]:
            assert directive in csp, (path, csp)
        assert "script" not in csp and "<script" not in page.text
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    sheet = browser.get(f"{uma.issuer}/console/static/console.css")
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("text/css")


def test_a_post_without_the_csrf_token_changes_nothing(uma, alice):
    browser, token = sign_in(uma, alice)
    add_policy(uma, browser, token, "bob-reads", PERMIT_BOB)
    for data in [{"note": "no token"}, {"csrf_token": "forged"}]:
        refused = browser.http.post(
            f"{uma.issuer}/console/policies/bob-reads/remove", data=data, allow_redirects=False, timeout=10
        )
        assert refused.status_code == 403, refused.text[:300]
    listed = browser.get(f"{uma.issuer}/console/policies")
    assert "bob-reads" in listed.text


def test_another_owners_policy_is_not_found(uma, alice, carol):
    alice_browser, alice_token = sign_in(uma, alice)
    add_policy(uma, alice_browser, alice_token, "alices", PERMIT_BOB)
    carol_browser, carol_token = sign_in(uma, carol)
    assert carol_browser.get(f"{uma.issuer}/console/policies/alices").status_code == 404
    removed = carol_browser.http.post(
        f"{uma.issuer}/console/policies/alices/remove",
        data={"csrf_token": carol_token},
        allow_redirects=False,
        timeout=10,
    )
    assert removed.status_code == 404
    assert "alices" in alice_browser.get(f"{uma.issuer}/console/policies").text
