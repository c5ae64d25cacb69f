"""The values and interfaces of apply: what it calls, what it reports, and what it returns.

`EndpointAPI` is the slice of the client apply uses; `Observer` receives progress events;
`ActionOutcome` and `ApplyResult` are the immutable record of what happened; `QueryAPI` is
the data-plane call smoke checks make. No behaviour here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .gates import Judgment
from .model import Action, ActionKind


class EndpointAPI(Protocol):
    """The calls apply makes (client.Client satisfies it structurally; tests pass a fake)."""

    async def get_endpoint(self, name: str) -> dict[str, Any] | None: ...
    async def create_endpoint(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def update_config(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]: ...
    async def delete_endpoint(self, name: str) -> None: ...
    async def patch_tags(
        self, name: str, *, add: Sequence[Mapping[str, str]], delete: Sequence[str]
    ) -> dict[str, Any]: ...
    async def put_ai_gateway(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_notifications(
        self, name: str, email_notifications: Mapping[str, Any]
    ) -> dict[str, Any]: ...
    async def patch_telemetry(self, name: str, telemetry: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_metrics_export(self, name: str, state: str) -> dict[str, Any]: ...
    async def stop_endpoint(self, name: str) -> dict[str, Any]: ...
    async def start_endpoint(self, name: str) -> dict[str, Any]: ...
    async def set_permissions(
        self, endpoint_id: str, acl: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]: ...
    async def export_metrics(self, name: str) -> str: ...


class QueryAnswer(Protocol):
    """What a smoke check reads of one query's answer (client.Answer satisfies it)."""

    @property
    def status(self) -> int: ...
    @property
    def body(self) -> Any: ...
    @property
    def text(self) -> str: ...
    @property
    def latency_ms(self) -> float: ...


class QueryAPI(Protocol):
    """The data-plane call smoke checks make (client.Client satisfies it)."""

    async def query(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        entity: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> QueryAnswer: ...


class Status(enum.StrEnum):
    """What happened to one action."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # still updating when the wait gave up; nothing was deleted
    SKIPPED = "skipped"  # never started (apply was interrupted first)
    INTERRUPTED = "interrupted"  # in flight when apply was interrupted


class Phase(enum.StrEnum):
    """What an endpoint is waiting for while apply polls it."""

    IN_FLIGHT = "in_flight"  # an update that was already running before apply touched it
    CREATING = "creating"
    UPDATING = "updating"
    DELETING = "deleting"
    THROTTLED = "throttled"  # holding a write back for the workspace budget or a 429


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """One observation of an endpoint while apply waits on it (sent on every poll).

    `elapsed` counts from the start of the endpoint's action; state fields are the API's
    (`config_update`, `ready`) and may be empty when the endpoint does not exist (yet).
    """

    phase: Phase
    elapsed: float
    config_update: str = ""
    ready: str = ""
    config_version: int | None = None
    pending_config_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionOutcome:
    """The result of one action. `overshoot` is how long after the server finished the update
    apply noticed it (None when there was no rollout to wait for); `polls` counts GETs. For an
    action that did not succeed, `landed` names the writes that were accepted before it stopped
    and `not_sent` the planned writes it never made (the failing one is in `message`)."""

    name: str
    kind: ActionKind
    status: Status
    message: str = ""
    elapsed: float = 0.0
    polls: int = 0
    config_version: int | None = None
    ready: str = ""
    overshoot: float | None = None
    waited: bool = True
    landed: tuple[str, ...] = ()
    not_sent: tuple[str, ...] = ()
    smoke: str = ""
    """What the smoke checks said after a success: passed, skipped (--skip-smoke) or not run."""
    pending: str = ""
    """Work a later run must do: a traffic rollout left between steps (when to come back)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """Every action's outcome, in plan order, and whether apply was interrupted."""

    outcomes: tuple[ActionOutcome, ...]
    interrupted: bool = False
    elapsed: float = 0.0

    def having(self, status: Status) -> tuple[ActionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is status)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status is Status.SUCCEEDED for o in self.outcomes)

    @property
    def summary(self) -> tuple[int, int, int]:
        """(added, changed, destroyed) among succeeded actions; a replace adds and destroys."""
        added = changed = destroyed = 0
        for o in self.having(Status.SUCCEEDED):
            added += o.kind in (ActionKind.CREATE, ActionKind.REPLACE)
            changed += o.kind is ActionKind.UPDATE
            destroyed += o.kind in (ActionKind.DELETE, ActionKind.REPLACE)
        return added, changed, destroyed

    @property
    def partial(self) -> tuple[ActionOutcome, ...]:
        """Actions that did not finish but changed something before they stopped."""
        return tuple(o for o in self.outcomes if o.status is not Status.SUCCEEDED and o.landed)


class Observer(Protocol):
    """Receives apply's events. `finished` is called exactly once per started action, with any
    outcome (renderers report failures and timeouts from it); calls come from one event loop."""

    def started(self, action: Action) -> None: ...
    def progress(self, action: Action, progress: Progress) -> None: ...
    def finished(self, action: Action, outcome: ActionOutcome) -> None: ...


class RolloutEventKind(enum.StrEnum):
    """What happened in a traffic rollout."""

    STEP = "step"  # a step's config update starts
    LIVE = "live"  # the step is live (NOT_UPDATING and READY); its pause runs
    GATE = "gate"  # a gate evaluation over the minutes observed so far
    PAUSED = "paused"  # this run leaves the rollout for a later one
    ROLLBACK = "rollback"  # a gate failed: the split from before is being restored
    ROLLED_BACK = "rolled_back"
    COMPLETE = "complete"  # the file's split is live and passed its gates


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutEvent:
    """One rollout event. `step` is 1-based in a schedule of `steps` (0: the split before);
    `split` is the split the event is about; `until_ms` (epoch ms) is when a pause ends or a
    later run should come back; `judgment` carries a gate evaluation's figures."""

    kind: RolloutEventKind
    entity: str
    step: int
    steps: int
    split: Mapping[str, int]
    elapsed: float
    until_ms: int | None = None
    judgment: Judgment | None = None
    message: str = ""


@runtime_checkable
class RolloutObserver(Protocol):
    """An Observer that also shows rollout events (the built-in renderers are)."""

    def rollout(self, action: Action, event: RolloutEvent) -> None: ...


class NullObserver:
    """An Observer that ignores everything."""

    def started(self, action: Action) -> None:
        pass

    def progress(self, action: Action, progress: Progress) -> None:
        pass

    def finished(self, action: Action, outcome: ActionOutcome) -> None:
        pass

    def rollout(self, action: Action, event: RolloutEvent) -> None:
        pass
