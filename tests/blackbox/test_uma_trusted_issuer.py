"""The UMA grant with claim tokens from a trusted issuer the test runs itself (issue 3): a loopback OpenID provider
with its own key (joserfc), its JWK Set served over HTTP from a thread on 127.0.0.1, listed in the server's
`[[trusted_issuers]]`. ID tokens signed by an untrusted key, expired, for another audience or from another
issuer never yield an RPT: the answer is need_info, with a new ticket each time.
"""

import time

import pytest

from uma_support import (
    ID_TOKEN_FORMAT, LoopbackIssuer, assert_active_rpt, assert_need_info, assert_request_denied,
    assert_rpt_claims, email_policy, introspect_rpt, make_scene, required_claim,
)
from uma_support import idp, server  # noqa: F401  (fixtures: a trusted loopback issuer, a server trusting it)


@pytest.fixture
def scene(server, tmp_path):
    return make_scene(server, tmp_path)


PARTNER_EMAIL = "bob@partner.example"


def test_the_whole_flow_with_a_trusted_issuer(server, scene, idp):
    account = scene.register(["view", "transfer"], name="Checking", type="account")
    scene.share("partner-bob", email_policy(["view"], [PARTNER_EMAIL]))
    first = scene.ticket((account, ["view"]))

    answer = assert_need_info(scene.client.grant(first), first)
    email = required_claim(answer, "email")
    assert ID_TOKEN_FORMAT in email.get("claim_token_format", []), email
    assert {server.issuer, idp.issuer} <= set(email.get("issuer", [])), \
        f"the issuers a client may bring claims from: this server and the trusted one ({email})"

    id_token = idp.id_token(scene.app.client_id, "bob-at-partner", email=PARTNER_EMAIL, email_verified=True)
    token = scene.client.rpt(answer["ticket"], claim_token=id_token, claim_token_format=ID_TOKEN_FORMAT)
    assert token.get("pct"), token
    assert idp.fetches >= 1, "the server fetched the trusted issuer's JWK Set from its jwks_uri"
    expected = {account: {"view"}}
    assert_rpt_claims(server, token, rs=scene.rs, client=scene.app, expected=expected)
    assert_active_rpt(introspect_rpt(server, token["access_token"], pat=scene.pat), server=server, rs=scene.rs,
                      client=scene.app, expected=expected)


def test_bad_claim_tokens_never_yield_an_rpt(server, scene, idp):
    account = scene.register(["view"], name="Checking")
    scene.share("partner-bob", email_policy(["view"], [PARTNER_EMAIL]))
    app = scene.app.client_id
    impostor = LoopbackIssuer.new_key(kid=idp.key.kid)
    now = time.time()
    bad_tokens = {
        "signed by an untrusted key under the published kid":
            idp.id_token(app, "bob", key=impostor, email=PARTNER_EMAIL),
        "signed by an untrusted key under another kid":
            idp.id_token(app, "bob", key=LoopbackIssuer.new_key(), email=PARTNER_EMAIL),
        "expired an hour ago":
            idp.id_token(app, "bob", issued=now - 7200, lifetime=3600, email=PARTNER_EMAIL),
        "for another audience":
            idp.id_token("some-other-client", "bob", email=PARTNER_EMAIL),
        "from an issuer nobody trusts":
            idp.id_token(app, "bob", issuer="http://127.0.0.1:9/", email=PARTNER_EMAIL),
        "from the trusted issuer's URL with a trailing slash":
            idp.id_token(app, "bob", issuer=idp.issuer + "/", email=PARTNER_EMAIL),
    }
    tickets = [scene.ticket((account, ["view"]))]
    for what, bad in bad_tokens.items():
        response = scene.client.grant(tickets[-1], claim_token=bad, claim_token_format=ID_TOKEN_FORMAT)
        assert response.status_code != 200, f"an ID token {what} yielded an RPT"
        body = assert_need_info(response, *tickets)
        required_claim(body, "email")
        tickets.append(body["ticket"])

    # The last rotated ticket still works with a good token.
    good = idp.id_token(app, "bob", email=PARTNER_EMAIL)
    token = scene.client.rpt(tickets[-1], claim_token=good, claim_token_format=ID_TOKEN_FORMAT)
    assert_rpt_claims(server, token, rs=scene.rs, client=scene.app, expected={account: {"view"}})


def test_the_same_subject_at_two_issuers_is_two_people(server, scene, idp):
    """A policy naming the partner's subject never matches a local user who happens to have the same name."""
    local = scene.party("bob")
    account = scene.register(["view"], name="Checking")
    condition = f'principal.iss == "{idp.issuer}" && principal.sub == "{local.username}"'
    scene.share("partner-subject", f'permit (principal, action == Uma::Action::"view", resource)\n'
                                   f'when {{ {condition} }};\n')
    local_token = scene.id_token(local)
    assert_request_denied(scene.client.grant(scene.ticket((account, ["view"])), claim_token=local_token,
                                             claim_token_format=ID_TOKEN_FORMAT))
    partner_token = idp.id_token(scene.app.client_id, local.username)
    token = scene.client.rpt(scene.ticket((account, ["view"])), claim_token=partner_token,
                             claim_token_format=ID_TOKEN_FORMAT)
    assert_rpt_claims(server, token, rs=scene.rs, client=scene.app, expected={account: {"view"}})


def test_required_claims_name_only_the_issuers_the_policy_accepts(server, scene, idp):
    """`required_claims` (G §3.3.6) never asks for `iss` as a claim, and lists only the issuers that could satisfy
    the owner's policies: the partner alone when the policy names it, every accepted issuer when it names none."""
    account = scene.register(["view"], name="Checking")
    scene.share("partner-only", f'permit (principal, action == Uma::Action::"view", resource)\n'
                                f'when {{ principal.iss == "{idp.issuer}" && principal has email && '
                                f'principal.email == "{PARTNER_EMAIL}" }};\n')
    first = scene.ticket((account, ["view"]))
    answer = assert_need_info(scene.client.grant(first), first)
    names = [c.get("name") for c in answer["required_claims"]]
    assert names == ["email"], f"only email, never iss: {answer['required_claims']}"
    assert required_claim(answer, "email").get("issuer") == [idp.issuer], answer

    scene.share("partner-only", email_policy(["view"], [PARTNER_EMAIL]))
    second = scene.ticket((account, ["view"]))
    answer = assert_need_info(scene.client.grant(second), second)
    assert required_claim(answer, "email").get("issuer") == [server.issuer, idp.issuer], \
        f"no issuer named: this server first, then the trusted one ({answer})"
