"""Compare desired with live endpoints and produce an ordered Plan. Pure: no I/O.

Pairing by name (gitops-engine's Reconcile), then a field diff of the canonical bodies, then a
total order. Which call carries each change, and which changes force a replacement, come from
normalize.py's table; the planner never special-cases a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import fields, normalize, rollout
from .model import (
    ABSENT,
    OWNER_TAG,
    Action,
    ActionKind,
    Body,
    Carrier,
    Diagnostic,
    Endpoint,
    FieldChange,
    Ignored,
    Path,
    Plan,
    RolloutPlan,
    RolloutStatus,
    Severity,
    render_pointer,
)

_RANK = {
    ActionKind.CREATE: 0,
    ActionKind.UPDATE: 1,
    ActionKind.REPLACE: 2,
    ActionKind.DELETE: 3,
    ActionKind.WAIT: 4,
}


def plan(
    desired: Sequence[Endpoint],
    live: Sequence[Endpoint],
    *,
    owner: str,
    prune: bool = False,
    allow_replace: bool = False,
    target: str = "",
    observed_at_ms: int | None = None,
) -> Plan:
    """Plan the actions that make `live` match `desired` for the project that owns `owner`.

    The policy is decided here: a replace that `allow_replace` does not permit is a problem
    naming the endpoint, so the plan cannot be applied; deletes are planned only with `prune`.
    """
    live_by_name = {e.name: e for e in live}
    desired_names = {e.name for e in desired}
    actions: list[Action] = []
    waits: list[Action] = []
    ignored: dict[str, tuple[Ignored, ...]] = {}
    unchanged: list[str] = []
    updating: list[str] = []
    problems: list[Diagnostic] = []

    for want in desired:
        have = live_by_name.get(want.name)
        if have is None:
            actions.append(Action(kind=ActionKind.CREATE, name=want.name, before=None, after=want))
            continue
        status = have.status
        if status is not None and status.updating:
            updating.append(want.name)
        live_owner = status.owner if status else None
        if live_owner is not None and live_owner != owner:
            problems.append(
                _problem(
                    want,
                    f'endpoint "{want.name}" is managed by another '
                    f'servingops project (owner "{live_owner}"); remove it '
                    "from this project or change its owner tag first",
                )
            )
            continue
        # The rollout is judged on the file's own definition, before the server's fills.
        moving = _rollout(want, have, problems)
        want = normalize.resolve_server_chosen(want, have)
        if want.ignored:
            ignored[want.name] = want.ignored
        held = moving is not None and moving.status is RolloutStatus.HELD
        # A held rollout keeps the live split: only the file's other changes are planned.
        found: list[Diagnostic] = []
        action = _compare(
            rollout.held_desired(want, have) if held else want, have, owner=owner, problems=found
        )
        if action is not None and action.kind is ActionKind.REPLACE and moving is not None:
            # A replace creates the endpoint anew at the file's split: nothing to move gradually.
            moving = None
            if held:
                found = []
                action = _compare(want, have, owner=owner, problems=found)
        problems.extend(found)
        if action is None and moving is not None and moving.status is not RolloutStatus.HELD:
            # A rollout in progress may have work left when the config already matches (the
            # last step is live and awaits its gates) or only its state is left to clear.
            action = Action(kind=ActionKind.UPDATE, name=want.name, before=have, after=want)
        if action is None:
            unchanged.append(want.name)
            if moving is not None or (status is not None and status.updating):
                waits.append(
                    Action(
                        kind=ActionKind.WAIT,
                        name=want.name,
                        before=have,
                        after=None,
                        rollout=moving,
                    )
                )
            continue
        if moving is not None:
            action = replace(action, rollout=moving)
        if action.kind is ActionKind.REPLACE and not allow_replace:
            problems.append(_blocked_replace(want, action))
        actions.append(action)

    orphaned: list[str] = []
    unmanaged: list[str] = []
    foreign: list[tuple[str, str]] = []
    statuses = {
        e.name: e.status
        for e in live
        if e.status is not None and (e.name in desired_names or e.status.owner == owner)
    }
    for have in live:
        if have.name in desired_names:
            continue
        live_owner = have.status.owner if have.status is not None else None
        if live_owner == owner:
            orphaned.append(have.name)
            if prune:
                actions.append(
                    Action(kind=ActionKind.DELETE, name=have.name, before=have, after=None)
                )
        elif live_owner is not None:
            foreign.append((have.name, live_owner))
        else:
            unmanaged.append(have.name)

    actions.sort(key=lambda a: (_RANK[a.kind], a.name))
    return Plan(
        actions=tuple(actions),
        unchanged=tuple(sorted(unchanged)),
        orphaned=tuple(sorted(orphaned)),
        unmanaged=tuple(sorted(unmanaged)),
        foreign=tuple(sorted(foreign)),
        updating=tuple(sorted(updating)),
        waits=tuple(sorted(waits, key=lambda a: a.name)),
        problems=tuple(sorted(problems, key=Diagnostic.sort_key)),
        owner=owner,
        target=target,
        prune=prune,
        allow_replace=allow_replace,
        live=dict(sorted(statuses.items())),
        ignored=dict(sorted(ignored.items())),
        observed_at_ms=observed_at_ms,
    )


def _rollout(want: Endpoint, have: Endpoint, problems: list[Diagnostic]) -> RolloutPlan | None:
    """Where the rollout the file asks for (or the one the endpoint carries) stands; problems
    when it cannot run: a stopped endpoint serves no traffic to judge, and the state must fit
    in a tag."""
    moving = rollout.plan_rollout(want, have)
    if moving is None or moving.status in (RolloutStatus.HELD, RolloutStatus.ABANDONED):
        return moving
    status = have.status
    if status is not None and status.stopped and want.body.get("state") != "running":
        problems.append(
            _problem(
                want,
                f'endpoint "{want.name}" is stopped, so a traffic rollout has nothing to '
                "observe; start it (state: running) or remove the rollout block",
                path=("rollout",),
            )
        )
    fits = rollout.check_fits(moving)
    if fits:
        problems.append(_problem(want, f'endpoint "{want.name}": {fits}', path=("rollout",)))
    return moving


def _blocked_replace(want: Endpoint, action: Action) -> Diagnostic:
    forcing = next((c.path for c in action.changes if c.carrier is Carrier.RECREATE), ())
    return _problem(
        want,
        f'endpoint "{want.name}" must be replaced ({"; ".join(action.reasons)}), which this '
        "plan does not allow; plan again with --allow-replace to delete and re-create it (its "
        "id and URL change and it does not serve in between), or keep the live value",
        path=forcing,
    )


def _compare(
    want: Endpoint, have: Endpoint, *, owner: str, problems: list[Diagnostic]
) -> Action | None:
    """The action that turns `have` into `want` (already resolved against it), or None."""
    changes = list(diff_bodies(have.body, want.body))
    adopt = have.status is not None and have.status.owner is None
    if adopt:
        changes.append(
            FieldChange(path=("tags", OWNER_TAG), before=ABSENT, after=owner, carrier=Carrier.TAGS)
        )
    if not changes:
        return None
    reasons: list[str] = []
    for change in changes:
        carrier, reason = fields.carrier_for(change.path)
        if carrier is Carrier.RECREATE and reason not in reasons:
            reasons.append(reason)
        elif carrier is Carrier.NONE:
            problems.append(
                _problem(
                    want,
                    f'endpoint "{want.name}": {render_pointer(change.path)} cannot change on an '
                    f"existing endpoint ({reason}); write the live value, or leave the field out",
                    path=change.path,
                )
            )
        elif carrier is Carrier.PERMISSIONS and have.status and not have.status.endpoint_id:
            problems.append(
                _problem(
                    want,
                    f'endpoint "{want.name}" has no id (a system or pay-per-token endpoint), so '
                    "its permissions cannot be managed; remove its permissions block",
                    path=("permissions",),
                )
            )
    kind = ActionKind.REPLACE if reasons else ActionKind.UPDATE
    return Action(
        kind=kind,
        name=want.name,
        before=have,
        after=want,
        changes=tuple(sorted(changes, key=lambda c: _path_key(c.path))),
        reasons=tuple(reasons),
        adopt=adopt,
    )


def diff_bodies(before: Body, after: Body) -> tuple[FieldChange, ...]:
    """Field-level differences between two canonical bodies, ordered by path.

    Keyed lists are mappings in canonical form, so only plain value lists (e-mail addresses,
    keywords) remain; a change anywhere in one is reported as a change of the whole list. A
    subtree present on one side only is one change (an added served entity, a removed tag).
    """
    changes: list[FieldChange] = []
    _diff(before, after, (), changes)
    return tuple(sorted(changes, key=lambda c: _path_key(c.path)))


def _diff(before: Any, after: Any, path: Path, out: list[FieldChange]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in before.keys() | after.keys():
            _diff(before.get(key, ABSENT), after.get(key, ABSENT), (*path, key), out)
        return
    if before == after and type(before) is type(after):
        return
    carrier, _ = fields.carrier_for(path)
    out.append(FieldChange(path=path, before=before, after=after, carrier=carrier))


def _path_key(path: Path) -> tuple[str, ...]:
    return tuple(str(p) for p in path)


def _problem(endpoint: Endpoint, summary: str, *, path: Path = ()) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, summary=summary, source=endpoint.locate(path))
