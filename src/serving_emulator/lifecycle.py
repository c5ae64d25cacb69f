"""The endpoint state machine, as pure functions of a stored endpoint and the current time.

A rollout (create with a config, PUT config, config:start) stores a `pending` block with its
start and finish times. Nothing runs in the background: whoever reads the endpoint calls
`settle`, which promotes a finished successful rollout to the active config, and `status`
derives `state.ready` / `state.config_update`. Because only stored timestamps and the clock are
involved, every process sharing the database computes the same progression.
"""

from __future__ import annotations

import copy
from typing import Any

NOT_UPDATING = "NOT_UPDATING"
IN_PROGRESS = "IN_PROGRESS"
UPDATE_FAILED = "UPDATE_FAILED"
READY = "READY"
NOT_READY = "NOT_READY"

Doc = dict[str, Any]


def settle(doc: Doc, now_ms: int) -> Doc:
    """Return `doc` with a finished, successful rollout promoted to the active config."""
    pending = doc.get("pending")
    if not pending or pending.get("failure") or now_ms < pending["ready_ms"]:
        return doc
    settled = copy.deepcopy(doc)
    done = settled.pop("pending")
    settled["pending"] = None
    settled["config"] = {
        k: v for k, v in done.items() if k not in ("start_ms", "ready_ms", "failure")
    }
    # When the rollout that made this config active ran (build logs, server start-up).
    settled["config"]["rollout_ms"] = [done["start_ms"], done["ready_ms"]]
    settled["updated_ms"] = max(settled["updated_ms"], done["ready_ms"])
    settled["stopped"] = False
    return settled


def phase(doc: Doc, now_ms: int) -> bool | None:
    """What every function here needs to know about the time: None without a pending config,
    else whether its rollout has ended. Equal phases give equal results for the same `doc`."""
    pending = doc.get("pending")
    return None if not pending else now_ms >= pending["ready_ms"]


def is_updating(doc: Doc, now_ms: int) -> bool:
    pending = doc.get("pending")
    return pending is not None and now_ms < pending["ready_ms"]


def has_failed(doc: Doc, now_ms: int) -> bool:
    pending = doc.get("pending")
    return pending is not None and bool(pending.get("failure")) and now_ms >= pending["ready_ms"]


def status(doc: Doc, now_ms: int) -> dict[str, str]:
    """`state` of a settled endpoint: READY iff an active config serves and it is not stopped."""
    if is_updating(doc, now_ms):
        update = IN_PROGRESS
    elif has_failed(doc, now_ms):
        update = UPDATE_FAILED
    else:
        update = NOT_UPDATING
    ready = READY if doc.get("config") and not doc.get("stopped") else NOT_READY
    return {"ready": ready, "config_update": update}


def last_updated_ms(doc: Doc, now_ms: int) -> int:
    pending = doc.get("pending")
    if pending and now_ms >= pending["ready_ms"]:
        return max(int(doc["updated_ms"]), int(pending["ready_ms"]))
    return int(doc["updated_ms"])


def begin_rollout(
    doc: Doc,
    config: Doc,
    *,
    now_ms: int,
    duration_ms: int,
    creator: str,
    failure: dict[str, str] | None,
) -> Doc:
    """Start rolling out `config` as the next config version; the active config keeps serving."""
    updated = copy.deepcopy(doc)
    active = updated.get("config")
    version = (active["config_version"] if active else 0) + 1
    pending = copy.deepcopy(config)
    for entity in pending["served_entities"]:
        entity["creator"] = creator
        entity["creation_ms"] = now_ms
    pending.update(
        config_version=version,
        start_ms=now_ms,
        ready_ms=now_ms + duration_ms,
        failure=failure,
    )
    updated["pending"] = pending
    updated["updated_ms"] = now_ms
    return updated
