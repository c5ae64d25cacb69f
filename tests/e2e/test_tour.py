"""The README's run command: `servingops tour` on the embedded local workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servingops.cli import Settings, main

REPO = Path(__file__).resolve().parents[2]


def test_tour_runs_every_step_on_a_copy_of_the_examples(tmp_path: Path, capsys) -> None:
    shutil.copy(REPO / "servingops.yaml", tmp_path / "servingops.yaml")
    shutil.copytree(REPO / "endpoints", tmp_path / "endpoints")
    before = sorted(p.read_text() for p in (tmp_path / "endpoints").iterdir())
    env = {"SERVINGOPS_LOCAL_UPDATE_SECONDS": "0.2"}
    settings = Settings(cwd=tmp_path, env=env, home=tmp_path, color=False, interactive=False)

    assert main(["tour"], settings=settings) == 0

    out = capsys.readouterr().out
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in out
    assert "traffic champion/challenger 90/10 -> 50/50" in out
    assert 'tags.team: live "someone-else", desired "risk"' in out
    # the day-2 step: a stopped endpoint seen by drift, then status, apply (start + smoke), query
    assert 'state: live "stopped", desired "running"' in out
    assert "  health:          stopped: serves nothing until started" in out
    assert "; smoke passed: scores-one-row (HTTP 200" in out
    assert '$ servingops query fraud-scorer --data \'{"dataframe_split"' in out
    assert '"predictions": [' in out
    # progressive delivery: a canary that passes, one rolled back by its error-rate gate
    assert "rollout of challenger to 100% (starts): 3 steps (25% -> 50% -> 100%)" in out
    assert "Gates passed for step 3/3:" in out
    assert "Rollout complete: challenger 100%, champion 0% (the file's split)" in out
    assert "Gate failed at step 1/2: error rate 0." in out
    assert "Rolled back: challenger 100% serves again" in out
    assert "rollout of candidate to 100% (rolled back, held)" in out
    assert out.rstrip().splitlines()[-2] == "Tour complete."
    # the user's own files are untouched; the tour edits its copy
    assert sorted(p.read_text() for p in (tmp_path / "endpoints").iterdir()) == before


def test_tour_needs_an_example_project(tmp_path: Path, capsys) -> None:
    settings = Settings(cwd=tmp_path, env={}, home=tmp_path, color=False, interactive=False)
    assert main(["tour"], settings=settings) == 1
    assert "no example project" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["soon", "-"])
def test_bad_local_update_seconds_is_a_clear_error(tmp_path: Path, capsys, value: str) -> None:
    shutil.copy(REPO / "servingops.yaml", tmp_path / "servingops.yaml")
    shutil.copytree(REPO / "endpoints", tmp_path / "endpoints")
    env = {"SERVINGOPS_LOCAL_UPDATE_SECONDS": value}
    settings = Settings(cwd=tmp_path, env=env, home=tmp_path, color=False, interactive=False)
    assert main(["plan"], settings=settings) == 1
    assert "SERVINGOPS_LOCAL_UPDATE_SECONDS must be a number" in capsys.readouterr().err
