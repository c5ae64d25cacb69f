"""`servingops ci github prepare`: the action's first step resolves the target, its prune
setting and the saved plan's artifact name, and gives a profile-based target its host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servingops.cli import Settings, main


def prepare(tmp_path: Path, *argv: str, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    output = tmp_path / "output.txt"
    output.write_text("")
    full = {"GITHUB_REPOSITORY": "acme/endpoints", "GITHUB_OUTPUT": str(output), **env}
    code = main(
        ["ci", "github", "prepare", *argv],
        settings=Settings(cwd=tmp_path, env=full, home=tmp_path / "home"),
    )
    pairs = [line.split("=", 1) for line in output.read_text().splitlines()]
    return code, {k: v for k, v in pairs}


def test_plan_on_a_pull_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text(
        "default_target: prod\ntargets:\n  prod: {host: 'https://a.example.net', prune: true}\n"
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 3, "head": {"sha": "h3"}}}))
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": "m3", "RUNNER_TEMP": "/runner/tmp"}
    code, outputs = prepare(tmp_path, "--command", "plan", env=env)
    assert code == 0
    assert outputs == {
        "target": "prod",
        "prune": "true",
        "plan-dir": "/runner/tmp/servingops/plan-prod",
        "plan-path": "/runner/tmp/servingops/plan-prod/plan.json",
        "artifact": "servingops-plan-prod-h3",  # the PR's head, not the merge commit
        "pr": "3",
        "head-sha": "h3",
    }
    assert not (tmp_path / "home").exists()  # no profile, nothing written


def test_a_profile_target_gets_a_host_only_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "servingops.yaml").write_text("targets:\n  stg: {profile: staging}\n")
    env = {"DATABRICKS_HOST": "https://stg.example.net", "DATABRICKS_TOKEN": "dapi-not-real"}
    code, outputs = prepare(tmp_path, "--command", "drift", "--target", "stg", env=env)
    assert code == 0
    assert outputs["target"] == "stg"
    written = (tmp_path / "home" / ".databrickscfg").read_text()
    assert written == "\n[staging]\nhost = https://stg.example.net\n"  # never the token
    assert prepare(tmp_path, "--command", "drift", "--target", "stg", env=env)[0] == 0
    assert (tmp_path / "home" / ".databrickscfg").read_text() == written  # not twice


def test_an_unknown_target_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "servingops.yaml").write_text("targets:\n  prod: {host: 'https://a.example.net'}\n")
    code, _ = prepare(tmp_path, "--command", "plan", "--target", "qa", env={})
    assert code == 64
    assert "unknown target 'qa'; known targets: prod" in capsys.readouterr().err
    code, _ = prepare(tmp_path, "--command", "plan", env={})
    assert code == 64
    assert "no target: set the action's `target` input" in capsys.readouterr().err
