"""The UMA grant end to end (issue 3), through independent client libraries: Authlib for every OAuth exchange
(the owner's consent with PKCE, the client's grant requests, introspection), joserfc for the RPT's signature.

Alice consents through the real login and consent pages so that her bank (the resource server) gets a PAT; the
bank registers her checking account and asks for a ticket; Alice's policy, pushed with the CLI, lets Bob view
it; the budget app first learns that Bob's `email` is needed, then pushes Bob's ID token from this server's own
login and gets an RPT, which the bank introspects.
"""

import base64
import json
import time

import pytest
from joserfc.errors import BadSignatureError

from support import client_credentials_pat, introspect
from uma_support import (
    ID_TOKEN_FORMAT, UmaClient, assert_active_rpt, assert_need_info, assert_revocation_refused_or_ignored,
    assert_rpt_claims, decode_rpt, email_policy, introspect_rpt, make_scene, parse_challenge, permissions_by_resource,
    required_claim, uma_challenge,
)


def test_the_whole_flow_with_this_servers_own_login(uma, scene):
    # 1. Alice consented (make_scene walked the login and consent pages with PKCE); the PAT is hers.
    pat_info = introspect(uma, scene.pat, client=scene.rs).json()
    assert pat_info.get("active") is True and pat_info.get("sub") == scene.alice.username, pat_info

    # 2. The bank registers Alice's checking account.
    checking = scene.register(["view", "transfer"], name="Checking", type="account")

    # 3. Alice shares it with Bob: her policy file, pushed with the CLI while the server runs.
    bob = scene.party("bob")
    scene.share("bob-views-checking", email_policy(["view"], [bob.email], resource_name="Checking"))

    # 4. The app asks the bank without an RPT: the bank gets a ticket and answers with the UMA challenge.
    challenge = parse_challenge(uma_challenge(uma, scene.ticket((checking, ["view"]))))
    assert challenge["as_uri"] == uma.issuer
    first_ticket = challenge["ticket"]

    # 5. Without claims the server cannot tell who asks: need_info naming `email`, with a new ticket.
    answer = assert_need_info(scene.client.grant(first_ticket), first_ticket)
    email = required_claim(answer, "email")
    assert ID_TOKEN_FORMAT in email.get("claim_token_format", []), email
    assert uma.issuer in email.get("issuer", []), email
    second_ticket = answer["ticket"]

    # 6. Bob logs in at this server through the app (scope `openid email`); the app pushes his ID token.
    id_token = scene.id_token(bob)
    token = scene.client.rpt(second_ticket, claim_token=id_token, claim_token_format=ID_TOKEN_FORMAT)
    assert token.get("upgraded") in (None, False), token
    assert isinstance(token.get("pct"), str) and token["pct"], f"claims were used: a PCT comes along ({token})"

    # 7. The RPT: signed with a key of the JWKS (joserfc), for the bank, naming the app, listing the permission.
    claims = assert_rpt_claims(uma, token, rs=scene.rs, client=scene.app, expected={checking: {"view"}})
    assert abs(claims["permissions"][0]["exp"] - claims["exp"]) <= 5, claims

    # 8. The bank introspects it with its PAT, and with its client credentials: the same answer, no scope.
    expected = {checking: {"view"}}
    for body in (introspect_rpt(uma, token["access_token"], pat=scene.pat),
                 introspect_rpt(uma, token["access_token"], client=scene.rs)):
        assert_active_rpt(body, server=uma, rs=scene.rs, client=scene.app, expected=expected)


def test_a_tampered_rpt_fails_verification(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob", email_policy(["view"], [bob.email]))
    token = scene.rpt_for(bob, (checking, ["view"]))
    decode_rpt(uma, token["access_token"])
    header, _, signature = token["access_token"].split(".")
    other = scene.rpt_for(bob, (checking, ["view"]))["access_token"]
    with pytest.raises(BadSignatureError):
        decode_rpt(uma, f"{header}.{other.split('.')[1]}.{signature}")


def test_only_the_resource_server_it_is_for_learns_about_an_rpt(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob", email_policy(["view"], [bob.email]))
    rpt = scene.rpt_for(bob, (checking, ["view"]))["access_token"]
    other_rs = uma.admin.add_client("rs")
    other_pat = client_credentials_pat(uma, other_rs)
    assert introspect_rpt(uma, rpt, pat=other_pat) == {"active": False}
    assert introspect_rpt(uma, rpt, client=other_rs) == {"active": False}
    assert introspect_rpt(uma, rpt, client=scene.app) == {"active": False}, \
        "the client holds the RPT but is not the resource server it is for"
    assert introspect_rpt(uma, rpt, pat=scene.pat)["active"] is True


def test_the_client_can_revoke_its_rpt(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob", email_policy(["view"], [bob.email]))
    rpt = scene.rpt_for(bob, (checking, ["view"]))["access_token"]
    stranger = UmaClient(uma, uma.admin.add_client("app"))
    assert_revocation_refused_or_ignored(stranger.revoke(rpt))
    assert introspect_rpt(uma, rpt, pat=scene.pat)["active"] is True, "another client cannot revoke the RPT"
    response = scene.client.revoke(rpt, hint="access_token")
    assert response.status_code == 200, response.text
    assert introspect_rpt(uma, rpt, pat=scene.pat) == {"active": False}


def test_partial_grant_gives_what_was_permitted(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view", "transfer"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    ticket = scene.ticket((checking, ["view", "transfer"]))
    token = scene.client.rpt(ticket, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)
    assert_rpt_claims(uma, token, rs=scene.rs, client=scene.app, expected={checking: {"view"}})
    body = introspect_rpt(uma, token["access_token"], pat=scene.pat)
    assert permissions_by_resource(body["permissions"]) == {checking: {"view"}}, body


def test_need_info_wins_over_a_partial_grant(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    records = scene.register(["read"], name="Records")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    scene.share("doctors-read", 'permit (principal, action == Uma::Action::"read", resource)\n'
                                'when { principal has groups && principal.groups.contains("doctors") };\n')
    ticket = scene.ticket((checking, ["view"]), (records, ["read"]))
    answer = assert_need_info(
        scene.client.grant(ticket, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT), ticket
    )
    required_claim(answer, "groups")


def test_everything_permitted_gives_everything(uma, scene):
    bob = scene.party("bob")
    checking = scene.register(["view", "transfer"], name="Checking")
    savings = scene.register(["view"], name="Savings")
    scene.share("bob-all", email_policy(["view", "transfer"], [bob.email]))
    ticket = scene.ticket((checking, ["view", "transfer"]), (savings, ["view"]))
    token = scene.client.rpt(ticket, claim_token=scene.id_token(bob), claim_token_format=ID_TOKEN_FORMAT)
    expected = {checking: {"view", "transfer"}, savings: {"view"}}
    assert_rpt_claims(uma, token, rs=scene.rs, client=scene.app, expected=expected)
    assert_active_rpt(introspect_rpt(uma, token["access_token"], pat=scene.pat), server=uma, rs=scene.rs,
                      client=scene.app, expected=expected)


def test_rpt_lifetime_follows_the_setting(make_server, tmp_path):
    config = tmp_path / "rpt-ttl.toml"
    config.write_text("rpt_ttl = 2\n")
    server = make_server("--config", str(config))
    scene = make_scene(server, tmp_path)
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob", email_policy(["view"], [bob.email]))
    token = scene.rpt_for(bob, (checking, ["view"]))
    assert token["expires_in"] == 2, token
    assert introspect_rpt(server, token["access_token"], pat=scene.pat)["active"] is True
    time.sleep(3.1)
    assert introspect_rpt(server, token["access_token"], pat=scene.pat) == {"active": False}


def test_own_id_tokens_for_another_client_or_tampered_are_not_claims(uma, scene):
    bob, mallory = scene.party("bob"), scene.party("mallory")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))

    # Bob's ID token, but minted for another client (aud): the app cannot use it.
    other_app = uma.admin.add_client("app")
    ticket = scene.ticket((checking, ["view"]))
    answer = assert_need_info(scene.client.with_id_token(ticket, scene.id_token(bob, client=other_app)), ticket)
    required_claim(answer, "email")

    # Mallory's own ID token for the app with Bob's email written in: the signature no longer matches.
    header, payload, signature = scene.id_token(mallory).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = bob.email
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = scene.client.with_id_token(answer["ticket"], f"{header}.{forged}.{signature}")
    assert response.status_code != 200, f"a tampered ID token yielded an RPT: {response.text}"
    assert_need_info(response, ticket, answer["ticket"])
