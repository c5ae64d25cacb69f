"""The reviewed Plan inside a saved plan: a Plan as JSON-ready data and back, for `show`.

Everything the renderers read is recorded (actions with before/after canonical bodies and
field changes, reasons, policy, live health, unchanged/orphaned/unmanaged names, problems,
smoke checks), so `servingops show FILE` prints what `plan` printed. Every value a renderer
masks (fields.is_masked) is replaced, before it is written, by `(sensitive) <digest>`: a
string every renderer still masks at that path (it is not a secret reference), equal where
the values were equal (impact notes compare values), and never the value. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import fields
from .model import (
    ABSENT,
    Action,
    ActionKind,
    Carrier,
    ConfigUpdate,
    Diagnostic,
    Endpoint,
    FieldChange,
    Fingerprint,
    LiveStatus,
    Path,
    Plan,
    Severity,
    SmokeCheck,
    SourceRef,
)
from .normalize import plain as _plain

Digest = Callable[[Any], str]
"""Digest of a masked value (keyed by the saved plan's salt)."""

MASK_PREFIX = "(sensitive) "


# --------------------------------------------------------------------------------------------
# Writing


def encode(plan: Plan, *, digest: Digest) -> dict[str, Any]:
    """The plan as JSON-ready data, with every masked value replaced by its digest."""

    def action(a: Action) -> dict[str, Any]:
        return {
            "kind": a.kind.value,
            "name": a.name,
            "before": _endpoint(a.before, digest),
            "after": _endpoint(a.after, digest),
            "changes": [_change(c, digest) for c in a.changes],
            "reasons": list(a.reasons),
            "adopt": a.adopt,
        }

    return {
        "actions": [action(a) for a in plan.actions],
        "unchanged": list(plan.unchanged),
        "orphaned": list(plan.orphaned),
        "unmanaged": list(plan.unmanaged),
        "foreign": [list(pair) for pair in plan.foreign],
        "updating": list(plan.updating),
        "waits": [action(a) for a in plan.waits],
        "problems": [_diagnostic(d) for d in plan.problems],
        "owner": plan.owner,
        "target": plan.target,
        "prune": plan.prune,
        "allow_replace": plan.allow_replace,
        "live": {name: _status(s) for name, s in plan.live.items()},
        "observed_at_ms": plan.observed_at_ms,
    }


def masked_copy(value: Any, path: Path, digest: Digest) -> Any:
    """`value` (found at `path`) with every value a renderer masks replaced by its digest."""
    if isinstance(value, Mapping):
        if fields.is_sensitive(path):
            return MASK_PREFIX + digest(_plain(value))
        return {k: masked_copy(v, (*path, k), digest) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_copy(v, (*path, i), digest) for i, v in enumerate(value)]
    if fields.is_masked(path, value):
        return MASK_PREFIX + digest(value)
    return value


def _endpoint(e: Endpoint | None, digest: Digest) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "name": e.name,
        "body": masked_copy(e.body, (), digest),
        "source": _source(e.source),
        "status": _status(e.status) if e.status else None,
        "fingerprint": fingerprint_record(e.fingerprint),
        "write_only": masked_copy(e.write_only, ("write_only",), digest),
        "smoke": [_smoke(c) for c in e.smoke],
    }


def _change(c: FieldChange, digest: Digest) -> dict[str, Any]:
    def side(value: Any) -> dict[str, Any]:
        if value is ABSENT:
            return {"absent": True}
        return {"value": masked_copy(value, c.path, digest)}

    return {
        "path": list(c.path),
        "before": side(c.before),
        "after": side(c.after),
        "carrier": c.carrier.value,
    }


def _status(s: LiveStatus) -> dict[str, Any]:
    return {
        "endpoint_id": s.endpoint_id,
        "owner": s.owner,
        "config_update": s.config_update.value,
        "ready": s.ready,
        "config_version": s.config_version,
        "pending_config_version": s.pending_config_version,
        "last_updated_timestamp": s.last_updated_timestamp,
        "creator": s.creator,
        "foundation_model": s.foundation_model,
        "stopped": s.stopped,
        "pending_since_ms": s.pending_since_ms,
        "failure": s.failure,
        "serving": s.serving,
    }


def fingerprint_record(fp: Fingerprint | None) -> dict[str, Any] | None:
    """A live fingerprint as JSON-ready data (saved plans record them this way too)."""
    if fp is None:
        return None
    return {
        "endpoint_id": fp.endpoint_id,
        "config_version": fp.config_version,
        "last_updated_timestamp": fp.last_updated_timestamp,
        "sha256": fp.sha256,
    }


def _diagnostic(d: Diagnostic) -> dict[str, Any]:
    return {
        "severity": d.severity.value,
        "summary": d.summary,
        "source": _source(d.source),
        "pointer": d.pointer,
        "detail": d.detail,
    }


def _smoke(c: SmokeCheck) -> dict[str, Any]:
    return {
        "name": c.name,
        "request": _plain(c.request),
        "entity": c.entity,
        "status": c.status,
        "max_latency_ms": c.max_latency_ms,
        "json": [[path, _plain(value)] for path, value in c.json],
        "request_file": c.request_file,
        "source": _source(c.source),
    }


def _source(ref: SourceRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"path": ref.path, "line": ref.line, "column": ref.column}


# --------------------------------------------------------------------------------------------
# Reading (TypeError, KeyError or ValueError on anything malformed; the caller words it)


def decode(data: Mapping[str, Any]) -> Plan:
    """The Plan `encode` recorded (masked values stay digests)."""
    return Plan(
        actions=tuple(_action(a) for a in _items(data["actions"])),
        unchanged=_names(data["unchanged"]),
        orphaned=_names(data["orphaned"]),
        unmanaged=_names(data["unmanaged"]),
        foreign=tuple((str(n), str(o)) for n, o in data["foreign"]),
        updating=_names(data["updating"]),
        waits=tuple(_action(a) for a in _items(data["waits"])),
        problems=tuple(_read_diagnostic(d) for d in _items(data["problems"])),
        owner=_str(data["owner"]),
        target=_str(data["target"]),
        prune=_bool(data["prune"]),
        allow_replace=_bool(data["allow_replace"]),
        live={str(n): _read_status(s) for n, s in _mapping(data["live"]).items()},
        observed_at_ms=_opt_int(data["observed_at_ms"]),
    )


def _action(a: Mapping[str, Any]) -> Action:
    return Action(
        kind=ActionKind(a["kind"]),
        name=_str(a["name"]),
        before=_read_endpoint(a["before"]),
        after=_read_endpoint(a["after"]),
        changes=tuple(_read_change(c) for c in _items(a["changes"])),
        reasons=_names(a["reasons"]),
        adopt=_bool(a["adopt"]),
    )


def _read_endpoint(e: Any) -> Endpoint | None:
    if e is None:
        return None
    e = _mapping(e)
    return Endpoint(
        name=_str(e["name"]),
        body=_mapping(e["body"]),
        source=_read_source(e["source"]),
        status=_read_status(e["status"]) if e["status"] is not None else None,
        fingerprint=read_fingerprint(e["fingerprint"]),
        write_only=_mapping(e["write_only"]),
        smoke=tuple(_read_smoke(c) for c in _items(e["smoke"])),
    )


def _read_change(c: Mapping[str, Any]) -> FieldChange:
    def side(raw: Any) -> Any:
        raw = _mapping(raw)
        return ABSENT if raw.get("absent") is True else raw["value"]

    path: Path = tuple(p if isinstance(p, int) else _str(p) for p in c["path"])
    return FieldChange(
        path=path, before=side(c["before"]), after=side(c["after"]), carrier=Carrier(c["carrier"])
    )


def _read_status(s: Any) -> LiveStatus:
    s = _mapping(s)
    return LiveStatus(
        endpoint_id=_str(s["endpoint_id"]),
        owner=None if s["owner"] is None else _str(s["owner"]),
        config_update=ConfigUpdate(s["config_update"]),
        ready=_str(s["ready"]),
        config_version=_opt_int(s["config_version"]),
        pending_config_version=_opt_int(s["pending_config_version"]),
        last_updated_timestamp=_opt_int(s["last_updated_timestamp"]),
        creator=None if s["creator"] is None else _str(s["creator"]),
        foundation_model=_bool(s["foundation_model"]),
        stopped=_bool(s["stopped"]),
        pending_since_ms=_opt_int(s["pending_since_ms"]),
        failure=_str(s["failure"]),
        serving=_str(s["serving"]),
    )


def read_fingerprint(fp: Any) -> Fingerprint | None:
    """The Fingerprint `fingerprint_record` wrote (TypeError or KeyError when malformed)."""
    if fp is None:
        return None
    fp = _mapping(fp)
    return Fingerprint(
        endpoint_id=_str(fp["endpoint_id"]),
        config_version=_opt_int(fp["config_version"]),
        last_updated_timestamp=_opt_int(fp["last_updated_timestamp"]),
        sha256=_str(fp["sha256"]),
    )


def _read_diagnostic(d: Mapping[str, Any]) -> Diagnostic:
    return Diagnostic(
        severity=Severity(d["severity"]),
        summary=_str(d["summary"]),
        source=_read_source(d["source"]),
        pointer=_str(d["pointer"]),
        detail=_str(d["detail"]),
    )


def _read_smoke(c: Mapping[str, Any]) -> SmokeCheck:
    return SmokeCheck(
        name=_str(c["name"]),
        request=_mapping(c["request"]),
        entity=None if c["entity"] is None else _str(c["entity"]),
        status=int(c["status"]),
        max_latency_ms=_opt_int(c["max_latency_ms"]),
        json=tuple((_str(p), v) for p, v in c["json"]),
        request_file=None if c["request_file"] is None else _str(c["request_file"]),
        source=_read_source(c["source"]),
    )


def _read_source(ref: Any) -> SourceRef | None:
    if ref is None:
        return None
    ref = _mapping(ref)
    return SourceRef(path=_str(ref["path"]), line=int(ref["line"]), column=int(ref["column"]))


def _items(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise TypeError("list of objects")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError("object")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("list")
    return tuple(_str(v) for v in value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("boolean")
    return value


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("integer")
    return value
