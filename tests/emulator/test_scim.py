"""SCIM users, groups and service principals: list, get, filters, paging, group creation.

Envelope and resources: RFC 7644 sections 3.4.2 and 3.12, databricks-sdk-py `service/iam.py`
(ListUsersResponse `Resources`/`totalResults`/`itemsPerPage`/`startIndex`/`schemas`, User,
Group, ServicePrincipal; UsersAPI.list pages with startIndex += len(Resources) and documents
eq, co, sw, ne, and, or). The lookups by name are the ones the Terraform provider sends:
`userName eq "x"`, `displayName eq "x"`, `applicationId eq "x"`, `displayName co "x"`
(databricks/terraform-provider-databricks scim/data_user_test.go, data_group_test.go,
data_service_principal_test.go, data_service_principals_test.go).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, make_emulator, yaml_file

SCIM = "/api/2.0/preview/scim/v2"
EP = "/api/2.0/serving-endpoints"
APP_ID = "6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f"
OBJECTS: dict[str, Any] = {
    "groups": ["risk-analysts", "search-services"],
    "users": ["ana@example.com", "bo@example.com", "cy@example.org"],
    "service_principals": [{"application_id": APP_ID, "display_name": "ci"}],
}


@pytest.fixture
def emu() -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator(objects=OBJECTS)
    yield emulator
    emulator.close()


def names(body: dict[str, Any], attr: str) -> list[str]:
    return [r[attr] for r in body.get("Resources", [])]


def test_list_users_has_the_scim_envelope(api: Api) -> None:
    body = api.get(f"{SCIM}/Users").json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    # The quick-start admin is a user too.
    assert names(body, "userName") == [
        "ana@example.com",
        "bo@example.com",
        "cy@example.org",
        "local-admin@example.com",
    ]
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (4, 4, 1)
    user = body["Resources"][0]
    assert user["schemas"][0] == "urn:ietf:params:scim:schemas:core:2.0:User"
    assert user["emails"] == [{"value": "ana@example.com", "type": "work", "primary": True}]
    assert user["active"] is True


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ('userName eq "ana@example.com"', ["ana@example.com"]),
        ('userName eq "ANA@example.com"', ["ana@example.com"]),  # case-insensitive
        (
            'userName co "example.com"',
            ["ana@example.com", "bo@example.com", "local-admin@example.com"],
        ),
        ('userName sw "b"', ["bo@example.com"]),
        ('userName ew ".org"', ["cy@example.org"]),
        ('userName ne "ana@example.com" and userName sw "c"', ["cy@example.org"]),
        (
            'userName eq "ana@example.com" or userName eq "bo@example.com"',
            ["ana@example.com", "bo@example.com"],
        ),
        ('not (userName co "example.com")', ["cy@example.org"]),
        ('emails.value eq "bo@example.com"', ["bo@example.com"]),
        (
            "userName pr and active eq true",
            ["ana@example.com", "bo@example.com", "cy@example.org", "local-admin@example.com"],
        ),
    ],
)
def test_user_filters(api: Api, flt: str, expected: list[str]) -> None:
    assert names(api.get(f"{SCIM}/Users", params={"filter": flt}).json(), "userName") == expected


def test_lookups_by_name_for_groups_and_service_principals(api: Api) -> None:
    groups = api.get(f"{SCIM}/Groups", params={"filter": 'displayName eq "risk-analysts"'}).json()
    assert names(groups, "displayName") == ["risk-analysts"]
    group = groups["Resources"][0]
    assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]
    sps = api.get(f"{SCIM}/ServicePrincipals", params={"filter": f'applicationId eq "{APP_ID}"'})
    sp = sps.json()["Resources"][0]
    assert (sp["applicationId"], sp["displayName"]) == (APP_ID, "ci")
    assert sp["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"]
    by_name = api.get(f"{SCIM}/ServicePrincipals", params={"filter": 'displayName co "c"'})
    assert names(by_name.json(), "applicationId") == [APP_ID]
    # A lookup that matches nothing has no Resources.
    none = api.get(f"{SCIM}/Groups", params={"filter": 'displayName eq "nope"'}).json()
    assert none["totalResults"] == 0
    assert "Resources" not in none


def test_get_by_id_and_404(api: Api) -> None:
    listed = api.get(f"{SCIM}/Users", params={"filter": 'userName eq "ana@example.com"'}).json()
    user_id = listed["Resources"][0]["id"]
    assert api.get(f"{SCIM}/Users/{user_id}").json()["userName"] == "ana@example.com"
    r = api.get(f"{SCIM}/Users/123")
    assert r.status_code == 404
    assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert r.json()["status"] == "404"
    assert api.get(f"{SCIM}/Groups/123").status_code == 404
    assert api.get(f"{SCIM}/ServicePrincipals/123").status_code == 404
    sp_id = api.get(f"{SCIM}/ServicePrincipals").json()["Resources"][0]["id"]
    assert api.get(f"{SCIM}/ServicePrincipals/{sp_id}").json()["applicationId"] == APP_ID


def test_paging_with_start_index_and_count(api: Api) -> None:
    # The SDK's loop: startIndex starts at 1 and grows by the number of Resources returned.
    seen: list[str] = []
    start = 1
    while True:
        page = api.get(f"{SCIM}/Users", params={"startIndex": start, "count": 3}).json()
        if not page.get("Resources"):
            break
        assert page["startIndex"] == start
        assert page["totalResults"] == 4
        assert page["itemsPerPage"] == len(page["Resources"])
        seen += names(page, "userName")
        start += len(page["Resources"])
    assert len(seen) == 4 == len(set(seen))
    r = api.get(f"{SCIM}/Users", params={"count": "many"})
    assert r.status_code == 400


def test_attributes_and_sorting(api: Api) -> None:
    body = api.get(
        f"{SCIM}/Users",
        params={"attributes": "userName", "sortBy": "userName", "sortOrder": "descending"},
    ).json()
    assert names(body, "userName")[0] == "local-admin@example.com"
    assert set(body["Resources"][0]) == {"id", "schemas", "userName"}
    excluded = api.get(f"{SCIM}/Users", params={"excludedAttributes": "emails,groups"}).json()
    assert "emails" not in excluded["Resources"][0]


@pytest.mark.parametrize(
    "flt", ["userName eq", 'userName zz "a"', '(userName eq "a"', "userName eq bare", 'eq "a"']
)
def test_malformed_filter_is_a_scim_400(api: Api, flt: str) -> None:
    r = api.get(f"{SCIM}/Users", params={"filter": flt})
    assert r.status_code == 400
    assert r.json()["scimType"] == "invalidFilter"


def test_create_and_delete_a_group(api: Api) -> None:
    ana = api.get(f"{SCIM}/Users", params={"filter": 'userName eq "ana@example.com"'}).json()
    ana_id = ana["Resources"][0]["id"]
    r = api.post(
        f"{SCIM}/Groups", json={"displayName": "fraud-oncall", "members": [{"value": ana_id}]}
    )
    assert r.status_code == 201
    group = r.json()
    assert group["displayName"] == "fraud-oncall"
    assert [m["value"] for m in group["members"]] == [ana_id]
    assert api.post(f"{SCIM}/Groups", json={"displayName": "fraud-oncall"}).status_code == 409
    listed = api.get(f"{SCIM}/Groups", params={"filter": 'displayName eq "fraud-oncall"'})
    assert names(listed.json(), "id") == [group["id"]]
    # A created group can be granted on an endpoint (groups here are authoritative).
    created = api.post(EP, json={"name": "ep"}).json()
    acl = {"access_control_list": [{"group_name": "fraud-oncall", "permission_level": "CAN_QUERY"}]}
    assert (
        api.patch(f"/api/2.0/permissions/serving-endpoints/{created['id']}", json=acl).status_code
        == 200
    )
    assert api.delete(f"{SCIM}/Groups/{group['id']}").status_code == 204
    assert api.get(f"{SCIM}/Groups/{group['id']}").status_code == 404
    r = api.patch(f"/api/2.0/permissions/serving-endpoints/{created['id']}", json=acl)
    assert r.status_code == 400
    assert "fraud-oncall" in r.json()["message"]


def test_listed_kinds_decide_which_principals_an_acl_may_name(api: Api) -> None:
    endpoint_id = api.post(EP, json={"name": "ep"}).json()["id"]
    url = f"/api/2.0/permissions/serving-endpoints/{endpoint_id}"

    def grant(**principal: str) -> int:
        body = {"access_control_list": [{**principal, "permission_level": "CAN_QUERY"}]}
        return api.patch(url, json=body).status_code

    assert grant(group_name="risk-analysts") == 200
    assert grant(group_name="risk-analystz") == 400
    assert grant(user_name="ana@example.com") == 200
    assert grant(user_name="nobody@example.com") == 400
    assert grant(service_principal_name=APP_ID) == 200
    assert grant(service_principal_name="0000") == 400


def test_permissive_kinds_make_up_whoever_a_lookup_names() -> None:
    emu = make_emulator(objects={"groups": ["risk-analysts"]})
    api = Api(emu)
    try:
        users = api.get(f"{SCIM}/Users", params={"filter": 'userName eq "zed@example.com"'})
        assert names(users.json(), "userName") == ["zed@example.com"]
        sps = api.get(f"{SCIM}/ServicePrincipals", params={"filter": 'applicationId eq "abc"'})
        assert names(sps.json(), "applicationId") == ["abc"]
        # Groups are listed, so authoritative: an unknown group is not found.
        groups = api.get(f"{SCIM}/Groups", params={"filter": 'displayName eq "nope"'}).json()
        assert groups["totalResults"] == 0
        endpoint_id = api.post(EP, json={"name": "ep"}).json()["id"]
        url = f"/api/2.0/permissions/serving-endpoints/{endpoint_id}"
        body = {
            "access_control_list": [
                {"user_name": "zed@example.com", "permission_level": "CAN_QUERY"}
            ]
        }
        assert api.patch(url, json=body).status_code == 200
    finally:
        api.close()
        emu.close()


def test_users_file_identities_are_listed_with_their_groups(tmp_path: Path) -> None:
    users = yaml_file(
        tmp_path / "users.yaml",
        {
            "users": [{"user_name": "ana@example.com", "groups": ["risk"], "tokens": ["ana"]}],
            "service_principals": [
                {"application_id": APP_ID, "display_name": "ci", "tokens": ["ci"]}
            ],
            "groups": ["empty"],
        },
    )
    emu = make_emulator(users_file=users, objects={"users": ["extra@example.com"]})
    api = Api(emu, "ana")
    try:
        listed = api.get(f"{SCIM}/Users").json()
        assert names(listed, "userName") == ["ana@example.com", "extra@example.com"]
        ana = listed["Resources"][0]
        assert {g["display"] for g in ana["groups"]} == {"risk", "users"}
        # SCIM Me and SCIM Users agree on the id.
        assert api.get(f"{SCIM}/Me").json()["id"] == ana["id"]
        groups = api.get(f"{SCIM}/Groups").json()
        assert names(groups, "displayName") == ["admins", "empty", "risk", "users"]
        risk = next(g for g in groups["Resources"] if g["displayName"] == "risk")
        assert [m["display"] for m in risk["members"]] == ["ana@example.com"]
        # A users file makes every principal kind authoritative.
        none = api.get(f"{SCIM}/Users", params={"filter": 'userName eq "zed@example.com"'})
        assert none.json()["totalResults"] == 0
        # Only admins create groups.
        assert api.post(f"{SCIM}/Groups", json={"displayName": "x"}).status_code == 403
    finally:
        api.close()
        emu.close()
