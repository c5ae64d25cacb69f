"""Progress observers and the apply summary: exact lines for given events."""

from __future__ import annotations

import io
import json

from servingops.apply_model import ActionOutcome, ApplyResult, Phase, Progress, Status
from servingops.model import Action, ActionKind, Endpoint
from servingops.render.progress import (
    JsonProgress,
    PeriodicProgress,
    TerminalProgress,
    json_summary,
    render_apply_result,
)

UPDATE = Action(
    kind=ActionKind.UPDATE,
    name="fraud-scorer",
    before=Endpoint(name="fraud-scorer", body={}),
    after=Endpoint(name="fraud-scorer", body={}),
)


def updating(elapsed: float, update: str = "IN_PROGRESS", ready: str = "READY") -> Progress:
    return Progress(
        phase=Phase.UPDATING,
        elapsed=elapsed,
        config_update=update,
        ready=ready,
        config_version=6,
        pending_config_version=7 if update == "IN_PROGRESS" else None,
    )


def outcome(
    name: str, kind: ActionKind, status: Status, message: str = "", **kw: object
) -> ActionOutcome:
    return ActionOutcome(name=name, kind=kind, status=status, message=message, **kw)  # type: ignore[arg-type]


DONE = outcome(
    "fraud-scorer",
    ActionKind.UPDATE,
    Status.SUCCEEDED,
    elapsed=424,
    config_version=7,
    ready="READY",
    polls=12,
    overshoot=0.4,
)


def feed(observer: object, events: list[Progress]) -> None:
    observer.started(UPDATE)  # type: ignore[attr-defined]
    for event in events:
        observer.progress(UPDATE, event)  # type: ignore[attr-defined]
    observer.finished(UPDATE, DONE)  # type: ignore[attr-defined]


def test_terminal_writes_one_line_per_state_change() -> None:
    stream = io.StringIO()
    events = [updating(t) for t in (0, 5, 10, 60, 300)] + [updating(424, "NOT_UPDATING")]
    feed(TerminalProgress(stream), events)
    assert stream.getvalue().splitlines() == [
        "endpoint.fraud-scorer: Modifying...",
        "endpoint.fraud-scorer: Updating... [config_version 6 -> 7]",
        "endpoint.fraud-scorer: Still updating... [7m04s elapsed] "
        "config_update=NOT_UPDATING ready=READY",
        "endpoint.fraud-scorer: Update complete after 7m04s [config_version=7, ready=READY]",
    ]


def test_non_terminal_writes_periodic_still_updating_lines() -> None:
    stream = io.StringIO()
    feed(PeriodicProgress(stream, every=30), [updating(t) for t in range(0, 100, 10)])
    assert stream.getvalue().splitlines()[1:-1] == [
        "endpoint.fraud-scorer: Updating... [config_version 6 -> 7]",
        "endpoint.fraud-scorer: still updating [30s elapsed] config_update=IN_PROGRESS ready=READY",
        "endpoint.fraud-scorer: still updating [1m00s elapsed] config_update=IN_PROGRESS "
        "ready=READY",
        "endpoint.fraud-scorer: still updating [1m30s elapsed] config_update=IN_PROGRESS "
        "ready=READY",
    ]


def test_in_flight_and_throttled_phases_are_named() -> None:
    stream = io.StringIO()
    observer = TerminalProgress(stream)
    observer.progress(
        UPDATE,
        Progress(
            phase=Phase.IN_FLIGHT,
            elapsed=3,
            config_update="IN_PROGRESS",
            ready="READY",
            config_version=5,
            pending_config_version=6,
        ),
    )
    observer.progress(UPDATE, Progress(phase=Phase.THROTTLED, elapsed=9))
    assert stream.getvalue().splitlines() == [
        "endpoint.fraud-scorer: Waiting for an update already in progress "
        "[config_version 5 -> 6] [3s elapsed] config_update=IN_PROGRESS ready=READY",
        "endpoint.fraud-scorer: Holding the write back for the workspace budget [9s elapsed]",
    ]


def test_json_lines_are_events() -> None:
    stream = io.StringIO()
    feed(JsonProgress(stream), [updating(0), updating(1), updating(2, "NOT_UPDATING")])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["type"] for e in events] == ["apply_start", "progress", "progress", "apply_complete"]
    assert events[1]["elapsed_seconds"] == 0
    assert events[1]["pending_config_version"] == 7
    assert events[-1]["overshoot_seconds"] == 0.4
    assert events[-1]["polls"] == 12


def test_json_failure_is_apply_errored_and_summary_lists_everyone() -> None:
    failed = outcome("b", ActionKind.CREATE, Status.FAILED, "update failed")
    stream = io.StringIO()
    JsonProgress(stream).finished(UPDATE, failed)
    event = json.loads(stream.getvalue())
    assert event["type"] == "apply_errored"
    assert event["message"] == "update failed"
    result = ApplyResult(outcomes=(DONE, failed))
    summary = json.loads(json_summary(result, exit_code=1))
    assert summary["type"] == "summary"
    assert summary["succeeded"] == ["fraud-scorer"]
    assert summary["failed"] == ["b"]
    assert (summary["added"], summary["changed"], summary["destroyed"]) == (0, 1, 0)
    assert summary["exit_code"] == 1


def test_apply_complete_line() -> None:
    result = ApplyResult(
        outcomes=(
            DONE,
            outcome("n", ActionKind.CREATE, Status.SUCCEEDED),
            outcome("r", ActionKind.REPLACE, Status.SUCCEEDED),
            outcome("d", ActionKind.DELETE, Status.SUCCEEDED),
        )
    )
    assert (
        render_apply_result(result) == "Apply complete! Endpoints: 2 added, 1 changed, 2 destroyed."
    )


def test_failure_summary_lists_succeeded_failed_timed_out_and_skipped() -> None:
    result = ApplyResult(
        outcomes=(
            DONE,
            outcome("bad", ActionKind.UPDATE, Status.FAILED, "update failed (x)"),
            outcome("slow", ActionKind.CREATE, Status.TIMED_OUT, "still updating; re-run apply"),
            outcome("busy", ActionKind.UPDATE, Status.INTERRUPTED, "interrupted while updating"),
            outcome("later", ActionKind.UPDATE, Status.SKIPPED, "not started"),
        ),
        interrupted=True,
    )
    assert render_apply_result(result).splitlines() == [
        "Succeeded: fraud-scorer",
        "Failed:",
        '  - endpoint "bad": update failed (x)',
        "Timed out (still updating; re-run apply to resume):",
        '  - endpoint "slow": still updating; re-run apply',
        "In flight when interrupted:",
        '  - endpoint "busy": interrupted while updating',
        "Skipped (not started): later",
        "Apply interrupted! Endpoints: 0 added, 1 changed, 0 destroyed.",
    ]
