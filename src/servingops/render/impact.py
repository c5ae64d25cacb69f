"""Serving-impact notes shared by every renderer: traffic before and after, version bumps,
cold starts, capacity from workload sizes, and which API call carries each change.

Pure: reads Actions only, so text, JSON and markdown say the same thing about a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import bodies, fields, normalize
from ..model import ABSENT, Action, ActionKind, AliasPin, Carrier, Health, Path, Plan

ENTITIES: Path = ("config", "served_entities")
TRAFFIC: Path = ("config", "traffic")
SIZES = {"Small": (4, 4), "Medium": (8, 16), "Large": (16, 64)}
_VIA = {
    Carrier.CONFIG: "via PUT config",
    Carrier.TAGS: "via PATCH tags",
    Carrier.AI_GATEWAY: "via PUT ai-gateway",
    Carrier.NOTIFICATIONS: "via PATCH notifications",
    Carrier.PERMISSIONS: "via PUT permissions",
    Carrier.TELEMETRY: "via PATCH telemetry-config",
    Carrier.METRICS_EXPORT: "via PATCH system-metrics-export-state",
}


def impact_notes(action: Action, plan: Plan, *, arrow: str = "->") -> list[str]:
    """Serving impact of one action: traffic, version bumps, URL, cold starts, capacity."""
    if action.kind is ActionKind.DELETE:
        return ["the endpoint URL stops working"]
    notes: list[str] = []
    traffic = traffic_note(action, arrow=arrow)
    if traffic:
        notes.append(traffic)
    notes.extend(version_notes(action, arrow=arrow, pins=pins_of(plan, action.name)))
    if action.kind is ActionKind.REPLACE:
        notes.append("URL changes; traffic is interrupted until the new endpoint is ready")
    cold = _cold_starts(action)
    if cold:
        notes.append(f"scale-to-zero: cold starts ({', '.join(cold)})")
    notes.extend(capacity_notes(action, arrow=arrow))
    table = inference_table_note(action, arrow=arrow)
    if table:
        notes.append(table)
    legacy = legacy_rate_limits_note(action)
    if legacy:
        notes.append(legacy)
    notes.extend(write_only_notes(action))
    if action.name in plan.updating:
        notes.append("update in progress: apply waits for it to finish first")
    return notes


def traffic_note(action: Action, *, arrow: str = "->") -> str | None:
    """`traffic champion/challenger 100/0 -> 90/10`, or None when the split does not change."""
    before = lookup_map(live_body(action), TRAFFIC)
    after = lookup_map(action.after.body, TRAFFIC) if action.after else {}
    if before == after or not after:
        return None
    names = sorted(set(before) | set(after), key=lambda n: (-before.get(n, 0), -after.get(n, 0), n))
    share_after = "/".join(str(after.get(n, 0)) for n in names)
    if not before:
        return f"traffic {'/'.join(names)} {share_after}"
    share_before = "/".join(str(before.get(n, 0)) for n in names)
    return f"traffic {'/'.join(names)} {share_before} {arrow} {share_after}"


def pins_of(plan: Plan, name: str) -> dict[Path, AliasPin]:
    """The aliases resolved for endpoint `name`, by their path in the canonical body."""
    return {p.path: p for p in plan.pins if p.endpoint == name}


def shown_version(name: str, version: Any, pins: Mapping[Path, AliasPin]) -> Any:
    """`@champion (8)` where entity `name`'s version came from an alias, else the version."""
    pin = pins.get(("config", "served_entities", name, "entity_version"))
    return pin.display if pin is not None and pin.version == version else version


def version_notes(
    action: Action, *, arrow: str = "->", pins: Mapping[Path, AliasPin] | None = None
) -> list[str]:
    """Version bumps, in place (`champion: version 7 -> 8`, or `7 -> @champion (8)` when the
    file names an alias) or by a renamed entity; a replace says them too, against the endpoint
    it deletes."""
    pins = pins or {}
    before, after = _entity_pair(action)
    if action.kind is ActionKind.REPLACE and action.before is not None:
        before = served_entities(action.before.body)
    notes = []
    for name in sorted(set(before) & set(after)):
        old, new = before[name].get("entity_version"), after[name].get("entity_version")
        if old is not None and new is not None and old != new:
            notes.append(f"{name}: version {old} {arrow} {shown_version(name, new, pins)}")
    added = [n for n in sorted(after) if n not in before]
    for gone in sorted(n for n in before if n not in after):
        model = before[gone].get("entity_name")
        match = next((n for n in added if model and after[n].get("entity_name") == model), None)
        if match is None:
            continue
        added.remove(match)
        old, new = before[gone].get("entity_version"), after[match].get("entity_version")
        new = shown_version(match, new, pins)
        notes.append(f"{gone} {arrow} {match}: version {old} {arrow} {new} (version bump)")
    return notes


def capacity_notes(action: Action, *, arrow: str = "->") -> list[str]:
    """Provisioned-concurrency change per served entity, from workload sizes or explicit bounds."""
    before, after = _entity_pair(action)
    if action.kind is ActionKind.REPLACE and action.before:
        before = served_entities(action.before.body)
    notes = []
    for name in sorted(set(before) | set(after)):
        old = _capacity(before[name]) if name in before else None
        new = _capacity(after[name]) if name in after else None
        if old == new:
            continue
        if name not in before:
            notes.append(f"capacity {name}: new, {_fmt_cap(new)} concurrency{_size(after[name])}")
        elif name not in after:
            notes.append(f"capacity {name}: removed (was {_fmt_cap(old)} concurrency)")
        else:
            sizes = _size_change(before[name], after[name], arrow)
            notes.append(
                f"capacity {name}: {_fmt_cap(old)} {arrow} {_fmt_cap(new)} concurrency{sizes}"
            )
    return notes


def inference_table_note(action: Action, *, arrow: str = "->") -> str | None:
    """An enabled AI-gateway inference table that moves is disabled first, then enabled again
    under its new names (two PUT ai-gateway calls)."""
    if action.kind is not ActionKind.UPDATE or action.after is None:
        return None
    before = lookup_map(live_body(action), ("ai_gateway",))
    after = lookup_map(action.after.body, ("ai_gateway",))
    if len(bodies.ai_gateway_requests(before, after)) < 2:
        return None
    old, new = (
        ".".join(str(g["inference_table_config"].get(k, "?")) for k in bodies.TABLE_NAMES)
        for g in (before, after)
    )
    return (
        f"inference table {old} {arrow} {new}: disabled first, then enabled under the new "
        "names (two PUT ai-gateway calls; requests in between are not logged)"
    )


def write_only_notes(action: Action) -> list[str]:
    """Write-only values (GET never returns them) are compared with what servingops last
    applied; on an endpoint it did not make, that is unknown, and the plan says so."""
    if action.after is None or action.kind is not ActionKind.UPDATE:
        return []
    unreadable = normalize.unreadable_write_only(action.after, action.before)
    if unreadable:
        named = ", ".join(f"{p[-1]} of {group_name(p)}" for p in unreadable)
        when = "this" if Carrier.CONFIG in action.carriers else "the next"
        return [
            f"{named}: the live value cannot be read (GET never returns it, and servingops "
            f"has not sent it yet); sent with {when} config update"
        ]
    written = {
        str(p[-1]) for p in (c.path for c in action.changes) if p[-1] in fields.WRITE_ONLY_NAMES
    }
    if written:
        return [
            f"{', '.join(sorted(written))}: write-only (GET never returns it); compared with "
            f"what servingops last applied ({fields.APPLIED_TAG} tag), sent via PUT config"
        ]
    return []


def legacy_rate_limits_note(action: Action) -> str | None:
    """Top-level `rate_limits` (the legacy form) go out as AI-gateway limits: say how."""
    if action.after is None or ("rate_limits",) not in action.after.positions:
        return None
    if action.kind in (ActionKind.CREATE, ActionKind.REPLACE):
        return "rate_limits sent as ai_gateway.rate_limits in the create body"
    if any(c.path[:2] == ("ai_gateway", "rate_limits") for c in action.changes):
        return "rate_limits sent as ai_gateway.rate_limits via PUT ai-gateway"
    return None


def carrier_notes(action: Action) -> list[str]:
    """Which API call carries each group of changes."""
    if action.kind is ActionKind.CREATE:
        perms = action.after is not None and "permissions" in action.after.body
        return ["via POST serving-endpoints" + (", then PUT permissions" if perms else "")]
    if action.kind is ActionKind.DELETE:
        return ["via DELETE serving-endpoints"]
    if action.kind is ActionKind.REPLACE:
        return ["via DELETE then POST serving-endpoints (no in-place update for this change)"]
    notes = []
    for carrier in action.carriers:
        groups = _groups(c.path for c in action.changes if c.carrier is carrier)
        if carrier is Carrier.CONFIG and action.rollout is not None and action.rollout.remaining:
            steps = len(action.rollout.remaining)
            notes.append(f"via PUT config, once per step of the rollout below ({steps}): {groups}")
        elif carrier is Carrier.CONFIG:
            notes.append(f"{_VIA[carrier]} ({rollout_note(action)}): {groups}")
        elif carrier is Carrier.RUN_STATE:
            notes.append(_run_state_note(action))
        elif carrier in _VIA:
            notes.append(f"{_VIA[carrier]}: {groups}")
        elif carrier is Carrier.NONE:
            notes.append(f"no API call can change {groups} on an existing endpoint (see errors)")
    return notes


def rollout_note(action: Action) -> str:
    """What serves while a config update rolls out, from the endpoint's live health."""
    status = action.before.status if action.before is not None else None
    run_state = action.after.body.get("state") if action.after is not None else None
    if status is None:
        return "rolling update"
    if status.health is Health.STOPPED:
        if run_state == "running":
            return "the endpoint is started first; the new config serves once ready"
        return "the endpoint is stopped: the new config rolls out, then it is stopped again"
    if status.serving and status.ready == "READY":
        version = status.serving.split(" (")[0]
        return f"rolling update; {version} keeps serving until the new one is ready"
    return "nothing serves until the rollout ends"


def _run_state_note(action: Action) -> str:
    if action.after is not None and action.after.body.get("state") == "stopped":
        return "via POST config:stop (after any config update): the endpoint stops serving"
    return (
        "via POST config:start (before any config update): the active config rolls out again "
        "as a new version and serves once ready"
    )


def group_name(path: Path) -> str:
    """The user-facing group a change belongs to: `served_entity "x"`, `traffic`, `tags`, ..."""
    if path[:2] == ENTITIES and len(path) > 2:
        return f'served_entity "{path[2]}"'
    if path[:1] == ("config",) and len(path) > 1:
        return str(path[1])
    return str(path[0]) if path else "endpoint"


def served_entities(body: Any) -> dict[str, Mapping[str, Any]]:
    """The served entities of a canonical body, by name (empty when it has no config)."""
    return lookup_map(body, ENTITIES)


def lookup(body: Any, path: Path) -> Any:
    node = body
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return ABSENT
        node = node[part]
    return node


def lookup_map(body: Any, path: Path) -> dict[str, Any]:
    node = lookup(body, path)
    return dict(node) if isinstance(node, Mapping) else {}


def _has_live(action: Action) -> bool:
    return action.before is not None and action.kind is not ActionKind.CREATE


def live_body(action: Action) -> Mapping[str, Any]:
    return action.before.body if action.before and _has_live(action) else {}


def _entity_pair(action: Action) -> tuple[dict[str, Any], dict[str, Any]]:
    """Entities before and after; a replace starts from nothing (all entities are new)."""
    after = served_entities(action.after.body) if action.after else {}
    if action.kind is ActionKind.REPLACE or not _has_live(action) or action.before is None:
        return {}, after
    return served_entities(action.before.body), after


def _cold_starts(action: Action) -> list[str]:
    before, after = _entity_pair(action)
    return [
        name
        for name, entity in after.items()
        if entity.get("scale_to_zero_enabled") is True
        and (before.get(name) or {}).get("scale_to_zero_enabled") is not True
    ]


def _capacity(entity: Mapping[str, Any]) -> tuple[int, int] | None:
    bounds = ("min_provisioned_concurrency", "max_provisioned_concurrency")
    if any(k in entity for k in bounds):
        low = int(entity.get(bounds[0], 0))
        high = int(entity.get(bounds[1], low))
    elif entity.get("workload_size") in SIZES:
        low, high = SIZES[entity["workload_size"]]
    else:
        return None
    return (0 if entity.get("scale_to_zero_enabled") is True else low), high


def _fmt_cap(cap: tuple[int, int] | None) -> str:
    if cap is None:
        return "unknown"
    return str(cap[0]) if cap[0] == cap[1] else f"{cap[0]}-{cap[1]}"


def _size(entity: Mapping[str, Any]) -> str:
    parts = [str(entity["workload_size"])] if "workload_size" in entity else []
    if entity.get("scale_to_zero_enabled") is True:
        parts.append("scale-to-zero")
    return f" ({', '.join(parts)})" if parts else ""


def _size_change(old: Mapping[str, Any], new: Mapping[str, Any], arrow: str) -> str:
    a, b = old.get("workload_size"), new.get("workload_size")
    return f" ({a} {arrow} {b})" if a and b and a != b else ""


def _groups(paths: Any) -> str:
    return ", ".join(dict.fromkeys(group_name(p) for p in paths))
