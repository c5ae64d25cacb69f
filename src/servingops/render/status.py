"""`servingops status` views: each endpoint's health, versions, pending update, served entities,
traffic split and invocation URL, as text and as versioned JSON.

Pure. `endpoint_status` reads the server-owned parts of a GET response (state, config and
pending_config with their served-entity states, endpoint_url) that the canonical form leaves
out; health comes from normalize's LiveStatus and is worded by health.describe, as in plans.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import normalize
from ..model import Health, LiveStatus
from ..waiting import format_duration
from . import health, plural

FORMAT_VERSION = "1"
NOT_CREATED = "not created"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityState:
    """One served entity of the active or the pending config."""

    name: str
    model: str
    deployment: str
    message: str
    pending: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStatus:
    """What status shows of one endpoint; `status` is None when it does not exist live."""

    name: str
    declared_in: str | None
    status: LiveStatus | None = None
    url: str = ""
    traffic: tuple[tuple[str, int], ...] = ()
    entities: tuple[EntityState, ...] = ()

    @property
    def health(self) -> str:
        return self.status.health.value if self.status else NOT_CREATED

    @property
    def ready(self) -> bool:
        return self.status is not None and self.status.health is Health.READY


def endpoint_status(
    raw: Mapping[str, Any], *, host: str, declared_in: str | None = None
) -> EndpointStatus:
    """The status view of one GET response; the URL is `endpoint_url` when the API gives one
    (route-optimized endpoints have their own host), else the workspace's invocation path."""
    name = str(raw.get("name", ""))
    url = raw.get("endpoint_url")
    if not isinstance(url, str) or not url:
        url = f"{host.rstrip('/')}/serving-endpoints/{name}/invocations"
    config = normalize.mapping(raw.get("config"))
    entities = [*_entities(config, pending=False), *_entities(raw.get("pending_config"), True)]
    return EndpointStatus(
        name=name,
        declared_in=declared_in,
        status=normalize.live_status(raw),
        url=url,
        traffic=_traffic(config),
        entities=tuple(entities),
    )


def not_created(name: str, *, declared_in: str | None) -> EndpointStatus:
    return EndpointStatus(name=name, declared_in=declared_in)


# --------------------------------------------------------------------------------------------
# Text


def render_text(views: Sequence[EndpointStatus], *, observed_at_ms: int | None) -> str:
    """One block per endpoint and a closing count line."""
    if not views:
        return "No endpoints: the project declares none and owns none in this workspace.\n"
    blocks = [_block(v, observed_at_ms) for v in views]
    blocks.append(summary(views))
    return "\n\n".join(blocks) + "\n"


def summary(views: Sequence[EndpointStatus]) -> str:
    """`3 endpoints: 2 ready, 1 stopped.`"""
    counts = Counter(view.health for view in views)
    order = [h.value for h in Health] + [NOT_CREATED]
    parts = [f"{counts[h]} {h}" for h in order if h in counts]
    return f"{plural(len(views), 'endpoint')}: {', '.join(parts)}."


def _block(view: EndpointStatus, observed_at_ms: int | None) -> str:
    where = f" ({view.declared_in})" if view.declared_in else ""
    lines = [f'endpoint "{view.name}"{where}']
    status = view.status
    if status is None:
        lines.append(f"  health:          {NOT_CREATED}; servingops apply creates it")
        return "\n".join(lines)
    rows = [
        ("health", health.describe(status, observed_at_ms=observed_at_ms)),
        ("config_version", _opt(status.config_version)),
        ("pending update", _pending(status, observed_at_ms)),
        ("traffic", ", ".join(f"{e} {p}%" for e, p in view.traffic) or "none"),
        ("invocation URL", view.url),
    ]
    lines.extend(f"  {label + ':':<16} {value}" for label, value in rows)
    for pending in (False, True):
        shown = [e for e in view.entities if e.pending is pending]
        if not shown:
            continue
        version = status.pending_config_version if pending else status.config_version
        which = "pending" if pending else "active"
        lines.append(f"  served entities ({which} config_version {_opt(version)}):")
        name_w = max(len(e.name) for e in shown)
        model_w = max(len(e.model) for e in shown)
        for e in shown:
            message = f": {e.message}" if e.message else ""
            lines.append(
                f"    {e.name:<{name_w}}  {e.model:<{model_w}}  {e.deployment}{message}".rstrip()
            )
    return "\n".join(lines)


def _pending(status: LiveStatus, observed_at_ms: int | None) -> str:
    if status.pending_config_version is None:
        return "none"
    seconds = health.pending_seconds(status, observed_at_ms=observed_at_ms)
    age = "" if seconds is None else f", started {format_duration(seconds)} ago"
    state = "rolling out" if status.updating else "failed" if status.failure else "not applied"
    return f"config_version {status.pending_config_version} {state}{age}"


# --------------------------------------------------------------------------------------------
# JSON


def render_json(
    views: Sequence[EndpointStatus], *, workspace: str, observed_at_ms: int | None
) -> str:
    """`{"format_version": "1", "workspace": ..., "endpoints": [...], "summary": {...}}`."""
    counts = Counter(view.health for view in views)
    payload = {
        "format_version": FORMAT_VERSION,
        "workspace": workspace,
        "endpoints": [_json(v, observed_at_ms) for v in views],
        "summary": {"endpoints": len(views), **counts},
        "all_ready": all(v.ready for v in views),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _json(view: EndpointStatus, observed_at_ms: int | None) -> dict[str, Any]:
    status = view.status
    out: dict[str, Any] = {
        "name": view.name,
        "declared_in": view.declared_in,
        "exists": status is not None,
        "health": view.health,
    }
    if status is None:
        return out
    pending = health.pending_seconds(status, observed_at_ms=observed_at_ms)
    out.update(
        {
            "description": health.describe(status, observed_at_ms=observed_at_ms),
            "ready": status.ready or None,
            "config_update": status.config_update.value,
            "config_version": status.config_version,
            "pending_config_version": status.pending_config_version,
            "pending_seconds": None if pending is None else int(pending),
            "failure": status.failure or None,
            "traffic": dict(view.traffic),
            "url": view.url,
            "served_entities": [
                {
                    "name": e.name,
                    "model": e.model,
                    "config": "pending" if e.pending else "active",
                    "deployment": e.deployment,
                    "message": e.message or None,
                }
                for e in view.entities
            ],
        }
    )
    return out


# --------------------------------------------------------------------------------------------


def _entities(config: Any, pending: bool) -> list[EntityState]:
    out = []
    for entity in normalize.mapping(config).get("served_entities") or []:
        if not isinstance(entity, Mapping):
            continue
        state = normalize.mapping(entity.get("state"))
        out.append(
            EntityState(
                name=str(entity.get("name", "")),
                model=_model(entity),
                deployment=str(state.get("deployment") or "UNKNOWN"),
                message=" ".join(str(state.get("deployment_state_message") or "").split()),
                pending=pending,
            )
        )
    return out


def _model(entity: Mapping[str, Any]) -> str:
    external = normalize.mapping(entity.get("external_model"))
    if external:
        return f"{external.get('provider', '?')} {external.get('name', '?')} (external)"
    name = entity.get("entity_name", entity.get("model_name", "?"))
    version = entity.get("entity_version", entity.get("model_version", "?"))
    return f"{name} version {version}"


def _traffic(config: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    routes = normalize.mapping(config.get("traffic_config")).get("routes") or []
    out = []
    for route in routes:
        if isinstance(route, Mapping):
            name = route.get("served_entity_name") or route.get("served_model_name")
            try:
                out.append((str(name), int(route.get("traffic_percentage", 0))))
            except (TypeError, ValueError):
                continue
    return tuple(out)


def _opt(value: int | None) -> str:
    return "none" if value is None else str(value)
