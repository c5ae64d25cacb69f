"""Day-2 routes: endpoint_type, stop and start within the documented limits, build and server
logs, and the per-endpoint OpenAPI document (issue 11, item 5).

Sources:
- `endpoint_type`: MLflow's Databricks deployments client documents real create/update answers
  carrying `"endpoint_type": "EXTERNAL_MODEL"` (mlflow/deployments/databricks/__init__.py,
  `create_endpoint` and `update_endpoint_config` docstrings), and MLflow's evaluation code
  tells pay-per-token endpoints by `endpoint_type == "FOUNDATION_MODEL_API"`
  (mlflow/genai/evaluation/base.py). `CUSTOM_MODEL` for custom models is the emulator's choice
  (seen only in third-party fixtures).
- Stop/start: the docs' statuses include "Not ready (Stopped)"
  (https://docs.databricks.com/machine-learning/model-serving/manage-serving-endpoints.html);
  only custom-model endpoints that are not route-optimized can be stopped (design.md section 8,
  from the same page); the SDKs have no stop/start call yet (databricks-sdk-py issue #752), so
  the error bodies are the emulator's choice.
- Logs: `GET .../served-models/{name}/build-logs` and `.../logs` answer `{"logs": "<text>"}`
  (databricks-sdk-py `BuildLogsResponse`, `ServerLogsResponse`).
- OpenAPI: "the supported paths, input and output format and datatypes"
  (https://docs.databricks.com/api/model-serving/v1/get-inference-endpoint-schema.md).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code, external, make_emulator, query, ready

EP = "/api/2.0/serving-endpoints"


def foundation(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": "llama",
                    "entity_name": "system.ai.meta_llama_v3_1_8b_instruct",
                    "entity_version": "1",
                    "min_provisioned_throughput": 0,
                    "max_provisioned_throughput": 100,
                    "scale_to_zero_enabled": False,
                }
            ]
        },
    }


@pytest.mark.parametrize(
    ("body", "endpoint_type", "task"),
    [
        (create_body(), "CUSTOM_MODEL", None),
        (external("chat", "llm/v1/chat"), "EXTERNAL_MODEL", "llm/v1/chat"),
        (foundation("llama"), "FOUNDATION_MODEL_API", "llm/v1/chat"),
    ],
)
def test_endpoint_type_and_task_in_get_list_and_create(
    api: Api,
    emu: Emulator[ManualClock],
    body: dict[str, Any],
    endpoint_type: str,
    task: str | None,
) -> None:
    created = api.post(EP, json=body).json()
    assert created["endpoint_type"] == endpoint_type  # known from the pending config already
    emu.advance(31)
    got = api.get(f"{EP}/{body['name']}").json()
    assert got["endpoint_type"] == endpoint_type
    assert got.get("task") == task
    (listed,) = api.get(EP).json()["endpoints"]
    assert listed["endpoint_type"] == endpoint_type


def test_an_endpoint_without_config_has_no_endpoint_type(api: Api) -> None:
    assert "endpoint_type" not in api.post(EP, json={"name": "bare"}).json()


def test_stop_makes_the_endpoint_not_ready_and_refuses_queries(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    stopped = api.post(f"{EP}/fraud-scorer/config:stop")
    assert stopped.status_code == 200, stopped.text
    ep = stopped.json()
    assert ep["state"] == {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}
    assert ep["config"]["config_version"] == 1  # the config is kept for the restart
    assert "pending_config" not in ep
    for served in ep["config"]["served_entities"]:
        assert served["state"]["deployment"] == "DEPLOYMENT_ABORTED"
    for path in (
        "/serving-endpoints/fraud-scorer/invocations",
        "/serving-endpoints/fraud-scorer/served-models/champion/invocations",
    ):
        r = api.post(path, json={"inputs": [1]})
        assert (r.status_code, error_code(r)) == (400, "INVALID_STATE")
        assert "stopped" in r.json()["message"]
    again = api.post(f"{EP}/fraud-scorer/config:stop")
    assert (again.status_code, error_code(again)) == (400, "INVALID_STATE")
    # A stopped endpoint stays stopped as time passes.
    emu.advance(3600)
    assert api.get(f"{EP}/fraud-scorer").json()["state"]["ready"] == "NOT_READY"


def test_start_rolls_out_a_new_config_version(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    api.post(f"{EP}/fraud-scorer/config:stop")
    started = api.post(f"{EP}/fraud-scorer/config:start").json()
    assert started["state"] == {"ready": "NOT_READY", "config_update": "IN_PROGRESS"}
    assert started["pending_config"]["config_version"] == 2
    assert started["config"]["config_version"] == 1
    assert {e["name"] for e in started["pending_config"]["served_entities"]} == {
        "champion",
        "challenger",
    }
    refused = api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
    assert refused.status_code == 400  # still stopped until the update lands
    emu.advance(31)
    ep = api.get(f"{EP}/fraud-scorer").json()
    assert ep["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert ep["config"]["config_version"] == 2
    assert ep["config"]["traffic_config"]["routes"]  # the same split is restored
    assert query(api, "fraud-scorer", {"inputs": [1]}).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (external("chat", "llm/v1/chat"), "external"),
        (foundation("llama"), "foundation"),
        (create_body(route_optimized=True), "route-optimized"),
    ],
)
def test_only_custom_models_that_are_not_route_optimized_can_be_stopped(
    api: Api, emu: Emulator[ManualClock], body: dict[str, Any], reason: str
) -> None:
    ready(api, emu, body)
    r = api.post(f"{EP}/{body['name']}/config:stop")
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    assert reason in r.json()["message"]
    assert api.get(f"{EP}/{body['name']}").json()["state"]["ready"] == "READY"


def test_stop_and_start_refuse_endpoints_that_cannot(api: Api, emu: Emulator[ManualClock]) -> None:
    api.post(EP, json={"name": "bare"})
    r = api.post(f"{EP}/bare/config:stop")
    assert (r.status_code, error_code(r)) == (400, "INVALID_STATE")
    api.post(EP, json=create_body())
    r = api.post(f"{EP}/fraud-scorer/config:stop")  # its first config is still rolling out
    assert (r.status_code, error_code(r)) == (400, "INVALID_STATE")
    emu.advance(31)
    api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [entity("solo")]})
    r = api.post(f"{EP}/fraud-scorer/config:stop")  # an update is in progress
    assert (r.status_code, error_code(r)) == (409, "RESOURCE_CONFLICT")
    emu.advance(31)
    r = api.post(f"{EP}/fraud-scorer/config:start")
    assert (r.status_code, error_code(r)) == (400, "INVALID_STATE")


def test_build_logs_follow_the_rollout(api: Api, emu: Emulator[ManualClock]) -> None:
    api.post(EP, json=create_body())
    path = f"{EP}/fraud-scorer/served-models/champion/build-logs"
    early = api.get(path).json()["logs"]
    assert "Build started for served entity 'champion' (main.risk.fraud version 7)" in early
    assert "build succeeded" not in early
    emu.advance(15)
    halfway = api.get(path).json()["logs"]
    assert len(halfway.splitlines()) > len(early.splitlines())
    assert "Installing" in halfway
    emu.advance(16)
    done = api.get(path).json()["logs"]
    lines = done.splitlines()
    assert lines[-1].endswith("Container image built; build succeeded.")
    assert all(line[:4] == "2025" and line[23] == "Z" for line in lines)  # timestamped
    assert lines[-1].startswith("2025-12-17T19:33:50.000Z")  # when the rollout ended


def test_build_logs_of_a_failed_update_carry_the_error() -> None:
    emu = make_emulator(failing_versions=frozenset({("fraud", "9")}))
    api = Api(emu)
    try:
        ready(api, emu, create_body())
        api.put(
            f"{EP}/fraud-scorer/config",
            json={
                "served_entities": [entity("bad", version="9"), entity("good", version="8")],
                "traffic_config": {
                    "routes": [
                        {"served_entity_name": "bad", "traffic_percentage": 50},
                        {"served_entity_name": "good", "traffic_percentage": 50},
                    ]
                },
            },
        )
        emu.advance(31)
        ep = api.get(f"{EP}/fraud-scorer").json()
        message = next(
            e["state"]["deployment_state_message"]
            for e in ep["pending_config"]["served_entities"]
            if e["name"] == "bad"
        )
        bad = api.get(f"{EP}/fraud-scorer/served-models/bad/build-logs").json()["logs"]
        assert bad.splitlines()[-1].endswith(f"ERROR: {message}")
        good = api.get(f"{EP}/fraud-scorer/served-models/good/build-logs").json()["logs"]
        assert "Build cancelled: served entity 'bad'" in good.splitlines()[-1]
    finally:
        api.close()
        emu.close()


def test_external_models_have_no_build(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, external("chat", "llm/v1/chat"))
    logs = api.get(f"{EP}/chat/served-models/gpt-4o-mini/build-logs").json()["logs"]
    assert "no container build" in logs


def test_server_logs_show_start_up_requests_and_stop(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    path = f"{EP}/fraud-scorer/served-models/champion/logs"
    first = api.get(path).json()["logs"]
    assert "Listening at" in first
    assert "main.risk.fraud version 7 loaded" in first
    for _ in range(3):
        query(api, "fraud-scorer", {"inputs": [1]}, entity_name="champion")
    query(api, "fraud-scorer", {}, entity_name="champion")
    lines = api.get(path).json()["logs"].splitlines()
    assert sum('"POST /invocations HTTP/1.1" 200' in line for line in lines) == 3
    assert sum('"POST /invocations HTTP/1.1" 400' in line for line in lines) == 1
    api.post(f"{EP}/fraud-scorer/config:stop")
    assert "Shutting down" in api.get(path).json()["logs"].splitlines()[-1]


def test_server_logs_are_empty_before_an_entity_serves(api: Api) -> None:
    api.post(EP, json=create_body())
    logs = api.get(f"{EP}/fraud-scorer/served-models/champion/logs")
    assert logs.status_code == 200
    assert logs.json() == {"logs": ""}


def _paths(api: Api, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    r = api.get(f"{EP}/{name}/openapi")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    doc = json.loads(r.text)
    assert doc["openapi"].startswith("3.")
    return dict(doc["paths"]), doc


def _schema(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    ref = operation["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def test_openapi_lists_every_invocation_path_with_its_format(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    paths, doc = _paths(api, "fraud-scorer")
    assert set(paths) == {
        "/serving-endpoints/fraud-scorer/invocations",
        "/serving-endpoints/fraud-scorer/served-models/champion/invocations",
        "/serving-endpoints/fraud-scorer/served-models/challenger/invocations",
    }
    scoring = _schema(doc, paths["/serving-endpoints/fraud-scorer/invocations"])
    assert {"dataframe_split", "dataframe_records", "instances", "inputs"} <= set(
        scoring["properties"]
    )
    assert doc["info"]["version"] == "1"
    # Every path it lists answers.
    for path in paths:
        assert api.post(path, json={"inputs": [1]}).status_code == 200


@pytest.mark.parametrize(
    ("task", "field"),
    [("llm/v1/chat", "messages"), ("llm/v1/completions", "prompt"), ("llm/v1/embeddings", "input")],
)
def test_openapi_of_an_llm_endpoint_matches_its_task(
    api: Api, emu: Emulator[ManualClock], task: str, field: str
) -> None:
    ready(api, emu, external("llm", task))
    paths, doc = _paths(api, "llm")
    request = _schema(doc, paths["/serving-endpoints/llm/invocations"])
    assert request["required"] == [field]
    ok = paths["/serving-endpoints/llm/invocations"]["post"]["responses"]["200"]["content"]
    assert ("text/event-stream" in ok) == (task != "llm/v1/embeddings")


def test_openapi_follows_a_config_update(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [entity("solo", version="9")]})
    paths, _ = _paths(api, "fraud-scorer")
    assert "/serving-endpoints/fraud-scorer/served-models/champion/invocations" in paths
    emu.advance(31)
    paths, doc = _paths(api, "fraud-scorer")
    assert "/serving-endpoints/fraud-scorer/served-models/solo/invocations" in paths
    assert "/serving-endpoints/fraud-scorer/served-models/champion/invocations" not in paths
    assert doc["info"]["version"] == "2"
