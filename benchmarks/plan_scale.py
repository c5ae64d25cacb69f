"""Plan at scale: N endpoints on a served emulator with injected latency, before and after.

For each size, in one run against one emulator process on 127.0.0.1:
  1. `servingops plan` end to end, each run in a fresh process as a user runs it (files loaded
     and validated, live state read, normalized, planned, rendered), for this tree and, with
     --before, for an older tree's `src` (alternating, so both meet the same machine load);
  2. the live-read phase alone (engine.read_live) and its request count: the read bound is
     requests x latency / parallelism;
  3. loading and validating the files alone, and the pure planning CPU per endpoint;
  4. how the reads overlap the loading: files first then reads, loading in a worker thread,
     and loading interleaved on the event loop (what plan does);
  5. peak memory of a plan (tracemalloc peak, and the process's max RSS);
  6. optionally the same reads one by one with the official databricks-sdk.

    git worktree add /tmp/servingops-base <commit>   # or: git archive <commit> src | tar -x -C DIR
    .venv/bin/python -m benchmarks.plan_scale --endpoints 400 1000 --before /tmp/servingops-base/src
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

OWNER = "bench/plan"
TOKEN = "bench-token"
REPO = Path(__file__).resolve().parents[1]


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


# --------------------------------------------------------------------------------------------
# One `servingops plan` in a fresh process (this tree's code or --before's, by PYTHONPATH).
# Only servingops.cli.main and Settings are used, so an older tree runs the same code path.


def child(root: Path, url: str, parallelism: int, n: int, *, trace: bool) -> None:
    started = time.perf_counter()
    from servingops.cli import Settings, main

    imported = time.perf_counter() - started
    if trace:
        import tracemalloc

        tracemalloc.start()
    env = {"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": TOKEN}
    settings = Settings(cwd=root, env=env, home=root, color=False, interactive=False)
    sink = io.StringIO()
    cpu = time.process_time()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        code = main(["plan", "--parallelism", str(parallelism)], settings=settings)
        wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if code != 0 or f"Plan: 0 to add, {n // 10} to change, 0 to destroy." not in sink.getvalue():
        raise SystemExit(f"unexpected plan (exit {code}):\n{sink.getvalue()[-2000:]}")
    out: dict[str, Any] = {"wall": wall, "cpu": cpu, "import": imported}
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    import servingops

    out["code"] = str(Path(servingops.__file__).parents[1])
    print(json.dumps(out))


def run_child(
    src: Path, root: Path, url: str, parallelism: int, n: int, *, trace: bool = False
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as users run
    env["PYTHONPATH"] = str(src)
    argv = [sys.executable, "-m", "benchmarks.plan_scale", "--child", str(root), url]
    argv += [str(parallelism), str(n), "--trace" if trace else "--no-trace"]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    process_wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["code"]).resolve() != src.resolve():
        raise RuntimeError(f"child ran {result['code']}, not {src}")
    result["process_wall"] = process_wall
    return result


# --------------------------------------------------------------------------------------------
# In-process measurements of this tree's stages.


def measure_here(
    root: Path, url: str, n: int, latency_ms: float, parallelism: int, repeats: int
) -> dict[str, Any]:
    from servingops import desired, engine, normalize, planner
    from servingops.auth import Credentials
    from servingops.cli import Settings
    from servingops.cli.common import load_inputs_interleaved
    from servingops.client import Client
    from servingops.project import load_project

    project = load_project(root)
    creds = Credentials(host=url, token=TOKEN)
    loads = []
    for _ in range(repeats):
        started = time.perf_counter()
        docs, _ = desired.load_desired(project, None)
        loads.append(time.perf_counter() - started)

    async def read(mode: str) -> tuple[float, engine.LiveState, int]:
        async with Client(creds, max_connections=parallelism) as client:
            started = time.perf_counter()
            if mode == "reads alone":
                state = await engine.read_live(
                    client, desired=docs, owner=OWNER, parallelism=parallelism
                )
                return time.perf_counter() - started, state, client.requests
            if mode == "files, then reads":
                documents, _ = desired.load_desired(project, None)
                state = await engine.read_live(
                    client, desired=documents, owner=OWNER, parallelism=parallelism
                )
                return time.perf_counter() - started, state, client.requests
            reads = engine.start_reads(client, owner=OWNER, parallelism=parallelism)
            if mode == "loading in a thread":
                documents, _ = await asyncio.to_thread(desired.load_desired, project, None)
            else:  # interleaved: the CLI's own loader
                inputs = await load_inputs_interleaved(
                    Settings(cwd=root), project, None, variables={}, paths=()
                )
                documents = inputs.documents
            state = await engine.read_live(
                client, desired=documents, owner=OWNER, parallelism=parallelism, started=reads
            )
            return time.perf_counter() - started, state, client.requests

    modes = ["reads alone", "files, then reads", "loading in a thread", "interleaved (plan)"]
    asyncio.run(read("reads alone"))  # warm the emulator's caches
    walls: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            wall, live, requests = asyncio.run(read(mode))
            walls[mode].append(wall)

    cpu = time.process_time()
    have = [normalize.normalize_live(live.raw[d.name]) for d in docs]
    want = [normalize.normalize_desired(d) for d in docs]
    result = planner.plan(want, have, owner=OWNER)
    plan_cpu = time.process_time() - cpu
    assert len(result.actions) == n // 10
    return {
        "requests": requests,
        "bound": requests * latency_ms / 1000 / parallelism,
        "load": statistics.median(loads),
        "overlap": {m: statistics.median(w) for m, w in walls.items()},
        "plan_cpu_ms": plan_cpu * 1000 / n,
    }


def sdk_reads(url: str, names: list[str]) -> float:
    """Seconds per read when a script reads one endpoint after another with databricks-sdk."""
    from databricks.sdk import WorkspaceClient

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DATABRICKS_")}
    try:
        client = WorkspaceClient(host=url, token=TOKEN, auth_type="pat")
        started = time.perf_counter()
        list(client.serving_endpoints.list())
        for name in names:
            client.serving_endpoints.get(name)
        return (time.perf_counter() - started) / (len(names) + 1)
    finally:
        os.environ.update(saved)


def run(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from serving_emulator import Emulator, EmulatorConfig

    sides = {"after": REPO / "src"}
    if args.before:
        sides = {"before": Path(args.before), **sides}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "bench.db"
        with Emulator(EmulatorConfig(), db_path=db) as seeder:
            for i in range(n):
                seeder.seed_endpoint(endpoint_body(i))
        write_project(root, n)
        out: dict[str, Any] = {"endpoints": n, "load_start": os.getloadavg()[0]}
        with served(db, args.latency_ms) as url:
            for src in sides.values():  # warm: bytecode written, emulator caches filled
                run_child(src, root, url, args.parallelism, n)
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for _ in range(args.repeats):
                for side, src in sides.items():
                    runs[side].append(run_child(src, root, url, args.parallelism, n))
            for side, src in sides.items():
                traced = run_child(src, root, url, args.parallelism, n, trace=True)
                out[side] = {
                    key: statistics.median(r[key] for r in runs[side])
                    for key in ("wall", "cpu", "import", "process_wall", "maxrss_mb")
                }
                out[side]["walls"] = [r["wall"] for r in runs[side]]
                out[side]["traced_peak_mb"] = traced["traced_peak_mb"]
            out.update(measure_here(root, url, n, args.latency_ms, args.parallelism, args.repeats))
            if args.sdk_sample:
                names = [f"ep-{i:04d}" for i in range(min(n, args.sdk_sample))]
                out["sdk_s"] = sdk_reads(url, names) * (n + 1)
        out["load_end"] = os.getloadavg()[0]
    return out


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    sides = [s for s in ("before", "after") if s in results[0]]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("requests (list + GETs)", lambda r: f"{r['requests']:,}"),
        ("read bound (requests x latency / parallelism)", lambda r: f"{r['bound']:.2f} s"),
        ("live reads alone (engine.read_live)", lambda r: ratio(r, r["overlap"]["reads alone"])),
    ]
    for side in sides:
        rows.append((f"`servingops plan` end to end, {side}", per(side, "wall", ratio)))
    for side in sides:
        rows.append(
            (f"runs, {side}", per(side, "walls", lambda r, w: " ".join(f"{x:.2f}" for x in w)))
        )
    for side in sides:
        rows.append((f"process wall incl. start-up, {side}", per(side, "process_wall", seconds)))
    for side in sides:
        rows.append((f"client CPU, {side}", per(side, "cpu", seconds)))
    rows.append(
        (
            "load + validate alone (this tree)",
            lambda r: f"{r['load']:.2f} s ({r['load'] * 1000 / r['endpoints']:.2f} ms per file)",
        )
    )
    for mode in ("files, then reads", "loading in a thread", "interleaved (plan)"):
        rows.append((f"reads with loading: {mode}", overlap(mode)))
    rows.append(("planning CPU per endpoint", lambda r: f"{r['plan_cpu_ms']:.3f} ms"))
    for side in sides:
        rows.append((f"peak memory, {side} (tracemalloc peak / max RSS)", memory(side)))
    if "sdk_s" in results[0]:
        rows.append(
            (
                "databricks-sdk, one read after another (extrapolated)",
                lambda r: f"{r['sdk_s']:.1f} s ({r['sdk_s'] / r['after']['wall']:.0f}x plan)",
            )
        )
    loads = ", ".join(f"{r['load_start']:.2f} -> {r['load_end']:.2f}" for r in results)
    lines = [
        f"latency {args.latency_ms:g} ms, parallelism {args.parallelism}, medians of "
        f"{args.repeats} runs; load average {loads}",
        "",
        "| | " + " | ".join(f"{r['endpoints']:,} endpoints" for r in results) + " |",
        "| --- |" + " --- |" * len(results),
    ]
    lines += [f"| {label} | " + " | ".join(cell(r) for r in results) + " |" for label, cell in rows]
    return "\n".join(lines)  # fmt: skip


def overlap(mode: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: ratio(r, r["overlap"][mode])


def memory(side: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[side]['traced_peak_mb']:.0f} MiB / {r[side]['maxrss_mb']:.0f} MiB"


def ratio(r: dict[str, Any], wall: float) -> str:
    return f"{wall:.2f} s = **{wall / r['bound']:.2f}x**"


def seconds(_r: dict[str, Any], value: float) -> str:
    return f"{value:.2f} s"


def per(
    side: str, key: str, show: Callable[[dict[str, Any], Any], str]
) -> Callable[[dict[str, Any]], str]:
    return lambda r: show(r, r[side][key])


def cli() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        root, url, parallelism, n, trace = sys.argv[2:7]
        child(Path(root), url, int(parallelism), int(n), trace=trace == "--trace")
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=int, nargs="+", default=[400, 1000])
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="an older tree's src folder to run side by side")
    parser.add_argument(
        "--sdk-sample",
        type=int,
        default=0,
        help="time this many sequential databricks-sdk GETs (extrapolated); 0 skips them",
    )
    args = parser.parse_args()
    results = [run(n, args) for n in args.endpoints]
    print(report(results, args))


if __name__ == "__main__":
    cli()
