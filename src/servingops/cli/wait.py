"""`servingops wait [NAMES]`: wait until rollouts in progress settle, for `apply --no-wait`.

Without NAMES it waits for every endpoint of the project (carrying its ownership tag) whose
update is in progress; an endpoint whose last update failed fails at once with the details.
Exit 0 when each ended NOT_UPDATING and READY, 1 on a failed rollout, 4 on timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .. import engine
from ..apply_model import ApplyResult
from ..model import Action, Plan
from ..waiting import DEFAULT_TIMEOUT, ApplyRuntime
from . import EXIT_OK, Settings, cli
from .apply import (
    Ready,
    echo_result,
    exit_code,
    observer_for,
    parse_duration,
    run_apply,
)
from .common import project_option, target_option
from .live import open_target


def _timeout(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_duration(value, option="'--timeout'")


@cli.command("wait")
@click.argument("names", nargs=-1)
@project_option
@target_option
@click.option(
    "--timeout",
    default=None,
    callback=_timeout,
    metavar="DURATION",
    help="Give up after this long (default 45m); exit 4.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def wait_command(
    settings: Settings,
    names: tuple[str, ...],
    project: Path | None,
    target: str | None,
    timeout: float | None,
    fmt: str,
) -> int:
    """Wait for the project's rollouts in progress (or those of NAMES) to finish."""
    opened = open_target(settings, project=project, target=target)
    workspace = opened.workspace
    owner = opened.project.owner_for(opened.target)

    async def find() -> tuple[Action, ...]:
        async with workspace.client() as client:
            return await engine.rollouts_to_wait_for(client, owner=owner, names=names)

    waits = asyncio.run(find())
    if not waits:
        if fmt == "json":
            echo_result(ApplyResult(outcomes=()), EXIT_OK, fmt)
        else:
            whose = "the named endpoints" if names else f"this project ({owner})"
            click.echo(f"Nothing to wait for: no endpoint of {whose} has an update in progress.")
        return EXIT_OK
    runtime = settings.runtime or ApplyRuntime()
    ready = Ready(plan=Plan(actions=(), waits=waits), caller=None, workspace=workspace, owner=owner)
    result, terminated = run_apply(
        ready,
        runtime,
        observer=observer_for(settings, fmt, runtime),
        parallelism=16,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
        no_wait=False,
    )
    code = exit_code(result, terminated=terminated)
    echo_result(result, code, fmt)
    return code
