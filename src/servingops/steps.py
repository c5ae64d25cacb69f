"""One endpoint's part of apply: the ordered, idempotent calls for each kind of action.

Update: wait out an update already in progress; tags, AI gateway, notifications, permissions,
telemetry and the metrics export state; then PUT config and wait until it settles. Create: POST
with the ownership tag, permissions as soon as the id exists, then wait. Replace: delete, wait
until gone, create. Delete: only when the live endpoint carries this project's ownership tag.
Wait: only wait until an update already in progress settles, and check it ended READY.
409 RESOURCE_CONFLICT is waited out and retried; 429 holds writes back; the deadline turns
waiting into TIMED_OUT. Each run records which calls landed, so a failure can say so.
Every answer that describes the endpoint is parsed once, where its call returns
(normalize.normalize_live): the steps read the typed live Endpoint, never a raw body.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, assert_never

from . import bodies, fields, normalize, rollout_steps, smoke
from .apply_model import (
    ActionOutcome,
    EndpointAPI,
    Observer,
    Phase,
    Progress,
    QueryAPI,
    Status,
)
from .errors import Conflict, RateLimited, ReconcilerError, WaitTimeout
from .model import OWNER_TAG, Action, ActionKind, Carrier, Endpoint, LiveStatus
from .render import health
from .waiting import WaitPolicy, WriteScheduler, format_duration

T = TypeVar("T")
_DEADLINE_TOLERANCE = 1e-6  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What every endpoint's run shares within one apply."""

    api: EndpointAPI
    owner: str
    caller: str | None
    observer: Observer
    wait: WaitPolicy
    scheduler: WriteScheduler
    no_wait: bool
    queries: QueryAPI | None = None
    """Sends the smoke checks' queries; None runs none (they are reported as not run)."""
    skip_smoke: bool = False
    max_steps: int | None = None
    """Traffic rollouts: advance each at most this many steps and never wait out a pause."""


# The calls of an update, in the order `_update` makes them.
CALLS = {
    Carrier.TAGS: "PATCH tags",
    Carrier.AI_GATEWAY: "PUT ai-gateway",
    Carrier.NOTIFICATIONS: "PATCH notifications",
    Carrier.PERMISSIONS: "PUT permissions",
    Carrier.TELEMETRY: "PATCH telemetry-config",
    Carrier.METRICS_EXPORT: "PATCH system-metrics-export-state",
    Carrier.CONFIG: "PUT config",
}
# Carrier.RUN_STATE: config:start goes before PUT config, config:stop after it settles.
START, STOP = "POST config:start", "POST config:stop"


# --------------------------------------------------------------------------------------------
# Messages (pure)


def failure_message(name: str, status: LiveStatus) -> str:
    """Why a rollout failed, as a block: a first line, each failed served entity's deployment
    message (and any pending one's), what is still serving, and where the build logs are."""
    details: list[str] = []
    entities: list[str] = []
    for deployment in status.deployments:
        entity, message = deployment.entity, deployment.message
        failed = deployment.state == "DEPLOYMENT_FAILED"
        if entity in entities or not (failed or (message and deployment.pending)):
            continue
        entities.append(entity)
        details.append(f"{entity}: {message or deployment.state}")
    logs = entities[0] if entities else "<served-entity>"
    serving = status.serving or "nothing (no config version has ever become ready)"
    return "\n".join(
        [
            f"update failed (config_update={status.config_update.value})",
            *details,
            f"Still serving: {serving}",
            f"Build logs: databricks serving-endpoints build-logs {name} {logs} "
            f"(GET /api/2.0/serving-endpoints/{name}/served-models/{logs}/build-logs)",
        ]
    )


# --------------------------------------------------------------------------------------------
# One action


class Failed(Exception):
    """An action cannot go on; the message is the outcome's (rollout_steps raises it too)."""


class _AlreadyApplied(Exception):
    """A retried write turned out to be live already (its first attempt was accepted)."""

    def __init__(self, live: Endpoint) -> None:
        super().__init__("already applied")
        self.live = live


class EndpointRun:
    """Runs one action through its steps, counting polls and reporting progress."""

    def __init__(self, action: Action, ctx: Context) -> None:
        self.action = action
        self.name = action.name
        self.ctx = ctx
        self.began = ctx.wait.clock()
        self.deadline = self.began + ctx.wait.timeout
        self.polls = 0
        self.phase: Phase | None = None
        self.last: Endpoint | None = None
        self.overshoot: float | None = None
        self.planned = _planned_calls(action)
        self.landed: list[str] = []
        self.calling = ""
        self.smoke = ""
        self.pending = ""  # a rollout left for a later run: when to come back
        self.note = ""  # what a traffic rollout was doing, for an interruption

    async def run(self) -> ActionOutcome:
        self.ctx.observer.started(self.action)
        try:
            await self._dispatch()
            await self._smoke()
        except Failed as e:
            outcome = self._outcome(Status.FAILED, str(e))
        except WaitTimeout as e:
            outcome = self._outcome(Status.TIMED_OUT, str(e))
        except ReconcilerError as e:  # API errors name the call that failed
            outcome = self._outcome(Status.FAILED, str(e))
        else:
            message = self.pending or ("not waited for" if self.ctx.no_wait else "")
            outcome = self._outcome(Status.SUCCEEDED, message)
        self.ctx.observer.finished(self.action, outcome)
        return outcome

    def interrupted(self) -> ActionOutcome:
        doing = f" while {self.phase.value.replace('_', ' ')}" if self.phase else ""
        message = (
            f"interrupted{doing}; the workspace may still be applying it; re-run apply to resume"
        )
        if self.note:  # a traffic rollout between its calls: the live split is one of its steps
            message = f"interrupted {self.note} (the split is consistent); re-run apply to resume"
        outcome = self._outcome(Status.INTERRUPTED, message)
        self.ctx.observer.finished(self.action, outcome)
        return outcome

    def _outcome(self, status: Status, message: str) -> ActionOutcome:
        last = self.last.live_status if self.last else None
        return ActionOutcome(
            name=self.name,
            kind=self.action.kind,
            status=status,
            message=message,
            elapsed=self.ctx.wait.clock() - self.began,
            polls=self.polls,
            config_version=last.config_version if last else None,
            ready=last.ready if last else "",
            overshoot=self.overshoot,
            waited=not self.ctx.no_wait,
            landed=tuple(self.landed) if status is not Status.SUCCEEDED else (),
            not_sent=tuple(c for c in self.planned if c not in self.landed and c != self.calling)
            if status is not Status.SUCCEEDED
            else (),
            smoke=self.smoke if status is Status.SUCCEEDED else "",
            pending=self.pending if status is Status.SUCCEEDED else "",
        )

    async def _dispatch(self) -> None:
        kind = self.action.kind
        match kind:
            case ActionKind.CREATE:
                await self._create()
            case ActionKind.UPDATE:
                await self._update()
            case ActionKind.REPLACE:
                await self._replace()
            case ActionKind.DELETE:
                await self._delete()
            case ActionKind.WAIT:
                await self._wait()
            case _:
                assert_never(kind)

    # -- the four kinds ------------------------------------------------------------------------

    async def _create(self) -> None:
        after = self._after()
        body = bodies.create_body(after, owner=self.ctx.owner)
        try:
            live = await self._write(
                "POST create", lambda: _parsed(self.ctx.api.create_endpoint(body)), budgeted=True
            )
        except Conflict as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # An earlier attempt may have been accepted before its answer was lost.
            live = await self._adopt_existing()
        self.last = live
        if "permissions" in after.body:
            await self._set_permissions(live.live_status.endpoint_id, after)
        if self.ctx.no_wait:
            return
        await self._await_rollout(Phase.CREATING, known=live)
        if after.body.get("state") == "stopped":
            await self._stop()

    async def _update(self) -> None:
        after = self._after()
        carriers = self.action.carriers
        live = await self._settled(Phase.IN_FLIGHT)
        if live is None:
            raise Failed("the endpoint no longer exists; run plan again")
        if Carrier.TAGS in carriers:
            add, delete = bodies.tag_patch(self.action.before, after, owner=self.ctx.owner)
            await self._write(
                CALLS[Carrier.TAGS],
                lambda: self.ctx.api.patch_tags(self.name, add=add, delete=delete),
            )
        if Carrier.AI_GATEWAY in carriers:
            # Read from the fresh GET: an inference table is disabled first only while the
            # live one is enabled.
            before = live.body.get("ai_gateway", {})
            for gateway in bodies.ai_gateway_requests(before, after.body.get("ai_gateway", {})):
                await self._write(
                    CALLS[Carrier.AI_GATEWAY],
                    functools.partial(self.ctx.api.put_ai_gateway, self.name, gateway),
                )
        if Carrier.NOTIFICATIONS in carriers:
            emails = bodies.notifications_request(after)
            await self._write(
                CALLS[Carrier.NOTIFICATIONS],
                lambda: self.ctx.api.patch_notifications(self.name, emails),
            )
        if Carrier.PERMISSIONS in carriers:
            await self._set_permissions(live.live_status.endpoint_id, after)
        if Carrier.TELEMETRY in carriers:
            telemetry = bodies.telemetry_request(after.body.get("telemetry_config", {}))
            await self._write(
                CALLS[Carrier.TELEMETRY], lambda: self.ctx.api.patch_telemetry(self.name, telemetry)
            )
        if Carrier.METRICS_EXPORT in carriers:
            state = str(after.body.get("uc_system_metrics_export_state", ""))
            await self._write(
                CALLS[Carrier.METRICS_EXPORT],
                lambda: self.ctx.api.patch_metrics_export(self.name, state),
            )
        if _starts(self.action):
            await self._start()
        if self.action.rollout is not None:
            await rollout_steps.drive(self, live)  # the config change, step by step
        elif Carrier.CONFIG in carriers:
            await self._update_config(after, live)
        if _stops(self.action):
            await self._stop()

    async def _replace(self) -> None:
        live = await self._read()
        if live is not None:
            owner = live.live_status.owner
            if owner is not None and owner != self.ctx.owner:
                raise Failed(f'refusing to replace: it is owned by "{owner}"; nothing was changed')
            await self._write("DELETE", lambda: self.ctx.api.delete_endpoint(self.name))
            await self._poll(Phase.DELETING, lambda live: live is None)
        await self._create()

    async def _delete(self) -> None:
        live = await self._read()
        if live is None:
            return  # already gone: the goal of a delete
        owner = live.live_status.owner
        if owner != self.ctx.owner:
            found = f'"{owner}"' if owner is not None else "no ownership tag"
            raise Failed(
                f"refusing to delete: it carries {found}, not {OWNER_TAG}={self.ctx.owner}; "
                "nothing was changed"
            )
        self.last = live
        await self._write("DELETE", lambda: self.ctx.api.delete_endpoint(self.name))
        if not self.ctx.no_wait:
            await self._poll(Phase.DELETING, lambda live: live is None)

    async def _wait(self) -> None:
        live = await self._settled(Phase.IN_FLIGHT)
        if live is None:
            raise Failed("the endpoint was deleted while apply waited for its rollout")
        status = live.live_status
        if status.failed:
            raise Failed(failure_message(self.name, status))
        ready = status.ready
        if ready != "READY":
            raise Failed(
                f"the rollout finished but the endpoint is not ready (ready={ready or '?'}); "
                f"see servingops status {self.name}"
            )
        if self.action.rollout is not None:
            await rollout_steps.drive(self, live)  # a held traffic rollout: reported, not moved

    # -- for rollout_steps, which sends a config change step by step through this run --------

    async def send_config(self, after: Endpoint, live: Endpoint) -> None:
        """PUT `after`'s config unless it is live already, and wait until it settles (Failed
        with the deployment details when it ends UPDATE_FAILED). Each gets a full timeout."""
        self.deadline = self.ctx.wait.clock() + self.ctx.wait.timeout
        await self._update_config(after, live)

    async def settled(self) -> Endpoint | None:
        """The endpoint once no update is in progress (None when it is gone)."""
        self.deadline = self.ctx.wait.clock() + self.ctx.wait.timeout
        return await self._settled(Phase.IN_FLIGHT)

    async def write(self, label: str, call: Callable[[], Awaitable[T]]) -> T:
        """One idempotent write (see `_write`), recorded as landed; a full timeout for its
        retries (it may follow a pause longer than the timeout)."""
        self.deadline = self.ctx.wait.clock() + self.ctx.wait.timeout
        return await self._write(label, call)

    # -- smoke checks --------------------------------------------------------------------------

    async def _smoke(self) -> None:
        """Run the plan's smoke checks once the rollout is READY; any failure fails the action
        (and so cancels the run's prunes), saying what failed and what is serving."""
        checks = smoke.planned(self.action)
        if not checks:
            return
        count = f"{len(checks)} smoke check{'s' if len(checks) > 1 else ''}"
        if self.ctx.skip_smoke:
            self.smoke = f"{count} SKIPPED (--skip-smoke)"
            return
        if self.ctx.no_wait or self.ctx.queries is None:
            self.smoke = f"{count} not run (--no-wait: the rollout was not waited for)"
            return
        ready = self.last.live_status.ready if self.last else ""
        if ready != "READY":
            raise Failed(
                f"the rollout finished but the endpoint is not READY (ready={ready or '?'}), so "
                f"its {count} could not run; see servingops status {self.name}"
            )
        failures: list[str] = []
        passed: list[str] = []
        for check in checks:
            answer = await self.ctx.queries.query(
                self.name, check.request, entity=check.entity, clock=self.ctx.wait.clock
            )
            problems = smoke.judge(
                check,
                status=answer.status,
                latency_ms=answer.latency_ms,
                body=answer.body,
                text=answer.text,
            )
            if problems:
                failures.append(f'smoke check "{check.name}" failed: ' + "; ".join(problems))
            else:
                passed.append(f"{check.name} (HTTP {answer.status}, {round(answer.latency_ms)} ms)")
        if failures:
            live = await self._read()
            status = live.live_status if live is not None else None
            serving = (
                health.describe(status, observed_at_ms=int(self.ctx.wait.wall_clock() * 1000))
                if status is not None
                else "the endpoint no longer exists"
            )
            raise Failed(
                "\n".join(
                    [
                        *failures,
                        f"Live: {serving}",
                        "The change is live: fix the model or the check and apply again, or "
                        "revert the change in git and apply (servingops query and servingops "
                        "logs help to look closer)",
                    ]
                )
            )
        self.smoke = "smoke passed: " + ", ".join(passed)

    # -- steps ---------------------------------------------------------------------------------

    def _after(self) -> Endpoint:
        if self.action.after is None:
            raise Failed("the plan has no desired state for this endpoint")
        return self.action.after

    async def _adopt_existing(self) -> Endpoint:
        live = await self._read()
        if live is None or live.live_status.owner != self.ctx.owner:
            raise Failed(
                "it already exists and is not managed by this project (no "
                f"{OWNER_TAG}={self.ctx.owner} tag); nothing was changed; run plan again"
            )
        return live

    async def _set_permissions(self, endpoint_id: str, after: Endpoint) -> None:
        if not endpoint_id:
            raise Failed("the workspace returned no endpoint id, so permissions cannot be set")
        acl = bodies.acl_request(after.body.get("permissions", {}), caller=self.ctx.caller)
        await self._write(
            CALLS[Carrier.PERMISSIONS], lambda: self.ctx.api.set_permissions(endpoint_id, acl)
        )

    async def _start(self) -> None:
        """config:start rolls the active config out again as a new version; wait for it."""
        live = await self._write(
            START, lambda: _parsed(self.ctx.api.start_endpoint(self.name)), budgeted=True
        )
        self.last = live
        if not self.ctx.no_wait:
            await self._await_rollout(Phase.UPDATING, known=live)

    async def _stop(self) -> None:
        live = await self._settled(Phase.IN_FLIGHT)  # a rollout before it must have finished
        if live is None or live.live_status.stopped:
            return
        self.last = await self._write(STOP, lambda: _parsed(self.ctx.api.stop_endpoint(self.name)))

    async def _update_config(self, after: Endpoint, live: Endpoint) -> None:
        config = after.body.get("config")
        if not isinstance(config, Mapping):
            raise Failed("the desired state has no config to send")
        if _config_applied(live, after):
            # An earlier run's update already went through (crash or lost answer).
            await self._record_write_only(live, after)
            return
        request = bodies.config_request(config, write_only=after.write_only)
        try:
            answer = await self._write(
                CALLS[Carrier.CONFIG],
                lambda: _parsed(self.ctx.api.update_config(self.name, request)),
                budgeted=True,
                applied=lambda fresh: _config_applied(fresh, after),
            )
        except _AlreadyApplied as e:
            answer = e.live  # our own earlier attempt was accepted; its rollout is over
        self.last = answer
        if not self.ctx.no_wait:
            await self._await_rollout(Phase.UPDATING, known=answer)
        await self._record_write_only(live, after)

    async def _record_write_only(self, live: Endpoint, after: Endpoint) -> None:
        """Tag the endpoint with the write-only values the config update sent (GET never
        returns them), once the rollout has landed (with --no-wait: once it was accepted)."""
        value = normalize.applied_tag_value(after.write_only)
        before = live.write_only.get("applied")  # the APPLIED_TAG (normalize_live)
        if value == before or (before is None and not value):
            return
        tag = [{"key": fields.APPLIED_TAG, "value": value}]
        await self._write(
            "PATCH tags (applied digest)",
            lambda: self.ctx.api.patch_tags(self.name, add=tag, delete=[]),
        )

    async def _await_rollout(self, phase: Phase, *, known: Endpoint) -> None:
        rolling_out = not _not_updating(known)
        live = await self._poll(phase, _not_updating, known=known)
        if live is None:
            raise Failed("the endpoint disappeared while apply waited for it")
        if live.live_status.failed:
            raise Failed(failure_message(self.name, live.live_status))
        if rolling_out:
            self._measure_overshoot(live.live_status)

    async def _settled(self, phase: Phase) -> Endpoint | None:
        return await self._poll(phase, _not_updating)

    async def _read(self) -> Endpoint | None:
        """GET the endpoint, parsed once here (None when it does not exist)."""
        raw = await self.ctx.api.get_endpoint(self.name)
        return normalize.normalize_live(raw) if raw is not None else None

    async def _write(
        self,
        label: str,
        call: Callable[[], Awaitable[T]],
        *,
        budgeted: bool = False,
        applied: Callable[[Endpoint], bool] | None = None,
    ) -> T:
        """One write (`label`, e.g. "PATCH tags"), retried until it is accepted: 409
        RESOURCE_CONFLICT is waited out (and _AlreadyApplied raised when `applied` says the
        change is live by then), a 429 holds the budgeted writes back. The action's deadline
        bounds the retries. A write that returns is recorded as landed."""
        self.calling = label
        while True:
            if budgeted:
                waited = await self.ctx.scheduler.acquire()
                if waited > 0:
                    self._report(Phase.THROTTLED, self.last)
            try:
                result = await call()
            except Conflict as e:
                if e.error_code != "RESOURCE_CONFLICT":
                    raise
                fresh = await self._settled(Phase.IN_FLIGHT)
                if fresh is None:
                    raise Failed("the endpoint disappeared while apply waited for it") from None
                if applied is not None and applied(fresh):
                    self._landed(label)
                    raise _AlreadyApplied(fresh) from None
            except RateLimited as e:
                pause = e.retry_after or self.ctx.wait.min_interval
                self.ctx.scheduler.hold(pause)
                self._report(Phase.THROTTLED, self.last)
                if not budgeted:
                    await self._sleep(pause)
            else:
                self._landed(label)
                return result
            self._check_deadline()

    def _landed(self, label: str) -> None:
        self.landed.append(label)
        self.calling = ""

    async def _poll(
        self,
        phase: Phase,
        done: Callable[[Endpoint | None], bool],
        *,
        known: Endpoint | None = None,
    ) -> Endpoint | None:
        """GET the endpoint until `done`; `known` is a fresh answer that stands in for the first
        GET. Progress is reported for every observation made while actually waiting."""
        self.phase = phase
        started = self.ctx.wait.clock()
        live = known
        fetch = known is None
        waiting = False
        while True:
            if fetch:
                live = await self._read()
                self.polls += 1
                if live is not None:
                    self.last = live
            fetch = True
            finished = done(live)
            if waiting or not finished:
                self._report(phase, live)
            if finished:
                return live
            self._check_deadline()
            waiting = True
            await self._sleep(self.ctx.wait.delay(self.ctx.wait.clock() - started))

    async def _sleep(self, seconds: float) -> None:
        remaining = self.deadline - self.ctx.wait.clock()
        await self.ctx.wait.sleep(max(0.0, min(seconds, remaining)))

    def _check_deadline(self) -> None:
        now = self.ctx.wait.clock()
        # `_sleep` stops exactly at the deadline; compare with a tolerance, because
        # began + timeout - began need not equal timeout in floating point, and an exact
        # comparison could then loop forever on zero-length sleeps.
        if now < self.deadline - _DEADLINE_TOLERANCE:
            return
        elapsed = now - self.began
        update = self.last.live_status.reported_update if self.last else ""
        raise WaitTimeout(
            "still updating; re-run apply to resume (waited "
            f"{format_duration(elapsed)}, config_update={update or '?'}; "
            "nothing was deleted)"
        )

    def _report(self, phase: Phase, live: Endpoint | None) -> None:
        elapsed = self.ctx.wait.clock() - self.began
        self.ctx.observer.progress(self.action, _progress(phase, live, elapsed))

    def _measure_overshoot(self, status: LiveStatus) -> None:
        finished_ms = status.last_updated_timestamp
        if finished_ms is not None:
            self.overshoot = max(0.0, self.ctx.wait.wall_clock() - finished_ms / 1000.0)


# --------------------------------------------------------------------------------------------
# Small pure helpers


def _planned_calls(action: Action) -> tuple[str, ...]:
    """The writes an action makes, in order (for "landed" / "not sent" in failure reports)."""
    match action.kind:
        case ActionKind.UPDATE:
            carriers = action.carriers
            calls = [label for carrier, label in CALLS.items() if carrier in carriers]
            if _starts(action):
                calls.insert(len(calls) - (Carrier.CONFIG in carriers), START)
            elif _stops(action):
                calls.append(STOP)
            return tuple(calls)
        case ActionKind.CREATE | ActionKind.REPLACE:
            managed = action.after is not None and "permissions" in action.after.body
            create = ("POST create", *((CALLS[Carrier.PERMISSIONS],) if managed else ()))
            return ("DELETE", *create) if action.kind is ActionKind.REPLACE else create
        case ActionKind.DELETE:
            return ("DELETE",)
        case ActionKind.WAIT:
            return ()
        case _:
            assert_never(action.kind)


def _run_state(action: Action) -> Any:
    return action.after.body.get("state") if action.after is not None else None


def _starts(action: Action) -> bool:
    """An update that sets the run state to running: config:start goes before PUT config."""
    return Carrier.RUN_STATE in action.carriers and _run_state(action) == "running"


def _stops(action: Action) -> bool:
    """An update that ends stopped: config:stop once the config settled. A rollout may start a
    stopped endpoint: one that is to stay stopped (written so, or left unmanaged while
    stopped) is stopped again, never left running as a side effect."""
    changes = {Carrier.RUN_STATE, Carrier.CONFIG} & set(action.carriers)
    return _run_state(action) == "stopped" and bool(changes)


def _progress(phase: Phase, live: Endpoint | None, elapsed: float) -> Progress:
    if live is None:
        return Progress(phase=phase, elapsed=elapsed)
    status = live.live_status
    return Progress(
        phase=phase,
        elapsed=elapsed,
        config_update=status.reported_update,
        ready=status.ready,
        config_version=status.config_version,
        pending_config_version=status.pending_config_version,
    )


def _not_updating(live: Endpoint | None) -> bool:
    return live is None or not live.live_status.updating


def _config_applied(live: Endpoint, after: Endpoint) -> bool:
    """Whether the live (or rolling-out) config already is the desired one."""
    return live.body.get("config") == after.body.get("config")


async def _parsed(answer: Awaitable[Mapping[str, Any]]) -> Endpoint:
    """A write's answer that describes the endpoint, parsed once where the call returns."""
    return normalize.normalize_live(await answer)
