"""Secret scopes and secrets: names and timestamps from the list routes, never values.

Routes, bodies and error codes: Databricks REST reference "Secret" and databricks-sdk-py
`service/workspace.py` SecretsAPI (create_scope, delete_scope, list_scopes, put_secret,
delete_secret, list_secrets, get_secret docstrings). A duplicate scope is a 400
RESOURCE_ALREADY_EXISTS "Scope x already exists!" (databricks/databricks-cli#340,
Azure/azure-databricks-operator#91). get_secret returns the base64 value to the scope's creator
(databricks/cli acceptance/bundle/resources/secret_scopes/basic, a cloud test).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import START, Api, error_code, make_emulator, yaml_file

SECRETS = "/api/2.0/secrets"


@pytest.fixture
def emu() -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator(objects={"secrets": {"llm": ["openai-key", "anthropic-key"]}})
    yield emulator
    emulator.close()


def test_objects_file_scopes_list_names_and_timestamps_only(api: Api) -> None:
    assert api.get(f"{SECRETS}/scopes/list").json() == {
        "scopes": [{"name": "llm", "backend_type": "DATABRICKS"}]
    }
    listed = api.get(f"{SECRETS}/list", params={"scope": "llm"}).json()
    assert listed == {
        "secrets": [
            {"key": "anthropic-key", "last_updated_timestamp": int(START * 1000)},
            {"key": "openai-key", "last_updated_timestamp": int(START * 1000)},
        ]
    }


def test_missing_scope_is_404(api: Api) -> None:
    r = api.get(f"{SECRETS}/list", params={"scope": "nope"})
    assert (r.status_code, error_code(r)) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert r.json()["message"] == "Scope nope does not exist!"
    r = api.post(f"{SECRETS}/put", json={"scope": "nope", "key": "k", "string_value": "v"})
    assert (r.status_code, error_code(r)) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_create_put_list_get_delete(emu: Emulator[ManualClock], api: Api) -> None:
    assert api.post(f"{SECRETS}/scopes/create", json={"scope": "search"}).json() == {}
    again = api.post(f"{SECRETS}/scopes/create", json={"scope": "Search"})  # case-insensitive
    assert (again.status_code, error_code(again)) == (400, "RESOURCE_ALREADY_EXISTS")
    assert again.json()["message"] == "Scope Search already exists!"
    emu.advance(5)
    r = api.post(
        f"{SECRETS}/put", json={"scope": "search", "key": "hf-token", "string_value": "s3cr3t"}
    )
    assert (r.status_code, r.json()) == (200, {})
    raw = base64.b64encode(b"\x01\x02\x03").decode()
    api.post(f"{SECRETS}/put", json={"scope": "search", "key": "blob", "bytes_value": raw})
    listed = api.get(f"{SECRETS}/list", params={"scope": "search"})
    assert listed.json() == {
        "secrets": [
            {"key": "blob", "last_updated_timestamp": int((START + 5) * 1000)},
            {"key": "hf-token", "last_updated_timestamp": int((START + 5) * 1000)},
        ]
    }
    assert "s3cr3t" not in listed.text
    got = api.get(f"{SECRETS}/get", params={"scope": "search", "key": "hf-token"}).json()
    assert got == {"key": "hf-token", "value": base64.b64encode(b"s3cr3t").decode()}
    got = api.get(f"{SECRETS}/get", params={"scope": "search", "key": "blob"}).json()
    assert got["value"] == raw
    # A key from the objects file has no value.
    assert api.get(f"{SECRETS}/get", params={"scope": "llm", "key": "openai-key"}).json() == {
        "key": "openai-key",
        "value": "",
    }
    assert api.post(f"{SECRETS}/delete", json={"scope": "search", "key": "blob"}).json() == {}
    r = api.post(f"{SECRETS}/delete", json={"scope": "search", "key": "blob"})
    assert (r.status_code, error_code(r)) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = api.get(f"{SECRETS}/get", params={"scope": "search", "key": "blob"})
    assert r.status_code == 404
    assert api.post(f"{SECRETS}/scopes/delete", json={"scope": "search"}).json() == {}
    assert api.get(f"{SECRETS}/list", params={"scope": "search"}).status_code == 404
    r = api.post(f"{SECRETS}/scopes/delete", json={"scope": "search"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"scope": "llm", "key": "k"}, "MALFORMED_REQUEST"),
        (
            {"scope": "llm", "key": "k", "string_value": "a", "bytes_value": "YQ=="},
            "MALFORMED_REQUEST",
        ),
        ({"scope": "llm", "key": "k", "bytes_value": "not base64!"}, "INVALID_PARAMETER_VALUE"),
        ({"scope": "llm", "key": "bad key", "string_value": "a"}, "INVALID_PARAMETER_VALUE"),
        (
            {"scope": "llm", "key": "k", "string_value": "x" * (128 * 1024 + 1)},
            "INVALID_PARAMETER_VALUE",
        ),
        ({"key": "k", "string_value": "a"}, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_put_validation(api: Api, body: dict[str, str], code: str) -> None:
    r = api.post(f"{SECRETS}/put", json=body)
    assert (r.status_code, error_code(r)) == (400, code)


def test_scope_name_and_initial_manage_principal_are_validated(api: Api) -> None:
    r = api.post(f"{SECRETS}/scopes/create", json={"scope": "has space"})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    r = api.post(
        f"{SECRETS}/scopes/create", json={"scope": "ok", "initial_manage_principal": "admins"}
    )
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_scope_acl_decides_who_lists_and_writes(tmp_path: Path) -> None:
    users = yaml_file(
        tmp_path / "users.yaml",
        {
            "users": [
                {"user_name": "root@example.com", "groups": ["admins"], "tokens": ["root"]},
                {"user_name": "ana@example.com", "groups": ["llm-readers"], "tokens": ["ana"]},
                {"user_name": "bob@example.com", "tokens": ["bob"]},
            ]
        },
    )
    # Long form in the objects file: `read` says who holds READ.
    objects = {"secrets": {"llm": {"keys": ["openai-key"], "read": ["llm-readers"]}}}
    emu = make_emulator(users_file=users, objects=objects)
    ana, bob, root = Api(emu, "ana"), Api(emu, "bob"), Api(emu, "root")
    try:
        # Scope names are readable by every user.
        assert bob.get(f"{SECRETS}/scopes/list").json()["scopes"][0]["name"] == "llm"
        assert ana.get(f"{SECRETS}/list", params={"scope": "llm"}).status_code == 200
        denied = bob.get(f"{SECRETS}/list", params={"scope": "llm"})
        assert (denied.status_code, error_code(denied)) == (403, "PERMISSION_DENIED")
        assert "READ" in denied.json()["message"]
        r = ana.post(f"{SECRETS}/put", json={"scope": "llm", "key": "k", "string_value": "v"})
        assert r.status_code == 403  # READ does not allow writing
        assert root.get(f"{SECRETS}/list", params={"scope": "llm"}).status_code == 200
        # A created scope gives its creator MANAGE, nobody else anything...
        assert bob.post(f"{SECRETS}/scopes/create", json={"scope": "bobs"}).status_code == 200
        assert bob.get(f"{SECRETS}/list", params={"scope": "bobs"}).status_code == 200
        assert ana.get(f"{SECRETS}/list", params={"scope": "bobs"}).status_code == 403
        assert ana.post(f"{SECRETS}/scopes/delete", json={"scope": "bobs"}).status_code == 403
        # ...unless created with initial_manage_principal=users (SecretsAPI.create_scope).
        body = {"scope": "shared", "initial_manage_principal": "users"}
        assert bob.post(f"{SECRETS}/scopes/create", json=body).status_code == 200
        assert ana.get(f"{SECRETS}/list", params={"scope": "shared"}).status_code == 200
    finally:
        for client in (ana, bob, root):
            client.close()
        emu.close()


def test_without_an_objects_file_scopes_exist_once_created() -> None:
    # Scopes are the one kind that cannot be permissive: only a list says whether a key exists.
    emu = make_emulator()
    api = Api(emu)
    try:
        assert api.get(f"{SECRETS}/scopes/list").json() == {}
        assert api.get(f"{SECRETS}/list", params={"scope": "llm"}).status_code == 404
        api.post(f"{SECRETS}/scopes/create", json={"scope": "llm"})
        assert api.get(f"{SECRETS}/list", params={"scope": "llm"}).json() == {}
        emu.seed_objects({"secrets": {"llm": ["openai"]}})
        assert api.get(f"{SECRETS}/list", params={"scope": "llm"}).json()["secrets"][0]["key"] == (
            "openai"
        )
    finally:
        api.close()
        emu.close()
