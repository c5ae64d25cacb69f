"""The plan is the contract (design.md section 8): what a plan allows is decided at plan time,
prunes run last, a re-run waits for rollouts still in progress, a saved plan goes stale only
for the endpoints it acts on and never holds a masked value, and failures say what landed.

Every test here failed on main before the change it covers (issue 9 items 1-5, 7, 10, 11).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops import __version__
from servingops.model import OWNER_TAG

from .conftest import ApplyCli, Recording, call, runtime_for, tags, with_emulator, write_endpoint

UPDATE_SECONDS = 30.0


class Timed(Recording):
    """Recording that also notes the emulator's clock when each request was answered."""

    def __init__(self, emu: Emulator[ManualClock]) -> None:
        super().__init__(emu)
        self.emu = emu
        self.times: list[tuple[str, str, int, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        method, path, status = self.seen[-1]
        self.times.append((method, path, status, self.emu.clock.now()))
        return response


def writes(run: ApplyCli) -> list[tuple[str, str, int]]:
    return [s for s in run.transport.seen if s[0] != "GET"]


# --------------------------------------------------------------------------------------------
# 1. Execution policy: replaces and prunes are allowed at plan time and recorded


def _make_replace_and_update(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "other")
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="2", extra="description: new words\n")
    write_endpoint(project, "other", version="5")


def test_plan_with_a_replace_is_refused_without_allow_replace(run: ApplyCli, project: Path) -> None:
    _make_replace_and_update(run, project)
    code, out, err = run("plan")
    assert code == 1
    assert '# endpoint "scorer" must be replaced' in out  # the plan is still shown
    assert 'endpoint "scorer" must be replaced' in err or 'endpoint "scorer"' in out
    assert "--allow-replace" in out + err
    code, out, _ = run("plan", "--allow-replace")
    assert code == 0, out
    assert "replace allowed" in out


def test_apply_refuses_a_blocked_replace_before_the_prompt_and_any_write(
    run: ApplyCli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to update "other", then fail on "scorer": half an apply.
    _make_replace_and_update(run, project)
    before = writes(run)
    run.interactive = True
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("yes\n"))
    code, out, err = run("apply")
    assert code == 1
    assert "Only 'yes' will be accepted" not in out
    assert 'endpoint "scorer"' in out + err
    assert writes(run) == before
    assert run.get("other")["config"]["config_version"] == 1  # type: ignore[index]


def test_allow_replace_is_recorded_in_the_saved_plan_and_every_format(
    run: ApplyCli, project: Path
) -> None:
    _make_replace_and_update(run, project)
    assert run("plan", "--out", "blocked.json")[0] == 1
    assert not (project / "blocked.json").exists()
    code, out, _ = run("plan", "--allow-replace", "--out", "p.json")
    assert code == 0, out
    saved = json.loads((project / "p.json").read_text())
    assert saved["allow_replace"] is True
    code, out, _ = run("plan", "--allow-replace", "--format", "json")
    assert json.loads(out)["policy"] == {"allow_replace": True, "prune": False}
    code, out, _ = run("plan", "--allow-replace", "--format", "markdown")
    assert "replace allowed" in out
    code, out, _ = run("apply", "p.json")
    assert code == 0, out
    assert run.plan_is_empty()


def test_a_saved_plan_from_another_version_is_refused(run: ApplyCli, project: Path) -> None:
    assert run("plan", "--out", "p.json")[0] == 0
    saved = json.loads((project / "p.json").read_text())
    assert saved["tool_version"] == __version__
    saved["tool_version"] = "0.0.1"
    (project / "p.json").write_text(json.dumps(saved))
    code, _, err = run("apply", "p.json")
    assert code == 3
    assert err.splitlines() == [
        f"error: p.json was saved by servingops 0.0.1 and this is {__version__}; "
        "run plan --out again with this version and review the new plan"
    ]
    assert not writes(run)


# --------------------------------------------------------------------------------------------
# 2. Prune last


def test_prune_waits_until_the_other_changes_are_ready(project: Path, capsys: Any) -> None:
    for run in with_emulator(project, capsys, EmulatorConfig(update_seconds=UPDATE_SECONDS)):
        run.transport = timed = Timed(run.emu)
        assert run("apply", "--auto-approve")[0] == 0
        (project / "endpoints" / "scorer.yaml").unlink()
        write_endpoint(project, "scorer-v2")
        started = run.emu.clock.now()
        code, out, _ = run("apply", "--auto-approve", "--prune")
        assert code == 0, out
        deleted_at = [t for m, p, s, t in timed.times if m == "DELETE" and p.endswith("/scorer")]
        created_at = [t for m, p, s, t in timed.times if m == "POST" and s == 200]
        assert len(deleted_at) == 1
        # The rename's create rolls out for 30 s; the old endpoint serves until then.
        assert deleted_at[0] >= max(created_at) + UPDATE_SECONDS
        assert deleted_at[0] >= started + UPDATE_SECONDS
        assert run.get("scorer") is None


def test_a_failed_create_cancels_every_prune(project: Path, capsys: Any) -> None:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS, failing_versions=frozenset({("main.ml.scorer-v2", "9")})
    )
    for run in with_emulator(project, capsys, config):
        write_endpoint(project, "old-a")
        assert run("apply", "--auto-approve")[0] == 0
        (project / "endpoints" / "scorer.yaml").unlink()
        (project / "endpoints" / "old-a.yaml").unlink()
        write_endpoint(project, "scorer-v2", version="9")
        code, out, _ = run("apply", "--auto-approve", "--prune")
        assert code == 1
        assert not [s for s in run.transport.seen if s[0] == "DELETE"]
        assert run.get("scorer") is not None
        assert run.get("old-a") is not None
        assert "Skipped (prune cancelled" in out
        assert "old-a" in out


def test_a_timeout_cancels_every_prune(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "scorer.yaml").unlink()
    write_endpoint(project, "scorer-v2")
    code, out, _ = run("apply", "--auto-approve", "--prune", "--wait-timeout", "10s")
    assert code == 4
    assert not [s for s in run.transport.seen if s[0] == "DELETE"]
    assert run.get("scorer") is not None
    assert "prune cancelled" in out


def test_no_wait_cancels_prunes_that_would_run_before_the_rollout(
    run: ApplyCli, project: Path
) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "scorer.yaml").unlink()
    write_endpoint(project, "scorer-v2")
    code, out, _ = run("apply", "--auto-approve", "--prune", "--no-wait")
    assert code == 0, out
    assert "prune cancelled: --no-wait" in out
    assert run.get("scorer") is not None
    assert run("wait")[0] == 0
    code, out, _ = run("apply", "--auto-approve", "--prune")
    assert code == 0, out
    assert run.get("scorer") is None


# --------------------------------------------------------------------------------------------
# 3. A subset of files cannot say which owned endpoints are unwanted


def test_plan_paths_with_prune_is_a_usage_error(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "other")
    assert run("apply", "--auto-approve")[0] == 0
    code, out, err = run("plan", str(project / "endpoints" / "scorer.yaml"), "--prune")
    assert code == 64
    assert "--prune" in err
    assert "subset" in err
    assert "destroy" not in out


def test_apply_path_with_prune_is_a_usage_error(run: ApplyCli, project: Path) -> None:
    # It deleted every other owned endpoint (exit 0, "1 destroyed").
    write_endpoint(project, "other")
    assert run("apply", "--auto-approve")[0] == 0
    code, _, err = run(
        "apply", "--auto-approve", "--prune", "--path", str(project / "endpoints" / "scorer.yaml")
    )
    assert code == 64
    assert "subset" in err
    assert run.get("other") is not None
    assert not [s for s in run.transport.seen if s[0] == "DELETE"]


# --------------------------------------------------------------------------------------------
# 4. Resume really waits


def test_rerun_after_a_timeout_waits_for_the_rollout(run: ApplyCli) -> None:
    code, _, _ = run("apply", "--auto-approve", "--wait-timeout", "10s")
    assert code == 4
    timed_out_at = run.emu.clock.now()
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "update in progress" in out
    assert "endpoint.scorer: Rollout complete" in out
    assert run.emu.clock.now() >= timed_out_at + UPDATE_SECONDS - 10
    raw = run.get("scorer")
    assert raw is not None
    assert raw["state"] == {"config_update": "NOT_UPDATING", "ready": "READY"}


def test_rerun_reports_a_rollout_that_failed_meanwhile(project: Path, capsys: Any) -> None:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS, failing_versions=frozenset({("main.ml.scorer", "2")})
    )
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve", "--wait-timeout", "10s")[0] == 4
        code, out, _ = run("apply", "--auto-approve")
        assert code == 1, out
        assert "failed to deploy" in out


def test_wait_command_waits_for_no_wait_applies(run: ApplyCli) -> None:
    code, out, _ = run("apply", "--auto-approve", "--no-wait")
    assert code == 0, out
    code, out, _ = run("wait", "--timeout", "5s")
    assert code == 4, out
    assert "still updating" in out
    code, out, _ = run("wait")
    assert code == 0, out
    assert "endpoint.scorer: Rollout complete" in out
    code, out, _ = run("wait", "scorer")
    assert code == 0, out
    assert "nothing to wait for" in out.lower()


def test_wait_reports_a_rollout_that_already_failed(project: Path, capsys: Any) -> None:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS, failing_versions=frozenset({("main.ml.scorer", "2")})
    )
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve", "--no-wait")[0] == 0
        run.emu.advance(UPDATE_SECONDS + 1)
        code, out, _ = run("wait", "scorer")
        assert code == 1
        assert "Served entity 'main' failed to deploy" in out
        assert "Still serving: nothing" in out


def test_wait_for_an_unknown_name_is_an_error(run: ApplyCli) -> None:
    code, _, err = run("wait", "nope")
    assert code == 1
    assert 'endpoint "nope" does not exist' in err


# --------------------------------------------------------------------------------------------
# 5. Staleness per endpoint


def test_out_of_band_change_to_an_untouched_endpoint_is_not_stale(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "other")
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "scorer", version="3")
    assert run("plan", "--out", "p.json")[0] == 0
    call(run.emu, "patch_tags", "other", add=[{"key": "team", "value": "moved"}], delete=[])
    code, out, err = run("apply", "p.json")
    assert code == 0, out + err
    assert run.get("scorer")["config"]["config_version"] == 2  # type: ignore[index]
    assert tags(run.get("other"))["team"] == "moved"  # not part of the plan: left alone
    assert 'endpoint "other"' in err
    assert "not part of this plan" in err


def test_an_endpoint_created_out_of_band_makes_a_planned_create_stale(
    run: ApplyCli, project: Path
) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    write_endpoint(project, "fresh")
    assert run("plan", "--out", "p.json")[0] == 0
    run.emu.seed_endpoint({"name": "fresh"})
    code, _, err = run("apply", "p.json")
    assert code == 3
    assert '"fresh" was created since the plan' in err


# --------------------------------------------------------------------------------------------
# 7. Secrets out of plan files


SECRET_ENV = """\
name: scorer
config:
  served_entities:
    - name: main
      entity_name: main.ml.scorer
      entity_version: "2"
      workload_size: Small
      scale_to_zero_enabled: true
      environment_vars:
        API_KEY: ${var.api_key}
        DB_TOKEN: "{{secrets/ml/db-token}}"
tags: {team: ml}
"""


def test_a_masked_value_never_reaches_the_saved_plan(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects({"secrets": {"ml": ["db-token"]}})  # pre-flight checks the reference
    (project / "endpoints" / "scorer.yaml").write_text(SECRET_ENV)
    code, out, _ = run("plan", "--var", "api_key=s3cr3t-value", "--out", "p.json")
    assert code == 0, out
    assert "s3cr3t-value" not in out
    assert "s3cr3t-value" not in (project / "p.json").read_text()
    # a secret reference is not a secret: a reviewer must see which one changes
    assert '"{{secrets/ml/db-token}}"' in out
    code, _, err = run("apply", "p.json", "--var", "api_key=another-value")
    assert code == 3
    assert "API_KEY" in err
    assert "another-value" not in err
    assert not writes(run)
    code, out, err = run("apply", "p.json", "--var", "api_key=s3cr3t-value")
    assert code == 0, out + err
    raw = run.get("scorer")
    assert raw is not None
    entity = raw["config"]["served_entities"][0]
    assert entity["environment_vars"]["API_KEY"] == "s3cr3t-value"


def test_a_secret_reference_change_is_shown_in_every_format(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects({"secrets": {"ml": ["db-token", "db-token-v2"]}})
    (project / "endpoints" / "scorer.yaml").write_text(SECRET_ENV)
    assert run("apply", "--auto-approve", "--var", "api_key=x")[0] == 0
    (project / "endpoints" / "scorer.yaml").write_text(
        SECRET_ENV.replace("ml/db-token", "ml/db-token-v2")
    )
    _, out, _ = run("plan", "--var", "api_key=x")
    assert '"{{secrets/ml/db-token}}" -> "{{secrets/ml/db-token-v2}}"' in out
    _, out, _ = run("plan", "--var", "api_key=x", "--format", "json")
    assert "{{secrets/ml/db-token-v2}}" in out
    assert '"x"' not in out


# --------------------------------------------------------------------------------------------
# 10. Failure reports that tell the truth


def test_a_partial_failure_says_what_landed(tmp_path: Path, project: Path, capsys: Any) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n  - {user_name: admin@example.com, groups: [admins], tokens: [test]}\n"
        "groups: [risk-analysts]\n"
    )
    config = EmulatorConfig(update_seconds=UPDATE_SECONDS, users_file=users)
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve")[0] == 0
        # The permissions call fails after the tags landed. (A group that does not exist no
        # longer gets that far: pre-flight refuses the plan. `admins` exists, but its
        # CAN_MANAGE is fixed, so the workspace refuses any other level for it.)
        write_endpoint(
            project,
            "scorer",
            version="3",
            extra="permissions:\n  - {group_name: admins, permission_level: CAN_QUERY}\n",
        )
        (project / "endpoints" / "scorer.yaml").write_text(
            (project / "endpoints" / "scorer.yaml").read_text().replace("team: ml", "team: risk")
        )
        code, out, _ = run("apply", "--auto-approve")
        assert code == 1
        assert tags(run.get("scorer"))["team"] == "risk"
        assert "landed: PATCH tags" in out
        assert "not sent: PUT config" in out
        assert "admins" in out
        assert "1 partially changed" in out
        assert run.get("scorer")["config"]["config_version"] == 1  # type: ignore[index]


def test_update_failed_is_one_block_printed_once(project: Path, capsys: Any) -> None:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS, failing_versions=frozenset({("main.ml.scorer", "9")})
    )
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve")[0] == 0
        write_endpoint(project, "scorer", version="9")
        code, out, _ = run("apply", "--auto-approve")
        assert code == 1
        assert out.count("failed to deploy") == 1
        assert out.count("build-logs scorer main") == 1
        assert "Still serving: config_version 1" in out


# --------------------------------------------------------------------------------------------
# 11. Hard edges


def test_apply_json_with_nothing_to_do_emits_the_summary(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    code, out, _ = run("apply", "--auto-approve", "--format", "json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert events[-1]["type"] == "summary"
    assert events[-1]["exit_code"] == 0


def test_an_absurd_wait_timeout_is_a_usage_error(run: ApplyCli) -> None:
    code, _, err = run("apply", "--auto-approve", "--wait-timeout", "9" * 5000)
    assert code == 64
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "Error: Invalid value for '--wait-timeout': the wait timeout must be at most 72h"
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["documents"][0].__setitem__("body", "not a mapping"),
        lambda p: p.__setitem__("documents", {"a": 1}),
        lambda p: p["documents"][0].__setitem__("source", None),
        lambda p: p.__setitem__("fingerprints", []),
        lambda p: p.__setitem__("actions", [["create", "scorer"]]),
    ],
)
def test_a_damaged_saved_plan_is_one_line(run: ApplyCli, project: Path, mutate: Any) -> None:
    assert run("plan", "--out", "p.json")[0] == 0
    saved = json.loads((project / "p.json").read_text())
    mutate(saved)
    (project / "p.json").write_text(json.dumps(saved))
    code, _, err = run("apply", "p.json")
    assert code == 1, err
    assert err.splitlines() == ["error: p.json is a damaged saved plan; run plan --out again"]


def test_sigterm_is_handled_like_ctrl_c(run: ApplyCli, monkeypatch: pytest.MonkeyPatch) -> None:
    def unhandled(signum: int, frame: Any) -> None:
        raise AssertionError("apply did not handle SIGTERM")

    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        _sigterm_during_apply(run)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sigterm_during_apply(run: ApplyCli) -> None:
    inner = runtime_for(run.emu)
    sent: list[bool] = []

    async def sleep(seconds: float) -> None:
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        await inner.sleep(seconds)

    run.runtime = runtime_for(run.emu, progress_every=inner.progress_every)
    object.__setattr__(run.runtime, "sleep", sleep)
    code, out, _ = run("apply", "--auto-approve")
    assert code == 143
    assert "Apply interrupted!" in out
    assert "re-run apply to resume" in out


# --------------------------------------------------------------------------------------------
# Item 6: endpoints owned by other projects are listed apart from unmanaged ones


def test_endpoints_of_other_projects_are_listed_with_their_owner(run: ApplyCli) -> None:
    run.emu.seed_endpoint({"name": "theirs", "tags": [{"key": OWNER_TAG, "value": "team-b"}]})
    run.emu.seed_endpoint({"name": "loose"})
    code, out, _ = run("plan")
    assert code == 0
    assert "1 unmanaged endpoint (no servingops-owner tag) left untouched: loose" in out
    assert "1 endpoint owned by another servingops project left untouched: theirs (team-b)" in out
    code, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["foreign"] == [{"name": "theirs", "owner": "team-b"}]
