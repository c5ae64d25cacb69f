"""Immutable values passed between stages: diagnostics, canonical endpoints, plans and results.

No I/O and no behaviour beyond small predicates. Every stage hands the next one of these types.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Body = Mapping[str, Any]
"""A canonical, JSON-like endpoint body; its shape is owned by normalize.py."""

PathPart = str | int
Path = tuple[PathPart, ...]

OWNER_TAG = "servingops-owner"
"""Tag that marks an endpoint as managed by one servingops project (its value is the owner)."""

ROLLOUT_TAG = "servingops-rollout"
"""Tag holding the state of a traffic rollout (rollout.py encodes it). Like the ownership tag it
is bookkeeping: hidden from diffs, never written in files, never removed by a tag patch."""


# --------------------------------------------------------------------------------------------
# Diagnostics


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRef:
    """Where a value came from: a file and a 1-based line and column (0 when unknown)."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}"
        return self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One problem found in the input. `pointer` is the instance path, e.g. `config.routes[0]`."""

    severity: Severity
    summary: str
    source: SourceRef | None = None
    pointer: str = ""
    detail: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        src = self.source
        return (
            src.path if src else "",
            src.line if src else 0,
            src.column if src else 0,
            self.pointer,
            self.summary,
        )


# --------------------------------------------------------------------------------------------
# Desired documents and canonical endpoints


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredDocument:
    """One validated endpoint document, in the REST API's create-body shape.

    `body` has variables interpolated, `served_models` converted to `served_entities`, tags as
    the API's `[{key, value}]` list, top-level `rate_limits` moved to `ai_gateway.rate_limits`,
    and `permissions` as the API's `access_control_list` entries (absent when unmanaged).
    `positions` maps instance paths inside `body` to where they were written.
    """

    name: str
    body: Body
    source: SourceRef
    positions: Mapping[Path, SourceRef] = field(default_factory=dict)
    rollout: RolloutSpec | None = None
    """The document's `rollout` block: how to move traffic (never sent to the API)."""


class ConfigUpdate(enum.StrEnum):
    NOT_UPDATING = "NOT_UPDATING"
    IN_PROGRESS = "IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_CANCELED = "UPDATE_CANCELED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprint:
    """What a saved plan remembers about one live endpoint, to refuse applying a stale plan."""

    endpoint_id: str
    config_version: int | None
    last_updated_timestamp: int | None
    sha256: str


class Health(enum.StrEnum):
    """What a live endpoint is doing, as the serving UI says it (docs: "Ready", "Ready (Update
    failed)", "Not ready (Updating)", "Not ready (Update failed)", "Not ready (Stopped)")."""

    READY = "ready"
    NOT_READY = "not ready"  # no active config serves, and nothing is rolling out
    UPDATING = "updating"  # a pending config is rolling out; the active one (if any) serves
    UPDATE_FAILED = "update failed"  # the last rollout failed; the active one (if any) serves
    STOPPED = "stopped"  # stopped with config:stop; serves nothing until config:start


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """One served entity's deployment as a GET reports it, in the pending or the active config
    (`state`: the API's `deployment`, e.g. DEPLOYMENT_FAILED; `message`: its state message)."""

    entity: str
    pending: bool
    state: str
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStatus:
    """Server-owned facts about a live endpoint that are not part of its canonical body."""

    endpoint_id: str
    owner: str | None
    """Value of the ownership tag, or None when the endpoint carries none (unmanaged)."""
    config_update: ConfigUpdate
    ready: str
    reported_update: str = ""
    """config_update as the server wrote it ("" when absent): a value newer than ConfigUpdate
    (read as UNKNOWN) is still shown in the server's words."""
    config_version: int | None = None
    pending_config_version: int | None = None
    last_updated_timestamp: int | None = None
    creator: str | None = None
    foundation_model: bool = False
    """Pay-per-token / system endpoint: no permissions API, no config updates by users."""
    stopped: bool = False
    pending_since_ms: int | None = None
    """When the pending config's rollout started (epoch ms), while one is pending."""
    failure: str = ""
    """Why the last rollout failed: each failed served entity's deployment message."""
    serving: str = ""
    """What the active config serves, e.g. `config_version 3 (champion 90%, challenger 10%)`;
    empty when no config is active."""
    rollout_tag: str | None = None
    """The raw value of the ROLLOUT_TAG, when a traffic rollout left its state on the endpoint."""
    deployments: tuple[Deployment, ...] = ()
    """Each served entity's deployment, the pending config's first (from a fresh GET; a saved
    plan keeps only `failure`)."""

    @property
    def updating(self) -> bool:
        return self.config_update is ConfigUpdate.IN_PROGRESS

    @property
    def failed(self) -> bool:
        """The last update failed or was canceled."""
        return self.config_update in (ConfigUpdate.UPDATE_FAILED, ConfigUpdate.UPDATE_CANCELED)

    @property
    def health(self) -> Health:
        if self.updating:
            return Health.UPDATING
        if self.failed:
            return Health.UPDATE_FAILED
        if self.stopped:
            return Health.STOPPED
        return Health.READY if self.ready == "READY" else Health.NOT_READY


@dataclass(frozen=True, slots=True, kw_only=True)
class SmokeCheck:
    """One `smoke:` check of an endpoint file: a query apply sends once the rollout is READY,
    and what its answer must be. servingops' own: never sent to the API, never a difference.

    `request` is the JSON body (a `request_file` is read into it when the file is loaded);
    `json` pairs an RFC 9535 JSONPath with the value its single match must equal.
    """

    name: str
    request: Body
    entity: str | None = None
    status: int = 200
    max_latency_ms: int | None = None
    json: tuple[tuple[str, Any], ...] = ()
    request_file: str | None = None
    """The file the request was read from, as written (for messages), or None when inline."""
    source: SourceRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    """A difference an endpoint's `ignore_changes` keeps out of the plan: the file's value and
    the live one (which stays), at a canonical path. Either may be ABSENT."""

    path: Path
    desired: Any
    live: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One endpoint in canonical form. Desired ones carry a source; live ones carry a status."""

    name: str
    body: Body
    source: SourceRef | None = None
    status: LiveStatus | None = None
    fingerprint: Fingerprint | None = None
    write_only: Body = field(default_factory=dict)
    """Input-only values the API accepts but never echoes (sent, never compared)."""
    positions: Mapping[Path, SourceRef] = field(default_factory=dict)
    """Desired only: where top-level fields were written, for located plan problems."""
    smoke: tuple[SmokeCheck, ...] = ()
    """Desired only: the file's smoke checks, run by apply once a rollout is READY."""
    ignore: tuple[tuple[str, ...], ...] = ()
    """Desired only: the file's `ignore_changes`, as canonical path patterns ("*": any key)."""
    ignored: tuple[Ignored, ...] = ()
    """Desired, once resolved against live: the differences `ignore` kept out of the plan."""
    rollout: RolloutSpec | None = None
    """Desired only: how traffic moves to the file's split (the document's rollout block)."""

    @property
    def live_status(self) -> LiveStatus:
        """A live endpoint's status (normalize.normalize_live sets one on every live endpoint)."""
        assert self.status is not None, f"endpoint {self.name!r} is not a live endpoint"
        return self.status

    def locate(self, path: Path) -> SourceRef | None:
        """Where the field at `path` (or its top-level block) was written; else the document."""
        return self.positions.get(path[:1], self.source) if path else self.source


# --------------------------------------------------------------------------------------------
# Plans


class ActionKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    WAIT = "wait"
    """Change nothing; wait until an update already in progress settles (Plan.waits only)."""

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    ActionKind.CREATE: "+",
    ActionKind.UPDATE: "~",
    ActionKind.REPLACE: "-/+",
    ActionKind.DELETE: "-",
    ActionKind.WAIT: "...",
}


class Carrier(enum.StrEnum):
    """The API call that carries a field change to the workspace."""

    CONFIG = "config"  # PUT /serving-endpoints/{name}/config (asynchronous, versioned)
    TAGS = "tags"  # PATCH .../tags
    AI_GATEWAY = "ai_gateway"  # PUT .../ai-gateway (full replace)
    NOTIFICATIONS = "notifications"  # PATCH .../notifications
    PERMISSIONS = "permissions"  # PUT /permissions/serving-endpoints/{id}
    TELEMETRY = "telemetry"  # PATCH .../telemetry-config (rejected while updating)
    METRICS_EXPORT = "metrics_export"  # PATCH .../system-metrics-export-state
    RUN_STATE = "run_state"  # POST .../config:stop or .../config:start
    RECREATE = "recreate"  # no in-place update exists: delete and create
    NONE = "none"  # cannot be changed at all on an existing endpoint: a plan error


class _Absent(enum.Enum):
    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent.ABSENT
"""The missing side of a FieldChange: distinct from a real None or empty value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """One changed leaf or subtree. `before`/`after` are ABSENT when the field is added/removed."""

    path: Path
    before: Any
    after: Any
    carrier: Carrier


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """
    CREATE:  before is None, after is the desired endpoint, changes is empty.
    UPDATE:  before is live, after is desired, changes is non-empty and none needs a recreate.
    REPLACE: before is live, after is desired; `reasons` says which fields force it.
    DELETE:  before is live, after is None (only planned with prune, only for owned endpoints).
    WAIT:    before is live, after is None: an update already rolling out that apply waits for.
    `adopt` is true when the live endpoint lacks this project's ownership tag and gains it.
    """

    kind: ActionKind
    name: str
    before: Endpoint | None
    after: Endpoint | None
    changes: tuple[FieldChange, ...] = ()
    reasons: tuple[str, ...] = ()
    adopt: bool = False
    rollout: RolloutPlan | None = None
    """How the config change moves traffic, when the file asks for a gradual rollout (UPDATE;
    an UPDATE may then have no field changes: a rollout in progress still has work). A WAIT
    carries one when a rollout was rolled back earlier and stays held."""

    @property
    def carriers(self) -> tuple[Carrier, ...]:
        seen = {c.carrier for c in self.changes}
        return tuple(c for c in Carrier if c in seen)

    @property
    def fingerprint(self) -> Fingerprint | None:
        return self.before.fingerprint if self.before else None


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasPin:
    """A served entity's `entity_version: "@alias"`, resolved to a version when the plan was made.

    Resolved versions are part of the plan (design.md section 8): the desired endpoint carries
    `version`, renderers show `@alias (version)`, and a saved plan keeps the pin, so apply serves
    the reviewed version even when the alias has moved since. `current` is where the alias
    pointed when this run read it (None when it could not be read); it differs from `version`
    only when an earlier, saved plan pinned the version.
    """

    endpoint: str
    entity: str
    """The served entity's name (its key in the canonical body)."""
    index: int
    """Its position in the document's `config.served_entities` list."""
    model: str
    alias: str
    """Without the leading `@`."""
    version: str
    current: str | None = None

    @property
    def display(self) -> str:
        return f"@{self.alias} ({self.version})"

    @property
    def path(self) -> Path:
        """Where the version sits in the canonical body."""
        return ("config", "served_entities", self.entity, "entity_version")

    @property
    def moved(self) -> bool:
        return self.current is not None and self.current != self.version


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The full comparison of desired and live state; renderers and the applier read only this.

    `unchanged` are desired endpoints that match live; `orphaned` are live endpoints owned by
    this project but absent from the files (deleted only with prune); `unmanaged` are live
    endpoints without any ownership tag, `foreign` those owned by another project, as
    (name, owner) pairs (neither is ever touched); `updating` names endpoints whose pending
    config is still rolling out (not drift); `waits` are the WAIT actions for those of them
    that need no change, which apply waits out before it reports success; `problems` are
    changes with no API path or not allowed by the policy, and pre-flight findings about what
    the files refer to in the workspace (preflight.py: a missing model version, secret or
    principal is an error, a check the caller may not perform a warning); any error makes the
    plan unappliable. `pins` are the model aliases resolved for every desired endpoint.

    The execution policy is part of the plan: `prune` (delete actions may be planned) and
    `allow_replace` (replace actions may be planned); apply never widens it.
    """

    actions: tuple[Action, ...]
    unchanged: tuple[str, ...] = ()
    orphaned: tuple[str, ...] = ()
    unmanaged: tuple[str, ...] = ()
    foreign: tuple[tuple[str, str], ...] = ()
    updating: tuple[str, ...] = ()
    waits: tuple[Action, ...] = ()
    problems: tuple[Diagnostic, ...] = ()
    owner: str = ""
    target: str = ""
    prune: bool = False
    allow_replace: bool = False
    live: Mapping[str, LiveStatus] = field(default_factory=dict)
    """Health and state of every live endpoint the plan paired with a file or may prune."""
    ignored: Mapping[str, tuple[Ignored, ...]] = field(default_factory=dict)
    """Per endpoint, the live differences its `ignore_changes` keeps (shown, never applied)."""
    observed_at_ms: int | None = None
    """When live state was read (epoch ms), so renderers can say how long an update has run."""
    pins: tuple[AliasPin, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.actions

    @property
    def applyable(self) -> bool:
        return not any(p.is_error for p in self.problems)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)

    @property
    def rollouts(self) -> tuple[tuple[str, RolloutPlan], ...]:
        """(endpoint, rollout) for every action and wait that carries one, by endpoint name."""
        found = [(a.name, a.rollout) for a in (*self.actions, *self.waits) if a.rollout]
        return tuple(sorted(found, key=lambda pair: pair[0]))

    @property
    def summary(self) -> tuple[int, int, int]:
        """(to add, to change, to destroy); a replace counts once in add and once in destroy."""
        replace = self.count(ActionKind.REPLACE)
        return (
            self.count(ActionKind.CREATE) + replace,
            self.count(ActionKind.UPDATE),
            self.count(ActionKind.DELETE) + replace,
        )


# --------------------------------------------------------------------------------------------
# Progressive delivery (rollout.py computes these; design.md section 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    """Thresholds a rollout step must meet over its observation window to go on.

    `max_error_rate` is the share of 5xx answers; `max_p99_ms` the 99th percentile of latency;
    `min_requests` the traffic needed before either can be judged. None: not checked.
    """

    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    min_requests: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutSpec:
    """A file's validated `rollout` block: the entity that takes traffic, its share after each
    step (strictly increasing, ending at the file's own share), the pause after each step, the
    gates and what to do when one fails (`rollback`: restore the split from before)."""

    entity: str
    steps: tuple[int, ...]
    pause_seconds: float
    gates: Gates = field(default_factory=Gates)
    on_failure: str = "rollback"


class RolloutStatus(enum.StrEnum):
    """Where a rollout stands when the plan is made."""

    PENDING = "pending"  # not started: apply sets the first step
    IN_PROGRESS = "in_progress"  # a step is live (or being set); apply continues from there
    RESTART = "restart"  # in progress toward another version: starts again at the first step
    ROLLING_BACK = "rolling_back"  # a rollback was started and not finished: apply finishes it
    HELD = "held"  # rolled back earlier for this same target: nothing moves until the file does
    ABANDONED = "abandoned"  # the file no longer asks for steps: one update, the state is cleared

    @property
    def sets_steps(self) -> bool:
        """Apply still sets steps (not when held, rolling back or abandoned)."""
        return self not in (RolloutStatus.HELD, RolloutStatus.ROLLING_BACK, RolloutStatus.ABANDONED)


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutStep:
    """One step: the entity's share after it, and the whole split it sets."""

    share: int
    split: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPlan:
    """What apply may do to move one endpoint's traffic, decided at plan time.

    `steps` is the schedule from `before` (the split restored on failure) to `after` (the
    file's split); `done` counts the steps whose share is live already; `judged` says whether
    the live position has passed its gates (a step that is live but not judged yet waits out
    the rest of its pause, from `live_since_ms`). `kept` names entities the file removes: they
    keep serving their share until the last step and stay deployed at 0% until its gates pass,
    so a rollback can always restore `before`. `target` and `attempt` are digests of the
    entity's desired definition and of the whole rollout; `failure` says why a rollback
    happened (HELD, ROLLING_BACK), `reason` why a rollout is ABANDONED or restarts.
    """

    entity: str
    status: RolloutStatus
    before: Mapping[str, int]
    after: Mapping[str, int]
    steps: tuple[RolloutStep, ...]
    pause_seconds: float
    gates: Gates
    target: str
    attempt: str
    done: int = 0
    judged: bool = True
    live_share: int = 0
    live_since_ms: int | None = None
    kept: tuple[str, ...] = ()
    failure: str = ""
    failed_share: int | None = None
    reason: str = ""

    @property
    def remaining(self) -> tuple[RolloutStep, ...]:
        """The steps apply still has to set (none when held, rolling back or abandoned)."""
        return self.steps[self.done :] if self.status.sets_steps else ()

    @property
    def pauses_left(self) -> int:
        """Pauses still to wait out: one per remaining step, plus the live one if unjudged."""
        if not self.status.sets_steps:
            return 0
        return len(self.remaining) + (0 if self.judged else 1)


def render_pointer(path: Path) -> str:
    """`("config", "served_entities", 0, "name")` -> `config.served_entities[0].name`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
