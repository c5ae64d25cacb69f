"""The project file: defaults, targets, variables, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from servingops.errors import ConfigError, UsageError
from servingops.project import Project, Target, load_project, select_target
from servingops.render.diagnostics import render_text

REPO = Path(__file__).resolve().parents[2]


def test_defaults_without_a_project_file(tmp_path: Path) -> None:
    project = load_project(tmp_path)
    assert project == Project(
        path=None,
        root=tmp_path,
        endpoints=(tmp_path / "endpoints",),
        owner="default",
        default_target=None,
        targets={},
    )
    assert select_target(project, None) is None
    assert select_target(project, "local") == Target(name="local", workspace="local")
    with pytest.raises(UsageError, match=r"unknown target 'prod': there is no servingops\.yaml"):
        select_target(project, "prod")


def test_example_project() -> None:
    project = load_project(REPO)
    assert project.path == REPO / "servingops.yaml"
    assert project.endpoints == (REPO / "endpoints/",)
    assert project.owner == "ml-platform/serving"
    assert project.default_target == "local"
    assert sorted(project.targets) == ["local", "prod", "staging"]
    local = select_target(project, None)
    assert local is not None
    assert local.is_local
    prod = select_target(project, "prod")
    assert prod == Target(
        name="prod",
        profile="prod",
        variables={"challenger_version": "7", "chat_model": "gpt-4o"},
    )
    assert project.targets["staging"].host == "https://adb-1234.5.azuredatabricks.net"
    with pytest.raises(UsageError) as info:
        select_target(project, "qa")
    assert str(info.value) == "unknown target 'qa'; known targets: local, prod, staging"


def test_explicit_file_list_of_endpoints_and_owner_override(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "p.yaml").write_text(
        "endpoints: [a.yaml, more/]\nowner: team\ntargets:\n"
        "  dev:\n    owner: team-dev\n    variables: {n: 3, flag: true, f: 1.5}\n  bare:\n"
    )
    project = load_project(tmp_path, Path("conf/p.yaml"))
    assert project.root == tmp_path / "conf"
    assert project.endpoints == (tmp_path / "conf/a.yaml", tmp_path / "conf/more")
    dev = project.targets["dev"]
    assert dev.variables == {"n": "3", "flag": "true", "f": "1.5"}
    assert project.owner_for(dev) == "team-dev"
    assert project.owner_for(project.targets["bare"]) == "team"
    assert project.owner_for(None) == "team"


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"project file nope.yaml does not exist"):
        load_project(tmp_path, Path("nope.yaml"))


def test_missing_explicit_file_says_what_to_do(tmp_path: Path) -> None:
    # It said only "project file nope.yaml does not exist".
    with pytest.raises(UsageError, match=r"; check the --project path, or run servingops init"):
        load_project(tmp_path, Path("nope.yaml"))


def test_empty_project_file_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "servingops.yaml").write_text("# nothing yet\n")
    project = load_project(tmp_path)
    assert project.owner == "default"
    assert project.path == tmp_path / "servingops.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "owner: x\nownr: y\n",
            "servingops.yaml:2:1: error: ownr: unknown key 'ownr'; did you mean 'owner'?",
        ),
        (
            "default_target: prod\ntargets:\n  dev: {workspace: local}\n",
            "servingops.yaml:1:17: error: default_target: default_target 'prod' is not a "
            "defined target (targets: dev)",
        ),
        (
            "targets:\n  dev: {workspace: local, host: 'https://x'}\n",
            "servingops.yaml:2:27: error: targets.dev.host: a target with workspace: local "
            "cannot also set host",
        ),
        ("owner: '  '\n", "servingops.yaml:1:8: error: owner: owner must not be empty"),
        ("owner: [x]\n", "servingops.yaml:1:8: error: owner: expected a string, got a list"),
        (
            "targets: {dev: {variables: {a: [1]}}}\n",
            "servingops.yaml:1:32: error: targets.dev.variables.a: expected a string or a "
            "number or true or false, got a list",
        ),
        (
            "a: b\n---\nc: d\n",
            "servingops.yaml:3:1: error: the project file holds one "
            "document; remove the extra '---' part",
        ),
        (
            "owner: x\nowner: y\n",
            "servingops.yaml:2:1: error: duplicate key 'owner' (first "
            "defined at line 1); remove one of them",
        ),
    ],
)
def test_invalid_project_files(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "servingops.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert render_text(info.value.diagnostics, summary=False) == expected
    assert str(info.value) == "1 error in 1 file"
