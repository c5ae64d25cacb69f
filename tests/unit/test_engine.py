"""engine.read_live: what is read, and how often."""

from __future__ import annotations

import asyncio
from typing import Any

from servingops import engine
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
