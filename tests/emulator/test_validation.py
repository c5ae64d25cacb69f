"""400 INVALID_PARAMETER_VALUE for each validation rule of the real API."""

from __future__ import annotations

from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, entity, error_code, make_emulator

EP = "/api/2.0/serving-endpoints"


def config_with(
    *entities: dict[str, Any], routes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {"served_entities": list(entities)}
    if routes is not None:
        config["traffic_config"] = {"routes": routes}
    return config


def ext(name: str, task: str = "llm/v1/chat", **extra: Any) -> dict[str, Any]:
    return {"external_model": {"provider": "openai", "name": name, "task": task, **extra}}


def route(name: str, pct: Any) -> dict[str, Any]:
    return {"served_entity_name": name, "traffic_percentage": pct}


CASES: list[tuple[str, dict[str, Any]]] = [
    ("missing name", {"config": config_with(entity("a"))}),
    ("bad name chars", {"name": "bad.name"}),
    ("name too long", {"name": "x" * 64}),
    ("empty name", {"name": ""}),
    (
        "too many entities",
        {
            "name": "e",
            "config": config_with(
                *[entity(f"m{i}", version=str(i)) for i in range(16)], routes=[route("m0", 100)]
            ),
        },
    ),
    (
        "mixed external and custom",
        {
            "name": "e",
            "config": config_with(
                entity("a"), ext("gpt"), routes=[route("a", 50), route("gpt", 50)]
            ),
        },
    ),
    (
        "mixed external tasks",
        {
            "name": "e",
            "config": config_with(
                ext("a"),
                ext("b", task="llm/v1/embeddings"),
                routes=[route("a", 50), route("b", 50)],
            ),
        },
    ),
    (
        "workload_size with concurrency",
        {
            "name": "e",
            "config": config_with(
                entity("a", min_provisioned_concurrency=0, max_provisioned_concurrency=4)
            ),
        },
    ),
    (
        "route to unknown entity",
        {"name": "e", "config": config_with(entity("a"), routes=[route("ghost", 100)])},
    ),
    (
        "percentages not 100",
        {
            "name": "e",
            "config": config_with(
                entity("a"), entity("b", version="8"), routes=[route("a", 60), route("b", 30)]
            ),
        },
    ),
    (
        "percentage not a number",
        {"name": "e", "config": config_with(entity("a"), routes=[route("a", "lots")])},
    ),
    (
        "duplicate entity names",
        {
            "name": "e",
            "config": config_with(entity("a"), entity("a", version="8"), routes=[route("a", 100)]),
        },
    ),
    (
        "duplicate default names",
        {
            "name": "e",
            "config": config_with(
                {"entity_name": "m", "entity_version": "1", "scale_to_zero_enabled": False},
                {"entity_name": "x.m", "entity_version": "1", "scale_to_zero_enabled": False},
                routes=[route("m-1", 100)],
            ),
        },
    ),
    ("bad entity name", {"name": "e", "config": config_with(entity("a b"))}),
    # An unnamed entity is named <entity_name's last part>-<version> (databricks-sdk-py
    # ServedEntityInput.name); the server rejects it when that is no valid served-entity name,
    # rather than inventing another one.
    (
        "default name too long",
        {
            "name": "e",
            "config": config_with(
                {**entity("x", model="main.ml." + "m" * 62, version="12")} | {"name": None}
            ),
        },
    ),
    (
        "default name with a space",
        {"name": "e", "config": config_with({**entity("x", model="My Model")} | {"name": None})},
    ),
    (
        "external default name with a slash",
        {"name": "e", "config": config_with(ext("meta/llama"))},
    ),
    (
        "too many env vars",
        {
            "name": "e",
            "config": config_with(entity("a", environment_vars={f"V{i}": "x" for i in range(31)})),
        },
    ),
    (
        "external with workload_size",
        {"name": "e", "config": config_with({**ext("gpt"), "workload_size": "Small"})},
    ),
    (
        "unknown provider",
        {
            "name": "e",
            "config": config_with(
                {"external_model": {"provider": "acme", "name": "x", "task": "llm/v1/chat"}}
            ),
        },
    ),
    (
        "wrong provider block",
        {
            "name": "e",
            "config": config_with(
                ext("gpt", anthropic_config={"anthropic_api_key": "{{secrets/a/b}}"})
            ),
        },
    ),
    ("no entity_name or external", {"name": "e", "config": config_with({"name": "a"})}),
    (
        "several entities without traffic",
        {"name": "e", "config": config_with(entity("a"), entity("b", version="8"))},
    ),
    (
        "both served_models and served_entities",
        {
            "name": "e",
            "config": {
                "served_entities": [entity("a")],
                "served_models": [{"model_name": "m", "model_version": "1"}],
            },
        },
    ),
    ("bad workload type", {"name": "e", "config": config_with(entity("a", workload_type="TPU"))}),
    ("duplicate tag keys", {"name": "e", "tags": [{"key": "a"}, {"key": "a"}]}),
]


@pytest.mark.parametrize(("label", "body"), CASES, ids=[c[0] for c in CASES])
def test_create_rejects(api: Api, label: str, body: dict[str, Any]) -> None:
    r = api.post(EP, json=body)
    assert r.status_code == 400, (label, r.text)
    assert error_code(r) == "INVALID_PARAMETER_VALUE"
    assert r.json()["message"]


def test_update_rejects_the_same_rules(api: Api) -> None:
    api.post(EP, json={"name": "e"})
    r = api.put(f"{EP}/e/config", json=config_with(entity("a"), routes=[route("a", 99)]))
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    r = api.put(f"{EP}/e/config", json={})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_legacy_served_models_are_accepted(api: Api) -> None:
    body = {
        "name": "legacy",
        "config": {
            "served_models": [
                {
                    "model_name": "ads",
                    "model_version": "3",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": False,
                }
            ]
        },
    }
    ep = api.post(EP, json=body).json()
    (served,) = ep["pending_config"]["served_entities"]
    assert (served["name"], served["entity_name"]) == ("ads-3", "ads")
    assert ep["pending_config"]["served_models"][0]["model_name"] == "ads"


def test_auto_capture_defaults_are_filled(api: Api) -> None:
    # "(optional) table prefix ... If this isn't specified, the endpoint name is used";
    # "(optional) enabled ... This true by default." (docs.databricks.com/machine-learning/
    # model-serving/enable-model-serving-inference-tables.html)
    config = {
        **config_with(entity("a")),
        "auto_capture_config": {"catalog_name": "c", "schema_name": "s"},
    }
    ep = api.post(EP, json={"name": "cap", "config": config}).json()
    capture = ep["pending_config"]["auto_capture_config"]
    assert (capture["enabled"], capture["table_name_prefix"]) == (True, "cap")


def test_enabling_an_inference_table_needs_catalog_and_schema(api: Api) -> None:
    # catalog_name / schema_name: "Required when enabling inference tables" (databricks-sdk-py
    # databricks/sdk/service/serving.py, AiGatewayInferenceTableConfig).
    api.post(EP, json={"name": "gw", "config": config_with(entity("a"))})
    table = {"catalog_name": "c", "enabled": True}
    r = api.put(f"{EP}/gw/ai-gateway", json={"inference_table_config": table})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    assert "schema_name" in r.json()["message"]
    r = api.post(EP, json={"name": "gw2", "ai_gateway": {"inference_table_config": table}})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_inference_table_prefix_defaults_to_the_endpoint_name(api: Api) -> None:
    # The table prefix "If this isn't specified, the endpoint name is used" (docs.databricks.com
    # machine-learning/model-serving/enable-model-serving-inference-tables.html); the AI-gateway
    # inference tables are filled the same way (issue 9 replayed it as a replace loop).
    table = {"catalog_name": "c", "schema_name": "s", "enabled": True}
    ep = api.post(
        EP,
        json={"name": "gw", "config": config_with(entity("a")),
              "ai_gateway": {"inference_table_config": table}},
    ).json()  # fmt: skip
    assert ep["ai_gateway"]["inference_table_config"]["table_name_prefix"] == "gw"
    out = api.put(f"{EP}/gw/ai-gateway", json={"inference_table_config": table}).json()
    assert out["inference_table_config"]["table_name_prefix"] == "gw"


def test_inference_table_names_change_only_while_disabled(api: Api) -> None:
    # "On update, you have to disable inference table first in order to change the catalog
    # name" (likewise schema and prefix): databricks-sdk-py databricks/sdk/service/serving.py,
    # AiGatewayInferenceTableConfig.
    table = {"catalog_name": "c", "schema_name": "s", "table_name_prefix": "p", "enabled": True}
    api.post(EP, json={"name": "gw", "config": config_with(entity("a")),
                       "ai_gateway": {"inference_table_config": table}})  # fmt: skip
    for field in ("catalog_name", "schema_name", "table_name_prefix"):
        moved = {**table, field: "other"}
        r = api.put(f"{EP}/gw/ai-gateway", json={"inference_table_config": moved})
        assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE"), field
        assert "disable" in r.json()["message"]
    r = api.put(f"{EP}/gw/ai-gateway", json={"inference_table_config": {**table, "enabled": False}})
    assert r.status_code == 200
    r = api.put(
        f"{EP}/gw/ai-gateway", json={"inference_table_config": {**table, "catalog_name": "c2"}}
    )
    assert r.json()["inference_table_config"]["catalog_name"] == "c2"


def test_a_workspace_may_leave_out_the_default_workload_type() -> None:
    # Some workspaces (without GPU serving) return no workload_type; the knob emulates them.
    emu = make_emulator(report_workload_type=False)
    client = Api(emu)
    try:
        gpu = entity("g", version="8", workload_type="GPU_SMALL")
        body = {
            "name": "e",
            "config": config_with(entity("a"), gpu, routes=[route("a", 50), route("g", 50)]),
        }
        client.post(EP, json=body)
        emu.advance(60)
        entities = {e["name"]: e for e in client.get(f"{EP}/e").json()["config"]["served_entities"]}
        assert "workload_type" not in entities["a"]
        assert entities["g"]["workload_type"] == "GPU_SMALL"
    finally:
        client.close()
        emu.close()


SCALE_TO_ZERO_UNDEFINED = "scaleToZeroEnabled is undefined. Please set it to either true or false."


def test_a_custom_entity_must_say_scale_to_zero(emu: Emulator[ManualClock], api: Api) -> None:
    # The real API rejects a served entity that leaves scale_to_zero_enabled out, on create and
    # on PUT config: "cannot update model serving: scaleToZeroEnabled is undefined. Please set it
    # to either true or false." (terraform-provider-databricks issues #4064 and #3946; the
    # provider sends it always since PR #3387, and the Go SDK's ServedModelInput has no
    # omitempty on it). External models must not carry it (ServedEntityInput docstring).
    bare = {"name": "a", "entity_name": "m", "entity_version": "1", "workload_size": "Small"}
    r = api.post(EP, json={"name": "e", "config": config_with(bare)})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    assert SCALE_TO_ZERO_UNDEFINED in r.json()["message"]
    assert api.post(EP, json={"name": "e", "config": config_with(entity("a"))}).status_code == 200
    emu.advance(60)
    r = api.put(f"{EP}/e/config", json=config_with(bare))
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    assert SCALE_TO_ZERO_UNDEFINED in r.json()["message"]
    legacy = {
        "served_models": [{"model_name": "m", "model_version": "1", "workload_size": "Small"}]
    }
    r = api.post(EP, json={"name": "legacy", "config": legacy})
    assert SCALE_TO_ZERO_UNDEFINED in r.json()["message"]
    external = config_with(ext("gpt", openai_config={"openai_api_key": "{{secrets/a/b}}"}))
    assert api.post(EP, json={"name": "ext", "config": external}).status_code == 200


def test_telemetry_patch_without_a_config_removes_it(emu: Emulator[ManualClock], api: Api) -> None:
    # "If not provided, the telemetry configuration will be removed from the endpoint"
    # (databricks-sdk-py ServingEndpointsAPI.patch_telemetry_config); databricks/cli
    # libs/testserver/serving_endpoints.go: "An omitted telemetry_config removes the
    # configuration from the endpoint".
    api.post(EP, json={"name": "t", "config": config_with(entity("a"))})
    emu.advance(60)
    api.patch(f"{EP}/t/telemetry-config", json={"telemetry_config": {"telemetry_profile_id": "p"}})
    assert api.get(f"{EP}/t").json()["telemetry_config"] == {"telemetry_profile_id": "p"}
    assert api.patch(f"{EP}/t/telemetry-config", json={}).status_code == 200
    assert "telemetry_config" not in api.get(f"{EP}/t").json()
