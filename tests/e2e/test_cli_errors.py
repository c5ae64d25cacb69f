"""Bad environments give one clear error line and exit 1, never a traceback (exit 70)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock

from .conftest import T0, Cli, write_endpoint


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_plan_out_into_a_missing_folder(cli: Cli) -> None:
    code, _, err = cli("plan", "--out", "no/such/folder/x.plan")
    assert_one_error_line(code, err, "x.plan", "No such file or directory")


def test_export_into_a_folder_that_cannot_be_made(cli: Cli, project: Path) -> None:
    (project / "endpoints" / "scorer.yaml").unlink()
    entity = {"entity_name": "main.ml.m", "entity_version": "1", "workload_size": "Small"}
    cli.emu.seed_endpoint({"name": "live-one", "config": {"served_entities": [entity]}})
    code, _, err = cli("export", "live-one", "--out-dir", "servingops.yaml/sub")
    assert_one_error_line(code, err, "servingops.yaml")


@pytest.fixture
def locked(project: Path, capsys: Any, tmp_path: Path) -> Iterator[Cli]:
    """An emulator with a users file that does not know the test transport's token."""
    users = tmp_path / "users.yaml"
    users.write_text(yaml.safe_dump({"users": [{"user_name": "a@x.io", "tokens": ["t-a"]}]}))
    emu = Emulator(EmulatorConfig(users_file=users), clock=ManualClock(T0))
    yield Cli(project, emu, capsys)
    emu.close()


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_unknown_token_is_one_line_without_a_stray_task_traceback(
    locked: Cli, project: Path, command: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Managed permissions make plan look the caller up (SCIM Me) alongside the listing; both
    # fail with 401, and the lookup's error was left unretrieved ("Task exception was never
    # retrieved" with a traceback after the one-line error).
    write_endpoint(
        project,
        "scorer",
        extra="permissions:\n  - {group_name: users, permission_level: CAN_QUERY}\n",
    )
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        code, _, err = locked(command)
        gc.collect()
    assert_one_error_line(code, err, "401")
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_emulator_serve_rejects_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    # 99999 used to reach uvicorn, which printed "running on :99999" and hung.
    from servingops.cli import main

    assert main(["emulator", "serve", "--port", "99999"]) == 64
    assert "99999 is not in the range 0<=x<=65535" in capsys.readouterr().err


def test_emulator_on_a_busy_port_is_one_error_line_and_exit_1(capsys) -> None:
    import socket

    from servingops.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["emulator", "serve", "--port", str(port)])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_emulator_command_defaults_match_the_emulator() -> None:
    from serving_emulator import server
    from servingops.cli import emulator

    assert (emulator.DEFAULT_HOST, emulator.DEFAULT_PORT) == (
        server.DEFAULT_HOST,
        server.DEFAULT_PORT,
    )
