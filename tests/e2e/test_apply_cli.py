"""`servingops apply` through the real CLI against the in-process emulator on a ManualClock.

The apply runtime seam (Settings.runtime) makes every wait, budget pause and
client retry advance the emulator's clock instead of sleeping, so 30-second rollouts are instant.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import EmulatorConfig
from servingops.cli.apply import parse_duration
from servingops.model import OWNER_TAG

from .conftest import (
    CALLER,
    OWNER,
    ApplyCli,
    call,
    runtime_for,
    tags,
    with_emulator,
    write_endpoint,
)

# --------------------------------------------------------------------------------------------
# Flows


def test_create_then_plan_is_empty(run: ApplyCli) -> None:
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "endpoint.scorer: Creating..." in out
    assert "endpoint.scorer: Creation complete after 3" in out
    assert out.rstrip().splitlines()[-1] == (
        "Apply complete! Endpoints: 1 added, 0 changed, 0 destroyed."
    )
    assert tags(run.get("scorer"))[OWNER_TAG] == OWNER
    assert run.plan_is_empty()


def test_without_a_terminal_apply_refuses_unless_auto_approved(run: ApplyCli) -> None:
    code, _, err = run("apply")
    assert code == 1
    assert "pass --auto-approve" in err
    assert run.get("scorer") is None


@pytest.mark.parametrize(("answer", "code"), [("yes\n", 0), ("no\n", 1)])
def test_terminal_asks_for_yes(
    run: ApplyCli, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    run.interactive = True
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    got, out, _ = run("apply")
    assert got == code
    assert "Only 'yes' will be accepted" in out
    assert (run.get("scorer") is not None) == (code == 0)


def test_update_shows_versions_and_waits(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "endpoint.scorer: Updating... [config_version 1 -> 2]" in out
    assert "endpoint.scorer: Update complete after 3" in out
    assert "config_version=2, ready=READY" in out
    assert "noticed within" in out
    raw = run.get("scorer")
    assert raw is not None
    assert raw["config"]["config_version"] == 2
    assert run.plan_is_empty()


def test_replace_needs_allow_replace(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    before = run.get("scorer")
    assert before is not None
    write_endpoint(project, "scorer", version="2", extra="description: new words\n")
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert "--allow-replace" in out
    assert run.get("scorer")["id"] == before["id"]  # type: ignore[index]
    code, out, _ = run("apply", "--auto-approve", "--allow-replace")
    assert code == 0, out
    assert "1 added, 0 changed, 1 destroyed" in out
    assert run.get("scorer")["id"] != before["id"]  # type: ignore[index]
    assert run.plan_is_empty()


def test_prune_deletes_owned_and_never_touches_unowned(run: ApplyCli, project: Path) -> None:
    run.emu.seed_endpoint({"name": "someone-elses", "tags": [{"key": "team", "value": "x"}]})
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "scorer.yaml").unlink()
    write_endpoint(project, "other")
    code, out, _ = run("apply", "--auto-approve", "--prune")
    assert code == 0, out
    assert "1 added, 0 changed, 1 destroyed" in out
    assert run.get("scorer") is None
    assert run.get("someone-elses") is not None
    assert not [s for s in run.transport.seen if s[0] == "DELETE" and "someone" in s[1]]


def test_waits_out_an_update_already_in_progress(run: ApplyCli) -> None:
    seeded = {
        "name": "scorer",
        "config": {"served_entities": [{"name": "main", "entity_name": "main.ml.scorer",
                                        "entity_version": "1", "workload_size": "Small",
                                        "scale_to_zero_enabled": True}]},
        "tags": [{"key": "team", "value": "ml"}, {"key": OWNER_TAG, "value": OWNER}],
    }  # fmt: skip
    run.emu.seed_endpoint(seeded, ready=False)  # rolling out for 30 s
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "endpoint.scorer: Waiting for an update already in progress" in out
    assert not run.transport.statuses(409)
    assert run.plan_is_empty()


def test_conflict_is_waited_out_and_retried(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    run.transport.race_next_put = True
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert [s[0] for s in run.transport.statuses(409)] == ["PUT"]
    assert run.plan_is_empty()


def test_429_from_the_workspace_budget_is_honoured(project: Path, capsys: Any) -> None:
    for name in ("a", "b", "c"):
        write_endpoint(project, name)
    config = EmulatorConfig(update_seconds=30.0, write_budget_calls=2, write_budget_seconds=60.0)
    for run in with_emulator(project, capsys, config):
        start = run.emu.clock.now()
        code, out, _ = run("apply", "--auto-approve", "--parallelism", "4")
        assert code == 0, out
        assert run.transport.statuses(429)  # our budget (50/300) is looser than this one
        assert run.emu.clock.now() - start >= 60
        assert run.plan_is_empty()


def test_our_budget_keeps_writes_within_the_workspace_limit(project: Path, capsys: Any) -> None:
    for name in ("a", "b", "c"):
        write_endpoint(project, name)
    config = EmulatorConfig(update_seconds=30.0, write_budget_calls=2, write_budget_seconds=60.0)
    for run in with_emulator(project, capsys, config):
        run.runtime = runtime_for(run.emu, budget_calls=2, budget_seconds=60.0)
        code, out, _ = run("apply", "--auto-approve", "--parallelism", "4")
        assert code == 0, out
        assert not run.transport.statuses(429)
        assert run.plan_is_empty()


def test_update_failed_reports_deployment_message_and_build_logs(
    project: Path, capsys: Any
) -> None:
    config = EmulatorConfig(
        update_seconds=30.0, failing_versions=frozenset({("main.ml.scorer", "9")})
    )
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve")[0] == 0
        write_endpoint(project, "scorer", version="9")
        code, out, _ = run("apply", "--auto-approve")
        assert code == 1
        assert "config_update=UPDATE_FAILED" in out
        assert "main: Served entity 'main' failed to deploy" in out
        assert "databricks serving-endpoints build-logs scorer main" in out
        assert "Failed:" in out


def test_wait_timeout_exits_4_deletes_nothing_and_rerun_resumes(run: ApplyCli) -> None:
    code, out, _ = run("apply", "--auto-approve", "--wait-timeout", "10s")
    assert code == 4, out
    assert "still updating; re-run apply to resume" in out
    assert run.get("scorer") is not None
    assert not [s for s in run.transport.seen if s[0] == "DELETE"]
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert run.plan_is_empty()


def test_saved_plan_applies_without_prompt(run: ApplyCli) -> None:
    assert run("plan", "--out", "p.json")[0] == 0
    code, out, _ = run("apply", "p.json")
    assert code == 0, out
    assert run.plan_is_empty()


def test_stale_saved_plan_changes_nothing_and_exits_3(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    assert run("plan", "--out", "p.json")[0] == 0
    call(run.emu, "patch_tags", "scorer", add=[{"key": "team", "value": "moved"}], delete=[])
    writes_before = [s for s in run.transport.seen if s[0] != "GET"]
    code, _, err = run("apply", "p.json")
    assert code == 3
    assert "stale" in err
    assert "scorer" in err
    assert [s for s in run.transport.seen if s[0] != "GET"] == writes_before
    raw = run.get("scorer")
    assert raw is not None
    assert raw["config"]["config_version"] == 1
    assert tags(raw)["team"] == "moved"


def test_stale_saved_plan_names_the_fields_that_moved(run: ApplyCli, project: Path) -> None:
    # It said "changed since the plan (tags, permissions, gateway or state)" whatever moved.
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    assert run("plan", "--out", "p.json")[0] == 0
    call(run.emu, "patch_tags", "scorer", add=[{"key": "team", "value": "moved"}], delete=[])
    code, _, err = run("apply", "p.json")
    assert code == 3
    assert err.splitlines() == [
        'error: saved plan is stale, nothing was changed: endpoint "scorer" changed since the '
        "plan (tags). Run plan again and review the new plan"
    ]


def test_stale_plan_saved_without_sections_keeps_the_general_reason(
    run: ApplyCli, project: Path
) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    assert run("plan", "--out", "p.json")[0] == 0
    saved = json.loads((project / "p.json").read_text())
    for fingerprint in saved["fingerprints"].values():
        fingerprint.pop("sections", None)
    (project / "p.json").write_text(json.dumps(saved))
    call(run.emu, "patch_tags", "scorer", add=[{"key": "team", "value": "moved"}], delete=[])
    code, _, err = run("apply", "p.json")
    assert code == 3
    assert "(tags, permissions, gateway or state)" in err


def test_callers_can_manage_is_kept(run: ApplyCli, project: Path) -> None:
    write_endpoint(
        project,
        "scorer",
        extra="permissions:\n  - {group_name: users, permission_level: CAN_QUERY}\n",
    )
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    raw = run.get("scorer")
    assert raw is not None
    acl = call(run.emu, "get_permissions", raw["id"])["access_control_list"]
    levels = {
        e.get("user_name") or e.get("group_name"): [
            p["permission_level"] for p in e["all_permissions"]
        ]
        for e in acl
    }
    assert "CAN_MANAGE" in levels[CALLER]
    assert levels["users"] == ["CAN_QUERY"]
    assert run.plan_is_empty()


def test_json_format_is_event_lines_ending_in_a_summary(run: ApplyCli) -> None:
    code, out, _ = run("apply", "--auto-approve", "--format", "json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    types = [e["type"] for e in events]
    assert types[0] == "apply_start"
    assert "progress" in types
    assert types[-2:] == ["apply_complete", "summary"]
    assert events[-1]["added"] == 1
    assert events[-2]["overshoot_seconds"] is not None


@pytest.mark.parametrize(
    ("text", "seconds"), [("45m", 2700), ("90s", 90), ("1h30m", 5400), ("120", 120)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_wait_timeout_is_a_usage_error(run: ApplyCli) -> None:
    code, _, err = run("apply", "--auto-approve", "--wait-timeout", "soon")
    assert code == 64
    assert "duration" in err
