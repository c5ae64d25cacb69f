"""Execute a reviewed Plan against a workspace in a safe order, and report what happened.

Per endpoint (design.md section 5): wait out an update already in progress; the fast independent
calls (tags, AI gateway, notifications, permissions); then the config update and a wait until
`config_update` settles. A create sets permissions as soon as the id exists, before waiting. A
replace (only when the plan allows it) deletes, waits until the endpoint is gone, and creates. A
wait action only waits for an update already rolling out. Deletes (prunes) run last, and only
when everything else succeeded and is READY; each re-checks the ownership tag on the live
endpoint first. Endpoints run concurrently; one failure never stops the others (but cancels
the prunes). Every step is idempotent, so re-running apply after a failure,
a timeout or a crash converges. The applier executes actions; it never re-plans. Time, sleeping
and write pacing come from waiting.py; progress goes out through an Observer, never print.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from . import steps
from .apply_model import (
    ActionOutcome,
    ApplyResult,
    EndpointAPI,
    NullObserver,
    Observer,
    QueryAPI,
    Status,
)
from .errors import ApplyError
from .model import Action, ActionKind, Plan
from .waiting import DEFAULT_WAIT, WaitPolicy, WriteScheduler

NULL_OBSERVER = NullObserver()


# --------------------------------------------------------------------------------------------
# Entry point


async def apply(
    plan: Plan,
    api: EndpointAPI,
    *,
    owner: str,
    caller: str | None,
    observer: Observer = NULL_OBSERVER,
    wait: WaitPolicy = DEFAULT_WAIT,
    scheduler: WriteScheduler | None = None,
    parallelism: int = 8,
    no_wait: bool = False,
    queries: QueryAPI | None = None,
    skip_smoke: bool = False,
    max_steps: int | None = None,
) -> ApplyResult:
    """Run every action of `plan`, at most `parallelism` endpoints at a time; prunes last.

    Creates, updates, replaces and the plan's waits run first. Deletes (prunes) start only once
    all of those succeeded and their endpoints are READY; any failure, timeout or --no-wait
    rollout cancels every prune of the run (reported as SKIPPED with the reason).

    `caller` is the ACL principal key of the identity running apply (normalize.caller_key); it
    keeps CAN_MANAGE in every ACL apply writes. `scheduler` defaults to the standard budget on
    `wait`'s clock. When the task running apply is cancelled (Ctrl-C, SIGTERM), no new action
    starts, the ones in flight are cancelled and reported as INTERRUPTED, the rest as SKIPPED,
    and the result (with `interrupted=True`) is returned rather than the cancellation re-raised.

    Smoke checks (smoke.planned) run through `queries` once an endpoint's rollout is READY; a
    failing one fails that endpoint's action, which cancels the prunes. `skip_smoke` skips them
    (reported on each outcome).
    Traffic rollouts (rollout_steps.py) advance each endpoint at most `max_steps` steps when it
    is given, and then never wait out a pause; one left between steps cancels the prunes too.
    """
    if not plan.applyable:
        raise ApplyError("the plan has problems that must be fixed first; nothing was changed")
    blocked = [a.name for a in plan.actions if a.kind is ActionKind.REPLACE]
    if blocked and not plan.allow_replace:
        raise ApplyError(
            f"the plan replaces {', '.join(blocked)} but does not allow replacing; "
            "nothing was changed"
        )
    ctx = steps.Context(
        api=api,
        owner=owner,
        caller=caller,
        observer=observer,
        wait=wait,
        scheduler=scheduler or WriteScheduler(clock=wait.clock, sleep=wait.sleep),
        no_wait=no_wait,
        queries=queries,
        skip_smoke=skip_smoke,
        max_steps=max_steps,
    )
    began = wait.clock()
    every = (*plan.actions, *plan.waits)
    first = [i for i, a in enumerate(every) if a.kind is not ActionKind.DELETE]
    prunes = [i for i, a in enumerate(every) if a.kind is ActionKind.DELETE]
    outcomes, interrupted = await _run_all(every, first, ctx, parallelism=parallelism)
    if prunes and not interrupted:
        reason = _prune_blocker([(every[i], outcomes[i]) for i in first], no_wait=no_wait)
        if reason:
            outcomes.update({i: _skipped(every[i], f"prune cancelled: {reason}") for i in prunes})
        else:
            pruned, interrupted = await _run_all(every, prunes, ctx, parallelism=parallelism)
            outcomes.update(pruned)
    ordered = tuple(
        outcomes.get(i) or _skipped(a, "not started: apply was interrupted")
        for i, a in enumerate(every)
    )
    return ApplyResult(outcomes=ordered, interrupted=interrupted, elapsed=wait.clock() - began)


async def _run_all(
    every: Sequence[Action], indices: Sequence[int], ctx: steps.Context, *, parallelism: int
) -> tuple[dict[int, ActionOutcome], bool]:
    """Run `every[i]` for each index concurrently; (outcomes by index, whether interrupted)."""
    gate = asyncio.Semaphore(max(1, parallelism))
    outcomes: dict[int, ActionOutcome] = {}
    running: dict[int, steps.EndpointRun] = {}

    async def one(index: int) -> None:
        async with gate:
            running[index] = runner = steps.EndpointRun(every[index], ctx)
            outcomes[index] = await runner.run()
            del running[index]

    tasks = [asyncio.ensure_future(one(i)) for i in indices]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for index, runner in running.items():
            outcomes.setdefault(index, runner.interrupted())
        return outcomes, True
    return outcomes, False


def _prune_blocker(done: Sequence[tuple[Action, ActionOutcome]], *, no_wait: bool) -> str:
    """Why prunes must not run after these outcomes ("" when they may)."""
    for action, outcome in sorted(done, key=lambda pair: pair[0].name):
        if outcome.status is not Status.SUCCEEDED:
            return f'endpoint "{action.name}" {outcome.status.value.replace("_", " ")}'
        if outcome.pending:
            return f'the traffic rollout of endpoint "{action.name}" is still in progress'
        if no_wait and action.kind is not ActionKind.WAIT:
            return "--no-wait does not wait for the other changes to be READY; re-run apply"
        if outcome.ready and outcome.ready != "READY":
            return f'endpoint "{action.name}" is not READY (ready={outcome.ready})'
    return ""


def _skipped(action: Action, message: str) -> ActionOutcome:
    return ActionOutcome(
        name=action.name,
        kind=action.kind,
        status=Status.SKIPPED,
        message=message,
    )
