"""Traffic rollouts through the CLI against the emulator on its manual clock (issue 14).

Queries happen only when someone sends them: `Traffic` sends them while apply sleeps (the
ApplyRuntime seam), advancing the emulator's clock, so the metrics export has minutes to show.
The export's real shape (per served entity, the last complete minute, stamped):
https://docs.databricks.com/aws/en/machine-learning/model-serving/metrics-export-serving-endpoint
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from tests.e2e.conftest import T0
from tests.e2e.rollout_support import (
    ENDPOINT,
    CanaryCli,
    rollout_tag,
    split,
    write_champion_only,
    write_rollout,
)

BEFORE = {"champion": 100}
STEP_1 = {"champion": 50, "challenger": 50}
FAST_GATES = "{max_error_rate: 0.05, max_p99_ms: 500, min_requests: 10}"
AFTER = {"champion": 0, "challenger": 100}


@pytest.fixture
def canary(project: Path, emulator: Emulator[ManualClock], capsys) -> CanaryCli:
    """`fraud` serving champion (version 1) at 100%, and 60 queries a minute of traffic while
    apply sleeps (updates take 30 s)."""
    (project / "endpoints" / "scorer.yaml").unlink()
    run = CanaryCli(project, emulator, capsys)
    write_champion_only(project)
    assert run("apply", "--auto-approve")[0] == 0
    return run


def positive(shares: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in shares.items() if v}


# --------------------------------------------------------------------------------------------
# Success


def test_a_canary_that_stays_healthy_reaches_the_files_split(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[10, 50, 100]")
    code, out, _ = canary("plan")
    assert code == 0
    assert "rollout of challenger to 100% (starts): 3 steps (10% -> 50% -> 100%)" in out
    assert "step 1/3  next   champion 90%, challenger 10%" in out
    assert "takes at least 9m of pauses, at most 18m if traffic is too thin" in out

    before = canary.puts()
    code, out, _ = canary("apply", "--auto-approve")

    assert code == 0, out
    for step, split_text in [(1, "challenger 10%"), (2, "challenger 50%"), (3, "challenger 100%")]:
        assert f"Rollout step {step}/3: {split_text}" in out
        assert f"Gates passed for step {step}/3:" in out
    assert "Rollout complete: challenger 100%, champion 0% (the file's split)" in out
    assert canary.puts() - before == 3  # one config update per step, nothing else
    live = canary.get(ENDPOINT)
    assert split(live) == AFTER
    assert rollout_tag(live) is None  # the state is gone with the rollout
    assert canary.plan_is_empty()


def test_json_events_per_step_and_per_gate_evaluation(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[50, 100]")
    code, out, _ = canary("apply", "--auto-approve", "--format", "json")
    assert code == 0, out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    kinds = [e["type"] for e in events if e["type"].startswith("rollout_")]
    assert kinds.count("rollout_step") == 2
    assert kinds.count("rollout_live") == 2
    assert kinds[-1] == "rollout_complete"
    gates = [e for e in events if e["type"] == "rollout_gate"]
    assert [g["gate"]["verdict"] for g in gates if g["gate"]["verdict"] != "observing"] == [
        "pass",
        "pass",
    ]
    first = gates[0]
    assert first["step"] == 1
    assert first["split"] == {"champion": 50, "challenger": 50}
    assert first["gate"]["requests"] > 0
    assert first["gate"]["error_rate"] == 0
    summary = events[-1]
    assert summary["type"] == "summary"
    assert summary["exit_code"] == 0


# --------------------------------------------------------------------------------------------
# Rollback


def test_a_failing_new_version_is_rolled_back_on_its_error_rate(canary: CanaryCli, project: Path):
    canary.emu.set_entity_fault("fraud@2", error_rate=0.2)  # the new version fails 1 in 5
    write_rollout(project, steps="[20, 100]", gates=FAST_GATES)

    code, out, _ = canary("apply", "--auto-approve")

    assert code == 1
    # At 20% of 60 queries a minute, the first minute after the step holds enough requests.
    found = re.search(
        r"Gate failed at step 1/2: error rate (0\.\d+) > 0\.05 over 1 minute, (\d+) requests; "
        r"rolling back to champion 100%\.\.\.",
        out,
    )
    assert found, out
    assert 0.1 <= float(found[1]) <= 0.3
    assert int(found[2]) >= 10
    assert "Rolled back: champion 100% serves again" in out
    assert (
        f'endpoint "fraud": rolled back at step 1/2 (challenger 20%): error rate {found[1]} > '
        f"0.05 over 1 minute, {found[2]} requests; champion 100% serves again"
    ) in out
    live = canary.get(ENDPOINT)
    assert positive(split(live)) == BEFORE
    assert "p=rolledback" in (rollout_tag(live) or "")

    # Held: the next run changes nothing and says why (exit 1), plan and drift say so too.
    writes = canary.puts()
    code, out, _ = canary("apply", "--auto-approve")
    assert code == 1
    assert "the rollout of challenger was rolled back earlier at 20%" in out
    assert canary.puts() == writes
    code, out, _ = canary("plan", "--detailed-exitcode")
    assert code == 0
    assert "No changes planned; 1 traffic rollout held after a rollback (see above)." in out
    assert canary("drift")[0] == 2

    # A new version is a new attempt.
    canary.emu.clear_entity_fault("fraud@2")
    write_rollout(project, challenger="3", steps="[20, 100]")
    code, out, _ = canary("plan")
    assert "rollout of challenger to 100% (starts)" in out
    assert canary("apply", "--auto-approve")[0] == 0
    assert split(canary.get(ENDPOINT)) == AFTER


def test_a_slow_new_version_is_rolled_back_on_its_latency(canary: CanaryCli, project: Path):
    canary.emu.set_entity_fault("fraud@2", latency_ms=1500)
    write_rollout(project, steps="[50, 100]", gates=FAST_GATES)

    code, out, _ = canary("apply", "--auto-approve")

    assert code == 1
    # 1500 ms answers fall in the (1000, 2500] bucket: p99 interpolates to 2485 ms.
    assert re.search(
        r"Gate failed at step 1/2: p99 latency 2485ms > 500ms over 1 minute, \d+ requests", out
    ), out
    assert positive(split(canary.get(ENDPOINT))) == BEFORE


def test_too_little_traffic_extends_the_window_then_rolls_back(canary: CanaryCli, project: Path):
    """Decision (docs/rollouts.md): a gate never passes on too little evidence. The window
    grows a minute at a time for one more pause; still too few requests: rolled back."""
    canary.traffic.per_minute = 10  # 1 a minute at 10%
    write_rollout(project, steps="[10, 100]", pause="3m")

    code, out, _ = canary("apply", "--auto-approve")

    assert code == 1
    assert "waiting for min_requests 30" in out
    # 3m pause (its first full minute counted), then up to 3m more: 6 minutes, 1 a minute.
    assert re.search(
        r"Gate failed at step 1/2: too little traffic to judge: \d requests over 6 minutes, "
        r"min_requests 30",
        out,
    ), out
    assert positive(split(canary.get(ENDPOINT))) == BEFORE


def test_thin_traffic_that_reaches_min_requests_in_the_longer_window_passes(
    canary: CanaryCli, project: Path
):
    canary.traffic.per_minute = 60  # 6 a minute at 10%
    write_rollout(project, steps="[10, 100]", pause="3m")
    code, out, _ = canary("apply", "--auto-approve")
    assert code == 0, out
    found = re.search(r"Gates passed for step 1/2: (\d+) requests over (\d) minutes", out)
    assert found, out
    assert int(found[1]) >= 30
    assert 3 < int(found[2]) <= 6


# --------------------------------------------------------------------------------------------
# Resumable: scheduled runs, a changed file


def test_a_scheduled_one_step_per_run_rollout(canary: CanaryCli, project: Path):
    """`apply --max-steps 1` every 5 minutes: no run waits out a pause; each sets at most one
    step, a run before a pause is over leaves at once saying when to come back."""
    write_rollout(project, steps="[10, 50, 100]", gates="{max_error_rate: 0.05, min_requests: 5}")
    runs: list[tuple[int, int, str]] = []
    for _ in range(12):
        before = canary.puts()
        started = canary.emu.clock.now()
        code, out, _ = canary("apply", "--auto-approve", "--max-steps", "1")
        runs.append((code, canary.puts() - before, out))
        assert code == 0, out
        assert canary.emu.clock.now() - started < 3 * 60  # never a whole pause
        if "Rollout complete" in out:
            break
        asyncio.run(canary.traffic.sleep(5 * 60))  # cron
    assert all(sent <= 1 for _, sent, _ in runs)
    assert sum(sent for _, sent, _ in runs) == 3
    assert "Rollouts in progress (a later apply continues them):" in runs[0][2]
    assert "its gates are due at" in runs[0][2] or "is next; --max-steps reached" in runs[0][2]
    assert split(canary.get(ENDPOINT)) == AFTER
    assert rollout_tag(canary.get(ENDPOINT)) is None


def test_a_run_before_the_pause_is_over_leaves_and_says_when(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[10, 100]", pause="10m")
    assert canary("apply", "--auto-approve", "--max-steps", "1")[0] == 0
    code, out, _ = canary("apply", "--auto-approve", "--max-steps", "1")
    assert code == 0
    assert "step 1/2 (challenger 10%) is live; its gates are due at 2025-12-17 " in out
    assert "run apply again then" in out
    assert positive(split(canary.get(ENDPOINT))) == {"champion": 90, "challenger": 10}


def test_a_file_changed_mid_rollout_is_planned_where_the_rollout_stands(
    canary: CanaryCli, project: Path
):
    write_rollout(project, steps="[10, 50, 100]")
    assert canary("apply", "--auto-approve", "--max-steps", "1")[0] == 0  # step 1 is live

    # New steps, same version: it goes on from where the live split stands.
    write_rollout(project, steps="[10, 30, 60, 100]")
    code, out, _ = canary("plan")
    assert "rollout of challenger to 100% (in progress)" in out
    assert "step 1/4  live   champion 90%, challenger 10%  (live for " in out
    assert "step 2/4  next   champion 70%, challenger 30%" in out

    # A new version: it starts again at the first step, from the split before the rollout.
    write_rollout(project, challenger="3", steps="[10, 30, 60, 100]")
    code, out, _ = canary("plan")
    assert "rollout of challenger to 100% (restarts)" in out
    assert "on failure back to champion 100%" in out
    code, out, _ = canary("apply", "--auto-approve")
    assert code == 0, out
    assert split(canary.get(ENDPOINT)) == AFTER
    assert canary.plan_is_empty()


def test_a_saved_plan_is_refused_when_its_rollout_moved(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[10, 50, 100]")
    assert canary("plan", "--out", "p.json")[0] == 0
    saved = json.loads((project / "p.json").read_text())
    assert saved["documents"][0]["rollout"]["steps"] == [10, 50, 100]
    assert saved["actions"][0]["rollout"]["steps"][0] == {"champion": 90, "challenger": 10}
    assert canary("apply", "--auto-approve", "--max-steps", "1")[0] == 0  # a scheduled run
    code, _, err = canary("apply", "p.json")
    assert code == 3
    assert "saved plan is stale" in err


def test_removing_the_block_mid_rollout_moves_in_one_update_and_clears_the_state(
    canary: CanaryCli, project: Path
):
    write_rollout(project, steps="[10, 50, 100]")
    assert canary("apply", "--auto-approve", "--max-steps", "1")[0] == 0
    write_rollout(project, rollout=False)
    _code, out, _ = canary("plan")
    assert "(abandoned): the file has no rollout block any more" in out
    before = canary.puts()
    assert canary("apply", "--auto-approve")[0] == 0
    assert canary.puts() - before == 1
    assert rollout_tag(canary.get(ENDPOINT)) is None
    assert canary.plan_is_empty()


def test_a_rollout_in_progress_cancels_prunes(canary: CanaryCli, project: Path):
    write_champion_only(project, name="old")
    assert canary("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "old.yaml").unlink()
    write_rollout(project, steps="[10, 100]")
    code, out, _ = canary("apply", "--auto-approve", "--prune", "--max-steps", "1")
    assert code == 0
    assert 'prune cancelled: the traffic rollout of endpoint "fraud" is still in progress' in out
    assert canary.get("old") is not None


# --------------------------------------------------------------------------------------------
# Interrupted and timed-out runs leave a step, never half of one


def test_sigterm_during_a_pause_leaves_the_step_and_a_rerun_goes_on(
    canary: CanaryCli, project: Path
) -> None:
    write_rollout(project, steps="[50, 100]")

    def term_once_the_step_is_live() -> None:
        tags = [s for s in canary.transport.seen if s[0] == "PATCH" and s[1].endswith("/tags")]
        if len(tags) == 2:  # `next`, then `live`: the pause of step 1 runs
            canary.traffic.on_sleep.clear()
            os.kill(os.getpid(), signal.SIGTERM)

    canary.traffic.on_sleep.append(term_once_the_step_is_live)
    code, out, _ = canary("apply", "--auto-approve")

    assert code == 143
    assert "interrupted during the pause of step 1/2 (the split is consistent)" in out
    assert split(canary.get(ENDPOINT)) == {"champion": 50, "challenger": 50}
    assert "p=live" in (rollout_tag(canary.get(ENDPOINT)) or "")
    code, out, _ = canary("apply", "--auto-approve")
    assert code == 0, out
    assert split(canary.get(ENDPOINT)) == AFTER


def test_a_wait_timeout_during_a_step_leaves_it_for_the_next_run(
    canary: CanaryCli, project: Path
) -> None:
    write_rollout(project, steps="[50, 100]")
    code, out, _ = canary("apply", "--auto-approve", "--wait-timeout", "20s")  # updates take 30s
    assert code == 4
    assert "still updating; re-run apply to resume" in out
    raw = canary.get(ENDPOINT)
    assert raw is not None
    assert raw["state"]["config_update"] == "IN_PROGRESS"
    routes = raw["pending_config"]["traffic_config"]["routes"]
    assert {r["served_entity_name"]: r["traffic_percentage"] for r in routes} == STEP_1
    assert canary("apply", "--auto-approve")[0] == 0
    assert split(canary.get(ENDPOINT)) == AFTER


def test_a_step_that_fails_to_deploy_is_rolled_back(project: Path, capsys) -> None:
    (project / "endpoints" / "scorer.yaml").unlink()
    config = EmulatorConfig(
        update_seconds=30.0, failing_versions=frozenset({("main.ml.fraud", "2")})
    )
    emu = Emulator(config, clock=ManualClock(T0))
    with emu:
        run = CanaryCli(project, emu, capsys)
        write_champion_only(project)
        assert run("apply", "--auto-approve")[0] == 0
        write_rollout(project, steps="[50, 100]")
        code, out, _ = run("apply", "--auto-approve")
        assert code == 1
        assert "Gate failed at step 1/2: the step's config update failed to deploy (" in out
        assert 'endpoint "fraud": rolled back at step 1/2 (challenger 50%)' in out
        live = run.get(ENDPOINT)
        assert live is not None
        assert positive(split(live)) == BEFORE
        assert "f=deploy" in (rollout_tag(live) or "")


def test_max_steps_sets_at_most_that_many_steps_per_run(canary: CanaryCli, project: Path):
    """Pause 0s and no gates: each step passes at once, so only --max-steps stops a run."""
    write_rollout(project, steps="[10, 50, 100]", pause="0s", gates="{}")
    shares, outs = [], []
    for _ in range(3):
        before = canary.puts()
        code, out, _ = canary("apply", "--auto-approve", "--max-steps", "1")
        assert code == 0, out
        assert canary.puts() - before == 1
        shares.append(split(canary.get(ENDPOINT))["challenger"])
        outs.append(out)
    assert shares == [10, 50, 100]
    assert "step 2/3 (challenger 50%) is next; --max-steps reached: run apply again" in outs[0]
    assert "step 3/3 (challenger 100%) is next; --max-steps reached" in outs[1]
    assert "Rollout complete" in outs[2]  # its pause is 0s: judged in the run that set it
    assert rollout_tag(canary.get(ENDPOINT)) is None


def test_no_wait_sends_a_step_and_leaves_it_to_the_next_run(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[50, 100]")
    code, out, _ = canary("apply", "--auto-approve", "--no-wait")
    assert code == 0, out
    assert "step 1/2 (challenger 50%) was sent and not waited for (--no-wait)" in out
    raw = canary.get(ENDPOINT)
    assert raw is not None
    assert raw["state"]["config_update"] == "IN_PROGRESS"
    code, out, _ = canary("apply", "--auto-approve")
    assert code == 0, out
    assert canary.puts() == 2  # one update per step: none sent twice
    assert split(canary.get(ENDPOINT)) == AFTER


def test_a_new_version_of_an_entity_that_has_its_share_is_not_a_rollout(
    canary: CanaryCli, project: Path
):
    write_rollout(project, steps="[50, 100]", pause="0s", gates="{}")
    assert canary("apply", "--auto-approve")[0] == 0
    write_rollout(project, challenger="3", steps="[50, 100]", pause="0s", gates="{}")
    code, out, _ = canary("plan")
    assert code == 0
    assert "rollout of" not in out
    assert (
        "# no rollout: challenger already has 100% of the traffic, so this change to it "
        "reaches that traffic in one update; to canary a new version, serve it as a new entity "
        "and roll traffic to that"
    ) in out


def test_validate_locates_rollout_problems(canary: CanaryCli, project: Path):
    write_rollout(project, steps="[10, 50]")
    code, out, err = canary("validate")
    assert code == 1
    assert (
        "endpoints/fraud.yaml:18:15: error: rollout.steps[1]: the last rollout step is 50% but "
        "the file gives 'challenger' 100% of the traffic; the steps must end at the file's own "
        "split"
    ) in out + err


def test_a_held_rollout_cancels_prunes(canary: CanaryCli, project: Path):
    write_champion_only(project, name="old")
    assert canary("apply", "--auto-approve")[0] == 0
    canary.emu.set_entity_fault("fraud@2", error_rate=0.5)
    write_rollout(project, steps="[50, 100]", gates=FAST_GATES)
    assert canary("apply", "--auto-approve")[0] == 1
    (project / "endpoints" / "old.yaml").unlink()
    code, out, _ = canary("apply", "--auto-approve", "--prune")
    assert code == 1
    assert "prune cancelled" in out
    assert canary.get("old") is not None
