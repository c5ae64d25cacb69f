"""Request bodies: canonical endpoints (normalize.py) back into what each API call sends.

The inverse of normalization, one function per call: the create body, PUT config, PUT
ai-gateway, PATCH tags, PUT permissions, PATCH notifications, PATCH telemetry-config. What every
request must carry comes from the field registry (fields.py: required fields, write-only
values, reserved tags). Pure: values in, request bodies out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import fields, normalize
from .model import OWNER_TAG, Body, Endpoint

TABLE_NAMES = ("catalog_name", "schema_name", "table_name_prefix")
"""An AI-gateway inference table's names (they move in place while it is disabled)."""


def to_document(endpoint: Endpoint) -> dict[str, Any]:
    """Canonical endpoint -> the REST API's create-body shape (plus servingops' own `state`).

    Input-only values kept aside are merged back. Export writes it as YAML; `permissions` is
    the access-control request list when managed.
    """
    body = endpoint.body
    doc: dict[str, Any] = {"name": endpoint.name}
    for field in fields.SCALARS:
        (key,) = field.path
        if key in body:
            doc[key] = body[key]
    config = body.get("config")
    if isinstance(config, Mapping) and config.get("served_entities"):
        doc["config"] = config_request(config, write_only=endpoint.write_only)
    if body.get("tags"):
        doc["tags"] = [{"key": k, "value": v} for k, v in body["tags"].items()]
    if body.get("ai_gateway"):
        doc["ai_gateway"] = ai_gateway_request(body["ai_gateway"])
    if body.get("email_notifications"):
        doc["email_notifications"] = normalize.copy(body["email_notifications"])
    if body.get("telemetry_config"):
        doc["telemetry_config"] = telemetry_request(body["telemetry_config"])
    if "permissions" in body:
        doc["permissions"] = [
            normalize.principal_entry(k, v) for k, v in body["permissions"].items()
        ]
    return doc


def create_body(after: Endpoint, *, owner: str) -> dict[str, Any]:
    """POST body for `after`: its create document with the ownership tag, without what the
    registry says the create does not carry (the ACL: PUT permissions once the id exists; the
    run state: config:stop once the first rollout ends)."""
    doc = {k: v for k, v in to_document(after).items() if k not in _NOT_IN_CREATE}
    tags = [t for t in doc.get("tags", []) if t["key"] != OWNER_TAG]
    doc["tags"] = [*tags, {"key": OWNER_TAG, "value": owner}]
    applied = normalize.applied_tag_value(after.write_only)
    if applied:  # the write-only values this create sends, for later plans to compare with
        doc["tags"].append({"key": fields.APPLIED_TAG, "value": applied})
    return doc


def config_request(config: Mapping[str, Any], *, write_only: Body | None = None) -> dict[str, Any]:
    """Canonical config -> the body of PUT /config (and `config` of a create). Fields the API
    requires (fields.REQUIRED_ENTITY) are always sent, with the server's default when unset."""
    extras = (write_only or {}).get("served_entities", {})
    entities = []
    for name, entity in config.get("served_entities", {}).items():
        sent = {"name": name, **normalize.copy(entity), **extras.get(name, {})}
        kind = normalize.entity_kind(sent)
        for field in fields.REQUIRED_ENTITY:
            if field.path[-1] not in sent and kind in field.kinds:
                sent[field.path[-1]] = field.default
        entities.append(sent)
    out: dict[str, Any] = {"served_entities": entities}
    traffic = config.get("traffic") or {}
    if traffic:
        out["traffic_config"] = {
            "routes": [
                {"served_entity_name": n, "traffic_percentage": p} for n, p in traffic.items()
            ]
        }
    if config.get("auto_capture_config"):
        out["auto_capture_config"] = normalize.copy(config["auto_capture_config"])
    return out


def ai_gateway_request(gateway: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical ai_gateway -> the body of PUT /ai-gateway. PUT replaces the whole gateway, so
    every block to keep is sent (the fallback_config omission of TF #4798 is not possible)."""
    out = {k: normalize.copy(v) for k, v in gateway.items() if k != "rate_limits"}
    if gateway.get("rate_limits"):
        out["rate_limits"] = [normalize.copy(v) for v in gateway["rate_limits"].values()]
    return out


def ai_gateway_requests(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The PUT ai-gateway bodies that turn the canonical gateway `before` into `after`.

    One body, except when an enabled inference table stays enabled under another catalog,
    schema or prefix: the API only changes those names while inference tables are disabled
    ("On update, you have to disable inference table first"), so the first body disables the
    live table and the second sets the new one.
    """
    final = ai_gateway_request(after)
    old = normalize.mapping(before.get("inference_table_config"))
    new = normalize.mapping(after.get("inference_table_config"))
    moved = any(old.get(k) != new.get(k) for k in TABLE_NAMES)
    if old.get("enabled") is True and new.get("enabled") is True and moved:
        disabled = {**normalize.copy(old), "enabled": False}
        return [{**final, "inference_table_config": disabled}, final]
    return [final]


def telemetry_request(telemetry: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical telemetry_config -> the `telemetry_config` of PATCH /telemetry-config."""
    return {k: normalize.copy(v) for k, v in telemetry.items()}


def tag_patch(
    before: Endpoint | None, after: Endpoint, *, owner: str
) -> tuple[list[dict[str, str]], list[str]]:
    """(add_tags, delete_tags) turning `before`'s tags into `after`'s; the ownership tag is
    always added and no reserved tag is ever deleted."""
    old: Mapping[str, str] = before.body.get("tags", {}) if before else {}
    new: Mapping[str, str] = after.body.get("tags", {})
    reserved = fields.RESERVED_TAGS
    add = [{"key": k, "value": v} for k, v in new.items() if old.get(k) != v and k not in reserved]
    add.append({"key": OWNER_TAG, "value": owner})
    if before is not None and normalize.unreadable_write_only(after, before):
        # Adopted with write-only values nobody can read: recorded as unknown until the next
        # config update sends them.
        add.append({"key": fields.APPLIED_TAG, "value": normalize.APPLIED_UNKNOWN})
    delete = [k for k in old if k not in new and k not in reserved]
    return add, delete


def acl_request(permissions: Mapping[str, str], *, caller: str | None) -> list[dict[str, str]]:
    """The full ACL to PUT: the desired grants plus the caller's own CAN_MANAGE (never lost)."""
    grants = dict(permissions)
    if caller:
        grants[caller] = "CAN_MANAGE"
    return [normalize.principal_entry(k, v) for k, v in sorted(grants.items())]


def notifications_request(after: Endpoint) -> dict[str, list[str]]:
    """Both lists are always sent, so a removed list is really cleared."""
    wanted = after.body.get("email_notifications", {})
    return {key: list(wanted.get(key, [])) for key in ("on_update_success", "on_update_failure")}


_NOT_IN_CREATE = frozenset(f.path[0] for f in fields.FIELDS if not f.in_create)
