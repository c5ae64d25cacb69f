"""Rollout overhead: a traffic rollout of N steps against N bare config updates, side by side.

Serves an emulator on 127.0.0.1 (real HTTP on loopback) whose clock is a ManualClock that the
applier's sleeps move forward: rollouts (update_seconds=30) and pauses cost no wall time, so
what is timed is servingops' own work and its requests. Two endpoints start at champion 100%:

- bare: N applies, each one config update to the next split (what N hand-made PRs would do;
  only their apply is timed and counted, not their N plans);
- rollout: one apply of a rollout block with the same N steps, pause 0s, in two variants:
  without gates (state tag writes only) and with gates (the metrics export is read and judged
  after every step).

Each variant runs --repeat times in the same process; the median is reported, with the HTTP
requests made and the ratio rollout / bare.

    python -m benchmarks.rollout_overhead [--steps 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from serving_emulator import Emulator, EmulatorConfig, ManualClock, serve_in_thread
from servingops import applier, engine
from servingops.auth import Credentials
from servingops.client import Client
from servingops.model import OWNER_TAG, DesiredDocument, Gates, RolloutSpec, SourceRef
from servingops.waiting import WaitPolicy, WriteScheduler

OWNER = "bench/rollout"
T0 = 1_766_000_000.0


def _config(challenger: int) -> dict[str, Any]:
    entity = {"entity_name": "main.bench.fraud", "workload_size": "Small"}
    return {
        "served_entities": [
            {"name": "champion", "entity_version": "1", **entity},
            {"name": "challenger", "entity_version": "2", **entity},
        ],
        "traffic_config": {
            "routes": [
                {"served_entity_name": "champion", "traffic_percentage": 100 - challenger},
                {"served_entity_name": "challenger", "traffic_percentage": challenger},
            ]
        },
    }


def _document(name: str, challenger: int, spec: RolloutSpec | None = None) -> DesiredDocument:
    return DesiredDocument(
        name=name,
        body={"name": name, "config": _config(challenger)},
        source=SourceRef(path="bench.yaml"),
        rollout=spec,
    )


def _shares(steps: int) -> list[int]:
    return [round(100 * (i + 1) / steps) for i in range(steps)]


class _Run:
    """One served emulator on a manual clock, and a client to it."""

    def __init__(self, emu: Emulator[ManualClock], url: str) -> None:
        self.emu = emu
        self.url = url

        async def sleep(seconds: float) -> None:
            emu.advance(seconds)
            await asyncio.sleep(0)

        clock = emu.clock.now
        self.wait = WaitPolicy(sleep=sleep, clock=clock, wall_clock=clock, jitter=0.0)
        self.scheduler = WriteScheduler(calls=0, clock=clock, sleep=sleep)

    def seed(self, name: str) -> None:
        self.emu.seed_endpoint(
            {"name": name, "config": _config(0), "tags": [{"key": OWNER_TAG, "value": OWNER}]}
        )

    async def apply(self, client: Client, document: DesiredDocument) -> tuple[float, int]:
        """Plan and apply `document`; the seconds spent and requests made by apply alone."""
        plan, live = await engine.compute_plan(client, [document], owner=OWNER)
        requests = client.requests
        started = time.perf_counter()
        result = await applier.apply(
            plan,
            client,
            owner=OWNER,
            caller=live.caller,
            wait=self.wait,
            scheduler=self.scheduler,
        )
        elapsed = time.perf_counter() - started
        assert result.ok, [o.message for o in result.outcomes]
        return elapsed, client.requests - requests


async def _bare(run: _Run, name: str, steps: int) -> tuple[float, int]:
    run.seed(name)
    async with Client(Credentials(host=run.url, token="bench")) as client:
        seconds, requests = 0.0, 0
        for share in _shares(steps):
            elapsed, made = await run.apply(client, _document(name, share))
            seconds, requests = seconds + elapsed, requests + made
        return seconds, requests


async def _rollout(run: _Run, name: str, steps: int, *, gates: bool) -> tuple[float, int]:
    run.seed(name)
    spec = RolloutSpec(
        entity="challenger",
        steps=tuple(_shares(steps)),
        pause_seconds=0.0,
        gates=Gates(max_error_rate=0.5, max_p99_ms=10_000) if gates else Gates(),
    )
    async with Client(Credentials(host=run.url, token="bench")) as client:
        return await run.apply(client, _document(name, 100, spec))


def measure(steps: int, repeat: int) -> dict[str, tuple[float, int]]:
    """Median apply seconds and requests of each variant, interleaved in one run."""
    samples: dict[str, list[tuple[float, int]]] = {"bare": [], "rollout": [], "gated": []}
    emu = Emulator(EmulatorConfig(update_seconds=30.0), clock=ManualClock(T0))
    with emu, serve_in_thread(emu) as url:
        run = _Run(emu, url)
        for i in range(repeat):
            samples["bare"].append(asyncio.run(_bare(run, f"bare-{i}", steps)))
            samples["rollout"].append(asyncio.run(_rollout(run, f"ro-{i}", steps, gates=False)))
            samples["gated"].append(asyncio.run(_rollout(run, f"gated-{i}", steps, gates=True)))
    return {
        k: (statistics.median(s for s, _ in v), int(statistics.median(r for _, r in v)))
        for k, v in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    found = measure(args.steps, args.repeat)
    bare_s, bare_r = found["bare"]
    print(f"{args.steps} bare config updates: {bare_s * 1000:.0f} ms of apply, {bare_r} requests")
    for key, label in (("rollout", "rollout, no gates"), ("gated", "rollout, gates read")):
        seconds, requests = found[key]
        print(
            f"{label:20} {args.steps} steps: {seconds * 1000:.0f} ms, {requests} requests "
            f"-> {seconds / bare_s:.2f}x the time, {requests / bare_r:.2f}x the requests"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
