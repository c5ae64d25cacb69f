"""CLI start-up: `servingops --help` and `servingops validate` on the example project.

Each command runs in a fresh process through the installed console script, with bytecode
caching on (PYTHONDONTWRITEBYTECODE removed, one warm-up run first), for this tree and, with
--before, an older tree's `src` (chosen by PYTHONPATH, alternating run by run). Prints the
median and the spread of the wall times.

    .venv/bin/python -m benchmarks.startup --runs 21 --before /tmp/servingops-base/src
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["validate"])
TARGET_S = 0.35


def timed(script: Path, args: list[str], src: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(src)
    started = time.perf_counter()
    subprocess.run([str(script), *args], cwd=REPO, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--before", help="an older tree's src folder to time side by side")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("servingops")
    sides = {"after": REPO / "src"}
    if args.before:
        sides = {"before": Path(args.before), **sides}
    walls: dict[tuple[str, str], list[float]] = {}
    for command in COMMANDS:
        for src in sides.values():
            timed(script, command, src)  # warm-up: writes the bytecode
        for _ in range(args.runs):
            for side, src in sides.items():
                walls.setdefault((" ".join(command), side), []).append(timed(script, command, src))
    print(
        f"median of {args.runs} runs (min-max), target < {TARGET_S} s; "
        f"load average {os.getloadavg()[0]:.2f}\n\n| command | "
        + " | ".join(sides)
        + " |\n| --- |"
        + " --- |" * len(sides)
    )
    for command in COMMANDS:
        cells = []
        for side in sides:
            w = walls[(" ".join(command), side)]
            cells.append(f"{statistics.median(w):.3f} s ({min(w):.3f}-{max(w):.3f})")
        print(f"| `servingops {' '.join(command)}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
