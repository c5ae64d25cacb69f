"""Pre-flight's reads: the Unity Catalog, secret and SCIM lookups a plan makes about what its
files refer to, each distinct one fetched once per run under the run's concurrency bound.

The answers are preflight.Fact values; preflight.py judges them. Nothing here decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from .errors import NotFound, PermissionDenied
from .preflight import Fact, Kind, Lookup, Outcome


@runtime_checkable
class ObjectReader(Protocol):
    """The lookups pre-flight needs (client.Client satisfies it). A reader without them plans
    without pre-flight, and cannot resolve model aliases."""

    async def get_model_version(self, full_name: str, version: str) -> dict[str, Any]: ...
    async def get_model_version_by_alias(self, full_name: str, alias: str) -> dict[str, Any]: ...
    async def list_secret_keys(self, scope: str) -> list[str]: ...
    async def find_principals(self, kind: str, name: str) -> list[dict[str, Any]]: ...


class Lookups:
    """Pre-flight reads for one run: each distinct Lookup is fetched once (concurrent askers
    share the one read) under the run's `gate`, and its answer kept as a Fact.

    404 is MISSING and 403 DENIED (the caller may not ask; pre-flight warns instead of
    guessing); any other failure is raised. A principal lookup is a SCIM filter, so an empty
    answer is MISSING.
    """

    def __init__(self, reader: ObjectReader, gate: asyncio.Semaphore) -> None:
        self._reader = reader
        self._gate = gate
        self._futures: dict[Lookup, asyncio.Future[Fact]] = {}
        self._learnt: set[Lookup] = set()

    @property
    def count(self) -> int:
        """How many lookups were sent (answers learnt from another read are not counted)."""
        return len(self._futures) - len(self._learnt)

    async def facts(self, lookups: Iterable[Lookup]) -> dict[Lookup, Fact]:
        wanted = {lookup: self._future(lookup) for lookup in lookups}
        answers = await asyncio.gather(*wanted.values())
        return dict(zip(wanted, answers, strict=True))

    def close(self) -> None:
        """Cancel reads still running, and collect failures nobody awaited (asyncio would
        otherwise print them with a traceback after the one-line error)."""
        for future in self._futures.values():
            settle(future)

    def _future(self, lookup: Lookup) -> asyncio.Future[Fact]:
        future = self._futures.get(lookup)
        if future is None:
            future = asyncio.ensure_future(self._fetch(lookup))
            self._futures[lookup] = future
        return future

    def _learn(self, lookup: Lookup, fact: Fact) -> None:
        if lookup not in self._futures:
            future: asyncio.Future[Fact] = asyncio.get_running_loop().create_future()
            future.set_result(fact)
            self._futures[lookup] = future
            self._learnt.add(lookup)

    async def _fetch(self, lookup: Lookup) -> Fact:
        async with self._gate:
            try:
                return await self._ask(lookup)
            except NotFound as e:
                return Fact(outcome=Outcome.MISSING, message=e.message)
            except PermissionDenied as e:
                if e.status != 403:
                    raise
                return Fact(outcome=Outcome.DENIED, message=e.message)

    async def _ask(self, lookup: Lookup) -> Fact:
        reader = self._reader
        match lookup.kind:
            case Kind.VERSION:
                raw = await reader.get_model_version(lookup.name, lookup.item)
                return Fact(outcome=Outcome.FOUND, status=str(raw.get("status") or ""))
            case Kind.ALIAS:
                raw = await reader.get_model_version_by_alias(lookup.name, lookup.item)
                version, status = str(raw.get("version", "")), str(raw.get("status") or "")
                # The answer is the version itself: checking it later needs no second read.
                self._learn(
                    Lookup(Kind.VERSION, lookup.name, version),
                    Fact(outcome=Outcome.FOUND, status=status),
                )
                return Fact(outcome=Outcome.FOUND, version=version, status=status)
            case Kind.SCOPE:
                keys = await reader.list_secret_keys(lookup.name)
                return Fact(outcome=Outcome.FOUND, keys=frozenset(keys))
            case _:
                kind = _PRINCIPAL_KINDS[lookup.kind]
                found = await reader.find_principals(kind, lookup.name)
                return Fact(outcome=Outcome.FOUND if found else Outcome.MISSING)


_PRINCIPAL_KINDS = {
    Kind.USER: "user",
    Kind.GROUP: "group",
    Kind.SERVICE_PRINCIPAL: "service_principal",
}


def settle(future: asyncio.Future[Any]) -> None:
    """Cancel `future` if it still runs, or retrieve its failure if nobody awaited it."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()
