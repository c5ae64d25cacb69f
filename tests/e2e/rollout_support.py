"""Helpers for the rollout tests: endpoint files with a rollout block, traffic sent while apply
pauses (the emulator answers queries only when someone sends them), and reading the split."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from serving_emulator import Emulator, ManualClock
from servingops.waiting import ApplyRuntime
from tests.e2e.conftest import ApplyCli, endpoint_file

ENDPOINT = "fraud"


_CHAMPION = """\
name: {name}
config:
  served_entities:
    - name: champion
      entity_name: main.ml.fraud
      entity_version: "1"
      workload_size: Small
"""
_CHALLENGER = """\
    - name: challenger
      entity_name: main.ml.fraud
      entity_version: "{version}"
      workload_size: Small
  traffic_config:
    routes:
      - {{served_entity_name: champion, traffic_percentage: {champion}}}
      - {{served_entity_name: challenger, traffic_percentage: {share}}}
"""
_ROLLOUT = """\
rollout:
  entity: challenger
  steps: {steps}
  pause: {pause}
  gates: {gates}
"""


def write_rollout(
    root: Path,
    *,
    challenger: str = "2",
    steps: str = "[10, 50, 100]",
    share: int = 100,
    pause: str = "3m",
    gates: str = "{max_error_rate: 0.05, max_p99_ms: 500, min_requests: 30}",
    rollout: bool = True,
    name: str = ENDPOINT,
) -> Path:
    """champion (version 1) and challenger; the file gives challenger `share`%."""
    text = _CHAMPION.format(name=name) + _CHALLENGER.format(
        version=challenger, champion=100 - share, share=share
    )
    if rollout:
        text += _ROLLOUT.format(steps=steps, pause=pause, gates=gates)
    return endpoint_file(root, name, text)


def write_champion_only(root: Path, *, name: str = ENDPOINT) -> Path:
    return endpoint_file(root, name, _CHAMPION.format(name=name))


class Traffic:
    """Sends `per_minute` queries a minute of emulated time to an endpoint while apply sleeps,
    advancing the emulator's clock in slices of at most 10 s (so minutes fill evenly)."""

    def __init__(self, emu: Emulator[ManualClock], *, endpoint: str = ENDPOINT) -> None:
        self.emu = emu
        self.endpoint = endpoint
        self.per_minute = 60.0
        self.sent = 0
        self._owed = 0.0
        self.on_sleep: list[Any] = []  # callables run before each sleep (fault switches, kills)

    async def sleep(self, seconds: float) -> None:
        for hook in list(self.on_sleep):
            hook()
        remaining = max(0.0, seconds)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emu.app),
            base_url="http://emulator.local",
            headers={"Authorization": "Bearer traffic"},
        ) as client:
            while remaining > 0:
                piece = min(remaining, 10.0)
                self._owed += self.per_minute * piece / 60.0
                count = int(self._owed)
                self._owed -= count
                for _ in range(count):
                    await client.post(
                        f"/serving-endpoints/{self.endpoint}/invocations",
                        json={"inputs": [[1.0, 2.0]]},
                    )
                    self.sent += 1
                self.emu.advance(piece)
                remaining -= piece
        await asyncio.sleep(0)

    def runtime(self) -> ApplyRuntime:
        clock = self.emu.clock.now
        return ApplyRuntime(sleep=self.sleep, clock=clock, wall_clock=clock)


def split(raw: dict[str, Any] | None) -> dict[str, int]:
    """The active config's split of a GET answer."""
    assert raw is not None
    routes = raw["config"].get("traffic_config", {}).get("routes", [])
    return {r["served_entity_name"]: r["traffic_percentage"] for r in routes}


def rollout_tag(raw: dict[str, Any] | None) -> str | None:
    assert raw is not None
    for tag in raw.get("tags", []):
        if tag["key"] == "servingops-rollout":
            return str(tag["value"])
    return None


class CanaryCli(ApplyCli):
    """`servingops ...` in-process, with traffic sent while apply sleeps."""

    def __init__(self, root: Path, emu: Emulator[ManualClock], capsys: Any) -> None:
        super().__init__(root, emu, capsys)
        self.traffic = Traffic(emu)
        self.runtime = self.traffic.runtime()

    def puts(self) -> int:
        """How many PUT config calls were made so far."""
        return sum(1 for m, p, _ in self.transport.seen if m == "PUT" and p.endswith("/config"))
