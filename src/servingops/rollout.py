"""Progressive delivery, the pure part: the `rollout` block of a file (validated with located
errors), the schedule of splits from the live split to the file's, the state a rollout keeps in
the ROLLOUT_TAG, where a rollout stands, and the configs each step, a rollback and the
completion send. No I/O: rollout_steps.py drives a rollout with these during apply.

The live split and the tag are the whole state (design.md section 8): the tag records the
split from before the rollout (restored on failure), the target, the step being set or live and
when it went live, or why it was rolled back. Its value uses only letters, digits, spaces and
`_ . : = + -`, the characters every cloud's resource tags accept, and stays under 256 of them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from .gates import Breach, Check, decode_breach, encode_breach
from .loader import LoadedDocument
from .model import (
    Body,
    Diagnostic,
    Endpoint,
    Gates,
    Path,
    RolloutPlan,
    RolloutSpec,
    RolloutStatus,
    RolloutStep,
    Severity,
    render_pointer,
)
from .normalize import copy, default_entity_name

MAX_PAUSE_SECONDS = 24 * 3600
MAX_TAG_VALUE = 255
_PAUSE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TRAFFIC: Path = ("config", "traffic")
_ENTITIES: Path = ("config", "served_entities")


# --------------------------------------------------------------------------------------------
# The block: validation (schema.py checks the shapes first) and the typed spec


def check_document(document: LoadedDocument) -> tuple[Diagnostic, ...]:
    """Every problem with a document's `rollout` block that the JSON Schema cannot express: the
    entity must be served by the file, the steps must increase and end at the file's own share
    for it, the pause must be a duration, the gates sensible; the state tag is reserved."""
    data = document.data
    if not isinstance(data, Mapping):
        return ()
    out: list[Diagnostic] = []

    def error(path: Path, message: str) -> None:
        out.append(
            Diagnostic(
                severity=Severity.ERROR,
                summary=message,
                source=document.locate(path),
                pointer=render_pointer(path),
            )
        )

    block = data.get("rollout")
    if not isinstance(block, Mapping):
        return tuple(out)
    entity = block.get("entity")
    shares = file_shares(data)
    if isinstance(entity, str):
        if entity not in shares:
            served = ", ".join(sorted(shares)) or "none"
            error(
                ("rollout", "entity"),
                f"rollout.entity {entity!r} is not a served entity of this file (served: "
                f"{served}); name the entity that takes the traffic",
            )
        elif data.get("state") == "stopped":
            error(
                ("rollout",),
                "a rollout moves traffic and reads its metrics, which a stopped endpoint does "
                "not serve; remove state: stopped or the rollout block",
            )
    steps = block.get("steps")
    if isinstance(steps, list) and all(_is_int(s) for s in steps):
        for i in range(1, len(steps)):
            if steps[i] <= steps[i - 1]:
                error(
                    ("rollout", "steps", i),
                    f"rollout steps must increase: {steps[i]} comes after {steps[i - 1]}",
                )
        share = shares.get(entity) if isinstance(entity, str) else None
        if steps and share is not None and steps[-1] != share:
            error(
                ("rollout", "steps", len(steps) - 1),
                f"the last rollout step is {steps[-1]}% but the file gives {entity!r} "
                f"{share}% of the traffic; the steps must end at the file's own split",
            )
    pause = block.get("pause")
    typed = isinstance(pause, str | int | float) and not isinstance(pause, bool)
    if typed and parse_pause(pause) is None:  # other types are the schema's to report
        error(
            ("rollout", "pause"),
            f"rollout.pause must be a duration like 10m, 90s or 1h30m (at most 24h), got {pause!r}",
        )
    return tuple(out)


def spec_from_block(block: Any) -> RolloutSpec | None:
    """The typed spec of a validated `rollout` block (None when there is none)."""
    if not isinstance(block, Mapping):
        return None
    gates = block.get("gates") or {}
    rate = gates.get("max_error_rate")
    p99 = gates.get("max_p99_ms")
    return RolloutSpec(
        entity=str(block["entity"]),
        steps=tuple(int(s) for s in block["steps"]),
        pause_seconds=parse_pause(block["pause"]) or 0.0,
        gates=Gates(
            max_error_rate=None if rate is None else float(rate),
            max_p99_ms=None if p99 is None else float(p99),
            min_requests=int(gates.get("min_requests") or 0),
        ),
        on_failure=str(block.get("on_failure") or "rollback"),
    )


def spec_to_block(spec: RolloutSpec) -> dict[str, Any]:
    """The inverse of spec_from_block (saved plans record the block this way)."""
    gates: dict[str, Any] = {"min_requests": spec.gates.min_requests}
    if spec.gates.max_error_rate is not None:
        gates["max_error_rate"] = spec.gates.max_error_rate
    if spec.gates.max_p99_ms is not None:
        gates["max_p99_ms"] = spec.gates.max_p99_ms
    return {
        "entity": spec.entity,
        "steps": list(spec.steps),
        "pause": format_pause(spec.pause_seconds),
        "gates": gates,
        "on_failure": spec.on_failure,
    }


def parse_pause(value: Any) -> float | None:
    """`10m`, `90s`, `1h30m`, `0s`, or a number of seconds -> seconds; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _PAUSE.fullmatch(text)
        if not text or match is None or not any(match.groups()):
            return None
        hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = float(hours * 3600 + minutes * 60 + secs)
    else:
        return None
    return seconds if 0 <= seconds <= MAX_PAUSE_SECONDS else None


def format_pause(seconds: float) -> str:
    """`10m`, `90s` -> `1m30s`, `1h`, `0s`: the shortest duration text for whole seconds."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def file_shares(data: Mapping[str, Any]) -> dict[str, int]:
    """Each served entity of a file (as written) and its share of the traffic (0 when no route
    names it; 100 for a lone entity without a traffic_config, as the server routes it)."""
    config = data.get("config")
    if not isinstance(config, Mapping):
        return {}
    entities = config.get("served_entities") or config.get("served_models") or []
    names = [
        str(e.get("name") or default_entity_name(e) or "")
        for e in entities
        if isinstance(e, Mapping)
    ]
    shares = dict.fromkeys(names, 0)
    traffic = config.get("traffic_config")
    routes = traffic.get("routes") if isinstance(traffic, Mapping) else None
    if not routes:
        return {names[0]: 100} if len(names) == 1 else shares
    for route in routes:
        if not isinstance(route, Mapping):
            continue
        name = route.get("served_entity_name") or route.get("served_model_name")
        share = _as_int(route.get("traffic_percentage"))
        if name in shares and share is not None:
            shares[str(name)] = share
    return shares


# --------------------------------------------------------------------------------------------
# The schedule


def schedule(
    spec: RolloutSpec, *, before: Mapping[str, int], after: Mapping[str, int]
) -> tuple[RolloutStep, ...]:
    """The steps from `before` to `after`: one per step share above the entity's share in
    `before`; the last one is exactly `after` (the file's split)."""
    start = before.get(spec.entity, 0)
    shares = [s for s in spec.steps if s > start]
    return tuple(
        RolloutStep(share=s, split=split_at(before, after, entity=spec.entity, share=s))
        for s in shares
    )


def split_at(
    before: Mapping[str, int], after: Mapping[str, int], *, entity: str, share: int
) -> dict[str, int]:
    """The split when `entity` has `share`: every other entity moves from its `before` share
    toward its `after` share in proportion to the entity's progress, rounded to whole percents
    (largest remainder, ties by name) that sum to 100. At the entity's `after` share this is
    exactly `after`; entities only in `before` keep a route until then."""
    start, end = before.get(entity, 0), after.get(entity, 0)
    if share >= end:
        return dict(sorted({**after, **_zeros(before, after)}.items()))
    progress = Fraction(share - start, end - start) if end != start else Fraction(1)
    serving = {name for name, s in before.items() if s > 0}
    others = sorted((serving | set(after)) - {entity})
    raw = {o: before.get(o, 0) + (after.get(o, 0) - before.get(o, 0)) * progress for o in others}
    split = {o: math.floor(raw[o]) for o in others}
    left = 100 - share - sum(split.values())
    by_remainder = sorted(others, key=lambda o: (-(raw[o] - split[o]), o))
    for o in by_remainder[:left]:
        split[o] += 1
    split[entity] = share
    return dict(sorted(split.items()))


def _zeros(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    # Entities only in `before` keep a 0% route at the last step (see RolloutPlan.kept).
    return {name: 0 for name, share in before.items() if share > 0 and name not in after}


# --------------------------------------------------------------------------------------------
# The state tag


class Phase:
    """The state tag's phases (values of its `p=` field)."""

    NEXT = "next"  # the step with share `s` is being set (its update may not have landed)
    LIVE = "live"  # the step with share `s` went live at `at` and awaits its gates
    ROLLBACK = "rollback"  # restoring `b` after the step with share `s` failed (`f`)
    ROLLED_BACK = "rolledback"  # `b` was restored at `at` after the step `s` failed (`f`)


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """A rollout's state as the ROLLOUT_TAG holds it (see the module docstring)."""

    entity: str
    phase: str
    share: int
    before: Mapping[str, int]
    target: str
    attempt: str
    at_s: int | None = None
    failure: Breach | None = None


def encode(state: State) -> str:
    """`v1 e=challenger p=live s=25 at=1766000123 b=champion:100+challenger:0 t=.. a=..`."""
    parts = [
        "v1",
        f"e={state.entity}",
        f"p={state.phase}",
        f"s={state.share}",
        f"b={'+'.join(f'{k}:{v}' for k, v in sorted(state.before.items()))}",
        f"t={state.target}",
        f"a={state.attempt}",
    ]
    if state.at_s is not None:
        parts.append(f"at={state.at_s}")
    if state.failure is not None:
        parts.append(f"f={encode_breach(state.failure)}")
    return " ".join(parts)


def decode(text: str | None) -> State | None:
    """The state in a tag value, or None when there is none or it cannot be read."""
    if not text:
        return None
    parts = text.split()
    if not parts or parts[0] != "v1":
        return None
    fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    phases = (Phase.NEXT, Phase.LIVE, Phase.ROLLBACK, Phase.ROLLED_BACK)
    try:
        before = {}
        for item in fields["b"].split("+"):
            name, _, share = item.rpartition(":")
            before[name] = int(share)
        state = State(
            entity=fields["e"],
            phase=fields["p"],
            share=int(fields["s"]),
            before=before,
            target=fields["t"],
            attempt=fields["a"],
            at_s=int(fields["at"]) if "at" in fields else None,
            failure=decode_breach(fields["f"]) if "f" in fields else None,
        )
    except (KeyError, ValueError):
        return None
    if state.phase not in phases or sum(before.values()) != 100:
        return None
    return state


def state_for(
    plan: RolloutPlan,
    *,
    phase: str,
    share: int,
    at_s: int | None = None,
    failure: Breach | None = None,
) -> State:
    """The state tag to write for `plan` in `phase` at the step with `share`."""
    return State(
        entity=plan.entity,
        phase=phase,
        share=share,
        before=plan.before,
        target=plan.target,
        attempt=plan.attempt,
        at_s=at_s,
        failure=failure,
    )


# --------------------------------------------------------------------------------------------
# Where a rollout stands


def plan_rollout(want: Endpoint, have: Endpoint) -> RolloutPlan | None:
    """The rollout of `want` (a desired endpoint) against `have` (live), or None when neither
    the file asks for one that is needed nor the endpoint carries rollout state.

    Without state, a rollout is needed when the file gives its entity a larger share than it
    has live; it starts from the live split. With state, it continues from where the live split
    stands, restarts at the first step when the entity's definition changed, finishes a
    rollback that was started, holds after a rollback of this same attempt, and is abandoned
    (one update, state cleared) when the file drops the block or lowers the share below the
    live one.
    """
    spec = want.rollout
    state = decode(have.status.rollout_tag) if have.status else None
    live = traffic(have.body)
    desired = traffic(want.body)
    if spec is None:
        if state is None:
            return None
        return _abandoned(
            state,
            desired,
            "the file has no rollout block any more: the split moves to the file's in one update",
        )
    target, attempt = digests(spec, want)
    start = live.get(spec.entity, 0)
    end = desired.get(spec.entity, 0)
    base = RolloutPlan(
        entity=spec.entity,
        status=RolloutStatus.PENDING,
        before=live,
        after=desired,
        steps=(),
        pause_seconds=spec.pause_seconds,
        gates=spec.gates,
        target=target,
        attempt=attempt,
        live_share=start,
    )
    if state is not None and state.phase in (Phase.ROLLBACK, Phase.ROLLED_BACK):
        rolled_back = replace(
            base,
            before=state.before,
            steps=schedule(spec, before=state.before, after=desired),
            failure=state.failure.describe() if state.failure else "",
            failed_share=state.share,
        )
        if state.phase == Phase.ROLLBACK:
            return replace(rolled_back, status=RolloutStatus.ROLLING_BACK)
        if state.entity == spec.entity and state.attempt == attempt:
            since = state.at_s * 1000 if state.at_s is not None else None
            return replace(rolled_back, status=RolloutStatus.HELD, live_since_ms=since)
        state = None  # a new attempt starts from the split the rollback restored
    if state is None:
        if end <= start:
            return None  # the share is reached (or goes down): one plain update
        return replace(
            base,
            steps=schedule(spec, before=live, after=desired),
            kept=_kept(live, desired),
        )
    if end < start:
        return _abandoned(
            state,
            desired,
            f"the file gives {spec.entity} {end}%, less than the {start}% it has live: the "
            "split moves down in one update",
        )
    steps = schedule(spec, before=state.before, after=desired)
    in_progress = replace(base, before=state.before, steps=steps, kept=_kept(state.before, desired))
    if state.entity != spec.entity or state.target != target:
        what = "another entity" if state.entity != spec.entity else "a changed definition"
        return replace(
            in_progress,
            status=RolloutStatus.RESTART,
            reason=f"the rollout in progress was for {what}: it starts again at the first step",
        )
    in_progress = replace(in_progress, status=RolloutStatus.IN_PROGRESS)
    where = position(in_progress, state, live)
    return replace(
        in_progress,
        done=where.next_index,
        judged=where.judged,
        live_since_ms=where.live_since_ms,
    )


@dataclass(frozen=True, slots=True)
class Position:
    """Where a rollout stands in its schedule: the index of the next step to set (the number
    of steps live), whether the live position passed its gates, and since when it is live."""

    next_index: int
    judged: bool
    live_since_ms: int | None = None


def position(plan: RolloutPlan, state: State | None, live: Mapping[str, int]) -> Position:
    """Where `plan` stands given the state tag and the live split (apply asks again after
    waiting out an update, since the live split may have moved since the plan).

    A tag of this rollout (same entity and target) in phase `live` gives when its step went
    live; in phase `next`, the step being set landed when the live share equals it (nobody
    saw it go live: its pause starts now), else the position before it passed its gates.
    Anything else (no tag, or another target: PENDING and RESTART) starts at the first step.
    """
    share = live.get(plan.entity, 0)
    ours = (
        state is not None
        and state.phase in (Phase.NEXT, Phase.LIVE)
        and state.entity == plan.entity
        and state.target == plan.target
    )
    if state is None or not ours or plan.status is RolloutStatus.RESTART:
        return Position(next_index=0, judged=True)
    done = sum(1 for s in plan.steps if s.share <= share)
    if state.phase == Phase.LIVE:
        same = state.share == share and state.at_s is not None
        return Position(
            next_index=done,
            judged=False,
            live_since_ms=state.at_s * 1000 if same and state.at_s is not None else None,
        )
    return Position(next_index=done, judged=share != state.share)


def _abandoned(state: State, desired: Mapping[str, int], reason: str) -> RolloutPlan:
    return RolloutPlan(
        entity=state.entity,
        status=RolloutStatus.ABANDONED,
        before=state.before,
        after=desired,
        steps=(),
        pause_seconds=0.0,
        gates=Gates(),
        target=state.target,
        attempt=state.attempt,
        reason=reason,
    )


def _kept(before: Mapping[str, int], desired: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(sorted(n for n, share in before.items() if share > 0 and n not in desired))


def digests(spec: RolloutSpec, want: Endpoint) -> tuple[str, str]:
    """(target, attempt): digests of the entity's desired definition, and of that plus the
    rollout block and the file's split. A new target restarts a rollout in progress; a new
    attempt lifts the hold after a rollback."""
    entities = _mapping(_lookup(want.body, _ENTITIES))
    target = _digest(entities.get(spec.entity))
    attempt = _digest(
        {"target": target, "rollout": spec_to_block(spec), "after": traffic(want.body)}
    )
    return target, attempt


def check_fits(plan: RolloutPlan) -> str:
    """Why the state of `plan` cannot be kept in a tag ("" when it can)."""
    worst = state_for(
        plan,
        phase=Phase.ROLLED_BACK,
        share=100,
        at_s=10**10,
        failure=Breach(check=Check.ERROR_RATE, value=1e9, limit=1e9, minutes=9999, requests=10**9),
    )
    size = len(encode(worst))
    if size <= MAX_TAG_VALUE:
        return ""
    return (
        f"the rollout's state tag would need {size} characters (the limit is {MAX_TAG_VALUE}): "
        "the split before it names too many or too long served entities; shorten their names"
    )


def held_desired(want: Endpoint, have: Endpoint) -> Endpoint:
    """`want` as a held rollout leaves it: the live split, and the live entities that still
    carry traffic or that the file removed, so only the file's other changes are planned."""
    body = copy(want.body)
    config = body.get("config")
    live_config = _mapping(have.body.get("config"))
    if not isinstance(config, dict) or not live_config:
        return want
    entities = config.setdefault("served_entities", {})
    for name, entity in _mapping(live_config.get("served_entities")).items():
        entities.setdefault(name, copy(entity))
    config["served_entities"] = dict(sorted(entities.items()))
    config["traffic"] = dict(_mapping(live_config.get("traffic")))
    return replace(want, body=body)


# --------------------------------------------------------------------------------------------
# Configs sent during a rollout (canonical form; normalize.config_request makes the bodies)


def step_config(
    desired: Mapping[str, Any], live: Mapping[str, Any], split: Mapping[str, int]
) -> dict[str, Any]:
    """The config that sets `split`: the file's config (entities, versions, sizes), with the
    entities of `split` the file removes kept as they are live, and routes for all of them."""
    config: dict[str, Any] = copy(dict(desired))
    entities = dict(_mapping(config.get("served_entities")))
    live_entities = _mapping(live.get("served_entities"))
    for name in split:
        if name not in entities and name in live_entities:
            entities[name] = copy(live_entities[name])
    config["served_entities"] = dict(sorted(entities.items()))
    config["traffic"] = {name: int(split.get(name, 0)) for name in sorted(entities)}
    return config


def rollback_config(live: Mapping[str, Any], before: Mapping[str, int]) -> dict[str, Any]:
    """The live config with the split from before the rollout (entities it did not route to
    get 0%). Every entity of `before` is still live: steps keep them until the rollout ends."""
    config: dict[str, Any] = copy(dict(live))
    entities = _mapping(config.get("served_entities"))
    config["traffic"] = {name: int(before.get(name, 0)) for name in sorted(entities)}
    return config


def missing_from(config: Mapping[str, Any], split: Mapping[str, int]) -> list[str]:
    """Entities `split` routes traffic to that `config` does not serve."""
    entities = _mapping(config.get("served_entities"))
    return sorted(n for n, share in split.items() if share > 0 and n not in entities)


def traffic(body: Body) -> dict[str, int]:
    """The split of a canonical body: entity -> share (empty without a config)."""
    return {str(k): int(v) for k, v in _mapping(_lookup(body, _TRAFFIC)).items()}


def format_clock(ms: int | None) -> str:
    """Epoch milliseconds as `2025-12-17 19:33:20 UTC` ("?" when unknown)."""
    if ms is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def describe_split(split: Mapping[str, int], *, zeros: bool = False) -> str:
    """`champion 75%, challenger 25%` (largest first, then by name; 0% shares only with
    `zeros`)."""
    shown = {k: v for k, v in split.items() if v or zeros}
    ordered = sorted(shown.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {share}%" for name, share in ordered)


# --------------------------------------------------------------------------------------------
# Small pure helpers


def _digest(value: Any) -> str:
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:8]


def _lookup(body: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(part)
    return body


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_int(value: Any) -> int | None:
    """An int, or a string of digits (numbers are accepted as strings in files)."""
    if _is_int(value):
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
