"""The planner's field diff against deepdiff, on the plan benchmark's canonical bodies.

Builds the N (live, desired) canonical pairs that `servingops plan` compares in
benchmarks/plan_scale.py (one in ten differs), then times, in one process, CPU per endpoint of
  - planner.diff_bodies (what the planner runs), and
  - deepdiff.DeepDiff(before, after, view="tree", threshold_to_diff_deeper=0) turned into the
    same (path, before, after) changes, as the original design card sketched it;
checks both find exactly the same changes, and measures each one's import time in fresh
processes (python -X importtime, bytecode cached). deepdiff is not a dependency: install it
into the virtual environment for this measurement only (`.venv/bin/pip install deepdiff`).

    .venv/bin/python -m benchmarks.diff_cost --endpoints 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from serving_emulator import Emulator, EmulatorConfig
from servingops import normalize, planner
from servingops.auth import Credentials
from servingops.client import Client
from servingops.desired import load_desired
from servingops.model import ABSENT, Body
from servingops.project import load_project

from .plan_scale import endpoint_body, write_project

Change = tuple[tuple[Any, ...], Any, Any]


def canonical_pairs(n: int) -> list[tuple[Body, Body]]:
    """(live body, desired body after adopting server-chosen values), as planner._compare
    diffs them, for the plan benchmark's project and workspace."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, n)
        documents, _ = load_desired(load_project(root), None)
        with Emulator(EmulatorConfig()) as emulator:
            for i in range(n):
                emulator.seed_endpoint(endpoint_body(i))

            async def read() -> list[dict[str, Any]]:
                creds = Credentials(host="http://emulator.local", token="t")
                transport = httpx.ASGITransport(app=emulator.app)
                async with Client(creds, transport=transport) as client:
                    found = [await client.get_endpoint(d.name) for d in documents]
                return [raw for raw in found if raw is not None]

            raws = asyncio.run(read())
    pairs = []
    for document, raw in zip(documents, raws, strict=True):
        have = normalize.normalize_live(raw)
        want = normalize.resolve_server_chosen(normalize.normalize_desired(document), have)
        pairs.append((have.body, want.body))
    return pairs


def with_planner(before: Body, after: Body) -> list[Change]:
    return [(c.path, c.before, c.after) for c in planner.diff_bodies(before, after)]


def with_deepdiff(before: Body, after: Body) -> list[Change]:
    """The same changes from deepdiff's tree view: a key present on one side only is reported
    with deepdiff's `not present` marker, mapped to the planner's ABSENT."""
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    tree = DeepDiff(before, after, view="tree", threshold_to_diff_deeper=0)
    changes = []
    for levels in tree.values():
        for level in levels:
            t1 = ABSENT if level.t1 is notpresent else level.t1
            t2 = ABSENT if level.t2 is notpresent else level.t2
            changes.append((tuple(level.path(output_format="list")), t1, t2))
    return sorted(changes, key=lambda c: tuple(str(p) for p in c[0]))


def cpu_ms_per_endpoint(
    diff: Callable[[Body, Body], list[Change]], pairs: Sequence[tuple[Body, Body]], repeats: int
) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        for before, after in pairs:
            diff(before, after)
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000 / len(pairs)


def import_ms(module: str, repeats: int) -> float:
    """Cumulative import time of `module` in a fresh interpreter (median), bytecode cached."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    subprocess.run(argv, env=env, capture_output=True, check=True)  # write the bytecode
    times = []
    for _ in range(repeats):
        err = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stderr
        for line in err.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] == module:
                times.append(int(parts[1]) / 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pairs = canonical_pairs(args.endpoints)
    ours = [with_planner(b, a) for b, a in pairs]
    theirs = [with_deepdiff(b, a) for b, a in pairs]  # also imports deepdiff before timing
    assert ours == theirs, "the two diffs disagree"
    changed = sum(1 for c in ours if c)
    # Interleaved, so both meet the same machine load.
    planner_ms, deepdiff_ms = [], []
    for _ in range(args.repeats):
        planner_ms.append(cpu_ms_per_endpoint(with_planner, pairs, 1))
        deepdiff_ms.append(cpu_ms_per_endpoint(with_deepdiff, pairs, 1))
    ours_ms, theirs_ms = statistics.median(planner_ms), statistics.median(deepdiff_ms)
    planner_import = import_ms("servingops.planner", args.repeats)
    deepdiff_import = import_ms("deepdiff", args.repeats)
    from importlib.metadata import version

    print(
        f"{args.endpoints} canonical pairs ({changed} differ), medians of {args.repeats}; "
        f"deepdiff {version('deepdiff')}; load average {os.getloadavg()[0]:.2f}\n\n"
        "| | CPU per endpoint | import |\n| --- | --- | --- |\n"
        f"| planner.diff_bodies | {ours_ms:.4f} ms | {planner_import:.1f} ms "
        "(servingops.planner with model and normalize) |\n"
        f"| deepdiff.DeepDiff (tree view, same changes) | {theirs_ms:.4f} ms "
        f"= {theirs_ms / ours_ms:.1f}x | {deepdiff_import:.1f} ms |"
    )


if __name__ == "__main__":
    main()
