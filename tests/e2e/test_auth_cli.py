"""Broken credentials and hosts from the environment: `plan` exits 1 with one line, at once.

No transport is injected here: the CLI resolves the workspace from the environment exactly as a
user's shell would, and each case must fail before any request is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servingops.cli import Settings, main

from .conftest import write_endpoint


def run_plan(tmp_path: Path, env: dict[str, str], capsys: Any) -> tuple[int, str]:
    (tmp_path / "endpoints").mkdir(exist_ok=True)
    write_endpoint(tmp_path, "scorer")
    settings = Settings(cwd=tmp_path, env=env, home=tmp_path, color=False, interactive=False)
    code = main(["plan"], settings=settings)
    _, err = capsys.readouterr()
    return code, err


def one_line(code: int, err: str) -> str:
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("token", ["dapi-XYZZY-1\n", "dapi-XYZZY-1\r", "dapi-XYZZŸ-1"])
def test_malformed_token_fails_at_once_without_printing_it(
    tmp_path: Path, capsys: Any, token: str
) -> None:
    # A trailing newline (a common CI-secret paste mistake) used to be retried for five minutes
    # and then called unreachable; a non-ASCII token exited 70 with a traceback.
    env = {"DATABRICKS_HOST": "https://adb-1.example.net", "DATABRICKS_TOKEN": token}
    line = one_line(*run_plan(tmp_path, env, capsys))
    assert "DATABRICKS_TOKEN" in line
    assert "malformed" in line
    assert "XYZZ" not in line


@pytest.mark.parametrize(
    ("host", "needle"),
    [("http://[::1", "is not a URL"), ("https://adb-1.example.net:99999", "port"),
     ("https://alice:hunter2@adb-1.example.net", "user name or password")],
)  # fmt: skip
def test_unusable_host_fails_with_one_line(
    tmp_path: Path, capsys: Any, host: str, needle: str
) -> None:
    env = {"DATABRICKS_HOST": host, "DATABRICKS_TOKEN": "dapi-ok"}
    line = one_line(*run_plan(tmp_path, env, capsys))
    assert needle in line
    assert "hunter2" not in line


def test_validate_never_echoes_a_password_written_into_a_target_host(
    tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "servingops.yaml").write_text(
        "endpoints: endpoints/\nowner: x\ndefault_target: t\n"
        "targets:\n  t:\n    host: 'alice:hunter2@adb-1.example.net'\n"
    )
    (tmp_path / "endpoints").mkdir()
    settings = Settings(cwd=tmp_path, env={}, home=tmp_path, color=False, interactive=False)
    code = main(["validate"], settings=settings)
    _, err = capsys.readouterr()
    assert code == 1
    assert "targets.t.host: expected a URL starting with https://" in err
    assert "hunter2" not in err
