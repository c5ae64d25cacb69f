"""Execute a reviewed Plan against a workspace in a safe order, and report what happened.

Per endpoint (design.md section 5): wait out an update already in progress; the fast independent
calls (tags, AI gateway, notifications, permissions); then the config update and a wait until
`config_update` settles. A create sets permissions as soon as the id exists, before waiting. A
replace (only with allow_replace) deletes, waits until the endpoint is gone, and creates. A
delete re-checks the ownership tag on the live endpoint first. Endpoints run concurrently; one
failure never stops the others. Every step is idempotent, so re-running apply after a failure,
a timeout or a crash converges. The applier executes actions; it never re-plans. Time, sleeping
and write pacing come from waiting.py; progress goes out through an Observer, never print.
"""

from __future__ import annotations

import asyncio

from . import steps
from .apply_model import (
    ActionOutcome,
    ApplyResult,
    EndpointAPI,
    NullObserver,
    Observer,
    Phase,
    Progress,
    Status,
)
from .errors import ApplyError
from .model import Action, Plan
from .steps import acl_request, create_body, failure_message, notifications_request, tag_patch
from .waiting import DEFAULT_WAIT, WaitPolicy, WriteScheduler

__all__ = [
    "NULL_OBSERVER",
    "ActionOutcome",
    "ApplyResult",
    "EndpointAPI",
    "NullObserver",
    "Observer",
    "Phase",
    "Progress",
    "Status",
    "WaitPolicy",
    "WriteScheduler",
    "acl_request",
    "apply",
    "create_body",
    "failure_message",
    "notifications_request",
    "tag_patch",
]

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
    allow_replace: bool = False,
    no_wait: bool = False,
) -> ApplyResult:
    """Run every action of `plan`, at most `parallelism` endpoints at a time.

    `caller` is the ACL principal key of the identity running apply (normalize.caller_key); it
    keeps CAN_MANAGE in every ACL apply writes. `scheduler` defaults to the standard budget on
    `wait`'s clock. When the task running apply is cancelled (Ctrl-C), no new action starts, the
    ones in flight are cancelled and reported as INTERRUPTED, the rest as SKIPPED, and the
    result (with `interrupted=True`) is returned rather than the cancellation re-raised.
    """
    if not plan.applyable:
        raise ApplyError("the plan has problems that must be fixed first; nothing was changed")
    ctx = steps.Context(
        api=api,
        owner=owner,
        caller=caller,
        observer=observer,
        wait=wait,
        scheduler=scheduler or WriteScheduler(clock=wait.clock, sleep=wait.sleep),
        allow_replace=allow_replace,
        no_wait=no_wait,
    )
    began = wait.clock()
    gate = asyncio.Semaphore(max(1, parallelism))
    outcomes: dict[int, ActionOutcome] = {}
    running: dict[int, steps.EndpointRun] = {}

    async def one(index: int, action: Action) -> None:
        async with gate:
            running[index] = runner = steps.EndpointRun(action, ctx)
            outcomes[index] = await runner.run()
            del running[index]

    tasks = [asyncio.ensure_future(one(i, a)) for i, a in enumerate(plan.actions)]
    interrupted = False
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        interrupted = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for index, action in enumerate(plan.actions):
        if index in outcomes:
            continue
        runner_left = running.get(index)
        outcomes[index] = runner_left.interrupted() if runner_left else _skipped(action)
    ordered = tuple(outcomes[i] for i in range(len(plan.actions)))
    return ApplyResult(outcomes=ordered, interrupted=interrupted, elapsed=wait.clock() - began)


def _skipped(action: Action) -> ActionOutcome:
    return ActionOutcome(
        name=action.name,
        kind=action.kind,
        status=Status.SKIPPED,
        message="not started: apply was interrupted",
    )
