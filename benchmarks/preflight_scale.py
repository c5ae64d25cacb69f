"""Pre-flight at scale: the extra reads of the checks stay within the concurrency bound.

In one run against one emulator process on 127.0.0.1 (25 ms of injected latency), alternately:
  1. the live reads alone (engine.read_live) of N endpoints;
  2. engine.compute_plan for N endpoints whose files each follow a model alias
     (`entity_version: "@champion"`, one model per endpoint) and reference a secret, so the live
     reads come with N alias lookups plus the checks of the changed endpoints, all under the
     same bound.
Each is reported against its own concurrency bound (requests x latency / parallelism).

    .venv/bin/python -m benchmarks.preflight_scale --endpoints 400
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.plan_scale import OWNER, TOKEN, endpoint_body, served, write_project
from serving_emulator import Emulator, EmulatorConfig
from servingops import engine
from servingops.auth import Credentials
from servingops.client import Client
from servingops.desired import load_desired
from servingops.project import load_project

PREFLIGHT_OWNER = "bench/preflight"


def preflight_body(i: int) -> dict[str, Any]:
    """A live endpoint of the pre-flight project: its challenger serves version 4 of its own
    model, which `@champion` points at (at 5 for every tenth, so those plan an update)."""
    body = endpoint_body(i)
    body["name"] = f"pf-{i:04d}"
    body["config"]["served_entities"][1] = {
        "name": "challenger", "entity_name": f"main.bench.m{i:04d}", "entity_version": "4",
        "workload_size": "Small", "scale_to_zero_enabled": True,
        "environment_vars": {"TOKEN": "{{secrets/bench/token}}"},
    }  # fmt: skip
    body["tags"][1]["value"] = PREFLIGHT_OWNER
    return body


def preflight_objects(n: int) -> dict[str, Any]:
    champion = {i: "5" if i % 10 == 0 else "4" for i in range(n)}
    # Declaring models makes the kind authoritative: the first project's model is listed too.
    shared = {"main.bench.model": {"versions": {"3": "READY", "4": "READY", "5": "READY"}}}
    return {
        "models": shared
        | {
            f"main.bench.m{i:04d}": {
                "versions": {"4": "READY", "5": "READY"},
                "aliases": {"champion": champion[i]},
            }
            for i in range(n)
        },
        "secrets": {"bench": ["token"]},
    }


def write_preflight_project(root: Path, n: int) -> None:
    root.mkdir()
    (root / "servingops.yaml").write_text(f"endpoints: endpoints/\nowner: {PREFLIGHT_OWNER}\n")
    folder = root / "endpoints"
    folder.mkdir()
    for i in range(n):
        (folder / f"pf-{i:04d}.yaml").write_text(
            f"name: pf-{i:04d}\nconfig:\n  served_entities:\n"
            "    - {name: champion, entity_name: main.bench.model, entity_version: '3',"
            " workload_size: Small, scale_to_zero_enabled: true}\n"
            f"    - {{name: challenger, entity_name: main.bench.m{i:04d},"
            " entity_version: '@champion', workload_size: Small, scale_to_zero_enabled: true,"
            " environment_vars: {TOKEN: '{{secrets/bench/token}}'}}\n"
            "  traffic_config:\n    routes:\n"
            "      - {served_entity_name: champion, traffic_percentage: 90}\n"
            "      - {served_entity_name: challenger, traffic_percentage: 10}\n"
            "tags: {team: bench}\n"
        )


def run(n: int, latency_ms: float, parallelism: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "bench.db"
        with Emulator(EmulatorConfig(), db_path=db) as seeder:
            for i in range(n):
                seeder.seed_endpoint(endpoint_body(i))
                seeder.seed_endpoint(preflight_body(i))
            seeder.seed_objects(preflight_objects(n))
        write_project(root, n)
        write_preflight_project(root / "preflight", n)
        docs, _ = load_desired(load_project(root), None)
        pf_docs, _ = load_desired(load_project(root / "preflight"), None)
        with served(db, latency_ms) as url:
            creds = Credentials(host=url, token=TOKEN)

            async def read() -> int:
                async with Client(creds) as client:
                    await engine.read_live(
                        client, desired=docs, owner=OWNER, parallelism=parallelism
                    )
                    return client.requests

            async def read_and_check() -> int:
                async with Client(creds) as client:
                    result, _ = await engine.compute_plan(
                        client, pf_docs, owner=PREFLIGHT_OWNER, parallelism=parallelism
                    )
                    assert len(result.actions) == n // 10
                    assert not result.problems
                    assert len(result.pins) == n
                    return client.requests

            walls, pf_walls = [], []
            for _ in range(repeats):  # alternating, so both meet the same machine load
                started = time.perf_counter()
                requests = asyncio.run(read())
                walls.append(time.perf_counter() - started)
                started = time.perf_counter()
                pf_requests = asyncio.run(read_and_check())
                pf_walls.append(time.perf_counter() - started)
    return {
        "read_s": statistics.median(walls),
        "read_best_s": min(walls),
        "bound_s": requests * latency_ms / 1000 / parallelism,
        "requests": requests,
        "pf_s": statistics.median(pf_walls),
        "pf_best_s": min(pf_walls),
        "pf_bound_s": pf_requests * latency_ms / 1000 / parallelism,
        "pf_requests": pf_requests,
    }


def report(r: dict[str, float], *, n: int, repeats: int) -> str:
    return "\n".join(
        [
            f"endpoints={n}, median (best) of {repeats}",
            f"live reads alone  {r['requests']:.0f} requests, bound {r['bound_s']:.2f} s: "
            f"{r['read_s'] / r['bound_s']:.2f}x ({r['read_best_s'] / r['bound_s']:.2f}x)",
            f"with pre-flight   {r['pf_requests']:.0f} requests, "
            f"bound {r['pf_bound_s']:.2f} s: "
            f"{r['pf_s'] / r['pf_bound_s']:.2f}x ({r['pf_best_s'] / r['pf_bound_s']:.2f}x)",
        ]
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = run(args.endpoints, args.latency_ms, args.parallelism, args.repeats)
    print(report(results, n=args.endpoints, repeats=args.repeats))


if __name__ == "__main__":
    cli()
