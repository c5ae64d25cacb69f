"""Apply progress as text or JSON lines on a given stream, and the final apply summary.

Three Observers: `TerminalProgress` writes one line per state change with the elapsed time;
`PeriodicProgress` (CI logs, no terminal) writes phase lines plus a `still updating` line every
`every` seconds; `JsonProgress` writes one JSON object per line (apply_start, progress,
apply_complete, apply_errored; `json_summary` gives the closing summary object). They write only
to the stream they are given and never print request bodies, so no secret can reach them.
"""

from __future__ import annotations

import json
from typing import Any, TextIO, assert_never

from .. import rollout
from ..apply_model import (
    ActionOutcome,
    ApplyResult,
    Phase,
    Progress,
    RolloutEvent,
    RolloutEventKind,
    Status,
)
from ..gates import Verdict
from ..model import Action, ActionKind, Gates
from ..rollout import format_clock
from ..waiting import format_duration

_STARTED = {
    ActionKind.CREATE: "Creating...",
    ActionKind.UPDATE: "Modifying...",
    ActionKind.REPLACE: "Replacing (delete, then create)...",
    ActionKind.DELETE: "Destroying...",
    ActionKind.WAIT: "Waiting for the update in progress...",
}
_COMPLETE = {
    ActionKind.CREATE: "Creation complete",
    ActionKind.UPDATE: "Update complete",
    ActionKind.REPLACE: "Replacement complete",
    ActionKind.DELETE: "Destruction complete",
    ActionKind.WAIT: "Rollout complete",
}
_STILL = {
    Phase.IN_FLIGHT: "still waiting for the update already in progress",
    Phase.CREATING: "still creating",
    Phase.UPDATING: "still updating",
    Phase.DELETING: "still deleting",
    Phase.THROTTLED: "still waiting for the workspace write budget",
}


def _label(name: str) -> str:
    return f"endpoint.{name}"


def _state(progress: Progress) -> str:
    parts = []
    if progress.config_update:
        parts.append(f"config_update={progress.config_update}")
    if progress.ready:
        parts.append(f"ready={progress.ready}")
    return " ".join(parts)


def _versions(progress: Progress) -> str:
    before, after = progress.config_version, progress.pending_config_version
    if after is None:
        return ""
    if before is None:  # the first deployment of a new endpoint
        return f" [config_version {after}]"
    return f" [config_version {before} -> {after}]"


def phase_line(action: Action, progress: Progress) -> str:
    """The line that says an endpoint entered `progress.phase`."""
    name = _label(action.name)
    elapsed = format_duration(progress.elapsed)
    match progress.phase:
        case Phase.IN_FLIGHT:
            return (
                f"{name}: Waiting for an update already in progress{_versions(progress)} "
                f"[{elapsed} elapsed] {_state(progress)}"
            ).rstrip()
        case Phase.UPDATING:
            return f"{name}: Updating...{_versions(progress)}"
        case Phase.CREATING:
            return f"{name}: Waiting for the new endpoint to deploy...{_versions(progress)}"
        case Phase.DELETING:
            return f"{name}: Waiting until deleted... [{elapsed} elapsed]"
        case Phase.THROTTLED:
            return f"{name}: Holding the write back for the workspace budget [{elapsed} elapsed]"
        case _:
            assert_never(progress.phase)


def finished_line(action: Action, outcome: ActionOutcome) -> str:
    """The last line about one endpoint."""
    name = _label(action.name)
    took = format_duration(outcome.elapsed)
    match outcome.status:
        case Status.SUCCEEDED:
            facts = []
            if outcome.config_version is not None and action.kind is not ActionKind.DELETE:
                facts.append(f"config_version={outcome.config_version}")
            if outcome.ready and action.kind is not ActionKind.DELETE:
                facts.append(f"ready={outcome.ready}")
            detail = f" [{', '.join(facts)}]" if facts else ""
            waited = "" if outcome.waited else " (not waited for: --no-wait)"
            checked = f"; {outcome.smoke}" if outcome.smoke else ""
            return f"{name}: {_COMPLETE[action.kind]} after {took}{detail}{waited}{checked}"
        case Status.TIMED_OUT:
            return f"{name}: Timed out after {took}: {outcome.message}"
        case Status.INTERRUPTED:
            return f"{name}: Interrupted after {took}: {outcome.message}"
        case Status.FAILED:
            first, _, rest = outcome.message.partition("\n")
            more = " (details below)" if rest or outcome.landed or outcome.not_sent else ""
            return f"{name}: Error after {took}: {first}{more}"
        case Status.SKIPPED:
            return f"{name}: Skipped: {outcome.message}"
        case _:
            assert_never(outcome.status)


class _LineProgress:
    """Shared text observer: phase lines, optional state-change and periodic lines."""

    def __init__(self, stream: TextIO, *, state_changes: bool, every: float | None) -> None:
        self._stream = stream
        self._state_changes = state_changes
        self._every = every
        self._seen: dict[str, tuple[Phase, str, str]] = {}
        self._last_line_at: dict[str, float] = {}

    def started(self, action: Action) -> None:
        if action.kind is ActionKind.WAIT and action.rollout is not None:
            self._write(f"{_label(action.name)}: Checking its traffic rollout...")
            return
        self._write(f"{_label(action.name)}: {_STARTED[action.kind]}")

    def progress(self, action: Action, progress: Progress) -> None:
        key = (progress.phase, progress.config_update, progress.ready)
        previous = self._seen.get(action.name)
        self._seen[action.name] = key
        if previous is None or previous[0] is not progress.phase:
            self._write(phase_line(action, progress))
            self._last_line_at[action.name] = progress.elapsed
        elif self._state_changes and previous != key:
            self._write(
                f"{_label(action.name)}: {_STILL[progress.phase].capitalize()}... "
                f"[{format_duration(progress.elapsed)} elapsed] {_state(progress)}".rstrip()
            )
            self._last_line_at[action.name] = progress.elapsed
        elif self._every and progress.elapsed - self._last_line_at[action.name] >= self._every:
            self._write(
                f"{_label(action.name)}: {_STILL[progress.phase]} "
                f"[{format_duration(progress.elapsed)} elapsed] {_state(progress)}".rstrip()
            )
            self._last_line_at[action.name] = progress.elapsed

    def finished(self, action: Action, outcome: ActionOutcome) -> None:
        self._write(finished_line(action, outcome))

    def rollout(self, action: Action, event: RolloutEvent) -> None:
        line = rollout_line(action, event)
        if line:
            self._write(line)

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


class TerminalProgress(_LineProgress):
    """For a terminal: one line per state change, each with the elapsed time."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream, state_changes=True, every=None)


class PeriodicProgress(_LineProgress):
    """For logs: phase lines, then `still updating [1m30s elapsed] ...` every `every` s."""

    def __init__(self, stream: TextIO, *, every: float = 30.0) -> None:
        super().__init__(stream, state_changes=False, every=every)


class JsonProgress:
    """One JSON object per line; progress objects on state changes and every `every` s."""

    def __init__(self, stream: TextIO, *, every: float = 30.0) -> None:
        self._stream = stream
        self._every = every
        self._seen: dict[str, tuple[Phase, str, str]] = {}
        self._last_at: dict[str, float] = {}

    def started(self, action: Action) -> None:
        self._emit({"type": "apply_start", "endpoint": action.name, "action": action.kind.value})

    def progress(self, action: Action, progress: Progress) -> None:
        key = (progress.phase, progress.config_update, progress.ready)
        changed = self._seen.get(action.name) != key
        due = progress.elapsed - self._last_at.get(action.name, 0.0) >= self._every
        self._seen[action.name] = key
        if not (changed or due):
            return
        self._last_at[action.name] = progress.elapsed
        self._emit(
            {
                "type": "progress",
                "endpoint": action.name,
                "action": action.kind.value,
                "phase": progress.phase.value,
                "elapsed_seconds": round(progress.elapsed, 3),
                "config_update": progress.config_update or None,
                "ready": progress.ready or None,
                "config_version": progress.config_version,
                "pending_config_version": progress.pending_config_version,
            }
        )

    def finished(self, action: Action, outcome: ActionOutcome) -> None:
        self._emit(outcome_event(outcome))

    def rollout(self, action: Action, event: RolloutEvent) -> None:
        self._emit(rollout_event(action, event))

    def _emit(self, event: dict[str, Any]) -> None:
        self._stream.write(json.dumps(event, sort_keys=True) + "\n")
        self._stream.flush()


def outcome_event(outcome: ActionOutcome) -> dict[str, Any]:
    """apply_complete for a success, apply_errored for anything else."""
    event: dict[str, Any] = {
        "type": "apply_complete" if outcome.status is Status.SUCCEEDED else "apply_errored",
        "endpoint": outcome.name,
        "action": outcome.kind.value,
        "status": outcome.status.value,
        "elapsed_seconds": round(outcome.elapsed, 3),
        "config_version": outcome.config_version,
        "ready": outcome.ready or None,
        "polls": outcome.polls,
        "overshoot_seconds": None if outcome.overshoot is None else round(outcome.overshoot, 3),
        "waited": outcome.waited,
    }
    if outcome.message:
        event["message"] = outcome.message
    if outcome.smoke:
        event["smoke"] = outcome.smoke
    if outcome.landed or outcome.not_sent:
        event["landed"] = list(outcome.landed)
        event["not_sent"] = list(outcome.not_sent)
    if outcome.pending:
        event["pending"] = outcome.pending
    return event


def rollout_line(action: Action, event: RolloutEvent) -> str:
    """One line about a traffic rollout event ("" when the next line says it)."""
    name = _label(action.name)
    at = f"step {event.step}/{event.steps}"
    split = rollout.describe_split(
        event.split, zeros=event.kind is not RolloutEventKind.ROLLED_BACK
    )
    match event.kind:
        case RolloutEventKind.STEP:
            share = event.split.get(event.entity, 0)
            return f"{name}: Rollout {at}: {event.entity} {share}% ({split})..."
        case RolloutEventKind.LIVE:
            due = f"; its gates are due at {format_clock(event.until_ms)}" if event.until_ms else ""
            return f"{name}: Rollout {at} is live{due}"
        case RolloutEventKind.GATE:
            text = _gate_text(action, event, at)
            return f"{name}: {text}" if text else ""
        case RolloutEventKind.PAUSED:
            return f"{name}: Rollout paused: {event.message}"
        case RolloutEventKind.ROLLBACK:
            back = rollout.describe_split(event.split)
            return f"{name}: Gate failed at {at}: {event.message}; rolling back to {back}..."
        case RolloutEventKind.ROLLED_BACK:
            return f"{name}: Rolled back: {split} serves again"
        case RolloutEventKind.COMPLETE:
            return f"{name}: Rollout complete: {split} (the file's split)"
        case _:
            assert_never(event.kind)


def _gate_text(action: Action, event: RolloutEvent, at: str) -> str:
    judgment = event.judgment
    if judgment is None:
        return f"Rollout {at}: {event.message}"
    gates = action.rollout.gates if action.rollout is not None else Gates()
    figures = judgment.describe(gates)
    match judgment.verdict:
        case Verdict.PASS:
            return f"Gates passed for {at}: {figures}"
        case Verdict.OBSERVING:
            return f"Observing {at}: {figures}"
        case Verdict.FAIL | Verdict.TOO_LITTLE:
            return ""  # the rollback line that follows says it
        case _:
            assert_never(judgment.verdict)


def rollout_event(action: Action, event: RolloutEvent) -> dict[str, Any]:
    """`rollout_step`, `rollout_live`, `rollout_gate`, ... as one JSON object."""
    payload: dict[str, Any] = {
        "type": f"rollout_{event.kind.value}",
        "endpoint": action.name,
        "entity": event.entity,
        "step": event.step,
        "steps": event.steps,
        "split": dict(event.split),
        "elapsed_seconds": round(event.elapsed, 3),
        "until_ms": event.until_ms,
    }
    if event.message:
        payload["message"] = event.message
    judgment = event.judgment
    if judgment is not None:
        payload["gate"] = {
            "verdict": judgment.verdict.value,
            "minutes": judgment.minutes,
            "requests": judgment.requests,
            "errors_5xx": judgment.errors_5xx,
            "errors_4xx": judgment.errors_4xx,
            "error_rate": judgment.error_rate,
            "p99_ms": None if judgment.p99_ms is None else round(judgment.p99_ms, 3),
            "failed": [b.describe() for b in judgment.breaches],
        }
    return payload


def json_summary(result: ApplyResult, *, exit_code: int) -> str:
    """The closing `summary` JSON line."""
    added, changed, destroyed = result.summary
    overshoots = [o.overshoot for o in result.outcomes if o.overshoot is not None]
    payload = {
        "type": "summary",
        "added": added,
        "changed": changed,
        "partially_changed": [o.name for o in result.partial],
        "destroyed": destroyed,
        "interrupted": result.interrupted,
        "elapsed_seconds": round(result.elapsed, 3),
        "max_overshoot_seconds": round(max(overshoots), 3) if overshoots else None,
        "rollouts_pending": {o.name: o.pending for o in result.outcomes if o.pending},
        "exit_code": exit_code,
        **{status.value: [o.name for o in result.having(status)] for status in Status},
    }
    return json.dumps(payload, sort_keys=True)


def render_apply_result(result: ApplyResult) -> str:
    """`Apply complete! Endpoints: X added, Y changed, Z destroyed.`, or what succeeded, what
    failed (each failure once, as a block: why, what landed, what was not sent), what timed
    out, what was in flight, and what was skipped and why."""
    added, changed, destroyed = result.summary
    partial = len(result.partial)
    part = f" ({partial} partially changed)" if partial else ""
    counts = f"Endpoints: {added} added, {changed} changed{part}, {destroyed} destroyed."
    lines = []
    pending = [o for o in result.outcomes if o.pending]
    if pending:
        lines.append("Rollouts in progress (a later apply continues them):")
        lines.extend(f'  - endpoint "{o.name}": {o.pending}' for o in pending)
    if result.ok:
        return "\n".join([*lines, f"Apply complete! {counts}"])
    succeeded = result.having(Status.SUCCEEDED)
    if succeeded:
        lines.append("Succeeded: " + ", ".join(o.name for o in succeeded))
    for status, title in (
        (Status.FAILED, "Failed"),
        (Status.TIMED_OUT, "Timed out (still updating; re-run apply to resume)"),
        (Status.INTERRUPTED, "In flight when interrupted"),
    ):
        outcomes = result.having(status)
        if outcomes:
            lines.append(f"{title}:")
            lines.extend(_outcome_block(o) for o in outcomes)
    skipped: dict[str, list[str]] = {}
    for o in result.having(Status.SKIPPED):
        skipped.setdefault(o.message, []).append(o.name)
    for reason, names in skipped.items():
        lines.append(f"Skipped ({reason}): " + ", ".join(names))
    head = "Apply interrupted!" if result.interrupted else "Apply incomplete!"
    lines.append(f"{head} {counts}")
    return "\n".join(lines)


def _outcome_block(outcome: ActionOutcome) -> str:
    first, *rest = outcome.message.splitlines() or [""]
    lines = [f'  - endpoint "{outcome.name}": {first}', *(f"      {line}" for line in rest)]
    if outcome.landed:
        lines.append("      landed: " + ", ".join(outcome.landed))
    if outcome.not_sent:
        lines.append("      not sent: " + ", ".join(outcome.not_sent))
    return "\n".join(lines)
