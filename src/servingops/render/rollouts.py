"""Traffic rollouts in words, shared by every renderer: the schedule (each step's split, the
pause, the gates), the worst-case duration, and where a rollout in progress stands.

Pure: reads RolloutPlan values (and the plan's observation time), so text, JSON and markdown
say the same thing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import rollout
from ..model import Action, ActionKind, Gates, RolloutPlan, RolloutStatus
from ..normalize import mapping
from ..rollout import format_clock, format_pause

METRICS_ALIGNMENT_SECONDS = 120
"""At most this long after a step goes live the first full metrics minute is complete."""

_STATUS = {
    RolloutStatus.PENDING: "starts",
    RolloutStatus.IN_PROGRESS: "in progress",
    RolloutStatus.RESTART: "restarts",
    RolloutStatus.ROLLING_BACK: "rolling back",
    RolloutStatus.HELD: "rolled back, held",
    RolloutStatus.ABANDONED: "abandoned",
}


def gates_text(gates: Gates) -> str:
    """`error rate <= 0.01, p99 latency <= 800ms, at least 200 requests` (or `no gates`)."""
    parts = []
    if gates.max_error_rate is not None:
        parts.append(f"error rate <= {gates.max_error_rate:g}")
    if gates.max_p99_ms is not None:
        parts.append(f"p99 latency <= {gates.max_p99_ms:g}ms")
    if gates.min_requests:
        parts.append(f"at least {gates.min_requests} requests")
    return ", ".join(parts) if parts else "no gates"


def reads_metrics(gates: Gates) -> bool:
    return (
        gates.max_error_rate is not None or gates.max_p99_ms is not None or bool(gates.min_requests)
    )


def worst_case(plan: RolloutPlan, *, observed_at_ms: int | None = None) -> tuple[float, float, int]:
    """(seconds at least, seconds at most, config updates) the rest of the rollout takes,
    besides the updates' own rollout time. At most: each pause may start up to two minutes
    late (its first full metrics minute) and grow by one more pause (at least a minute) when
    traffic is too thin to judge. A live step's pause counts from when it went live."""
    pauses = plan.pauses_left
    pause = plan.pause_seconds
    if reads_metrics(plan.gates):
        longest = max(pause, METRICS_ALIGNMENT_SECONDS) + max(pause, 60.0)
    else:
        longest = pause
    spent = 0.0
    if not plan.judged and plan.live_since_ms is not None and observed_at_ms is not None:
        spent = min(pause, max(0.0, (observed_at_ms - plan.live_since_ms) / 1000))
    updates = len(plan.remaining) + (1 if plan.kept and plan.remaining else 0)
    return pauses * pause - spent, pauses * longest - spent, updates


def step_states(plan: RolloutPlan) -> list[str]:
    """Per step: `done`, `live` (awaiting its gates), `next` or `later`."""
    out = []
    for i in range(1, len(plan.steps) + 1):
        if i < plan.done or (i == plan.done and plan.judged):
            out.append("done")
        elif i == plan.done:
            out.append("live")
        elif i == plan.done + 1:
            out.append("next")
        else:
            out.append("later")
    return out


def headline(plan: RolloutPlan) -> str:
    """One sentence: what the rollout is and where it stands."""
    target = plan.after.get(plan.entity, 0)
    head = f"rollout of {plan.entity} to {target}% ({_STATUS[plan.status]})"
    match plan.status:
        case RolloutStatus.HELD:
            when = f" on {format_clock(plan.live_since_ms)}" if plan.live_since_ms else ""
            where = f" at {plan.failed_share}%" if plan.failed_share is not None else ""
            why = f": {plan.failure}" if plan.failure else ""
            return (
                f"{head}: rolled back{where}{when}{why}; it stays at "
                f"{rollout.describe_split(plan.before)} "
                "until the file changes (a new version, or the rollout block), and apply "
                "reports it as failed until then"
            )
        case RolloutStatus.ROLLING_BACK:
            why = f" ({plan.failure})" if plan.failure else ""
            return (
                f"{head}: a rollback{why} did not finish; apply finishes it (back to "
                f"{rollout.describe_split(plan.before)}) and reports the rollout as failed"
            )
        case RolloutStatus.ABANDONED:
            return f"{head}: {plan.reason}; its state tag is removed"
        case _:
            steps = len(plan.steps)
            shares = " -> ".join(f"{s.share}%" for s in plan.steps)
            text = (
                f"{head}: {steps} step{'s' if steps != 1 else ''} ({shares}), each live for "
                f"{format_pause(plan.pause_seconds)} then judged on "
                f"{gates_text(plan.gates)}; on failure back to "
                f"{rollout.describe_split(plan.before)}"
            )
            if plan.status is RolloutStatus.RESTART:
                text += f"; {plan.reason}"
            return text


def lines(plan: RolloutPlan, *, observed_at_ms: int | None) -> list[str]:
    """The headline, one line per step with its split and state, where it stands, and the
    worst-case duration."""
    out = [headline(plan)]
    if not plan.status.sets_steps:
        return out
    states = step_states(plan)
    width = len(str(len(plan.steps)))
    for i, (step, state) in enumerate(zip(plan.steps, states, strict=True), start=1):
        split = rollout.describe_split(step.split, zeros=True)
        line = f"  step {i:>{width}}/{len(plan.steps)}  {state:<5}  {split}"
        if i == 1 and plan.done == 0:
            line += "  (carries the file's other config changes)"
        if state == "live":
            line += f"  ({_live_for(plan, observed_at_ms)})"
        out.append(line)
    if plan.kept:
        out.append(
            f"  then {', '.join(plan.kept)} (no longer in the file) "
            f"{'is' if len(plan.kept) == 1 else 'are'} removed in one more config update"
        )
    low, high, updates = worst_case(plan, observed_at_ms=observed_at_ms)
    if plan.pauses_left:
        out.append(
            f"  takes at least {format_pause(low)} of pauses, at most {format_pause(high)} if "
            f"traffic is too thin to judge, plus {updates} config "
            f"update{'s' if updates != 1 else ''}"
        )
    return out


def not_needed(action: Action) -> str:
    """For an update whose file has a rollout block that is not needed (the entity's share is
    reached) while the entity itself changes: a note saying the change reaches all of the
    entity's traffic at once ("" otherwise)."""
    spec = action.after.rollout if action.after is not None else None
    if action.kind is not ActionKind.UPDATE or action.rollout is not None or spec is None:
        return ""
    if not any(c.path[:3] == ("config", "served_entities", spec.entity) for c in action.changes):
        return ""
    before = action.before.body if action.before is not None else {}
    share = mapping(mapping(before.get("config")).get("traffic")).get(spec.entity, 0)
    return (
        f"no rollout: {spec.entity} already has {share}% of the traffic, so this change to it "
        "reaches that traffic in one update; to canary a new version, serve it as a new "
        "entity and roll traffic to that"
    )


def _live_for(plan: RolloutPlan, observed_at_ms: int | None) -> str:
    pause = format_pause(plan.pause_seconds)
    if plan.live_since_ms is None or observed_at_ms is None:
        return f"its {pause} pause starts when apply sees it"
    since = format_pause(max(0, observed_at_ms - plan.live_since_ms) / 1000)
    return f"live for {since} of its {pause} pause"


def to_dict(name: str, plan: RolloutPlan, *, observed_at_ms: int | None) -> dict[str, Any]:
    """The rollout as JSON-ready data (plan JSON `rollouts[]`)."""
    low, high, updates = worst_case(plan, observed_at_ms=observed_at_ms)
    return {
        "endpoint": name,
        "entity": plan.entity,
        "status": plan.status.value,
        "before": dict(plan.before),
        "after": dict(plan.after),
        "steps": [
            {"step": i, "share": s.share, "split": dict(s.split), "state": state}
            for i, (s, state) in enumerate(zip(plan.steps, step_states(plan), strict=True), 1)
        ],
        "pause_seconds": plan.pause_seconds,
        "gates": dataclasses.asdict(plan.gates),
        "live_share": plan.live_share,
        "live_since_ms": plan.live_since_ms,
        "judged": plan.judged,
        "kept": list(plan.kept),
        "worst_case": {"min_seconds": low, "max_seconds": high, "config_updates": updates},
        "failure": plan.failure or None,
        "failed_share": plan.failed_share,
        "reason": plan.reason or None,
        "summary": headline(plan),
    }
