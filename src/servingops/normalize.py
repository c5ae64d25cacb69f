"""One canonical form for desired documents and live GET responses, so that diffs are exact.

Everything the planner must not know lives here: server-filled defaults, output-only and
input-only fields, keyed lists compared as sets, numbers sent as strings, the ownership tag,
inherited and implicit ACL entries, and which API call carries a change to each field.

Canonical body (both sides; keyed lists become mappings so order never matters):

    description: str                      route_optimized: bool          budget_policy_id: str
    config: {served_entities: {name: entity}, traffic: {entity: percent},
             auto_capture_config: {...}, entity_kind: "custom" | "external" | "foundation"}
    tags: {key: value}                    ai_gateway: {..., rate_limits: {id: limit}}
    email_notifications: {on_update_success: [...], on_update_failure: [...]}
    telemetry_config: {telemetry_profile_id, table_names, enabled_telemetry_features: [...],
                       inference_table_config: {sampling_fraction}}
    permissions: {"group:x" | "user:x" | "service_principal:x": level}   (only when managed)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .model import (
    OWNER_TAG,
    RESERVED_TAGS,
    ROLLOUT_TAG,
    Body,
    Carrier,
    ConfigUpdate,
    DesiredDocument,
    Endpoint,
    Fingerprint,
    LiveStatus,
    Path,
)

WILDCARD = "*"

# --------------------------------------------------------------------------------------------
# The table. Patterns are canonical paths; "*" matches any one key (an entity name, a tag key).


@dataclass(frozen=True, slots=True)
class Rule:
    """How one canonical field behaves.

    carrier      the API call that changes it in place (inherited by everything below it)
    keep_live    the server chooses a value when the user writes none: a desired document that
                 omits the field adopts the live value instead of showing a difference
    consumed     the server turns the value into something else and never echoes it: it is sent
                 while the enclosing block is absent live, and not compared once it exists
    sensitive    rendered as "(sensitive)" and never printed
    default      what the server fills in when nobody sets the field (None when unknown);
                 export leaves a field out when live holds exactly this value
    """

    pattern: tuple[str, ...]
    carrier: Carrier | None = None
    keep_live: bool = False
    consumed: bool = False
    sensitive: bool = False
    reason: str = ""
    default: Any = None


_TABLES = "inference table catalog, schema and prefix cannot be changed in place"

RULES: tuple[Rule, ...] = (
    # No update API: the endpoint must be deleted and created again.
    Rule(
        ("description",),
        Carrier.RECREATE,
        keep_live=True,
        reason="the description has no update API",
        default="",
    ),
    Rule(
        ("route_optimized",),
        Carrier.RECREATE,
        keep_live=True,
        reason="route_optimized cannot be changed in place; the endpoint URL changes",
        default=False,
    ),
    Rule(
        ("config", "entity_kind"),
        Carrier.RECREATE,
        reason="an endpoint cannot switch between external and custom served entities",
    ),
    Rule(("config", "auto_capture_config", "catalog_name"), Carrier.RECREATE, reason=_TABLES),
    Rule(("config", "auto_capture_config", "schema_name"), Carrier.RECREATE, reason=_TABLES),
    Rule(
        ("config", "auto_capture_config", "table_name_prefix"),
        Carrier.RECREATE,
        keep_live=True,
        reason=_TABLES,
    ),
    Rule(
        ("ai_gateway", "inference_table_config", "catalog_name"), Carrier.RECREATE, reason=_TABLES
    ),
    Rule(("ai_gateway", "inference_table_config", "schema_name"), Carrier.RECREATE, reason=_TABLES),
    Rule(
        ("ai_gateway", "inference_table_config", "table_name_prefix"),
        Carrier.RECREATE,
        reason=_TABLES,
    ),
    # Accepted at create and never updatable: a change is a plan error, not a silent no-op.
    Rule(
        ("budget_policy_id",),
        Carrier.NONE,
        keep_live=True,
        reason="budget_policy_id can only be set when the endpoint is created",
    ),
    # The asynchronous, versioned config update.
    Rule(("config",), Carrier.CONFIG, keep_live=True),
    Rule(("config", "auto_capture_config"), Carrier.CONFIG, keep_live=True),
    Rule(("config", "served_entities", WILDCARD, "workload_size"), keep_live=True),
    Rule(("config", "served_entities", WILDCARD, "workload_type"), keep_live=True, default="CPU"),
    Rule(
        ("config", "served_entities", WILDCARD, "scale_to_zero_enabled"),
        keep_live=True,
        default=False,
    ),
    Rule(("config", "served_entities", WILDCARD, "environment_vars", WILDCARD), sensitive=True),
    # Synchronous side calls.
    Rule(("tags",), Carrier.TAGS),
    Rule(("ai_gateway",), Carrier.AI_GATEWAY),
    Rule(("email_notifications",), Carrier.NOTIFICATIONS),
    Rule(("permissions",), Carrier.PERMISSIONS),
    # Telemetry may be set by the workspace without user input, so an omitted block is left
    # alone; table_names are consumed to create a profile whose id GET returns instead.
    Rule(("telemetry_config",), Carrier.TELEMETRY, keep_live=True),
    Rule(("telemetry_config", "telemetry_profile_id"), keep_live=True),
    Rule(("telemetry_config", "table_names"), consumed=True),
    # No documented default: an omitted state is the workspace's choice.
    Rule(("uc_system_metrics_export_state",), Carrier.METRICS_EXPORT, keep_live=True),
    # Desired run state: absent leaves it alone (shown, never changed); live is read from state.
    Rule(("state",), Carrier.RUN_STATE, keep_live=True, default="running"),
)

# Server-owned fields of an endpoint (id, creator, timestamps, state, pending_config, ...) need
# no list: the canonical body is built from the fields it knows, so anything else is ignored.
OUTPUT_ONLY_ENTITY = frozenset({"creator", "creation_timestamp", "state", "foundation_model"})
# Accepted on write but never echoed by GET: kept aside and sent, never compared.
INPUT_ONLY_ENTITY = frozenset({"burst_scaling_enabled"})

INT_FIELDS = frozenset(
    {
        "traffic_percentage", "min_provisioned_concurrency", "max_provisioned_concurrency",
        "min_provisioned_throughput", "max_provisioned_throughput", "provisioned_model_units",
        "calls", "tokens",
    }
)  # fmt: skip

# Secret-bearing fields of external-model provider configs (reference form only in files).
SECRET_FIELDS = frozenset(
    {
        "ai21labs_api_key", "aws_access_key_id", "aws_secret_access_key", "anthropic_api_key",
        "cohere_api_key", "databricks_api_token", "private_key", "openai_api_key",
        "microsoft_entra_client_secret", "palm_api_key", "value", "token",
    }
)  # fmt: skip

_PRINCIPAL_KEYS = (("user_name", "user"), ("group_name", "group"),
                   ("service_principal_name", "service_principal"))  # fmt: skip


def rule_for(path: Path) -> Rule | None:
    """The most specific rule whose pattern is a prefix of `path` (or None)."""
    best: Rule | None = None
    for rule in RULES:
        if _matches(rule, path) and (best is None or len(rule.pattern) > len(best.pattern)):
            best = rule
    return best


def carrier_for(path: Path) -> tuple[Carrier, str]:
    """The API call that carries a change at `path`, and the reason when none can in place.

    The nearest enclosing rule with a carrier wins.
    """
    for n in range(len(path), 0, -1):
        for rule in RULES:
            if rule.carrier is not None and len(rule.pattern) == n and _matches(rule, path[:n]):
                return rule.carrier, rule.reason
    return Carrier.NONE, "no API call can change this field"


def is_server_default(path: Path, value: Any) -> bool:
    """True when `value` at `path` is what the server fills in when nobody sets the field (and
    normalization adopts it from live when a file omits it), so a file need not say it."""
    rule = rule_for(path)
    if rule is None or len(rule.pattern) != len(path) or rule.default is None:
        return False
    return bool(rule.keep_live) and type(value) is type(rule.default) and value == rule.default


def is_sensitive(path: Path) -> bool:
    if (
        path
        and isinstance(path[-1], str)
        and path[-1] in SECRET_FIELDS
        and "external_model" in path
    ):
        return True
    rule = rule_for(path)
    return bool(rule and rule.sensitive and len(rule.pattern) == len(path))


SECRET_REFERENCE = re.compile(r"\{\{secrets/[^/{}\s]+/[^/{}\s]+\}\}")
"""`{{secrets/<scope>/<key>}}`: a pointer to a workspace secret, not a secret itself."""


def is_masked(path: Path, value: Any) -> bool:
    """True when `value` at `path` must never be shown or stored: a sensitive field whose value
    is not a bare secret reference. References are shown, so a reviewer sees which one moves."""
    if isinstance(value, str) and SECRET_REFERENCE.fullmatch(value.strip()):
        return False
    return is_sensitive(path)


def _matches(rule: Rule, path: Path) -> bool:
    n = len(rule.pattern)
    return n <= len(path) and all(p in (WILDCARD, path[i]) for i, p in enumerate(rule.pattern))


# --------------------------------------------------------------------------------------------
# Public entry points


def normalize_desired(doc: DesiredDocument, *, caller: str | None = None) -> Endpoint:
    """A validated desired document -> canonical Endpoint (input-only values kept aside)."""
    body = _canonical_body(doc.body, permissions=doc.body.get("permissions"), caller=caller)
    return Endpoint(
        name=doc.name,
        body=body,
        source=doc.source,
        write_only=_write_only(doc.body),
        positions={p: ref for p, ref in doc.positions.items() if len(p) == 1},
        rollout=doc.rollout,
    )


def normalize_live(
    raw: Mapping[str, Any],
    *,
    permissions: Mapping[str, Any] | None = None,
    caller: str | None = None,
) -> Endpoint:
    """A live GET response (plus its permissions, when managed) -> canonical Endpoint.

    While an update is rolling out, the pending config is what the endpoint is becoming, so it
    is compared instead of the active one: an in-flight update is not drift.
    """
    status = _status(raw)
    source: dict[str, Any] = dict(raw)
    pending = raw.get("pending_config")
    if status.updating and isinstance(pending, Mapping):
        source["config"] = pending
    if not source.get("budget_policy_id") and raw.get("effective_budget_policy_id"):
        source["budget_policy_id"] = raw["effective_budget_policy_id"]
    acl = None
    if permissions is not None:
        acl = [e for e in _direct_grants(permissions.get("access_control_list") or [])]
    body = _canonical_body(source, permissions=acl, caller=caller)
    name = str(raw.get("name", ""))
    fingerprint = Fingerprint(
        endpoint_id=status.endpoint_id,
        config_version=status.config_version,
        last_updated_timestamp=status.last_updated_timestamp,
        sha256=body_hash(body, owner=status.owner),
    )
    return Endpoint(name=name, body=body, status=status, fingerprint=fingerprint)


def resolve_server_chosen(desired: Endpoint, live: Endpoint | None) -> Endpoint:
    """Fill fields the user left to the server with the live values (Terraform's "computed").

    A field the user did not set and the server defaulted is not a difference.
    """
    if live is None:
        return desired
    body = _copy(desired.body)
    for rule in RULES:
        if rule.consumed and _get(live.body, rule.pattern[:-1]) is not None:
            parent = _get(body, rule.pattern[:-1])
            if isinstance(parent, dict):
                parent.pop(rule.pattern[-1], None)
    for rule in RULES:
        if rule.keep_live:
            _adopt(body, live.body, rule.pattern, ())
    return replace(desired, body=body)


def body_hash(body: Body, *, owner: str | None) -> str:
    payload = json.dumps({"body": body, "owner": owner}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def principal_key(entry: Mapping[str, Any]) -> str | None:
    """`{"group_name": "x"}` -> `"group:x"`; None when the entry names no principal."""
    for field, kind in _PRINCIPAL_KEYS:
        value = entry.get(field)
        if value:
            return f"{kind}:{value}"
    return None


def principal_entry(key: str, level: str) -> dict[str, str]:
    """Inverse of principal_key, as an access-control request entry."""
    kind, _, name = key.partition(":")
    field = {k: f for f, k in _PRINCIPAL_KEYS}[kind]
    return {field: name, "permission_level": level}


def caller_key(me: Mapping[str, Any]) -> str | None:
    """The ACL principal of the identity running servingops, from SCIM /Me."""
    if me.get("applicationId"):
        return f"service_principal:{me['applicationId']}"
    if me.get("userName"):
        return f"user:{me['userName']}"
    return None


def default_entity_name(entity: Mapping[str, Any]) -> str | None:
    """The name the server gives a served entity written without one (None when unknowable).

    External model: its `name` with '.' and ':' replaced by '-'. Otherwise the last dotted part
    of `entity_name` (or legacy `model_name`), '-', and the version.
    """
    external = entity.get("external_model")
    if isinstance(external, Mapping):
        model = external.get("name")
        return model.replace(".", "-").replace(":", "-") if isinstance(model, str) else None
    model = entity.get("entity_name", entity.get("model_name"))
    version = entity.get("entity_version", entity.get("model_version"))
    if (
        not isinstance(model, str)
        or isinstance(version, bool)
        or not isinstance(version, str | int)
    ):
        return None
    return f"{model.rsplit('.', 1)[-1]}-{version}"


def to_document(endpoint: Endpoint) -> dict[str, Any]:
    """Canonical endpoint -> the REST API's create-body shape (the inverse of normalization).

    Input-only values kept aside are merged back. The applier slices requests out of this, and
    export writes it as YAML; `permissions` is the access-control request list when managed.
    """
    body = endpoint.body
    doc: dict[str, Any] = {"name": endpoint.name}
    for key in ("description", "route_optimized", "budget_policy_id"):
        if key in body:
            doc[key] = body[key]
    if "uc_system_metrics_export_state" in body:
        doc["uc_system_metrics_export_state"] = body["uc_system_metrics_export_state"]
    if "state" in body:  # servingops' own field (config:stop / config:start), not the API's
        doc["state"] = body["state"]
    config = body.get("config")
    if isinstance(config, Mapping):
        doc["config"] = config_request(config, write_only=endpoint.write_only)
    if body.get("tags"):
        doc["tags"] = [{"key": k, "value": v} for k, v in body["tags"].items()]
    if body.get("ai_gateway"):
        doc["ai_gateway"] = ai_gateway_request(body["ai_gateway"])
    if body.get("email_notifications"):
        doc["email_notifications"] = _copy(body["email_notifications"])
    if body.get("telemetry_config"):
        doc["telemetry_config"] = telemetry_request(body["telemetry_config"])
    if "permissions" in body:
        doc["permissions"] = [principal_entry(k, v) for k, v in body["permissions"].items()]
    return doc


def config_request(config: Mapping[str, Any], *, write_only: Body | None = None) -> dict[str, Any]:
    """Canonical config -> the body of PUT /config (and `config` of a create)."""
    extras = (write_only or {}).get("served_entities", {})
    entities = []
    for name, entity in config.get("served_entities", {}).items():
        entities.append({"name": name, **_copy(entity), **extras.get(name, {})})
    out: dict[str, Any] = {"served_entities": entities}
    traffic = config.get("traffic") or {}
    if traffic:
        out["traffic_config"] = {
            "routes": [
                {"served_entity_name": n, "traffic_percentage": p} for n, p in traffic.items()
            ]
        }
    if config.get("auto_capture_config"):
        out["auto_capture_config"] = _copy(config["auto_capture_config"])
    return out


def ai_gateway_request(gateway: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical ai_gateway -> the body of PUT /ai-gateway. PUT replaces the whole gateway, so
    every block to keep is sent (the fallback_config omission of TF #4798 is not possible)."""
    out = {k: _copy(v) for k, v in gateway.items() if k != "rate_limits"}
    if gateway.get("rate_limits"):
        out["rate_limits"] = [_copy(v) for v in gateway["rate_limits"].values()]
    return out


def telemetry_request(telemetry: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical telemetry_config -> the `telemetry_config` of PATCH /telemetry-config."""
    return {k: _copy(v) for k, v in telemetry.items()}


# --------------------------------------------------------------------------------------------
# Canonicalization (pure; shared by both sides)


def _canonical_body(
    raw: Mapping[str, Any], *, permissions: Iterable[Mapping[str, Any]] | None, caller: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if raw.get("description") is not None:
        body["description"] = str(raw["description"])
    if raw.get("route_optimized") is not None:
        body["route_optimized"] = bool(raw["route_optimized"])
    if raw.get("budget_policy_id"):
        body["budget_policy_id"] = str(raw["budget_policy_id"])
    config = _config(raw.get("config"))
    if config is not None:
        body["config"] = config
    body["tags"] = _tags(raw.get("tags"))
    gateway = _ai_gateway(raw.get("ai_gateway"))
    if gateway:
        body["ai_gateway"] = gateway
    notifications = _notifications(raw.get("email_notifications"))
    if notifications:
        body["email_notifications"] = notifications
    telemetry = _telemetry(raw.get("telemetry_config"))
    if telemetry:
        body["telemetry_config"] = telemetry
    if raw.get("uc_system_metrics_export_state"):
        body["uc_system_metrics_export_state"] = str(raw["uc_system_metrics_export_state"])
    run_state = raw.get("state")
    if isinstance(run_state, str) and run_state in RUN_STATES:  # a desired document's
        body["state"] = run_state
    elif isinstance(run_state, Mapping) and isinstance(config, dict):  # a GET's state block
        body["state"] = "stopped" if is_stopped(raw) else "running"
    if permissions is not None:
        body["permissions"] = _permissions(permissions, caller=caller)
    return body


def _config(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    entities_raw = raw.get("served_entities") or [
        _from_served_model(m) for m in raw.get("served_models") or []
    ]
    if not entities_raw:
        return None  # an endpoint created without a config
    entities: dict[str, Any] = {}
    for raw_entity in entities_raw:
        name = str(raw_entity.get("name") or default_entity_name(raw_entity) or "")
        entities[name] = _entity(raw_entity)
    config: dict[str, Any] = {
        "served_entities": dict(sorted(entities.items())),
        "traffic": _traffic(raw.get("traffic_config"), entities),
        "entity_kind": _entity_kind(entities),
    }
    capture = _clean(raw.get("auto_capture_config"), drop={"state"})
    if capture:
        config["auto_capture_config"] = capture
    return config


def _from_served_model(model: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in model.items() if k not in ("model_name", "model_version")}
    out["entity_name"] = model.get("model_name")
    out["entity_version"] = model.get("model_version")
    return out


def _entity(raw: Mapping[str, Any]) -> dict[str, Any]:
    drop = OUTPUT_ONLY_ENTITY | INPUT_ONLY_ENTITY | {"name"}
    entity = _clean(raw, drop=drop)
    if "entity_version" in entity:
        entity["entity_version"] = str(entity["entity_version"])
    if isinstance(entity.get("external_model"), Mapping):
        entity["external_model"] = _clean(entity["external_model"], drop_plaintext=True)
    if "scale_to_zero_enabled" in entity:
        entity["scale_to_zero_enabled"] = _bool(entity["scale_to_zero_enabled"])
    return entity


def _entity_kind(entities: Mapping[str, Mapping[str, Any]]) -> str:
    if any("external_model" in e for e in entities.values()):
        return "external"
    if any(str(e.get("entity_name", "")).startswith("system.ai.") for e in entities.values()):
        return "foundation"
    return "custom"


def _traffic(raw: Any, entities: Mapping[str, Any]) -> dict[str, int]:
    routes = raw.get("routes") if isinstance(raw, Mapping) else None
    if not routes:
        # The server routes everything to a lone entity when no traffic config is given.
        return {name: 100 for name in entities} if len(entities) == 1 else {}
    traffic: dict[str, int] = {}
    for route in routes:
        name = route.get("served_entity_name") or route.get("served_model_name")
        traffic[str(name)] = _int(route.get("traffic_percentage", 0))
    return dict(sorted(traffic.items()))


def _tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    else:
        pairs = [(str(t["key"]), str(t.get("value") or "")) for t in raw or []]
    # The ownership and rollout-state tags are bookkeeping: hidden from diffs, never removed.
    return dict(sorted((k, v) for k, v in pairs if k not in RESERVED_TAGS))


def _ai_gateway(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    gateway: dict[str, Any] = {}
    usage = raw.get("usage_tracking_config")
    if isinstance(usage, Mapping) and _bool(usage.get("enabled")):
        gateway["usage_tracking_config"] = {"enabled": True}
    table = _clean(raw.get("inference_table_config"), drop={"name"})
    if table and (_bool(table.get("enabled")) or len(table) > 1):
        table["enabled"] = _bool(table.get("enabled"))
        gateway["inference_table_config"] = table
    guardrails = _guardrails(raw.get("guardrails"))
    if guardrails:
        gateway["guardrails"] = guardrails
    limits = {_limit_id(r): _clean(r) for r in raw.get("rate_limits") or []}
    if limits:
        for limit in limits.values():
            limit.setdefault("key", "endpoint")
        gateway["rate_limits"] = dict(sorted(limits.items()))
    fallback = raw.get("fallback_config")
    if isinstance(fallback, Mapping) and _bool(fallback.get("enabled")):
        gateway["fallback_config"] = {"enabled": True}
    return gateway


def _guardrails(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Any] = {}
    for side in ("input", "output"):
        params = _clean(raw.get(side))
        if params.get("safety") is False:
            del params["safety"]
        pii = params.get("pii")
        if isinstance(pii, Mapping) and pii.get("behavior") in (None, "NONE"):
            del params["pii"]
        for key in ("invalid_keywords", "valid_topics"):
            if key in params:
                params[key] = sorted(params[key])
        if params:
            out[side] = params
    return out


def _limit_id(limit: Mapping[str, Any]) -> str:
    key = str(limit.get("key") or "endpoint")
    principal = limit.get("principal")
    metric = "tokens" if limit.get("tokens") is not None else "calls"
    period = str(limit.get("renewal_period") or "minute")
    who = f"{key}:{principal}" if principal else key
    return f"{who}/{metric}/{period}"


def _notifications(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping):
        return {}
    out = {}
    for key in ("on_update_success", "on_update_failure"):
        addresses = sorted({str(a) for a in raw.get(key) or []})
        if addresses:
            out[key] = addresses
    return out


def _telemetry(raw: Any) -> dict[str, Any]:
    telemetry = _clean(raw)
    features = telemetry.get("enabled_telemetry_features")
    if features:
        telemetry["enabled_telemetry_features"] = sorted({str(f) for f in features})
    table = _clean(telemetry.get("inference_table_config"), drop={"name"})
    telemetry.pop("inference_table_config", None)
    if "sampling_fraction" in table:  # 1 and 1.0 are the same fraction
        table["sampling_fraction"] = float(table["sampling_fraction"])
    if table:
        telemetry["inference_table_config"] = table
    return telemetry


def _direct_grants(acl: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Permissions GET entries -> request-shaped direct grants (inherited entries dropped)."""
    out = []
    for entry in acl:
        levels = [
            p.get("permission_level")
            for p in entry.get("all_permissions") or []
            if not p.get("inherited")
        ]
        if "permission_level" in entry and not entry.get("all_permissions"):
            levels = [entry["permission_level"]]
        if not levels:
            continue
        grant = {k: entry[k] for k, _ in _PRINCIPAL_KEYS if entry.get(k)}
        grant["permission_level"] = max(levels, key=_level_rank)
        out.append(grant)
    return out


_LEVELS = ("CAN_VIEW", "CAN_QUERY", "CAN_MANAGE")


def _level_rank(level: Any) -> int:
    return _LEVELS.index(level) if level in _LEVELS else -1


def _permissions(entries: Iterable[Mapping[str, Any]], *, caller: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        key = principal_key(entry)
        level = str(entry.get("permission_level", ""))
        if key is None:
            continue
        # The identity running servingops keeps CAN_MANAGE implicitly (apply never lowers it),
        # so its own entry is never a difference, whatever level a file gives it.
        if key == caller:
            continue
        if _level_rank(level) >= _level_rank(out.get(key)):
            out[key] = level
    return dict(sorted(out.items()))


def _write_only(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Input-only values from a desired document, kept to be sent with create/config calls."""
    config = raw.get("config")
    out: dict[str, Any] = {}
    if isinstance(config, Mapping):
        for entity in config.get("served_entities") or []:
            extras = {k: entity[k] for k in INPUT_ONLY_ENTITY if k in entity}
            if extras:
                out[str(entity.get("name") or default_entity_name(entity) or "")] = extras
    return {"served_entities": out} if out else {}


RUN_STATES = ("running", "stopped")


def is_stopped(raw: Mapping[str, Any]) -> bool:
    """Whether a GET response shows an endpoint stopped with config:stop.

    The API has no "stopped" value (docs: the UI shows "Not ready (Stopped)"): it is an active
    config that is not ready, with no update running or failed, and every served entity's
    deployment aborted.
    """
    state = _mapping(raw.get("state"))
    entities = _mapping(raw.get("config")).get("served_entities") or []
    return (
        state.get("ready") == "NOT_READY"
        and state.get("config_update") in (None, "NOT_UPDATING")
        and bool(entities)
        and all(
            _mapping(_mapping(e).get("state")).get("deployment") == "DEPLOYMENT_ABORTED"
            for e in entities
        )
    )


def _serving(config: Mapping[str, Any]) -> str:
    entities = [str(_mapping(e).get("name", "")) for e in config.get("served_entities") or []]
    if not entities:
        return ""
    routes = _mapping(config.get("traffic_config")).get("routes") or []
    split = {
        str(r.get("served_entity_name") or r.get("served_model_name")): r.get("traffic_percentage")
        for r in routes
        if isinstance(r, Mapping)
    }
    shown = ", ".join(f"{e} {split[e]}%" if e in split else e for e in entities)
    return f"config_version {config.get('config_version', '?')} ({shown})"


def _failure(raw: Mapping[str, Any]) -> str:
    details = []
    for block in ("pending_config", "config"):
        for entity in _mapping(raw.get(block)).get("served_entities") or []:
            state = _mapping(_mapping(entity).get("state"))
            if state.get("deployment") == "DEPLOYMENT_FAILED":
                message = state.get("deployment_state_message") or "deployment failed"
                details.append(f"{entity.get('name', '?')}: {message}")
    return "; ".join(dict.fromkeys(details))


def _status(raw: Mapping[str, Any]) -> LiveStatus:
    state = _mapping(raw.get("state"))
    try:
        update = ConfigUpdate(str(state.get("config_update")))
    except ValueError:
        update = ConfigUpdate.UNKNOWN
    config = _mapping(raw.get("config"))
    pending = _mapping(raw.get("pending_config"))
    owner = None
    rollout_tag = None
    for tag in raw.get("tags") or []:
        if isinstance(tag, Mapping) and tag.get("key") == OWNER_TAG:
            owner = str(tag.get("value") or "")
        elif isinstance(tag, Mapping) and tag.get("key") == ROLLOUT_TAG:
            rollout_tag = str(tag.get("value") or "")
    entities = config.get("served_entities") or []
    failed = update in (ConfigUpdate.UPDATE_FAILED, ConfigUpdate.UPDATE_CANCELED)
    return LiveStatus(
        endpoint_id=str(raw.get("id") or ""),
        owner=owner,
        config_update=update,
        ready=str(state.get("ready") or ""),
        config_version=_opt_int(config.get("config_version")),
        pending_config_version=_opt_int(pending.get("config_version")),
        last_updated_timestamp=_opt_int(raw.get("last_updated_timestamp")),
        creator=raw.get("creator"),
        foundation_model=any(
            isinstance(e, Mapping) and e.get("foundation_model") for e in entities
        ),
        stopped=is_stopped(raw),
        pending_since_ms=_opt_int(pending.get("start_time")) if pending else None,
        failure=_failure(raw) if failed else "",
        serving=_serving(config),
        rollout_tag=rollout_tag,
    )


# --------------------------------------------------------------------------------------------
# Small pure helpers


def _clean(raw: Any, *, drop: Iterable[str] = (), drop_plaintext: bool = False) -> dict[str, Any]:
    """Deep copy of a mapping without None/empty values; ints coerced; keys sorted."""
    if not isinstance(raw, Mapping):
        return {}
    dropped = set(drop)
    out: dict[str, Any] = {}
    for key in sorted(raw):
        if key in dropped or (drop_plaintext and str(key).endswith("_plaintext")):
            continue
        value = _clean_value(raw[key], key=str(key), drop_plaintext=drop_plaintext)
        if value is None or value == {} or value == [] or value == "":
            continue
        out[str(key)] = value
    return out


def _clean_value(value: Any, *, key: str, drop_plaintext: bool) -> Any:
    if isinstance(value, Mapping):
        if key == "environment_vars":
            return {str(k): str(v) for k, v in sorted(value.items())}
        return _clean(value, drop_plaintext=drop_plaintext)
    if isinstance(value, list):
        return [_clean_value(v, key=key, drop_plaintext=drop_plaintext) for v in value]
    if key in INT_FIELDS:
        return _int(value)
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _get(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def _adopt(desired: dict[str, Any], live: Any, pattern: tuple[str, ...], at: Path) -> None:
    """Copy live values into `desired` along `pattern` where the desired side has none."""
    if not isinstance(live, Mapping) or not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    keys = list(desired) if head == WILDCARD else [head]
    for key in keys:
        if key not in live:
            continue
        if not rest:
            if key not in desired and _may_adopt(desired, (*at, key)):
                desired[key] = _copy(live[key])
            continue
        child = desired.get(key)
        if isinstance(child, dict):
            _adopt(child, live[key], rest, (*at, key))


def _may_adopt(parent: Mapping[str, Any], path: Path) -> bool:
    # A workload size is only the server's choice when no concurrency bounds were given.
    if path[-1] == "workload_size":
        return not any(
            k in parent for k in ("min_provisioned_concurrency", "max_provisioned_concurrency")
        )
    if path[-1] in ("workload_type", "scale_to_zero_enabled"):
        return "external_model" not in parent
    return True
