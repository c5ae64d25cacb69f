"""`servingops targets`: what CI needs per target, and the project file's CI settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servingops.cli import Settings, main
from servingops.errors import ConfigError
from servingops.project import load_project

PROJECT = """\
default_target: local
targets:
  local: {workspace: local}
  prod-eu:
    host: https://adb-1.2.azuredatabricks.net
    prune: true
    environment: production-eu
  stg: {profile: staging}
  qa.2:
"""


def run(cwd: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=Settings(cwd=cwd, env={}, home=cwd, color=False))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_one_line_with_what_ci_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "servingops.yaml").write_text(PROJECT)
    code, out, err = run(tmp_path, capsys, "targets", "--format", "json")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1  # one line: `echo "targets=$(...)" >> "$GITHUB_OUTPUT"` works
    rows = json.loads(out)
    assert [r["target"] for r in rows] == ["local", "prod-eu", "qa.2", "stg"]
    by_name = {r["target"]: r for r in rows}
    assert by_name["prod-eu"] == {
        "target": "prod-eu",
        "secret_suffix": "PROD_EU",
        "local": False,
        "environment": "production-eu",
        "prune": True,
        "host": "https://adb-1.2.azuredatabricks.net",
        "profile": "",
    }
    assert by_name["qa.2"]["secret_suffix"] == "QA_2"
    assert by_name["qa.2"]["environment"] == "qa.2"  # defaults to the target's name
    assert by_name["stg"]["prune"] is False
    assert by_name["local"]["local"] is True


def test_remote_leaves_out_the_embedded_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "servingops.yaml").write_text(PROJECT)
    code, out, _ = run(tmp_path, capsys, "targets", "--remote", "--format", "json")
    assert code == 0
    assert [r["target"] for r in json.loads(out)] == ["prod-eu", "qa.2", "stg"]


def test_no_targets_is_an_empty_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, capsys, "targets", "--format", "json")[:2] == (0, "[]\n")
    assert run(tmp_path, capsys, "targets")[:2] == (0, "No targets (no servingops.yaml).\n")


def test_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text(PROJECT)
    code, out, _ = run(tmp_path, capsys, "targets")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TARGET", "WORKSPACE", "ENVIRONMENT", "SUFFIX", "PRUNE"]
    assert lines[1].split() == ["local", "local", "(embedded)", "local", "LOCAL", "no"]
    assert lines[2].split() == [
        "prod-eu",
        "https://adb-1.2.azuredatabricks.net",
        "production-eu",
        "PROD_EU",
        "yes",
    ]
    assert lines[4].split() == ["stg", "profile", "staging", "stg", "STG", "no"]


def test_prune_and_environment_are_checked_by_the_schema(tmp_path: Path) -> None:
    (tmp_path / "servingops.yaml").write_text(
        "targets:\n  prod:\n    host: https://a.example.net\n    prune: 'yes'\n"
        "    environment: 'prod env'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    pointers = sorted(d.pointer for d in info.value.diagnostics)
    assert pointers == ["targets.prod.environment", "targets.prod.prune"]


def test_a_bad_project_file_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "servingops.yaml").write_text("targets:\n  prod: {prune: 1}\n")
    code, out, err = run(tmp_path, capsys, "targets", "--format", "json")
    assert code == 1
    assert out == ""
    assert err.startswith("servingops.yaml:2:")


def test_one_target_or_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text(PROJECT)
    code, out, _ = run(tmp_path, capsys, "targets", "--target", "stg", "--format", "json")
    assert code == 0
    assert [r["target"] for r in json.loads(out)] == ["stg"]
    code, out, err = run(tmp_path, capsys, "targets", "--target", "nope", "--format", "json")
    assert (code, out) == (64, "")
    assert "unknown target 'nope'; known targets: local, prod-eu, qa.2, stg" in err
