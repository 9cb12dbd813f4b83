"""6. The permission endpoint (Federated Authorization §4): one ticket per request, with the spec's errors."""

import pytest
import requests

from support import HTTP_TIMEOUT, ProtectionApi, assert_error, client_credentials_pat


@pytest.fixture
def api(uma):
    return ProtectionApi(uma, client_credentials_pat(uma, uma.admin.add_client()))


@pytest.fixture
def album(api):
    return api.register(["view", "print"], name="album")


def ticket_of(response) -> str:
    assert response.status_code == 201, response.text
    ticket = response.json()["ticket"]
    assert isinstance(ticket, str)
    assert len(ticket) >= 22, "a ticket must carry at least 128 bits"
    return ticket


def test_single_permission(api, album):
    ticket_of(api.ticket({"resource_id": album, "resource_scopes": ["view"]}))


def test_array_of_permissions(api, album):
    diary = api.register(["read", "write"], name="diary")
    body = [
        {"resource_id": album, "resource_scopes": ["view", "print"]},
        {"resource_id": diary, "resource_scopes": ["read"]},
    ]
    ticket_of(api.ticket(body))


def test_every_request_gets_a_distinct_ticket(api, album):
    body = {"resource_id": album, "resource_scopes": ["view"]}
    tickets = {ticket_of(api.ticket(body)) for _ in range(5)}
    assert len(tickets) == 5


def test_unknown_resource_is_invalid_resource_id(api, album):
    assert_error(api.ticket({"resource_id": "no-such-resource", "resource_scopes": ["view"]}), 400,
                 "invalid_resource_id")
    mixed = [{"resource_id": album, "resource_scopes": ["view"]},
             {"resource_id": "no-such-resource", "resource_scopes": ["view"]}]
    assert_error(api.ticket(mixed), 400, "invalid_resource_id")


def test_deleted_resource_is_invalid_resource_id(api):
    gone = api.register(["view"], name="gone")
    assert api.delete(gone).status_code in (200, 204)
    assert_error(api.ticket({"resource_id": gone, "resource_scopes": ["view"]}), 400, "invalid_resource_id")


def test_unregistered_scope_is_invalid_scope(api, album):
    assert_error(api.ticket({"resource_id": album, "resource_scopes": ["delete"]}), 400, "invalid_scope")
    assert_error(api.ticket({"resource_id": album, "resource_scopes": ["view", "delete"]}), 400, "invalid_scope")


@pytest.mark.parametrize("body", [
    [],
    {"resource_scopes": ["view"]},
    {"resource_id": 7, "resource_scopes": ["view"]},
    {"resource_id": "x", "resource_scopes": "view"},
    "view",
])
def test_malformed_requests_are_invalid_request(api, album, body):
    if isinstance(body, dict) and body.get("resource_id") == "x":
        body = dict(body, resource_id=album)
    assert_error(api.ticket(body), 400, "invalid_request")


def test_not_json_is_invalid_request(api):
    response = api.request("POST", api.permission_url, data="{oops",
                           headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_a_pat_is_required(uma, album):
    url = uma.endpoint("permission_endpoint")
    body = {"resource_id": album, "resource_scopes": ["view"]}
    assert requests.post(url, json=body, timeout=HTTP_TIMEOUT).status_code == 401
    assert_error(requests.post(url, json=body, headers={"Authorization": "Bearer forged"}, timeout=HTTP_TIMEOUT),
                 401, "invalid_token")
