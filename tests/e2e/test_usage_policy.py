"""`usage_policy_id`: added after the field registry as one entry plus these tests (issue 12).

The reference (section 3.14) lists it among the fields of the list response only
(databricks-sdk-py ServingEndpoint: "The usage policy associated with serving endpoint"; not in
ServingEndpointDetailed, not in any create or update request). So the workspace assigns it, no
serving API sets or changes it, and servingops reads it from the listing. A file may assert it:
the same policy plans nothing; a different one is drift and a located plan error, never a call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serving_emulator import EmulatorConfig

from .conftest import with_emulator, write_endpoint

POLICY = EmulatorConfig(update_seconds=30.0, usage_policy_id="up-serving-default")


def test_the_workspace_policy_is_adopted_and_never_sent(project: Path, capsys: Any) -> None:
    for run in with_emulator(project, capsys, POLICY):
        assert run("apply", "--auto-approve")[0] == 0  # the file says nothing about it
        assert run.plan_is_empty()
        _, out, _ = run("plan", "--format", "json")
        assert json.loads(out)["problems"] == []


def test_a_file_that_asserts_the_live_policy_plans_nothing(project: Path, capsys: Any) -> None:
    for run in with_emulator(project, capsys, POLICY):
        assert run("apply", "--auto-approve")[0] == 0
        write_endpoint(
            project,
            "scorer",
            version="${var.version}",
            extra="usage_policy_id: up-serving-default\n",
        )
        assert run.plan_is_empty()
        code, out, _ = run("drift", "--format", "json")
        assert code == 0, out


def test_another_policy_is_a_located_error_and_drift(project: Path, capsys: Any) -> None:
    for run in with_emulator(project, capsys, POLICY):
        assert run("apply", "--auto-approve")[0] == 0
        write_endpoint(
            project, "scorer", version="${var.version}", extra="usage_policy_id: up-finance\n"
        )
        code, out, _ = run("plan")
        assert code == 1
        assert (
            'endpoints/scorer.yaml:10:18: error: endpoint "scorer": usage_policy_id cannot '
            "change on an existing endpoint (usage_policy_id is assigned by the workspace; no "
            "serving API sets or changes it); write the live value, or leave the field out"
        ) in out
        code, out, _ = run("drift", "--format", "json")
        drift = json.loads(out)
        assert drift["changed"][0]["fields"][0]["path"] == "usage_policy_id"
        writes = [s for s in run.transport.seen if s[0] in ("PUT", "PATCH", "POST")]
        code, _, _ = run("apply", "--auto-approve")
        assert code == 1
        assert [s for s in run.transport.seen if s[0] in ("PUT", "PATCH", "POST")] == writes


def test_export_leaves_the_workspace_policy_out(project: Path, capsys: Any) -> None:
    for run in with_emulator(project, capsys, POLICY):
        run.emu.seed_endpoint({"name": "adhoc"})
        code, out, err = run("export", "adhoc", "--out-dir", str(project / "exported"))
        assert code == 0, out + err
        assert "usage_policy_id" not in (project / "exported" / "adhoc.yaml").read_text()
