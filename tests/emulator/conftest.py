"""Fixtures: an emulator on a ManualClock, a small synchronous client over ASGITransport, and a
workspace served over loopback HTTP for the official clients (databricks-sdk, MLflow)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock, SystemClock, serve_in_thread

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


# -- data-plane helpers ---------------------------------------------------------------------


def ready(api: Api, emu: Emulator[ManualClock], body: dict[str, Any]) -> dict[str, Any]:
    created = api.post("/api/2.0/serving-endpoints", json=body)
    assert created.status_code == 200, created.text
    emu.advance(31)
    return dict(api.get(f"/api/2.0/serving-endpoints/{body['name']}").json())


def external(name: str, task: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": model.replace(".", "-"),
                    "external_model": {
                        "provider": "openai",
                        "name": model,
                        "task": task,
                        "openai_config": {"openai_api_key": "{{secrets/llm/openai}}"},
                    },
                }
            ]
        },
    }


def query(
    api: Api, name: str, body: dict[str, Any], entity_name: str | None = None
) -> httpx.Response:
    path = f"/serving-endpoints/{name}/invocations"
    if entity_name is not None:
        path = f"/serving-endpoints/{name}/served-models/{entity_name}/invocations"
    return api.post(path, json=body)


SP_APP_ID = "6f1c2f0e-0000-4000-8000-0000000000aa"
SERVED_USERS = {
    "users": [{"user_name": "alice@example.com", "tokens": ["dapi-alice"]}],
    "service_principals": [
        {
            "application_id": SP_APP_ID,
            "display_name": "ci",
            "client_secret": "s3cret",
            "groups": ["admins"],
        }
    ],
}


@contextmanager
def served_workspace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    update_seconds: float,
    users: Mapping[str, Any] | None = SERVED_USERS,
    objects: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """A served emulator on a free loopback port, on the system clock, with `users` as its users
    file (by default alice, token `dapi-alice`, and an admin service principal for OAuth M2M:
    SP_APP_ID / `s3cret`; None: any token is the admin) and `objects` as its objects file. The
    caller's Databricks environment is cleared so that only what a test sets is used."""
    for key in list(os.environ):
        if key.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "missing.cfg"))
    config = EmulatorConfig(
        update_seconds=update_seconds,
        users_file=yaml_file(tmp_path / "users.yaml", users) if users is not None else None,
        objects=yaml_file(tmp_path / "objects.yaml", objects) if objects is not None else None,
    )
    with (
        Emulator(config, db_path=tmp_path / "ws.db", clock=SystemClock()) as emu,
        serve_in_thread(emu) as url,
    ):
        yield url


def yaml_file(path: Path, data: Mapping[str, Any]) -> Path:
    """Write `data` as YAML to `path` (a users or objects file) and return the path."""
    path.write_text(yaml.safe_dump(dict(data)))
    return path
