"""plan and drift read live state while the files load: what the user sees must not change.

The listing and the owned endpoints' GETs begin before the files are read; invalid files still
end the command with every located diagnostic (as `validate` prints them) and nothing else,
whatever the reads did meanwhile; validate never contacts a workspace.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops.cli import Settings, main

from .conftest import OWNER, T0, Cli, Recording, write_endpoint

BROKEN = (
    "name: broken\nconfig:\n  served_entities:\n"
    "    - {entity_name: m, entity_version: '1', workload_size: Small}\n"
    "  colour: red\ntags: {team: [x]}\n"
)
WHERE = ("endpoints/broken.yaml:5:3: error: config.colour", "endpoints/broken.yaml:6:14: error")


def owned(name: str) -> dict[str, Any]:
    entity = {"entity_name": f"main.ml.{name}", "entity_version": "1", "workload_size": "Small"}
    return {
        "name": name,
        "config": {"served_entities": [entity]},
        "tags": [{"key": "servingops-owner", "value": OWNER}],
    }


class Refusing(httpx.AsyncBaseTransport):
    """A workspace that must not be contacted: any request fails the test."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.method} {request.url.path}")


def validate_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    settings = Settings(cwd=project, env={}, home=project, transport=Refusing(), color=False)
    assert main(["validate"], settings=settings) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_invalid_files_give_the_diagnostics_validate_gives_and_no_plan(
    cli: Cli, project: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.emu.seed_endpoint(owned("scorer"))
    (project / "endpoints" / "broken.yaml").write_text(BROKEN)
    expected = validate_errors(project, capsys)
    code, out, err = cli(command)
    assert code == 1
    assert out == ""
    *diagnostics, count = err.splitlines()
    assert diagnostics == expected.splitlines()[:-1]  # every one, in the same order
    assert count == "error: 2 errors in 1 file"
    assert all(where in err for where in WHERE)
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_invalid_files_win_over_a_read_that_failed_meanwhile(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    command: str,
) -> None:
    # The workspace refuses the token (401) while the files are still loading: the user sees
    # the files' problems, as before the reads overlapped them, and no stray task's failure.
    users = tmp_path / "users.yaml"
    users.write_text(yaml.safe_dump({"users": [{"user_name": "a@x.io", "tokens": ["t-a"]}]}))
    emu = Emulator(EmulatorConfig(users_file=users), clock=ManualClock(T0))
    (project / "endpoints" / "broken.yaml").write_text(BROKEN)
    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            code, out, err = Cli(project, emu, capsys)(command)
            assert out == ""
            gc.collect()
    finally:
        emu.close()
    assert code == 1
    assert all(where in err for where in WHERE)
    assert "401" not in err
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_invalid_files_win_over_a_workspace_that_cannot_be_opened(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "servingops.yaml").write_text(
        f"endpoints: endpoints/\nowner: {OWNER}\ndefault_target: test\n"
        "targets:\n  test:\n    profile: nowhere\n    variables: {version: '2'}\n"
    )
    settings = Settings(cwd=project, env={}, home=project, color=False, interactive=False)
    assert main(["plan"], settings=settings) == 1  # the workspace alone is an error
    workspace_error = capsys.readouterr().err
    assert "nowhere" in workspace_error

    (project / "endpoints" / "broken.yaml").write_text(BROKEN)
    assert main(["plan"], settings=settings) == 1
    err = capsys.readouterr().err
    assert all(where in err for where in WHERE)
    assert "nowhere" not in err


def test_the_listing_and_owned_endpoints_are_read_once_each(
    project: Path, emulator: Emulator[ManualClock], capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.seed_endpoint(owned("scorer"))
    emulator.seed_endpoint(owned("retired"))  # owned, no longer in files: read early, once
    write_endpoint(project, "fresh")  # in files, not live: one GET that answers 404
    recording = Recording(emulator)
    settings = Settings(
        cwd=project,
        env={},
        home=project,
        transport=recording,
        color=False,
        interactive=False,
        wall_clock=emulator.clock.now,
    )
    assert main(["plan"], settings=settings) == 0
    out = capsys.readouterr().out
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in out
    base = "/api/2.0/serving-endpoints"
    # (pre-flight's model-version lookups for the changed endpoints come on top)
    reads = sorted((m, p) for m, p, _ in recording.seen if p.startswith(base))
    assert reads == [
        ("GET", base),
        ("GET", f"{base}/fresh"),
        ("GET", f"{base}/retired"),
        ("GET", f"{base}/scorer"),
    ]


def test_validate_never_contacts_a_workspace(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(cwd=project, env={}, home=project, transport=Refusing(), color=False)
    assert main(["validate"], settings=settings) == 0
    assert capsys.readouterr().out == "Valid: 1 endpoint in 1 file.\n"


def test_the_files_warnings_come_before_the_local_workspace_notice(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No host anywhere: plan falls back to the embedded local workspace and says so, after the
    # files' warnings, as it did when the files were read before the workspace was opened.
    (project / "servingops.yaml").write_text(f"endpoints: endpoints/\nowner: {OWNER}\n")
    (project / "endpoints" / "scorer.yaml").write_text(
        "name: scorer\nconfig:\n  served_models:\n"
        "    - {model_name: main.ml.scorer, model_version: '1', workload_size: Small,"
        " scale_to_zero_enabled: true}\n"
    )
    settings = Settings(
        cwd=project, env={"SERVINGOPS_LOCAL_UPDATE_SECONDS": "0"}, home=project, color=False
    )
    assert main(["plan"], settings=settings) == 0
    out, err = capsys.readouterr()
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out
    warning, notice = err.index("served_models is deprecated"), err.index("notice: ")
    assert warning < notice
    assert "using the embedded local workspace" in err[notice:]
