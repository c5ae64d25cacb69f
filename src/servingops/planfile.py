"""Saved plans: what `plan --out FILE` writes and `apply FILE` checks before changing anything.

A saved plan records the tool version, the execution policy (prune, allow_replace), the desired
documents (with their rollout blocks), the planned actions (with each traffic rollout's schedule
and where it stood), the reviewed plan itself (plan_record: what `show` renders), and the live
fingerprint of the endpoints the plan looked at:
id, config_version, last_updated_timestamp and a hash of the normalized state (tags and ACL
included). A value any renderer masks (fields.is_masked) is never written: the plan holds a
salted digest in its place, and apply re-resolves the value from the files and variables and
refuses when it differs. Model aliases are pinned: the version each `@alias` resolved to is
recorded, and apply serves that version even if the alias has moved since. Applying re-reads
live state, re-plans from the recorded documents and pins, and refuses when an endpoint the
plan acts on moved; endpoints the plan leaves alone may change freely. Pure: text in, values
out (the salt is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import __version__, fields, normalize, plan_record, rollout
from .errors import ReconcilerError, StalePlan
from .model import (
    Action,
    ActionKind,
    AliasPin,
    DesiredDocument,
    Endpoint,
    Fingerprint,
    Path,
    Plan,
    RolloutPlan,
    SourceRef,
    render_pointer,
)

FORMAT = "servingops-plan"
FORMAT_VERSION = 5  # 3: alias pins; 4: the reviewed plan itself, for `servingops show`; 5: rollouts
_DIGEST = "$digest"


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPlan:
    target: str
    owner: str
    prune: bool
    allow_replace: bool
    workspace: str
    documents: tuple[DesiredDocument, ...]
    fingerprints: Mapping[str, Fingerprint | None]
    """Endpoints the plan compared, by name; None when it did not exist."""
    actions: tuple[tuple[str, str], ...]
    """(kind, name) pairs in plan order."""
    sections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per endpoint, a hash of each top-level field of its canonical live body (and the
    ownership tag), so a stale plan can say what moved."""
    salt: str = ""
    masked: tuple[tuple[str, Path, str], ...] = ()
    """(document name, path in its body, digest) of every value left out of the file."""
    pins: tuple[AliasPin, ...] = ()
    """The version each model alias resolved to when the plan was made."""
    plan: Plan | None = None
    """The reviewed plan as `plan` rendered it (masked values are digests), for `show`."""
    tool_version: str = ""
    rollouts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per endpoint whose action moves traffic in steps: the schedule and where it stood."""


def dump(
    plan: Plan,
    documents: Sequence[DesiredDocument],
    live: Sequence[Endpoint],
    *,
    workspace: str,
    salt: bytes,
) -> str:
    """Serialize a plan for `apply FILE`; masked values become digests keyed by `salt`."""
    live_by_name = {e.name: e for e in live}
    names = {d.name for d in documents} | set(plan.orphaned)
    fingerprints: dict[str, Any] = {}
    for name in sorted(names):
        endpoint = live_by_name.get(name)
        record = plan_record.fingerprint_record(endpoint.fingerprint if endpoint else None)
        if record is not None and endpoint is not None:
            record["sections"] = _sections(endpoint)
        fingerprints[name] = record
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "target": plan.target,
        "owner": plan.owner,
        "prune": plan.prune,
        "allow_replace": plan.allow_replace,
        "workspace": workspace,
        "salt": salt.hex(),
        "documents": [
            {
                "name": d.name,
                "body": _digested(d.body, (), salt),
                "source": {"path": d.source.path, "line": d.source.line, "column": d.source.column},
                **({"rollout": rollout.spec_to_block(d.rollout)} if d.rollout else {}),
            }
            for d in documents
        ],
        "fingerprints": fingerprints,
        "actions": [_action(a) for a in plan.actions],
        "pins": [
            {
                "endpoint": p.endpoint,
                "entity": p.entity,
                "index": p.index,
                "model": p.model,
                "alias": p.alias,
                "version": p.version,
            }
            for p in plan.pins
        ],
        "plan": plan_record.encode(plan, digest=lambda value: _digest(value, salt)),
    }
    # Not sort_keys: the recorded plan's bodies keep their order, which the JSON plan shows.
    return json.dumps(dict(sorted(payload.items())), indent=2) + "\n"


def parse(text: str, *, path: str, any_tool_version: bool = False) -> SavedPlan:
    """Read a saved plan, refusing anything that is not one this version can apply.

    `any_tool_version` (for `show`, which only renders) accepts one saved by another
    servingops version whose file format is this one's.
    """
    try:
        payload = json.loads(text)
    except ValueError:
        raise ReconcilerError(
            f"{path} is not a saved plan (not JSON); run plan --out again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ReconcilerError(f"{path} is not a servingops saved plan; run plan --out again")
    version = payload.get("tool_version")
    if version != __version__ and not any_tool_version:
        raise StalePlan(
            f"{path} was saved by servingops {version} and this is {__version__}; "
            "run plan --out again with this version and review the new plan"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        if any_tool_version:
            raise ReconcilerError(
                f"{path} was saved by servingops {version} in a format this version cannot "
                f"read (format {payload.get('format_version')}, not {FORMAT_VERSION}); show it "
                "with that version, or run plan --out again"
            )
        raise ReconcilerError(f"{path} is a damaged saved plan; run plan --out again")
    try:
        return _saved_plan(payload)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ReconcilerError(f"{path} is a damaged saved plan; run plan --out again") from None


def resolve_masked(saved: SavedPlan, current: Sequence[DesiredDocument]) -> SavedPlan:
    """The saved plan with each masked value taken from `current` (the files and variables
    now), or StalePlan naming every value that is missing or differs from its digest."""
    if not saved.masked:
        return saved
    salt = bytes.fromhex(saved.salt)
    by_name = {d.name: d for d in current}
    bodies = {d.name: normalize.copy(d.body) for d in saved.documents}
    differs: list[str] = []
    for name, path, digest in saved.masked:
        doc = by_name.get(name)
        value = _lookup(doc.body, path) if doc is not None else _MISSING
        if value is _MISSING or not hmac.compare_digest(_digest(value, salt), digest):
            differs.append(f'endpoint "{name}" {render_pointer(path)}')
            continue
        _store(bodies[name], path, value)
    if differs:
        raise StalePlan(
            "the saved plan's masked values do not match what the files and variables give now, "
            f"nothing was changed: {', '.join(differs)}. Pass the same --var values as to plan, "
            "or run plan again and review the new plan"
        )
    documents = tuple(replace(d, body=bodies[d.name]) for d in saved.documents)
    return replace(saved, documents=documents, masked=())


def pin_notes(plan: Plan) -> tuple[str, ...]:
    """What apply says about each pinned alias that no longer points where it did."""
    notes = []
    for pin in plan.pins:
        where = f'endpoint "{pin.endpoint}" {pin.entity}'
        if pin.moved:
            notes.append(
                f"{where}: alias @{pin.alias} of {pin.model} now points at version "
                f"{pin.current}; applying version {pin.version}, as the saved plan pinned it "
                "(run plan again to follow the alias)"
            )
        elif pin.current is None:
            notes.append(
                f"{where}: alias @{pin.alias} of {pin.model} could not be read now; applying "
                f"version {pin.version}, as the saved plan pinned it"
            )
    return tuple(notes)


def reviewed(
    saved: SavedPlan, plan: Plan, live: Sequence[Endpoint], *, workspace: str
) -> tuple[Plan, tuple[str, ...]]:
    """The part of a fresh re-plan that the saved plan reviewed, and notes about the rest.

    StalePlan when the workspace differs, or when an endpoint the saved plan acts on moved
    (fingerprint), appeared (for a create) or would now get another action. Endpoints the saved
    plan leaves alone may have changed: their new actions are dropped, with a note each.
    """
    if workspace != saved.workspace:
        raise StalePlan(
            f"the saved plan was made for {saved.workspace}, not {workspace}; run plan again "
            "against this workspace"
        )
    live_by_name = {e.name: e for e in live}
    planned = {name: kind for kind, name in saved.actions}
    fresh = {a.name: a.rollout for a in plan.actions}
    moved: list[str] = []
    for kind, name in saved.actions:
        endpoint = live_by_name.get(name)
        now = endpoint.fingerprint if endpoint else None
        then = saved.fingerprints.get(name)
        reason = _moved(then, now)
        if reason == _CHANGED and endpoint is not None and name in saved.sections:
            fields = _changed_sections(saved.sections[name], _sections(endpoint))
            reason = f"changed since the plan ({fields})"
        if not reason and kind not in {a.kind.value for a in plan.actions if a.name == name}:
            reason = "would now be planned differently"
        now_rollout = fresh.get(name)
        now_schedule = schedule_record(now_rollout) if now_rollout is not None else None
        if not reason and now_schedule != saved.rollouts.get(name):
            reason = "would now move its traffic differently (its rollout moved since the plan)"
        if reason:
            moved.append(f'"{name}" {reason}')
    if moved:
        raise StalePlan(
            "saved plan is stale, nothing was changed: endpoint "
            + "; endpoint ".join(moved)
            + ". Run plan again and review the new plan"
        )
    kept = tuple(a for a in plan.actions if planned.get(a.name) == a.kind.value)
    notes = tuple(
        f'endpoint "{a.name}" changed since the plan was saved; it is not part of this plan and '
        "is left alone (run plan to see it)"
        for a in plan.actions
        if a.name not in planned
    )
    return replace(plan, actions=kept), notes


def schedule_record(moving: RolloutPlan) -> dict[str, Any]:
    """What a saved plan records of a rollout: the schedule and where it stood."""
    return {
        "entity": moving.entity,
        "status": moving.status.value,
        "before": dict(moving.before),
        "after": dict(moving.after),
        "steps": [dict(s.split) for s in moving.steps],
        "done": moving.done,
        "judged": moving.judged,
        "attempt": moving.attempt,
    }


def _action(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": action.kind.value, "name": action.name}
    if action.rollout is not None:
        out["rollout"] = schedule_record(action.rollout)
    return out


# --------------------------------------------------------------------------------------------
# Reading


def _saved_plan(payload: Mapping[str, Any]) -> SavedPlan:
    documents = []
    for d in _list(payload["documents"]):
        body = d["body"]
        source = d["source"]
        if not isinstance(body, dict) or not isinstance(source, dict):
            raise TypeError("document")
        documents.append(
            DesiredDocument(
                name=_str(d["name"]),
                body=body,
                source=SourceRef(
                    path=_str(source["path"]),
                    line=int(source["line"]),
                    column=int(source["column"]),
                ),
                rollout=rollout.spec_from_block(d.get("rollout")),
            )
        )
    fingerprints_raw = payload["fingerprints"]
    if not isinstance(fingerprints_raw, dict):
        raise TypeError("fingerprints")
    fingerprints = {
        str(name): plan_record.read_fingerprint(fp) if fp else None
        for name, fp in fingerprints_raw.items()
    }
    kinds = {k.value for k in ActionKind}
    actions = tuple((_str(a["kind"]), _str(a["name"])) for a in _list(payload["actions"]))
    rollouts = {
        _str(a["name"]): dict(a["rollout"])
        for a in _list(payload["actions"])
        if isinstance(a.get("rollout"), dict)
    }
    if any(kind not in kinds for kind, _ in actions):
        raise ValueError("action kind")
    sections = {
        str(name): {str(k): str(v) for k, v in fp["sections"].items()}
        for name, fp in fingerprints_raw.items()
        if fp and isinstance(fp.get("sections"), dict)
    }
    masked = tuple(
        (doc.name, path, digest) for doc in documents for path, digest in _digests(doc.body, ())
    )
    pins = tuple(
        AliasPin(
            endpoint=_str(p["endpoint"]),
            entity=_str(p["entity"]),
            index=_int(p["index"]),
            model=_str(p["model"]),
            alias=_str(p["alias"]),
            version=_str(p["version"]),
        )
        for p in _list(payload["pins"])
    )
    return SavedPlan(
        target=_str(payload["target"]),
        owner=_str(payload["owner"]),
        prune=_bool(payload["prune"]),
        allow_replace=_bool(payload["allow_replace"]),
        workspace=_str(payload["workspace"]),
        documents=tuple(documents),
        fingerprints=fingerprints,
        actions=actions,
        sections=sections,
        salt=_str(payload["salt"]),
        masked=masked,
        pins=pins,
        plan=plan_record.decode(payload["plan"]),
        tool_version=_str(payload["tool_version"]),
        rollouts=rollouts,
    )


def _list(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError("list of objects")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("string")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("integer")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("boolean")
    return value


# --------------------------------------------------------------------------------------------
# Masked values


class _Missing:
    pass


_MISSING = _Missing()


def _digest(value: Any, salt: bytes) -> str:
    payload = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return "hmac-sha256:" + hmac.new(salt, payload, hashlib.sha256).hexdigest()


def _digested(value: Any, path: Path, salt: bytes) -> Any:
    """A copy of a document body with every masked leaf replaced by `{"$digest": ...}`."""
    if isinstance(value, Mapping):
        return {k: _digested(v, (*path, k), salt) for k, v in value.items()}
    if isinstance(value, list):
        return [_digested(v, (*path, i), salt) for i, v in enumerate(value)]
    if fields.is_masked(path, value):
        return {_DIGEST: _digest(value, salt)}
    return value


def _digests(value: Any, path: Path) -> list[tuple[Path, str]]:
    if isinstance(value, Mapping):
        if set(value) == {_DIGEST} and isinstance(value[_DIGEST], str):
            return [(path, value[_DIGEST])]
        return [d for k, v in value.items() for d in _digests(v, (*path, k))]
    if isinstance(value, list):
        return [d for i, v in enumerate(value) for d in _digests(v, (*path, i))]
    return []


def _lookup(body: Any, path: Path) -> Any:
    for part in path:
        in_list = isinstance(part, int) and isinstance(body, list) and 0 <= part < len(body)
        in_map = isinstance(part, str) and isinstance(body, Mapping) and part in body
        if not (in_list or in_map):
            return _MISSING
        body = body[part]
    return body


def _store(body: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        body = body[part]
    body[path[-1]] = value


# --------------------------------------------------------------------------------------------
# Fingerprints


def _moved(then: Fingerprint | None, now: Fingerprint | None) -> str:
    if then is None and now is None:
        return ""
    if then is None:
        return "was created since the plan"
    if now is None:
        return "was deleted since the plan"
    if then.endpoint_id != now.endpoint_id:
        return "was deleted and created again since the plan (new id)"
    if then.config_version != now.config_version:
        return (
            f"changed since the plan (config_version {then.config_version} -> {now.config_version})"
        )
    if then.sha256 != now.sha256 or then.last_updated_timestamp != now.last_updated_timestamp:
        return _CHANGED
    return ""


_CHANGED = "changed since the plan (tags, permissions, gateway or state)"


def _sections(endpoint: Endpoint) -> dict[str, str]:
    """A short hash of each top-level field of the canonical body, and of the ownership tag."""
    parts: dict[str, Any] = dict(endpoint.body)
    parts["servingops-owner tag"] = endpoint.status.owner if endpoint.status else None
    return {
        key: hashlib.sha256(
            json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:16]
        for key, value in parts.items()
    }


def _changed_sections(then: Mapping[str, str], now: Mapping[str, str]) -> str:
    changed = sorted(k for k in then.keys() | now.keys() if then.get(k) != now.get(k))
    return ", ".join(changed) if changed else "state or timestamps only"
