"""Plan at scale: N endpoints on a served emulator with injected latency, side by side.

Measures, in one run against one emulator process on 127.0.0.1:
  1. `servingops plan` end to end (load files, validate, read live, plan, render);
  2. the live-read phase alone (engine.read_live) and its request count;
  3. the pure planning CPU (normalize + planner) per endpoint;
  4. the same reads one by one with the official databricks-sdk, as a script author would;
  5. with pre-flight: engine.compute_plan for a second project of N endpoints whose files each
     follow a model alias (`entity_version: "@champion"`, one model per endpoint) and reference
     a secret, so the live reads come with N alias lookups plus the checks of the changed ones,
     all under the same bound; timed alternately with (2) so the two ratios are side by side.
and reports each against the concurrency bound (requests x latency / parallelism).

    .venv/bin/python -m benchmarks.plan_scale --endpoints 1000 --latency-ms 25 --parallelism 16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serving_emulator import Emulator, EmulatorConfig
from servingops import engine, normalize, planner
from servingops.auth import Credentials
from servingops.cli import Settings, main
from servingops.client import Client
from servingops.desired import load_desired
from servingops.project import load_project

OWNER = "bench/plan"
PREFLIGHT_OWNER = "bench/preflight"
TOKEN = "bench-token"
REPEATS = 5


def endpoint_body(i: int) -> dict[str, Any]:
    return {
        "name": f"ep-{i:04d}",
        "config": {
            "served_entities": [
                {"name": "champion", "entity_name": "main.bench.model", "entity_version": "3",
                 "workload_size": "Small", "scale_to_zero_enabled": True},
                {"name": "challenger", "entity_name": "main.bench.model", "entity_version": "4",
                 "workload_size": "Small", "scale_to_zero_enabled": True},
            ],
            "traffic_config": {"routes": [
                {"served_entity_name": "champion", "traffic_percentage": 90},
                {"served_entity_name": "challenger", "traffic_percentage": 10},
            ]},
        },
        "tags": [{"key": "team", "value": "bench"}, {"key": "servingops-owner", "value": OWNER}],
    }  # fmt: skip


def write_project(root: Path, n: int) -> None:
    (root / "servingops.yaml").write_text(f"endpoints: endpoints/\nowner: {OWNER}\n")
    folder = root / "endpoints"
    folder.mkdir()
    for i in range(n):
        # every tenth endpoint differs from live, so the plan has real work to show
        version = "5" if i % 10 == 0 else "4"
        (folder / f"ep-{i:04d}.yaml").write_text(
            f"name: ep-{i:04d}\nconfig:\n  served_entities:\n"
            "    - {name: champion, entity_name: main.bench.model, entity_version: '3',"
            " workload_size: Small, scale_to_zero_enabled: true}\n"
            "    - {name: challenger, entity_name: main.bench.model, entity_version: '"
            f"{version}', workload_size: Small, scale_to_zero_enabled: true}}\n"
            "  traffic_config:\n    routes:\n"
            "      - {served_entity_name: champion, traffic_percentage: 90}\n"
            "      - {served_entity_name: challenger, traffic_percentage: 10}\n"
            "tags: {team: bench}\n"
        )


def preflight_entity(i: int, version: str) -> dict[str, Any]:
    return {"name": "challenger", "entity_name": f"main.bench.m{i:04d}", "entity_version": version,
            "workload_size": "Small", "scale_to_zero_enabled": True,
            "environment_vars": {"TOKEN": "{{secrets/bench/token}}"}}  # fmt: skip


def preflight_body(i: int) -> dict[str, Any]:
    """A live endpoint of the pre-flight project: its challenger serves version 4 of its own
    model, which `@champion` points at (at 5 for every tenth, so those plan an update)."""
    body = endpoint_body(i)
    body["name"] = f"pf-{i:04d}"
    body["config"]["served_entities"][1] = preflight_entity(i, "4")
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(db: Path, latency_ms: float) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving_emulator", "--db", str(db), "--port", str(port),
         "--latency-ms", str(latency_ms), "--write-budget", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("emulator did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(n: int, latency_ms: float, parallelism: int, sdk_sample: int) -> dict[str, float]:
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
        out: dict[str, float] = {"endpoints": n, "latency_ms": latency_ms}
        with served(db, latency_ms) as url:
            env = {"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": TOKEN}
            settings = Settings(cwd=root, env=env, home=root, color=False, interactive=False)
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink):
                started = time.perf_counter()
                code = main(["plan", "--parallelism", str(parallelism)], settings=settings)
                out["cli_wall_s"] = time.perf_counter() - started
            assert code == 0, sink.getvalue()[-2000:]
            assert f"Plan: 0 to add, {n // 10} to change, 0 to destroy." in sink.getvalue()

            project = load_project(root)
            started = time.perf_counter()
            docs, _ = load_desired(project, None)
            out["load_validate_s"] = time.perf_counter() - started
            pf_docs, _ = load_desired(load_project(root / "preflight"), None)

            async def read() -> tuple[engine.LiveState, int]:
                creds = Credentials(host=url, token=TOKEN)
                async with Client(creds) as client:
                    state = await engine.read_live(
                        client, desired=docs, owner=OWNER, parallelism=parallelism
                    )
                    return state, client.requests

            async def read_and_check() -> int:
                creds = Credentials(host=url, token=TOKEN)
                async with Client(creds) as client:
                    result, _ = await engine.compute_plan(
                        client, pf_docs, owner=PREFLIGHT_OWNER, parallelism=parallelism
                    )
                    assert len(result.actions) == n // 10
                    assert not result.problems
                    assert len(result.pins) == n
                    return client.requests

            walls, pf_walls = [], []
            for _ in range(REPEATS):  # the machine is shared and noisy: report the median
                started = time.perf_counter()
                live, requests = asyncio.run(read())
                walls.append(time.perf_counter() - started)
                started = time.perf_counter()
                pf_requests = asyncio.run(read_and_check())
                pf_walls.append(time.perf_counter() - started)
            out["read_wall_s"] = statistics.median(walls)
            out["read_wall_min_s"] = min(walls)
            out["requests"] = requests
            out["bound_s"] = requests * latency_ms / 1000 / parallelism
            out["pf_wall_s"] = statistics.median(pf_walls)
            out["pf_wall_min_s"] = min(pf_walls)
            out["pf_requests"] = pf_requests
            out["pf_bound_s"] = pf_requests * latency_ms / 1000 / parallelism

            cpu = time.process_time()
            raws = [live.raw[d.name] for d in docs]
            have = [normalize.normalize_live(r) for r in raws]
            want = [normalize.normalize_desired(d) for d in docs]
            result = planner.plan(want, have, owner=OWNER)
            out["plan_cpu_ms_per_endpoint"] = (time.process_time() - cpu) * 1000 / n
            assert len(result.actions) == n // 10

            out.update(sdk_reads(url, [d.name for d in docs[:sdk_sample]]))
    out["sdk_sequential_s_extrapolated"] = out["sdk_per_endpoint_s"] * (n + 1)
    return out


def sdk_reads(url: str, names: list[str]) -> dict[str, float]:
    from databricks.sdk import WorkspaceClient

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DATABRICKS_")}
    try:
        client = WorkspaceClient(host=url, token=TOKEN, auth_type="pat")
        started = time.perf_counter()
        list(client.serving_endpoints.list())
        for name in names:
            client.serving_endpoints.get(name)
        elapsed = time.perf_counter() - started
    finally:
        os.environ.update(saved)
    return {"sdk_sample": len(names), "sdk_per_endpoint_s": elapsed / (len(names) + 1)}


def report(r: dict[str, float], parallelism: int) -> str:
    lines = [
        f"endpoints={r['endpoints']:.0f} latency={r['latency_ms']:.0f}ms parallelism={parallelism}",
        f"requests (list + GETs)          {r['requests']:.0f}",
        f"concurrency bound               {r['bound_s']:.2f} s",
        f"live reads (engine.read_live)   {r['read_wall_s']:.2f} s  "
        f"= {r['read_wall_s'] / r['bound_s']:.2f}x bound (median of {REPEATS}; best "
        f"{r['read_wall_min_s'] / r['bound_s']:.2f}x)",
        f"with pre-flight (compute_plan)  {r['pf_wall_s']:.2f} s  "
        f"= {r['pf_wall_s'] / r['pf_bound_s']:.2f}x its bound of {r['pf_bound_s']:.2f} s "
        f"({r['pf_requests']:.0f} requests: list, GETs, {r['endpoints']:.0f} alias lookups, "
        f"checks; best {r['pf_wall_min_s'] / r['pf_bound_s']:.2f}x)",
        f"servingops plan, end to end     {r['cli_wall_s']:.2f} s  "
        f"= {r['cli_wall_s'] / r['bound_s']:.2f}x bound",
        f"  of which load + validate      {r['load_validate_s']:.2f} s",
        f"planning CPU per endpoint       {r['plan_cpu_ms_per_endpoint']:.3f} ms",
        f"databricks-sdk one by one       {r['sdk_sequential_s_extrapolated']:.1f} s "
        f"(measured on {r['sdk_sample']:.0f} GETs, extrapolated)",
        f"speed-up of plan over the SDK   "
        f"{r['sdk_sequential_s_extrapolated'] / r['cli_wall_s']:.1f}x",
    ]
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument(
        "--sdk-sample",
        type=int,
        default=200,
        help="how many sequential SDK GETs to time (the rest is extrapolated)",
    )
    args = parser.parse_args()
    results = run(args.endpoints, args.latency_ms, args.parallelism, args.sdk_sample)
    print(report(results, args.parallelism))


if __name__ == "__main__":
    cli()
