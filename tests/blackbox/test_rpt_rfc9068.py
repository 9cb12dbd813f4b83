"""RPTs are JWT access tokens as RFC 9068 defines them (issue 7, finding 7): a resource server validating them
strictly, from outside with joserfc and the checks of RFC 9068 §4, accepts every RPT the server issues: without
claims, on this server's own ID token, and on a trusted issuer's ID token. Every RPT has a `sub` (§2.2 makes it
REQUIRED), unique across issuers: two issuers' `bob` are two subjects. Introspection reports the same `sub`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from uma_support import (
    ID_TOKEN_FORMAT, JWS_ALGORITHMS, PERMIT_ALL, introspect_rpt, make_scene,
)
from uma_support import idp, server  # noqa: F401  (fixtures: a trusted loopback issuer, a server trusting it)

ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
LEEWAY = 60


@pytest.fixture
def scene(server, tmp_path):
    scene = make_scene(server, tmp_path)
    scene.share("everyone", PERMIT_ALL)
    return scene


def b64url_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def validate_access_token(server, token: str, resource_server: str) -> dict:
    """A strict RFC 9068 §4 validation by a resource server that knows only the issuer, its own client id and the
    JWK Set published at the discovery document's `jwks_uri`. Returns the claims; fails on any deviation."""
    header = b64url_json(token.split(".")[0])
    # §4 step 1 (and §2.1): the type says this is an access token, never an ID token passed off as one.
    assert header.get("typ", "").lower() in ACCESS_TOKEN_TYPES, f"typ must be at+jwt: {header}"
    # §4: `none` is never acceptable; the algorithm is an asymmetric one published in the JWK Set.
    assert header.get("alg") in JWS_ALGORITHMS, header
    assert header.get("kid") in server.kids(), f"kid must name a key of the JWK Set: {header}"
    # §4 steps 5-6: the signature, against the issuer's published keys only.
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(server.jwks()), algorithms=[header["alg"]])
    except JoseError as error:
        pytest.fail(f"the RPT's signature does not verify against the JWK Set: {error}")
    claims = decoded.claims
    # §2.2: every REQUIRED claim, present and of its type; §4 steps 2-4 and 7: issuer, audience, expiry.
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": server.issuer},
        aud={"essential": True, "value": resource_server},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
        client_id={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        pytest.fail(f"a strict RFC 9068 validator rejects the RPT: {error}: {claims}")
    for name in ("iss", "sub", "client_id", "jti"):
        assert isinstance(claims[name], str) and claims[name], f"`{name}` must be a non-empty string: {claims}"
    for name in ("exp", "iat"):
        assert isinstance(claims[name], int) and not isinstance(claims[name], bool), f"`{name}`: {claims}"
    assert claims["iat"] <= time.time() + LEEWAY < claims["exp"] + LEEWAY, claims
    return claims


def foreign_subject(iss: str, sub: str) -> str:
    """The documented derivation (docs/uma-grant.md, "The RPT"), computed here independently of the server."""
    data = b"".join(struct.pack(">Q", len(part.encode())) + part.encode() for part in (iss, sub))
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rpt_for(scene, resource: str, **params: str) -> str:
    token = scene.client.rpt(scene.ticket((resource, ["view"])), **params)
    assert isinstance(token.get("access_token"), str), token
    return token["access_token"]


def assert_introspected_sub(server, scene, rpt: str, claims: dict) -> None:
    body = introspect_rpt(server, rpt, pat=scene.pat)
    assert body.get("active") is True, body
    assert body.get("sub") == claims["sub"], f"introspection must report the RPT's sub: {body} vs {claims}"


def own_subject(server, id_token: str) -> str:
    decoded = jwt.decode(id_token, KeySet.import_key_set(server.jwks()), algorithms=JWS_ALGORITHMS)
    return decoded.claims["sub"]


def test_an_rpt_without_claims_is_a_valid_access_token_naming_the_client(server, scene):
    account = scene.register(["view"], name="Checking")
    rpt = rpt_for(scene, account)
    claims = validate_access_token(server, rpt, scene.rs.client_id)
    assert claims["client_id"] == scene.app.client_id, claims
    assert claims["sub"] == scene.app.client_id, f"no person identified: RFC 9068 §2.2 names the client ({claims})"
    assert "requesting_party" not in claims, claims
    assert_introspected_sub(server, scene, rpt, claims)


def test_an_rpt_on_this_servers_id_token_keeps_the_users_sub(server, scene):
    account = scene.register(["view"], name="Checking")
    bob = scene.party("bob")
    id_token = scene.id_token(bob)
    rpt = rpt_for(scene, account, claim_token=id_token, claim_token_format=ID_TOKEN_FORMAT)
    claims = validate_access_token(server, rpt, scene.rs.client_id)
    subject = own_subject(server, id_token)
    assert claims["sub"] == subject, claims
    assert claims.get("requesting_party") == {"iss": server.issuer, "sub": subject}, claims
    assert_introspected_sub(server, scene, rpt, claims)


def test_an_rpt_on_a_trusted_issuers_id_token_has_a_derived_sub(server, scene, idp):
    account = scene.register(["view"], name="Checking")
    id_token = idp.id_token(scene.app.client_id, "bob-at-partner")
    rpt = rpt_for(scene, account, claim_token=id_token, claim_token_format=ID_TOKEN_FORMAT)
    claims = validate_access_token(server, rpt, scene.rs.client_id)
    assert claims["sub"] == foreign_subject(idp.issuer, "bob-at-partner"), claims
    assert claims.get("requesting_party") == {"iss": idp.issuer, "sub": "bob-at-partner"}, claims
    assert_introspected_sub(server, scene, rpt, claims)


def test_two_issuers_bob_get_different_subs(server, scene, idp):
    account = scene.register(["view"], name="Checking")
    local = scene.party("bob")
    local_token = scene.id_token(local)
    subject = own_subject(server, local_token)
    # The partner's user has the very same subject string as this server's bob.
    partner_token = idp.id_token(scene.app.client_id, subject)

    local_claims = validate_access_token(
        server, rpt_for(scene, account, claim_token=local_token, claim_token_format=ID_TOKEN_FORMAT),
        scene.rs.client_id)
    partner_claims = validate_access_token(
        server, rpt_for(scene, account, claim_token=partner_token, claim_token_format=ID_TOKEN_FORMAT),
        scene.rs.client_id)
    assert local_claims["sub"] == subject, local_claims
    assert partner_claims["sub"] != local_claims["sub"], (local_claims, partner_claims)
    assert partner_claims["sub"] == foreign_subject(idp.issuer, subject), partner_claims

    # Stable: the same person of the same issuer gets the same `sub` again.
    again = validate_access_token(
        server, rpt_for(scene, account, claim_token=idp.id_token(scene.app.client_id, subject),
                        claim_token_format=ID_TOKEN_FORMAT),
        scene.rs.client_id)
    assert again["sub"] == partner_claims["sub"], (again, partner_claims)
