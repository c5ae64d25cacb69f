"""Control-plane routes: shapes, server defaults, hidden fields and the keyed-list order."""

from __future__ import annotations

import re
from typing import Any

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code, make_emulator

EP = "/api/2.0/serving-endpoints"


def ready(api: Api, emu: Emulator[ManualClock], body: dict[str, Any]) -> dict[str, Any]:
    created = api.post(EP, json=body)
    assert created.status_code == 200, created.text
    emu.advance(31)
    got = api.get(f"{EP}/{body['name']}")
    assert got.status_code == 200
    return dict(got.json())


def test_create_returns_the_detailed_shape_with_output_only_fields(api: Api) -> None:
    r = api.post(EP, json=create_body(description="Fraud model"))
    assert r.status_code == 200
    ep = r.json()
    assert ep["name"] == "fraud-scorer"
    assert re.fullmatch(r"[0-9a-f]{32}", ep["id"])
    assert ep["creator"] == "local-admin@example.com"
    assert ep["creation_timestamp"] == ep["last_updated_timestamp"] == 1_766_000_000_000
    assert ep["state"] == {"ready": "NOT_READY", "config_update": "IN_PROGRESS"}
    assert "config" not in ep
    assert ep["pending_config"]["config_version"] == 1
    assert ep["pending_config"]["start_time"] == 1_766_000_000_000
    assert ep["permission_level"] == "CAN_MANAGE"
    assert ep["route_optimized"] is False
    assert ep["description"] == "Fraud model"


def test_server_defaults_are_filled_in(api: Api, emu: Emulator[ManualClock]) -> None:
    body = {
        "name": "defaults",
        "config": {
            "name": "defaults",  # the Python SDK serialises it; it must be ignored
            "served_entities": [
                {
                    "entity_name": "main.risk.fraud",
                    "entity_version": 7,
                    "scale_to_zero_enabled": False,
                },
            ],
        },
    }
    ep = ready(api, emu, body)
    (served,) = ep["config"]["served_entities"]
    assert served["name"] == "fraud-7"
    assert served["entity_version"] == "7"
    assert served["workload_type"] == "CPU"
    assert served["workload_size"] == "Small"
    assert served["state"] == {"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}
    assert served["creator"] == "local-admin@example.com"
    assert ep["config"]["traffic_config"] == {
        "routes": [
            {
                "served_entity_name": "fraud-7",
                "served_model_name": "fraud-7",
                "traffic_percentage": 100,
            }
        ]
    }
    (model,) = ep["config"]["served_models"]
    assert (model["name"], model["model_name"], model["model_version"]) == (
        "fraud-7",
        "main.risk.fraud",
        "7",
    )
    assert ep["description"] == ""
    assert ep["route_optimized"] is False
    assert "pending_config" not in ep


def test_concurrency_bounds_mean_no_default_workload_size(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    body = {
        "name": "concurrency",
        "config": {
            "served_entities": [
                {
                    "entity_name": "ads",
                    "entity_version": "3",
                    "min_provisioned_concurrency": "0",
                    "max_provisioned_concurrency": 8,
                    "scale_to_zero_enabled": False,
                }
            ]
        },
    }
    (served,) = ready(api, emu, body)["config"]["served_entities"]
    assert served["name"] == "ads-3"
    assert "workload_size" not in served
    assert (served["min_provisioned_concurrency"], served["max_provisioned_concurrency"]) == (0, 8)


def test_numbers_sent_as_strings_are_accepted(api: Api, emu: Emulator[ManualClock]) -> None:
    body = create_body()
    for route, pct in zip(body["config"]["traffic_config"]["routes"], ("90", "10"), strict=True):
        route["traffic_percentage"] = pct
    routes = ready(api, emu, body)["config"]["traffic_config"]["routes"]
    assert {r["served_entity_name"]: r["traffic_percentage"] for r in routes} == {
        "champion": 90,
        "challenger": 10,
    }
    assert all(r["served_model_name"] == r["served_entity_name"] for r in routes)


def test_input_only_fields_are_never_echoed(api: Api, emu: Emulator[ManualClock]) -> None:
    body = {
        "name": "chat",
        "budget_policy_id": "policy-1",
        "rate_limits": [{"calls": 10, "renewal_period": "minute"}],
        "config": {
            "served_entities": [
                {
                    "external_model": {
                        "provider": "openai",
                        "name": "gpt-4o:mini.2024",
                        "task": "llm/v1/chat",
                        "openai_config": {
                            "openai_api_key_plaintext": "sk-very-secret",
                            "openai_api_base": "https://example.invalid",
                        },
                    },
                    "burst_scaling_enabled": True,
                }
            ]
        },
    }
    ep = ready(api, emu, body)
    text = str(ep)
    assert "sk-very-secret" not in text
    assert "plaintext" not in text
    assert "burst_scaling_enabled" not in text
    assert "rate_limits" not in ep
    assert "budget_policy_id" not in ep
    assert ep["effective_budget_policy_id"] == "policy-1"
    assert ep["task"] == "llm/v1/chat"
    (served,) = ep["config"]["served_entities"]
    assert served["name"] == "gpt-4o-mini-2024"
    assert "workload_type" not in served
    assert served["external_model"]["openai_config"] == {
        "openai_api_base": "https://example.invalid"
    }
    assert "served_models" not in ep["config"]


def test_route_optimized_endpoints_report_an_endpoint_url(api: Api) -> None:
    ep = api.post(EP, json=create_body(route_optimized=True)).json()
    assert ep["route_optimized"] is True
    assert ep["endpoint_url"].endswith("/serving-endpoints/fraud-scorer/invocations")


def test_endpoint_without_config(api: Api) -> None:
    ep = api.post(EP, json={"name": "bare"}).json()
    assert ep["state"] == {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}
    assert "config" not in ep
    assert "pending_config" not in ep


def test_list_returns_summaries(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body(tags=[{"key": "team", "value": "risk"}]))
    api.post(EP, json={"name": "bare"})
    listed = api.get(EP).json()["endpoints"]
    assert sorted(e["name"] for e in listed) == ["bare", "fraud-scorer"]
    fraud = next(e for e in listed if e["name"] == "fraud-scorer")
    assert {e["name"] for e in fraud["config"]["served_entities"]} == {"champion", "challenger"}
    assert "traffic_config" not in fraud["config"]
    assert "pending_config" not in fraud
    assert "permission_level" not in fraud
    assert fraud["tags"] == [{"key": "team", "value": "risk"}]


def test_duplicate_create_and_delete_then_recreate_gets_a_new_id(api: Api) -> None:
    first = api.post(EP, json=create_body()).json()
    dup = api.post(EP, json=create_body())
    assert (dup.status_code, error_code(dup)) == (409, "RESOURCE_ALREADY_EXISTS")
    assert api.delete(f"{EP}/fraud-scorer").status_code == 200
    gone = api.get(f"{EP}/fraud-scorer")
    assert (gone.status_code, error_code(gone)) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert gone.json()["details"][0]["@type"] == "type.googleapis.com/google.rpc.RequestInfo"
    again = api.post(EP, json=create_body()).json()
    assert again["id"] != first["id"]


def test_missing_endpoint_is_404_on_every_route(api: Api) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"{EP}/nope", None),
        ("DELETE", f"{EP}/nope", None),
        ("PUT", f"{EP}/nope/config", {"served_entities": [entity("a")]}),
        ("PATCH", f"{EP}/nope/tags", {"add_tags": [{"key": "a"}]}),
        ("PUT", f"{EP}/nope/ai-gateway", {}),
        ("PUT", f"{EP}/nope/rate-limits", {}),
        ("PATCH", f"{EP}/nope/notifications", {}),
        ("GET", f"{EP}/nope/served-models/a/build-logs", None),
        ("GET", f"{EP}/nope/served-models/a/logs", None),
        ("GET", f"{EP}/nope/openapi", None),
        ("GET", f"{EP}/nope/metrics", None),
        ("POST", f"{EP}/nope/config:stop", None),
        ("POST", f"{EP}/nope/config:start", None),
        ("GET", "/api/2.0/permissions/serving-endpoints/0123", None),
        ("PUT", "/api/2.0/permissions/serving-endpoints/0123", {"access_control_list": []}),
        ("GET", "/api/2.0/permissions/serving-endpoints/0123/permissionLevels", None),
        ("POST", "/serving-endpoints/nope/invocations", {"inputs": [1]}),
    ]
    for method, path, body in calls:
        r = api.request(method, path, json=body)
        assert (r.status_code, error_code(r)) == (404, "RESOURCE_DOES_NOT_EXIST"), (method, path)


def test_unknown_route_method_and_bad_json(api: Api) -> None:
    r = api.get("/api/2.0/clusters/list")
    assert (r.status_code, error_code(r)) == (404, "ENDPOINT_NOT_FOUND")
    r = api.request("PATCH", EP)
    assert r.status_code == 405
    r = api.post(EP, content=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status_code, error_code(r)) == (400, "MALFORMED_REQUEST")
    r = api.post(EP, json=[1, 2])
    assert (r.status_code, error_code(r)) == (400, "MALFORMED_REQUEST")


def test_workspace_id_header_is_accepted(api: Api) -> None:
    r = api.get(EP, headers={"X-Databricks-Workspace-Id": "1234567890123456"})
    assert r.status_code == 200


def test_tags_patch_adds_overwrites_and_deletes(api: Api) -> None:
    api.post(EP, json=create_body(tags=[{"key": "team", "value": "risk"}, {"key": "old"}]))
    r = api.patch(
        f"{EP}/fraud-scorer/tags",
        json={
            "add_tags": [{"key": "team", "value": "fraud"}, {"key": "tier", "value": "1"}],
            "delete_tags": ["old"],
        },
    )
    assert r.status_code == 200
    expected = {"team": "fraud", "tier": "1"}
    assert {t["key"]: t.get("value") for t in r.json()["tags"]} == expected
    got = api.get(f"{EP}/fraud-scorer").json()
    assert {t["key"]: t.get("value") for t in got["tags"]} == expected


def test_ai_gateway_put_replaces_and_unsets(api: Api) -> None:
    api.post(EP, json=create_body())
    gateway = {
        "usage_tracking_config": {"enabled": True},
        "rate_limits": [{"key": "user", "renewal_period": "minute", "calls": "100"}],
        "guardrails": {"input": {"safety": True, "pii": {"behavior": "BLOCK"}}},
        "fallback_config": {"enabled": False},
    }
    r = api.put(f"{EP}/fraud-scorer/ai-gateway", json=gateway)
    assert r.status_code == 200
    assert r.json()["rate_limits"] == [{"key": "user", "renewal_period": "minute", "calls": 100}]
    assert api.get(f"{EP}/fraud-scorer").json()["ai_gateway"]["usage_tracking_config"] == {
        "enabled": True
    }
    assert api.put(f"{EP}/fraud-scorer/ai-gateway", json={}).json() == {}
    assert "ai_gateway" not in api.get(f"{EP}/fraud-scorer").json()
    bad = api.put(
        f"{EP}/fraud-scorer/ai-gateway",
        json={"rate_limits": [{"renewal_period": "minute", "calls": 1, "tokens": 2}]},
    )
    assert (bad.status_code, error_code(bad)) == (400, "INVALID_PARAMETER_VALUE")


def test_an_inference_table_without_prefix_gets_the_endpoint_name(api: Api) -> None:
    # The answer MLflow quotes in DatabricksDeploymentClient.update_endpoint_ai_gateway's
    # docstring (mlflow/deployments/databricks/__init__.py); issue 9 item 6.
    table = {"enabled": True, "catalog_name": "c", "schema_name": "s"}
    created = api.post(EP, json=create_body(ai_gateway={"inference_table_config": table}))
    assert created.json()["ai_gateway"]["inference_table_config"]["table_name_prefix"] == (
        "fraud-scorer"
    )
    put = api.put(f"{EP}/fraud-scorer/ai-gateway", json={"inference_table_config": table})
    assert put.json()["inference_table_config"]["table_name_prefix"] == "fraud-scorer"
    mine = {**table, "table_name_prefix": "mine"}
    # An enabled table is renamed by disabling it first (see test_validation).
    api.put(f"{EP}/fraud-scorer/ai-gateway", json={"inference_table_config": {"enabled": False}})
    put = api.put(f"{EP}/fraud-scorer/ai-gateway", json={"inference_table_config": mine})
    assert put.json()["inference_table_config"]["table_name_prefix"] == "mine"


def test_legacy_rate_limits_are_accepted_but_not_echoed(api: Api) -> None:
    api.post(EP, json=create_body())
    limits = [{"calls": "5", "renewal_period": "minute", "key": "user"}]
    r = api.put(f"{EP}/fraud-scorer/rate-limits", json={"rate_limits": limits})
    assert r.json() == {"rate_limits": [{"calls": 5, "renewal_period": "minute", "key": "user"}]}
    assert "rate_limits" not in api.get(f"{EP}/fraud-scorer").json()


def test_notifications_patch(api: Api) -> None:
    api.post(EP, json=create_body())
    notes = {"on_update_failure": ["oncall@example.com"]}
    r = api.patch(f"{EP}/fraud-scorer/notifications", json={"email_notifications": notes})
    assert r.json() == {"name": "fraud-scorer", "email_notifications": notes}
    assert api.get(f"{EP}/fraud-scorer").json()["email_notifications"] == notes


def test_telemetry_config_rules(api: Api, emu: Emulator[ManualClock]) -> None:
    api.post(EP, json=create_body())
    busy = api.patch(
        f"{EP}/fraud-scorer/telemetry-config",
        json={"telemetry_config": {"table_names": {"logs_table": "main.t.logs"}}},
    )
    assert (busy.status_code, error_code(busy)) == (409, "RESOURCE_CONFLICT")
    emu.advance(31)
    r = api.patch(
        f"{EP}/fraud-scorer/telemetry-config",
        json={
            "telemetry_config": {
                "table_names": {"logs_table": "main.t.logs"},
                "inference_table_config": {"sampling_fraction": 0.5},
            }
        },
    )
    telemetry = r.json()["telemetry_config"]
    assert re.fullmatch(r"[0-9a-f]{32}", telemetry["telemetry_profile_id"])
    assert "table_names" not in telemetry
    assert telemetry["inference_table_config"]["name"] == "main.t.logs_payload"
    api.post(EP, json={"name": "bare"})
    r = api.patch(f"{EP}/bare/telemetry-config", json={"telemetry_config": {}})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_system_metrics_export_state(api: Api) -> None:
    api.post(EP, json=create_body())
    r = api.patch(
        f"{EP}/fraud-scorer/system-metrics-export-state",
        json={"uc_system_metrics_export_state": "FIRST_PARTY_EXPORT_ENABLED"},
    )
    assert r.json()["uc_system_metrics_export_state"] == "FIRST_PARTY_EXPORT_ENABLED"
    assert r.json()["pending_config"]["config_version"] == 1


def test_logs_openapi_and_metrics(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    build = api.get(f"{EP}/fraud-scorer/served-models/champion/build-logs")
    assert "build succeeded" in build.json()["logs"]
    logs = api.get(f"{EP}/fraud-scorer/served-models/champion/logs").json()["logs"]
    assert "champion" in logs
    missing = api.get(f"{EP}/fraud-scorer/served-models/nope/build-logs")
    assert missing.status_code == 404
    spec = api.get(f"{EP}/fraud-scorer/openapi")
    assert spec.headers["content-type"].startswith("text/plain")
    assert "/serving-endpoints/fraud-scorer/invocations" in spec.text
    api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
    emu.advance(60)  # the export shows the last complete minute
    metrics = api.get(f"{EP}/fraud-scorer/metrics").text
    assert "# TYPE request_count_total gauge" in metrics
    counts = re.findall(r'^request_count_total\{served_entity_name="\w+"\} (\d+)', metrics, re.M)
    assert sum(int(v) for v in counts) == 1


def test_keyed_lists_come_back_in_a_seeded_shuffled_order(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    names = [f"m{i:02d}" for i in range(12)]
    body = {
        "name": "many",
        "tags": [{"key": n, "value": n} for n in names],
        "config": {
            "served_entities": [entity(n, version=str(i)) for i, n in enumerate(names)],
            "traffic_config": {
                "routes": [
                    {"served_entity_name": n, "traffic_percentage": 100 if i == 0 else 0}
                    for i, n in enumerate(names)
                ]
            },
        },
    }
    ep = ready(api, emu, body)
    order = [e["name"] for e in ep["config"]["served_entities"]]
    assert sorted(order) == names
    assert order != names
    assert [t["key"] for t in ep["tags"]] != names
    # Stable for the same state and seed: the same GET answers the same order.
    again = api.get(f"{EP}/many").json()
    assert [e["name"] for e in again["config"]["served_entities"]] == order
    # A second emulator with the same seed orders the same way; without a seed, stored order.
    plain = make_emulator(shuffle_seed=None)
    plain_api = Api(plain)
    try:
        plain_api.post(EP, json=body)
        plain.advance(31)
        kept = plain_api.get(f"{EP}/many").json()
        assert [e["name"] for e in kept["config"]["served_entities"]] == names
    finally:
        plain_api.close()
        plain.close()


def test_invocations_follow_the_traffic_split(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    seen: dict[str, int] = {}
    for _ in range(200):
        r = api.post(
            "/serving-endpoints/fraud-scorer/invocations",
            json={"dataframe_split": {"columns": ["x"], "data": [[1], [2]]}},
        )
        assert r.status_code == 200
        name = r.headers["served-model-name"]
        seen[name] = seen.get(name, 0) + 1
        expected = "main.risk.fraud/7" if name == "champion" else "main.risk.fraud/8"
        assert r.json() == {"predictions": [expected, expected]}
    assert set(seen) == {"champion", "challenger"}
    assert 150 <= seen["champion"] <= 195


def test_invocations_need_a_ready_endpoint(api: Api) -> None:
    api.post(EP, json=create_body())
    r = api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
    assert r.status_code == 400


def test_external_model_invocation_answers_like_a_chat_model(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    body = {
        "name": "chat",
        "config": {
            "served_entities": [
                {
                    "external_model": {
                        "provider": "anthropic",
                        "name": "claude",
                        "task": "llm/v1/chat",
                        "anthropic_config": {"anthropic_api_key": "{{secrets/llm/key}}"},
                    }
                }
            ]
        },
    }
    ep = ready(api, emu, body)
    key = ep["config"]["served_entities"][0]["external_model"]["anthropic_config"]
    assert key == {"anthropic_api_key": "{{secrets/llm/key}}"}  # references are echoed
    r = api.post(
        "/serving-endpoints/chat/invocations",
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.headers["served-model-name"] == "claude"
    assert r.json()["choices"][0]["message"]["role"] == "assistant"


def test_stop_and_start(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    stopped = api.post(f"{EP}/fraud-scorer/config:stop")
    assert stopped.status_code == 200
    assert stopped.json()["state"] == {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}
    r = api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
    assert (r.status_code, error_code(r)) == (400, "INVALID_STATE")
    started = api.post(f"{EP}/fraud-scorer/config:start").json()
    assert started["state"]["config_update"] == "IN_PROGRESS"
    assert started["pending_config"]["config_version"] == 2
    emu.advance(31)
    ep = api.get(f"{EP}/fraud-scorer").json()
    assert ep["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert ep["config"]["config_version"] == 2
    assert (
        api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]}).status_code
        == 200
    )
    again = api.post(f"{EP}/fraud-scorer/config:start")
    assert (again.status_code, error_code(again)) == (400, "INVALID_STATE")
