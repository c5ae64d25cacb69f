"""Apply at scale: N endpoint config updates that each take 10 s, with the write budget on.

Serves a file-backed emulator on 127.0.0.1 (update_seconds=10, write budget 50 per 300 s),
seeds N owned endpoints, and times `servingops` applying a version bump to all of them, against
the bound set by the update time and the budget: (ceil(N / budget) - 1) * window + update time.
Then, on a fresh emulator in the same run, it applies the same changes one by one with the
official databricks-sdk's `serving_endpoints.update_config_and_wait` and reports the ratio.

    python -m benchmarks.apply_scale [--endpoints 50] [--sdk-endpoints 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from serving_emulator import Emulator, EmulatorConfig, SystemClock, serve_in_thread
from servingops import applier, engine
from servingops.auth import Credentials
from servingops.client import Client
from servingops.model import OWNER_TAG, DesiredDocument, SourceRef

OWNER = "bench/apply"
UPDATE_SECONDS = 10.0
BUDGET_CALLS = 50
BUDGET_SECONDS = 300.0


def _entity(i: int, version: str) -> dict[str, Any]:
    return {
        "name": "main",
        "entity_name": f"main.bench.model{i}",
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }


def _emulator(db: Path, count: int) -> Emulator[SystemClock]:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS,
        write_budget_calls=BUDGET_CALLS,
        write_budget_seconds=BUDGET_SECONDS,
    )
    emu = Emulator(config, db_path=db, clock=SystemClock())
    for i in range(count):
        emu.seed_endpoint(
            {
                "name": f"bench-{i:03d}",
                "config": {"served_entities": [_entity(i, "1")]},
                "tags": [{"key": OWNER_TAG, "value": OWNER}],
            }
        )
    return emu


def bound(count: int) -> float:
    return (math.ceil(count / BUDGET_CALLS) - 1) * BUDGET_SECONDS + UPDATE_SECONDS


async def _servingops(url: str, count: int) -> dict[str, Any]:
    docs = [
        DesiredDocument(
            name=f"bench-{i:03d}",
            body={"name": f"bench-{i:03d}", "config": {"served_entities": [_entity(i, "2")]}},
            source=SourceRef(path="bench.yaml"),
        )
        for i in range(count)
    ]
    async with Client(Credentials(host=url, token="bench")) as client:
        plan, live = await engine.compute_plan(client, docs, owner=OWNER)
        assert len(plan.actions) == count, plan.actions
        started = time.monotonic()
        result = await applier.apply(
            plan, client, owner=OWNER, caller=live.caller, parallelism=count
        )
        elapsed = time.monotonic() - started
        after, _ = await engine.compute_plan(client, docs, owner=OWNER)
    assert result.ok, [o.message for o in result.outcomes if o.message]
    assert after.is_empty
    overshoots = [o.overshoot or 0.0 for o in result.outcomes]
    return {
        "elapsed": elapsed,
        "polls": sum(o.polls for o in result.outcomes) / count,
        "overshoot_mean": sum(overshoots) / count,
        "overshoot_max": max(overshoots),
    }


def _sdk(url: str, count: int) -> float:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.serving import ServedEntityInput

    w = WorkspaceClient(host=url, token="bench")
    started = time.monotonic()
    for i in range(count):
        entity = _entity(i, "2")
        w.serving_endpoints.update_config_and_wait(
            name=f"bench-{i:03d}",
            served_entities=[
                ServedEntityInput(
                    name=entity["name"],
                    entity_name=entity["entity_name"],
                    entity_version=entity["entity_version"],
                    workload_size=entity["workload_size"],
                    scale_to_zero_enabled=entity["scale_to_zero_enabled"],
                )
            ],
        )
    return time.monotonic() - started


def _measure_servingops(count: int, tmp: Path) -> dict[str, Any]:
    with _emulator(tmp / f"so-{count}.db", count) as emu, serve_in_thread(emu) as url:
        return asyncio.run(_servingops(url, count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--sdk-endpoints", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        big = _measure_servingops(args.endpoints, tmp)
        print(
            f"servingops, {args.endpoints} updates: {big['elapsed']:.1f}s "
            f"(bound {bound(args.endpoints):.0f}s, {big['elapsed'] / bound(args.endpoints):.2f}x), "
            f"{big['polls']:.1f} polls/endpoint, overshoot mean {big['overshoot_mean']:.2f}s "
            f"max {big['overshoot_max']:.2f}s"
        )
        n = args.sdk_endpoints
        small = _measure_servingops(n, tmp)
        with _emulator(tmp / "sdk.db", n) as emu, serve_in_thread(emu) as url:
            sdk = _sdk(url, n)
        print(
            f"same run, {n} updates: servingops {small['elapsed']:.1f}s, "
            f"databricks-sdk update_config_and_wait one by one {sdk:.1f}s "
            f"-> servingops is {sdk / small['elapsed']:.1f}x faster"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
