"""Live health in words, shared by every renderer: ready, not ready, updating (which version,
for how long, what serves meanwhile), update failed (why, what still serves), stopped.

Pure: reads the Plan's LiveStatus values and its observation time.
"""

from __future__ import annotations

from ..model import Health, LiveStatus, Plan
from ..waiting import format_duration


def describe(status: LiveStatus, *, observed_at_ms: int | None) -> str:
    """One line: the health and what it means for traffic."""
    serving = status.serving
    match status.health:
        case Health.READY:
            return f"ready, serving {serving}" if serving else "ready"
        case Health.UPDATING:
            pending = status.pending_config_version
            version = f"config_version {pending}" if pending is not None else "a new config"
            age = _age(status, observed_at_ms)
            meanwhile = f"{serving} serves meanwhile" if serving else "nothing serves yet"
            return f"updating: {version} rolling out{age}; {meanwhile}"
        case Health.UPDATE_FAILED:
            why = f": {status.failure}" if status.failure else ""
            still = f"still serving {serving}" if serving and status.ready == "READY" else ""
            return f"update failed{why}; {still or 'nothing serves'}"
        case Health.STOPPED:
            return f"stopped: serves nothing until started ({serving} is kept)"
        case Health.NOT_READY:
            return f"not ready ({serving} is active)" if serving else "not ready: no active config"


def summary(plan: Plan) -> str:
    """`Live health: 3 ready, 1 updating.` over the endpoints the plan looked at, or ""."""
    if not plan.live:
        return ""
    counts: dict[Health, int] = {}
    for status in plan.live.values():
        counts[status.health] = counts.get(status.health, 0) + 1
    parts = [f"{counts[h]} {h.value}" for h in Health if h in counts]
    return "Live health: " + ", ".join(parts) + "."


def unhealthy(plan: Plan) -> list[tuple[str, str]]:
    """(name, description) for each endpoint the plan looked at that is not ready."""
    return [
        (name, describe(status, observed_at_ms=plan.observed_at_ms))
        for name, status in plan.live.items()
        if status.health is not Health.READY
    ]


def failed(plan: Plan, names: set[str] | None = None) -> list[str]:
    """Endpoints (of `names`, when given) whose last update failed."""
    return [
        n
        for n, s in plan.live.items()
        if s.health is Health.UPDATE_FAILED and (names is None or n in names)
    ]


def pending_seconds(status: LiveStatus, *, observed_at_ms: int | None) -> float | None:
    """How long the pending config had been rolling out when live state was read, or None."""
    if status.pending_since_ms is None or observed_at_ms is None:
        return None
    return max(0, observed_at_ms - status.pending_since_ms) / 1000


def _age(status: LiveStatus, observed_at_ms: int | None) -> str:
    seconds = pending_seconds(status, observed_at_ms=observed_at_ms)
    return "" if seconds is None else f" for {format_duration(seconds)}"
