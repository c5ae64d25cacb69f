"""`ignore_changes`: per endpoint, fields whose live value servingops keeps (Terraform's
lifecycle.ignore_changes, Argo CD's ignoreDifferences), fed through the field registry and
shown in the plan as ignored, never applied and never drift (issue 12 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import ApplyCli, call, tags, write_endpoint


def test_an_ignored_tag_keeps_its_live_value_and_the_plan_says_so(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "scorer", extra="ignore_changes: [tags.team]\n")
    assert run("apply", "--auto-approve")[0] == 0
    call(run.emu, "patch_tags", "scorer", add=[{"key": "team", "value": "finops"}], delete=[])
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 0, out  # nothing to change
    assert (
        '# endpoint "scorer": ignored (ignore_changes): tags.team stays "finops" live; '
        'the file says "ml"'
    ) in out
    _, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["ignored"] == {
        "scorer": [{"path": "tags.team", "desired": "ml", "live": "finops"}]
    }
    _, out, _ = run("plan", "--format", "markdown")
    assert "`ignore_changes` keeps live values, not changed: `scorer (tags.team)`" in out
    code, out, _ = run("drift")
    assert code == 0, out
    assert "ignored (ignore_changes): tags.team" in out
    assert run("apply", "--auto-approve")[0] == 0
    assert tags(run.get("scorer"))["team"] == "finops"  # never changed back


def test_a_wildcard_keeps_every_entity_field_and_others_still_change(
    run: ApplyCli, project: Path
) -> None:
    extra = "ignore_changes: [config.served_entities.*.workload_size]\n"
    write_endpoint(project, "scorer", extra=extra)
    assert run("apply", "--auto-approve")[0] == 0
    # Someone resizes the entity in the UI; the file also bumps the version.
    raw = run.get("scorer")
    assert raw is not None
    entity = {k: v for k, v in raw["config"]["served_entities"][0].items() if k != "state"}
    resized = {"served_entities": [{**entity, "workload_size": "Medium"}]}
    call(run.emu, "update_config", "scorer", resized)
    run.emu.advance(31)
    write_endpoint(project, "scorer", version="5", extra=extra)
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "ignored (ignore_changes): config.served_entities.main.workload_size" in out
    live = run.get("scorer")
    assert live is not None
    served = live["config"]["served_entities"][0]
    assert (served["entity_version"], served["workload_size"]) == ("5", "Medium")
    assert run.plan_is_empty()


def test_a_path_that_names_no_field_is_a_located_error(run: ApplyCli, project: Path) -> None:
    write_endpoint(
        project,
        "scorer",
        extra="ignore_changes:\n  - tags.team\n  - tagz.team\n  - tags.servingops-owner\n",
    )
    code, _, err = run("validate")
    assert code == 1
    assert "endpoints/scorer.yaml:12:5: error: ignore_changes[1]: 'tagz.team' is not a field" in err
    assert "ignore_changes[2]: 'tags.servingops-owner' is servingops' own tag" in err


def test_on_create_the_file_applies_as_written(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", extra="ignore_changes: [tags.team]\n")
    assert run("apply", "--auto-approve")[0] == 0
    assert tags(run.get("scorer"))["team"] == "ml"
