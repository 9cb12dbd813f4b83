"""4. Resource registration (Federated Authorization §3) from outside: CRUD with the spec's status codes through
a real HTTP client. The endpoint's errors (unknown ids, other methods, bad descriptions, malformed JSON, a missing
or insufficient PAT) are protocol edge cases, tested in process in `tests/api/resources.rs`."""

from urllib.parse import urljoin

import pytest

from support import ProtectionApi, assert_error, client_credentials_pat


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