"""6. The permission endpoint (Federated Authorization §4) from outside: one ticket per request, through a real
HTTP client. The endpoint's errors (unknown or deleted resources, unregistered scopes, malformed bodies, a missing
PAT) are protocol edge cases, tested in process in `tests/api/permission.rs`."""

import pytest

from support import ProtectionApi, client_credentials_pat


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