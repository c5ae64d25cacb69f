"""Saved plans: what `plan --out FILE` writes and `apply FILE` checks before changing anything.

A saved plan records the desired documents (secret *references* only; plaintext secrets never
pass validation), the planned actions, and the live fingerprint of every endpoint the plan
looked at: its id, config_version, last_updated_timestamp and a hash of its normalized state
(tags and ACL included). Applying re-reads live state, re-plans from the recorded documents,
and refuses when any fingerprint moved or the actions differ. Pure: text in, values out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .errors import ReconcilerError, StalePlan
from .model import DesiredDocument, Endpoint, Fingerprint, Plan, SourceRef

FORMAT = "servingops-plan"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPlan:
    target: str
    owner: str
    prune: bool
    workspace: str
    documents: tuple[DesiredDocument, ...]
    fingerprints: Mapping[str, Fingerprint | None]
    """Every endpoint the plan compared, by name; None when it did not exist."""
    actions: tuple[tuple[str, str], ...]
    """(kind, name) pairs in plan order."""
    sections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per endpoint, a hash of each top-level field of its canonical live body (and the
    ownership tag), so a stale plan can say what moved; empty for plans saved without it."""


def dump(
    plan: Plan,
    documents: Sequence[DesiredDocument],
    live: Sequence[Endpoint],
    *,
    workspace: str,
) -> str:
    """Serialize a plan for `apply FILE`."""
    live_by_name = {e.name: e for e in live}
    names = {d.name for d in documents} | set(plan.orphaned)
    fingerprints: dict[str, Any] = {}
    for name in sorted(names):
        endpoint = live_by_name.get(name)
        fp = endpoint.fingerprint if endpoint else None
        fingerprints[name] = _fingerprint_dict(fp) if fp else None
        if fp and endpoint is not None:
            fingerprints[name]["sections"] = _sections(endpoint)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "target": plan.target,
        "owner": plan.owner,
        "prune": plan.prune,
        "workspace": workspace,
        "documents": [
            {
                "name": d.name,
                "body": d.body,
                "source": {"path": d.source.path, "line": d.source.line, "column": d.source.column},
            }
            for d in documents
        ],
        "fingerprints": fingerprints,
        "actions": [{"kind": a.kind.value, "name": a.name} for a in plan.actions],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def parse(text: str, *, path: str) -> SavedPlan:
    """Read a saved plan, refusing anything that is not one this version can apply."""
    try:
        payload = json.loads(text)
    except ValueError:
        raise ReconcilerError(
            f"{path} is not a saved plan (not JSON); run plan --out again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ReconcilerError(f"{path} is not a servingops saved plan; run plan --out again")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ReconcilerError(
            f"{path} has plan format {payload.get('format_version')}, this servingops reads "
            f"{FORMAT_VERSION}; run plan --out again with this version"
        )
    try:
        documents = tuple(
            DesiredDocument(
                name=str(d["name"]),
                body=d["body"],
                source=SourceRef(
                    path=str(d["source"]["path"]),
                    line=int(d["source"]["line"]),
                    column=int(d["source"]["column"]),
                ),
            )
            for d in payload["documents"]
        )
        fingerprints = {
            str(name): (_fingerprint(fp) if fp else None)
            for name, fp in payload["fingerprints"].items()
        }
        actions = tuple((str(a["kind"]), str(a["name"])) for a in payload["actions"])
        sections = {
            str(name): {str(k): str(v) for k, v in fp["sections"].items()}
            for name, fp in payload["fingerprints"].items()
            if fp and isinstance(fp.get("sections"), dict)
        }
        return SavedPlan(
            target=str(payload["target"]),
            owner=str(payload["owner"]),
            prune=bool(payload["prune"]),
            workspace=str(payload["workspace"]),
            documents=documents,
            fingerprints=fingerprints,
            actions=actions,
            sections=sections,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ReconcilerError(f"{path} is a damaged saved plan; run plan --out again") from None


def check_fresh(saved: SavedPlan, plan: Plan, live: Sequence[Endpoint], *, workspace: str) -> None:
    """Raise StalePlan naming every endpoint that moved since the plan was saved."""
    if workspace != saved.workspace:
        raise StalePlan(
            f"the saved plan was made for {saved.workspace}, not {workspace}; run plan again "
            "against this workspace"
        )
    live_by_name = {e.name: e for e in live}
    moved: list[str] = []
    for name, then in sorted(saved.fingerprints.items()):
        endpoint = live_by_name.get(name)
        now = endpoint.fingerprint if endpoint else None
        reason = _moved(then, now)
        if reason == _CHANGED and endpoint is not None and name in saved.sections:
            fields = _changed_sections(saved.sections[name], _sections(endpoint))
            reason = f"changed since the plan ({fields})"
        if reason:
            moved.append(f'"{name}" {reason}')
    now_actions = tuple((a.kind.value, a.name) for a in plan.actions)
    if not moved and now_actions != saved.actions:
        moved.append("the planned actions differ from the saved ones")
    if moved:
        raise StalePlan(
            "saved plan is stale, nothing was changed: endpoint "
            + "; endpoint ".join(moved)
            + ". Run plan again and review the new plan"
        )


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


def _fingerprint_dict(fp: Fingerprint) -> dict[str, Any]:
    return {
        "endpoint_id": fp.endpoint_id,
        "config_version": fp.config_version,
        "last_updated_timestamp": fp.last_updated_timestamp,
        "sha256": fp.sha256,
    }


def _fingerprint(raw: Mapping[str, Any]) -> Fingerprint:
    return Fingerprint(
        endpoint_id=str(raw["endpoint_id"]),
        config_version=raw["config_version"],
        last_updated_timestamp=raw["last_updated_timestamp"],
        sha256=str(raw["sha256"]),
    )
