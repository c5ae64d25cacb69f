"""End-to-end fixtures: an in-process emulator on a manual clock and a project on disk."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops.auth import Credentials
from servingops.cli import Settings, main
from servingops.client import Client
from servingops.waiting import ApplyRuntime

T0 = 1_766_000_000.0
OWNER = "ml-platform/serving"


@pytest.fixture
def emulator() -> Iterator[Emulator[ManualClock]]:
    emu = Emulator(EmulatorConfig(update_seconds=30.0), clock=ManualClock(T0))
    yield emu
    emu.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one endpoint file; tests add or rewrite files under endpoints/."""
    (tmp_path / "servingops.yaml").write_text(
        f"endpoints: endpoints/\nowner: {OWNER}\ndefault_target: test\n"
        "targets:\n  test:\n    host: https://test.example.net\n"
        "    variables: {version: '2'}\n"
    )
    (tmp_path / "endpoints").mkdir()
    write_endpoint(tmp_path, "scorer", version="${var.version}")
    return tmp_path


def endpoint_file(root: Path, name: str, text: str) -> Path:
    """Write `text` as the project's endpoints/<name>.yaml."""
    path = root / "endpoints" / f"{name}.yaml"
    path.write_text(text)
    return path


def write_endpoint(root: Path, name: str, *, version: str = "1", extra: str = "") -> Path:
    text = textwrap.dedent(
        f"""\
        name: {name}
        config:
          served_entities:
            - name: main
              entity_name: main.ml.{name}
              entity_version: "{version}"
              workload_size: Small
              scale_to_zero_enabled: true
        tags: {{team: ml}}
        """
    )
    return endpoint_file(root, name, text + extra)


class Cli:
    """Runs `servingops` in-process against the emulator and captures its output."""

    def __init__(self, root: Path, emu: Emulator[ManualClock], capsys: Any) -> None:
        self.root = root
        self.emu = emu
        self.capsys = capsys
        self.transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=emu.app)
        self.runtime: ApplyRuntime | None = None
        self.interactive = False

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        settings = Settings(
            cwd=self.root,
            env={},
            home=self.root,
            transport=self.transport,
            color=False,
            interactive=self.interactive,
            runtime=self.runtime,
            wall_clock=self.emu.clock.now,
        )
        code = main(list(argv), settings=settings)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(project: Path, emulator: Emulator[ManualClock], capsys: Any) -> Cli:
    return Cli(project, emulator, capsys)


def api(emu: Emulator[ManualClock]) -> Client:
    creds = Credentials(host="http://emulator.local", token="test")
    return Client(creds, transport=httpx.ASGITransport(app=emu.app))


def call(emu: Emulator[ManualClock], method: str, *args: Any, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with api(emu) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(go())


# --------------------------------------------------------------------------------------------
# apply: the runtime seam on the emulator's clock

CALLER = "local-admin@example.com"


class Recording(httpx.AsyncBaseTransport):
    """Wraps the emulator's ASGI transport: records (method, path, status) and can start a
    competing config update just before the first PUT /config (to provoke a 409)."""

    def __init__(self, emu: Emulator[ManualClock]) -> None:
        self.inner = httpx.ASGITransport(app=emu.app)
        self.seen: list[tuple[str, str, int]] = []
        self.race_next_put = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.race_next_put and request.method == "PUT" and request.url.path.endswith("/config"):
            self.race_next_put = False
            competing = httpx.Request(
                "PUT", request.url, headers=request.headers, content=request.content
            )
            await self.inner.handle_async_request(competing)
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response

    def statuses(self, status: int) -> list[tuple[str, str, int]]:
        return [s for s in self.seen if s[2] == status]


def runtime_for(emu: Emulator[ManualClock], **kw: Any) -> ApplyRuntime:
    async def sleep(seconds: float) -> None:
        emu.advance(seconds)
        await asyncio.sleep(0)

    return ApplyRuntime(sleep=sleep, clock=emu.clock.now, wall_clock=emu.clock.now, **kw)


class ApplyCli(Cli):
    """`servingops ...` in-process with the apply runtime seam on the emulator's clock."""

    def __init__(self, root: Path, emu: Emulator[ManualClock], capsys: Any) -> None:
        super().__init__(root, emu, capsys)
        self.transport: Recording = Recording(emu)
        self.runtime: ApplyRuntime = runtime_for(emu)

    def get(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = call(self.emu, "get_endpoint", name)
        return result

    def plan_is_empty(self) -> bool:
        return self("plan", "--detailed-exitcode")[0] == 0


@pytest.fixture
def run(project: Path, emulator: Emulator[ManualClock], capsys: Any) -> ApplyCli:
    return ApplyCli(project, emulator, capsys)


def with_emulator(project: Path, capsys: Any, config: EmulatorConfig) -> Iterator[ApplyCli]:
    emu = Emulator(config, clock=ManualClock(T0))
    yield ApplyCli(project, emu, capsys)
    emu.close()


def tags(raw: dict[str, Any] | None) -> dict[str, str]:
    assert raw is not None
    return {t["key"]: t["value"] for t in raw.get("tags", [])}
