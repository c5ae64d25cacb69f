"""Where the desired and live branches meet: read live state concurrently, normalize, plan.

Reads are bounded by `parallelism`: one list call, then a GET for every endpoint this project
cares about (desired, or carrying its ownership tag) and its permissions where they are managed.
Pre-flight lookups (model aliases while live state is read; model versions, secret scopes and
principals of the endpoints the plan changes, after planning) share the same bound and are
fetched once per run however many endpoints refer to them; preflight.py judges the answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from . import fields, normalize, planner, preflight, smoke
from .errors import PermissionDenied, ReconcilerError
from .lookups import Lookups, ObjectReader, settle
from .model import (
    OWNER_TAG,
    Action,
    ActionKind,
    AliasPin,
    ConfigUpdate,
    DesiredDocument,
    Diagnostic,
    Endpoint,
    Plan,
)
from .preflight import Fact, Lookup

T = TypeVar("T")


class LiveReader(Protocol):
    """The read side of the client (client.Client satisfies it; tests may pass a fake)."""

    async def list_endpoints(self) -> list[dict[str, Any]]: ...
    async def get_endpoint(self, name: str) -> dict[str, Any] | None: ...
    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]: ...
    async def me(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveState:
    """What was read: canonical live endpoints of interest, every live name, and the caller."""

    endpoints: tuple[Endpoint, ...]
    caller: str | None
    raw: Mapping[str, Mapping[str, Any]]
    """The GET responses by name, for export and for messages that need server fields."""


async def read_live(
    reader: LiveReader,
    *,
    desired: Sequence[DesiredDocument],
    owner: str,
    parallelism: int = 16,
    all_endpoints: bool = False,
    need_caller: bool | None = None,
    gate: asyncio.Semaphore | None = None,
) -> LiveState:
    """Read the live endpoints that `desired` names or that `owner` owns (or all of them).

    Unmanaged endpoints are not fetched one by one unless `all_endpoints`; their list entries
    are enough to name them. `gate` (default: a new one of `parallelism`) bounds the reads, so
    other reads of the same run can share the bound.
    """
    gate = gate or asyncio.Semaphore(max(1, parallelism))
    managed_acl = {d.name for d in desired if "permissions" in d.body}
    if need_caller is None:
        need_caller = bool(managed_acl)

    async def bounded(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    listing_task = asyncio.ensure_future(bounded(reader.list_endpoints()))
    me_task = asyncio.ensure_future(bounded(reader.me())) if need_caller else None
    try:
        listing = await listing_task
        wanted = {d.name for d in desired}
        interesting = [
            e for e in listing if all_endpoints or e.get("name") in wanted or _owner(e) == owner
        ]

        async def fetch(
            entry: Mapping[str, Any], *, known: dict[str, Any] | None = None
        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            """The endpoint's GET (`known` when it was already read) and managed ACL."""
            name = str(entry.get("name"))
            endpoint_id = str(entry.get("id") or "")
            get = _done(known) if known is not None else bounded(reader.get_endpoint(name))
            get = _with_listed(get, entry)
            if name in managed_acl and endpoint_id:
                raw, acl = await asyncio.gather(get, bounded(reader.get_permissions(endpoint_id)))
                return raw, acl
            return await get, None

        # A desired endpoint missing from the listing may exist but be hidden from this
        # identity (the list shows only what it may view): planning a create would be wrong.
        listed = {str(e.get("name")) for e in listing}
        unlisted = sorted(wanted - listed)
        found = await asyncio.gather(*(bounded(_probe_unlisted(reader, n)) for n in unlisted))
        probed = [raw for raw in found if raw is not None]  # full GET answers already
        fetched = await asyncio.gather(
            *(fetch(e) for e in interesting), *(fetch(raw, known=raw) for raw in probed)
        )
        interesting += probed
        caller = normalize.caller_key(await me_task) if me_task else None
    finally:
        # A failed read must not leave the identity lookup running, or its own failure
        # unretrieved: asyncio would print that with a traceback after the one-line error.
        if me_task is not None:
            if not me_task.done():
                me_task.cancel()
            elif not me_task.cancelled():
                me_task.exception()

    endpoints: list[Endpoint] = []
    raw_by_name: dict[str, Mapping[str, Any]] = {}
    for raw, acl in fetched:
        if raw is None:
            continue  # deleted between the list and the get
        endpoints.append(normalize.normalize_live(raw, permissions=acl, caller=caller))
        raw_by_name[str(raw.get("name"))] = raw
    # Unmanaged endpoints that were not fetched still take part, by name and owner only.
    fetched_names = {str(e.get("name")) for e in interesting}
    for entry in listing:
        if str(entry.get("name")) not in fetched_names:
            endpoints.append(normalize.normalize_live(entry, caller=caller))
    endpoints.sort(key=lambda e: e.name)
    return LiveState(endpoints=tuple(endpoints), caller=caller, raw=raw_by_name)


def desired_endpoints(
    documents: Sequence[DesiredDocument], *, caller: str | None
) -> tuple[Endpoint, ...]:
    return tuple(
        replace(normalize.normalize_desired(d, caller=caller), smoke=smoke.checks_of(d))
        for d in documents
    )


async def compute_plan(
    reader: LiveReader,
    documents: Sequence[DesiredDocument],
    *,
    owner: str,
    prune: bool = False,
    allow_replace: bool = False,
    target: str = "",
    parallelism: int = 16,
    clock: Callable[[], float] = time.time,
    pins: Sequence[AliasPin] = (),
    checks: bool = True,
) -> tuple[Plan, LiveState]:
    """Read live state and plan it against `documents` under the given policy. `clock` (epoch
    seconds) stamps when live state was read, so a plan can say how long an update has run.

    When `reader` is also an ObjectReader, model aliases are resolved (a saved plan's `pins`
    win over where an alias points now) and, with `checks`, pre-flight checks every endpoint
    the plan creates, updates or replaces; its findings join `Plan.problems`.
    """
    gate = asyncio.Semaphore(max(1, parallelism))
    lookups = Lookups(reader, gate) if isinstance(reader, ObjectReader) else None
    aliases = _start(lookups, preflight.alias_lookups(documents))
    try:
        live = await read_live(
            reader, desired=documents, owner=owner, parallelism=parallelism, gate=gate
        )
        observed_at_ms = int(clock() * 1000)
        resolution = preflight.resolve_aliases(documents, await aliases, pinned=pins)
        desired = desired_endpoints(resolution.documents, caller=live.caller)
        result = planner.plan(
            desired,
            live.endpoints,
            owner=owner,
            prune=prune,
            allow_replace=allow_replace,
            target=target,
            observed_at_ms=observed_at_ms,
        )
        problems = list(resolution.problems)
        if lookups is not None and checks:
            changing = {a.name for a in result.actions if a.kind in _CHANGING}
            problems += await _check(
                lookups, [d for d in resolution.documents if d.name in changing]
            )
    finally:
        settle(aliases)
        if lookups is not None:
            lookups.close()
    merged = tuple(sorted((*result.problems, *problems), key=Diagnostic.sort_key))
    return replace(result, problems=merged, pins=resolution.pins), live


_CHANGING = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """Pre-flight over whole documents (validate --online): the resolved aliases, every
    finding, and how many distinct lookups were made."""

    pins: tuple[AliasPin, ...]
    problems: tuple[Diagnostic, ...]
    lookups: int


async def check_documents(
    reader: ObjectReader, documents: Sequence[DesiredDocument], *, parallelism: int = 16
) -> Checked:
    """Resolve every alias and check everything `documents` refer to, without reading any
    endpoint: what `validate --online` reports."""
    lookups = Lookups(reader, asyncio.Semaphore(max(1, parallelism)))
    try:
        facts = await lookups.facts(preflight.alias_lookups(documents))
        resolution = preflight.resolve_aliases(documents, facts)
        problems = [*resolution.problems, *await _check(lookups, resolution.documents)]
    finally:
        lookups.close()
    return Checked(
        pins=resolution.pins,
        problems=tuple(sorted(problems, key=Diagnostic.sort_key)),
        lookups=lookups.count,
    )


async def _check(lookups: Lookups, documents: Sequence[DesiredDocument]) -> list[Diagnostic]:
    refs = [r for d in documents for r in preflight.references(d)]
    facts = await lookups.facts(r.lookup for r in refs)
    return list(preflight.check(refs, facts))


def _start(lookups: Lookups | None, wanted: Sequence[Lookup]) -> asyncio.Future[dict[Lookup, Fact]]:
    """The alias lookups, started now so they run beside the live reads."""
    if lookups is None or not wanted:
        done: asyncio.Future[dict[Lookup, Fact]] = asyncio.get_running_loop().create_future()
        done.set_result({})
        return done
    return asyncio.ensure_future(lookups.facts(wanted))


async def rollouts_to_wait_for(
    reader: LiveReader, *, owner: str, names: Sequence[str] = (), parallelism: int = 16
) -> tuple[Action, ...]:
    """WAIT actions for the endpoints named (or, without names, owned by `owner`) whose update
    is in progress or whose last update failed (a wait on it reports the failure at once)."""
    gate = asyncio.Semaphore(max(1, parallelism))

    async def get(name: str) -> dict[str, Any] | None:
        async with gate:
            return await reader.get_endpoint(name)

    if names:
        chosen = list(dict.fromkeys(names))
    else:
        chosen = sorted(
            str(e.get("name")) for e in await reader.list_endpoints() if _owner(e) == owner
        )
    found = await asyncio.gather(*(get(n) for n in chosen))
    missing = [n for n, raw in zip(chosen, found, strict=True) if raw is None]
    if missing:
        raise ReconcilerError(
            f'endpoint "{missing[0]}" does not exist in this workspace; check the name'
        )
    waits = []
    for raw in found:
        assert raw is not None
        endpoint = normalize.normalize_live(raw)
        status = endpoint.status
        if status is not None and status.config_update in _UNSETTLED:
            waits.append(
                Action(kind=ActionKind.WAIT, name=endpoint.name, before=endpoint, after=None)
            )
    return tuple(waits)


_UNSETTLED = frozenset(
    {ConfigUpdate.IN_PROGRESS, ConfigUpdate.UPDATE_FAILED, ConfigUpdate.UPDATE_CANCELED}
)


async def _with_listed(
    get: Awaitable[dict[str, Any] | None], entry: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The GET answer with the fields only the list returns (fields.LISTED) from `entry`."""
    raw = await get
    if raw is not None:
        for key in fields.LISTED:
            if key in entry and key not in raw:
                raw[key] = entry[key]
    return raw


async def _done(value: T) -> T:
    return value


async def _probe_unlisted(reader: LiveReader, name: str) -> dict[str, Any] | None:
    """GET a desired endpoint the listing did not show; None when it really does not exist."""
    try:
        return await reader.get_endpoint(name)
    except PermissionDenied as e:
        if e.status != 403:
            raise
        raise ReconcilerError(
            f'endpoint "{name}" exists but this identity may not view it '
            f"(HTTP 403 {e.error_code or 'PERMISSION_DENIED'}), so it cannot be compared with "
            "the files; ask its owner or a workspace admin for CAN_MANAGE on it, or rename "
            "the endpoint"
        ) from None


def _owner(entry: Mapping[str, Any]) -> str | None:
    for tag in entry.get("tags") or []:
        if isinstance(tag, Mapping) and tag.get("key") == OWNER_TAG:
            return str(tag.get("value") or "")
    return None
