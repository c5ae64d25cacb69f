"""Normalization: live GET responses and desired documents meet in one canonical form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servingops import bodies, fields, normalize
from servingops.model import Carrier, ConfigUpdate, DesiredDocument, SourceRef

FIXTURES = Path(__file__).parent.parent / "fixtures" / "live"


def live(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return raw


def desired(body: dict[str, Any]) -> DesiredDocument:
    return DesiredDocument(name=body["name"], body=body, source=SourceRef(path="e.yaml", line=1))


def test_live_drops_server_fields_and_keys_lists_by_name() -> None:
    endpoint = normalize.normalize_live(live("external_chat"))
    assert endpoint.body == {
        "budget_policy_id": "bp-1",
        "config": {
            "entity_kind": "external",
            "served_entities": {
                "gpt-4o-mini": {
                    "external_model": {
                        "name": "gpt-4o-mini",
                        "openai_config": {"openai_api_key": "{{secrets/llm/openai}}"},
                        "provider": "openai",
                        "task": "llm/v1/chat",
                    }
                }
            },
            "traffic": {"gpt-4o-mini": 100},
        },
        "description": "",
        "route_optimized": False,
        "tags": {},
        "ai_gateway": {
            "usage_tracking_config": {"enabled": True},
            "guardrails": {"input": {"pii": {"behavior": "BLOCK"}}},
            "rate_limits": {
                "user/calls/minute": {"calls": 100, "key": "user", "renewal_period": "minute"},
                "user_group:analysts/tokens/minute": {
                    "key": "user_group",
                    "principal": "analysts",
                    "renewal_period": "minute",
                    "tokens": 5000,
                },
            },
        },
        "email_notifications": {"on_update_failure": ["a@example.com", "b@example.com"]},
    }
    assert endpoint.status is not None
    assert endpoint.status.owner is None
    assert endpoint.status.config_version == 3


def test_in_flight_update_compares_the_pending_config() -> None:
    endpoint = normalize.normalize_live(live("fraud_scorer_updating"))
    status = endpoint.status
    assert status is not None
    assert status.config_update is ConfigUpdate.IN_PROGRESS
    assert status.owner == "ml-platform/serving"
    assert status.pending_config_version == 2
    assert endpoint.body["config"]["traffic"] == {"challenger": 10, "champion": 90}
    assert endpoint.body["tags"] == {"team": "risk"}  # ownership tag hidden


def test_desired_matches_live_once_server_defaults_are_adopted() -> None:
    doc = desired(
        {
            "name": "fraud-scorer",
            "description": "Fraud model",
            "config": {
                "served_entities": [
                    {"name": "champion", "entity_name": "main.risk.fraud", "entity_version": 7,
                     "scale_to_zero_enabled": True},
                    {"name": "challenger", "entity_name": "main.risk.fraud",
                     "entity_version": "8", "workload_size": "Small"},
                ],
                "traffic_config": {"routes": [
                    {"served_entity_name": "champion", "traffic_percentage": "90"},
                    {"served_entity_name": "challenger", "traffic_percentage": 10},
                ]},
            },
            "tags": [{"key": "team", "value": "risk"}],
        }
    )  # fmt: skip
    want = normalize.normalize_desired(doc)
    have = normalize.normalize_live(live("fraud_scorer_updating"))
    assert normalize.resolve_server_chosen(want, have).body == have.body


def test_default_route_and_entity_name_for_a_lone_entity() -> None:
    doc = desired(
        {
            "name": "x",
            "config": {"served_entities": [{"entity_name": "main.a.model", "entity_version": "3"}]},
        }
    )
    body = normalize.normalize_desired(doc).body
    assert list(body["config"]["served_entities"]) == ["model-3"]
    assert body["config"]["traffic"] == {"model-3": 100}


def test_legacy_served_models_read_as_entities() -> None:
    raw = {
        "name": "x",
        "config": {"served_models": [{"model_name": "m", "model_version": "1", "name": "m-1"}]},
    }
    body = normalize.normalize_live(raw).body
    assert body["config"]["served_entities"] == {
        "m-1": {"entity_name": "m", "entity_version": "1", "workload_type": "CPU"}
    }


def test_permissions_drop_inherited_entries_and_the_callers_own_manage() -> None:
    acl = {
        "access_control_list": [
            {"user_name": "me@example.com",
             "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": False}]},
            {"group_name": "admins",
             "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}]},
            {"group_name": "analysts",
             "all_permissions": [{"permission_level": "CAN_QUERY", "inherited": False}]},
        ]
    }  # fmt: skip
    endpoint = normalize.normalize_live(
        live("external_chat"), permissions=acl, caller="user:me@example.com"
    )
    assert endpoint.body["permissions"] == {"group:analysts": "CAN_QUERY"}


def test_input_only_values_are_kept_aside_and_sent_back() -> None:
    doc = desired(
        {
            "name": "x",
            "config": {"served_entities": [
                {"name": "a", "entity_name": "m", "entity_version": "1",
                 "workload_size": "Small", "burst_scaling_enabled": False},
            ]},
        }
    )  # fmt: skip
    endpoint = normalize.normalize_desired(doc)
    assert "burst_scaling_enabled" not in endpoint.body["config"]["served_entities"]["a"]
    sent = bodies.to_document(endpoint)["config"]["served_entities"][0]
    assert sent["burst_scaling_enabled"] is False


def test_to_document_round_trips_through_normalization() -> None:
    have = normalize.normalize_live(live("external_chat"))
    doc = bodies.to_document(have)
    again = normalize.normalize_desired(desired(doc))
    assert again.body == have.body


@pytest.mark.parametrize(
    ("path", "carrier"),
    [
        (("config", "traffic", "a"), Carrier.CONFIG),
        (("config", "served_entities", "a", "entity_version"), Carrier.CONFIG),
        (("config", "entity_kind"), Carrier.RECREATE),
        (("description",), Carrier.RECREATE),
        (("route_optimized",), Carrier.RECREATE),
        (("tags", "team"), Carrier.TAGS),
        (("ai_gateway", "rate_limits", "user/calls/minute", "calls"), Carrier.AI_GATEWAY),
        (("ai_gateway", "inference_table_config", "catalog_name"), Carrier.AI_GATEWAY),
        (("ai_gateway", "inference_table_config", "table_name_prefix"), Carrier.AI_GATEWAY),
        (("config", "auto_capture_config", "catalog_name"), Carrier.RECREATE),
        (("email_notifications", "on_update_failure"), Carrier.NOTIFICATIONS),
        (("permissions", "group:x"), Carrier.PERMISSIONS),
        (("budget_policy_id",), Carrier.NONE),
    ],
)
def test_each_field_has_one_carrier(path: tuple[str, ...], carrier: Carrier) -> None:
    assert fields.carrier_for(path)[0] is carrier


def test_secret_fields_are_sensitive() -> None:
    key = ("config", "served_entities", "gpt", "external_model", "openai_config", "openai_api_key")
    assert fields.is_sensitive(key)
    assert fields.is_sensitive(("config", "served_entities", "a", "environment_vars", "TOKEN"))
    assert not fields.is_sensitive(("config", "served_entities", "a", "entity_version"))


def test_fingerprint_changes_with_tags() -> None:
    raw = live("external_chat")
    before = normalize.normalize_live(raw).fingerprint
    raw["tags"] = [{"key": "team", "value": "x"}]
    after = normalize.normalize_live(raw).fingerprint
    assert before is not None
    assert after is not None
    assert before.sha256 != after.sha256


def test_callers_own_entry_is_implicit_at_any_level() -> None:
    doc = desired(
        {
            "name": "x",
            "permissions": [
                {"user_name": "me@example.com", "permission_level": "CAN_QUERY"},
                {"group_name": "g", "permission_level": "CAN_VIEW"},
            ],
        }
    )
    body = normalize.normalize_desired(doc, caller="user:me@example.com").body
    assert body["permissions"] == {"group:g": "CAN_VIEW"}


def test_a_server_filled_inference_table_prefix_is_adopted() -> None:
    table = {"catalog_name": "c", "schema_name": "s", "enabled": True}
    doc = desired({"name": "gw", "ai_gateway": {"inference_table_config": table}})
    raw = {
        "name": "gw",
        "ai_gateway": {"inference_table_config": {**table, "table_name_prefix": "gw"}},
    }
    have = normalize.normalize_live(raw)
    resolved = normalize.resolve_server_chosen(normalize.normalize_desired(doc), have)
    assert resolved.body == have.body


TABLE = {"catalog_name": "c", "schema_name": "s", "table_name_prefix": "p", "enabled": True}


@pytest.mark.parametrize(
    ("live_table", "want_table", "calls"),
    [
        # "On update, you have to disable inference table first in order to change the catalog
        # name" (databricks-sdk-py serving.py, AiGatewayInferenceTableConfig): two PUTs.
        (TABLE, {**TABLE, "catalog_name": "c2"}, 2),
        (TABLE, {**TABLE, "schema_name": "s2"}, 2),
        (TABLE, {**TABLE, "table_name_prefix": "p2"}, 2),
        (TABLE, {**TABLE, "catalog_name": "c2", "enabled": False}, 1),  # disabling: one PUT
        ({**TABLE, "enabled": False}, {**TABLE, "catalog_name": "c2"}, 1),  # was disabled
        (TABLE, {**TABLE}, 1),
    ],
)
def test_inference_table_names_move_in_place(
    live_table: dict[str, Any], want_table: dict[str, Any], calls: int
) -> None:
    before = {"usage_tracking_config": {"enabled": True}, "inference_table_config": live_table}
    after = {"usage_tracking_config": {"enabled": True}, "inference_table_config": want_table}
    requests = bodies.ai_gateway_requests(before, after)
    assert len(requests) == calls
    assert requests[-1] == bodies.ai_gateway_request(after)
    if calls == 2:
        assert requests[0]["inference_table_config"] == {**live_table, "enabled": False}
        assert requests[0]["usage_tracking_config"] == {"enabled": True}


def test_a_missing_live_workload_type_reads_as_the_default_cpu() -> None:
    raw = {
        "name": "x",
        "config": {"served_entities": [
            {"name": "a", "entity_name": "m", "entity_version": "1", "workload_size": "Small"},
            {"name": "g", "external_model": {"provider": "openai", "name": "g", "task": "t"}},
        ]},
    }  # fmt: skip
    entities = normalize.normalize_live(raw).body["config"]["served_entities"]
    assert entities["a"]["workload_type"] == "CPU"
    assert "workload_type" not in entities["g"]  # external models have no workload type


def test_scale_to_zero_is_always_sent_for_custom_entities() -> None:
    # The API rejects an entity without it ("scaleToZeroEnabled is undefined", terraform-provider
    # -databricks #4064): a create sends false when the file leaves it out; external models never
    # carry it.
    doc = desired(
        {
            "name": "x",
            "config": {"served_entities": [
                {"name": "a", "entity_name": "m", "entity_version": "1", "workload_size": "Small"},
                {"name": "b", "entity_name": "m", "entity_version": "2", "workload_size": "Small",
                 "scale_to_zero_enabled": True},
            ], "traffic_config": {"routes": [
                {"served_entity_name": "a", "traffic_percentage": 50},
                {"served_entity_name": "b", "traffic_percentage": 50},
            ]}},
        }
    )  # fmt: skip
    sent = {
        e["name"]: e
        for e in bodies.to_document(normalize.normalize_desired(doc))["config"]["served_entities"]
    }
    assert sent["a"]["scale_to_zero_enabled"] is False
    assert sent["b"]["scale_to_zero_enabled"] is True
    external = normalize.normalize_live(live("external_chat"))
    sent_ext = bodies.config_request(external.body["config"])["served_entities"][0]
    assert "scale_to_zero_enabled" not in sent_ext


# --------------------------------------------------------------------------------------------
# Write-only fields: compared with what servingops last applied (the servingops-applied tag)


def burst_doc(**burst: bool) -> DesiredDocument:
    entities: list[dict[str, Any]] = [
        {"name": n, "entity_name": "m", "entity_version": str(i), "workload_size": "Small",
         "scale_to_zero_enabled": False}
        for i, n in enumerate(("a", "b"), start=1)
    ]  # fmt: skip
    for entity in entities:
        if entity["name"] in burst:
            entity["burst_scaling_enabled"] = burst[entity["name"]]
    routes = [{"served_entity_name": n, "traffic_percentage": 50} for n in ("a", "b")]
    return desired(
        {"name": "w", "config": {"served_entities": entities, "traffic_config": {"routes": routes}}}
    )


def burst_live(*, applied: str | None, owned: bool = True) -> Any:
    """The live endpoint the desired document created, carrying the given tags."""
    doc = burst_doc()
    raw: dict[str, Any] = bodies.to_document(normalize.normalize_desired(doc))
    tags = []
    if owned:
        tags.append({"key": "servingops-owner", "value": "me"})
    if applied is not None:
        tags.append({"key": fields.APPLIED_TAG, "value": applied})
    raw["tags"] = tags
    return normalize.normalize_live(raw)


def write_only_changes(doc: DesiredDocument, live_endpoint: Any) -> list[tuple[Any, ...]]:
    from servingops.planner import diff_bodies

    resolved = normalize.resolve_server_chosen(normalize.normalize_desired(doc), live_endpoint)
    return [(c.path, c.after, c.carrier) for c in diff_bodies(live_endpoint.body, resolved.body)]


def test_write_only_values_already_applied_are_no_difference() -> None:
    doc = burst_doc(a=False)
    applied = normalize.applied_tag_value(normalize.normalize_desired(doc).write_only)
    assert write_only_changes(doc, burst_live(applied=applied)) == []


def test_a_changed_write_only_value_plans_a_config_update_that_carries_it() -> None:
    applied = normalize.applied_tag_value(normalize.normalize_desired(burst_doc(a=True)).write_only)
    path = ("config", "served_entities", "a", "burst_scaling_enabled")
    assert write_only_changes(burst_doc(a=False), burst_live(applied=applied)) == [
        (path, False, Carrier.CONFIG)
    ]
    # An endpoint servingops made without write-only values carries no tag: nothing applied.
    assert write_only_changes(burst_doc(a=False), burst_live(applied=None)) == [
        (path, False, Carrier.CONFIG)
    ]


def test_a_removed_write_only_value_goes_back_to_the_server_default() -> None:
    applied = normalize.applied_tag_value(
        normalize.normalize_desired(burst_doc(a=False)).write_only
    )
    path = ("config", "served_entities", "a", "burst_scaling_enabled")
    assert write_only_changes(burst_doc(), burst_live(applied=applied)) == [
        (path, True, Carrier.CONFIG)  # GET never says; the server default is enabled
    ]


def test_an_adopted_endpoint_cannot_say_its_write_only_values() -> None:
    doc = burst_doc(b=False)
    adopted = burst_live(applied=None, owned=False)
    assert write_only_changes(doc, adopted) == []
    want = normalize.normalize_desired(doc)
    assert normalize.unreadable_write_only(want, adopted) == [
        ("config", "served_entities", "b", "burst_scaling_enabled")
    ]
    # Once adopted, unknown until a config update sends them.
    adopted = burst_live(applied=normalize.APPLIED_UNKNOWN)
    assert write_only_changes(doc, adopted) == []
    assert normalize.unreadable_write_only(want, adopted) == [
        ("config", "served_entities", "b", "burst_scaling_enabled")
    ]
    assert normalize.unreadable_write_only(want, burst_live(applied=None)) == []


def test_the_applied_tag_is_hidden_and_short() -> None:
    value = normalize.applied_tag_value(
        {"served_entities": {f"entity-{i}": {"burst_scaling_enabled": False} for i in range(15)}}
    )
    assert len(value) <= 255
    assert normalize.applied_tag_value({}) == ""
    assert burst_live(applied=value).body["tags"] == {}


def test_a_failed_first_rollout_still_fixes_the_kind_of_endpoint() -> None:
    # Found by the widened convergence property: an endpoint whose first (custom) rollout failed
    # serves nothing, yet it was created without external models and cannot add them later
    # (databricks-sdk-py ServedEntityInput.external_model docstring): switching is a replace.
    raw = {
        "name": "x",
        "state": {"ready": "NOT_READY", "config_update": "UPDATE_FAILED"},
        "pending_config": {"config_version": 1, "served_entities": [
            {"name": "m-1", "entity_name": "m", "entity_version": "1"}]},
    }  # fmt: skip
    have = normalize.normalize_live(raw)
    assert have.body["config"] == {"entity_kind": "custom"}
    want = normalize.normalize_live(live("external_chat"))
    assert fields.carrier_for(("config", "entity_kind"))[0] is Carrier.RECREATE
    assert want.body["config"]["entity_kind"] != have.body["config"]["entity_kind"]


def test_an_external_entity_adopts_no_compute_fields_from_a_custom_one() -> None:
    # Found by the widened convergence property: replacing a custom entity "a" by an external
    # one of the same name sent the live workload_size along (external models cannot carry it).
    external = {"provider": "openai", "name": "g", "task": "t",
                "openai_config": {"openai_api_key": "{{secrets/a/b}}"}}  # fmt: skip
    want = desired(
        {"name": "x", "config": {"served_entities": [{"name": "a", "external_model": external}]}}
    )
    raw = {"name": "x", "config": {"served_entities": [
        {"name": "a", "entity_name": "m", "entity_version": "1", "workload_size": "Small",
         "workload_type": "CPU", "scale_to_zero_enabled": False}]}}  # fmt: skip
    resolved = normalize.resolve_server_chosen(
        normalize.normalize_desired(want), normalize.normalize_live(raw)
    )
    assert set(resolved.body["config"]["served_entities"]["a"]) == {"external_model"}


def test_every_server_fill_of_a_captured_endpoint_is_adopted() -> None:
    # A GET from a workspace without GPU serving (no workload_type), with the legacy and the
    # AI-gateway inference tables named after the endpoint and enabled by the server, and the
    # reserved tags: a file that leaves all of that out plans nothing.
    have = normalize.normalize_live(live("server_filled"))
    doc = desired(
        {
            "name": "scorer",
            "config": {
                "served_entities": [{"name": "main", "entity_name": "main.ml.scorer",
                                     "entity_version": "1", "workload_size": "Small",
                                     "workload_type": "CPU"}],
                "auto_capture_config": {"catalog_name": "c", "schema_name": "s"},
            },
            "ai_gateway": {
                "inference_table_config": {"catalog_name": "c", "schema_name": "s",
                                           "enabled": True}
            },
        }
    )  # fmt: skip
    assert normalize.resolve_server_chosen(normalize.normalize_desired(doc), have).body == have.body
    assert have.body["tags"] == {}
    assert have.write_only == {"applied": "0a1b2c3d4e5f"}
