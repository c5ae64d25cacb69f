"""`servingops export` through the real CLI against the in-process emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from servingops.model import OWNER_TAG

from .conftest import OWNER, Cli, call


def seed(cli: Cli, name: str, *, owned: bool = False, **extra: Any) -> dict[str, Any]:
    tags = [{"key": "team", "value": "ml"}]
    if owned:
        tags.append({"key": OWNER_TAG, "value": OWNER})
    body = {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": "main",
                    "entity_name": f"main.ml.{name}",
                    "entity_version": "3",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                }
            ]
        },
        "tags": tags,
        **extra,
    }
    return cli.emu.seed_endpoint(body)


def only_exports(cli: Cli) -> None:
    """Drop the fixture's declared endpoint so files hold only what export writes."""
    (cli.root / "endpoints" / "scorer.yaml").unlink()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "name the endpoints to export"),
        (("a", "--all"), "give endpoint NAMES or --all, not both"),
    ],
)
def test_usage_errors(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, out, err = cli("export", *argv)
    assert code == 64
    assert message in err
    assert out == ""


def test_export_all_writes_one_file_each_then_plan_only_adopts(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    created = seed(cli, "beta", owned=True, description="Beta endpoint")
    call(
        cli.emu,
        "set_permissions",
        created["id"],
        [{"group_name": "readers", "permission_level": "CAN_QUERY"}],
    )
    code, out, err = cli("export", "--all")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote endpoints/alpha.yaml",
        "wrote endpoints/beta.yaml",
        "Exported 2 endpoints to endpoints/.",
    ]
    beta = (cli.root / "endpoints" / "beta.yaml").read_text()
    assert beta.startswith("# yaml-language-server: $schema=../schemas/endpoint.schema.json\n")
    assert "description: Beta endpoint\n" in beta
    assert "  - {group_name: readers, permission_level: CAN_QUERY}\n" in beta
    assert OWNER_TAG not in beta
    assert cli("validate")[0] == 0

    # alpha carries no ownership tag: adopting it adds the tag and nothing else
    code, out, _ = cli("plan", "--format", "json", "--detailed-exitcode")
    assert code == 2
    (change,) = json.loads(out)["resource_changes"]
    assert change["name"] == "alpha"
    assert [f["path"] for f in change["change"]["fields"]] == [f"tags.{OWNER_TAG}"]


def test_export_then_plan_is_empty_for_owned_endpoints(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "gamma", owned=True)
    assert cli("export", "gamma")[0] == 0
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 0, out


def test_existing_file_is_skipped_without_force(cli: Cli) -> None:
    only_exports(cli)
    seed(cli, "alpha")
    seed(cli, "beta")
    path = cli.root / "endpoints" / "alpha.yaml"
    path.write_text("# mine\n")
    code, out, err = cli("export", "alpha", "beta")
    assert code == 1
    assert out.splitlines() == [
        "wrote endpoints/beta.yaml",
        "Exported 1 endpoint to endpoints/ (1 skipped: file exists).",
    ]
    assert "skipped endpoints/alpha.yaml: file exists (use --force to overwrite)" in err
    assert path.read_text() == "# mine\n"

    code, out, _ = cli("export", "alpha", "--force")
    assert code == 0
    assert out.splitlines()[0] == "wrote endpoints/alpha.yaml"
    assert path.read_text().startswith("# yaml-language-server")


def test_endpoint_declared_in_another_file_is_not_duplicated(cli: Cli) -> None:
    seed(cli, "scorer")  # declared by the fixture's endpoints/scorer.yaml
    (cli.root / "endpoints" / "scorer.yaml").rename(cli.root / "endpoints" / "main.yaml")
    code, out, err = cli("export", "--all", "--force")
    assert code == 0
    assert "note: skipped scorer: already declared in endpoints/main.yaml" in err
    assert out.splitlines() == ["Exported 0 endpoints to endpoints/ (1 already declared)."]
    assert not (cli.root / "endpoints" / "scorer.yaml").exists()


def test_missing_name_is_an_error_and_writes_nothing(cli: Cli) -> None:
    seed(cli, "alpha")
    code, out, err = cli("export", "alpha", "nope")
    assert code == 1
    assert "error: no endpoint named nope in the workspace" in err
    assert out == ""
    assert not (cli.root / "endpoints" / "alpha.yaml").exists()


def test_out_dir_and_schema_path(cli: Cli) -> None:
    seed(cli, "alpha")
    code, out, _ = cli("export", "alpha", "--out-dir", "adopted/team")
    assert code == 0
    text = (cli.root / "adopted" / "team" / "alpha.yaml").read_text()
    assert (
        text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/endpoint.schema.json"
    )
    assert "wrote adopted/team/alpha.yaml" in out


def test_empty_workspace(cli: Cli) -> None:
    code, out, _ = cli("export", "--all")
    assert code == 0
    assert out == "Exported 0 endpoints to endpoints/.\n"


def test_exported_files_plan_empty_when_files_are_the_only_source(cli: Cli) -> None:
    """A secret reference, a traffic split and notifications survive the trip unchanged."""
    only_exports(cli)
    body = {
        "name": "split",
        "config": {
            "served_entities": [
                {"name": "a", "entity_name": "main.m.x", "entity_version": "1",
                 "workload_size": "Small",
                 "environment_vars": {"TOKEN": "{{secrets/scope/key}}"}},
                {"name": "b", "entity_name": "main.m.x", "entity_version": "2",
                 "workload_size": "Medium", "scale_to_zero_enabled": True},
            ],
            "traffic_config": {"routes": [
                {"served_entity_name": "a", "traffic_percentage": 75},
                {"served_entity_name": "b", "traffic_percentage": 25},
            ]},
        },
        "email_notifications": {"on_update_failure": ["oncall@example.com"]},
        "tags": [{"key": OWNER_TAG, "value": OWNER}],
    }  # fmt: skip
    cli.emu.seed_endpoint(body)
    assert cli("export", "--all")[0] == 0
    text = (cli.root / "endpoints" / "split.yaml").read_text()
    assert "TOKEN: '{{secrets/scope/key}}'" in text
    assert cli("plan", "--detailed-exitcode")[0] == 0
