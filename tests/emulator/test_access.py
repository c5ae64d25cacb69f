"""Authentication (bearer tokens, OAuth M2M), SCIM /Me and ACL enforcement per level."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock, UsersFileError

from .conftest import Api, create_body, error_code, make_emulator, yaml_file

EP = "/api/2.0/serving-endpoints"
PERMS = "/api/2.0/permissions/serving-endpoints"
SP_APP_ID = "6f1c2f0e-0000-4000-8000-000000000001"

USERS = {
    "users": [
        {"user_name": "admin@example.com", "groups": ["admins"], "tokens": ["t-admin"]},
        {"user_name": "alice@example.com", "display_name": "Alice", "tokens": ["t-alice"]},
        {"user_name": "bob@example.com", "groups": ["data-science"], "tokens": ["t-bob"]},
        {"user_name": "carol@example.com", "tokens": ["t-carol"]},
    ],
    "service_principals": [
        {
            "application_id": SP_APP_ID,
            "display_name": "ci-deployer",
            "client_secret": "ci-secret",
            "tokens": ["t-ci"],
        }
    ],
    "groups": ["risk-analysts"],
}


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator(users_file=yaml_file(tmp_path / "users.yaml", USERS))
    yield emulator
    emulator.close()


def as_(emu: Emulator[Any], token: str | None) -> Api:
    return Api(emu, token=token)


def test_missing_and_unknown_tokens_are_401(team: Emulator[ManualClock]) -> None:
    for token in (None, "t-nobody"):
        client = as_(team, token)
        try:
            r = client.get(EP)
            assert (r.status_code, error_code(r)) == (401, "UNAUTHENTICATED")
            assert "t-nobody" not in r.text
        finally:
            client.close()


def test_acl_levels_are_enforced(team: Emulator[ManualClock]) -> None:
    alice, bob, carol, admin = (as_(team, f"t-{n}") for n in ("alice", "bob", "carol", "admin"))
    try:
        ep = alice.post(EP, json=create_body()).json()
        team.advance(31)
        eid = ep["id"]
        # carol has no grant: cannot see, query or change it.
        r = carol.get(f"{EP}/fraud-scorer")
        assert (r.status_code, error_code(r)) == (403, "PERMISSION_DENIED")
        assert "View" in r.json()["message"]
        assert carol.get(EP).json()["endpoints"] == []
        # Grant CAN_VIEW to carol and CAN_QUERY to bob's group.
        r = alice.patch(
            f"{PERMS}/{eid}",
            json={
                "access_control_list": [
                    {"user_name": "carol@example.com", "permission_level": "CAN_VIEW"},
                    {"group_name": "data-science", "permission_level": "CAN_QUERY"},
                ]
            },
        )
        assert r.status_code == 200
        assert carol.get(f"{EP}/fraud-scorer").json()["permission_level"] == "CAN_VIEW"
        assert [e["name"] for e in carol.get(EP).json()["endpoints"]] == ["fraud-scorer"]
        invoke = carol.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
        assert (invoke.status_code, error_code(invoke)) == (403, "PERMISSION_DENIED")
        assert (
            bob.post(
                "/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]}
            ).status_code
            == 200
        )
        assert bob.get(f"{EP}/fraud-scorer").json()["permission_level"] == "CAN_QUERY"
        # Only CAN_MANAGE may change, delete or set permissions.
        for client in (bob, carol):
            for method, path, body in (
                ("PATCH", f"{EP}/fraud-scorer/tags", {"add_tags": [{"key": "k"}]}),
                ("PUT", f"{EP}/fraud-scorer/config", create_body()["config"]),
                ("DELETE", f"{EP}/fraud-scorer", None),
                ("PUT", f"{PERMS}/{eid}", {"access_control_list": []}),
            ):
                r = client.request(method, path, json=body)
                assert (r.status_code, error_code(r)) == (403, "PERMISSION_DENIED"), (method, path)
        # Admins can do anything, without a grant.
        assert admin.get(f"{EP}/fraud-scorer").json()["permission_level"] == "CAN_MANAGE"
        assert (
            admin.patch(f"{EP}/fraud-scorer/tags", json={"add_tags": [{"key": "k"}]}).status_code
            == 200
        )
    finally:
        for c in (alice, bob, carol, admin):
            c.close()


def test_permissions_put_replaces_and_patch_merges(team: Emulator[ManualClock]) -> None:
    alice = as_(team, "t-alice")
    try:
        eid = alice.post(EP, json=create_body()).json()["id"]
        acl = alice.get(f"{PERMS}/{eid}").json()
        assert acl["object_id"] == f"/serving-endpoints/{eid}"
        assert acl["object_type"] == "serving-endpoint"
        entries = {e.get("user_name") or e.get("group_name"): e for e in acl["access_control_list"]}
        assert entries["alice@example.com"]["display_name"] == "Alice"
        assert entries["alice@example.com"]["all_permissions"] == [
            {"permission_level": "CAN_MANAGE", "inherited": False}
        ]
        assert entries["admins"]["all_permissions"] == [
            {
                "permission_level": "CAN_MANAGE",
                "inherited": True,
                "inherited_from_object": ["/serving-endpoints/"],
            }
        ]
        merged = alice.patch(
            f"{PERMS}/{eid}",
            json={
                "access_control_list": [
                    {"service_principal_name": SP_APP_ID, "permission_level": "CAN_QUERY"}
                ]
            },
        ).json()
        principals = {_principal(e) for e in merged["access_control_list"]}
        assert principals == {"alice@example.com", SP_APP_ID, "admins"}
        sp = next(e for e in merged["access_control_list"] if _principal(e) == SP_APP_ID)
        assert sp["display_name"] == "ci-deployer"
        replaced = alice.put(
            f"{PERMS}/{eid}",
            json={
                "access_control_list": [
                    {"user_name": "alice@example.com", "permission_level": "CAN_MANAGE"},
                    {"group_name": "risk-analysts", "permission_level": "CAN_VIEW"},
                ]
            },
        ).json()
        principals = {_principal(e) for e in replaced["access_control_list"]}
        assert principals == {"alice@example.com", "risk-analysts", "admins"}
        levels = alice.get(f"{PERMS}/{eid}/permissionLevels").json()["permission_levels"]
        assert {lv["permission_level"] for lv in levels} == {"CAN_MANAGE", "CAN_QUERY", "CAN_VIEW"}
        for bad in (
            {"user_name": "ghost@example.com", "permission_level": "CAN_VIEW"},
            {"group_name": "admins", "permission_level": "CAN_VIEW"},
            {"user_name": "alice@example.com", "permission_level": "CAN_OWN"},
            {"user_name": "alice@example.com", "group_name": "x", "permission_level": "CAN_VIEW"},
        ):
            r = alice.patch(f"{PERMS}/{eid}", json={"access_control_list": [bad]})
            assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE"), bad
        # A PUT without the caller removes its own grant: it is then locked out.
        alice.put(f"{PERMS}/{eid}", json={"access_control_list": []})
        assert alice.get(f"{EP}/fraud-scorer").status_code == 403
    finally:
        alice.close()


def _principal(entry: dict[str, Any]) -> str:
    return str(
        entry.get("user_name") or entry.get("group_name") or entry.get("service_principal_name")
    )


def test_scim_me_for_user_and_service_principal(team: Emulator[ManualClock]) -> None:
    bob, ci = as_(team, "t-bob"), as_(team, "t-ci")
    try:
        me = bob.get("/api/2.0/preview/scim/v2/Me").json()
        assert me["userName"] == "bob@example.com"
        assert me["emails"][0]["value"] == "bob@example.com"
        assert {g["display"] for g in me["groups"]} == {"data-science", "users"}
        assert me["id"].isdigit()
        sp = ci.get("/api/2.0/preview/scim/v2/Me").json()
        assert sp["userName"] == SP_APP_ID
        assert sp["applicationId"] == SP_APP_ID
        assert sp["displayName"] == "ci-deployer"
        created = ci.post(EP, json={"name": "by-sp"}).json()
        assert created["creator"] == SP_APP_ID
        acl = ci.get(f"{PERMS}/{created['id']}").json()["access_control_list"]
        assert {_principal(e) for e in acl} == {SP_APP_ID, "admins"}
    finally:
        bob.close()
        ci.close()


def test_oauth_m2m_flow(team: Emulator[ManualClock]) -> None:
    anon = as_(team, None)
    try:
        config = anon.get("/.well-known/databricks-config").json()
        assert config["oidc_endpoint"] == "http://emulator.local/oidc"
        assert config["workspace_id"] == "1234567890123456"
        meta = anon.get("/oidc/.well-known/oauth-authorization-server").json()
        assert meta["token_endpoint"] == "http://emulator.local/oidc/v1/token"
        basic = base64.b64encode(f"{SP_APP_ID}:ci-secret".encode()).decode()
        r = anon.post(
            "/oidc/v1/token",
            content=b"grant_type=client_credentials&scope=all-apis",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        token = r.json()
        assert (token["token_type"], token["expires_in"], token["scope"]) == (
            "Bearer",
            3600,
            "all-apis",
        )
        me = anon.get(
            "/api/2.0/preview/scim/v2/Me",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        ).json()
        assert me["applicationId"] == SP_APP_ID
        # Client secret in the form body also works; a wrong secret does not.
        r = anon.post(
            "/oidc/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": SP_APP_ID,
                "client_secret": "nope",
            },
        )
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        r = anon.post("/oidc/v1/token", data={"grant_type": "password"})
        assert r.status_code == 400
        # Tokens expire.
        team.advance(3601)
        r = anon.get(
            "/api/2.0/preview/scim/v2/Me",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert r.status_code == 401
    finally:
        anon.close()


def test_without_users_file_any_credential_is_the_admin(emu: Emulator[ManualClock]) -> None:
    anyone = as_(emu, "whatever")
    try:
        me = anyone.get("/api/2.0/preview/scim/v2/Me").json()
        assert me["userName"] == "local-admin@example.com"
        assert "admins" in {g["display"] for g in me["groups"]}
        r = anyone.post(
            "/oidc/v1/token",
            data={"grant_type": "client_credentials", "client_id": "any", "client_secret": "thing"},
        )
        assert r.status_code == 200
        empty = as_(emu, None)
        try:
            assert empty.get(EP, headers={"Authorization": "Bearer "}).status_code == 401
        finally:
            empty.close()
    finally:
        anyone.close()


@pytest.mark.parametrize(
    "content",
    [
        "users: {not: a list}",
        "users: [{display_name: no-name}]",
        "service_principals: [{application_id: x, tokens: [a]}]\n"
        "users: [{user_name: u, tokens: [a]}]",
        "surprise: 1",
        "[1, 2",
    ],
)
def test_bad_users_files_are_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(content)
    with pytest.raises(UsersFileError) as info:
        make_emulator(users_file=path)
    assert "[a]" not in str(info.value)


def test_users_file_may_be_json(tmp_path: Path) -> None:
    import json

    path = tmp_path / "users.json"
    path.write_text(json.dumps(USERS))
    emulator = make_emulator(users_file=path)
    client = as_(emulator, "t-carol")
    try:
        assert client.get("/api/2.0/preview/scim/v2/Me").json()["userName"] == "carol@example.com"
    finally:
        client.close()
        emulator.close()
