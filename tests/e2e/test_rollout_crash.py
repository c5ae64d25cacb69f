"""A rollout survives a crash at any point: the live split and the state tag are all a re-run
needs, the split is always the one from before or one of the steps (a step is one config
update, which the workspace applies whole or not at all), and no step is sent twice.

Two ways to crash:
- in-process, at every write of a rollout (before it reaches the workspace, and after it did
  but before its answer came back) and during each pause: the run stops dead with an exception
  no code in servingops catches (a BaseException), so nothing is cleaned up on the way out and
  the workspace holds exactly the requests made before the crash. That is what kill -9 leaves
  behind, checked at every write instead of at random instants, with gates and pauses on the
  emulator's manual clock;
- `python -m servingops apply` in a subprocess against a served emulator on a SQLite file on
  127.0.0.1, killed with SIGKILL as each step starts (pause 0s and no gates, so the real-time
  run stays short). Bounded: every wait has a timeout, the server stops with the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock, SystemClock, serve_in_thread
from tests.e2e.conftest import OWNER, Recording
from tests.e2e.rollout_support import (
    ENDPOINT,
    CanaryCli,
    rollout_tag,
    split,
    write_champion_only,
    write_rollout,
)

STEPS = [{"champion": 50, "challenger": 50}, {"champion": 0, "challenger": 100}]
BEFORE = {"champion": 100}
WRITES = ("PUT", "PATCH", "POST", "DELETE")


class Crash(BaseException):
    """Stands in for SIGKILL: nothing in servingops catches it, nothing runs on the way out."""


class CrashingTransport(Recording):
    """The recording transport, crashing at the `at`-th write (1-based): before sending it, or
    (`lost`) after the workspace took it, before its answer comes back."""

    def __init__(self, emu: Emulator[ManualClock], *, at: int, lost: bool) -> None:
        super().__init__(emu)
        self.at, self.lost, self.writes = at, lost, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in WRITES:
            self.writes += 1
            if self.writes == self.at and not self.lost:
                raise Crash(f"before write {self.at}")
        response = await super().handle_async_request(request)
        if request.method in WRITES and self.writes == self.at and self.lost:
            raise Crash(f"after write {self.at}")
        return response


def positive(shares: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in shares.items() if v}


@pytest.fixture
def canary(project: Path, emulator: Emulator[ManualClock], capsys: Any) -> CanaryCli:
    (project / "endpoints" / "scorer.yaml").unlink()
    run = CanaryCli(project, emulator, capsys)
    write_champion_only(project)
    assert run("apply", "--auto-approve")[0] == 0
    write_rollout(project, steps="[50, 100]", pause="2m", gates="{max_error_rate: 0.05}")
    return run


def settled(run: CanaryCli) -> dict[str, Any]:
    """The endpoint once an update the crash left in flight has finished."""
    for _ in range(10):
        raw = run.get(ENDPOINT)
        assert raw is not None
        if raw["state"]["config_update"] != "IN_PROGRESS":
            return raw
        run.emu.advance(10)
    raise AssertionError("the update never finished")


def resume_and_check(run: CanaryCli) -> None:
    """After a crash: the split is a consistent one; re-runs finish the rollout; the config
    was updated once per step (a step that landed before the crash is not sent again)."""
    live = settled(run)
    assert positive(split(live)) in [BEFORE, *(positive(s) for s in STEPS)]
    versions_before = live["config"]["config_version"]
    for _ in range(3):
        code, out, _ = run("apply", "--auto-approve")
        if code == 0:
            break
    assert code == 0, out
    final = run.get(ENDPOINT)
    assert final is not None
    assert split(final) == STEPS[-1]
    assert rollout_tag(final) is None
    # create (1) + one update per step: nothing was repeated, whatever the crash hit.
    assert final["config"]["config_version"] == 1 + len(STEPS)
    assert versions_before <= final["config"]["config_version"]
    assert run.plan_is_empty()


# A rollout of two steps writes: tag next(50), PUT, tag live(50), tag next(100), PUT,
# tag live(100), tag removed.
ROLLOUT_WRITES = 7


@pytest.mark.parametrize("lost", [False, True], ids=["before-write", "answer-lost"])
@pytest.mark.parametrize("at", range(1, ROLLOUT_WRITES + 1))
def test_a_crash_at_any_write_resumes_to_the_files_split(
    canary: CanaryCli, at: int, lost: bool
) -> None:
    canary.transport = CrashingTransport(canary.emu, at=at, lost=lost)
    with pytest.raises(Crash):
        canary("apply", "--auto-approve")
    canary.capsys.readouterr()
    canary.transport = Recording(canary.emu)
    resume_and_check(canary)


@pytest.mark.parametrize("nth", [1, 3, 8])
def test_a_crash_during_a_pause_resumes_with_the_pause_it_had(canary: CanaryCli, nth: int):
    sleeps = 0

    def crash_on_nth_sleep() -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == nth:
            raise Crash(f"sleep {nth}")

    canary.traffic.on_sleep.append(crash_on_nth_sleep)
    with pytest.raises(Crash):
        canary("apply", "--auto-approve")
    canary.capsys.readouterr()
    canary.traffic.on_sleep.clear()
    resume_and_check(canary)


# --------------------------------------------------------------------------------------------
# A real process, killed with SIGKILL as each step starts


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    config = EmulatorConfig(update_seconds=0.5)
    emu = Emulator(config, db_path=tmp_path / "ws.db", clock=SystemClock())
    with emu, serve_in_thread(emu) as url:
        yield url


def _apply(root: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABRICKS_HOST": url, "DATABRICKS_TOKEN": "kill-test"}
    env.pop("DATABRICKS_CONFIG_PROFILE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "servingops", "apply", "--auto-approve"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _get(url: str) -> dict[str, Any]:
    response = httpx.get(
        f"{url}/api/2.0/serving-endpoints/{ENDPOINT}",
        headers={"Authorization": "Bearer kill-test"},
        timeout=10,
    )
    response.raise_for_status()
    raw: dict[str, Any] = response.json()
    return raw


@pytest.mark.slow
def test_kill_9_as_each_step_starts_then_a_rerun_finishes(tmp_path: Path, served: str) -> None:
    root = tmp_path / "project"
    (root / "endpoints").mkdir(parents=True)
    (root / "servingops.yaml").write_text(f"endpoints: endpoints/\nowner: {OWNER}\n")
    write_champion_only(root)
    with _apply(root, served) as first:
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 0, out
    steps = [{"champion": 70, "challenger": 30}, {"champion": 40, "challenger": 60}, STEPS[-1]]
    write_rollout(root, steps="[30, 60, 100]", pause="0s", gates="{}")

    for step in range(1, len(steps) + 1):
        with _apply(root, served) as victim:
            assert victim.stdout is not None
            deadline = time.monotonic() + 60
            seen = []
            for line in victim.stdout:  # each progress line is flushed as it is written
                seen.append(line)
                if f"Rollout step {step}/{len(steps)}:" in line or time.monotonic() > deadline:
                    break
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
        assert any(f"Rollout step {step}/" in line for line in seen), "".join(seen)
        live = _get(served)
        # killed with its step's update sent or not: either way a split of the schedule
        allowed = [BEFORE, *(positive(s) for s in steps)]
        assert positive(split(live)) in allowed
        pending = live.get("pending_config")
        if pending:
            routes = pending["traffic_config"]["routes"]
            shares = {r["served_entity_name"]: r["traffic_percentage"] for r in routes}
            assert positive(shares) in allowed

    with _apply(root, served) as final:
        out, _ = final.communicate(timeout=120)
        assert final.returncode == 0, out
    live = _get(served)
    assert split(live) == steps[-1]
    assert rollout_tag(live) is None
    assert live["config"]["config_version"] == 1 + len(steps)  # each step sent once


# A rollout whose first step fails its gate writes: tag next(50), PUT, tag live(50),
# tag rollback, PUT (the split from before), tag rolledback.
@pytest.mark.parametrize("lost", [False, True], ids=["before-write", "answer-lost"])
@pytest.mark.parametrize("at", [4, 5, 6])
def test_a_crash_during_a_rollback_is_finished_by_the_next_run(
    canary: CanaryCli, project: Path, at: int, lost: bool
) -> None:
    canary.emu.set_entity_fault("fraud@2", error_rate=0.5)
    write_rollout(project, steps="[50, 100]", gates="{max_error_rate: 0.05, min_requests: 5}")
    canary.transport = CrashingTransport(canary.emu, at=at, lost=lost)
    with pytest.raises(Crash):
        canary("apply", "--auto-approve")
    canary.capsys.readouterr()
    canary.transport = Recording(canary.emu)
    live = settled(canary)
    assert positive(split(live)) in [BEFORE, positive(STEPS[0])]

    code, out, _ = canary("apply", "--auto-approve")

    assert code == 1
    assert "error rate" in out
    final = settled(canary)
    assert positive(split(final)) == BEFORE
    assert "p=rolledback" in (rollout_tag(final) or "")
    assert final["config"]["config_version"] == 3  # create, the step, the restore: once each
    assert canary("apply", "--auto-approve")[0] == 1  # held
