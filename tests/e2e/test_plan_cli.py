"""`servingops plan` and `drift` through the real CLI against the in-process emulator."""

from __future__ import annotations

import json
from pathlib import Path

from servingops import bodies, normalize
from servingops.model import DesiredDocument, SourceRef

from .conftest import OWNER, Cli, call, write_endpoint


def create_as_desired(cli: Cli, name: str, *, version: str = "2") -> None:
    """Create the endpoint the way apply does (create body + owner tag) and let it settle."""
    doc = DesiredDocument(
        name=name,
        body={
            "name": name,
            "config": {"served_entities": [{"name": "main", "entity_name": f"main.ml.{name}",
                                            "entity_version": version, "workload_size": "Small",
                                            "scale_to_zero_enabled": True}]},
            "tags": [{"key": "team", "value": "ml"}],
        },
        source=SourceRef(path="x"),
    )  # fmt: skip
    body = bodies.to_document(normalize.normalize_desired(doc))
    body["tags"].append({"key": "servingops-owner", "value": OWNER})
    call(cli.emu, "create_endpoint", body)
    cli.emu.advance(31)


def test_plan_on_empty_workspace_creates(cli: Cli) -> None:
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2
    assert 'endpoint "scorer"' in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out


def test_plan_on_converged_workspace_is_empty(cli: Cli) -> None:
    create_as_desired(cli, "scorer")
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 0, out
    assert "No changes. Live endpoints match the configuration." in out


def test_plan_shows_a_version_bump_and_json_names_the_field(cli: Cli) -> None:
    create_as_desired(cli, "scorer", version="1")
    code, out, _ = cli("plan", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    (change,) = payload["resource_changes"]
    assert change["change"]["actions"] == ["update"]
    fields = [f["path"] for f in change["change"]["fields"]]
    assert fields == ["config.served_entities.main.entity_version"]


def test_drift_after_out_of_band_change_exits_2_and_names_the_fields(cli: Cli) -> None:
    create_as_desired(cli, "scorer")
    assert cli("drift")[0] == 0
    call(cli.emu, "patch_tags", "scorer", add=[{"key": "team", "value": "other"}], delete=[])
    code, out, _ = cli("drift")
    assert code == 2
    assert "tags" in out
    assert "team" in out


def test_drift_reports_owned_endpoint_no_longer_in_files(cli: Cli, project: Path) -> None:
    create_as_desired(cli, "scorer")
    write_endpoint(project, "other")
    (project / "endpoints" / "scorer.yaml").unlink()
    code, out, _ = cli("drift", "--format", "json")
    assert code == 2
    payload = json.loads(out)
    assert payload["drift"] is True
    assert "scorer" in json.dumps(payload["orphaned"])


def test_unmanaged_endpoints_are_listed_never_planned(cli: Cli) -> None:
    cli.emu.seed_endpoint({"name": "someone-elses"})
    code, out, _ = cli("plan", "--prune", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["unmanaged"] == ["someone-elses"]
    assert [c["name"] for c in payload["resource_changes"]] == ["scorer"]


def test_plan_out_writes_a_saved_plan_without_secrets(cli: Cli, project: Path) -> None:
    write_endpoint(
        project,
        "scorer",
        extra="",
    )
    code, _, err = cli("plan", "--out", "plan.json")
    assert code == 0
    saved = json.loads((project / "plan.json").read_text())
    assert saved["format"] == "servingops-plan"
    assert saved["actions"] == [{"kind": "create", "name": "scorer"}]
    assert "servingops apply plan.json" in err


def test_invalid_files_exit_1_with_located_errors(cli: Cli, project: Path) -> None:
    (project / "endpoints" / "bad.yaml").write_text("name: bad\nconfig: []\n")
    code, _, err = cli("plan")
    assert code == 1
    assert "endpoints/bad.yaml:2:" in err
