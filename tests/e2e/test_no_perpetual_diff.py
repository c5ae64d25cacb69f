"""Property: whatever valid document is created in the emulator, planning it again is empty;
and changing any one field plans exactly that change and nothing else.

The documents use every field of schemas/endpoint.schema.json in each of its accepted forms
(legacy served_models and rate_limits, tags as a mapping or a list, numbers as strings, config
.name), every external-model provider, odd and long endpoint and served-entity names, and
entities left unnamed, whose long default names come from the server's rule.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops import bodies, engine, loader, normalize, rules, schema
from servingops.auth import Credentials
from servingops.client import Client
from servingops.desired import to_desired
from servingops.model import DesiredDocument, Plan, SourceRef
from servingops.normalize import default_entity_name

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "endpoint.schema.json").read_text(encoding="utf-8")
)


def schema_enum(definition: str, field: str) -> list[str]:
    node = SCHEMA["$defs"][definition]["properties"][field]
    return list(node.get("items", node)["enum"])


OWNER = "prop/owner"
NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
# Endpoint names up to the limit: the inference-table prefixes the server fills come from them.
ENDPOINT_NAMES = st.one_of(NAMES, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{40,62}", fullmatch=True))
# Served-entity names of every allowed shape and length (1-63 letters, digits, '-', '_').
ENTITY_NAMES = st.one_of(NAMES, st.from_regex(r"[A-Za-z0-9_-]{1,63}", fullmatch=True))
EMAILS = st.lists(st.sampled_from(["a@x.io", "b@x.io", "c@x.io"]), unique=True, max_size=3)
WORKLOAD_TYPES = schema_enum("served_entity", "workload_type")
MODEL_LAST_PARTS = st.from_regex(r"[A-Za-z0-9_-]{1,55}", fullmatch=True)


@st.composite
def custom_entity(draw: st.DrawFn) -> dict[str, Any]:
    """A custom (or foundation-model) served entity using any of its fields; unnamed ones get
    the server's default name, which may be long."""
    last = draw(st.one_of(st.sampled_from(["model", "other"]), MODEL_LAST_PARTS))
    entity: dict[str, Any] = {
        "entity_name": draw(st.sampled_from(["main.a.", "cat.sch.", "", "system.ai."])) + last,
        "entity_version": str(draw(st.integers(1, 999))),
    }
    if draw(st.booleans()):
        entity["name"] = draw(ENTITY_NAMES)
    sizing = draw(st.sampled_from(["size", "concurrency", "throughput", "units", "none"]))
    if sizing == "size":
        entity["workload_size"] = draw(st.sampled_from(["Small", "Medium", "Large"]))
    elif sizing == "concurrency":
        low = draw(st.integers(0, 8))
        entity["min_provisioned_concurrency"] = low
        entity["max_provisioned_concurrency"] = str(low + draw(st.integers(0, 8)) * 4)
    elif sizing == "throughput":
        low = draw(st.integers(0, 100))
        entity["min_provisioned_throughput"] = low
        entity["max_provisioned_throughput"] = low + draw(st.integers(0, 100))
    elif sizing == "units":
        entity["provisioned_model_units"] = draw(st.integers(1, 100))
    if draw(st.booleans()):  # left out: sent as false on create
        entity["scale_to_zero_enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        entity["workload_type"] = draw(st.sampled_from(WORKLOAD_TYPES))
    if draw(st.booleans()):
        entity["burst_scaling_enabled"] = draw(st.booleans())  # write-only
    if draw(st.booleans()):
        entity["environment_vars"] = {"MODE": draw(NAMES), "KEY": "{{secrets/s/k}}"}
    if draw(st.booleans()):
        entity["instance_profile_arn"] = "arn:aws:iam::1:instance-profile/" + draw(NAMES)
    return entity


def _split(draw: st.DrawFn, n: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 100]
    return [bounds[i + 1] - bounds[i] for i in range(n)]


def _with_routes(draw: st.DrawFn, entities: list[dict[str, Any]]) -> dict[str, Any]:
    """Entities with unique (explicit or default) names, and a traffic config when needed."""
    unique: dict[str, dict[str, Any]] = {}
    for entity in entities:
        unique.setdefault(str(entity.get("name") or default_entity_name(entity)), entity)
    config: dict[str, Any] = {"served_entities": list(unique.values())}
    if len(unique) > 1 or draw(st.booleans()):
        split = _split(draw, len(unique))
        key = draw(st.sampled_from(["served_entity_name", "served_model_name"]))
        config["traffic_config"] = {
            "routes": [
                {key: n, "traffic_percentage": draw(st.sampled_from([p, str(p)]))}
                for n, p in zip(unique, split, strict=True)
            ]
        }
    return config


@st.composite
def custom_config(draw: st.DrawFn) -> dict[str, Any]:
    entities = draw(st.lists(custom_entity(), min_size=1, max_size=3))
    config = _with_routes(draw, entities)
    if draw(st.booleans()):
        capture: dict[str, Any] = {"catalog_name": "cat", "schema_name": draw(NAMES)}
        if draw(st.booleans()):  # else the server names the table after the endpoint
            capture["table_name_prefix"] = draw(NAMES)
        if draw(st.booleans()):  # else the server enables it
            capture["enabled"] = draw(st.booleans())
        config["auto_capture_config"] = capture
    if draw(st.booleans()):
        config["name"] = "pasted-from-the-put-config-example"  # ignored
    if draw(st.booleans()) and all("name" in e for e in config["served_entities"]):
        config["served_models"] = [_legacy(e) for e in config.pop("served_entities")]
    return config


def _legacy(entity: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in entity.items() if k not in ("entity_name", "entity_version")}
    return {"model_name": entity["entity_name"], "model_version": entity["entity_version"], **out}


# One valid provider block for every external-model provider (and the variants of some).
PROVIDERS: list[tuple[str, dict[str, Any]]] = [
    ("ai21labs", {"ai21labs_config": {"ai21labs_api_key": "{{secrets/s/a}}"}}),
    ("amazon-bedrock", {"amazon_bedrock_config": {
        "aws_region": "us-east-1", "bedrock_provider": "anthropic",
        "aws_access_key_id": "{{secrets/s/b}}", "aws_secret_access_key": "{{secrets/s/c}}"}}),
    ("amazon-bedrock", {"amazon_bedrock_config": {
        "aws_region": "eu-west-1", "bedrock_provider": "Amazon",
        "instance_profile_arn": "arn:aws:iam::1:instance-profile/b"}}),
    ("amazon-bedrock", {"amazon_bedrock_config": {
        "aws_region": "us-west-2", "bedrock_provider": "grok", "uc_service_credential_name": "c"}}),
    ("anthropic", {"anthropic_config": {"anthropic_api_key": "{{secrets/s/d}}"}}),
    ("cohere", {"cohere_config": {"cohere_api_base": "https://c.example",
                                  "cohere_api_key": "{{secrets/s/e}}"}}),
    ("custom", {"custom_provider_config": {"custom_provider_url": "https://x.example",
                "api_key_auth": {"key": "X-Key", "value": "{{secrets/s/f}}"}}}),
    ("custom", {"custom_provider_config": {"custom_provider_url": "https://y.example",
                "bearer_token_auth": {"token": "{{secrets/s/g}}"}}}),
    ("databricks-model-serving", {"databricks_model_serving_config": {
        "databricks_workspace_url": "https://w.example",
        "databricks_api_token": "{{secrets/s/h}}"}}),
    ("google-cloud-vertex-ai", {"google_cloud_vertex_ai_config": {
        "project_id": "p", "region": "europe-west4", "private_key": "{{secrets/s/i}}"}}),
    ("openai", {"openai_config": {"openai_api_key": "{{secrets/llm/openai}}"}}),
    ("openai", {"openai_config": {
        "openai_api_type": "azuread", "openai_api_base": "https://o.example",
        "openai_api_version": "2024-01-01", "openai_deployment_name": "dep",
        "openai_organization": "org", "microsoft_entra_tenant_id": "t",
        "microsoft_entra_client_id": "c", "microsoft_entra_client_secret": "{{secrets/s/j}}"}}),
    ("palm", {"palm_config": {"palm_api_key": "{{secrets/s/l}}"}}),
]  # fmt: skip


@st.composite
def external_config(draw: st.DrawFn) -> dict[str, Any]:
    task = draw(st.sampled_from(["llm/v1/chat", "llm/v1/completions", "llm/v1/embeddings"]))
    entities = []
    for provider, block in draw(st.lists(st.sampled_from(PROVIDERS), min_size=1, max_size=3)):
        # '.' and ':' in a model name become '-' in the default entity name.
        model = draw(st.from_regex(r"[a-z][a-z0-9.:-]{0,30}[a-z0-9]", fullmatch=True))
        entity: dict[str, Any] = {
            "external_model": {"provider": provider, "name": model, "task": task, **block}
        }
        if draw(st.booleans()):
            entity["name"] = draw(ENTITY_NAMES)
        entities.append(entity)
    return _with_routes(draw, entities)


@st.composite
def gateway(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["usage_tracking_config"] = {"enabled": draw(st.booleans())}
    if draw(st.booleans()):
        table: dict[str, Any] = {"catalog_name": "cat", "schema_name": draw(NAMES),
                                 "enabled": draw(st.booleans())}  # fmt: skip
        if draw(st.booleans()):  # else the server names the table after the endpoint
            table["table_name_prefix"] = draw(NAMES)
        out["inference_table_config"] = table
    if draw(st.booleans()):
        out["guardrails"] = {
            side: {
                "safety": draw(st.booleans()),
                "pii": {"behavior": draw(st.sampled_from(["BLOCK", "MASK", "NONE"]))},
                "invalid_keywords": draw(st.lists(NAMES, max_size=2)),
                "valid_topics": draw(st.lists(NAMES, max_size=2)),
            }
            for side in draw(st.lists(st.sampled_from(["input", "output"]), unique=True))
        }
    limits = []
    keys = ["user", "endpoint", "user_group", "service_principal"]
    for key in draw(st.lists(st.sampled_from(keys), unique=True, max_size=3)):
        metric = draw(st.sampled_from(["calls", "tokens"]))
        limit: dict[str, Any] = {
            "key": key,
            "renewal_period": "minute",
            metric: draw(st.integers(0, 999)),
        }
        if key in ("user_group", "service_principal"):
            limit["principal"] = draw(NAMES)
        limits.append(limit)
    if limits:
        out["rate_limits"] = limits
    if draw(st.booleans()):
        out["fallback_config"] = {"enabled": draw(st.booleans())}
    return out


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid endpoint file using any field of the schema (in any of its accepted forms)."""
    data: dict[str, Any] = {"name": draw(ENDPOINT_NAMES)}
    custom = draw(st.booleans())
    data["config"] = draw(custom_config() if custom else external_config())
    if draw(st.booleans()):
        data["description"] = draw(st.text("abc xyz", max_size=12))
    if draw(st.booleans()):
        data["route_optimized"] = draw(st.booleans())
    if draw(st.booleans()):
        data["budget_policy_id"] = "policy-" + draw(NAMES)
    tags = draw(st.dictionaries(NAMES, st.text("abc-1", max_size=5), max_size=3))
    as_mapping: bool = draw(st.booleans())  # the API's list form or a mapping
    if tags:
        data["tags"] = tags if as_mapping else [{"key": k, "value": v} for k, v in tags.items()]
    gw = draw(gateway())
    use_gateway: bool = draw(st.booleans())
    if gw and use_gateway:
        data["ai_gateway"] = gw
    if not gw.get("rate_limits") and draw(st.booleans()):
        data["rate_limits"] = [{"key": "user", "renewal_period": "minute",
                                "calls": draw(st.integers(0, 99))}]  # fmt: skip
    success, failure = draw(EMAILS), draw(EMAILS)
    if success or failure:
        data["email_notifications"] = {"on_update_success": success, "on_update_failure": failure}
    if custom and draw(st.booleans()):
        telemetry: dict[str, Any] = {"telemetry_profile_id": "profile-" + draw(NAMES)}
        features = schema_enum("telemetry_config", "enabled_telemetry_features")
        telemetry["enabled_telemetry_features"] = draw(
            st.lists(st.sampled_from(features), unique=True)
        )
        if draw(st.booleans()):
            fraction = draw(st.sampled_from([0, 0.25, 1]))
            telemetry["inference_table_config"] = {"sampling_fraction": fraction}
        data["telemetry_config"] = telemetry
    if draw(st.booleans()):
        data["uc_system_metrics_export_state"] = draw(
            st.sampled_from(["FIRST_PARTY_EXPORT_ENABLED", "FIRST_PARTY_EXPORT_DISABLED"])
        )
    if draw(st.booleans()):
        levels = st.sampled_from(["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"])
        principals = st.sampled_from(["group_name", "user_name", "service_principal_name"])
        grants = draw(st.lists(st.tuples(principals, NAMES), unique=True, max_size=3))
        data["permissions"] = [
            {kind: who, "permission_level": draw(levels)} for kind, who in grants
        ]
    return data


def as_body(data: dict[str, Any]) -> dict[str, Any]:
    """The file as validate and the loader see it, in the API's create-body shape."""
    document = loader.LoadedDocument(
        path="p.yaml", index=0, data=copy.deepcopy(data), source=SourceRef(path="p.yaml")
    )
    problems = [d for d in (*schema.validate(document), *rules.check_document(document))]
    assert [d.summary for d in problems if d.is_error] == [], data
    return copy.deepcopy(dict(to_desired(document).body))


def plan_against(emu: Emulator[ManualClock], body: dict[str, Any]) -> Plan:
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))

    async def go() -> Plan:
        creds = Credentials(host="http://emulator.local", token="t")
        async with Client(creds, transport=httpx.ASGITransport(app=emu.app)) as client:
            result, _ = await engine.compute_plan(client, [doc], owner=OWNER)
            return result

    return asyncio.run(go())


def create(emu: Emulator[ManualClock], body: dict[str, Any]) -> None:
    """What apply sends for a new endpoint: its create body (ownership and applied tags), then
    the ACL."""
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))
    endpoint = normalize.normalize_desired(doc)
    request = bodies.create_body(endpoint, owner=OWNER)
    acl = bodies.to_document(endpoint).get("permissions")

    async def go() -> None:
        creds = Credentials(host="http://emulator.local", token="t")
        async with Client(creds, transport=httpx.ASGITransport(app=emu.app)) as client:
            created = await client.create_endpoint(request)
            if acl is not None:
                await client.set_permissions(created["id"], acl)

    asyncio.run(go())
    emu.advance(60)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(documents())
def test_created_document_plans_empty(data: dict[str, Any]) -> None:
    body = as_body(data)
    emu = Emulator(EmulatorConfig(update_seconds=5, shuffle_seed=7), clock=ManualClock(1.7e9))
    try:
        create(emu, body)
        result = plan_against(emu, body)
        assert result.is_empty, [(a.kind, [c.path for c in a.changes]) for a in result.actions]
    finally:
        emu.close()


MUTATIONS = ["tag", "version", "notification", "gateway_limit", "permission"]


@PROPERTY
@given(documents(), st.sampled_from(MUTATIONS))
def test_one_changed_field_is_exactly_one_change(data: dict[str, Any], what: str) -> None:
    body = as_body(data)
    changed = copy.deepcopy(body)
    expected = _mutate(changed, what)
    emu = Emulator(EmulatorConfig(update_seconds=5, shuffle_seed=3), clock=ManualClock(1.7e9))
    try:
        create(emu, body)
        result = plan_against(emu, changed)
        assert [a.name for a in result.actions] == [body["name"]]
        assert [c.path for c in result.actions[0].changes] == [expected]
    finally:
        emu.close()


def _mutate(body: dict[str, Any], what: str) -> tuple[str, ...]:
    """Change one thing in `body`; return the path the plan must report for it."""
    before = _canonical(body)
    entity = body["config"]["served_entities"][0]
    if what == "version" and "entity_name" in entity and "name" in entity:
        entity["entity_version"] = str(int(entity["entity_version"]) + 1000)
        return ("config", "served_entities", entity["name"], "entity_version")
    if what == "notification":
        notes = body.setdefault("email_notifications", {})
        notes["on_update_failure"] = [*notes.get("on_update_failure", []), "new@x.io"]
        return _reported(before, ("email_notifications", "on_update_failure"))
    if what == "gateway_limit":
        gw = body.setdefault("ai_gateway", {})
        limit = {"key": "user_group", "principal": "zz", "renewal_period": "minute", "calls": 5}
        gw["rate_limits"] = [*gw.get("rate_limits", []), limit]
        return _reported(before, ("ai_gateway", "rate_limits", "user_group:zz/calls/minute"))
    if what == "permission" and "permissions" in body:
        body["permissions"].append({"group_name": "zz-new", "permission_level": "CAN_VIEW"})
        return ("permissions", "group:zz-new")
    body.setdefault("tags", []).append({"key": "zz-new", "value": "v"})
    return ("tags", "zz-new")


def _canonical(body: dict[str, Any]) -> dict[str, Any]:
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))
    return dict(normalize.normalize_desired(doc).body)


def _reported(canonical: dict[str, Any], path: tuple[str, ...]) -> tuple[str, ...]:
    """A change is reported at the first level that did not exist before (a new subtree)."""
    node: Any = canonical
    for i, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            return path[: i + 1]
        node = node[part]
    return path
