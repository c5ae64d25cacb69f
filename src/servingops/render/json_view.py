"""Plan -> versioned JSON shaped like `terraform show -json` (the machine contract).

Pure. Secret values are replaced by the string "(sensitive)" everywhere and flagged in the
`before_sensitive`/`after_sensitive` mask trees; the value itself is never output.
Semver: a minor version adds keys, a major version changes or removes them. 1.2 added the
resolved model aliases (`aliases`, each field's `after_display`) and each problem's column and
path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .. import fields, smoke
from ..model import (
    ABSENT,
    Action,
    ActionKind,
    AliasPin,
    Carrier,
    Diagnostic,
    Endpoint,
    FieldChange,
    Path,
    Plan,
    SmokeCheck,
    render_pointer,
)
from ..normalize import plain
from . import health, impact, rollouts, text

FORMAT_VERSION = "1.5"  # 1.2: aliases, problem columns; 1.3: resource_changes[].smoke;
# 1.4: ignored; 1.5: rollouts
SENSITIVE = text.SENSITIVE

_ACTIONS = {
    ActionKind.CREATE: ["create"],
    ActionKind.UPDATE: ["update"],
    ActionKind.REPLACE: ["delete", "create"],
    ActionKind.DELETE: ["delete"],
}


def plan_to_dict(plan: Plan, *, tool_version: str, workspace: str) -> dict[str, Any]:
    """The plan as a JSON-ready dict (see module docstring for the secret rules)."""
    add, change, destroy = plan.summary
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": tool_version,
        "workspace": workspace,
        "target": plan.target,
        "owner": plan.owner,
        "policy": {"allow_replace": plan.allow_replace, "prune": plan.prune},
        "resource_changes": [_resource_change(a, plan) for a in plan.actions],
        "aliases": [_alias(p) for p in plan.pins],
        "unchanged": list(plan.unchanged),
        "orphaned": list(plan.orphaned),
        "unmanaged": list(plan.unmanaged),
        "foreign": _foreign(plan),
        "updating": list(plan.updating),
        "waits": [a.name for a in plan.waits],
        "rollouts": [
            rollouts.to_dict(name, r, observed_at_ms=plan.observed_at_ms)
            for name, r in plan.rollouts
        ],
        "health": _health(plan),
        "ignored": _ignored(plan),
        "problems": [_problem(p) for p in plan.problems],
        "summary": {
            "add": add,
            "change": change,
            "destroy": destroy,
            "unchanged": len(plan.unchanged),
        },
    }


def render_plan(plan: Plan, *, tool_version: str, workspace: str) -> str:
    """`plan_to_dict` as indented JSON text (key order fixed by construction)."""
    return _dumps(plan_to_dict(plan, tool_version=tool_version, workspace=workspace))


def drift_to_dict(plan: Plan, *, tool_version: str, workspace: str) -> dict[str, Any]:
    """The plan framed as drift: changed fields (live vs desired), missing, orphaned, unmanaged."""
    changed = [
        {
            "name": a.name,
            "address": f"endpoint.{a.name}",
            "replace": a.kind is ActionKind.REPLACE,
            "updating": a.name in plan.updating,
            "fields": [
                _field(c, impact.pins_of(plan, a.name), sides=("live", "desired"))
                for c in a.changes
            ],
        }
        for a in plan.actions
        if a.kind in (ActionKind.UPDATE, ActionKind.REPLACE) and not text.rolling(a)
    ]
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": tool_version,
        "workspace": workspace,
        "target": plan.target,
        "drift": text.drift_count(plan) > 0,
        "changed": changed,
        "missing": [a.name for a in plan.actions if a.kind is ActionKind.CREATE],
        "orphaned": list(plan.orphaned),
        "unmanaged": list(plan.unmanaged),
        "foreign": _foreign(plan),
        "unchanged": list(plan.unchanged),
        "update_failed": text.failed_drift(plan),
        "rollouts_held": text.held_drift(plan),
        "rollouts_in_progress": [a.name for a in plan.actions if text.rolling(a)],
        "health": _health(plan),
        "ignored": _ignored(plan),
        "problems": [_problem(p) for p in plan.problems],
    }


def render_drift_json(plan: Plan, *, tool_version: str, workspace: str) -> str:
    """`drift_to_dict` as indented JSON text."""
    return _dumps(drift_to_dict(plan, tool_version=tool_version, workspace=workspace))


# --------------------------------------------------------------------------------------------


def _ignored(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Per endpoint, what its ignore_changes keeps: path, the file's value, the live one."""
    return {
        name: [
            {
                "path": render_pointer(i.path),
                **_side("desired", i.path, i.desired),
                **_side("live", i.path, i.live),
            }
            for i in items
        ]
        for name, items in plan.ignored.items()
    }


def _health(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per endpoint: the health word, the sentence every renderer shows, and its facts."""
    out = {}
    for name, status in plan.live.items():
        pending = health.pending_seconds(status, observed_at_ms=plan.observed_at_ms)
        out[name] = {
            "state": status.health.value,
            "description": health.describe(status, observed_at_ms=plan.observed_at_ms),
            "config_version": status.config_version,
            "pending_config_version": status.pending_config_version,
            "pending_seconds": None if pending is None else int(pending),
            "failure": status.failure or None,
            "serving": status.serving or None,
        }
    return out


def _foreign(plan: Plan) -> list[dict[str, str]]:
    return [{"name": name, "owner": owner} for name, owner in plan.foreign]


def _alias(pin: AliasPin) -> dict[str, Any]:
    return {
        "endpoint": pin.endpoint,
        "served_entity": pin.entity,
        "path": render_pointer(pin.path),
        "model": pin.model,
        "alias": pin.alias,
        "version": pin.version,
        "current": pin.current,
        "display": pin.display,
    }


def _resource_change(action: Action, plan: Plan) -> dict[str, Any]:
    pins = impact.pins_of(plan, action.name)
    before = action.before.body if action.before and action.kind is not ActionKind.CREATE else None
    after = action.after.body if action.after else None
    source = action.after.source if action.after else None
    replace = action.kind is ActionKind.REPLACE
    return {
        "address": f"endpoint.{action.name}",
        "name": action.name,
        "source": {"file": source.path, "line": source.line} if source else None,
        "change": {
            "actions": list(_ACTIONS[action.kind]),
            "before": _body(before),
            "after": _body(after),
            "fields": [_field(c, pins) for c in action.changes],
            "before_sensitive": _mask_tree(before, ()),
            "after_sensitive": _mask_tree(after, ()),
            "replace_paths": [
                list(c.path) for c in action.changes if c.carrier is Carrier.RECREATE
            ],
        },
        "action_reason": "replace_because_cannot_update" if replace else None,
        "reasons": list(action.reasons),
        "adopt": action.adopt,
        "aliases": [_alias(p) for p in pins.values()],
        "live_fingerprint": _fingerprint(action.before),
        "live_state": _live_state(action.before),
        "smoke": [_smoke(c) for c in smoke.planned(action)],
    }


def _smoke(check: SmokeCheck) -> dict[str, Any]:
    """A smoke check apply runs once the endpoint is READY (its request body is not shown)."""
    return {
        "name": check.name,
        "entity": check.entity,
        "request_file": check.request_file,
        "expect": {
            "status": check.status,
            "max_latency_ms": check.max_latency_ms,
            "json": {path: plain(value) for path, value in check.json},
        },
    }


def _body(body: Mapping[str, Any] | None) -> Any:
    return None if body is None else plain(text.redact((), body, mask=SENSITIVE))


def _field(
    change: FieldChange,
    pins: Mapping[Path, AliasPin],
    *,
    sides: tuple[str, str] = ("before", "after"),
) -> dict[str, Any]:
    """One changed field; drift names its sides ("live", "desired") instead."""
    old, new = sides
    out: dict[str, Any] = {"path": render_pointer(change.path)}
    out.update(_side(old, change.path, change.before))
    out.update(_side(new, change.path, change.after))
    display = _display(change, pins)
    if display:
        out[f"{new}_display"] = display
    out["via"] = change.carrier.value
    return out


def _display(change: FieldChange, pins: Mapping[Path, AliasPin]) -> str | None:
    """`@champion (8)` for a changed version that came from an alias (the value stays "8")."""
    shown = text.with_aliases(change.path, change.after, pins)
    return shown.pin.display if isinstance(shown, text.Pinned) else None


def _side(name: str, path: Path, value: Any) -> dict[str, Any]:
    if value is ABSENT:
        return {name: None, f"{name}_absent": True}
    return {name: plain(text.redact(path, value, mask=SENSITIVE))}


def _mask_tree(value: Any, path: Path) -> Any:
    """Terraform's *_sensitive: the body's shape with `true` at secret leaves, pruned."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        if fields.is_sensitive(path):  # what redact masks whole
            return True
        out = {}
        for key, child in value.items():
            sub = _mask_tree(child, (*path, key))
            if sub is True or sub:
                out[str(key)] = sub
        return out
    if isinstance(value, list):
        items = [_mask_tree(v, (*path, i)) for i, v in enumerate(value)]
        return items if any(i is True or i for i in items) else {}
    return True if fields.is_masked(path, value) else {}


def _fingerprint(live: Endpoint | None) -> dict[str, Any] | None:
    fp = live.fingerprint if live else None
    return None if fp is None else dataclasses.asdict(fp)


def _live_state(live: Endpoint | None) -> dict[str, Any] | None:
    status = live.status if live else None
    if status is None:
        return None
    return {"config_update": status.config_update.value, "ready": status.ready}


def _problem(problem: Diagnostic) -> dict[str, Any]:
    src = problem.source
    return {
        "severity": problem.severity.value,
        "summary": problem.summary,
        "file": src.path if src else None,
        "line": src.line if src and src.line else None,
        "column": src.column if src and src.line else None,
        "path": problem.pointer or None,
    }


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
