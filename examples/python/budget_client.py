#!/usr/bin/env python3
"""The budgeting app acting for Bob, in Python with Authlib: the same UMA walk as the Rust example
`crates/uma-cedar-rs/examples/budget_client.rs`.

1. GET the resource without a token: 401 with `WWW-Authenticate: UMA realm="...", as_uri="...", ticket="..."`;
2. discovery at `as_uri` (`/.well-known/uma2-configuration`);
3. the ticket at the token endpoint, Authlib doing the request and the client authentication (HTTP Basic);
4. on `need_info` with `redirect_user`: claims interaction (UMA Grant §3.3.2), playing Bob's browser through the
   authorization server's sign-in and release pages; the claims redirect URI is never contacted, the new ticket is
   read from the `Location` header; then the new ticket at the token endpoint;
5. the RPT on the resource: served.

Exit status: 0 served, 3 access denied (`request_denied`), 1 anything else. Loopback only; each request has a
10-second timeout. Needs `Authlib` and `requests` (tests/blackbox/requirements.txt pins both).

    python3 examples/python/budget_client.py --resource http://127.0.0.1:PORT/accounts/checking/statements/2026-11 \\
        --client budget:budget-secret-0123 --user bob:bob-password-1 --claims-redirect-uri http://127.0.0.1:9/claims
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import secrets
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

UMA_GRANT = "urn:ietf:params:oauth:grant-type:uma-ticket"
TIMEOUT = 10
DENIED = 3
MAX_PAGES = 5


class Failure(Exception):
    """Anything unexpected: the message says what."""


class Denied(Exception):
    """The authorization server answered `request_denied`."""


def loopback(url: str) -> str:
    """Every URL this program calls goes through here: a demo must never reach beyond this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host.lower() == "localhost"
    if parts.scheme not in ("http", "https") or not local:
        raise Failure(f"refusing `{url}`: not http(s) on loopback")
    return url


def parse_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: UMA ...` challenge (quoted-strings with `\\` escapes)."""
    if not header.startswith("UMA "):
        raise Failure(f"not an UMA challenge: {header!r}")
    params, rest = {}, header[4:]
    while rest:
        name, sep, rest = rest.partition('="')
        if not sep:
            raise Failure(f"bad challenge: {header!r}")
        value, i = [], 0
        while i < len(rest) and rest[i] != '"':
            if rest[i] == "\\":
                i += 1
            value.append(rest[i : i + 1])
            i += 1
        if i >= len(rest):
            raise Failure(f"unterminated value in challenge: {header!r}")
        params[name.strip()] = "".join(value)
        rest = rest[i + 1 :].lstrip(", ")
    return params


class FormParser(HTMLParser):
    """The first form of a page: its action and its named controls."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.controls: dict[str, str] = {}
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self.depth = attrs.get("action") or "", 1
        elif self.depth and tag in ("input", "button") and attrs.get("name"):
            self.controls.setdefault(attrs["name"], attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth = 0


class BudgetApp:
    def __init__(self, client_id: str, client_secret: str, user: tuple[str, str], claims_redirect_uri: str):
        self.client_id = client_id
        self.oauth = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
        self.last: requests.Response | None = None
        # Authlib raises on an OAuth error; the hook keeps the answer so its `ticket` and `redirect_user` are read.
        self.oauth.register_compliance_hook("access_token_response", self._keep)
        self.browser = requests.Session()  # Bob's browser: its own cookie jar
        self.user = user
        self.claims_redirect_uri = claims_redirect_uri

    def _keep(self, response: requests.Response) -> requests.Response:
        self.last = response
        return response

    def get(self, url: str, rpt: str | None = None) -> requests.Response:
        print(f"  -> GET {url}")
        headers = {"Authorization": f"Bearer {rpt}"} if rpt else {}
        response = requests.get(loopback(url), headers=headers, timeout=TIMEOUT, allow_redirects=False)
        print(f"  <- {response.status_code}")
        return response

    def redeem(self, token_endpoint: str, ticket: str) -> requests.Response:
        print(f"  -> POST {token_endpoint}")
        self.last = None
        try:
            self.oauth.fetch_token(loopback(token_endpoint), grant_type=UMA_GRANT, ticket=ticket, timeout=TIMEOUT)
        except (OAuthError, requests.HTTPError):
            pass
        if self.last is None:
            raise Failure("Authlib sent no request")
        print(f"  <- {self.last.status_code}")
        return self.last

    def claims_interaction(self, redirect_user: str, ticket: str) -> str:
        """Bob's browser at `redirect_user`: sign in, continue; returns the new ticket from the redirect."""
        state = secrets.token_urlsafe(16)
        params = {"client_id": self.client_id, "ticket": ticket, "claims_redirect_uri": self.claims_redirect_uri,
                  "state": state}
        url = loopback(redirect_user)
        print(f"  -> GET {url}")
        response = self.browser.get(url, params=params, timeout=TIMEOUT, allow_redirects=False)
        for _ in range(MAX_PAGES):
            print(f"  <- {response.status_code}")
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(self.claims_redirect_uri):
                    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                    if "error" in query:
                        raise Failure(f"claims interaction refused: {query['error']}")
                    if query.get("state") != state or "ticket" not in query:
                        raise Failure("the claims redirect lacks our state or a ticket")
                    print("  back at the claims redirect URI with a new ticket (not followed)")
                    return query["ticket"]
                response = self.browser.get(loopback(location), timeout=TIMEOUT, allow_redirects=False)
                continue
            form = FormParser()
            form.feed(response.text)
            if response.status_code != 200 or form.action is None:
                raise Failure(f"expected a sign-in or release page, got HTTP {response.status_code}")
            data = {name: form.controls.get(name, "") for name in ("request", "csrf_token")}
            if "password" in form.controls:
                print(f"  the sign-in page: Bob signs in as {self.user[0]}")
                data.update(username=self.user[0], password=self.user[1])
            elif "decision" in form.controls:
                print("  the release page: Bob continues")
                data["decision"] = "allow"
            else:
                raise Failure("a page with neither a sign-in nor a release form")
            target = loopback(urljoin(response.url, form.action))
            print(f"  -> POST {target}")
            response = self.browser.post(target, data=data, timeout=TIMEOUT, allow_redirects=False)
        raise Failure(f"no way back to the claims redirect URI after {MAX_PAGES} pages")

    def fetch(self, resource: str) -> dict:
        print("=== 1. the resource, without a token ===")
        first = self.get(resource)
        if first.status_code != 401:
            raise Failure(f"expected 401 and a ticket, got HTTP {first.status_code}: {first.text[:300]}")
        header = first.headers.get("WWW-Authenticate", "")
        print(f"  WWW-Authenticate: {header}")
        challenge = parse_challenge(header)
        if "as_uri" not in challenge or "ticket" not in challenge:
            raise Failure("the challenge lacks as_uri or ticket")

        print("=== 2. discovery ===")
        discovery = challenge["as_uri"].rstrip("/") + "/.well-known/uma2-configuration"
        metadata = self.get(discovery).json()
        token_endpoint = metadata["token_endpoint"]
        print(f"  token endpoint: {token_endpoint}")

        ticket, interacted = challenge["ticket"], False
        while True:
            print("=== 3. the ticket at the token endpoint ===")
            answer = self.redeem(token_endpoint, ticket)
            body = answer.json()
            error, description = body.get("error", ""), body.get("error_description", "")
            if answer.status_code == 200:
                rpt = body["access_token"]
                break
            if answer.status_code == 403 and error == "need_info" and not interacted:
                print(f"  need_info: {description}")
                if "redirect_user" not in body or "ticket" not in body:
                    raise Failure("need_info without a ticket and redirect_user: this app cannot push claims")
                print("=== 4. claims interaction ===")
                ticket, interacted = self.claims_interaction(body["redirect_user"], body["ticket"]), True
                continue
            if answer.status_code == 403 and error == "request_denied":
                raise Denied(description)
            raise Failure(f"HTTP {answer.status_code} `{error}`: {description}")
        print("  an RPT")

        print("=== 5. the resource, with the RPT ===")
        served = self.get(resource, rpt=rpt)
        if served.status_code != 200:
            raise Failure(f"the resource server answered HTTP {served.status_code} with the RPT: {served.text[:300]}")
        return served.json()


def pair(text: str) -> tuple[str, str]:
    first, sep, second = text.partition(":")
    if not (sep and first and second):
        raise argparse.ArgumentTypeError("takes two values joined by `:`")
    return first, second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     epilog="exit status: 0 served, 3 access denied (request_denied), 1 any other failure")
    parser.add_argument("--resource", required=True, help="the resource URL, loopback only")
    parser.add_argument("--client", required=True, type=pair, metavar="ID:SECRET", help="the app's credentials")
    parser.add_argument("--user", required=True, type=pair, metavar="NAME:PASSWORD", help="Bob's account")
    parser.add_argument("--claims-redirect-uri", required=True, metavar="URI",
                        help="the app's registered claims redirect URI (never contacted)")
    args = parser.parse_args(argv)
    try:
        loopback(args.resource)
        app = BudgetApp(*args.client, user=args.user, claims_redirect_uri=args.claims_redirect_uri)
        served = app.fetch(args.resource)
    except Denied as denied:
        print(f"denied: {denied}")
        return DENIED
    except (Failure, requests.RequestException, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"served: {json.dumps(served)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
