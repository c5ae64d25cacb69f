"""Property: whatever the steps and whatever each step's gates find, a rollout that has run to
its end leaves the endpoint at the file's split or at the split from before it, never in
between; in one run that waits out every pause, or in scheduled runs of `--max-steps 1`.

Runs the real planner and applier against the in-memory fake workspace of test_applier.py on
its fake clock; the fake's metrics export serves, for the entity's live share, the minute the
drawn outcome calls for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servingops import applier, engine
from servingops.apply_model import Status
from servingops.model import OWNER_TAG, ROLLOUT_TAG, DesiredDocument, Gates, RolloutSpec, SourceRef
from servingops.waiting import WaitPolicy, WriteScheduler

from .test_applier import CALLER, OWNER, FakeTime, FakeWorkspace

ENTITY = "c"
GATES = Gates(max_error_rate=0.05, max_p99_ms=1000, min_requests=10)
OUTCOMES = ("pass", "errors", "slow", "thin")


class MeteredWorkspace(FakeWorkspace):
    """The fake workspace whose metrics export answers, for the minute that just ended, what
    `outcomes` says about the rolled-out entity's live share (healthy by default)."""

    def __init__(self, time: FakeTime, outcomes: dict[int, str]) -> None:
        super().__init__(time, update_seconds=30.0)
        self.outcomes = outcomes

    async def export_metrics(self, name: str) -> str:
        rec = self._settled(name)
        routes = (rec["config"] or {}).get("traffic_config", {}).get("routes", [])
        share = next(
            (r["traffic_percentage"] for r in routes if r["served_entity_name"] == ENTITY), 0
        )
        outcome = self.outcomes.get(share, "pass")
        requests, errors, latency = {
            "pass": (40, 0, 5),
            "errors": (40, 20, 5),
            "slow": (40, 0, 5000),
            "thin": (0, 0, 5),
        }[outcome]
        end = int(self.time.now // 60) * 60_000
        label = f'served_entity_name="{ENTITY}"'
        below = requests if latency <= 5 else 0
        return "\n".join(
            [
                f"request_count_total{{{label}}} {requests} {end}",
                f"request_5xx_count_total{{{label}}} {errors} {end}",
                f'request_latency_ms_bucket{{{label},le="5"}} {below} {end}',
                f'request_latency_ms_bucket{{{label},le="10000"}} {requests} {end}',
                f'request_latency_ms_bucket{{{label},le="+Inf"}} {requests} {end}',
            ]
        )

    def split(self, name: str) -> dict[str, int]:
        rec = self._settled(name)
        routes = rec["config"]["traffic_config"]["routes"]
        return {r["served_entity_name"]: r["traffic_percentage"] for r in routes}


def entity(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "entity_name": "m.fraud",
        "entity_version": version,
        "workload_size": "Small",
    }


def config(split: dict[str, int]) -> dict[str, Any]:
    return {
        "served_entities": [entity(n, "2" if n == ENTITY else "1") for n in sorted(split)],
        "traffic_config": {
            "routes": [
                {"served_entity_name": n, "traffic_percentage": p} for n, p in sorted(split.items())
            ]
        },
    }


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A split before (a and b, c maybe), the file's split (c larger), steps, outcomes."""
    start = draw(st.integers(0, 60))
    a = draw(st.integers(0, 100 - start))
    before = {"a": a, "b": 100 - start - a, **({ENTITY: start} if start else {})}
    end = draw(st.integers(start + 1, 100))
    keep_b = draw(st.booleans())
    rest = 100 - end
    b_after = draw(st.integers(0, rest)) if keep_b else 0
    after = {"a": rest - b_after, ENTITY: end, **({"b": b_after} if keep_b else {})}
    shares: list[int] = []
    if end - start > 1:
        shares = draw(st.lists(st.integers(start + 1, end - 1), max_size=3, unique=True))
    steps = (*sorted(shares), end)
    outcomes = {s: draw(st.sampled_from(OUTCOMES)) for s in steps}
    return {
        "before": before,
        "after": after,
        "steps": steps,
        "outcomes": outcomes,
        "pause": draw(st.sampled_from([0.0, 60.0, 180.0])),
        "scheduled": draw(st.booleans()),
    }


def positive(split: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in split.items() if v}


async def converge(case: dict[str, Any]) -> tuple[MeteredWorkspace, list[Status]]:
    time = FakeTime()
    ws = MeteredWorkspace(time, case["outcomes"])
    ws.seed("fraud", config(case["before"]), tags={OWNER_TAG: OWNER})
    spec = RolloutSpec(entity=ENTITY, steps=case["steps"], pause_seconds=case["pause"], gates=GATES)
    document = DesiredDocument(
        name="fraud",
        body={"name": "fraud", "config": config(case["after"])},
        source=SourceRef(path="fraud.yaml"),
        rollout=spec,
    )
    wait = WaitPolicy(sleep=time.sleep, clock=time.clock, wall_clock=time.clock, jitter=0.0)
    statuses: list[Status] = []
    for _ in range(40):
        plan, _live = await engine.compute_plan(ws, [document], owner=OWNER, clock=time.clock)
        if not plan.actions and not plan.waits:
            break
        result = await applier.apply(
            plan,
            ws,
            owner=OWNER,
            caller=f"user:{CALLER}",
            wait=wait,
            scheduler=WriteScheduler(calls=0, clock=time.clock, sleep=time.sleep),
            max_steps=1 if case["scheduled"] else None,
        )
        statuses.extend(o.status for o in result.outcomes)
        if not result.ok:
            break  # rolled back (or held): the run is over
        await time.sleep(7 * 60)  # the next scheduled run
    return ws, statuses


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(case=scenarios())
def test_a_finished_rollout_is_at_the_files_split_or_the_one_before(case: dict[str, Any]) -> None:
    ws, statuses = asyncio.run(converge(case))
    final = positive(ws.split("fraud"))
    assert final in (positive(case["after"]), positive(case["before"]))
    passes = all(case["outcomes"][s] == "pass" for s in case["steps"])
    if passes:
        assert final == positive(case["after"])
        assert ROLLOUT_TAG not in ws.records["fraud"]["tags"]  # the rollout is over
        assert Status.FAILED not in statuses
    else:
        assert final == positive(case["before"])
        assert statuses[-1] is Status.FAILED  # a rollback is reported, exit 1
        assert ws.records["fraud"]["tags"][ROLLOUT_TAG].split()[2] == "p=rolledback"
