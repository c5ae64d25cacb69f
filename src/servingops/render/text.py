"""Plan -> terminal text: Terraform-like symbols, `old -> new`, serving-impact notes, summary line.

Pure: reads only the Plan. Secret values (fields.is_masked) are never printed; a bare
`{{secrets/scope/key}}` reference is not a secret and is shown. The redaction and impact-note
helpers are shared with the JSON and markdown renderers so every format says the same thing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import fields, smoke
from ..model import (
    ABSENT,
    OWNER_TAG,
    Action,
    ActionKind,
    AliasPin,
    Carrier,
    Diagnostic,
    Health,
    Path,
    Plan,
    RolloutStatus,
)
from ..model import render_pointer as _pointer
from . import color, health, impact, plural, rollouts

SENSITIVE = "(sensitive)"
LEGEND = (
    "Endpoint actions are shown with these symbols:\n"
    "  + create   ~ update in place   -/+ replace   - delete"
)
NO_CHANGES = "No changes. Live endpoints match the configuration."

_FLAT = frozenset({("config",), impact.ENTITIES})  # shown flattened into the endpoint block
# Derived by normalize (the endpoint's entity kind), never written by users.
_HIDDEN = frozenset(f.path for f in fields.having(source=fields.Source.DERIVED))
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_HEADERS = {
    ActionKind.CREATE: "will be created",
    ActionKind.UPDATE: "will be updated in place",
    ActionKind.REPLACE: "must be replaced",
    ActionKind.DELETE: "will be destroyed",
}


class _Masked:
    """Stands in for a secret value; rendered as `(sensitive)`, never as the value."""

    def __repr__(self) -> str:
        return SENSITIVE


MASKED = _Masked()


class Pinned:
    """A version that came from a model alias: rendered as `@champion (8)`."""

    __slots__ = ("pin",)

    def __init__(self, pin: AliasPin) -> None:
        self.pin = pin

    def __repr__(self) -> str:
        return self.pin.display


def with_aliases(path: Path, value: Any, pins: Mapping[Path, AliasPin]) -> Any:
    """A copy of the desired `value` (found at `path`) with each version that came from an
    alias replaced by a Pinned stand-in, so it is shown as `@alias (version)`."""
    if not pins or value is ABSENT:
        return value
    pin = pins.get(path)
    if pin is not None and value == pin.version:
        return Pinned(pin)
    if isinstance(value, Mapping):
        return {k: with_aliases((*path, k), v, pins) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# Public entry points


def render_plan(plan: Plan, *, color: bool = False) -> str:
    """The plan as reviewable text; ends with the summary line (or the no-changes line)."""
    blocks: list[str] = []
    if plan.actions:
        blocks.append(LEGEND)
    blocks.extend(_render_action(a, plan, color=color) for a in plan.actions)
    blocks.extend(_sections(plan))
    blocks.append(summary_line(plan))
    return "\n\n".join(blocks) + "\n"


def render_drift(plan: Plan, *, color: bool = False) -> str:
    """The plan framed as drift: live (before) versus desired (after), per endpoint."""
    lines: list[str] = []
    drifted = drift_count(plan)
    if drifted:
        lines.append(f"Drift detected in {plural(drifted, 'endpoint')}:")
        lines.append("")
    for action in plan.actions:
        lines.extend(_drift_action(action, plan, color=color))
    for name in plan.orphaned:
        sym = color_symbol("-", color)
        lines.append(
            f'{sym} endpoint "{name}" is owned by this project ({_owner(plan)}) '
            "but no longer in the configuration"
        )
    acted = {a.name for a in plan.actions}
    for name in failed_drift(plan):
        if name not in acted:
            sym = color_symbol("!", color)
            described = health.describe(plan.live[name], observed_at_ms=plan.observed_at_ms)
            lines.append(f'{sym} endpoint "{name}" {described}')
    for name, moving in plan.rollouts:
        if moving.status is RolloutStatus.HELD and name not in acted:
            sym = color_symbol("!", color)
            lines.append(f'{sym} endpoint "{name}": {rollouts.headline(moving)}')
    live_health = _health_lines(plan, mentioned=acted | set(failed_drift(plan)))
    if live_health:
        lines.extend(["", live_health] if lines else [live_health])
    ignored = [
        f'# endpoint "{name}": {note}'
        for name in plan.ignored
        for note in ignored_notes(plan, name)
    ]
    if ignored:
        lines.extend(["", *ignored] if lines else ignored)
    info = _unmanaged_line(plan)
    problems = _problem_lines(plan.problems)
    if info or problems:
        lines.extend(["", *([info] if info else []), *problems])
    if not drifted:
        if lines:
            lines.append("")
        lines.append(_no_drift_line(len(plan.unchanged)))
    return "\n".join(lines).rstrip("\n") + "\n"


def _no_drift_line(matching: int) -> str:
    if not matching:  # e.g. only a traffic rollout in progress, shown above
        return "No drift."
    verb = "matches" if matching == 1 else "match"
    return f"No drift. {plural(matching, 'endpoint')} {verb} the configuration."


def summary_line(plan: Plan) -> str:
    """`Plan: X to add, Y to change, Z to destroy. N unchanged.` or the no-changes line."""
    if plan.is_empty and not plan.problems:
        held = len(held_drift(plan))
        if held:
            return (
                f"No changes planned; {plural(held, 'traffic rollout')} held after a rollback "
                "(see above)."
            )
        return NO_CHANGES
    add, change, destroy = plan.summary
    return (
        f"Plan: {add} to add, {change} to change, {destroy} to destroy. "
        f"{len(plan.unchanged)} unchanged."
    )


def drift_count(plan: Plan) -> int:
    """Endpoints that drifted: changed or missing live, owned ones no longer in git,
    configured ones whose last update failed, and rollouts held after a rollback. A traffic
    rollout in progress toward the file is not drift (like an update still rolling out)."""
    kinds = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE)
    acted = {a.name for a in plan.actions if a.kind in kinds and not rolling(a)}
    failed = [n for n in failed_drift(plan) if n not in acted]
    held = [n for n in held_drift(plan) if n not in acted]
    return len(acted) + len(plan.orphaned) + len(failed) + len(held)


def rolling(action: Action) -> bool:
    """A traffic rollout in progress whose remaining differences are its own: the split, and
    the entities it keeps serving until it ends."""
    moving = action.rollout
    if moving is None or moving.status is not RolloutStatus.IN_PROGRESS:
        return False
    return all(
        c.path[:2] == ("config", "traffic")
        or (c.path[:2] == impact.ENTITIES and len(c.path) > 2 and c.path[2] in moving.kept)
        for c in action.changes
    )


def held_drift(plan: Plan) -> list[str]:
    """Endpoints whose traffic rollout was rolled back and is held at the split before it."""
    return [name for name, moving in plan.rollouts if moving.status is RolloutStatus.HELD]


def failed_drift(plan: Plan) -> list[str]:
    """Configured endpoints whose last update failed: drift even when the config matches."""
    configured = set(plan.unchanged) | {a.name for a in plan.actions}
    return health.failed(plan, configured)


def redact(path: Path, value: Any, *, mask: Any = MASKED) -> Any:
    """A copy of `value` (found at `path`) with every secret leaf replaced by `mask`."""
    if value is ABSENT:
        return value
    if isinstance(value, Mapping):
        if fields.is_sensitive(path):
            return mask
        return {k: redact((*path, k), v, mask=mask) for k, v in value.items()}
    if isinstance(value, list):
        return [redact((*path, i), v, mask=mask) for i, v in enumerate(value)]
    return mask if fields.is_masked(path, value) else value


def literal(value: Any) -> str:
    """A JSON-ish literal: strings quoted, `(sensitive)` for masked values, `null` for absent."""
    if value is MASKED:
        return SENSITIVE
    if isinstance(value, Pinned):
        return value.pin.display
    if value is ABSENT or value is None:
        return "null"
    if isinstance(value, str | int | float | bool):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def color_symbol(sym: str, enabled: bool) -> str:
    return color.symbol(sym, enabled=enabled)


# --------------------------------------------------------------------------------------------
# One action as a Terraform-like block


@dataclass(slots=True)
class _Leaf:
    path: Path
    before: Any
    after: Any
    carrier: Carrier | None = None


@dataclass(slots=True)
class _Block:
    path: Path
    containers: tuple[Path, ...]
    children: dict[str, _Block | _Leaf] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Ctx:
    before: Any
    after: Any
    color: bool
    pins: Mapping[Path, AliasPin] = field(default_factory=dict)


def _render_action(action: Action, plan: Plan, *, color: bool) -> str:
    sym = action.kind.symbol
    lines = [f'# endpoint "{action.name}" {_HEADERS[action.kind]}']
    lines.extend(f"# ({r})" for r in _reasons(action, plan))
    lines.append(f'{_sym(sym, 0, color)} endpoint "{action.name}" {{')
    before = impact.live_body(action)
    after = action.after.body if action.after else {}
    # A create has no live side: nothing is "unchanged", so no hidden-attribute counts.
    ctx = _Ctx(
        before=None if action.kind is ActionKind.CREATE else before,
        after=after,
        color=color,
        pins=impact.pins_of(plan, action.name),
    )
    if action.kind is ActionKind.DELETE:
        lines.extend(_delete_body(before, ctx))
    else:
        root = _tree(_leaves(action))
        lines.extend(_block_body(root, 1, ctx))
    lines.append("    }")
    notes = impact.impact_notes(action, plan) + impact.carrier_notes(action)
    if action.rollout is not None:
        notes.extend(rollouts.lines(action.rollout, observed_at_ms=plan.observed_at_ms))
    elif rollouts.not_needed(action):
        notes.append(rollouts.not_needed(action))
    lines.extend(f"    # {n}" for n in notes)
    lines.extend(f"    # {n}" for n in smoke_notes(action))
    lines.extend(f"    # {n}" for n in ignored_notes(plan, action.name))
    return "\n".join(lines)


def smoke_notes(action: Action) -> list[str]:
    """`smoke checks once READY: a (status 200), b (...)` when apply runs any after `action`."""
    checks = smoke.planned(action)
    if not checks:
        return []
    return ["smoke checks once READY: " + ", ".join(smoke.describe(c) for c in checks)]


def _reasons(action: Action, plan: Plan) -> list[str]:
    reasons = list(action.reasons)
    if action.kind is ActionKind.REPLACE:
        reasons.append("the endpoint URL changes and traffic is interrupted during the replace")
        if plan.allow_replace:
            reasons.append("allowed by --allow-replace")
    if action.kind is ActionKind.DELETE:
        reasons.append(f"not in the configuration; owned by this project ({_owner(plan)}); --prune")
    if action.adopt:
        reasons.append(
            f"adopted: the live endpoint has no {OWNER_TAG} tag and gains "
            f"{OWNER_TAG} = {literal(plan.owner)}"
        )
    status = plan.live.get(action.name)
    if status is not None and status.health is not Health.READY:
        described = health.describe(status, observed_at_ms=plan.observed_at_ms)
        if action.name in plan.updating:
            described += "; its pending config is what is compared"
        reasons.append("live: " + described)
    return reasons


def _leaves(action: Action) -> list[_Leaf]:
    if action.kind is ActionKind.CREATE:
        body = action.after.body if action.after else {}
        return _explode(_Leaf(path=(), before=ABSENT, after=body))
    out: list[_Leaf] = []
    for c in action.changes:
        out.extend(_explode(_Leaf(path=c.path, before=c.before, after=c.after, carrier=c.carrier)))
    return out


def _explode(leaf: _Leaf) -> list[_Leaf]:
    """Split an added/removed endpoint, config or entity map into per-key leaves."""
    side = leaf.after if leaf.before is ABSENT else leaf.before
    if (
        (leaf.path == () or leaf.path in _FLAT)
        and isinstance(side, Mapping)
        and (leaf.before is ABSENT or leaf.after is ABSENT)
    ):
        out: list[_Leaf] = []
        for key, value in side.items():
            path = (*leaf.path, key)
            if path in _HIDDEN or _empty(value):
                continue
            before, after = (ABSENT, value) if leaf.before is ABSENT else (value, ABSENT)
            out.extend(_explode(_Leaf(path=path, before=before, after=after, carrier=leaf.carrier)))
        return out
    return [leaf]


def _tree(leaves: list[_Leaf]) -> _Block:
    root = _Block(path=(), containers=((), ("config",), impact.ENTITIES))
    for leaf in leaves:
        parts = list(_display_parts(leaf.path)) or [(_pointer(leaf.path) or "endpoint", leaf.path)]
        node = root
        for label, prefix in parts[:-1]:
            child = node.children.get(label)
            if not isinstance(child, _Block):
                child = _Block(path=prefix, containers=(prefix,))
                node.children[label] = child
            node = child
        node.children[parts[-1][0]] = leaf
    return root


def _display_parts(path: Path) -> Iterator[tuple[str, Path]]:
    for i, part in enumerate(path):
        prefix = path[: i + 1]
        if prefix in _FLAT:
            continue
        if path[:i] == impact.ENTITIES:
            yield f'served_entity "{part}"', prefix
        else:
            yield _key(part), prefix


def _block_body(block: _Block, depth: int, ctx: _Ctx) -> list[str]:
    attrs = [(k, c) for k, c in block.children.items() if isinstance(c, _Leaf) and not _sub(c)]
    flat = {k for k, _ in attrs}
    nested = [(k, c) for k, c in block.children.items() if k not in flat]
    width = max((len(k) for k, _ in attrs), default=0)
    lines = [_attr_line(k, leaf, depth, width, ctx) for k, leaf in attrs]
    for label, child in nested:
        if isinstance(child, _Block):
            lines.append(f"{_sym('~', depth, ctx.color)} {label} {{")
            lines.extend(_block_body(child, depth + 1, ctx))
            lines.append(" " * (4 * depth + 4) + "}")
        else:
            lines.extend(_subtree(label, child, depth, ctx))
    lines.extend(_hidden_lines(block, depth, ctx))
    return lines


def _attr_line(label: str, leaf: _Leaf, depth: int, width: int, ctx: _Ctx) -> str:
    before = redact(leaf.path, leaf.before)
    after = redact(leaf.path, with_aliases(leaf.path, leaf.after, ctx.pins))
    name = label.ljust(width)
    if leaf.before is ABSENT:
        text = f"{name} = {literal(after)}"
        sym = "+"
    elif leaf.after is ABSENT:
        text = f"{name} = {literal(before)} -> null"
        sym = "-"
    else:
        text = f"{name} = {literal(before)} -> {literal(after)}"
        sym = "~"
    note = _leaf_note(leaf)
    return f"{_sym(sym, depth, ctx.color)} {text}" + (f"   # {note}" if note else "")


def _leaf_note(leaf: _Leaf) -> str:
    if leaf.carrier is Carrier.RECREATE:
        return "forces replacement"
    if leaf.carrier is Carrier.NONE:
        return "cannot change on an existing endpoint (see errors)"
    if leaf.path[-1:] == ("workload_size",):
        sizes = [
            impact.SIZES.get(v) if isinstance(v, str) else None for v in (leaf.before, leaf.after)
        ]
        shown = [f"{s[0]}" if s[0] == s[1] else f"{s[0]}..{s[1]}" for s in sizes if s]
        return " -> ".join(shown) + " concurrency" if shown else ""
    return ""


def _subtree(label: str, leaf: _Leaf, depth: int, ctx: _Ctx) -> list[str]:
    """An added (+) or removed (-) map, shown in full with the symbol on every line."""
    adding = leaf.before is ABSENT
    sym = "+" if adding else "-"
    value = leaf.after if adding else leaf.before
    lines = [f"{_sym(sym, depth, ctx.color)} {label} {{"]
    items = [
        (k, (*leaf.path, k), v)
        for k, v in value.items()
        if (*leaf.path, k) not in _HIDDEN and not _empty(v)
    ]
    width = max((len(_key(k)) for k, _, v in items if not _is_map(v)), default=0)
    for key, path, v in items:
        if _is_map(v) and not fields.is_sensitive(path):
            child = _Leaf(path=path, before=ABSENT if adding else v, after=v if adding else ABSENT)
            sub_label = f'served_entity "{key}"' if leaf.path == impact.ENTITIES else _key(key)
            lines.extend(_subtree(sub_label, child, depth + 1, ctx))
        else:
            shown = literal(redact(path, with_aliases(path, v, ctx.pins) if adding else v))
            tail = "" if adding else " -> null"
            lines.append(
                f"{_sym(sym, depth + 1, ctx.color)} {_key(key).ljust(width)} = {shown}{tail}"
            )
    lines.append(" " * (4 * depth + 4) + "}")
    return lines


def _hidden_lines(block: _Block, depth: int, ctx: _Ctx) -> list[str]:
    changed = {c.path for c in block.children.values()}
    attrs = blocks = 0
    for container in block.containers:
        old, new = impact.lookup(ctx.before, container), impact.lookup(ctx.after, container)
        if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
            continue
        for key in dict.fromkeys([*old, *new]):
            path = (*container, key)
            if path in _FLAT or path in _HIDDEN or path in changed:
                continue
            if _is_map(new.get(key, old.get(key))):
                blocks += 1
            else:
                attrs += 1
    pad = " " * (4 * depth + 4)
    out = []
    if attrs:
        out.append(f"{pad}# ({plural(attrs, 'unchanged attribute')} hidden)")
    if blocks:
        out.append(f"{pad}# ({plural(blocks, 'unchanged block')} hidden)")
    return out


def _delete_body(before: Any, ctx: _Ctx) -> list[str]:
    entities = impact.served_entities(before)
    lines = [f'{_sym("-", 1, ctx.color)} served_entity "{name}"' for name in entities]
    others = sum(1 for k in before if k != "config") if isinstance(before, Mapping) else 0
    if others:
        lines.append(f"        # ({plural(others, 'other attribute')} hidden)")
    return lines


# --------------------------------------------------------------------------------------------
# Sections after the actions


def _sections(plan: Plan) -> list[str]:
    out: list[str] = []
    held = [w for w in plan.waits if w.rollout is not None]
    if held:
        out.append(
            "\n".join(
                f'# endpoint "{w.name}": {rollouts.headline(w.rollout)}'
                for w in held
                if w.rollout is not None
            )
        )
    live_health = _health_lines(plan)
    if live_health:
        out.append(live_health)
    acted = {a.name for a in plan.actions}
    quiet = [
        f'# endpoint "{name}": {note}'
        for name in plan.ignored
        if name not in acted
        for note in ignored_notes(plan, name)
    ]
    if quiet:
        out.append("\n".join(quiet))
    if plan.orphaned and not plan.prune:
        out.append(
            f"# {plural(len(plan.orphaned), 'endpoint')} owned by this project ({_owner(plan)}) "
            f"no longer in the configuration, will be deleted with --prune: "
            + ", ".join(plan.orphaned)
        )
    info = _unmanaged_line(plan)
    if info:
        out.append(info)
    policy = policy_line(plan)
    if policy:
        out.append(policy)
    problems = _problem_lines(plan.problems)
    if problems:
        if not plan.applyable:
            problems.append("This plan cannot be applied until the errors above are fixed.")
        out.append("\n".join(problems))
    return out


def _health_lines(plan: Plan, *, mentioned: set[str] | None = None) -> str:
    """The live-health summary, then one line per endpoint that is not ready and is not
    `mentioned` already (by default: those with an action block, which says it). Without
    `mentioned` this is a plan, and the lines say which rollouts apply waits for."""
    acted = {a.name for a in plan.actions} if mentioned is None else mentioned
    waits = {w.name for w in plan.waits} if mentioned is None else set()
    lines = [health.summary(plan)] if plan.live else []
    for name, described in health.unhealthy(plan):
        if name in acted:
            continue
        line = f'# endpoint "{name}": {described}'
        if name in waits:
            line += "; its pending config already matches the configuration, apply waits for it"
        lines.append(line)
    return "\n".join(lines)


def _unmanaged_line(plan: Plan) -> str:
    lines = []
    if plan.unmanaged:
        n = len(plan.unmanaged)
        lines.append(
            f"{plural(n, 'unmanaged endpoint')} (no {OWNER_TAG} tag) left untouched: "
            + ", ".join(plan.unmanaged)
        )
    if plan.foreign:
        n = len(plan.foreign)
        lines.append(
            f"{plural(n, 'endpoint')} owned by another servingops project left untouched: "
            + ", ".join(f"{name} ({owner})" for name, owner in plan.foreign)
        )
    return "\n".join(lines)


def ignored_notes(plan: Plan, name: str) -> list[str]:
    """One note per difference the endpoint's `ignore_changes` keeps out of the plan."""
    return [
        f"ignored (ignore_changes): {_pointer(i.path)} stays {_drift_value(i.path, i.live)} "
        f"live; the file says {_drift_value(i.path, i.desired)}"
        for i in plan.ignored.get(name, ())
    ]


def waits_line(plan: Plan) -> str:
    """What apply waits for besides its own changes: rollouts already in progress."""
    waits = [a for a in plan.waits if a.rollout is None]  # held rollouts are said elsewhere
    if not waits:
        return ""
    names = ", ".join(a.name for a in waits)
    n = plural(len(waits), "rollout")
    if plan.actions:
        return f"Apply also waits for {n} already in progress: {names}."
    return f"Waiting for {n} already in progress: {names}."


def policy_line(plan: Plan) -> str:
    """What the plan allows beyond in-place changes (recorded in saved plans), or ""."""
    allowed = []
    if plan.allow_replace:
        allowed.append("replace allowed (--allow-replace)")
    if plan.prune:
        allowed.append("prune owned endpoints no longer in the files (--prune)")
    return "Policy: " + "; ".join(allowed) + "." if allowed else ""


def _problem_lines(problems: tuple[Diagnostic, ...]) -> list[str]:
    return [problem_line(p) for p in problems]


def problem_line(problem: Diagnostic) -> str:
    """`file:line:col: error: summary` (or `error: summary` without a source)."""
    where = f"{problem.source}: " if problem.source else ""
    return f"{where}{problem.severity.value}: {problem.summary}"


# --------------------------------------------------------------------------------------------
# Drift


def _drift_action(action: Action, plan: Plan, *, color: bool) -> list[str]:
    if action.kind is ActionKind.DELETE:
        return []  # listed with plan.orphaned
    if rolling(action) and action.rollout is not None:
        return [
            f'# endpoint "{action.name}": {rollouts.headline(action.rollout)}; what it has left '
            "to move is not drift"
        ]
    if action.kind is ActionKind.CREATE:
        sym = color_symbol("+", color)
        return [f'{sym} endpoint "{action.name}" is in the configuration but missing live']
    sym = color_symbol("~", color)
    lines = [f'{sym} endpoint "{action.name}" differs from the configuration:']
    pins = impact.pins_of(plan, action.name)
    for change in action.changes:
        live = _drift_value(change.path, change.before)
        desired = _drift_value(change.path, with_aliases(change.path, change.after, pins))
        lines.append(f"    {_pointer(change.path)}: live {live}, desired {desired}")
    if action.kind is ActionKind.REPLACE:
        lines.append("    # healing it replaces the endpoint: " + "; ".join(action.reasons))
    status = plan.live.get(action.name)
    if status is not None and status.health is not Health.READY:
        lines.append("    # live: " + health.describe(status, observed_at_ms=plan.observed_at_ms))
    if action.name in plan.updating:
        lines.append("    # compared with its pending config, so the rollout itself is not drift")
    return lines


def _drift_value(path: Path, value: Any) -> str:
    return "(not set)" if value is ABSENT else literal(redact(path, value))


# --------------------------------------------------------------------------------------------
# Small helpers


def _sym(sym: str, depth: int, enabled: bool) -> str:
    return " " * (4 * depth + 3 - len(sym)) + color.symbol(sym, enabled=enabled)


def _key(key: Any) -> str:
    text = str(key)
    return text if _IDENT.match(text) else json.dumps(text, ensure_ascii=False)


def _owner(plan: Plan) -> str:
    return f"{OWNER_TAG} = {literal(plan.owner)}"


def _empty(value: Any) -> bool:
    return value == {} or value == [] or value is None


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value)


def _sub(leaf: _Leaf) -> bool:
    """An added or removed non-empty map (shown as a nested block), not an attribute line."""
    if fields.is_sensitive(leaf.path):
        return False
    if leaf.before is ABSENT:
        return _is_map(leaf.after)
    return leaf.after is ABSENT and _is_map(leaf.before)
