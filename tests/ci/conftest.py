"""Fixtures for running the generated workflows and the action: a user's repository (a git repo
with servingops.yaml and endpoints/, not a Python package) whose targets include the embedded
`local` workspace, the fake GitHub API on loopback, and a runner for both."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servingops.cli import Settings, main
from servingops.cli.targets import describe
from servingops.project import load_project

from .fake_github import FakeGitHub, serve_fake_github
from .runner import Event, Runner, load_yaml

EVENTS = Path(__file__).parent / "events"
ACTION = "servingops/servingops@v0.1.0"
PROJECT = """\
# yaml-language-server: $schema=schemas/project.schema.json
endpoints: endpoints/
owner: acme/ml
default_target: local
targets:
  local: {workspace: local}
  prod:
    host: https://adb-1234.5.azuredatabricks.net
    prune: true
"""


def endpoint(*, champion: int, challenger: int, team: str = "risk") -> str:
    return textwrap.dedent(
        f"""\
        name: fraud-scorer
        config:
          served_entities:
            - name: champion
              entity_name: main.risk.fraud
              entity_version: "7"
              workload_size: Small
              scale_to_zero_enabled: true
            - name: challenger
              entity_name: main.risk.fraud
              entity_version: "8"
              workload_size: Small
              scale_to_zero_enabled: true
          traffic_config:
            routes:
              - {{served_entity_name: champion, traffic_percentage: {champion}}}
              - {{served_entity_name: challenger, traffic_percentage: {challenger}}}
        tags: {{team: {team}}}
        """
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def servingops(repo: Path, *argv: str) -> int:
    """The CLI in-process, as a person (or another tool) changing the workspace by hand."""
    env = {"SERVINGOPS_LOCAL_UPDATE_SECONDS": "0"}
    return main(list(argv), settings=Settings(cwd=repo, env=env, home=repo, interactive=False))


def event(name: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return payload | fields


def pr_event(number: int, *, head: str, base: str) -> Event:
    payload = event("pull_request", number=number)
    pr = payload["pull_request"]
    pr["number"] = number
    pr["head"]["sha"] = head
    pr["base"]["sha"] = base
    # GitHub tests the merge of head into base; the harness checks out the head itself.
    return Event(name="pull_request", payload=payload, sha=head, ref=f"refs/pull/{number}/merge")


def push_event(*, sha: str, before: str) -> Event:
    payload = event("push", after=sha, before=before)
    payload["head_commit"]["id"] = sha
    return Event(name="push", payload=payload, sha=sha, ref="refs/heads/main")


def schedule_event(*, sha: str) -> Event:
    return Event(name="schedule", payload=event("schedule"), sha=sha, ref="refs/heads/main")


def dispatch_event(*, sha: str, target: str = "") -> Event:
    payload = event("workflow_dispatch")
    payload["inputs"]["target"] = target
    return Event(
        name="workflow_dispatch",
        payload=payload,
        sha=sha,
        ref="refs/heads/main",
        inputs={"target": target},
    )


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with serve_fake_github() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository after `servingops init --ci github`, first commit applied."""
    root = tmp_path / "endpoints-repo"
    (root / "endpoints").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "alice@example.com")
    git(root, "config", "user.name", "Alice")
    (root / "servingops.yaml").write_text(PROJECT)
    (root / "endpoints" / "fraud-scorer.yaml").write_text(endpoint(champion=100, challenger=0))
    (root / ".gitignore").write_text(".servingops/\n")
    assert servingops(root, "init", "--ci", "github", "--action", ACTION) == 0
    commit(root, "servingops project and workflows")
    assert servingops(root, "apply", "--auto-approve") == 0  # the workspace as it is today
    return root


@pytest.fixture
def runner(repo: Path, fake_github: FakeGitHub, tmp_path: Path) -> Runner:
    return Runner(
        workspace=repo,
        fake=fake_github,
        scratch=tmp_path / "runner",
        # The embedded workspace rolls out instantly here, as a fast real workspace would.
        runner_env={"SERVINGOPS_LOCAL_UPDATE_SECONDS": "0"},
    )


def workflow(repo: Path, name: str) -> dict[str, Any]:
    return load_yaml(repo / ".github" / "workflows" / f"servingops-{name}.yml")


def local_matrix(repo: Path) -> dict[str, Any]:
    """The matrix entry for the embedded `local` target, as `servingops targets` prints it.

    The generated workflows list workspace targets only (`--remote`); the harness stands in
    for that one output so that a job runs against the embedded workspace.
    """
    return describe(load_project(repo).targets["local"])


def needs(repo: Path, source: str, **others: str) -> dict[str, Any]:
    """The `needs` context of a matrix job: `source` listed the targets (the harness's stand-in
    output, see local_matrix); `others` maps more needed jobs to their result."""
    listed = json.dumps([local_matrix(repo)], separators=(",", ":"))
    out: dict[str, Any] = {source: {"result": "success", "outputs": {"targets": listed}}}
    out.update({job: {"result": result, "outputs": {}} for job, result in others.items()})
    return out
