"""Unity Catalog registered models, model versions and aliases, and rollouts that name them.

Routes and shapes: Databricks REST reference, "Registered Models" / "Model Versions"
(https://docs.databricks.com/api/workspace/registeredmodels,
https://docs.databricks.com/api/workspace/modelversions) and databricks-sdk-py
`service/catalog.py` (RegisteredModelsAPI, ModelVersionsAPI, RegisteredModelInfo,
ModelVersionInfo, RegisteredModelAlias). Missing securables: Unity Catalog answers
"<Securable> '<full name>' does not exist." (databricks/cli libs/testserver/fake_workspace.go
MapGetUC, acceptance/selftest/record_cloud/volume-io/output.txt), and a model is a "Routine or
Model" (its securable type is FUNCTION, RegisteredModelsAPI docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code, make_emulator, yaml_file

UC = "/api/2.1/unity-catalog/models"
EP = "/api/2.0/serving-endpoints"
FRAUD = {
    "versions": {
        "7": "READY",
        "8": "READY",
        "9": "PENDING_REGISTRATION",
        "10": "FAILED_REGISTRATION",
    },
    "aliases": {"champion": "7", "challenger": "8"},
}
OBJECTS: dict[str, Any] = {"models": {"main.risk.fraud": FRAUD}}


@pytest.fixture
def emu() -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator(objects=OBJECTS)
    yield emulator
    emulator.close()


def test_get_model_has_the_registered_model_info_shape(api: Api) -> None:
    r = api.get(f"{UC}/main.risk.fraud")
    assert r.status_code == 200
    model = r.json()
    assert {k: model[k] for k in ("name", "catalog_name", "schema_name", "full_name")} == {
        "name": "fraud",
        "catalog_name": "main",
        "schema_name": "risk",
        "full_name": "main.risk.fraud",
    }
    for key in ("owner", "metastore_id", "storage_location", "created_at", "created_by"):
        assert model[key]
    # Aliases only when asked for (include_aliases query parameter).
    assert "aliases" not in model
    with_aliases = api.get(f"{UC}/main.risk.fraud", params={"include_aliases": "true"}).json()
    assert {(a["alias_name"], a["version_num"]) for a in with_aliases["aliases"]} == {
        ("champion", 7),
        ("challenger", 8),
    }
    assert with_aliases["aliases"][0]["model_name"] == "fraud"


def test_missing_model_version_and_alias_are_404s(api: Api) -> None:
    r = api.get(f"{UC}/main.risk.nope")
    assert r.status_code == 404
    assert error_code(r) == "NOT_FOUND"
    assert r.json()["message"] == "Routine or Model 'main.risk.nope' does not exist."
    r = api.get(f"{UC}/main.risk.fraud/versions/11")
    assert (r.status_code, error_code(r)) == (404, "NOT_FOUND")
    assert "11" in r.json()["message"]
    assert "main.risk.fraud" in r.json()["message"]
    r = api.get(f"{UC}/main.risk.fraud/aliases/prod")
    assert (r.status_code, error_code(r)) == (404, "NOT_FOUND")
    assert "prod" in r.json()["message"]
    r = api.get(f"{UC}/main.risk/versions/1")
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_versions_carry_their_status(api: Api) -> None:
    statuses = {
        v: api.get(f"{UC}/main.risk.fraud/versions/{v}").json()["status"] for v in (7, 9, 10)
    }
    assert statuses == {7: "READY", 9: "PENDING_REGISTRATION", 10: "FAILED_REGISTRATION"}
    version = api.get(f"{UC}/main.risk.fraud/versions/7").json()
    assert version["version"] == 7  # an integer, as ModelVersionInfo.version
    assert (version["model_name"], version["catalog_name"], version["schema_name"]) == (
        "fraud",
        "main",
        "risk",
    )


def test_alias_resolves_to_its_version(api: Api) -> None:
    r = api.get(f"{UC}/main.risk.fraud/aliases/champion", params={"include_aliases": "true"})
    assert r.status_code == 200
    assert r.json()["version"] == 7
    assert [a["alias_name"] for a in r.json()["aliases"]] == ["champion"]


def test_list_versions_pages_with_next_page_token(api: Api) -> None:
    # PAGINATION BEHAVIOR in ModelVersionsAPI.list: read pages until next_page_token is absent.
    seen: list[int] = []
    params: dict[str, Any] = {"max_results": 3}
    pages = 0
    while True:
        body = api.get(f"{UC}/main.risk.fraud/versions", params=params).json()
        pages += 1
        seen += [v["version"] for v in body["model_versions"]]
        assert all("aliases" not in v for v in body["model_versions"])
        if "next_page_token" not in body:
            break
        params["page_token"] = body["next_page_token"]
    assert pages == 2
    assert sorted(seen) == [7, 8, 9, 10]
    r = api.get(f"{UC}/main.risk.fraud/versions", params={"max_results": -1})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    r = api.get(f"{UC}/main.risk.fraud/versions", params={"page_token": "garbage"})
    assert r.status_code == 400


def test_list_models_filters_by_schema_and_pages(api: Api) -> None:
    for name in ("a", "b", "c"):
        r = api.post(UC, json={"catalog_name": "main", "schema_name": "other", "name": name})
        assert r.status_code == 200
    everything = api.get(UC).json()["registered_models"]
    assert [m["full_name"] for m in everything] == [
        "main.other.a",
        "main.other.b",
        "main.other.c",
        "main.risk.fraud",
    ]
    scoped = api.get(UC, params={"catalog_name": "main", "schema_name": "risk"}).json()
    assert [m["full_name"] for m in scoped["registered_models"]] == ["main.risk.fraud"]
    first = api.get(UC, params={"max_results": 2}).json()
    assert len(first["registered_models"]) == 2
    rest = api.get(UC, params={"max_results": 2, "page_token": first["next_page_token"]}).json()
    assert [m["full_name"] for m in rest["registered_models"]] == [
        "main.other.c",
        "main.risk.fraud",
    ]
    assert "next_page_token" not in rest
    # catalog_name needs schema_name (RegisteredModelsAPI.list docstring)
    r = api.get(UC, params={"catalog_name": "main"})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_create_model_then_set_move_and_delete_an_alias(emu: Emulator[ManualClock]) -> None:
    api = Api(emu)
    created = api.post(
        UC, json={"catalog_name": "main", "schema_name": "ml", "name": "churn", "comment": "c"}
    )
    assert created.status_code == 200
    assert created.json()["full_name"] == "main.ml.churn"
    assert created.json()["owner"] == created.json()["created_by"]
    again = api.post(UC, json={"catalog_name": "main", "schema_name": "ml", "name": "churn"})
    assert again.status_code == 409
    # A created model holds its versions authoritatively: none yet, so an alias has no target.
    r = api.put(f"{UC}/main.ml.churn/aliases/champion", json={"version_num": 1})
    assert (r.status_code, error_code(r)) == (404, "NOT_FOUND")
    emu.seed_objects({"models": {"main.ml.churn": {"versions": {"1": "READY", "2": "READY"}}}})
    r = api.put(f"{UC}/main.ml.churn/aliases/champion", json={"version_num": 1})
    assert r.status_code == 200
    assert r.json() == {
        "alias_name": "champion",
        "version_num": 1,
        "catalog_name": "main",
        "schema_name": "ml",
        "model_name": "churn",
        "id": r.json()["id"],
    }
    api.put(f"{UC}/main.ml.churn/aliases/champion", json={"version_num": 2})
    assert api.get(f"{UC}/main.ml.churn/aliases/champion").json()["version"] == 2
    assert api.delete(f"{UC}/main.ml.churn/aliases/champion").status_code == 200
    assert api.get(f"{UC}/main.ml.churn/aliases/champion").status_code == 404
    assert api.delete(f"{UC}/main.ml.churn/aliases/champion").status_code == 404
    r = api.put(f"{UC}/main.ml.churn/aliases/latest", json={"version_num": 1})
    assert r.status_code == 400  # 'latest' is reserved (mlflow/mlflow#9730)
    assert api.delete(f"{UC}/main.ml.churn").status_code == 200
    assert api.get(f"{UC}/main.ml.churn").status_code == 404
    api.close()


def test_permissive_registry_without_an_objects_file() -> None:
    # No objects file: any model exists, any version is READY, an alias names version 1, so
    # clients that never heard of the registry keep working.
    emu = make_emulator()
    api = Api(emu)
    try:
        assert api.get(f"{UC}/main.any.model").status_code == 200
        version = api.get(f"{UC}/main.any.model/versions/42").json()
        assert (version["version"], version["status"]) == (42, "READY")
        assert api.get(f"{UC}/main.any.model/aliases/champion").json()["version"] == 1
        # There is nothing to list: only declared or created models are listed.
        assert api.get(UC).json() == {"registered_models": []}
        r = api.post(EP, json=create_body())
        emu.advance(31)
        assert api.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "NOT_UPDATING"
        assert r.status_code == 200
    finally:
        api.close()
        emu.close()


def test_other_kinds_in_the_file_leave_models_permissive() -> None:
    emu = make_emulator(objects={"groups": ["risk-analysts"]})
    api = Api(emu)
    try:
        assert api.get(f"{UC}/main.any.model/versions/3").json()["status"] == "READY"
    finally:
        api.close()
        emu.close()


def _users_file(tmp_path: Path) -> Path:
    return yaml_file(
        tmp_path / "users.yaml",
        {
            "users": [
                {"user_name": "root@example.com", "groups": ["admins"], "tokens": ["root"]},
                {"user_name": "ana@example.com", "groups": ["risk"], "tokens": ["ana"]},
                {"user_name": "bob@example.com", "tokens": ["bob"]},
            ]
        },
    )


def test_a_caller_without_execute_gets_403(tmp_path: Path) -> None:
    # objects file: `execute` lists who holds EXECUTE on the model; admins and the owner always
    # do. Without EXECUTE: 403 PERMISSION_DENIED ("User does not have EXECUTE on Routine ...",
    # the wording of Unity Catalog's denials).
    objects = {"models": {"main.risk.fraud": {**FRAUD, "execute": ["risk"]}}}
    emu = make_emulator(users_file=_users_file(tmp_path), objects=objects)
    ana, bob, root = Api(emu, "ana"), Api(emu, "bob"), Api(emu, "root")
    try:
        for path in (
            f"{UC}/main.risk.fraud",
            f"{UC}/main.risk.fraud/versions/7",
            f"{UC}/main.risk.fraud/aliases/champion",
            f"{UC}/main.risk.fraud/versions",
        ):
            assert ana.get(path).status_code == 200, path
            assert root.get(path).status_code == 200, path
            denied = bob.get(path)
            assert (denied.status_code, error_code(denied)) == (403, "PERMISSION_DENIED"), path
            assert "EXECUTE" in denied.json()["message"]
        # Lists leave out what the caller may not see.
        assert bob.get(UC).json() == {"registered_models": []}
        assert len(ana.get(UC).json()["registered_models"]) == 1
        # Moving an alias takes ownership, not EXECUTE.
        r = ana.put(f"{UC}/main.risk.fraud/aliases/champion", json={"version_num": 8})
        assert r.status_code == 403
        r = root.put(f"{UC}/main.risk.fraud/aliases/champion", json={"version_num": 8})
        assert r.status_code == 200
    finally:
        for client in (ana, bob, root):
            client.close()
        emu.close()


# -- rollouts --------------------------------------------------------------------------------


def _one_entity(version: str, model: str = "main.risk.fraud") -> dict[str, Any]:
    return {"name": "scorer", "config": {"served_entities": [entity("champion", model, version)]}}


@pytest.mark.parametrize(
    ("model", "version", "cause"),
    [
        ("main.risk.fraud", "11", "Model version 11 of main.risk.fraud does not exist."),
        ("main.risk.nope", "1", "Routine or Model 'main.risk.nope' does not exist."),
        ("main.risk.fraud", "9", "is in status PENDING_REGISTRATION"),
        ("main.risk.fraud", "10", "is in status FAILED_REGISTRATION"),
    ],
)
def test_rollout_of_a_missing_or_unready_version_fails(
    emu: Emulator[ManualClock], api: Api, model: str, version: str, cause: str
) -> None:
    r = api.post(EP, json=_one_entity(version, model))
    assert r.status_code == 200  # accepted; the failure shows when the rollout ends
    assert r.json()["state"]["config_update"] == "IN_PROGRESS"
    emu.advance(31)
    ep = api.get(f"{EP}/scorer").json()
    assert ep["state"] == {"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}
    served = ep["pending_config"]["served_entities"][0]
    assert served["state"]["deployment"] == "DEPLOYMENT_FAILED"
    message = served["state"]["deployment_state_message"]
    assert message.startswith("Served entity 'champion' failed to deploy: ")
    assert cause in message
    # Only READY versions can be served (ModelVersionInfo.status docstring).
    if "status" in cause:
        assert "only model versions in READY status can be served" in message


def test_put_config_and_start_check_the_registry_too(emu: Emulator[ManualClock], api: Api) -> None:
    assert api.post(EP, json=_one_entity("7")).status_code == 200
    emu.advance(31)
    assert api.get(f"{EP}/scorer").json()["state"]["ready"] == "READY"
    body = {"served_entities": [entity("champion", version="9")]}
    assert api.put(f"{EP}/scorer/config", json=body).status_code == 200
    emu.advance(31)
    ep = api.get(f"{EP}/scorer").json()
    assert ep["state"] == {"ready": "READY", "config_update": "UPDATE_FAILED"}
    assert ep["config"]["served_entities"][0]["entity_version"] == "7"  # still serving 7
    # Version 9 finishes registering; the same config now deploys.
    emu.seed_objects({"models": {"main.risk.fraud": {"versions": {"9": "READY"}}}})
    assert api.put(f"{EP}/scorer/config", json=body).status_code == 200
    emu.advance(31)
    assert api.get(f"{EP}/scorer").json()["state"]["config_update"] == "NOT_UPDATING"
    # config:start rolls the active config out again, so it is checked again too.
    assert api.post(f"{EP}/scorer/config:stop").status_code == 200
    emu.seed_objects({"models": {"main.risk.fraud": {"versions": {"9": "FAILED_REGISTRATION"}}}})
    assert api.post(f"{EP}/scorer/config:start").status_code == 200
    emu.advance(31)
    assert api.get(f"{EP}/scorer").json()["state"]["config_update"] == "UPDATE_FAILED"


def test_workspace_registry_names_and_external_models_are_not_checked(api: Api) -> None:
    # Two-level names belong to the workspace model registry, which is not emulated.
    r = api.post(EP, json=_one_entity("99", model="ads1"))
    assert r.status_code == 200


def test_failing_versions_knob_still_applies() -> None:
    emu = make_emulator(objects=OBJECTS, failing_versions=frozenset({("fraud", "7")}))
    api = Api(emu)
    try:
        api.post(EP, json=_one_entity("7"))
        emu.advance(31)
        served = api.get(f"{EP}/scorer").json()["pending_config"]["served_entities"][0]
        assert "container image build" in served["state"]["deployment_state_message"]
    finally:
        api.close()
        emu.close()
