"""Requests per second the served emulator sustains on loopback, for reads and for writes.

The emulator runs in a child process (uvicorn on a free 127.0.0.1 port, access log off) so the
load generator does not share its interpreter lock. The client is httpx.AsyncClient with a fixed
number of concurrent workers; every phase is bounded by a request count and a duration. On Linux
each phase also reports the CPU time the emulator process spent per request (from /proc), which,
unlike req/s, does not depend on how much CPU the client and other work leave to the server.

    .venv/bin/python benchmarks/emulator_throughput.py [--requests 2000] [--concurrency 4]
        [--endpoints 50] [--db memory|file] [--max-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

CHILD = """
import sys, threading
from serving_emulator import Emulator, EmulatorConfig, SystemClock, serve_in_thread
config = EmulatorConfig(update_seconds=0, write_budget_calls=0)
with Emulator(config, db_path=sys.argv[1], clock=SystemClock()) as emu, serve_in_thread(emu) as url:
    print(url, flush=True)
    # Stop when the parent closes stdin, or after the lifetime bound at the latest.
    done = threading.Event()
    def watch():
        sys.stdin.read()
        done.set()
    threading.Thread(target=watch, daemon=True).start()
    done.wait(timeout=float(sys.argv[2]))
"""

HEADERS = {"Authorization": "Bearer bench"}


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    errors: int
    server_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s * 1000 / self.requests


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process `pid` so far (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(
    label: str,
    call: Callable[[int], Awaitable[httpx.Response]],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
) -> Result:
    counter = iter(range(requests))
    done = 0
    errors = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        nonlocal done, errors
        for i in counter:
            if time.perf_counter() > deadline:
                return
            r = await call(i)
            done += 1
            if r.status_code != 200:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(label, done, time.perf_counter() - started, errors)


async def _run(url: str, args: argparse.Namespace, server_pid: int) -> list[Result]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=30) as c:
        for i in range(args.endpoints):
            body = {
                "name": f"bench-{i:04d}",
                "config": {
                    "served_entities": [
                        {
                            "entity_name": "main.bench.model",
                            "entity_version": str(i % 7 + 1),
                            "workload_size": "Small",
                            "scale_to_zero_enabled": True,
                        }
                    ]
                },
                "tags": [{"key": "team", "value": "bench"}],
            }
            (await c.post("/api/2.0/serving-endpoints", json=body)).raise_for_status()
        n = args.endpoints
        phases: list[tuple[str, Callable[[int], Awaitable[httpx.Response]], int]] = [
            (
                "GET endpoint",
                lambda i: c.get(f"/api/2.0/serving-endpoints/bench-{i % n:04d}"),
                args.requests,
            ),
            (
                "PATCH tags (write)",
                lambda i: c.patch(
                    f"/api/2.0/serving-endpoints/bench-{i % n:04d}/tags",
                    json={"add_tags": [{"key": f"k{i % 20}", "value": str(i)}]},
                ),
                args.requests,
            ),
            (
                "GET list",
                lambda i: c.get("/api/2.0/serving-endpoints"),
                max(1, args.requests // 10),
            ),
        ]
        results = []
        for label, call, count in phases:
            await _phase(
                label,
                call,
                requests=min(50, count),
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )  # warm-up
            cpu_before = process_cpu_seconds(server_pid)
            result = await _phase(
                label,
                call,
                requests=count,
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
            cpu_after = process_cpu_seconds(server_pid)
            if cpu_before is not None and cpu_after is not None:
                result.server_cpu_s = cpu_after - cpu_before
            results.append(result)
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--db", choices=("memory", "file"), default="memory")
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = ":memory:" if args.db == "memory" else str(Path(tmp) / "bench.db")
        lifetime = str(args.max_seconds * 4 + 30)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, db, lifetime],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            if not url.startswith("http://"):
                print("error: the emulator did not start", file=sys.stderr)
                return 1
            results = asyncio.run(_run(url, args, child.pid))
        finally:
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    print(
        f"emulator throughput (db={args.db}, concurrency={args.concurrency}, "
        f"{args.endpoints} endpoints)"
    )
    for r in results:
        cpu = f"{r.cpu_ms:6.2f} ms" if r.cpu_ms is not None else "     n/a"
        print(
            f"  {r.label:<20} {r.requests:>6} requests in {r.seconds:6.2f} s  "
            f"{r.rate:8.0f} req/s  server CPU {cpu}/request  errors={r.errors}"
        )
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
