"""The OpenAPI document (`/openapi.json`, published as `uma_cedar_openapi_uri`) against the running server.

Schemathesis generates requests for every operation the document describes, from the document alone, and sends
them with real credentials: a confidential client's Basic credentials, a PAT, an owner's `uma_policy` token, an
`openid` access token and the initial access token, each where the operation's security requirement names it.
Both valid input (what the document allows) and invalid input (what it forbids) are sent. Every response must be
no server error (5xx) and must match the document: a documented status, the documented media type and headers,
and a body valid against the schema; invalid input must be refused (4xx).

The examples are bounded (a fixed number per operation) and seeded, and Hypothesis keeps its example database
under the test's temporary directory, so a run is repeatable and leaves nothing in the repository.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support import HTTP_TIMEOUT, PAT_SCOPE, ProtectionApi, consent_flow
from uma_support import ID_TOKEN_FORMAT, POLICY_SCOPE, decisions_url, email_policy, make_scene, owner_token

if TYPE_CHECKING:
    from conftest import UmaServer

# Per operation and kind of input (valid, invalid); 26 operations, so a run sends about 1,500 requests.
EXAMPLES_PER_OPERATION = 30
SEED = 20261202

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # Invalid input (what the document forbids) must be refused with a 4xx, not accepted.
    negative_data_rejection,
]


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path):
    """Hypothesis keeps its files (example database, Unicode tables) under the test's temporary directory, never
    in the working directory."""
    set_hypothesis_home_dir(tmp_path / "hypothesis-home")
    yield
    set_hypothesis_home_dir(None)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def credentials(server: UmaServer, initial_token: str) -> tuple[dict[str, str], str]:
    """An `Authorization` value for each security scheme the document names, obtained the way clients do, and
    the id of a resource registered with the PAT."""
    owner = server.admin.add_user("owner")
    client = server.admin.add_client("openapi")
    pat = consent_flow(server, client, owner, scope=PAT_SCOPE).token["access_token"]
    policy = consent_flow(server, client, owner, scope=POLICY_SCOPE).token["access_token"]
    openid = consent_flow(server, client, owner, scope="openid email profile").token["access_token"]
    # Something to find: a registered resource, so reads and the permission endpoint meet real data too.
    resource_id = ProtectionApi(server, pat).register(["view"], name="statement")
    return {
        "client_secret_basic": basic(client.client_id, client.secret),
        "pat": f"Bearer {pat}",
        "owner_token": f"Bearer {policy}",
        "openid_token": f"Bearer {openid}",
        "initial_access_token": f"Bearer {initial_token}",
    }, resource_id


def authorization_for(operation, creds: dict[str, str]) -> dict[str, str]:
    """The header for the operation's first named security requirement (none for public operations)."""
    for requirement in operation.definition.raw.get("security", []):
        for name in requirement:
            return {"Authorization": creds[name]}
    return {}


def test_the_document_is_published_in_discovery(uma):
    url = uma.endpoint("uma_cedar_openapi_uri")
    response = requests.get(url, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert "/token" in doc["paths"] and "/uma/permission" in doc["paths"]


def test_every_operation_answers_as_the_document_says(make_server, tmp_path):
    initial_token = secrets.token_hex(24)  # hex: never starts with `-`, which the CLI would read as an option
    server = make_server("--initial-access-token", initial_token)
    creds, resource_id = credentials(server, initial_token)
    schema = schemathesis.openapi.from_url(server.endpoint("uma_cedar_openapi_uri"), timeout=HTTP_TIMEOUT)
    database = DirectoryBasedExampleDatabase(str(tmp_path / "hypothesis"))

    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    for expected in ("POST /token", "POST /introspect", "POST /revoke", "POST /register", "GET /userinfo",
                     "POST /uma/resources", "PUT /uma/resources/{id}", "POST /uma/permission",
                     "PUT /uma/policies/{name}", "GET /uma/requests", "GET /uma/decisions", "GET /jwks"):
        assert expected in labels, f"{expected} missing from {sorted(labels)}"

    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    with requests.Session() as session:
        runs = [(op, mode, None) for op in operations for mode in GenerationMode]
        # Random ids find nothing; the resource operations also run on the registered resource (deleted last).
        runs += [(op, GenerationMode.POSITIVE, {"id": resource_id})
                 for op in sorted(operations, key=lambda op: op.method.upper() == "DELETE")
                 if op.path == "/uma/resources/{id}"]
        for operation, mode, path_parameters in runs:
            headers = authorization_for(operation, creds)

            @seed(SEED)
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                database=database,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def exercise(case):
                response = case.call_and_validate(base_url=server.base_url, session=session, headers=headers,
                                                  checks=CHECKS, timeout=HTTP_TIMEOUT)
                statuses.setdefault(case.operation.label, set()).add(response.status_code)

            try:
                exercise()
            except Unsatisfiable:
                # An operation that takes no input has no invalid input to send.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as failure:  # noqa: BLE001 - every failing operation is reported, then the test fails
                failures.append(f"{operation.label} ({mode.value} data): {failure}")

    assert not failures, "\n\n".join(failures)
    print({label: sorted(codes) for label, codes in sorted(statuses.items())})
    assert set(statuses) == labels, f"operations never called: {labels - set(statuses)}"
    # The credentials work: the operations they open are reached, not only refused.
    for label in ("GET /uma/resources", "GET /uma/resources/{id}", "PUT /uma/resources/{id}",
                  "DELETE /uma/resources/{id}", "GET /uma/policies", "GET /uma/decisions", "GET /uma/requests",
                  "GET /userinfo", "POST /introspect", "POST /revoke", "GET /jwks"):
        assert {200, 204} & statuses[label], f"{label} never succeeded: {sorted(statuses[label])}"
    assert "panicked" not in server.log_tail(400)


def test_the_uma_flow_answers_as_the_document_says(make_server, tmp_path):
    """Answers random input rarely reaches: an RPT and its introspection, `need_info` with a ticket, the decision
    log with entries, the policy API on a stored policy, held requests and their approval and denial, a client
    registered dynamically."""
    initial_token = secrets.token_hex(24)  # hex: never starts with `-`, which the CLI would read as an option
    server = make_server("--initial-access-token", initial_token)
    schema = schemathesis.openapi.from_url(server.endpoint("uma_cedar_openapi_uri"), timeout=HTTP_TIMEOUT)

    def conforms(path: str, method: str, response: requests.Response, status: int) -> dict:
        assert response.status_code == status, response.text
        schema[path][method].validate_response(response)
        return response.json() if response.content else {}

    scene = make_scene(server, tmp_path)
    bob = scene.party("bob")
    carol = scene.party("carol")
    resource = scene.register(["view"], name="statement")
    scene.share("bob-views", email_policy(["view"], [bob.email]))

    granted = scene.client.grant(scene.ticket((resource, ["view"])), claim_token=scene.id_token(bob),
                                 claim_token_format=ID_TOKEN_FORMAT)
    rpt = conforms("/token", "POST", granted, 200)["access_token"]
    refused = scene.client.grant(scene.ticket((resource, ["view"])), claim_token=scene.id_token(carol),
                                 claim_token_format=ID_TOKEN_FORMAT)
    assert refused.status_code == 403, refused.text
    conforms("/token", "POST", refused, 403)
    asked = scene.client.grant(scene.ticket((resource, ["view"])))
    assert conforms("/token", "POST", asked, 403)["error"] == "need_info"

    introspected = requests.post(server.endpoint("introspection_endpoint"), data={"token": rpt},
                                 headers={"Authorization": f"Bearer {scene.pat}"}, timeout=HTTP_TIMEOUT)
    assert conforms("/introspect", "POST", introspected, 200)["permissions"]

    owner = {"Authorization": f"Bearer {owner_token(server, scene.rs, scene.alice)}"}
    decisions = requests.get(decisions_url(server), headers=owner, timeout=HTTP_TIMEOUT)
    assert len(conforms("/uma/decisions", "GET", decisions, 200)) >= 3
    policies = server.endpoint("uma_cedar_policy_endpoint")
    assert conforms("/uma/policies", "GET", requests.get(policies, headers=owner, timeout=HTTP_TIMEOUT), 200)
    one = requests.get(f"{policies}/bob-views", headers=owner, timeout=HTTP_TIMEOUT)
    conforms("/uma/policies/{name}", "GET", one, 200)
    invalid = requests.put(f"{policies}/broken", data=b"permit (principal, action, resource) when { nope };",
                           headers={**owner, "Content-Type": "text/plain"}, timeout=HTTP_TIMEOUT)
    assert conforms("/uma/policies/{name}", "PUT", invalid, 400)["diagnostics"]

    # Held requests (UMA Grant §3.3.6 `request_submitted`) and the owner's answers to them.
    scene.share("ask-anyone", '@ask("anyone")\npermit (principal, action, resource);\n')
    for name in ("dave", "erin"):
        party = scene.party(name)
        submitted = scene.client.grant(scene.ticket((resource, ["view"])), claim_token=scene.id_token(party),
                                       claim_token_format=ID_TOKEN_FORMAT)
        assert conforms("/token", "POST", submitted, 403)["error"] == "request_submitted"
    requests_url = server.endpoint("uma_cedar_requests_endpoint")
    listed = conforms("/uma/requests", "GET", requests.get(requests_url, headers=owner, timeout=HTTP_TIMEOUT), 200)
    assert len(listed) == 2, listed
    approve, deny = (item["id"] for item in listed)
    approved = requests.post(f"{requests_url}/{approve}/approve", json={"until": "2099-01-01"}, headers=owner,
                             timeout=HTTP_TIMEOUT)
    assert conforms("/uma/requests/{id}/approve", "POST", approved, 200)["state"] == "approved"
    denied = requests.post(f"{requests_url}/{deny}/deny", headers=owner, timeout=HTTP_TIMEOUT)
    assert conforms("/uma/requests/{id}/deny", "POST", denied, 200)["state"] == "denied"

    registered = requests.post(server.endpoint("registration_endpoint"), timeout=HTTP_TIMEOUT,
                               headers={"Authorization": f"Bearer {initial_token}"},
                               json={"redirect_uris": ["https://app.example/cb"], "client_name": "Registered"})
    assert conforms("/register", "POST", registered, 201)["client_secret"]
