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


def write_endpoint(root: Path, name: str, *, version: str = "1", extra: str = "") -> Path:
    path = root / "endpoints" / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(
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
        + extra
    )
    return path


class Cli:
    """Runs `servingops` in-process against the emulator and captures its output."""

    def __init__(self, root: Path, emu: Emulator[ManualClock], capsys: Any) -> None:
        self.root = root
        self.emu = emu
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        settings = Settings(
            cwd=self.root,
            env={},
            home=self.root,
            transport=httpx.ASGITransport(app=self.emu.app),
            color=False,
            interactive=False,
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
