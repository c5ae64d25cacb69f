"""Every field of schemas/endpoint.schema.json survives normalization and is sent by some call.

The schema is walked leaf by leaf. Sample documents cover every leaf (a new schema field fails
here until a sample sets it). Each leaf of a sample is then changed on its own: the change must
show in the canonical desired state (nothing silently dropped), the create body must carry it
(except the ACL, which goes through the permissions API), and the request of the call that
carries it in place must change too: a field that normalizes but is never sent is the
"applies but is never sent" bug.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servingops import bodies, fields, normalize, rules, schema
from servingops.desired import to_desired
from servingops.fields import Compare, Source
from servingops.loader import LoadedDocument
from servingops.model import Carrier, Endpoint, SourceRef

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "endpoint.schema.json").read_text(encoding="utf-8")
)
OWNER = "cov/owner"
CALLER = "user:me@example.com"


def as_leaf(pointer: str) -> tuple[str, ...]:
    """A registry pointer (`config.served_entities[].name`) as a schema leaf path."""
    return tuple(p for p in pointer.replace("[]", ".[]").split(".") if p)


def leaves_of(selected: Iterator[fields.Field]) -> set[tuple[str, ...]]:
    return {as_leaf(p) for f in selected for p in f.pointers}


# From the registry (fields.py): leaves accepted so that bodies written for the API paste in,
# then ignored with a warning (derived, never compared) ...
IGNORED = leaves_of(
    f for f in fields.FIELDS if f.source is Source.DERIVED and f.compare is Compare.NONE
)
# ... servingops' own blocks, never sent to the API and never a difference
# (test_servingops_blocks_are_never_sent_or_compared below) ...
NOT_SENT = {leaf[0] for leaf in leaves_of(iter(fields.having(source=Source.SERVINGOPS)))}
# ... and leaves whose change no API call can make in place (a plan error, said so).
NO_IN_PLACE_UPDATE = leaves_of(f for f in fields.FIELDS if f.carrier is Carrier.NONE)
# Leaves whose value is fixed by the schema (a one-value enum), so no change can be made.
FIXED = {"renewal_period": "the only renewal period is minute"}

CUSTOM = {
    "name": "cov-custom",
    "description": "all the custom-model fields",
    "route_optimized": True,
    "budget_policy_id": "policy-1",
    "usage_policy_id": "up-1",
    "config": {
        "served_entities": [
            {
                "name": "a",
                "entity_name": "main.ml.a",
                "entity_version": "3",
                "workload_size": "Small",
                "workload_type": "GPU_SMALL",
                "scale_to_zero_enabled": True,
                "burst_scaling_enabled": True,
                "environment_vars": {"MODE": "fast", "KEY": "{{secrets/s/k}}"},
                "instance_profile_arn": "arn:aws:iam::1:instance-profile/a",
            },
            {
                "name": "b",
                "entity_name": "system.ai.llama",
                "entity_version": 2,
                "min_provisioned_concurrency": 4,
                "max_provisioned_concurrency": "8",
                "min_provisioned_throughput": 0,
                "max_provisioned_throughput": 100,
                "provisioned_model_units": 50,
            },
        ],
        "traffic_config": {
            "routes": [
                {"served_entity_name": "a", "traffic_percentage": 60},
                {"served_model_name": "b", "traffic_percentage": "40"},
            ]
        },
        "auto_capture_config": {
            "catalog_name": "cat",
            "schema_name": "sch",
            "table_name_prefix": "pre",
            "enabled": True,
        },
    },
    "ai_gateway": {
        "usage_tracking_config": {"enabled": True},
        "inference_table_config": {
            "catalog_name": "cat",
            "schema_name": "sch",
            "table_name_prefix": "gw",
            "enabled": True,
        },
        "guardrails": {
            side: {
                "safety": True,
                "pii": {"behavior": "BLOCK"},
                "invalid_keywords": ["bad"],
                "valid_topics": ["ml"],
            }
            for side in ("input", "output")
        },
        "rate_limits": [
            {"key": "user", "renewal_period": "minute", "calls": 0},
            {"key": "user_group", "principal": "grp", "renewal_period": "minute", "tokens": 9},
        ],
        "fallback_config": {"enabled": True},
    },
    "tags": [{"key": "team", "value": "ml"}],
    "email_notifications": {"on_update_success": ["a@x.io"], "on_update_failure": ["b@x.io"]},
    "telemetry_config": {
        "telemetry_profile_id": "profile-1",
        "table_names": {
            "logs_table": "c.s.logs",
            "metrics_table": "c.s.metrics",
            "traces_table": "c.s.traces",
            "annotations_table": "c.s.annotations",
        },
        "enabled_telemetry_features": ["TELEMETRY_FEATURE_LOGS"],
        "inference_table_config": {"sampling_fraction": 0.5},
    },
    "uc_system_metrics_export_state": "FIRST_PARTY_EXPORT_ENABLED",
    "state": "running",
    "permissions": [
        {"user_name": "u@x.io", "permission_level": "CAN_QUERY"},
        {"group_name": "g", "permission_level": "CAN_VIEW"},
        {"service_principal_name": "sp-1", "permission_level": "CAN_MANAGE"},
    ],
}


def _external(name: str, provider: str, block: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "external_model": {
            "provider": provider,
            "name": f"m-{name}",
            "task": "llm/v1/chat",
            block: config,
        },
    }


_EXTERNALS = [
    _external("ai21", "ai21labs", "ai21labs_config", {"ai21labs_api_key": "{{secrets/s/a}}"}),
    _external(
        "bedrock",
        "amazon-bedrock",
        "amazon_bedrock_config",
        {
            "aws_region": "us-east-1",
            "bedrock_provider": "anthropic",
            "aws_access_key_id": "{{secrets/s/b}}",
            "aws_secret_access_key": "{{secrets/s/c}}",
        },
    ),
    _external(
        "bedrock2",
        "amazon-bedrock",
        "amazon_bedrock_config",
        {
            "aws_region": "us-east-1",
            "bedrock_provider": "amazon",
            "instance_profile_arn": "arn:aws:iam::1:instance-profile/b",
        },
    ),
    _external(
        "bedrock3",
        "amazon-bedrock",
        "amazon_bedrock_config",
        {
            "aws_region": "us-east-1",
            "bedrock_provider": "amazon",
            "uc_service_credential_name": "cred",
        },
    ),
    _external("claude", "anthropic", "anthropic_config", {"anthropic_api_key": "{{secrets/s/d}}"}),
    _external(
        "cohere",
        "cohere",
        "cohere_config",
        {"cohere_api_base": "https://c.example", "cohere_api_key": "{{secrets/s/e}}"},
    ),
    _external(
        "custom1",
        "custom",
        "custom_provider_config",
        {
            "custom_provider_url": "https://x.example",
            "api_key_auth": {"key": "X-Key", "value": "{{secrets/s/f}}"},
        },
    ),
    _external(
        "custom2",
        "custom",
        "custom_provider_config",
        {
            "custom_provider_url": "https://y.example",
            "bearer_token_auth": {"token": "{{secrets/s/g}}"},
        },
    ),
    _external(
        "dbx",
        "databricks-model-serving",
        "databricks_model_serving_config",
        {
            "databricks_workspace_url": "https://w.example",
            "databricks_api_token": "{{secrets/s/h}}",
        },
    ),
    _external(
        "vertex",
        "google-cloud-vertex-ai",
        "google_cloud_vertex_ai_config",
        {"project_id": "p", "region": "europe-west4", "private_key": "{{secrets/s/i}}"},
    ),
    _external(
        "azure",
        "openai",
        "openai_config",
        {
            "openai_api_type": "azuread",
            "openai_api_base": "https://o.example",
            "openai_api_version": "2024-01-01",
            "openai_deployment_name": "dep",
            "openai_organization": "org",
            "microsoft_entra_tenant_id": "t",
            "microsoft_entra_client_id": "c",
            "microsoft_entra_client_secret": "{{secrets/s/j}}",
        },
    ),
    _external(
        "openai",
        "openai",
        "openai_config",
        {"openai_api_key": "{{secrets/s/k}}"},
    ),
    _external("palm", "palm", "palm_config", {"palm_api_key": "{{secrets/s/l}}"}),
]

EXTERNAL = {
    "name": "cov-external",
    "config": {
        "served_entities": _EXTERNALS,
        "traffic_config": {
            "routes": [
                {"served_entity_name": e["name"], "traffic_percentage": 100 if i == 0 else 0}
                for i, e in enumerate(_EXTERNALS)
            ]
        },
    },
}

LEGACY = {
    "name": "cov-legacy",
    "config": {
        "served_models": [
            {
                "name": "old",
                "model_name": "main.ml.old",
                "model_version": "1",
                "workload_size": "Small",
                "workload_type": "CPU",
                "scale_to_zero_enabled": True,
                "burst_scaling_enabled": True,
                "environment_vars": {"MODE": "slow"},
                "instance_profile_arn": "arn:aws:iam::1:instance-profile/old",
            },
            {
                "name": "old-pt",
                "model_name": "system.ai.old",
                "model_version": 1,
                "min_provisioned_concurrency": 0,
                "max_provisioned_concurrency": 4,
                "min_provisioned_throughput": 0,
                "max_provisioned_throughput": 50,
                "provisioned_model_units": 10,
            },
        ],
        "traffic_config": {
            "routes": [
                {"served_model_name": "old", "traffic_percentage": 50},
                {"served_model_name": "old-pt", "traffic_percentage": 50},
            ]
        },
    },
    "rate_limits": [{"key": "user", "renewal_period": "minute", "calls": 0}],
}

SAMPLES: dict[str, dict[str, Any]] = {"custom": CUSTOM, "external": EXTERNAL, "legacy": LEGACY}


# --------------------------------------------------------------------------------------------
# The schema's leaves and the samples' leaves

SchemaPath = tuple[str, ...]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def schema_leaves(node: dict[str, Any] | None = None, at: SchemaPath = ()) -> Iterator[SchemaPath]:
    """Every leaf of the schema; "[]" stands for any list item, "*" for any mapping key."""
    node = resolve(SCHEMA if node is None else node)
    if "properties" in node:
        for key, child in node["properties"].items():
            yield from schema_leaves(child, (*at, key))
    elif "items" in node:
        yield from schema_leaves(node["items"], (*at, "[]"))
    elif isinstance(node.get("additionalProperties"), dict):
        yield from schema_leaves(node["additionalProperties"], (*at, "*"))
    else:
        yield at


def schema_node(path: SchemaPath) -> dict[str, Any]:
    node = resolve(SCHEMA)
    for part in path:
        if part == "[]":
            node = resolve(node["items"])
        elif part == "*":
            node = resolve(node["additionalProperties"])
        else:
            node = resolve(node["properties"][part])
    return node


DocPath = tuple[str | int, ...]


def doc_leaves(value: Any, at: DocPath = ()) -> Iterator[DocPath]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from doc_leaves(child, (*at, key))
    elif isinstance(value, list) and value and isinstance(value[0], dict | list):
        for i, child in enumerate(value):
            yield from doc_leaves(child, (*at, i))
    else:
        yield at


def generic(path: DocPath, value: Any) -> SchemaPath:
    """The schema path of a document path: list indexes become "[]", free keys "*"."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append("[]")
        elif out and out[-1] == "environment_vars":
            out.append("*")
        else:
            out.append(part)
    if isinstance(value, list):  # a list of plain values is one leaf
        out.append("[]")
    return tuple(out)


def _get(doc: Any, path: DocPath) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: DocPath, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def changed(value: Any, node: dict[str, Any]) -> Any:
    """Another value of the same schema type."""
    if isinstance(value, list):
        others = [v for v in node.get("items", {}).get("enum", []) if v not in value]
        return [*value, others[0] if others else f"{value[0]}-more"]
    if "enum" in node:
        return next(v for v in node["enum"] if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if isinstance(value, str) and value.isdigit():
        return str(int(value) + 1)
    if isinstance(value, str) and value.startswith("{{secrets/"):
        return value.replace("}}", "2}}")
    return f"{value}2"


# --------------------------------------------------------------------------------------------
# From a document to what each call would send


def loaded(data: dict[str, Any]) -> LoadedDocument:
    return LoadedDocument(
        path="cov.yaml", index=0, data=data, source=SourceRef(path="cov.yaml", line=1, column=1)
    )


def endpoint(data: dict[str, Any]) -> Endpoint:
    return normalize.normalize_desired(to_desired(loaded(data)), caller=CALLER)


def _create(e: Endpoint) -> Any:
    return bodies.create_body(e, owner=OWNER)


def _config(e: Endpoint) -> Any:
    return bodies.config_request(e.body["config"], write_only=e.write_only)


SENDERS: dict[Carrier, Callable[[Endpoint, Endpoint], bool]] = {
    Carrier.CONFIG: lambda old, new: _config(old) != _config(new),
    Carrier.TAGS: lambda old, new: (
        bodies.tag_patch(old, new, owner=OWNER) != bodies.tag_patch(old, old, owner=OWNER)
    ),
    Carrier.AI_GATEWAY: lambda old, new: (
        bodies.ai_gateway_request(old.body["ai_gateway"])
        != bodies.ai_gateway_request(new.body.get("ai_gateway", {}))
    ),
    Carrier.NOTIFICATIONS: lambda old, new: (
        bodies.notifications_request(old) != bodies.notifications_request(new)
    ),
    Carrier.PERMISSIONS: lambda old, new: (
        bodies.acl_request(old.body["permissions"], caller=CALLER)
        != bodies.acl_request(new.body["permissions"], caller=CALLER)
    ),
    Carrier.TELEMETRY: lambda old, new: (
        bodies.telemetry_request(old.body["telemetry_config"])
        != bodies.telemetry_request(new.body["telemetry_config"])
    ),
    Carrier.METRICS_EXPORT: lambda old, new: (
        old.body["uc_system_metrics_export_state"] != new.body["uc_system_metrics_export_state"]
    ),
    Carrier.RUN_STATE: lambda old, new: old.body["state"] != new.body["state"],
    Carrier.RECREATE: lambda old, new: _create(old) != _create(new),
}


def _cases() -> Iterator[Any]:
    for kind, sample in SAMPLES.items():
        for path in doc_leaves(sample):
            if path == ("name",):
                continue  # the endpoint's identity: a new name is another endpoint
            yield pytest.param(kind, path, id=f"{kind}:{'.'.join(map(str, path))}")


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_samples_are_valid(kind: str) -> None:
    document = loaded(copy.deepcopy(SAMPLES[kind]))
    problems = [*schema.validate(document), *rules.check_document(document)]
    assert [d for d in problems if d.is_error] == []


def test_samples_set_every_schema_field() -> None:
    covered = {
        generic(path, _get(sample, path))
        for sample in SAMPLES.values()
        for path in doc_leaves(sample)
    }
    missing = [
        ".".join(leaf)
        for leaf in schema_leaves()
        if leaf not in covered
        and not leaf[-1].endswith("_plaintext")
        and leaf not in IGNORED
        and leaf[0] not in NOT_SENT
    ]
    assert missing == [], "add these fields to a sample document"


@pytest.mark.parametrize(("kind", "path"), list(_cases()))
def test_a_changed_field_is_kept_and_sent(kind: str, path: DocPath) -> None:
    sample = SAMPLES[kind]
    value = _get(sample, path)
    leaf = generic(path, value)
    node = schema_node(leaf[:-1] if leaf[-1] == "[]" else leaf)
    if leaf[-1] in FIXED or len(node.get("enum", [None, None])) < 2:
        pytest.skip(FIXED.get(leaf[-1], "a one-value enum"))
    mutated = copy.deepcopy(sample)
    _set(mutated, path, changed(value, node))
    old, new = endpoint(copy.deepcopy(sample)), endpoint(mutated)

    # (a) nothing silently dropped: the canonical desired state (or the input-only values kept
    # aside for the config call) differs.
    assert (old.body, old.write_only) != (new.body, new.write_only), "dropped by normalization"

    # (b) a create sends it (the ACL goes through the permissions API once the id exists, and
    # a desired "stopped" through config:stop once the first rollout is over).
    if leaf[0] not in {f.path[0] for f in fields.FIELDS if not f.in_create}:
        assert _create(old) != _create(new), "not in the create body"

    # (c) each in-place change is carried by a call whose request changes.
    from servingops.planner import diff_bodies

    changes = diff_bodies(old.body, new.body)
    carriers = {c.carrier for c in changes} or {fields.carrier_for(("config",))[0]}
    for carrier in carriers:
        if carrier is Carrier.NONE:
            assert leaf in NO_IN_PLACE_UPDATE, f"no call can change {leaf}"
            continue
        assert SENDERS[carrier](old, new), f"{carrier} does not send the change"


def test_servingops_blocks_are_never_sent_or_compared() -> None:
    """A `smoke:` block is validated and carried to apply, but it is not the API's: it never
    reaches the canonical body (so it is never a difference) or a request body."""
    checked = {
        **copy.deepcopy(CUSTOM),
        "smoke": [
            {
                "name": "one-row",
                "request": {"dataframe_split": {"columns": ["a"], "data": [[1]]}},
                "entity": "a",
                "expect": {"status": 200, "max_latency_ms": 900, "json": {"$.predictions[0]": 0}},
            }
        ],
    }
    document = loaded(copy.deepcopy(checked))
    assert [d for d in (*schema.validate(document), *rules.check_document(document))] == []
    with_smoke, without = endpoint(checked), endpoint(copy.deepcopy(CUSTOM))
    assert (with_smoke.body, with_smoke.write_only) == (without.body, without.write_only)
    assert _create(with_smoke) == _create(without)
    assert set(NOT_SENT) <= set(SCHEMA["properties"])
