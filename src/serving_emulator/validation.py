"""Request validation and write-side normalization (pure functions, no storage).

Each `parse_*` function checks one request body against the rules of the real API, coerces
numbers sent as strings, fills the server-side defaults and returns the form the store keeps.
Every rule violation raises `ApiError` 400 INVALID_PARAMETER_VALUE naming the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, TypeGuard

from .errors import invalid

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
MAX_SERVED_ENTITIES = 15
MAX_ENV_VARS = 30
PERMISSION_LEVELS = ("CAN_VIEW", "CAN_QUERY", "CAN_MANAGE")
WORKLOAD_TYPES = frozenset(
    {
        "CPU",
        "CPU_MEDIUM",
        "CPU_LARGE",
        "GPU_SMALL",
        "GPU_MEDIUM",
        "GPU_LARGE",
        "GPU_XLARGE",
        "GPU_XLARGE_8",
        "MULTIGPU_MEDIUM",
    }
)
PROVIDER_CONFIG_KEYS = {
    "ai21labs": "ai21labs_config",
    "amazon-bedrock": "amazon_bedrock_config",
    "anthropic": "anthropic_config",
    "cohere": "cohere_config",
    "custom": "custom_provider_config",
    "databricks-model-serving": "databricks_model_serving_config",
    "google-cloud-vertex-ai": "google_cloud_vertex_ai_config",
    "openai": "openai_config",
    "palm": "palm_config",
}
_INT_ENTITY_FIELDS = (
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "min_provisioned_throughput",
    "max_provisioned_throughput",
    "provisioned_model_units",
)
_ENTITY_FIELDS = frozenset(
    {
        "name",
        "entity_name",
        "entity_version",
        "external_model",
        "workload_size",
        "workload_type",
        "scale_to_zero_enabled",
        "burst_scaling_enabled",
        "environment_vars",
        "instance_profile_arn",
        *_INT_ENTITY_FIELDS,
    }
)
_FIRST_PARTY_EXPORT = frozenset({"FIRST_PARTY_EXPORT_ENABLED", "FIRST_PARTY_EXPORT_DISABLED"})


# -- scalar coercion ---------------------------------------------------------------------------


def as_int(value: Any, where: str) -> int:
    """An integer, also accepting its decimal string form ("90") as proto-JSON parsers do."""
    if isinstance(value, bool):
        raise invalid(f"{where} must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    raise invalid(f"{where} must be an integer")


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"{where} must be a boolean")


def as_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise invalid(f"{where} must be a string")


def is_one_of(value: Any, allowed: Collection[str]) -> TypeGuard[str]:
    """True when `value` is one of the `allowed` enum strings.

    The type check comes first: a list or object sent where an enum string belongs must be a
    400, not a TypeError from hashing it into a set (issue 9, item 11).
    """
    return isinstance(value, str) and value in allowed


def as_obj(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise invalid(f"{where} must be an object")


def as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise invalid(f"{where} must be a list")


def check_endpoint_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise invalid("Endpoint name is required.")
    if not NAME_RE.fullmatch(name):
        raise invalid(
            f"Invalid endpoint name '{name[:80]}': use 1 to 63 characters, only letters, "
            "digits, '-' and '_'."
        )
    return name


# -- served entities and traffic ----------------------------------------------------------------


def default_entity_name(entity: Mapping[str, Any]) -> str:
    """The name the server gives an entity sent without one.

    External models: `external_model.name` with '.' and ':' turned into '-' (databricks-sdk-py
    ServedEntityInput.name). Otherwise `<model>-<version>`, where a Unity Catalog three-level
    name contributes only its last component (main.risk.fraud v7 -> fraud-7) because dots are
    not allowed in entity names. Nothing else is replaced or cut: a name that breaks the
    served-entity name rules is rejected like an explicit one.
    """
    external = entity.get("external_model")
    if isinstance(external, dict):
        return str(external.get("name", "")).replace(".", "-").replace(":", "-")
    model = str(entity.get("entity_name", "")).rsplit(".", 1)[-1]
    return f"{model}-{entity.get('entity_version', '')}"


def _parse_external_model(raw: Any, where: str) -> dict[str, Any]:
    model = dict(as_obj(raw, where))
    provider = model.get("provider")
    if not is_one_of(provider, PROVIDER_CONFIG_KEYS):
        raise invalid(f"{where}.provider must be one of {', '.join(sorted(PROVIDER_CONFIG_KEYS))}.")
    for key in ("name", "task"):
        if not isinstance(model.get(key), str) or not model[key]:
            raise invalid(f"{where}.{key} is required.")
    own = PROVIDER_CONFIG_KEYS[provider]
    for other in PROVIDER_CONFIG_KEYS.values():
        if other != own and other in model:
            raise invalid(f"{where}.{other} does not match provider '{provider}'.")
    if own in model:
        model[own] = as_obj(model[own], f"{where}.{own}")
    # Plaintext secrets are kept as workspace secrets by the real service and never echoed;
    # the emulator simply does not store them.
    cleaned: dict[str, Any] = _drop_plaintext(model)
    return cleaned


def _drop_plaintext(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_plaintext(v) for k, v in value.items() if not k.endswith("_plaintext")}
    if isinstance(value, list):
        return [_drop_plaintext(v) for v in value]
    return value


def _parse_entity(raw: Any, where: str) -> dict[str, Any]:
    src = as_obj(raw, where)
    entity: dict[str, Any] = {}
    for key, value in src.items():
        if key not in _ENTITY_FIELDS or value is None:
            continue  # unknown and output-only fields are ignored, as proto-JSON parsers do
        entity[key] = value
    entity.pop("burst_scaling_enabled", None)  # accepted, never returned
    if "external_model" in entity:
        entity["external_model"] = _parse_external_model(
            entity["external_model"], f"{where}.external_model"
        )
        clash = sorted(
            k
            for k in (
                "entity_name",
                "entity_version",
                "workload_size",
                "workload_type",
                "scale_to_zero_enabled",
            )
            if k in entity
        )
        if clash:
            raise invalid(f"{where}: external_model cannot be combined with {', '.join(clash)}.")
    else:
        if not isinstance(entity.get("entity_name"), str) or not entity["entity_name"]:
            raise invalid(f"{where}: entity_name or external_model is required.")
        if "scale_to_zero_enabled" not in entity:
            # The real message, as quoted in terraform-provider-databricks #4064.
            raise invalid(
                f"{where}: scaleToZeroEnabled is undefined. Please set it to either true or false."
            )
        if "entity_version" not in entity:
            raise invalid(f"{where}.entity_version is required for '{entity['entity_name']}'.")
        version = entity["entity_version"]
        if isinstance(version, bool) or not isinstance(version, str | int):
            raise invalid(f"{where}.entity_version must be a string.")
        entity["entity_version"] = str(version)
    for key in _INT_ENTITY_FIELDS:
        if key in entity:
            entity[key] = as_int(entity[key], f"{where}.{key}")
            if entity[key] < 0:
                raise invalid(f"{where}.{key} must be >= 0.")
    if "scale_to_zero_enabled" in entity:
        entity["scale_to_zero_enabled"] = as_bool(
            entity["scale_to_zero_enabled"], f"{where}.scale_to_zero_enabled"
        )
    if "workload_size" in entity:
        size = as_str(entity["workload_size"], f"{where}.workload_size")
        if not size:
            raise invalid(f"{where}.workload_size must not be empty.")
        if "min_provisioned_concurrency" in entity or "max_provisioned_concurrency" in entity:
            raise invalid(
                f"{where}: workload_size cannot be combined with "
                "min_provisioned_concurrency/max_provisioned_concurrency."
            )
    low = entity.get("min_provisioned_concurrency")
    high = entity.get("max_provisioned_concurrency")
    if low is not None and high is not None and low > high:
        raise invalid(f"{where}: min_provisioned_concurrency is greater than the maximum.")
    if "workload_type" in entity and not is_one_of(entity["workload_type"], WORKLOAD_TYPES):
        raise invalid(f"{where}.workload_type must be one of {', '.join(sorted(WORKLOAD_TYPES))}.")
    if "environment_vars" in entity:
        env = as_obj(entity["environment_vars"], f"{where}.environment_vars")
        if len(env) > MAX_ENV_VARS:
            raise invalid(f"{where}: at most {MAX_ENV_VARS} environment variables are allowed.")
        if not all(isinstance(v, str) for v in env.values()):
            raise invalid(f"{where}.environment_vars values must be strings.")
    if "name" in entity:
        name = as_str(entity["name"], f"{where}.name")
        if not NAME_RE.fullmatch(name):
            raise invalid(
                f"{where}.name '{name[:80]}' is invalid: use 1 to 63 letters, digits, '-' or '_'."
            )
    else:
        name = default_entity_name(entity)
        if not NAME_RE.fullmatch(name):
            raise invalid(
                f"{where}: the served entity has no name and its default name '{name[:80]}' is "
                "invalid: use 1 to 63 letters, digits, '-' or '_'; set name."
            )
        entity["name"] = name
    if "external_model" not in entity:
        entity.setdefault("workload_type", "CPU")
        sized = (
            "workload_size",
            "min_provisioned_concurrency",
            "max_provisioned_concurrency",
            "min_provisioned_throughput",
            "max_provisioned_throughput",
            "provisioned_model_units",
        )
        if not any(k in entity for k in sized):
            entity["workload_size"] = "Small"
    return entity


def _legacy_model_to_entity(raw: Any, where: str) -> dict[str, Any]:
    src = dict(as_obj(raw, where))
    if "external_model" in src:
        raise invalid(f"{where}: served_models cannot hold external models; use served_entities.")
    for old, new in (("model_name", "entity_name"), ("model_version", "entity_version")):
        if old in src:
            src[new] = src.pop(old)
    return src


def _parse_routes(raw: Any, names: list[str]) -> list[dict[str, Any]]:
    traffic = as_obj(raw, "config.traffic_config")
    routes_raw = as_list(traffic.get("routes") or [], "config.traffic_config.routes")
    routes: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, r in enumerate(routes_raw):
        where = f"config.traffic_config.routes[{i}]"
        route = as_obj(r, where)
        entity_name = route.get("served_entity_name")
        model_name = route.get("served_model_name")
        if entity_name and model_name and entity_name != model_name:
            raise invalid(f"{where}: served_entity_name and served_model_name differ.")
        target = entity_name or model_name
        if not isinstance(target, str) or not target:
            raise invalid(f"{where}: served_entity_name is required.")
        if target not in names:
            raise invalid(f"{where}: served entity '{target}' is not in the config.")
        if target in seen:
            raise invalid(f"{where}: served entity '{target}' has more than one route.")
        seen.add(target)
        if "traffic_percentage" not in route:
            raise invalid(f"{where}.traffic_percentage is required.")
        pct = as_int(route["traffic_percentage"], f"{where}.traffic_percentage")
        if not 0 <= pct <= 100:
            raise invalid(f"{where}.traffic_percentage must be between 0 and 100.")
        routes.append({"served_entity_name": target, "traffic_percentage": pct})
    total = sum(r["traffic_percentage"] for r in routes)
    if routes and total != 100:
        raise invalid(f"Traffic percentages must add up to 100, got {total}.")
    if not routes and names:
        raise invalid("config.traffic_config.routes must route traffic to the served entities.")
    return routes


def config_kind(config: Mapping[str, Any] | None) -> str | None:
    """'external' or 'custom' for a stored config, None when it has no served entities."""
    if not config or not config.get("served_entities"):
        return None
    first = config["served_entities"][0]
    return "external" if "external_model" in first else "custom"


def parse_core_config(raw: Any, endpoint_name: str) -> dict[str, Any] | None:
    """Validate an EndpointCoreConfigInput; return the stored form, or None if it is empty.

    `name` (sent by the Python SDK inside create bodies) and unknown keys are ignored.
    """
    src = as_obj(raw, "config")
    if src.get("served_entities") is not None and src.get("served_models") is not None:
        raise invalid("Cannot use both served_models and served_entities in one config.")
    if src.get("served_models") is not None:
        items = as_list(src["served_models"], "config.served_models")
        raws = [
            _legacy_model_to_entity(m, f"config.served_models[{i}]") for i, m in enumerate(items)
        ]
        prefix = "config.served_models"
    else:
        raws = as_list(src.get("served_entities") or [], "config.served_entities")
        prefix = "config.served_entities"
    if not raws:
        if src.get("traffic_config"):
            raise invalid("config.traffic_config needs at least one served entity.")
        return None
    if len(raws) > MAX_SERVED_ENTITIES:
        raise invalid(
            f"An endpoint can serve at most {MAX_SERVED_ENTITIES} entities, got {len(raws)}."
        )
    entities = [_parse_entity(e, f"{prefix}[{i}]") for i, e in enumerate(raws)]
    names = [e["name"] for e in entities]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise invalid(f"Served entity names must be unique; repeated: {', '.join(dupes)}.")
    externals = [e for e in entities if "external_model" in e]
    if externals and len(externals) != len(entities):
        raise invalid("External models and custom models cannot be served by the same endpoint.")
    tasks = sorted({e["external_model"]["task"] for e in externals})
    if len(tasks) > 1:
        raise invalid(
            f"The task type of all external models must be the same, got {', '.join(tasks)}."
        )
    config: dict[str, Any] = {"served_entities": entities}
    if src.get("traffic_config") is not None:
        config["traffic_config"] = {"routes": _parse_routes(src["traffic_config"], names)}
    elif len(entities) == 1:
        config["traffic_config"] = {
            "routes": [{"served_entity_name": names[0], "traffic_percentage": 100}]
        }
    else:
        raise invalid("config.traffic_config is required when serving more than one entity.")
    if src.get("auto_capture_config") is not None:
        capture = dict(as_obj(src["auto_capture_config"], "config.auto_capture_config"))
        capture["enabled"] = as_bool(
            capture.get("enabled", True), "config.auto_capture_config.enabled"
        )
        capture.setdefault("table_name_prefix", endpoint_name)
        config["auto_capture_config"] = capture
    return config


# -- endpoint-level blocks ----------------------------------------------------------------------


def parse_tags(raw: Any, where: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, t in enumerate(as_list(raw, where)):
        tag = as_obj(t, f"{where}[{i}]")
        key = tag.get("key")
        if not isinstance(key, str) or not key:
            raise invalid(f"{where}[{i}].key is required.")
        if key in seen:
            raise invalid(f"{where}: tag key '{key}' is repeated.")
        seen.add(key)
        out = {"key": key}
        if tag.get("value") is not None:
            out["value"] = as_str(tag["value"], f"{where}[{i}].value")
        tags.append(out)
    return tags


def parse_tag_patch(body: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    add = parse_tags(body.get("add_tags") or [], "add_tags")
    delete = as_list(body.get("delete_tags") or [], "delete_tags")
    if not all(isinstance(k, str) and k for k in delete):
        raise invalid("delete_tags must be a list of tag keys.")
    return add, delete


def _parse_rate_limit(raw: Any, where: str, *, gateway: bool) -> dict[str, Any]:
    limit = dict(as_obj(raw, where))
    if limit.get("renewal_period") != "minute":
        raise invalid(f"{where}.renewal_period must be 'minute'.")
    keys = (
        ("endpoint", "user", "user_group", "service_principal") if gateway else ("endpoint", "user")
    )
    if "key" in limit and not is_one_of(limit["key"], keys):
        raise invalid(f"{where}.key must be one of {', '.join(keys)}.")
    for field in ("calls", "tokens"):
        if limit.get(field) is not None:
            limit[field] = as_int(limit[field], f"{where}.{field}")
            if limit[field] < 0:
                raise invalid(f"{where}.{field} must be >= 0.")
    if gateway:
        if limit.get("calls") is not None and limit.get("tokens") is not None:
            raise invalid(f"{where}: set either calls or tokens, not both.")
    elif limit.get("calls") is None:
        raise invalid(f"{where}.calls is required.")
    return {k: v for k, v in limit.items() if v is not None}


def parse_rate_limits(raw: Any, where: str = "rate_limits") -> list[dict[str, Any]]:
    return [
        _parse_rate_limit(r, f"{where}[{i}]", gateway=False)
        for i, r in enumerate(as_list(raw, where))
    ]


AI_GATEWAY_BLOCKS = (
    "usage_tracking_config",
    "inference_table_config",
    "guardrails",
    "rate_limits",
    "fallback_config",
)


def parse_ai_gateway(
    raw: Any, where: str = "ai_gateway", *, endpoint_name: str
) -> dict[str, Any] | None:
    """The stored AI gateway config, or None when every block is absent (which unsets it).

    An enabled inference table without a `table_name_prefix` gets the endpoint name, as the
    server fills it.
    """
    src = as_obj(raw, where)
    out: dict[str, Any] = {}
    for block in AI_GATEWAY_BLOCKS:
        value = src.get(block)
        if value is None:
            continue
        if block == "rate_limits":
            out[block] = [
                _parse_rate_limit(r, f"{where}.rate_limits[{i}]", gateway=True)
                for i, r in enumerate(as_list(value, f"{where}.rate_limits"))
            ]
            continue
        obj = dict(as_obj(value, f"{where}.{block}"))
        if block == "fallback_config":
            if "enabled" not in obj:
                raise invalid(f"{where}.fallback_config.enabled is required.")
            obj["enabled"] = as_bool(obj["enabled"], f"{where}.fallback_config.enabled")
        if block in ("usage_tracking_config", "inference_table_config") and "enabled" in obj:
            obj["enabled"] = as_bool(obj["enabled"], f"{where}.{block}.enabled")
        if block == "inference_table_config" and obj.get("enabled"):
            # catalog_name and schema_name are "Required when enabling inference tables".
            for name in ("catalog_name", "schema_name"):
                if not obj.get(name):
                    raise invalid(
                        f"{where}.inference_table_config.{name} is required when enabling "
                        "inference tables."
                    )
            obj.setdefault("table_name_prefix", endpoint_name)
        if block == "guardrails":
            for side in ("input", "output"):
                pii = obj.get(side, {}).get("pii") if isinstance(obj.get(side), dict) else None
                behavior = pii.get("behavior") if isinstance(pii, dict) else None
                if behavior is not None and not is_one_of(behavior, ("BLOCK", "MASK", "NONE")):
                    raise invalid(f"{where}.guardrails.{side}.pii.behavior is invalid.")
        out[block] = obj
    return out or None


def check_inference_table_move(stored: Any, gateway: Any) -> None:
    """An enabled inference table keeps its catalog, schema and prefix: "On update, you have to
    disable inference table first in order to change" them."""
    old = (stored or {}).get("inference_table_config") or {}
    new = (gateway or {}).get("inference_table_config") or {}
    if not (old.get("enabled") and new.get("enabled")):
        return
    for name in ("catalog_name", "schema_name", "table_name_prefix"):
        if old.get(name) != new.get(name):
            raise invalid(
                f"Cannot change the inference table {name} while inference tables are enabled; "
                "disable inference tables first, then update them."
            )


def parse_email_notifications(raw: Any) -> dict[str, list[str]] | None:
    if raw is None:
        return None
    src = as_obj(raw, "email_notifications")
    out: dict[str, list[str]] = {}
    for key in ("on_update_success", "on_update_failure"):
        if src.get(key) is not None:
            values = as_list(src[key], f"email_notifications.{key}")
            if not all(isinstance(v, str) and v for v in values):
                raise invalid(f"email_notifications.{key} must be a list of e-mail addresses.")
            out[key] = values
    return out or None


def parse_export_state(raw: Any) -> str:
    if not is_one_of(raw, _FIRST_PARTY_EXPORT):
        raise invalid(
            "uc_system_metrics_export_state must be one of "
            f"{', '.join(sorted(_FIRST_PARTY_EXPORT))}."
        )
    return str(raw)


def parse_acl(raw: Any) -> list[tuple[str, str, str]]:
    """AccessControlRequest list -> [(kind, principal, level)]; kinds: user/group/sp."""
    grants: list[tuple[str, str, str]] = []
    for i, item in enumerate(as_list(raw or [], "access_control_list")):
        where = f"access_control_list[{i}]"
        entry = as_obj(item, where)
        named = [
            (kind, entry[key])
            for kind, key in (
                ("user", "user_name"),
                ("group", "group_name"),
                ("service_principal", "service_principal_name"),
            )
            if entry.get(key)
        ]
        if len(named) != 1 or not isinstance(named[0][1], str):
            raise invalid(
                f"{where}: give exactly one of user_name, group_name, service_principal_name."
            )
        level = entry.get("permission_level")
        if not is_one_of(level, PERMISSION_LEVELS):
            raise invalid(
                f"{where}.permission_level must be one of {', '.join(PERMISSION_LEVELS)}."
            )
        grants.append((named[0][0], named[0][1], str(level)))
    return grants
