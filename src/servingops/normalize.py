"""One canonical form for desired documents and live GET responses, so that diffs are exact.

The mechanics of the field registry's facts (fields.py): keyed lists become mappings, values
the registry does not compare are left out (output-only fields, rejected plaintext, fields a
newer server returns), integers written as text are numbers, sets are sorted, server-filled
values are adopted from live (Terraform's "computed"), write-only values are kept aside in
Endpoint.write_only and compared through the applied digest tag, the reserved tags are hidden,
inherited ACL entries and the caller's own are dropped. The planner never special-cases a
field: everything it must not know is here or in the registry. Also: live status and health.

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
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from . import fields
from .fields import ANY, Compare, Kind, Source
from .model import (
    ABSENT,
    OWNER_TAG,
    ROLLOUT_TAG,
    Body,
    Carrier,
    ConfigUpdate,
    Deployment,
    DesiredDocument,
    Endpoint,
    Fingerprint,
    Ignored,
    LiveStatus,
    Path,
)

APPLIED_UNKNOWN = "unknown"
"""fields.APPLIED_TAG value of an adopted endpoint whose write-only values no one can read yet."""
_SEGMENT = 6  # hex digits for the entity's name, then as many for its values

PRINCIPALS = {"user_name": "user", "group_name": "group",
              "service_principal_name": "service_principal"}  # fmt: skip
"""An ACL entry's principal field -> the kind its key names (`group_name: x` is `group:x`)."""
RUN_STATES = ("running", "stopped")


# --------------------------------------------------------------------------------------------
# Public entry points


def normalize_desired(doc: DesiredDocument, *, caller: str | None = None) -> Endpoint:
    """A validated desired document -> canonical Endpoint (input-only values kept aside)."""
    body = _canonical_body(doc.body, permissions=doc.body.get("permissions"), caller=caller)
    for field in _CLEARABLE:
        (key,) = field.path
        if key in doc.body and key not in body:
            body[key] = {}  # written empty: "none", not "left alone"
    return Endpoint(
        name=doc.name,
        body=body,
        source=doc.source,
        write_only=_write_only(doc.body),
        positions={p: ref for p, ref in doc.positions.items() if len(p) == 1},
        ignore=tuple(ignore_pattern(p) for p in doc.body.get("ignore_changes") or ()),
        rollout=doc.rollout,
    )


def ignore_pattern(text: str) -> fields.Pattern:
    """An `ignore_changes` entry (a path as plans print it, `*` for any key) as a pattern."""
    return tuple(part for part in str(text).strip().split(".") if part)


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
    status = live_status(raw)
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
    for field in _IMPLIED:
        _imply(body, field, field.path, ())
    failed_first = _config(pending) if "config" not in body else None
    if failed_first is not None:
        # A first rollout that failed serves nothing, but it fixed the kind of endpoint: one
        # created without external models cannot add them later, and the other way round.
        body["config"] = {"entity_kind": failed_first["entity_kind"]}
    name = str(raw.get("name", ""))
    fingerprint = Fingerprint(
        endpoint_id=status.endpoint_id,
        config_version=status.config_version,
        last_updated_timestamp=status.last_updated_timestamp,
        sha256=body_hash(body, owner=status.owner),
    )
    applied = tag(raw, fields.APPLIED_TAG)
    write_only = {"applied": applied} if applied is not None else {}
    return Endpoint(
        name=name, body=body, status=status, fingerprint=fingerprint, write_only=write_only
    )


def resolve_server_chosen(desired: Endpoint, live: Endpoint | None) -> Endpoint:
    """Fill fields the user left to the server with the live values (Terraform's "computed").

    A field the user did not set and the server defaulted is not a difference. Also, from the
    table: consumed values are dropped once live holds their result; write-only values that
    differ from what servingops last applied are put in (so the diff shows them); a clearable
    block written empty stays empty (or goes, when nothing is live to remove).
    """
    if live is None:
        return desired
    body = copy(desired.body)
    for field in _CONSUMED:
        if _get(live.body, field.path[:-1]) is not None:
            parent = _get(body, field.path[:-1])
            if isinstance(parent, dict):
                parent.pop(field.path[-1], None)
    _resolve_write_only(body, desired.write_only, _applied_segments(live))
    cleared = [f.path for f in _CLEARABLE if _get(desired.body, f.path) == {}]
    for field in _KEEP_LIVE:
        _adopt(body, live.body, field, field.path, ())
    for pattern in cleared:
        # Written empty: nothing beneath is adopted; with nothing live, nothing to remove.
        parent = _get(body, pattern[:-1])
        if isinstance(parent, dict):
            parent[pattern[-1]] = {}
            if _get(live.body, pattern) is None:
                del parent[pattern[-1]]
    ignored: list[Ignored] = []
    for pattern in desired.ignore:
        _keep_live(body, live.body, pattern, (), ignored)
    return replace(desired, body=body, ignored=tuple(ignored))


def _keep_live(
    desired: dict[str, Any],
    live: Mapping[str, Any],
    pattern: fields.Pattern,
    at: Path,
    out: list[Ignored],
) -> None:
    """ignore_changes: wherever `pattern` matches, the live value stands for the file's (the
    live one absent: the field goes), and each difference that hides is recorded in `out`."""
    head, rest = pattern[0], pattern[1:]
    keys = sorted(set(desired) | set(live)) if head == ANY else [head]
    for key in keys:
        path = (*at, key)
        want, have = desired.get(key, ABSENT), live.get(key, ABSENT)
        if rest:
            if isinstance(want, dict) and isinstance(have, Mapping):
                _keep_live(want, have, rest, path, out)
            elif want != have:  # the block exists on one side only: keep live's, whole
                _set_or_drop(desired, key, have)
                out.append(Ignored(path=path, desired=want, live=have))
            continue
        if want != have:
            _set_or_drop(desired, key, have)
            out.append(Ignored(path=path, desired=want, live=have))


def _set_or_drop(parent: dict[str, Any], key: str, value: Any) -> None:
    if value is ABSENT:
        parent.pop(key, None)
    else:
        parent[key] = copy(value)


def applied_tag_value(write_only: Body) -> str:
    """The APPLIED_TAG value recording `write_only` (an endpoint's kept-aside values): for each
    served entity with any, a hash of its name then of its values ("" when none)."""
    entities: Mapping[str, Any] = write_only.get("served_entities") or {}
    return ".".join(_segment(name, values) for name, values in sorted(entities.items()) if values)


def unreadable_write_only(desired: Endpoint, live: Endpoint | None) -> list[Path]:
    """Write-only values the file sets whose live value nobody can tell (see _applied_segments).
    They go out with the next config update, which records them."""
    if live is None or _applied_segments(live) is not None:
        return []
    entities: Mapping[str, Any] = desired.write_only.get("served_entities") or {}
    return [
        ("config", "served_entities", name, field)
        for name, values in sorted(entities.items())
        for field in sorted(values)
    ]


def _segment(name: str, values: Mapping[str, Any]) -> str:
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return _short(name) + _short(encoded)


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_SEGMENT]


def _applied_segments(live: Endpoint) -> frozenset[str] | None:
    """What servingops last applied of the write-only values; None when it cannot be known: an
    endpoint servingops did not make (and does not own yet), or one it adopted with write-only
    values that no config update has sent since (APPLIED_UNKNOWN)."""
    applied = live.write_only.get("applied")
    if applied == APPLIED_UNKNOWN:
        return None
    if isinstance(applied, str):
        return frozenset(s for s in applied.split(".") if s)
    if live.status is not None and live.status.owner is not None:
        return frozenset()  # made by servingops, which sent none (it tags what it sends)
    return None


def _resolve_write_only(
    body: dict[str, Any], write_only: Body, applied: frozenset[str] | None
) -> None:
    """Put into the desired body the write-only values that differ from what was last applied
    (a removed one as the server default), so that the diff shows them and the config update
    carries them. Nothing when the live values cannot be known."""
    entities = _get(body, ("config", "served_entities"))
    if applied is None or not isinstance(entities, dict):
        return
    wanted: Mapping[str, Any] = write_only.get("served_entities") or {}
    for name, entity in entities.items():
        values = wanted.get(name) or {}
        if values:
            if _segment(name, values) not in applied:
                entity.update(copy(values))
        elif any(s.startswith(_short(name)) for s in applied):
            for field in fields.WRITE_ONLY_ENTITY:
                entity[field.path[-1]] = field.default


def body_hash(body: Body, *, owner: str | None) -> str:
    payload = json.dumps({"body": body, "owner": owner}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def principal_key(entry: Mapping[str, Any]) -> str | None:
    """`{"group_name": "x"}` -> `"group:x"`; None when the entry names no principal."""
    for field, kind in PRINCIPALS.items():
        value = entry.get(field)
        if value:
            return f"{kind}:{value}"
    return None


def principal_entry(key: str, level: str) -> dict[str, str]:
    """Inverse of principal_key, as an access-control request entry."""
    kind, _, name = key.partition(":")
    field = {k: f for f, k in PRINCIPALS.items()}[kind]
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


# --------------------------------------------------------------------------------------------
# Canonicalization (pure; shared by both sides)


def _canonical_body(
    raw: Mapping[str, Any], *, permissions: Iterable[Mapping[str, Any]] | None, caller: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field in _SCALARS:
        (key,) = field.path
        value = raw.get(key)
        # Empty is "not set", unless empty is the server's own value (a description).
        if value is not None and (value != "" or field.default == ""):
            body[key] = _value(value, field.path)
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
    run_state = raw.get("state")
    if isinstance(run_state, str) and run_state in RUN_STATES:  # a desired document's
        body["state"] = run_state
    elif isinstance(run_state, Mapping) and _applies(_STATE, body):  # a GET's state block
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
        entities[name] = _known(raw_entity, ("config", "served_entities", name))
    config: dict[str, Any] = {
        "served_entities": dict(sorted(entities.items())),
        "traffic": _traffic(raw.get("traffic_config"), entities),
        "entity_kind": _endpoint_kind(entities),
    }
    capture = _known(raw.get("auto_capture_config"), ("config", "auto_capture_config"))
    if capture:
        config["auto_capture_config"] = capture
    return config


def _from_served_model(model: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in model.items() if k not in ("model_name", "model_version")}
    out["entity_name"] = model.get("model_name")
    out["entity_version"] = model.get("model_version")
    return out


def entity_kind(entity: Mapping[str, Any]) -> Kind:
    """What one served entity serves: an external model, a foundation model, or a custom one."""
    if "external_model" in entity:
        return Kind.EXTERNAL
    if str(entity.get("entity_name", "")).startswith("system.ai."):
        return Kind.FOUNDATION
    return Kind.CUSTOM


def _endpoint_kind(entities: Mapping[str, Mapping[str, Any]]) -> str:
    kinds = {entity_kind(e) for e in entities.values()}
    for kind in (Kind.EXTERNAL, Kind.FOUNDATION):
        if kind in kinds:
            return kind.value
    return Kind.CUSTOM.value


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
    # The ownership tag is bookkeeping: it is hidden from diffs and never removed.
    return dict(sorted((k, v) for k, v in pairs if k not in fields.RESERVED_TAGS))


def _ai_gateway(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    gateway: dict[str, Any] = {}
    usage = raw.get("usage_tracking_config")
    if isinstance(usage, Mapping) and _bool(usage.get("enabled")):
        gateway["usage_tracking_config"] = {"enabled": True}
    table = _known(raw.get("inference_table_config"), ("ai_gateway", "inference_table_config"))
    # A disabled table that names nothing is the same as no table; anything else is kept.
    if _bool(table.get("enabled")) or any(k != "enabled" for k in table):
        table["enabled"] = _bool(table.get("enabled"))
        gateway["inference_table_config"] = table
    guardrails = _guardrails(raw.get("guardrails"))
    if guardrails:
        gateway["guardrails"] = guardrails
    limits = {
        _limit_id(r): _known(r, ("ai_gateway", "rate_limits", _limit_id(r)))
        for r in raw.get("rate_limits") or []
    }
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
        at = ("ai_gateway", "guardrails", side)
        params = _known(raw.get(side), at)
        # Left out and the server's default are the same thing (fields.py `default`).
        if params.get("safety") == _default((*at, "safety")):
            del params["safety"]
        pii = params.get("pii")
        no_pii = (None, _default((*at, "pii", "behavior")))
        if isinstance(pii, Mapping) and pii.get("behavior") in no_pii:
            del params["pii"]
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
    telemetry = _known(raw, ("telemetry_config",))
    table = telemetry.get("inference_table_config")
    if isinstance(table, dict) and "sampling_fraction" in table:  # 1 and 1.0 are the same
        table["sampling_fraction"] = float(table["sampling_fraction"])
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
        grant = {k: entry[k] for k in PRINCIPALS if entry.get(k)}
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
            extras = {
                f.path[-1]: entity[f.path[-1]]
                for f in fields.WRITE_ONLY_ENTITY
                if f.path[-1] in entity
            }
            if extras:
                out[str(entity.get("name") or default_entity_name(entity) or "")] = extras
    return {"served_entities": out} if out else {}


def is_stopped(raw: Mapping[str, Any]) -> bool:
    """Whether a GET response shows an endpoint stopped with config:stop.

    The API has no "stopped" value (docs: the UI shows "Not ready (Stopped)"): it is an active
    config that is not ready, with no update running or failed, and every served entity's
    deployment aborted.
    """
    state = mapping(raw.get("state"))
    entities = mapping(raw.get("config")).get("served_entities") or []
    return (
        state.get("ready") == "NOT_READY"
        and state.get("config_update") in (None, "NOT_UPDATING")
        and bool(entities)
        and all(
            mapping(mapping(e).get("state")).get("deployment") == "DEPLOYMENT_ABORTED"
            for e in entities
        )
    )


def serving_summary(config: Mapping[str, Any]) -> str:
    """`config_version 3 (champion 90%, challenger 10%)` for a GET's config block; "" when it
    serves no entity."""
    entities = [str(mapping(e).get("name", "")) for e in config.get("served_entities") or []]
    if not entities:
        return ""
    routes = mapping(config.get("traffic_config")).get("routes") or []
    split = {
        str(r.get("served_entity_name") or r.get("served_model_name")): r.get("traffic_percentage")
        for r in routes
        if isinstance(r, Mapping)
    }
    shown = ", ".join(f"{e} {split[e]}%" if e in split else e for e in entities)
    return f"config_version {config.get('config_version', '?')} ({shown})"


def _deployments(raw: Mapping[str, Any]) -> tuple[Deployment, ...]:
    """Each served entity's deployment, the pending config's first."""
    out = []
    for block in ("pending_config", "config"):
        for entity in map(mapping, mapping(raw.get(block)).get("served_entities") or []):
            state = mapping(entity.get("state"))
            out.append(
                Deployment(
                    entity=str(entity.get("name") or ""),
                    pending=block == "pending_config",
                    state=str(state.get("deployment") or ""),
                    message=str(state.get("deployment_state_message") or ""),
                )
            )
    return tuple(out)


def _failure(deployments: Iterable[Deployment]) -> str:
    details = [
        f"{d.entity or '?'}: {d.message or 'deployment failed'}"
        for d in deployments
        if d.state == "DEPLOYMENT_FAILED"
    ]
    return "; ".join(dict.fromkeys(details))


def live_status(raw: Mapping[str, Any]) -> LiveStatus:
    """The server-owned facts of a GET response: health, versions, owner, deployments."""
    state = mapping(raw.get("state"))
    try:
        update = ConfigUpdate(str(state.get("config_update")))
    except ValueError:
        update = ConfigUpdate.UNKNOWN
    config = mapping(raw.get("config"))
    pending = mapping(raw.get("pending_config"))
    entities = config.get("served_entities") or []
    failed = update in (ConfigUpdate.UPDATE_FAILED, ConfigUpdate.UPDATE_CANCELED)
    deployments = _deployments(raw)
    return LiveStatus(
        endpoint_id=str(raw.get("id") or ""),
        owner=tag(raw, OWNER_TAG),
        config_update=update,
        reported_update=str(state.get("config_update") or ""),
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
        failure=_failure(deployments) if failed else "",
        serving=serving_summary(config),
        rollout_tag=tag(raw, ROLLOUT_TAG),
        deployments=deployments,
    )


# --------------------------------------------------------------------------------------------
# Small pure helpers


def _known(raw: Any, at: Path) -> dict[str, Any]:
    """A copy of the mapping `raw` found at canonical path `at`, as the registry compares it:
    only fields it compares (fields.compared), no empty values, integers written as text made
    numbers, sets sorted without duplicates, keys sorted."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key in sorted(raw, key=str):
        path = (*at, str(key))
        if not fields.compared(path):
            continue
        value = _value(raw[key], path)
        if value is None or value == {} or value == [] or value == "":
            continue
        out[str(key)] = value
    return out


def _value(value: Any, path: Path) -> Any:
    field = fields.exact(path)
    if field is not None and field.compare is Compare.SET and isinstance(value, list):
        return sorted({str(v) for v in value})
    if isinstance(value, Mapping):
        return _known(value, path)
    if isinstance(value, list):
        return [_value(v, path) for v in value]
    if field is None:
        return value
    if field.integer_text:
        return _int(value)
    if field.type == "boolean":
        return _bool(value)
    if field.type == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a version written as a number is the same string
    return value


def tag(raw: Mapping[str, Any], key: str) -> str | None:
    """The value of tag `key` in a GET or list answer; None when the endpoint carries none. The
    one reading of tags from raw answers: everything after normalize_live reads LiveStatus."""
    for entry in raw.get("tags") or []:
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return str(entry.get("value") or "")
    return None


def mapping(value: Any) -> Mapping[str, Any]:
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


def copy(value: Any) -> Any:
    """A deep copy of JSON-like data (mappings become dicts) at half copy.deepcopy's cost;
    dicts and strings are told apart before the costlier Mapping check."""
    if isinstance(value, dict) or (not isinstance(value, str) and isinstance(value, Mapping)):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """`value` with mappings as dicts (text keys) and tuples as lists, so json.dumps accepts
    any canonical body or smoke check."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _get(body: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def _adopt(
    desired: dict[str, Any], live: Any, field: fields.Field, pattern: fields.Pattern, at: Path
) -> None:
    """Copy live values of `field` into `desired` along `pattern` where desired has none."""
    if not isinstance(live, Mapping) or not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    for key in list(desired) if head == ANY else [head]:
        if key not in live:
            continue
        if not rest:
            if key not in desired and _applies(field, desired):
                desired[key] = copy(live[key])
            continue
        child = desired.get(key)
        if isinstance(child, dict):
            _adopt(child, live[key], field, rest, (*at, key))


def _imply(body: dict[str, Any], field: fields.Field, pattern: fields.Pattern, at: Path) -> None:
    """Fill `field`'s default along `pattern` where the live side left it out."""
    head, rest = pattern[0], pattern[1:]
    for key in list(body) if head == ANY else [head]:
        if not rest:
            if key not in body and _applies(field, body):
                body[key] = field.default
            continue
        child = body.get(key)
        if isinstance(child, dict):
            _imply(child, field, rest, (*at, key))


def _applies(field: fields.Field, parent: Mapping[str, Any]) -> bool:
    """Whether `field` applies under `parent`, its enclosing mapping (so a server value may
    stand in for one the file left out): none of its `unless` siblings is set, and its kinds
    include what the served entity (or, for an endpoint-level field, the endpoint) serves."""
    if any(parent.get(k) not in (None, False) for k in field.unless):
        return False
    if field.kinds == fields.ALL_KINDS:
        return True
    if field.path[:3] == fields.ENTITY:
        return entity_kind(parent) in field.kinds
    config = parent.get("config") if len(field.path) == 1 else None
    kind = config.get("entity_kind") if isinstance(config, Mapping) else None
    return kind in {k.value for k in field.kinds}


def _default(path: Path) -> Any:
    field = fields.exact(path)
    return field.default if field is not None else None


_KEEP_LIVE = tuple(f for f in fields.FIELDS if f.source.keeps_live)
_CONSUMED = fields.having(source=Source.CONSUMED)
_CLEARABLE = fields.having(clearable=True)
_IMPLIED = fields.having(implied=True)
_STATE = fields.FIELDS[[f.path for f in fields.FIELDS].index(("state",))]
# The run state is read from a GET's state block instead.
_SCALARS = tuple(f for f in fields.SCALARS if f.carrier is not Carrier.RUN_STATE)
