"""`servingops tour`: a guided run of the real commands on the embedded local workspace.

It copies the example project (servingops.yaml and endpoints/) into a scratch folder, then runs
validate, plan, apply, a traffic change, an out-of-band edit and drift, then the day-2 part: a
desired run state and a smoke check, an endpoint stopped out of band that drift catches,
status, an apply that starts it and runs the smoke check, and a query; then two traffic
rollouts with health gates, one that passes and one that is rolled back because its new
version fails. Each command is printed before its output. Nothing outside the scratch folder
is touched and no account is needed.

The rollouts run on a second emulated workspace (`.servingops/canary.db`) whose clock the tour
moves forward while apply pauses, sending queries meanwhile (the emulator answers only those
someone sends), so minutes of pauses and metrics take a moment.
"""

from __future__ import annotations

import asyncio
import functools
import shlex
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
import httpx

from ..errors import ReconcilerError
from ..waiting import ApplyRuntime
from ..workspace import open_local
from . import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Settings, cli, main

if TYPE_CHECKING:
    from serving_emulator import Emulator, ManualClock

SPLIT_BEFORE = ("traffic_percentage: 90}", "traffic_percentage: 10}")
SPLIT_AFTER = ("traffic_percentage: 50}", "traffic_percentage: 50}")
ROW = '{"dataframe_split": {"columns": ["amount", "merchant"], "data": [[12.5, "grocer"]]}}'
DAY2 = f"""\
state: running                     # stopped outside git = drift; apply starts it again
smoke:                             # apply queries the endpoint once the rollout is READY
  - name: scores-one-row
    request: {ROW}
    expect: {{status: 200, max_latency_ms: 5000}}
"""


@cli.command("tour")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".servingops/tour"),
    show_default=True,
    help="Scratch folder for the tour's copy of the project (replaced on each run).",
)
@click.pass_obj
def tour_command(settings: Settings, folder: Path) -> int:
    """Walk through plan, apply, a traffic change and drift on a local emulated workspace."""
    source = settings.cwd
    if not (source / "servingops.yaml").is_file() or not (source / "endpoints").is_dir():
        raise ReconcilerError(
            f"no example project in {source} (servingops.yaml and endpoints/); run the tour "
            "from the servingops repository, or run `servingops init` first"
        )
    root = folder if folder.is_absolute() else source / folder
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copy(source / "servingops.yaml", root / "servingops.yaml")
    shutil.copytree(source / "endpoints", root / "endpoints")
    step = functools.partial(_step, replace(settings, cwd=root))

    click.echo(f"Tour of servingops on the embedded local workspace, in {root}")
    step("Validate the example endpoint files", ["validate"], [EXIT_OK])
    step("Plan against an empty local workspace", ["plan"], [EXIT_OK])
    step("Apply: create the endpoints and wait for them to be ready",
         ["apply", "--auto-approve"], [EXIT_OK])  # fmt: skip
    step("Plan again: nothing to do", ["plan", "--detailed-exitcode"], [EXIT_OK])

    fraud = root / "endpoints" / "fraud-scorer.yaml"
    text = fraud.read_text()
    if not all(old in text for old in SPLIT_BEFORE):
        raise ReconcilerError(f"{fraud} no longer has the 90/10 split the tour edits")
    for old, new in zip(SPLIT_BEFORE, SPLIT_AFTER, strict=True):
        text = text.replace(old, new, 1)
    fraud.write_text(text)
    click.secho("\n== Shift fraud-scorer's traffic from 90/10 to 50/50 in git", bold=True)
    click.echo("(edited endpoints/fraud-scorer.yaml: traffic_percentage 90 -> 50, 10 -> 50)")
    step("Review the change", ["plan", "--detailed-exitcode"], [EXIT_CHANGES])
    step("Apply it and watch the rolling update", ["apply", "--auto-approve"], [EXIT_OK])

    click.secho("\n== Someone changes a tag in the workspace UI, outside git", bold=True)
    asyncio.run(_edit_out_of_band(root))
    click.echo('(tag "team" on fraud-scorer set to "someone-else")')
    step("Scheduled drift detection finds it (exit 2)", ["drift"], [EXIT_CHANGES])
    step("Apply puts git's version back", ["apply", "--auto-approve"], [EXIT_OK])
    step("In sync again (exit 0)", ["drift"], [EXIT_OK])

    fraud.write_text(fraud.read_text() + DAY2)
    click.secho("\n== Declare fraud-scorer's run state and a smoke check in git", bold=True)
    click.echo("(added to endpoints/fraud-scorer.yaml: state: running, and smoke: scores-one-row)")
    click.secho("\n== Someone stops fraud-scorer in the workspace, outside git", bold=True)
    asyncio.run(_stop_out_of_band(root))
    click.echo("(POST /api/2.0/serving-endpoints/fraud-scorer/config:stop)")
    step("Drift sees it stopped while git says running (exit 2)", ["drift"], [EXIT_CHANGES])
    step("Status shows what is serving", ["status", "fraud-scorer"], [EXIT_OK])
    step("Apply starts it and runs its smoke check once it is READY",
         ["apply", "--auto-approve"], [EXIT_OK])  # fmt: skip
    step("Query it yourself", ["query", "fraud-scorer", "--data", ROW], [EXIT_OK])
    _canaries(root, settings)

    click.secho("\nTour complete.", bold=True)
    click.echo(
        f"The project copy is in {folder}; its workspace state is in "
        f"{folder}/.servingops/local.db. Try `servingops plan --format markdown` there, or "
        "`servingops export --all` to turn live endpoints back into YAML, or "
        "`servingops logs fraud-scorer champion` for a served entity's logs."
    )
    return EXIT_OK


def _step(settings: Settings, title: str, argv: Sequence[str], expect: Sequence[int]) -> None:
    """Print the step's title and command line, run it, and stop the tour on a surprise."""
    click.secho(f"\n== {title}", bold=True)
    click.secho(f"$ servingops {shlex.join(argv)}", fg="cyan")
    code = main(list(argv), settings=settings)
    if code not in expect:
        raise ReconcilerError(f"tour step `servingops {' '.join(argv)}` exited {code}")


CANARY = "fraud-canary"
QUERIES_PER_MINUTE = 40
_CANARY_FILE = """\
name: fraud-canary
config:
  served_entities:
{entities}
  traffic_config:
    routes:
{routes}
{rollout}"""
_ENTITY = (
    '    - {{name: {name}, entity_name: main.risk.fraud, entity_version: "{version}", '
    "workload_size: Small}}"
)
_ROUTE = "      - {{served_entity_name: {name}, traffic_percentage: {share}}}"
_ROLLOUT = """\
rollout:
  entity: {entity}
  steps: {steps}
  pause: 1m
  gates: {{max_error_rate: 0.02, max_p99_ms: 500, min_requests: 10}}
"""


def _canaries(root: Path, settings: Settings) -> None:
    """Two rollouts on a workspace with a simulated clock: one passes, one is rolled back."""
    from serving_emulator import Emulator, EmulatorConfig, ManualClock

    project = root / "canary"
    (project / "endpoints").mkdir(parents=True)
    (project / "servingops.yaml").write_text(
        "endpoints: endpoints/\nowner: ml-platform/canary\n", encoding="utf-8"
    )
    db = root / ".servingops" / "canary.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(
        EmulatorConfig(update_seconds=20.0), db_path=str(db), clock=ManualClock(time.time())
    )
    traffic = _Traffic(emulator)
    local = replace(
        settings,
        cwd=project,
        transport=httpx.ASGITransport(app=emulator.app),
        runtime=traffic.runtime(),
        wall_clock=emulator.clock.now,
    )
    step = functools.partial(_step, local)

    def write(entities: dict[str, str], split: dict[str, int], rollout: str = "") -> None:
        text = _CANARY_FILE.format(
            entities="\n".join(_ENTITY.format(name=n, version=v) for n, v in entities.items()),
            routes="\n".join(_ROUTE.format(name=n, share=split[n]) for n in entities),
            rollout=rollout,
        )
        (project / "endpoints" / f"{CANARY}.yaml").write_text(text, encoding="utf-8")

    try:
        click.secho("\n== Progressive delivery: traffic rollouts with health gates", bold=True)
        click.echo(
            f"(in {project}, on a second emulated workspace whose clock the tour moves forward "
            f"while apply pauses, sending {QUERIES_PER_MINUTE} queries a minute to "
            f"{CANARY}: minutes of pauses take a moment)"
        )
        write({"champion": "7"}, {"champion": 100})
        step(f"Create {CANARY}, serving version 7", ["apply", "--auto-approve"], [EXIT_OK])
        write(
            {"champion": "7", "challenger": "8"},
            {"champion": 0, "challenger": 100},
            _ROLLOUT.format(entity="challenger", steps="[25, 50, 100]"),
        )
        click.echo("\n(edited: challenger serves version 8 and gets 100%, through a rollout block)")
        step("The plan shows the schedule, the gates and the worst case", ["plan"], [EXIT_OK])
        step("A canary that passes its gates at every step", ["apply", "--auto-approve"],
             [EXIT_OK])  # fmt: skip

        emulator.set_entity_fault("fraud@9", error_rate=0.25)
        write(
            {"challenger": "8", "candidate": "9"},
            {"challenger": 0, "candidate": 100},
            _ROLLOUT.format(entity="candidate", steps="[20, 100]"),
        )
        click.echo(
            "\n(edited: candidate serves version 9, which the emulator now makes fail 1 query "
            "in 4; champion, at 0%, leaves the file)"
        )
        step("A canary that fails its error-rate gate is rolled back (exit 1)",
             ["apply", "--auto-approve"], [EXIT_ERROR])  # fmt: skip
        step("The plan holds it at the split from before until the file changes", ["plan"],
             [EXIT_OK])  # fmt: skip
    finally:
        emulator.close()


class _Traffic:
    """Sends queries to the canary endpoint while apply sleeps, moving the clock instead."""

    def __init__(self, emulator: Emulator[ManualClock]) -> None:
        self._emulator = emulator
        self._owed = 0.0

    def runtime(self) -> ApplyRuntime:
        clock = self._emulator.clock.now
        return ApplyRuntime(sleep=self.sleep, clock=clock, wall_clock=clock, progress_every=300.0)

    async def sleep(self, seconds: float) -> None:
        emulator = self._emulator
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator.app),
            base_url="http://canary.local",
            headers={"Authorization": "Bearer tour"},
        ) as client:
            remaining = max(0.0, seconds)
            while remaining > 0:
                piece = min(remaining, 10.0)
                self._owed += QUERIES_PER_MINUTE * piece / 60
                for _ in range(int(self._owed)):
                    await client.post(
                        f"/serving-endpoints/{CANARY}/invocations", json={"inputs": [[1.0]]}
                    )
                self._owed -= int(self._owed)
                emulator.advance(piece)
                remaining -= piece


async def _edit_out_of_band(root: Path) -> None:
    async with open_local(root).client() as client:
        await client.patch_tags(
            "fraud-scorer", add=[{"key": "team", "value": "someone-else"}], delete=[]
        )


async def _stop_out_of_band(root: Path) -> None:
    async with open_local(root).client() as client:
        await client.stop_endpoint("fraud-scorer")
