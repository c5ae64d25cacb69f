"""This repository's self-test workflow (.github/workflows/selftest.yml), run by the harness:
the action validates, plans with a PR comment, applies that saved plan and finds no drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import git, pr_event
from .fake_github import BOT, FakeGitHub
from .runner import ROOT, Runner, load_yaml

pytestmark = pytest.mark.slow

FIXTURE = Path("tests") / "fixtures" / "ci-project"


def test_selftest_runs_the_action_end_to_end(fake_github: FakeGitHub, tmp_path: Path) -> None:
    # A checkout holding what the workflow reads: the fixture project at its path in the repo.
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / FIXTURE, checkout / FIXTURE)
    (checkout / ".gitignore").write_text(".servingops/\n")
    git(checkout.parent, "init", "-q", "-b", "main", str(checkout))
    git(checkout, "config", "user.email", "ci@example.com")
    git(checkout, "config", "user.name", "CI")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "fixture")
    head = git(checkout, "rev-parse", "HEAD")
    fake_github.store.open_pull(7, head_sha=head)
    runner = Runner(
        workspace=checkout,
        fake=fake_github,
        scratch=tmp_path / "runner",
        runner_env={"SERVINGOPS_LOCAL_UPDATE_SECONDS": "0"},
    )
    result = runner.run_job(
        load_yaml(ROOT / ".github" / "workflows" / "selftest.yml"),
        "action",
        pr_event(7, head=head, base=head),
    )
    assert result.result == "success", result.log
    [comment] = fake_github.store.comments_on(7)
    assert comment["user"]["login"] == BOT
    assert comment["body"].startswith("<!-- servingops:plan target=local -->")
    assert "selftest-scorer" in comment["body"]
    assert result.step("Applied, then in sync").outcome == "success"
    assert "### servingops drift `local`: exit 0" in result.summary
