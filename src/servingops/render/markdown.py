"""Plan -> a GitHub PR comment (or drift issue body), always under a size limit.

Pure. A hidden marker lets CI update one comment in place; the summary, warnings and table stay
outside `<details>`, the full text plan goes inside a ```diff fence, and a traffic split that
changes is also drawn (mermaid pies, before and after). When the comment would be too long, the
charts go first, then the middle of the diff is cut (never the summary, a fence or the details).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import smoke
from ..model import ABSENT, OWNER_TAG, Action, ActionKind, Plan, RolloutStatus, render_pointer
from . import health, impact, plural, rollouts, text

LIMIT = 60_000
MAX_CHARTS = 5
"""Endpoints whose traffic change is drawn; the table names the rest."""
COMMENT_OPEN = "<!--"
_ESCAPED_OPEN = "<!\\--"
_SYMBOL_LINE = re.compile(r"^( *)([+~-]) (.*)$")
_LEGEND = frozenset(text.LEGEND.splitlines())
_ARROW = "→"
_MAX_NAMES = 20  # endpoint names listed in one warning before "and N more"
_GROUPS = {
    "tags": "tags",
    "ai_gateway": "AI gateway",
    "email_notifications": "notifications",
    "permissions": "permissions",
    "description": "description",
    "route_optimized": "route_optimized",
    "budget_policy_id": "budget_policy_id",
    "auto_capture_config": "inference table (auto capture)",
    "entity_kind": "entity kind",
}


def render_plan(plan: Plan, *, target: str, limit: int = LIMIT) -> str:
    """A PR comment for `plan` on `target`, at most `limit` characters."""
    add, change, destroy = plan.summary
    counts = f"{add} to add, {change} to change, {destroy} to destroy"
    page = _Page(
        top=[
            f"<!-- servingops:plan target={target} -->",
            f"## servingops plan: {target} — {counts}",
            *_warnings(plan),
            *_rollouts(plan),
        ],
        table=_table(plan.actions, plan) if plan.actions else [],
        bottom=[_info(plan)],
        charts=_traffic_charts(plan.actions),
        summary=f"Full plan ({plural(len(plan.actions), 'endpoint')})",
        body=_diff_lines(text.render_plan(plan, color=False)),
        fence_lang="diff",
        command="plan",
    )
    return page.render(limit)


def render_drift(plan: Plan, *, target: str, limit: int = LIMIT) -> str:
    """A drift issue body for `plan` on `target`, at most `limit` characters."""
    drifted = text.drift_count(plan)
    title = f"drift in {plural(drifted, 'endpoint')}" if drifted else "no drift"
    top = [
        f"<!-- servingops:drift target={target} -->",
        f"## servingops drift: {target} — {title}",
    ]
    if plan.problems:
        top.append(_warning(["Problems found while comparing:", *_problems(plan)]))
    rows = [a for a in plan.actions if a.kind is not ActionKind.DELETE and not text.rolling(a)]
    failed = [n for n in text.failed_drift(plan) if n not in {a.name for a in rows}]
    held = [n for n in text.held_drift(plan) if n not in {a.name for a in rows}]
    table = []
    if rows or plan.orphaned or failed or held:
        table = ["| endpoint | drift | fields |", "|---|---|---|"]
        for action in rows:
            table.append(f"| `{action.name}` | {_drift_kind(action)} | {_drift_fields(action)} |")
        table.extend(f"| `{n}` | owned, no longer in git | — |" for n in plan.orphaned)
        for name in failed:
            why = plan.live[name].failure or "see servingops status"
            table.append(f"| `{name}` | last update failed | {_cell(why)} |")
        moving = dict(plan.rollouts)
        for name in held:
            why = moving[name].failure or "see servingops plan"
            table.append(f"| `{name}` | traffic rollout rolled back, held | {_cell(why)} |")
    page = _Page(
        top=top,
        table=table,
        bottom=[_info(plan, drift=True)],
        summary="Drift report",
        body=text.render_drift(plan, color=False).splitlines(),
        fence_lang="text",
        command="drift",
    )
    return page.render(limit)


# --------------------------------------------------------------------------------------------
# Head: warnings, table, counts


def _warnings(plan: Plan) -> list[str]:
    out = []
    by_kind = {k: [a for a in plan.actions if a.kind is k] for k in ActionKind}
    deletes = by_kind[ActionKind.DELETE]
    if deletes:
        out.append(
            _warning(
                [
                    f"{plural(len(deletes), 'endpoint')} will be **destroyed**: "
                    f"{_names(a.name for a in deletes)}. "
                    + ("Its URL stops" if len(deletes) == 1 else "Their URLs stop")
                    + " working at apply."
                ]
            )
        )
    replaces = by_kind[ActionKind.REPLACE]
    if replaces:
        lines = [
            f"{plural(len(replaces), 'endpoint')} will be **replaced** "
            "(deleted and created again: URL changes, traffic interrupted):"
        ]
        lines.extend(f"- `{a.name}`: {'; '.join(a.reasons)}" for a in replaces[:_MAX_NAMES])
        lines.extend(_more(len(replaces)))
        out.append(_warning(lines))
    adopted = [a for a in plan.actions if a.adopt]
    if adopted:
        out.append(
            _warning(
                [
                    f"{plural(len(adopted), 'existing endpoint')} will be **adopted** "
                    f"(gains the `{OWNER_TAG}: {plan.owner}` tag and is managed from now on): "
                    f"{_names(a.name for a in adopted)}."
                ]
            )
        )
    if plan.problems:
        head = "**This plan cannot be applied**" if not plan.applyable else "Problems found"
        out.append(_warning([f"{head}:", *_problems(plan)]))
    sick = health.unhealthy(plan)
    if sick:
        lines = [f"{plural(len(sick), 'endpoint')} not ready live:"]
        lines.extend(f"- `{name}`: {_cell(described)}" for name, described in sick[:_MAX_NAMES])
        lines.extend(_more(len(sick)))
        out.append(_warning(lines))
    return out


def _rollouts(plan: Plan) -> list[str]:
    """Each traffic rollout: its schedule and where it stands (held ones as a warning)."""
    out = []
    for name, moving in plan.rollouts:
        described = rollouts.lines(moving, observed_at_ms=plan.observed_at_ms)
        if moving.status is RolloutStatus.HELD:
            out.append(_warning([f"`{name}`: {_cell(described[0])}"]))
            continue
        steps = [f"  - {_cell(line.strip())}" for line in described[1:]]
        out.append("\n".join([f"**Traffic rollout** `{name}`: {_cell(described[0])}", *steps]))
    return out


def _warning(lines: Sequence[str]) -> str:
    return "> [!WARNING]\n" + "\n".join(f"> {line}" for line in lines)


def _problems(plan: Plan) -> list[str]:
    shown = [f"- {_cell(text.problem_line(p))}" for p in plan.problems[:_MAX_NAMES]]
    return shown + _more(len(plan.problems))


def _more(n: int) -> list[str]:
    return [f"- … and {n - _MAX_NAMES} more (see the full plan)"] if n > _MAX_NAMES else []


def _table(actions: Sequence[Action], plan: Plan) -> list[str]:
    rows = ["| endpoint | action | what changes |", "|---|---|---|"]
    for action in actions:
        label = f"{action.kind.symbol} {action.kind.value}"  # `+ create`, `-/+ replace`, ...
        rows.append(f"| `{action.name}` | {label} | {_what(action, plan)} |")
    return rows


def _what(action: Action, plan: Plan) -> str:
    """Short description of one action for the summary table."""
    if action.kind is ActionKind.DELETE:
        entities = impact.served_entities(action.before.body if action.before else {})
        return _cell(f"{plural(len(entities), 'served entity', 'served entities')} removed")
    parts: list[str] = []
    if action.kind is ActionKind.CREATE:
        entities = impact.served_entities(action.after.body if action.after else {})
        parts.append(plural(len(entities), "served entity", "served entities"))
        pins = impact.pins_of(plan, action.name).values()
        parts.extend(f"{p.entity}: {p.model} {p.display}" for p in pins)
    if action.kind is ActionKind.REPLACE:
        parts.append("replaced: " + "; ".join(action.reasons))
    parts.extend(_entity_changes(action))
    parts.extend(impact.impact_notes(action, plan, arrow=_ARROW))
    groups = [_GROUPS[g] for g in _changed_groups(action) if g in _GROUPS]
    if action.adopt:
        parts.append("adopted (ownership tag added)")
    if groups:
        parts.append(", ".join(dict.fromkeys(groups)) + " changed")
    checks = smoke.planned(action)
    if checks:
        parts.append("smoke checks once READY: " + ", ".join(c.name for c in checks))
    return _cell("; ".join(parts)) or "—"


def _entity_changes(action: Action) -> list[str]:
    if action.kind is not ActionKind.UPDATE:
        return []
    out = []
    for change in action.changes:
        if change.path[:2] == ("config", "served_entities") and len(change.path) == 3:
            sign = "+" if change.before is ABSENT else "-"
            out.append(f"{sign} entity `{change.path[2]}`")
    return out


def _changed_groups(action: Action) -> list[str]:
    out = []
    for change in action.changes:
        if change.path == ("tags", OWNER_TAG):
            continue
        key = change.path[1] if change.path[:1] == ("config",) else change.path[0]
        out.append(str(key))
    return out


def _info(plan: Plan, *, drift: bool = False) -> str:
    lines = [f"{plural(len(plan.unchanged), 'endpoint')} unchanged."]
    if plan.live:
        lines.append(health.summary(plan))
    if plan.updating:
        lines.append(f"Update in progress (pending config compared): {_names(plan.updating)}.")
    if plan.orphaned and not plan.prune and not drift:
        lines.append(
            f"Owned by this project but no longer in the configuration (deleted only with "
            f"`--prune`): {_names(plan.orphaned)}."
        )
    if plan.unmanaged:
        lines.append(
            f"{plural(len(plan.unmanaged), 'unmanaged endpoint')} (no `{OWNER_TAG}` tag) "
            f"left untouched: {_names(plan.unmanaged)}."
        )
    if plan.foreign:
        owned = [f"{name} ({owner})" for name, owner in plan.foreign]
        lines.append(
            f"{plural(len(plan.foreign), 'endpoint')} owned by another servingops project "
            f"left untouched: {_names(owned)}."
        )
    if plan.ignored:
        kept = [
            f"{name} ({', '.join(render_pointer(i.path) for i in items)})"
            for name, items in plan.ignored.items()
        ]
        lines.append(f"`ignore_changes` keeps live values, not changed: {_names(kept)}.")
    policy = text.policy_line(plan)
    if policy and not drift:
        lines.append(policy)
    return "\n\n".join(lines)


def _drift_kind(action: Action) -> str:
    if action.kind is ActionKind.CREATE:
        return "missing live"
    return "changed (heals by replace)" if action.kind is ActionKind.REPLACE else "changed"


def _drift_fields(action: Action) -> str:
    if action.kind is ActionKind.CREATE:
        return "—"
    paths = [f"`{render_pointer(c.path)}`" for c in action.changes[:_MAX_NAMES]]
    more = len(action.changes) - _MAX_NAMES
    return _cell(", ".join(paths) + (f" and {more} more" if more > 0 else ""))


def escape_markers(value: str) -> str:
    """`<!--` in a value becomes `<!\\--`: it reads the same, but it cannot open an HTML
    comment, so no value can forge (or hide) the hidden marker CI looks for."""
    return value.replace(COMMENT_OPEN, _ESCAPED_OPEN)


# --------------------------------------------------------------------------------------------
# Traffic charts


def _traffic_charts(actions: Sequence[Action]) -> list[str]:
    """Two mermaid pies (before, after) per endpoint whose split changes; GitHub renders them.

    Mermaid pies take only positive values (mermaid.js.org/syntax/pie.html), so a 0 % route is
    left out of its chart; the table above still names it.
    """
    changed = []
    for action in actions:
        if action.kind is ActionKind.DELETE or action.after is None:
            continue
        before = impact.lookup_map(impact.live_body(action), impact.TRAFFIC)
        after = impact.lookup_map(action.after.body, impact.TRAFFIC)
        if before and after and before != after:
            changed.append((action.name, before, after))
    blocks: list[str] = []
    for name, before, after in changed[:MAX_CHARTS]:
        order = sorted(
            set(before) | set(after),
            key=lambda n: (-_share(before, n), -_share(after, n), n),
        )
        for when, split in (("before", before), ("after", after)):
            slices = "".join(
                f'    "{_label(n)}" : {_share(split, n)}\n' for n in order if _share(split, n) > 0
            )
            blocks.append(
                f"```mermaid\npie showData title {_label(name)} traffic {when} (%)\n{slices}```"
            )
    more = len(changed) - MAX_CHARTS
    if more > 0:
        blocks.append(f"{plural(more, 'more endpoint')} change traffic (see the table).")
    return blocks


def _share(split: dict[str, object], name: str) -> int:
    try:
        return int(str(split.get(name, 0)))
    except ValueError:
        return 0


def _label(value: str) -> str:
    """Names are API-restricted already; keep anything that could end a mermaid string out."""
    return re.sub(r"[^A-Za-z0-9_. -]", "_", value)


# --------------------------------------------------------------------------------------------
# Diff block and size budget


def _diff_lines(plain: str) -> list[str]:
    """Move each action symbol to column 0 so GitHub's diff highlighting colours the line.

    `~` becomes `!` (GitHub colours `!` lines as changed, as Atlantis does); `-/+` stays.
    """
    out = []
    for line in plain.splitlines():
        match = _SYMBOL_LINE.match(line)
        if match and line not in _LEGEND:
            indent, sym, rest = match.groups()
            mark = "!" if sym == "~" else sym
            out.append(f"{mark}{indent} {rest}")
        else:
            out.append(line)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class _Page:
    """A comment in parts, so the budget can cut the diff first and the table rows second."""

    top: list[str]
    table: list[str]
    bottom: list[str]
    summary: str
    body: list[str]
    fence_lang: str
    command: str
    charts: list[str] = field(default_factory=list)

    def render(self, limit: int) -> str:
        # Values from endpoint files reach every part but the marker line: defuse them first.
        page = _Page(
            top=self.top[:1] + [escape_markers(line) for line in self.top[1:]],
            table=[escape_markers(line) for line in self.table],
            bottom=[escape_markers(line) for line in self.bottom],
            summary=self.summary,
            body=[escape_markers(line) for line in self.body],
            fence_lang=self.fence_lang,
            command=self.command,
            charts=self.charts,
        )
        return page._fit(limit)

    def _fit(self, limit: int) -> str:
        fence = "`" * max(3, _longest_backtick_run(self.body) + 1)
        open_ = f"<details><summary>{self.summary}</summary>\n\n{fence}{self.fence_lang}\n"
        close = f"{fence}\n\n</details>\n"
        body = "".join(f"{line}\n" for line in self.body)
        full = self._head(len(self.table), charts=True) + open_ + body + close
        if len(full) <= limit:
            return full
        # Pictures are the first thing to go: the table says the same in words.
        full = self._head(len(self.table)) + open_ + body + close
        if len(full) <= limit:
            return full
        rows = len(self.table)
        while True:
            top = self._head(rows)
            budget = limit - len(top) - len(open_) - len(close)
            cut = _cut_middle(self.body, budget, command=self.command)
            if cut is not None:
                return top + open_ + cut + close
            if rows <= 3:
                break
            rows = max(3, rows - max(1, (rows - 2) // 4))
        # Not even the warnings and a cut diff fit: keep what fits, point at the full output.
        note = (
            f"Full {self.command} omitted to fit the size limit: run `servingops {self.command}`."
        )
        out = "\n\n".join([*self.top, note]) + "\n"
        return out if len(out) <= limit else out[: max(0, limit)]

    def _head(self, rows: int, *, charts: bool = False) -> str:
        table = self.table
        if rows < len(table):
            hidden = len(table) - rows
            table = [*table[:rows], f"| … | | {hidden} more rows: see the full {self.command} |"]
        parts = [*self.top, "\n".join(table), *self.bottom, *(self.charts if charts else [])]
        return "\n\n".join(p for p in parts if p) + "\n\n"


def _cut_middle(lines: list[str], budget: int, *, command: str) -> str | None:
    total = sum(len(line) + 1 for line in lines)

    def notice(cut_lines: int, cut_chars: int) -> str:
        return (
            f"... {cut_lines} lines ({cut_chars:,} characters) cut to fit the comment; "
            f"see the CI artifact or `servingops {command}` output for the full {command} ...\n"
        )

    room = budget - len(notice(len(lines), total))
    if room < 0:
        return None
    head: list[str] = []
    used = 0
    head_room = room * 2 // 3
    for line in lines:
        if used + len(line) + 1 > head_room:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > room:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    cut_lines = len(lines) - len(head) - len(tail)
    cut_chars = total - used
    kept = "".join(f"{line}\n" for line in head)
    return kept + notice(cut_lines, cut_chars) + "".join(f"{line}\n" for line in tail)


def _longest_backtick_run(lines: list[str]) -> int:
    return max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)


def _names(names: Iterable[str]) -> str:
    items = list(names)
    shown = ", ".join(f"`{n}`" for n in items[:_MAX_NAMES])
    more = len(items) - _MAX_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _cell(value: str) -> str:
    """A table cell: one line, no column breaks, and no raw HTML outside code spans (a value
    such as `</details>` must not change the page's structure)."""
    parts = re.split(r"(`[^`]*`)", value.replace("\n", " "))
    safe = [p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts)]
    return "".join(safe).replace("|", "\\|")
