"""exporter: canonical live endpoint -> minimal YAML that loads back to the same canonical body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from servingops import exporter, normalize, planner
from servingops.desired import load_desired
from servingops.model import OWNER_TAG, Endpoint
from servingops.project import load_project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "live"
CALLER = "user:me@example.com"


def live_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def live_endpoint(raw: dict[str, Any], acl: list[dict[str, Any]] | None = None) -> Endpoint:
    base: dict[str, Any] = {
        "id": "e1",
        "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
        "description": "",
        "route_optimized": False,
    }
    permissions = None if acl is None else {"access_control_list": acl}
    return normalize.normalize_live({**base, **raw}, permissions=permissions, caller=CALLER)


def reload(tmp_path: Path, text: str) -> Endpoint:
    """Load exported text through the real project loader and normalize it."""
    (tmp_path / "endpoints").mkdir(exist_ok=True)
    (tmp_path / "endpoints" / "e.yaml").write_text(text)
    project = load_project(tmp_path)
    documents, diagnostics = load_desired(project, None)
    assert not diagnostics, [f"{d.source}: {d.pointer}: {d.summary}" for d in diagnostics]
    [document] = documents
    return normalize.normalize_desired(document, caller=CALLER)


def assert_round_trips(tmp_path: Path, live: Endpoint) -> str:
    text = exporter.to_yaml(live)
    desired = normalize.resolve_server_chosen(reload(tmp_path, text), live)
    assert desired.name == live.name
    assert dict(desired.body) == dict(live.body)
    assert planner.diff_bodies(live.body, desired.body) == ()
    return text


def custom(**extra: Any) -> dict[str, Any]:
    entity = {
        "name": "m-3",
        "entity_name": "main.x.m",
        "entity_version": 3,
        "workload_size": "Small",
        "workload_type": "CPU",
        "scale_to_zero_enabled": False,
        "state": {"deployment": "DEPLOYMENT_READY"},
    }
    return {
        "name": "scorer",
        "config": {
            "config_version": 1,
            "served_entities": [entity],
            "traffic_config": {
                "routes": [
                    {
                        "served_entity_name": "m-3",
                        "served_model_name": "m-3",
                        "traffic_percentage": 100,
                    }
                ]
            },
        },
        **extra,
    }


def test_server_defaults_are_left_out(tmp_path: Path) -> None:
    live = live_endpoint(custom(tags=[{"key": OWNER_TAG, "value": "o"}]))
    text = assert_round_trips(tmp_path, live)
    assert text == (
        "# yaml-language-server: $schema=../schemas/endpoint.schema.json\n"
        "name: scorer\n"
        "config:\n"
        "  served_entities:\n"
        "    - entity_name: main.x.m\n"
        "      entity_version: '3'\n"
        "      workload_size: Small\n"
    )


def test_kept_when_not_defaults(tmp_path: Path) -> None:
    raw = custom(description="Scores things", route_optimized=True)
    entity = raw["config"]["served_entities"][0]
    entity.update(workload_type="GPU_SMALL", scale_to_zero_enabled=True, name="champion")
    raw["config"]["traffic_config"]["routes"][0]["served_entity_name"] = "champion"
    text = assert_round_trips(tmp_path, live_endpoint(raw))
    doc = yaml.safe_load(text)
    assert list(doc) == ["name", "description", "route_optimized", "config"]
    assert doc["description"] == "Scores things"
    assert doc["route_optimized"] is True
    assert doc["config"] == {
        "served_entities": [
            {
                "name": "champion",
                "entity_name": "main.x.m",
                "entity_version": "3",
                "workload_size": "Small",
                "workload_type": "GPU_SMALL",
                "scale_to_zero_enabled": True,
            }
        ]
    }


def test_traffic_split_and_entities_in_stable_order(tmp_path: Path) -> None:
    raw = custom()
    second = dict(raw["config"]["served_entities"][0], name="b-challenger", entity_version="4")
    first = dict(raw["config"]["served_entities"][0], name="a-champion")
    raw["config"]["served_entities"] = [second, first]
    raw["config"]["traffic_config"]["routes"] = [
        {"served_entity_name": "b-challenger", "traffic_percentage": "10"},
        {"served_entity_name": "a-champion", "traffic_percentage": 90},
    ]
    text = assert_round_trips(tmp_path, live_endpoint(raw))
    config = yaml.safe_load(text)["config"]
    assert [e["name"] for e in config["served_entities"]] == ["a-champion", "b-challenger"]
    assert config["traffic_config"]["routes"] == [
        {"served_entity_name": "a-champion", "traffic_percentage": 90},
        {"served_entity_name": "b-challenger", "traffic_percentage": 10},
    ]
    assert "    - {served_entity_name: a-champion, traffic_percentage: 90}\n" in text


def test_external_model_keeps_secret_references_and_never_plaintext(tmp_path: Path) -> None:
    live = live_endpoint(live_fixture("external_chat"))
    text = assert_round_trips(tmp_path, live)
    assert "openai_api_key: '{{secrets/llm/openai}}'" in text
    assert "plaintext" not in text
    doc = yaml.safe_load(text)
    # the lone entity's name is the server default for the model, so it is left out
    assert "name" not in doc["config"]["served_entities"][0]
    assert "budget_policy_id" not in doc
    gateway = doc["ai_gateway"]
    assert list(gateway) == ["usage_tracking_config", "guardrails", "rate_limits"]
    assert gateway["rate_limits"] == [
        {"key": "user", "renewal_period": "minute", "calls": 100},
        {"key": "user_group", "principal": "analysts", "renewal_period": "minute", "tokens": 5000},
    ]
    assert doc["email_notifications"] == {"on_update_failure": ["a@example.com", "b@example.com"]}


def test_pending_config_is_what_gets_exported(tmp_path: Path) -> None:
    raw = live_fixture("fraud_scorer_updating")
    live = normalize.normalize_live(raw)
    text = assert_round_trips(tmp_path, live)
    assert OWNER_TAG not in text
    assert yaml.safe_load(text)["tags"] == {"team": "risk"}


def test_tags_as_mapping_owner_tag_excluded(tmp_path: Path) -> None:
    tags = [
        {"key": "team", "value": "risk"},
        {"key": "cost-center", "value": "4411"},
        {"key": OWNER_TAG, "value": "someone"},
        {"key": "yes", "value": "true"},
    ]
    text = assert_round_trips(tmp_path, live_endpoint(custom(tags=tags)))
    assert yaml.safe_load(text)["tags"] == {
        "cost-center": "4411",
        "team": "risk",
        "yes": "true",
    }


def test_direct_grants_only(tmp_path: Path) -> None:
    acl = [
        {"user_name": "me@example.com", "all_permissions": [{"permission_level": "CAN_MANAGE"}]},
        {
            "group_name": "admins",
            "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}],
        },
        {"group_name": "readers", "all_permissions": [{"permission_level": "CAN_QUERY"}]},
        {
            "service_principal_name": "6f1c-app",
            "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": False}],
        },
        {"user_name": "bob@example.com", "all_permissions": [{"permission_level": "CAN_VIEW"}]},
    ]
    text = assert_round_trips(tmp_path, live_endpoint(custom(), acl))
    assert yaml.safe_load(text)["permissions"] == [
        {"group_name": "readers", "permission_level": "CAN_QUERY"},
        {"service_principal_name": "6f1c-app", "permission_level": "CAN_MANAGE"},
        {"user_name": "bob@example.com", "permission_level": "CAN_VIEW"},
    ]
    assert "me@example.com" not in text
    assert "admins" not in text


def test_permissions_read_but_empty_stay_authoritative(tmp_path: Path) -> None:
    acl = [{"user_name": "me@example.com", "all_permissions": [{"permission_level": "CAN_MANAGE"}]}]
    text = assert_round_trips(tmp_path, live_endpoint(custom(), acl))
    assert text.endswith("permissions: []\n")


def test_permissions_not_read_are_not_written(tmp_path: Path) -> None:
    text = assert_round_trips(tmp_path, live_endpoint(custom()))
    assert "permissions" not in text


def test_provisioned_concurrency_and_env_vars(tmp_path: Path) -> None:
    raw = custom()
    entity = raw["config"]["served_entities"][0]
    del entity["workload_size"]
    entity.update(
        min_provisioned_concurrency="4",
        max_provisioned_concurrency=12,
        environment_vars={"MODE": "fast", "TOKEN": "{{secrets/scope/key}}", "FLAG": "false"},
    )
    text = assert_round_trips(tmp_path, live_endpoint(raw))
    [entity_out] = yaml.safe_load(text)["config"]["served_entities"]
    assert list(entity_out) == [
        "entity_name",
        "entity_version",
        "min_provisioned_concurrency",
        "max_provisioned_concurrency",
        "environment_vars",
    ]
    assert entity_out["environment_vars"] == {
        "FLAG": "false",
        "MODE": "fast",
        "TOKEN": "{{secrets/scope/key}}",
    }


def test_full_ai_gateway(tmp_path: Path) -> None:
    gateway = {
        "usage_tracking_config": {"enabled": True},
        "inference_table_config": {
            "enabled": True,
            "catalog_name": "main",
            "schema_name": "logs",
            "table_name_prefix": "chat",
        },
        "guardrails": {
            "input": {"safety": True, "invalid_keywords": ["b", "a"]},
            "output": {"pii": {"behavior": "MASK"}},
        },
        "rate_limits": [{"key": "endpoint", "renewal_period": "minute", "tokens": 100}],
        "fallback_config": {"enabled": True},
    }
    raw = live_fixture("external_chat")
    raw["ai_gateway"] = gateway
    text = assert_round_trips(tmp_path, live_endpoint(raw))
    assert list(yaml.safe_load(text)["ai_gateway"]) == [
        "usage_tracking_config",
        "inference_table_config",
        "guardrails",
        "rate_limits",
        "fallback_config",
    ]
    assert "invalid_keywords: [a, b]" in text


def test_export_is_deterministic_whatever_the_live_order() -> None:
    raw = custom(
        tags=[{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
        email_notifications={"on_update_success": ["z@x.io", "y@x.io"]},
    )
    shuffled = json.loads(json.dumps(raw))
    shuffled["tags"].reverse()
    shuffled["email_notifications"]["on_update_success"].reverse()
    assert exporter.to_yaml(live_endpoint(raw)) == exporter.to_yaml(live_endpoint(shuffled))


def test_schema_ref_is_configurable() -> None:
    text = exporter.to_yaml(live_endpoint(custom()), schema_ref="../../schemas/x.json")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/x.json"


@pytest.mark.parametrize("value", ["123", "true", "null", "2024-01-01", "a: b", "#x", "'q'"])
def test_awkward_strings_survive(tmp_path: Path, value: str) -> None:
    raw = custom(description=value, tags=[{"key": "k", "value": value}])
    assert_round_trips(tmp_path, live_endpoint(raw))


def test_endpoint_without_config(tmp_path: Path) -> None:
    """Created with no config at all (databricks/cli acceptance test
    bundle/resources/model_serving_endpoints/basic; terraform-provider-databricks #4446)."""
    raw: dict[str, Any] = {"name": "bare", "tags": [{"key": "team", "value": "ml"}]}
    text = assert_round_trips(tmp_path, live_endpoint(raw))
    assert text == (
        "# yaml-language-server: $schema=../schemas/endpoint.schema.json\n"
        "name: bare\n"
        "tags:\n"
        "  team: ml\n"
    )


@pytest.mark.parametrize("name", ["a", "A-b_9", "n" * 63])
def test_file_name_for_valid_names(name: str) -> None:
    assert exporter.valid_name(name)
    assert exporter.file_name(name) == f"{name}.yaml"


@pytest.mark.parametrize(
    "name",
    ["", "n" * 64, "../x", "a/b", "a\\b", "a\x00b", "a\nb", "a b", ".hidden", "é", "x.yaml"],
)
def test_file_name_refuses_anything_else(name: str) -> None:
    """Names come from the server; only a valid endpoint name may become a path."""
    assert not exporter.valid_name(name)
    with pytest.raises(ValueError, match="not a valid endpoint name"):
        exporter.file_name(name)


def test_non_string_names_are_not_valid() -> None:
    assert not exporter.valid_name(None)
    assert not exporter.valid_name(7)


def test_the_export_never_holds_a_plaintext_secret(tmp_path: Path) -> None:
    raw = live_fixture("external_chat")
    openai = raw["config"]["served_entities"][0]["external_model"]["openai_config"]
    openai["openai_api_key_plaintext"] = "sk-plain-1"  # a server must never return it
    live = live_endpoint(raw)
    text = exporter.to_yaml(live)
    assert "sk-plain-1" not in text
    assert "plaintext" not in text
    assert exporter.literal_secrets(live) == ()


def test_literal_secret_values_are_found() -> None:
    raw = live_fixture("external_chat")
    openai = raw["config"]["served_entities"][0]["external_model"]["openai_config"]
    openai["openai_api_key"] = "sk-live-1"
    openai["microsoft_entra_client_secret"] = 12345
    assert exporter.literal_secrets(live_endpoint(raw)) == (
        "config.served_entities[0].external_model.openai_config.microsoft_entra_client_secret",
        "config.served_entities[0].external_model.openai_config.openai_api_key",
    )


def test_environment_variables_are_not_judged_as_secrets() -> None:
    raw = custom()
    raw["config"]["served_entities"][0]["environment_vars"] = {"MODE": "fast"}
    assert exporter.literal_secrets(live_endpoint(raw)) == ()


def test_aliases_pointing_at_a_served_version_become_a_comment(tmp_path: Path) -> None:
    raw = custom()
    second = {**raw["config"]["served_entities"][0], "name": "b", "entity_version": 4}
    raw["config"]["served_entities"].append(second)
    raw["config"]["traffic_config"]["routes"].append(
        {"served_entity_name": "b", "traffic_percentage": 0}
    )
    raw["config"]["served_entities"][0]["environment_vars"] = {"entity_version": "x"}
    live = live_endpoint(raw)
    aliases = {"main.x.m": {"3": ["prod", "champion"], "9": ["later"]}}
    text = exporter.to_yaml(live, aliases=aliases)
    lines = text.splitlines()
    assert (
        "      entity_version: '3'  # @champion and @prod point at this version; write "
        'entity_version: "@champion" to follow it'
    ) in lines
    assert "      entity_version: '4'" in lines  # no alias points at 4
    assert "        entity_version: x" in lines  # an environment variable is not a version
    desired = normalize.resolve_server_chosen(reload(tmp_path, text), live)
    assert planner.diff_bodies(live.body, desired.body) == ()  # comments change nothing
    assert exporter.to_yaml(live, aliases=aliases).count("#") == 2  # modeline + one comment


def test_an_alias_name_that_could_break_the_file_is_not_written() -> None:
    live = live_endpoint(custom())
    evil = {"main.x.m": {"3": ["ok\nname: injected", "# x", "fine"]}}
    text = exporter.to_yaml(live, aliases=evil)
    assert "injected" not in text
    assert "# @fine points at this version" in text
    assert yaml.safe_load(text)["name"] == "scorer"
