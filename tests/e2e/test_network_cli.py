"""The CLI's environment (Settings.env) reaches the client: a proxy named there is used.

An emulator is served on loopback and a forward proxy sits in front of it; the process
environment is left alone, so only Settings.env can send the requests through the proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, EmulatorConfig, SystemClock, serve_in_thread
from servingops.cli import Settings, main
from tests.netsupport import http_proxy

from .conftest import write_endpoint


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    config = EmulatorConfig(update_seconds=0.3)
    with (
        Emulator(config, db_path=tmp_path / "ws.db", clock=SystemClock()) as emu,
        serve_in_thread(emu) as url,
    ):
        yield url


def test_plan_sends_every_request_through_the_proxy_in_settings_env(
    served: str, tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "endpoints").mkdir()
    write_endpoint(tmp_path, "scorer")
    with http_proxy() as (proxy, seen):
        env = {"DATABRICKS_HOST": served, "DATABRICKS_TOKEN": "dapi-x", "HTTP_PROXY": proxy}
        settings = Settings(cwd=tmp_path, env=env, home=tmp_path, color=False)
        code = main(["plan"], settings=settings)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Plan: 1 to add" in out
    assert ("GET", f"{served}/api/2.0/serving-endpoints") in seen.requests
