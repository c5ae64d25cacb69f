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
from typing import Any, ParamSpec, Protocol, TypeVar

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
P = ParamSpec("P")


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


class StartedReads:
    """Live reads begun before the desired documents are known: the listing, then a GET for
    every endpoint carrying the owner's tag (or every endpoint). Made by `start_reads`; finished
    by `read_live(..., started=...)`, or stopped by `abandon()` when the files are invalid."""

    def __init__(
        self, reader: LiveReader, *, owner: str, parallelism: int, all_endpoints: bool
    ) -> None:
        self._reader = reader
        self._owner = owner
        self._all = all_endpoints
        self._gate = asyncio.Semaphore(max(1, parallelism))
        self._gets: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._listing = asyncio.ensure_future(self._list())

    @property
    def gate(self) -> asyncio.Semaphore:
        """The bound these reads share (pre-flight lookups of the same run take it too)."""
        return self._gate

    async def bounded(
        self, call: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`call(*args)` once a slot is free. The call is made only then, so a read cancelled
        while it waits leaves no coroutine behind that was never awaited."""
        async with self._gate:
            return await call(*args, **kwargs)

    async def _list(self) -> list[dict[str, Any]]:
        listing = await self.bounded(self._reader.list_endpoints)
        for entry in listing:
            name = str(entry.get("name"))
            owned = normalize.tag(entry, OWNER_TAG) == self._owner
            if (self._all or owned) and name not in self._gets:
                self._gets[name] = asyncio.ensure_future(
                    self.bounded(self._reader.get_endpoint, name)
                )
        return listing

    async def listing(self) -> list[dict[str, Any]]:
        return await self._listing

    def begun(self, name: str) -> bool:
        return name in self._gets

    def take(self, name: str) -> Awaitable[dict[str, Any] | None] | None:
        """The GET of `name` begun with the listing, if there is one (each is taken once)."""
        return self._gets.pop(name, None)

    def stop(self) -> None:
        """Cancel what is still running and mark what failed as seen, so no read outlives the
        command and asyncio never reports an unretrieved failure after the one-line error."""
        settle(self._listing)
        for get in self._gets.values():
            settle(get)

    async def abandon(self) -> None:
        """Stop every read and wait until each has ended."""
        self.stop()
        await asyncio.gather(self._listing, return_exceptions=True)
        self.stop()  # GETs the listing started just before it ended
        await asyncio.gather(*self._gets.values(), return_exceptions=True)


def start_reads(
    reader: LiveReader, *, owner: str, parallelism: int = 16, all_endpoints: bool = False
) -> StartedReads:
    """Begin the reads that do not depend on the files (inside a running event loop)."""
    return StartedReads(reader, owner=owner, parallelism=parallelism, all_endpoints=all_endpoints)


async def read_live(
    reader: LiveReader,
    *,
    desired: Sequence[DesiredDocument],
    owner: str,
    parallelism: int = 16,
    all_endpoints: bool = False,
    need_caller: bool | None = None,
    started: StartedReads | None = None,
) -> LiveState:
    """Read the live endpoints that `desired` names or that `owner` owns (or all of them).

    Unmanaged endpoints are not fetched one by one unless `all_endpoints`; their list entries
    are enough to name them. `started` carries on reads begun by `start_reads` with the same
    reader, owner and parallelism.
    """
    if started is None:
        started = start_reads(
            reader, owner=owner, parallelism=parallelism, all_endpoints=all_endpoints
        )
    bounded = started.bounded
    managed_acl = {d.name for d in desired if "permissions" in d.body}
    if need_caller is None:
        need_caller = bool(managed_acl)

    me_task = asyncio.ensure_future(bounded(reader.me)) if need_caller else None
    try:
        listing = await started.listing()
        wanted = {d.name for d in desired}
        interesting = [
            e for e in listing if e.get("name") in wanted or started.begun(str(e.get("name")))
        ]

        async def fetch(
            entry: Mapping[str, Any], *, known: dict[str, Any] | None = None
        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, Endpoint | None]:
            """The endpoint's GET (`known` when it was already read), managed ACL, and its
            canonical form when no caller is awaited: normalized while other reads are still
            in flight, not all at once after the last one."""
            name = str(entry.get("name"))
            endpoint_id = str(entry.get("id") or "")
            get = _done(known) if known is not None else started.take(name)
            if get is None:
                get = bounded(reader.get_endpoint, name)
            get = _with_listed(get, entry)
            acl = None
            if name in managed_acl and endpoint_id:
                raw, acl = await asyncio.gather(get, bounded(reader.get_permissions, endpoint_id))
            else:
                raw = await get
            if raw is None or me_task is not None:
                return raw, acl, None
            return raw, acl, normalize.normalize_live(raw, permissions=acl, caller=None)

        # A desired endpoint missing from the listing may exist but be hidden from this
        # identity (the list shows only what it may view): planning a create would be wrong.
        listed = {str(e.get("name")) for e in listing}
        unlisted = sorted(wanted - listed)
        found = await asyncio.gather(*(bounded(_probe_unlisted, reader, n) for n in unlisted))
        probed = [raw for raw in found if raw is not None]  # full GET answers already
        fetched = await asyncio.gather(
            *(fetch(e) for e in interesting), *(fetch(raw, known=raw) for raw in probed)
        )
        interesting += probed
        caller = normalize.caller_key(await me_task) if me_task else None
    finally:
        # A failed read must not leave the identity lookup (or a GET begun early) running, or
        # its own failure unretrieved: asyncio would print that with a traceback after the
        # one-line error.
        started.stop()
        if me_task is not None:
            settle(me_task)

    endpoints: list[Endpoint] = []
    raw_by_name: dict[str, Mapping[str, Any]] = {}
    for raw, acl, endpoint in fetched:
        if raw is None:
            continue  # deleted between the list and the get
        if endpoint is None:
            endpoint = normalize.normalize_live(raw, permissions=acl, caller=caller)
        endpoints.append(endpoint)
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
    started: StartedReads | None = None,
) -> tuple[Plan, LiveState]:
    """Read live state and plan it against `documents` under the given policy. `clock` (epoch
    seconds) stamps when live state was read, so a plan can say how long an update has run.

    When `reader` is also an ObjectReader, model aliases are resolved (a saved plan's `pins`
    win over where an alias points now) and, with `checks`, pre-flight checks every endpoint
    the plan creates, updates or replaces; its findings join `Plan.problems`. `started`
    carries on reads begun by `start_reads` while the documents were loading; the lookups share
    its bound.
    """
    if started is None:
        started = start_reads(reader, owner=owner, parallelism=parallelism)
    lookups = Lookups(reader, started.gate) if isinstance(reader, ObjectReader) else None
    aliases = _start(lookups, preflight.alias_lookups(documents))
    try:
        live = await read_live(
            reader, desired=documents, owner=owner, parallelism=parallelism, started=started
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
            str(e.get("name"))
            for e in await reader.list_endpoints()
            if normalize.tag(e, OWNER_TAG) == owner
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
