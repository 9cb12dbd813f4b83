"""Error descriptions never echo raw input (issue 7, finding 4): RFC 6749 §5.2 allows only %x20-21 / %x23-5B /
%x5D-7E in `error_description`, and what a caller sent is quoted only as a short excerpt, in the body, in the
`WWW-Authenticate` challenge alike."""

import requests

from support import HTTP_TIMEOUT, client_credentials_pat

# Quotes, a backslash, a non-ASCII letter, an ANSI escape sequence and a line break, then 60,000 characters.
HOSTILE = 'x"y\\z\u00e9\x1b[31mred\x1b[0m\r\nInjected: yes' + "A" * 60_000
LONGEST_DESCRIPTION = 512


def allowed(c: str) -> bool:
    return c in "\x20\x21" or "\x23" <= c <= "\x5b" or "\x5d" <= c <= "\x7e"


def assert_clean(response: requests.Response, what: str) -> str:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:200]}"
    body = response.json()
    assert "error" in body, f"{what}: {body}"
    description = body.get("error_description", "")
    bad = sorted({c for c in description if not allowed(c)})
    assert not bad, f"{what}: characters outside RFC 6749 §5.2 in error_description: {bad!r}"
    assert len(description) <= LONGEST_DESCRIPTION, f"{what}: description of {len(description)} characters"
    assert len(response.content) < 4096, f"{what}: an error body of {len(response.content)} bytes"
    challenge = response.headers.get("WWW-Authenticate", "")
    assert all(allowed(c) or c == '"' for c in challenge), f"{what}: {challenge!r}"
    assert len(challenge) < 1024, what
    return description


def test_no_error_body_echoes_raw_input(uma):
    client = uma.admin.add_client("errs")
    pat = client_credentials_pat(uma, client)
    token = uma.endpoint("token_endpoint")
    auth = (client.client_id, client.secret)
    answers = {
        "token: grant_type": requests.post(token, data={"grant_type": HOSTILE}, auth=auth, timeout=HTTP_TIMEOUT),
        "token: scope": requests.post(
            token, data={"grant_type": "client_credentials", "scope": HOSTILE}, auth=auth, timeout=HTTP_TIMEOUT
        ),
        "token: scope token": requests.post(
            token, data={"grant_type": "client_credentials", "scope": "a" + HOSTILE[:40] + "\u00e9" * 5000},
            auth=auth, timeout=HTTP_TIMEOUT,
        ),
        "resources: resource_scopes": requests.post(
            uma.endpoint("resource_registration_endpoint"),
            json={"resource_scopes": [HOSTILE]}, headers={"Authorization": f"Bearer {pat}"}, timeout=HTTP_TIMEOUT,
        ),
        "resources: icon_uri": requests.post(
            uma.endpoint("resource_registration_endpoint"),
            json={"resource_scopes": ["view"], "icon_uri": HOSTILE},
            headers={"Authorization": f"Bearer {pat}"}, timeout=HTTP_TIMEOUT,
        ),
        "permission: resource_id": requests.post(
            uma.endpoint("permission_endpoint"),
            json=[{"resource_id": HOSTILE, "resource_scopes": ["view"]}],
            headers={"Authorization": f"Bearer {pat}"}, timeout=HTTP_TIMEOUT,
        ),
        "decisions: limit": requests.get(
            uma.endpoint("uma_cedar_decisions_endpoint"), params={"limit": HOSTILE[:4000]}, timeout=HTTP_TIMEOUT,
        ),
    }
    for what, response in answers.items():
        assert_clean(response, what)
    description = assert_clean(answers["token: grant_type"], "token: grant_type")
    assert answers["token: grant_type"].json()["error"] == "unsupported_grant_type"
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in description
    assert "`x'y?z??[31mred" in description, f"a short, quoted excerpt names what was sent: {description}"

