"""engine.read_live and start_reads: what is read, how often, and what is left behind."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from servingops import engine
from servingops.errors import ReconcilerError
from servingops.model import DesiredDocument, SourceRef


class Reader:
    """The listing hides endpoint "hidden"; a GET of it still answers (as it may, for an
    identity allowed to view it directly)."""

    def __init__(self) -> None:
        self.gets: list[str] = []

    async def list_endpoints(self) -> list[dict[str, Any]]:
        return [{"name": "listed", "id": "1"}]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        self.gets.append(name)
        if name in ("listed", "hidden"):
            return {"name": name, "id": name, "state": {"config_update": "NOT_UPDATING"}}
        return None

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        return {"access_control_list": []}

    async def me(self) -> dict[str, Any]:
        return {"userName": "me"}


def doc(name: str) -> DesiredDocument:
    return DesiredDocument(name=name, body={"name": name}, source=SourceRef(path="f.yaml"))


def test_an_unlisted_desired_endpoint_is_read_once_and_a_missing_one_stays_missing() -> None:
    reader = Reader()
    live = asyncio.run(
        engine.read_live(reader, desired=[doc("listed"), doc("hidden"), doc("new")], owner="o")
    )
    assert sorted(reader.gets) == ["hidden", "listed", "new"]  # one GET each, no second read
    assert [e.name for e in live.endpoints] == ["hidden", "listed"]


class Owned:
    """A listing of three endpoints, two carrying owner "o"; GETs are recorded and, while
    `hold` is set, wait for it to be released (as a slow workspace would)."""

    def __init__(self, *, fail: frozenset[str] = frozenset(), hold: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def list_endpoints(self) -> list[dict[str, Any]]:
        self.calls.append("list")
        tag = [{"key": "servingops-owner", "value": "o"}]
        return [
            {"name": "a", "id": "1", "tags": tag},
            {"name": "b", "id": "2", "tags": tag},
            {"name": "c", "id": "3"},
        ]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        self.calls.append(name)
        await self.release.wait()
        if name in self.fail:
            raise ReconcilerError(f"GET {name} failed")
        if name not in ("a", "b", "c"):
            return None
        return {"name": name, "id": name, "state": {"config_update": "NOT_UPDATING"}}

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        return {"access_control_list": []}

    async def me(self) -> dict[str, Any]:
        return {"userName": "me"}


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_the_listing_and_owned_endpoints_are_read_before_the_files_are_known() -> None:
    reader = Owned()

    async def go() -> engine.LiveState:
        started = engine.start_reads(reader, owner="o")
        await turns()  # the files are still loading
        assert reader.calls == ["list", "a", "b"]
        return await engine.read_live(
            reader, desired=[doc("a"), doc("c"), doc("new")], owner="o", started=started
        )

    live = asyncio.run(go())
    assert sorted(reader.calls) == ["a", "b", "c", "list", "new"]  # each read once
    assert [e.name for e in live.endpoints] == ["a", "b", "c"]
    assert sorted(live.raw) == ["a", "b", "c"]


def test_abandoned_reads_leave_nothing_running_and_no_unretrieved_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = Owned(fail=frozenset({"a"}), hold=True)

    async def go() -> None:
        started = engine.start_reads(reader, owner="o")
        await turns()
        reader.release.set()  # "a" fails, "b" answers, while the files are found invalid
        await turns()
        await started.abandon()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(go())
        gc.collect()
    assert not caplog.records


def test_abandoning_before_the_listing_answers_cancels_it() -> None:
    reader = Owned(hold=True)

    async def go() -> None:
        started = engine.start_reads(reader, owner="o")
        await started.abandon()  # the listing task has not even begun
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(go())
    assert reader.calls == []


def test_a_read_begun_early_that_failed_is_the_error_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = Owned(fail=frozenset({"b"}))

    async def go() -> None:
        started = engine.start_reads(reader, owner="o")
        await turns()
        await engine.read_live(reader, desired=[doc("a")], owner="o", started=started)

    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(ReconcilerError):
        asyncio.run(go())
    gc.collect()
    assert not caplog.records
