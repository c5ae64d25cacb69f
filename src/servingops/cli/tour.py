"""`servingops tour`: a guided run of the real commands on the embedded local workspace.

It copies the example project (servingops.yaml and endpoints/) into a scratch folder, then runs
validate, plan, apply, a traffic change, an out-of-band edit and drift, then the day-2 part: a
desired run state and a smoke check, an endpoint stopped out of band that drift catches,
status, an apply that starts it and runs the smoke check, and a query. Each command is printed
before its output. Nothing outside the scratch folder is touched and no account is needed.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from ..errors import ReconcilerError
from ..workspace import open_local
from . import EXIT_CHANGES, EXIT_OK, Settings, cli, main

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
    local = replace(settings, cwd=root)

    def step(title: str, argv: Sequence[str], expect: Sequence[int]) -> None:
        click.secho(f"\n== {title}", bold=True)
        click.secho(f"$ servingops {shlex.join(argv)}", fg="cyan")
        code = main(list(argv), settings=local)
        if code not in expect:
            raise ReconcilerError(f"tour step `servingops {' '.join(argv)}` exited {code}")

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

    click.secho("\nTour complete.", bold=True)
    click.echo(
        f"The project copy is in {folder}; its workspace state is in "
        f"{folder}/.servingops/local.db. Try `servingops plan --format markdown` there, or "
        "`servingops export --all` to turn live endpoints back into YAML, or "
        "`servingops logs fraud-scorer champion` for a served entity's logs."
    )
    return EXIT_OK


async def _edit_out_of_band(root: Path) -> None:
    async with open_local(root).client() as client:
        await client.patch_tags(
            "fraud-scorer", add=[{"key": "team", "value": "someone-else"}], delete=[]
        )


async def _stop_out_of_band(root: Path) -> None:
    async with open_local(root).client() as client:
        await client.stop_endpoint("fraud-scorer")
