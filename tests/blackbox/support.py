"""Protocol helpers of the black-box suite: a cookie-keeping user agent for the login and consent pages, OAuth
sessions built from discovery, a protection API client, and assertions on RFC 6749 §5.2 error responses.

Nothing here knows a path: every URL comes from the discovery document or from the server's own pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

if TYPE_CHECKING:
    from conftest import UmaServer

PAT_SCOPE = "uma_protection"
HTTP_TIMEOUT = 10


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None
    redirect_uri: str | None = None
    # The registered token_endpoint_auth_method; None means the server's default for the client type.
    auth_method: str | None = None

    @property
    def is_public(self) -> bool:
        return self.secret is None

    @property
    def token_endpoint_auth_method(self) -> str:
        return self.auth_method or ("none" if self.is_public else "client_secret_basic")


@dataclass(frozen=True)
class User:
    username: str
    password: str
    email: str
    name: str


# ---------------------------------------------------------------------------------------------------------------
# HTML forms (stdlib html.parser only; nothing depends on markup beyond forms and control names)


@dataclass
class Control:
    tag: str
    type: str
    name: str | None
    value: str


@dataclass
class Form:
    action: str
    method: str
    controls: list[Control] = field(default_factory=list)

    def names(self) -> set[str]:
        return {c.name for c in self.controls if c.name}

    def has_control(self, name: str, value: str | None = None) -> bool:
        return any(c.name == name and (value is None or c.value == value) for c in self.controls)

    def fill(self, values: dict[str, str], submit: tuple[str, str] | None = None) -> dict[str, str]:
        """The fields a browser would send: every non-button control, the chosen submit button, then `values`."""
        data: dict[str, str] = {}
        for control in self.controls:
            if not control.name:
                continue
            if control.type in ("submit", "button", "image", "reset"):
                continue
            if control.type in ("checkbox", "radio"):
                continue
            data[control.name] = control.value
        if submit is not None:
            data[submit[0]] = submit[1]
        data.update(values)
        return data


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._form: Form | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = {k: (v or "") for k, v in attrs}
        if tag in ("script", "style", "title"):
            self._skip += 1
        elif tag == "form":
            self._form = Form(attributes.get("action", ""), attributes.get("method", "get").lower())
        elif tag in ("input", "button", "select", "textarea") and self._form is not None:
            default_type = {"button": "submit", "input": "text"}.get(tag, tag)
            self._form.controls.append(
                Control(tag, attributes.get("type", default_type).lower(), attributes.get("name"),
                        attributes.get("value", ""))
            )

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


@dataclass
class Page:
    url: str
    status: int
    forms: list[Form]
    text: str

    @classmethod
    def of(cls, response: requests.Response) -> Page:
        parser = _PageParser()
        parser.feed(response.text)
        parser.close()
        return cls(response.url, response.status_code, parser.forms, " ".join(parser.text))

    def login_form(self) -> Form | None:
        return next((f for f in self.forms if {"username", "password"} <= f.names()), None)

    def consent_form(self, decision: str) -> Form | None:
        return next((f for f in self.forms if f.has_control("decision", decision)), None)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def same_origin(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.scheme, sa.netloc) == (sb.scheme, sb.netloc)


class Browser:
    """A user agent with a cookie jar that walks the server's login and consent pages."""

    MAX_STEPS = 10

    def __init__(self, server: UmaServer):
        self.server = server
        self.http = requests.Session()

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def submit(self, page: Page, form: Form, data: dict[str, str]) -> requests.Response:
        target = urljoin(page.url, form.action) if form.action else page.url
        assert same_origin(target, self.server.issuer), f"form posts off the server: {target}"
        assert form.method == "post", f"form at {page.url} uses {form.method}, expected post"
        return self.http.post(target, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def login(self, page: Page, user: User, password: str | None = None) -> requests.Response:
        form = page.login_form()
        assert form is not None, f"no login form on {page.url}: {page.text[:300]}"
        assert form.has_control("csrf_token") and form.has_control("request"), "login form lacks request/csrf_token"
        pw = user.password if password is None else password
        return self.submit(page, form, form.fill({"username": user.username, "password": pw}))

    def settle(self, response: requests.Response) -> requests.Response:
        """Follows redirects within the server (a page shown after a POST) and returns the page."""
        for _ in range(self.MAX_STEPS):
            if not response.is_redirect:
                return response
            location = urljoin(response.url, response.headers["Location"])
            assert same_origin(location, self.server.issuer), f"redirected off the server: {location}"
            response = self.get(location)
        raise AssertionError(f"more than {self.MAX_STEPS} redirects from {response.url}")

    def authorize(self, auth_url: str, redirect_uri: str, user: User, decision: str = "allow") -> str:
        """Opens `auth_url`, logs in and answers the consent page; returns the redirect to `redirect_uri`."""
        response = self.get(auth_url)
        logged_in = False
        for _ in range(self.MAX_STEPS):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(redirect_uri):
                    return location
                assert same_origin(location, self.server.issuer), f"redirected off the server: {location}"
                response = self.get(location)
                continue
            assert response.status_code == 200, (
                f"{response.request.method} {response.url} answered {response.status_code}: {response.text[:500]}"
            )
            page = Page.of(response)
            if page.login_form() is not None:
                assert not logged_in, f"login page shown again after logging in: {page.text[:300]}"
                logged_in = True
                response = self.login(page, user)
                continue
            form = page.consent_form(decision)
            assert form is not None, f"neither a login nor a consent page at {page.url}: {page.text[:500]}"
            assert form.has_control("csrf_token") and form.has_control("request"), "consent form lacks hidden fields"
            response = self.submit(page, form, form.fill({}, submit=("decision", decision)))
        raise AssertionError(f"no redirect to {redirect_uri} after {self.MAX_STEPS} steps")


# ---------------------------------------------------------------------------------------------------------------
# OAuth


def oauth_session(server: UmaServer, client: Client, scope: str | None = None,
                  auth_method: str | None = None, **kwargs) -> OAuth2Session:
    method = auth_method or client.token_endpoint_auth_method
    return OAuth2Session(
        client_id=client.client_id,
        client_secret=client.secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        scope=scope,
        redirect_uri=client.redirect_uri,
        code_challenge_method="S256",
        default_timeout=HTTP_TIMEOUT,
        **kwargs,
    )


def client_credentials_pat(server: UmaServer, client: Client) -> str:
    """A PAT owned by the client itself (the organisation case)."""
    with oauth_session(server, client, scope=PAT_SCOPE) as session:
        token = session.fetch_token(server.endpoint("token_endpoint"), grant_type="client_credentials")
    return token["access_token"]


@dataclass
class Authorization:
    """An authorization code obtained through the real login and consent pages, not yet redeemed."""

    session: OAuth2Session
    url: str
    verifier: str
    nonce: str
    state: str
    redirect: str
    token: dict = field(default_factory=dict)

    def redeem(self, server: UmaServer, verifier: str | None = None) -> dict:
        self.token = self.session.fetch_token(
            server.endpoint("token_endpoint"), authorization_response=self.redirect,
            code_verifier=self.verifier if verifier is None else verifier, state=self.state,
        )
        return self.token


def authorize(server: UmaServer, client: Client, user: User, scope: str = f"openid email profile {PAT_SCOPE}",
              browser: Browser | None = None, decision: str = "allow") -> Authorization:
    """Runs the authorization request with PKCE S256 and a nonce, logging in and answering the consent page."""
    session = oauth_session(server, client, scope=scope)
    verifier = generate_token(64)
    nonce = generate_token(24)
    url, state = session.create_authorization_url(
        server.endpoint("authorization_endpoint"), code_verifier=verifier, nonce=nonce
    )
    redirect = (browser or Browser(server)).authorize(url, client.redirect_uri, user, decision=decision)
    return Authorization(session, url, verifier, nonce, state, redirect)


def consent_flow(server: UmaServer, client: Client, user: User, scope: str = f"openid email profile {PAT_SCOPE}",
                 browser: Browser | None = None) -> Authorization:
    """The whole authorization code flow: the returned authorization holds the token response."""
    grant = authorize(server, client, user, scope, browser)
    grant.redeem(server)
    return grant


def owner_pat(server: UmaServer, client: Client, user: User) -> str:
    """A PAT for (user, client) consented by the user."""
    return consent_flow(server, client, user, scope=PAT_SCOPE).token["access_token"]


def introspect(server: UmaServer, token: str, *, bearer: str | None = None,
               client: Client | None = None) -> requests.Response:
    url = server.endpoint("introspection_endpoint")
    if bearer is not None:
        return requests.post(url, data={"token": token}, headers={"Authorization": f"Bearer {bearer}"},
                             timeout=HTTP_TIMEOUT)
    assert client is not None
    with oauth_session(server, client) as session:
        return session.introspect_token(url, token=token)


def assert_inactive(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


def assert_error(response: requests.Response, status: int, error: str | tuple[str, ...]) -> dict:
    """An RFC 6749 §5.2 style JSON error with this status and code."""
    expected = (error,) if isinstance(error, str) else error
    assert response.status_code == status, f"expected {status} {expected}, got {response.status_code}: {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert body.get("error") in expected, body
    return body


def poll(check, timeout: float = 10.0, interval: float = 0.1):
    """Calls `check` until it returns something truthy or the deadline passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------------------
# Protection API


class ProtectionApi:
    """The resource registration and permission endpoints, called with one PAT."""

    def __init__(self, server: UmaServer, pat: str):
        self.server = server
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {pat}"
        self.resources_url = server.endpoint("resource_registration_endpoint")
        self.permission_url = server.endpoint("permission_endpoint")

    def item_url(self, resource_id: str) -> str:
        return f"{self.resources_url.rstrip('/')}/{quote(resource_id, safe='')}"

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        return self.http.request(method, url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs)

    def create(self, description: dict) -> requests.Response:
        return self.request("POST", self.resources_url, json=description)

    def register(self, scopes: list[str], **fields) -> str:
        response = self.create({"resource_scopes": scopes, **fields})
        assert response.status_code == 201, response.text
        return response.json()["_id"]

    def list(self) -> requests.Response:
        return self.request("GET", self.resources_url)

    def ids(self) -> list[str]:
        response = self.list()
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, resource_id: str) -> requests.Response:
        return self.request("GET", self.item_url(resource_id))

    def put(self, resource_id: str, description: dict) -> requests.Response:
        return self.request("PUT", self.item_url(resource_id), json=description)

    def delete(self, resource_id: str) -> requests.Response:
        return self.request("DELETE", self.item_url(resource_id))

    def ticket(self, body) -> requests.Response:
        return self.request("POST", self.permission_url, json=body)
