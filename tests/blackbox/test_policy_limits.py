"""Issue 7, finding 1: a policy nested too deep (the issue's 452 bytes, 200 parentheses deep) aborted the whole
server with a stack overflow. It must be refused with 400 and a located `limit` diagnostic, leave the owner's set
as it was, and the server must keep serving; so must the other shapes that build a deep tree."""

import pytest
import requests

from conftest import DISCOVERY_PATH
from support import HTTP_TIMEOUT, assert_error
from uma_support import PolicyApi, make_scene, owner_token

ALLOW_ALL = "permit (principal, action, resource);\n"


def policy(condition: str) -> str:
    return f"permit (principal, action, resource) when {{ {condition} }};\n"


def nested_equalities(depth: int) -> str:
    expression = "(1 == 1)"
    for _ in range(depth):
        expression = f"({expression} == true)"
    return expression


DEEP = {
    "parentheses": policy("(" * 200 + "true" + ")" * 200),
    "sets": policy("[" * 150 + "1" + "]" * 150 + " == [1]"),
    "equalities": policy(nested_equalities(150)),
    "or": policy("(true || " * 150 + "true" + ")" * 150),
    "and chain": policy(" && ".join(["true"] * 3000)),
    "attribute chain": policy("context" + ".a" * 3000 + " == 1"),
    "records": policy("{a: " * 1000 + "1" + "}" * 1000 + " == 1"),
    "negations": policy("!" * 3000 + "true"),
}


@pytest.fixture
def owner(uma, tmp_path):
    scene = make_scene(uma, tmp_path)
    api = PolicyApi(uma, owner_token(uma, scene.app, scene.alice))
    created = api.put("kept", ALLOW_ALL)
    assert created.status_code == 201, created.text
    return api


def test_the_issues_policy_is_refused_with_a_located_diagnostic(owner, uma):
    text = DEEP["parentheses"]
    assert len(text.encode()) == 452
    response = owner.put("x", text)
    body = assert_error(response, 400, "invalid_request")
    first = body["diagnostics"][0]
    assert first["kind"] == "limit", body
    assert (first["source"], first["line"], first["column"]) == ("x", 1, 56), body
    assert "12" in first["help"], body
    # The server is still up, and the owner's set is what it was.
    assert requests.get(uma.base_url + DISCOVERY_PATH, timeout=HTTP_TIMEOUT).status_code == 200
    listed = owner.http.get(owner.url, timeout=HTTP_TIMEOUT)
    assert listed.status_code == 200, listed.text
    assert [p["name"] for p in listed.json()] == ["kept"]


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_every_deep_shape_is_refused_and_the_server_keeps_serving(owner, uma, shape):
    for name in ("x", "kept"):
        response = owner.put(name, DEEP[shape])
        body = assert_error(response, 400, "invalid_request")
        assert body["diagnostics"][0]["kind"] == "limit", body
    assert requests.get(uma.base_url + DISCOVERY_PATH, timeout=HTTP_TIMEOUT).status_code == 200
    kept = owner.http.get(f"{owner.url}/kept", timeout=HTTP_TIMEOUT)
    assert kept.status_code == 200 and kept.json()["text"] == ALLOW_ALL, kept.text
