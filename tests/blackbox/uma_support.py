"""Helpers for the UMA grant tests (test_uma_*.py): a client asking for RPTs through Authlib, owners' policies
pushed with the real CLI or the policy API, RPTs checked with joserfc against the JWKS, and a loopback OpenID
provider (its own key, its JWK Set served from a thread) for trusted-issuer claim tokens.

Like support.py, nothing here knows a path of the server except through discovery; the one exception is the
decision log, which discovery may not list (then `<issuer>/uma/decisions`, as the contract names it).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from support import HTTP_TIMEOUT, Client, ProtectionApi, User, consent_flow, oauth_session

if TYPE_CHECKING:
    from conftest import UmaServer

UMA_GRANT = "urn:ietf:params:oauth:grant-type:uma-ticket"
ID_TOKEN_FORMAT = "http://openid.net/specs/openid-connect-core-1_0.html#IDToken"
POLICY_SCOPE = "uma_policy"
JWS_ALGORITHMS = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]
CLOCK_SKEW = 60


# ---------------------------------------------------------------------------------------------------------------
# The client side of the grant


class UmaClient:
    """A client asking for RPTs at the token endpoint, with Authlib doing the request and client authentication.

    `grant()` returns the raw HTTP response whatever it is (Authlib raises on OAuth errors; a compliance hook keeps
    the response so tests can read `ticket`, `required_claims` and the status code).
    """

    def __init__(self, server: UmaServer, client: Client, auth_method: str | None = None):
        self.server = server
        self.client = client
        self.session = oauth_session(server, client, auth_method=auth_method)
        self._last: requests.Response | None = None
        self.session.register_compliance_hook("access_token_response", self._keep)

    def _keep(self, response: requests.Response) -> requests.Response:
        self._last = response
        return response

    def grant(self, ticket: str | None = None, **params: str) -> requests.Response:
        """POSTs the UMA grant with `ticket` and any of claim_token, claim_token_format, pct, rpt, scope."""
        body = {k: v for k, v in params.items() if v is not None}
        if ticket is not None:
            body["ticket"] = ticket
        self._last = None
        try:
            self.session.fetch_token(self.server.endpoint("token_endpoint"), grant_type=UMA_GRANT, **body)
        except (OAuthError, requests.HTTPError):
            pass
        assert self._last is not None, "Authlib sent no request"
        return self._last

    def rpt(self, ticket: str, **params: str) -> dict:
        """The grant, which must succeed: the token response (RPT, and pct / upgraded where due)."""
        return assert_rpt_response(self.grant(ticket, **params))

    def with_id_token(self, ticket: str, id_token: str, **params: str) -> requests.Response:
        return self.grant(ticket, claim_token=id_token, claim_token_format=ID_TOKEN_FORMAT, **params)

    def revoke(self, token: str, hint: str | None = None) -> requests.Response:
        return self.session.revoke_token(self.server.endpoint("revocation_endpoint"), token=token,
                                         token_type_hint=hint)


def assert_revocation_refused_or_ignored(response: requests.Response) -> None:
    """Another client's revocation request: RFC 7009 §2.1 lets the server refuse it (400 `unauthorized_client`)
    or answer 200 without doing anything; the token must survive either way (the caller checks that)."""
    if response.status_code != 200:
        assert response.status_code == 400, response.text
        assert response.json().get("error") == "unauthorized_client", response.text


def assert_rpt_response(response: requests.Response) -> dict:
    assert response.status_code == 200, f"expected an RPT, got {response.status_code}: {response.text}"
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    assert isinstance(body.get("access_token"), str) and body["access_token"], body
    assert str(body.get("token_type", "")).lower() == "bearer", body
    assert isinstance(body.get("expires_in"), int) and body["expires_in"] > 0, body
    assert "scope" not in body, f"an RPT response has no `scope` (G §3.3.5): {body}"
    return body


def assert_need_info(response: requests.Response, *presented: str) -> dict:
    """A `need_info` answer: 403, a new ticket unlike every one presented so far, `required_claims`."""
    assert response.status_code == 403, f"expected 403 need_info, got {response.status_code}: {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert body.get("error") == "need_info", body
    ticket = body.get("ticket")
    assert isinstance(ticket, str) and len(ticket) >= 16, f"need_info must carry a new ticket: {body}"
    assert ticket not in presented, "need_info must rotate the ticket"
    claims = body.get("required_claims")
    assert isinstance(claims, list) and claims, f"need_info names the claims that would help: {body}"
    return body


def assert_request_denied(response: requests.Response) -> dict:
    assert response.status_code == 403, f"expected 403 request_denied, got {response.status_code}: {response.text}"
    body = response.json()
    assert body.get("error") == "request_denied", body
    assert "ticket" not in body, f"request_denied ends the process: no new ticket ({body})"
    return body


def required_claim(body: dict, name: str) -> dict:
    """The `required_claims` entry for the claim `name` (which must be there)."""
    entries = [c for c in body.get("required_claims", []) if c.get("name") == name]
    assert entries, f"`{name}` is not among the required claims: {body.get('required_claims')}"
    return entries[0]


def permissions_by_resource(permissions: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for permission in permissions:
        out.setdefault(permission["resource_id"], set()).update(permission.get("resource_scopes", []))
    return out


# ---------------------------------------------------------------------------------------------------------------
# RPTs


def decode_rpt(server: UmaServer, rpt: str):
    """The RPT, its signature verified with joserfc against the server's published JWK Set."""
    keys = KeySet.import_key_set(server.jwks())
    return jwt.decode(rpt, keys, algorithms=JWS_ALGORITHMS)


def audience(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def assert_rpt_claims(server: UmaServer, token: dict, *, rs: Client, client: Client,
                      expected: dict[str, set[str]]) -> dict:
    """Checks an RPT's signature, header and claims; returns the claims."""
    decoded = decode_rpt(server, token["access_token"])
    assert decoded.header.get("typ") == "at+jwt", decoded.header
    assert decoded.header.get("kid") in server.kids(), decoded.header
    claims = decoded.claims
    now = time.time()
    assert claims.get("iss") == server.issuer, claims
    assert audience(claims.get("aud")) == [rs.client_id], f"aud must be the resource server: {claims}"
    assert claims.get("azp") == client.client_id, claims
    assert isinstance(claims.get("jti"), str) and claims["jti"], claims
    assert claims.get("iat", now + 1000) <= now + CLOCK_SKEW, claims
    assert claims.get("exp", 0) > now, claims
    assert abs((claims["exp"] - claims["iat"]) - token["expires_in"]) <= 2, (claims, token["expires_in"])
    permissions = claims.get("permissions")
    assert isinstance(permissions, list), claims
    for permission in permissions:
        assert isinstance(permission.get("exp"), int) and permission["exp"] > now, permission
    assert permissions_by_resource(permissions) == expected, permissions
    assert "scope" not in claims, claims
    return claims


def introspect_rpt(server: UmaServer, rpt: str, *, pat: str | None = None,
                   client: Client | None = None) -> dict:
    """Introspection by the resource server, with its PAT or its client credentials (Authlib)."""
    url = server.endpoint("introspection_endpoint")
    if pat is not None:
        response = requests.post(url, data={"token": rpt}, headers={"Authorization": f"Bearer {pat}"},
                                 timeout=HTTP_TIMEOUT)
    else:
        assert client is not None
        with oauth_session(server, client) as session:
            response = session.introspect_token(url, token=rpt)
    assert response.status_code == 200, response.text
    return response.json()


def assert_active_rpt(body: dict, *, server: UmaServer, rs: Client, client: Client,
                      expected: dict[str, set[str]]) -> dict:
    now = time.time()
    assert body.get("active") is True, body
    assert "scope" not in body, f"an RPT's introspection has no `scope` (F §5.1.1): {body}"
    assert body.get("iss") == server.issuer, body
    assert rs.client_id in audience(body.get("aud")), body
    assert body.get("client_id") == client.client_id, body
    assert isinstance(body.get("token_type"), str) and body["token_type"], body
    assert body.get("exp", 0) > now and body.get("iat", now + 1000) <= now + CLOCK_SKEW, body
    permissions = body.get("permissions")
    assert isinstance(permissions, list), body
    for permission in permissions:
        assert isinstance(permission.get("exp"), int) and permission["exp"] > now, permission
    assert permissions_by_resource(permissions) == expected, permissions
    return body


# ---------------------------------------------------------------------------------------------------------------
# Owners' policies and the decision log


def email_policy(scopes: list[str], emails: list[str], resource_name: str | None = None) -> str:
    """A policy permitting `scopes` to the requesting parties with one of these emails."""
    actions = ", ".join(f'Uma::Action::"{s}"' for s in scopes)
    who = " || ".join(f'principal.email == "{e}"' for e in emails)
    condition = f"principal has email && ({who})"
    if resource_name is not None:
        condition += f' && resource has name && resource.name == "{resource_name}"'
    return (f"// written by the black-box suite\npermit (principal, action in [{actions}], resource)\n"
            f"when {{ {condition} }};\n")


PERMIT_ALL = "// permits everything to everyone: must only ever reach its own owner's resources\n" \
             "permit (principal, action, resource);\n"


def push_policy(server: UmaServer, owner: str, name: str, text: str, directory: Path) -> None:
    """`uma-cedar policy push --owner OWNER NAME.cedar` on the running server's data directory."""
    folder = directory / f"policies-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    path = folder / f"{name}.cedar"
    path.write_text(text)
    server.admin.run("policy", "push", "--data-dir", str(server.data_dir), "--owner", owner, str(path))


def remove_policy(server: UmaServer, owner: str, name: str) -> None:
    server.admin.run("policy", "remove", "--data-dir", str(server.data_dir), "--owner", owner, name)


def owner_token(server: UmaServer, client: Client, user: User) -> str:
    """An access token with scope `uma_policy` for `user`, consented through the login and consent pages."""
    return consent_flow(server, client, user, scope=POLICY_SCOPE).token["access_token"]


class PolicyApi:
    """The policy API (`uma_cedar_policy_endpoint`) and the decision log, as one owner."""

    def __init__(self, server: UmaServer, token: str):
        self.server = server
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.url = server.endpoint("uma_cedar_policy_endpoint").rstrip("/")

    def put(self, name: str, text: str) -> requests.Response:
        return self.http.put(f"{self.url}/{name}", data=text.encode(), headers={"Content-Type": "text/plain"},
                             timeout=HTTP_TIMEOUT)

    def delete(self, name: str) -> requests.Response:
        return self.http.delete(f"{self.url}/{name}", timeout=HTTP_TIMEOUT)

    def decisions(self) -> requests.Response:
        return self.http.get(decisions_url(self.server), timeout=HTTP_TIMEOUT)


def decisions_url(server: UmaServer) -> str:
    listed = server.discovery.get("uma_cedar_decisions_endpoint")
    return listed if isinstance(listed, str) and listed else f"{server.issuer}/uma/decisions"


def cli_decisions(server: UmaServer, owner: str, *args: str) -> list[dict]:
    done = server.admin.run("decisions", "list", "--data-dir", str(server.data_dir), "--owner", owner,
                            "--format", "json", *args)
    entries = json.loads(done.stdout)
    assert isinstance(entries, list), done.stdout
    return entries


# ---------------------------------------------------------------------------------------------------------------
# The resource server's side: the UMA challenge (G §3.2) a client reads as_uri and the ticket from


def uma_challenge(server: UmaServer, ticket: str, realm: str = "blackbox") -> str:
    return f'UMA realm="{realm}", as_uri="{server.issuer}", ticket="{ticket}"'


def parse_challenge(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    assert scheme == "UMA", header
    return dict(re.findall(r'([a-z_]+)="([^"]*)"', rest))


# ---------------------------------------------------------------------------------------------------------------
# A loopback OpenID provider: its own EC key, its JWK Set served over HTTP from a thread


class _JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        provider: LoopbackIssuer = self.server.provider  # type: ignore[attr-defined]
        provider.fetches += 1
        if self.path.split("?")[0] != "/jwks.json":
            self.send_error(404)
            return
        body = json.dumps(provider.jwks()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class LoopbackIssuer:
    """An issuer at http://127.0.0.1:PORT whose JWK Set is at /jwks.json, for as long as the test runs.

    `stop()` (always called by the fixture) shuts the thread down; a timer stops it anyway after `max_lifetime`.
    """

    max_lifetime: float = 600.0
    keys: list[ECKey] = field(default_factory=list)
    fetches: int = 0

    def __post_init__(self):
        self.keys = [self.new_key()]
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
        self._http.daemon_threads = True
        self._http.provider = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="loopback-jwks", daemon=True)
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @staticmethod
    def new_key(kid: str | None = None) -> ECKey:
        return ECKey.generate_key(
            "P-256", parameters={"kid": kid or secrets.token_hex(8), "use": "sig", "alg": "ES256"}
        )

    def start(self) -> LoopbackIssuer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._timer.cancel()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks.json"

    @property
    def key(self) -> ECKey:
        return self.keys[0]

    def jwks(self) -> dict:
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def config(self) -> str:
        return f'[[trusted_issuers]]\nissuer = "{self.issuer}"\njwks_uri = "{self.jwks_uri}"\n'

    def id_token(self, audience: str, sub: str, *, key: ECKey | None = None, issuer: str | None = None,
                 lifetime: int = 300, issued: float | None = None, **claims) -> str:
        """An ID token signed with `key` (default: the published key)."""
        signer = key or self.key
        iat = int(issued if issued is not None else time.time())
        payload = {"iss": issuer or self.issuer, "sub": sub, "aud": audience, "iat": iat, "exp": iat + lifetime,
                   **claims}
        return jwt.encode({"alg": "ES256", "kid": signer.kid}, payload, signer)


# ---------------------------------------------------------------------------------------------------------------
# A scene: owner Alice, her resource server (PAT consented through the real pages), a client, requesting parties


@dataclass
class Scene:
    server: UmaServer
    directory: Path
    alice: User
    rs: Client
    pat: str
    api: ProtectionApi
    app: Client
    client: UmaClient
    _id_tokens: dict[str, str] = field(default_factory=dict)

    def register(self, scopes: list[str], name: str | None = None, **fields) -> str:
        if name is not None:
            fields["name"] = name
        return self.api.register(scopes, **fields)

    def ticket(self, *permissions: tuple[str, list[str]], api: ProtectionApi | None = None) -> str:
        """A permission ticket from the permission endpoint, as the resource server would ask for it."""
        body = [{"resource_id": rid, "resource_scopes": scopes} for rid, scopes in permissions]
        response = (api or self.api).ticket(body[0] if len(body) == 1 else body)
        assert response.status_code == 201, response.text
        ticket = response.json()["ticket"]
        assert isinstance(ticket, str) and ticket
        return ticket

    def share(self, name: str, text: str, owner: str | None = None) -> None:
        push_policy(self.server, owner or self.alice.username, name, text, self.directory)

    def party(self, prefix: str = "bob") -> User:
        return self.server.admin.add_user(prefix)

    def rpt_for(self, party: User, *permissions: tuple[str, list[str]], **params: str) -> dict:
        """The RPT response for a new ticket on `permissions`, pushing `party`'s ID token (for the scene's client)."""
        return self.client.rpt(self.ticket(*permissions), claim_token=self.id_token(party),
                               claim_token_format=ID_TOKEN_FORMAT, **params)

    def id_token(self, party: User, client: Client | None = None) -> str:
        """The party's ID token from this server's own login (real pages, scope `openid email`), for `client`."""
        client = client or self.app
        cache_key = f"{party.username}/{client.client_id}"
        if cache_key not in self._id_tokens:
            token = consent_flow(self.server, client, party, scope="openid email").token
            assert token.get("id_token"), token
            self._id_tokens[cache_key] = token["id_token"]
        return self._id_tokens[cache_key]


def make_scene(server: UmaServer, directory: Path) -> Scene:
    alice = server.admin.add_user("alice")
    rs = server.admin.add_client("rs", name="Bank")
    pat = consent_flow(server, rs, alice, scope="uma_protection").token["access_token"]
    app = server.admin.add_client("app", name="Budget App")
    return Scene(server, directory, alice, rs, pat, ProtectionApi(server, pat), app, UmaClient(server, app))


# Fixtures for the tests that trust a loopback issuer; a test module imports `idp` and `server` by name.


@pytest.fixture
def idp():
    """A trusted OpenID provider on loopback, stopped after the test."""
    provider = LoopbackIssuer(max_lifetime=300).start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def server(make_server, idp, tmp_path):
    """This server, configured to trust `idp`."""
    config = tmp_path / "trusted-issuers.toml"
    config.write_text(idp.config())
    return make_server("--config", str(config))
