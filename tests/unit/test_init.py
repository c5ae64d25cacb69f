"""servingops init: a starter project that validates, and never overwrites without --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from servingops.cli import Settings, main
from servingops.cli.init import owner_from_folder, render_project
from servingops.project import load_project


def run(cwd: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    settings = Settings(cwd=cwd, env={}, home=cwd, color=False, interactive=False)
    code = main(list(argv), settings=settings)
    out, err = capsys.readouterr()
    return code, out, err


def test_init_then_validate_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "Fraud Models"
    root.mkdir()
    code, out, _ = run(root, capsys, "init")
    assert code == 0
    assert out.splitlines()[:2] == ["wrote servingops.yaml", "wrote endpoints/example.yaml"]
    assert (
        (root / "endpoints" / "example.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../schemas/endpoint.schema.json\n")
    )
    project = load_project(root)
    assert project.owner == "fraud-models"
    assert project.default_target == "local"
    assert project.targets["local"].is_local
    assert list(project.targets) == ["local"]  # the real target is a commented example
    code, out, err = run(root, capsys, "validate")
    assert (code, out, err) == (0, "Valid: 1 endpoint in 1 file.\n", "")


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text("owner: mine\n")
    code, out, err = run(tmp_path, capsys, "init")
    assert code == 1
    assert out == ""
    assert err == "error: servingops.yaml already exists; nothing was written (use --force)\n"
    assert (tmp_path / "servingops.yaml").read_text() == "owner: mine\n"
    assert not (tmp_path / "endpoints").exists()


def test_init_refuses_when_only_the_example_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "endpoints").mkdir()
    (tmp_path / "endpoints" / "example.yaml").write_text("name: mine\n")
    code, _, err = run(tmp_path, capsys, "init")
    assert code == 1
    assert "endpoints/example.yaml" in err
    assert not (tmp_path / "servingops.yaml").exists()


def test_init_force_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text("owner: mine\n")
    code, _, _ = run(tmp_path, capsys, "init", "--force")
    assert code == 0
    assert "default_target: local" in (tmp_path / "servingops.yaml").read_text()
    assert run(tmp_path, capsys, "validate")[0] == 0


@pytest.mark.parametrize(
    ("folder", "owner"),
    [
        ("ML Platform", "ml-platform"),
        ("serving_ops.v2", "serving_ops.v2"),
        ("---", "servingops"),
        ("Ünïcode Team", "n-code-team"),
    ],
)
def test_owner_from_folder(folder: str, owner: str) -> None:
    assert owner_from_folder(Path("/x") / folder) == owner


@pytest.mark.parametrize("owner", ["123", "true", "null", "a-b"])
def test_owner_is_always_a_string(tmp_path: Path, owner: str) -> None:
    (tmp_path / "servingops.yaml").write_text(render_project(owner))
    assert load_project(tmp_path).owner == owner


def test_init_writes_the_schemas_its_modelines_point_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The starter files' `$schema=` lines named schemas/ that did not exist in a new project,
    # so editors reported a missing schema instead of completing; export points there too.
    code, out, _ = run(tmp_path, capsys, "init")
    assert code == 0
    assert "wrote schemas/endpoint.schema.json" in out.splitlines()
    assert "wrote schemas/project.schema.json" in out.splitlines()
    repo_schemas = Path(__file__).parents[2] / "schemas"
    for name in ("endpoint.schema.json", "project.schema.json"):
        assert (tmp_path / "schemas" / name).read_text() == (repo_schemas / name).read_text()
    for modeline_file in (tmp_path / "servingops.yaml", tmp_path / "endpoints" / "example.yaml"):
        ref = modeline_file.read_text().splitlines()[0].split("$schema=")[1]
        assert (modeline_file.parent / ref).is_file()
    # An existing schemas/ (a newer one, or the user's) is kept unless --force.
    (tmp_path / "schemas" / "endpoint.schema.json").write_text("{}")
    code, out, _ = run(tmp_path, capsys, "init", "--force")
    assert code == 0
    assert (tmp_path / "schemas" / "endpoint.schema.json").read_text() != "{}"
    (tmp_path / "servingops.yaml").unlink()
    (tmp_path / "endpoints" / "example.yaml").unlink()
    (tmp_path / "schemas" / "endpoint.schema.json").write_text("{}")
    code, out, _ = run(tmp_path, capsys, "init")
    assert code == 0
    assert "schemas/" not in out
    assert (tmp_path / "schemas" / "endpoint.schema.json").read_text() == "{}"
