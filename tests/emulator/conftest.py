"""Fixtures: an emulator on a ManualClock and a small synchronous client over ASGITransport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock

BASE_URL = "http://emulator.local"
START = 1_766_000_000.0


class Api:
    """Synchronous façade over an `httpx.AsyncClient` bound to the emulator's ASGI app."""

    def __init__(self, emu: Emulator[Any], token: str | None = "dapi-test") -> None:
        self._loop = asyncio.new_event_loop()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emu.app), base_url=BASE_URL, headers=headers
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


def make_emulator(
    *, db_path: str | Path = ":memory:", clock: ManualClock | None = None, **config: Any
) -> Emulator[ManualClock]:
    config.setdefault("update_seconds", 30.0)
    return Emulator(EmulatorConfig(**config), db_path=db_path, clock=clock or ManualClock(START))


@pytest.fixture
def emu() -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator()
    yield emulator
    emulator.close()


@pytest.fixture
def api(emu: Emulator[ManualClock]) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.close()


def entity(
    name: str, model: str = "main.risk.fraud", version: str = "7", **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "entity_name": model,
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
        **extra,
    }


def create_body(name: str = "fraud-scorer", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "config": {
            "served_entities": [entity("champion"), entity("challenger", version="8")],
            "traffic_config": {
                "routes": [
                    {"served_entity_name": "champion", "traffic_percentage": 90},
                    {"served_entity_name": "challenger", "traffic_percentage": 10},
                ]
            },
        },
    }
    body.update(extra)
    return body


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error_code"])
