"""4. Resource registration (Federated Authorization §3): CRUD with the spec's status codes and errors."""

from urllib.parse import urljoin

import pytest
import requests

from support import HTTP_TIMEOUT, ProtectionApi, assert_error, client_credentials_pat, consent_flow


@pytest.fixture
def api(uma):
    return ProtectionApi(uma, client_credentials_pat(uma, uma.admin.add_client()))


PHOTO = {
    "resource_scopes": ["view", "print", "http://photoz.example.com/dev/scopes/all"],
    "name": "Tweedl Social Service",
    "description": "Collection of digital photographs",
    "icon_uri": "http://www.example.com/icons/flower.png",
    "type": "http://www.example.com/rsrcs/photoalbum",
}


def test_create_read_update_delete(api):
    created = api.create(PHOTO)
    assert created.status_code == 201, created.text
    resource_id = created.json()["_id"]
    assert isinstance(resource_id, str) and resource_id
    location = created.headers.get("Location")
    assert location, "201 must carry Location"
    by_location = api.request("GET", urljoin(api.resources_url, location))
    assert by_location.status_code == 200, "Location must name the new resource"

    read = api.get(resource_id)
    assert read.status_code == 200, read.text
    description = read.json()
    assert description["_id"] == resource_id
    for key, value in PHOTO.items():
        assert description[key] == value, key

    replacement = {"resource_scopes": ["view"], "name": "Renamed album"}
    updated = api.put(resource_id, replacement)
    assert updated.status_code == 200, updated.text
    assert updated.json()["_id"] == resource_id
    after = api.get(resource_id).json()
    assert after["resource_scopes"] == ["view"]
    assert after["name"] == "Renamed album"
    for dropped in ("description", "icon_uri", "type"):
        assert dropped not in after, f"PUT replaces the whole description; `{dropped}` stayed"

    deleted = api.delete(resource_id)
    assert deleted.status_code in (200, 204), deleted.text
    assert_error(api.get(resource_id), 404, "not_found")
    assert resource_id not in api.ids()


def test_list_returns_the_ids_of_this_pat(api):
    assert api.ids() == []
    ids = {api.register(["read"], name=f"doc {n}") for n in range(3)}
    listed = api.ids()
    assert all(isinstance(i, str) for i in listed)
    assert set(listed) == ids and len(listed) == 3


def test_extension_members_are_kept(api):
    resource_id = api.register(["read"], name="lab report", **{"x-ward": "cardiology"})
    assert api.get(resource_id).json().get("x-ward") == "cardiology"


def test_unknown_ids_are_not_found(api):
    assert_error(api.get("no-such-resource"), 404, "not_found")
    assert_error(api.put("no-such-resource", {"resource_scopes": ["read"]}), 404, "not_found")
    assert_error(api.delete("no-such-resource"), 404, "not_found")


def test_unsupported_methods(api):
    resource_id = api.register(["read"])
    assert_error(api.request("PATCH", api.item_url(resource_id), json={"name": "x"}), 405, "unsupported_method_type")
    assert_error(api.request("POST", api.item_url(resource_id), json=PHOTO), 405, "unsupported_method_type")
    assert_error(api.request("DELETE", api.resources_url), 405, "unsupported_method_type")
    assert_error(api.request("PUT", api.resources_url, json=PHOTO), 405, "unsupported_method_type")


@pytest.mark.parametrize("body", [
    {"name": "no scopes"},
    {"resource_scopes": "read"},
    {"resource_scopes": [42]},
    ["read"],
])
def test_bad_descriptions_are_invalid_request(api, body):
    assert_error(api.create(body), 400, "invalid_request")


def test_malformed_json_is_invalid_request(api):
    response = api.request("POST", api.resources_url, data="{not json",
                           headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_a_pat_is_required(uma):
    url = uma.endpoint("resource_registration_endpoint")
    missing = requests.get(url, timeout=HTTP_TIMEOUT)
    assert missing.status_code == 401
    assert missing.headers.get("WWW-Authenticate", "").lower().startswith("bearer")
    invalid = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=HTTP_TIMEOUT)
    assert_error(invalid, 401, "invalid_token")
    assert "invalid_token" in invalid.headers.get("WWW-Authenticate", "")


def test_a_token_without_uma_protection_is_insufficient_scope(uma):
    rs = uma.admin.add_client()
    user = uma.admin.add_user()
    token = consent_flow(uma, rs, user, scope="openid email").token["access_token"]
    response = ProtectionApi(uma, token).list()
    assert_error(response, 403, "insufficient_scope")
