"""The pure part of progressive delivery: the rollout block's validation (located errors), the
schedule of splits, the state tag, and where a rollout stands (rollout.py)."""

from __future__ import annotations

import copy
import re
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servingops import loader, normalize, rollout, schema
from servingops.desired import to_desired
from servingops.gates import Breach, Check
from servingops.model import (
    OWNER_TAG,
    ROLLOUT_TAG,
    Endpoint,
    Gates,
    RolloutSpec,
    RolloutStatus,
)
from servingops.rollout import Phase, State

FILE = """\
name: fraud
config:
  served_entities:
    - {name: champion, entity_name: main.ml.fraud, entity_version: "1", workload_size: Small}
    - {name: challenger, entity_name: main.ml.fraud, entity_version: "2", workload_size: Small}
  traffic_config:
    routes:
      - {served_entity_name: champion, traffic_percentage: 0}
      - {served_entity_name: challenger, traffic_percentage: 100}
"""


def problems(extra: str, *, base: str = FILE) -> list[str]:
    """`line:col: pointer: message` for every schema and rollout problem of the document."""
    result = loader.load_text(base + textwrap.dedent(extra), path="e.yaml")
    (document,) = result.documents
    found = [*schema.validate(document), *rollout.check_document(document)]
    return [
        f"{d.source.line}:{d.source.column}: {d.pointer}: {d.summary}" for d in found if d.source
    ]


# --------------------------------------------------------------------------------------------
# Validation


def test_a_valid_block_has_no_problems_and_becomes_a_spec() -> None:
    block = """\
    rollout:
      entity: challenger
      steps: [10, 25, 50, 100]
      pause: 10m
      gates: {max_error_rate: 0.01, max_p99_ms: 800, min_requests: 200}
      on_failure: rollback
    """
    assert problems(block) == []
    document = loader.load_text(FILE + textwrap.dedent(block), path="e.yaml").documents[0]
    desired = to_desired(document)
    assert "rollout" not in desired.body  # never part of an API body
    assert desired.rollout == RolloutSpec(
        entity="challenger",
        steps=(10, 25, 50, 100),
        pause_seconds=600.0,
        gates=Gates(max_error_rate=0.01, max_p99_ms=800.0, min_requests=200),
    )


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "rollout: {entity: challenger, steps: [10, 50, 40, 100], pause: 1m}",
            "10:47: rollout.steps[2]: rollout steps must increase: 40 comes after 50",
        ),
        (
            "rollout: {entity: challenger, steps: [10, 50], pause: 1m}",
            "10:43: rollout.steps[1]: the last rollout step is 50% but the file gives "
            "'challenger' 100% of the traffic; the steps must end at the file's own split",
        ),
        (
            "rollout: {entity: shadow, steps: [100], pause: 1m}",
            "10:19: rollout.entity: rollout.entity 'shadow' is not a served entity of this file "
            "(served: challenger, champion); name the entity that takes the traffic",
        ),
        (
            "rollout: {entity: challenger, steps: [100], pause: soon}",
            "10:52: rollout.pause: rollout.pause must be a duration like 10m, 90s or 1h30m (at "
            "most 24h), got 'soon'",
        ),
        (
            "rollout: {entity: challenger, steps: [100], pause: 25h}",
            "10:52: rollout.pause: rollout.pause must be a duration like 10m, 90s or 1h30m (at "
            "most 24h), got '25h'",
        ),
        (
            "rollout: {entity: challenger, steps: [0, 100], pause: 1m}",
            "10:39: rollout.steps[0]: must be at least 1, got 0",
        ),
        (
            "rollout: {entity: challenger, steps: [100], pause: 1m, gates: {max_error_rate: 1.5}}",
            "10:80: rollout.gates.max_error_rate: must be at most 1, got 1.5",
        ),
        (
            "rollout: {entity: challenger, steps: [100], pause: 1m, gates: {min_requests: -1}}",
            "10:78: rollout.gates.min_requests: must be at least 0, got -1",
        ),
        (
            "rollout: {entity: challenger, steps: [100], pause: 1m, on_failure: keep}",
            "10:68: rollout.on_failure: 'keep' is not one of 'rollback'",
        ),
        (
            "rollout: {entity: challenger, steps: [100]}",
            "10:10: rollout: missing required key 'pause'",
        ),
        (
            "state: stopped\nrollout: {entity: challenger, steps: [100], pause: 1m}",
            "11:10: rollout: a rollout moves traffic and reads its metrics, which a stopped "
            "endpoint does not serve; remove state: stopped or the rollout block",
        ),
    ],
)
def test_each_problem_is_located(block: str, expected: str) -> None:
    assert problems(block) == [expected]


def test_a_pause_of_the_wrong_type_is_reported_once() -> None:
    assert problems("rollout: {entity: challenger, steps: [100], pause: [1]}") == [
        "10:52: rollout.pause: expected a string, got a list"
    ]


def test_max_p99_must_be_positive() -> None:
    found = problems(
        "rollout: {entity: challenger, steps: [100], pause: 1m, gates: {max_p99_ms: 0}}"
    )
    assert found == ["10:76: rollout.gates.max_p99_ms: must be more than 0, got 0"]


def test_a_lone_entity_has_all_the_traffic() -> None:
    lone = "name: e\nconfig:\n  served_entities:\n    - {entity_name: m.e, entity_version: '3'}\n"
    assert problems("rollout: {entity: e-3, steps: [50, 100], pause: 0s}", base=lone) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("90s", 90), ("1h30m", 5400), ("0s", 0), (120, 120), ("24h", 86400)],
)
def test_pause_durations(text: Any, seconds: float) -> None:
    assert rollout.parse_pause(text) == seconds
    assert rollout.parse_pause(rollout.format_pause(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "-1", True, None, 90000, "1.5m"])
def test_bad_pauses(text: Any) -> None:
    assert rollout.parse_pause(text) is None


# --------------------------------------------------------------------------------------------
# The schedule


def test_steps_move_the_others_toward_the_file_and_end_exactly_there() -> None:
    spec = RolloutSpec(entity="c", steps=(10, 25, 50, 100), pause_seconds=60)
    steps = rollout.schedule(spec, before={"a": 100}, after={"a": 0, "c": 100})
    assert [dict(s.split) for s in steps] == [
        {"a": 90, "c": 10},
        {"a": 75, "c": 25},
        {"a": 50, "c": 50},
        {"a": 0, "c": 100},
    ]


def test_an_entity_the_file_removes_keeps_a_route_until_the_last_step() -> None:
    spec = RolloutSpec(entity="v3", steps=(20, 100), pause_seconds=60)
    steps = rollout.schedule(spec, before={"v2": 100}, after={"v3": 100})
    assert [dict(s.split) for s in steps] == [{"v2": 80, "v3": 20}, {"v2": 0, "v3": 100}]


def test_steps_at_or_below_the_live_share_are_skipped() -> None:
    spec = RolloutSpec(entity="c", steps=(10, 25, 50), pause_seconds=60)
    steps = rollout.schedule(spec, before={"a": 75, "c": 25}, after={"a": 50, "c": 50})
    assert [s.share for s in steps] == [50]


@given(
    before=st.dictionaries(st.sampled_from("abcde"), st.integers(0, 100), min_size=1),
    after=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 100), min_size=1),
    data=st.data(),
)
def test_every_split_is_whole_percents_summing_to_100(
    before: dict[str, int], after: dict[str, int], data: st.DataObject
) -> None:
    before, after = _to_100(before), _to_100({**after, "f": 0})
    start, end = before.get("f", 0), after.get("f", 0)
    if end <= start:
        return
    share = data.draw(st.integers(start + 1, end))
    split = rollout.split_at(before, after, entity="f", share=share)
    assert sum(split.values()) == 100
    assert split["f"] == share
    assert all(v >= 0 for v in split.values())
    if share == end:
        assert {k: v for k, v in split.items() if v or k in after} == after


def _to_100(shares: dict[str, int]) -> dict[str, int]:
    total = sum(shares.values()) or 1
    out = {k: v * 100 // total for k, v in shares.items()}
    first = sorted(out)[0]
    out[first] += 100 - sum(out.values())
    return out


# --------------------------------------------------------------------------------------------
# The state tag


def test_state_round_trips_in_tag_safe_characters() -> None:
    failure = Breach(check=Check.ERROR_RATE, value=0.0345, limit=0.01, minutes=3, requests=512)
    state = State(
        entity="challenger",
        phase=Phase.ROLLED_BACK,
        share=25,
        before={"champion": 90, "challenger": 10},
        target="1a2b3c4d",
        attempt="5e6f7a8b",
        at_s=1766000123,
        failure=failure,
    )
    text = rollout.encode(state)
    assert re.fullmatch(r"[A-Za-z0-9 _.:=+-]+", text), text
    assert rollout.decode(text) == state
    assert failure.describe() == "error rate 0.0345 > 0.01 over 3 minutes, 512 requests"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "v2 e=x",
        "v1 e=x p=live",
        "v1 e=x p=odd s=1 b=a:100 t=1 a=2",
        "v1 e=x p=live s=1 b=a:90 t=1 a=2",
    ],
)
def test_unreadable_state_is_none(text: str | None) -> None:
    assert rollout.decode(text) is None


# --------------------------------------------------------------------------------------------
# Where a rollout stands


SPEC = RolloutSpec(
    entity="challenger", steps=(10, 50, 100), pause_seconds=600, gates=Gates(min_requests=10)
)


def body(champion: int, challenger: int, *, version: str = "2") -> dict[str, Any]:
    return {
        "name": "fraud",
        "config": {
            "served_entities": [
                {"name": "champion", "entity_name": "m.fraud", "entity_version": "1"},
                {"name": "challenger", "entity_name": "m.fraud", "entity_version": version},
            ],
            "traffic_config": {
                "routes": [
                    {"served_entity_name": "champion", "traffic_percentage": champion},
                    {"served_entity_name": "challenger", "traffic_percentage": challenger},
                ]
            },
        },
    }


def want(*, spec: RolloutSpec | None = SPEC, version: str = "2") -> Endpoint:
    from servingops.model import DesiredDocument, SourceRef

    doc = DesiredDocument(
        name="fraud",
        body=body(0, 100, version=version),
        source=SourceRef(path="e.yaml"),
        rollout=spec,
    )
    return normalize.normalize_desired(doc)


def have(
    champion: int, challenger: int, *, tag: State | None = None, version: str = "2"
) -> Endpoint:
    raw = copy.deepcopy(body(champion, challenger, version=version))
    raw.update(id="id-1", state={"ready": "READY", "config_update": "NOT_UPDATING"})
    raw["tags"] = [{"key": OWNER_TAG, "value": "o"}]
    if tag is not None:
        raw["tags"].append({"key": ROLLOUT_TAG, "value": rollout.encode(tag)})
    return normalize.normalize_live(raw)


def tag(phase: str, share: int, *, at_s: int | None = None, **kw: Any) -> State:
    target, attempt = rollout.digests(SPEC, want())
    fields: dict[str, Any] = {
        "entity": "challenger",
        "phase": phase,
        "share": share,
        "before": {"champion": 100, "challenger": 0},
        "target": target,
        "attempt": attempt,
        "at_s": at_s,
    }
    fields.update(kw)
    return State(**fields)


def test_no_state_and_a_larger_share_is_pending_from_the_live_split() -> None:
    plan = rollout.plan_rollout(want(), have(100, 0))
    assert plan is not None
    assert plan.status is RolloutStatus.PENDING
    assert plan.before == {"champion": 100, "challenger": 0}
    assert [s.share for s in plan.steps] == [10, 50, 100]
    assert (plan.done, plan.judged, plan.pauses_left) == (0, True, 3)


def test_no_rollout_when_the_share_is_reached() -> None:
    assert rollout.plan_rollout(want(), have(0, 100)) is None


def test_no_rollout_without_a_block_or_state() -> None:
    assert rollout.plan_rollout(want(spec=None), have(100, 0)) is None


def test_a_live_step_continues_with_its_pause_from_the_tag() -> None:
    plan = rollout.plan_rollout(want(), have(50, 50, tag=tag(Phase.LIVE, 50, at_s=1000)))
    assert plan is not None
    assert plan.status is RolloutStatus.IN_PROGRESS
    assert (plan.done, plan.judged, plan.live_since_ms) == (2, False, 1_000_000)
    assert [s.share for s in plan.remaining] == [100]
    assert plan.pauses_left == 2


def test_a_step_being_set_that_landed_is_live_from_now() -> None:
    plan = rollout.plan_rollout(want(), have(50, 50, tag=tag(Phase.NEXT, 50)))
    assert plan is not None
    assert (plan.done, plan.judged, plan.live_since_ms) == (2, False, None)


def test_a_step_being_set_that_did_not_land_follows_a_judged_position() -> None:
    plan = rollout.plan_rollout(want(), have(90, 10, tag=tag(Phase.NEXT, 50)))
    assert plan is not None
    assert (plan.done, plan.judged) == (1, True)
    assert [s.share for s in plan.remaining] == [50, 100]


def test_a_changed_definition_restarts_from_the_first_step() -> None:
    plan = rollout.plan_rollout(want(version="3"), have(50, 50, tag=tag(Phase.LIVE, 50, at_s=9)))
    assert plan is not None
    assert plan.status is RolloutStatus.RESTART
    assert plan.before == {"champion": 100, "challenger": 0}  # still the split from before
    assert [s.share for s in plan.remaining] == [10, 50, 100]


def test_a_rollback_of_this_attempt_holds() -> None:
    failure = Breach(check=Check.P99, value=900, limit=800, minutes=3, requests=40)
    state = tag(Phase.ROLLED_BACK, 10, at_s=5, failure=failure)
    plan = rollout.plan_rollout(want(), have(100, 0, tag=state))
    assert plan is not None
    assert plan.status is RolloutStatus.HELD
    assert plan.failure == "p99 latency 900ms > 800ms over 3 minutes, 40 requests"
    assert plan.remaining == ()
    assert plan.pauses_left == 0


def test_a_new_attempt_after_a_rollback_starts_again() -> None:
    state = tag(Phase.ROLLED_BACK, 10, at_s=5)
    plan = rollout.plan_rollout(want(version="3"), have(100, 0, tag=state, version="3"))
    assert plan is not None
    assert plan.status is RolloutStatus.PENDING


def test_an_unfinished_rollback_is_finished() -> None:
    plan = rollout.plan_rollout(want(), have(50, 50, tag=tag(Phase.ROLLBACK, 50)))
    assert plan is not None
    assert plan.status is RolloutStatus.ROLLING_BACK


@pytest.mark.parametrize(
    ("spec", "live", "reason"),
    [
        (None, (50, 50), "the file has no rollout block any more"),
        (
            RolloutSpec(entity="challenger", steps=(10, 25), pause_seconds=60),
            (50, 50),
            "the file gives challenger 25%, less than the 50% it has live",
        ),
    ],
)
def test_a_rollout_the_file_no_longer_asks_for_is_abandoned(
    spec: RolloutSpec | None, live: tuple[int, int], reason: str
) -> None:
    wanted = want(spec=spec)
    if spec is not None:
        shares = {"champion": 75, "challenger": 25}
        raw = body(shares["champion"], shares["challenger"])
        from servingops.model import DesiredDocument, SourceRef

        wanted = normalize.normalize_desired(
            DesiredDocument(name="fraud", body=raw, source=SourceRef(path="e"), rollout=spec)
        )
    plan = rollout.plan_rollout(wanted, have(*live, tag=tag(Phase.LIVE, 50, at_s=1)))
    assert plan is not None
    assert plan.status is RolloutStatus.ABANDONED
    assert plan.reason.startswith(reason)


def test_state_that_does_not_fit_a_tag_is_a_problem() -> None:
    long = {f"entity-with-a-very-long-name-{i:02d}": 10 for i in range(10)}
    plan = rollout.plan_rollout(want(), have(100, 0))
    assert plan is not None
    from dataclasses import replace

    assert rollout.check_fits(plan) == ""
    assert "limit is 255" in rollout.check_fits(replace(plan, before=long))
