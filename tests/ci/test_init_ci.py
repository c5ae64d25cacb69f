"""`servingops init --ci github|gitlab|azure`: CI files at the repository root, from templates,
never overwritten without --force, and the project kept as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from servingops import __version__
from servingops.cli import Settings, main

WORKFLOWS = [
    ".github/workflows/servingops-plan.yml",
    ".github/workflows/servingops-apply.yml",
    ".github/workflows/servingops-drift.yml",
]


def run(cwd: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=Settings(cwd=cwd, env={}, home=cwd, color=False))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_empty_repository_gets_the_starter_project_and_the_workflows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    code, out, _ = run(tmp_path, capsys, "init", "--ci", "github")
    assert code == 0
    wrote = [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote")]
    assert wrote == [
        "servingops.yaml",
        "endpoints/example.yaml",
        "schemas/endpoint.schema.json",
        "schemas/project.schema.json",
        *WORKFLOWS,
    ]
    plan = (tmp_path / WORKFLOWS[0]).read_text()
    assert f"uses: servingops/servingops@v{__version__}" in plan
    assert "@@" not in plan
    assert run(tmp_path, capsys, "validate")[0] == 0


def test_an_existing_project_is_kept_and_workflows_are_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "servingops.yaml").write_text("owner: mine\nendpoints: models/\n")
    code, out, _ = run(tmp_path, capsys, "init", "--ci", "github", "--branch", "trunk")
    assert code == 0
    assert "wrote servingops.yaml" not in out
    assert (tmp_path / "servingops.yaml").read_text() == "owner: mine\nendpoints: models/\n"
    apply = yaml.safe_load((tmp_path / WORKFLOWS[1]).read_text())
    assert apply[True]["push"]["branches"] == ["trunk"]
    assert apply[True]["push"]["paths"] == [
        "servingops.yaml",
        "models/**",
        ".github/workflows/servingops-*.yml",
    ]
    (tmp_path / WORKFLOWS[1]).write_text("# mine\n")
    code, out, err = run(tmp_path, capsys, "init", "--ci", "github")
    assert (code, out) == (1, "")
    assert err == (
        f"error: {', '.join(WORKFLOWS)} already exist; nothing was written (use --force)\n"
    )
    assert (tmp_path / WORKFLOWS[1]).read_text() == "# mine\n"
    assert run(tmp_path, capsys, "init", "--ci", "github", "--force")[0] == 0
    assert (tmp_path / WORKFLOWS[1]).read_text() != "# mine\n"
    assert (tmp_path / "servingops.yaml").read_text() == "owner: mine\nendpoints: models/\n"


def test_a_project_in_a_subfolder_writes_at_the_repository_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    project = tmp_path / "ml" / "serving"
    project.mkdir(parents=True)
    code, out, _ = run(project, capsys, "init", "--ci", "github", "--action", "acme/so@v1")
    assert code == 0
    assert "wrote ../../.github/workflows/servingops-plan.yml" in out
    plan = yaml.safe_load((tmp_path / WORKFLOWS[0]).read_text())
    assert plan[True]["pull_request"]["paths"][:2] == [
        "ml/serving/servingops.yaml",
        "ml/serving/endpoints/**",
    ]
    steps = plan["jobs"]["plan"]["steps"]
    assert steps[-1]["uses"] == "acme/so@v1"
    assert steps[-1]["with"]["working-directory"] == "ml/serving"


@pytest.mark.parametrize(
    ("provider", "path"), [("gitlab", ".gitlab-ci.yml"), ("azure", "azure-pipelines.yml")]
)
def test_gitlab_and_azure_files(
    provider: str, path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "servingops.yaml").write_text(
        "targets:\n  local: {workspace: local}\n  prod: {host: 'https://a.example.net'}\n"
    )
    code, out, _ = run(tmp_path, capsys, "init", "--ci", provider)
    assert code == 0
    assert f"wrote {path}" in out
    text = (tmp_path / path).read_text()
    assert '"prod"' in text
    assert '"local"' not in text  # workspaces only, when there are some
    assert "servingops apply" in text
    assert run(tmp_path, capsys, "init", "--ci", provider)[0] == 1


def test_without_a_workspace_target_the_pipeline_uses_the_local_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, capsys, "init", "--ci", "gitlab")[0] == 0
    text = (tmp_path / ".gitlab-ci.yml").read_text()
    assert text.startswith("# NOTE: servingops.yaml has no workspace target yet")
    assert 'TARGET: "local"' in text


@pytest.mark.parametrize("provider", ["github", "gitlab", "azure"])
def test_setup_pointers_work_from_the_users_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str
) -> None:
    """The files land in the user's repository, which has no docs/ci.md of its own: every
    pointer to the setup guide names servingops' guide for this version, not a relative path."""
    (tmp_path / ".git").mkdir()
    code, out, _ = run(tmp_path, capsys, "init", "--ci", provider)
    assert code == 0
    guide = f"https://github.com/servingops/servingops/blob/v{__version__}/docs/ci.md"
    texts = {
        name: (tmp_path / name).read_text()
        for name in (line.removeprefix("wrote ") for line in out.splitlines())
        if not name.endswith(".json") and (tmp_path / name).is_file()
    }
    texts["next steps"] = out
    for name, text in texts.items():
        bare = [ln for ln in text.splitlines() if "docs/ci.md" in ln and guide not in ln]
        assert not bare, f"{name}: {bare}"
    assert guide in out
