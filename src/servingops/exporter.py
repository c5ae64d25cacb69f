"""Canonical live endpoint -> the project's YAML file format (the inverse of loading + normalize).

Pure: no I/O. The output is minimal (server defaults left out, since normalization adopts them
back from live) and loads through desired.load_desired to exactly the live canonical body, so
export followed by plan is empty. Names and secrets read from a server are checked, not trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from . import bodies, fields, normalize, preflight, rules
from .model import Endpoint, Path, render_pointer

DEFAULT_SCHEMA_REF = "../schemas/endpoint.schema.json"
"""The modeline's schema path, relative to a file in the project's endpoints/ folder."""

KEY_ORDER = (
    "name",
    "description",
    "route_optimized",
    "state",
    "config",
    "ai_gateway",
    "tags",
    "email_notifications",
    "telemetry_config",
    "uc_system_metrics_export_state",
    "permissions",
)

# Within a served entity: identity first, then sizing, then the rest alphabetically.
_ENTITY_ORDER = (
    "name",
    "entity_name",
    "entity_version",
    "external_model",
    "workload_size",
    "workload_type",
    "scale_to_zero_enabled",
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "min_provisioned_throughput",
    "max_provisioned_throughput",
    "provisioned_model_units",
    "environment_vars",
)
_EXTERNAL_ORDER = ("provider", "name", "task")
_GATEWAY_ORDER = (
    "usage_tracking_config",
    "inference_table_config",
    "guardrails",
    "rate_limits",
    "fallback_config",
)
_LIMIT_ORDER = ("key", "principal", "renewal_period", "calls", "tokens")
_PRINCIPAL_ORDER = (*normalize.PRINCIPALS, "permission_level")
_NOTIFICATION_ORDER = ("on_update_failure", "on_update_success")


def valid_name(name: object) -> bool:
    """True for a valid endpoint name (1-63 letters, digits, '-' or '_'), the only names that
    may become a file name: a server's answer is never trusted as a path."""
    return isinstance(name, str) and rules.NAME_RE.fullmatch(name) is not None


def file_name(name: str) -> str:
    """`<name>.yaml`; ValueError for anything that is not a valid endpoint name."""
    if not valid_name(name):
        raise ValueError(f"not a valid endpoint name: {name!r}")
    return f"{name}.yaml"


def literal_secrets(endpoint: Endpoint) -> tuple[str, ...]:
    """Pointers to provider secret fields that hold anything but a `{{secrets/scope/key}}`
    reference. Such an endpoint must not be written: the file would put a secret in git.

    (The API returns references only and drops `*_plaintext`, as normalization does; this
    guards against a server that does not.) Environment variables are not judged: a plain
    value there is an ordinary setting as often as not.
    """
    found: list[str] = []

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))
        elif (
            "environment_vars" not in path
            and fields.is_sensitive(path)
            and not (isinstance(value, str) and fields.SECRET_REFERENCE.fullmatch(value))
        ):
            found.append(render_pointer(path))

    walk(export_document(endpoint), ())
    return tuple(found)


def export_document(endpoint: Endpoint) -> dict[str, Any]:
    """The minimal file document for a canonical live endpoint, keys in KEY_ORDER.

    Left out because the server would choose the same (normalization keeps the live value when
    a file omits it): an empty description, `route_optimized: false`, `workload_type: CPU`,
    `scale_to_zero_enabled: false`, the single entity's 100% route (and then its default name),
    empty tags, gateway and notifications. `budget_policy_id` is left out too: it can only be
    set at creation, differs between workspaces, and live's value is kept when files omit it.
    `permissions` (direct grants only; the caller's implicit CAN_MANAGE is already gone) is
    written whenever it was read, even when empty, so the file is authoritative for the ACL.
    """
    api = bodies.to_document(endpoint)
    doc: dict[str, Any] = {"name": endpoint.name}
    for key in ("description", "route_optimized", "state"):  # `state` only when stopped
        if key in api and not fields.is_server_default((key,), api[key]):
            doc[key] = api[key]
    if isinstance(api.get("config"), Mapping):
        doc["config"] = _config(api["config"])
    if api.get("ai_gateway"):
        doc["ai_gateway"] = _ordered(
            {k: _gateway_block(k, v) for k, v in api["ai_gateway"].items()}, _GATEWAY_ORDER
        )
    tags = endpoint.body.get("tags") or {}
    if tags:
        doc["tags"] = {str(k): str(v) for k, v in tags.items()}
    if api.get("email_notifications"):
        doc["email_notifications"] = _ordered(
            {k: list(v) for k, v in api["email_notifications"].items()}, _NOTIFICATION_ORDER
        )
    if api.get("telemetry_config"):
        doc["telemetry_config"] = dict(api["telemetry_config"])
    if api.get("uc_system_metrics_export_state"):
        doc["uc_system_metrics_export_state"] = api["uc_system_metrics_export_state"]
    if "permissions" in api:
        doc["permissions"] = [_ordered(dict(p), _PRINCIPAL_ORDER) for p in api["permissions"]]
    return _ordered(doc, KEY_ORDER)


AliasIndex = Mapping[str, Mapping[str, Sequence[str]]]
"""Model full name (lower case) -> version -> the aliases pointing at it."""


def to_yaml(
    endpoint: Endpoint,
    *,
    schema_ref: str = DEFAULT_SCHEMA_REF,
    aliases: AliasIndex | None = None,
) -> str:
    """The endpoint as one YAML file's text, opening with the yaml-language-server modeline.

    The version served is written as it is; where `aliases` says an alias points at it, a
    comment says so (and how to follow the alias instead).
    """
    document = export_document(endpoint)
    body = yaml.dump(
        _flowing(document),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    if aliases:
        body = _alias_comments(body, document, aliases)
    return f"# yaml-language-server: $schema={schema_ref}\n{body}"


# A served entity's own keys sit at this indentation (config: / served_entities: / - ...).
_ENTITY_VERSION_LINE = re.compile(r"^(?:      |    - )entity_version: ")


def _alias_comments(body: str, document: Mapping[str, Any], aliases: AliasIndex) -> str:
    config = document.get("config")
    entities = config.get("served_entities", []) if isinstance(config, Mapping) else []
    comments = []
    for entity in entities:
        if "entity_version" not in entity:
            continue
        model = str(entity.get("entity_name", "")).lower()
        names = aliases.get(model, {}).get(str(entity["entity_version"]), ())
        # Alias names come from a server and land in the file: only well-formed ones.
        comments.append(_alias_comment([n for n in names if preflight.ALIAS_NAME.fullmatch(n)]))
    lines = body.split("\n")
    pending = iter(comments)
    for i, line in enumerate(lines):
        if _ENTITY_VERSION_LINE.match(line):
            comment = next(pending, "")
            if comment:
                lines[i] = f"{line}  {comment}"
    return "\n".join(lines)


def _alias_comment(names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = " and ".join(f"@{n}" for n in sorted(names))
    verb = "points" if len(names) == 1 else "point"
    return (
        f"# {shown} {verb} at this version; write "
        f'entity_version: "@{sorted(names)[0]}" to follow it'
    )


# --------------------------------------------------------------------------------------------


def _config(config: Mapping[str, Any]) -> dict[str, Any]:
    entities = [_entity(e) for e in config.get("served_entities") or []]
    out: dict[str, Any] = {"served_entities": entities}
    routes = (config.get("traffic_config") or {}).get("routes") or []
    default_route = len(entities) == 1 and [r.get("traffic_percentage") for r in routes] == [100]
    if routes and not default_route:
        out["traffic_config"] = {
            "routes": [
                {
                    "served_entity_name": r["served_entity_name"],
                    "traffic_percentage": r["traffic_percentage"],
                }
                for r in routes
            ]
        }
    if len(entities) == 1 and (default_route or not routes):
        only = entities[0]
        # The server names a lone unnamed entity after its model and version; say no more.
        if only.get("name") == normalize.default_entity_name(only):
            del only["name"]
    if config.get("auto_capture_config"):
        out["auto_capture_config"] = dict(config["auto_capture_config"])
    return out


def _entity(raw: Mapping[str, Any]) -> dict[str, Any]:
    prefix = ("config", "served_entities", str(raw.get("name", "")))
    entity = {k: v for k, v in raw.items() if not fields.is_server_default((*prefix, k), v)}
    if isinstance(entity.get("external_model"), Mapping):
        entity["external_model"] = _ordered(dict(entity["external_model"]), _EXTERNAL_ORDER)
    return _ordered(entity, _ENTITY_ORDER)


def _gateway_block(key: str, value: Any) -> Any:
    if key == "rate_limits":
        return [_ordered(dict(limit), _LIMIT_ORDER) for limit in value]
    return value


def _ordered(mapping: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """`mapping` with the keys in `order` first, in that order, then the rest sorted."""
    first = [k for k in order if k in mapping]
    rest = sorted(k for k in mapping if k not in order)
    return {k: mapping[k] for k in (*first, *rest)}


# --------------------------------------------------------------------------------------------
# YAML layout: block style overall; flat mappings inside lists and lists of scalars on one line
# (`- {group_name: x, permission_level: CAN_QUERY}`), as the project's examples are written.


_FLOW_ITEMS = frozenset({"routes", "rate_limits", "permissions"})
"""Lists whose items are small flat mappings, written one item per line."""


class _FlowMap(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _flowing(value: Any, *, key: str = "") -> Any:
    if isinstance(value, Mapping):
        items = {k: _flowing(v, key=k) for k, v in value.items()}
        return (
            _FlowMap(items)
            if key in _FLOW_ITEMS and all(map(_is_scalar, items.values()))
            else items
        )
    if isinstance(value, list):
        if value and all(_is_scalar(v) for v in value):
            return _FlowList(value)
        return [_flowing(v, key=key) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents block sequences under their key, as most YAML style guides do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, data: _FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_FlowMap, _represent_flow_map)
_Dumper.add_representer(_FlowList, _represent_flow_list)
