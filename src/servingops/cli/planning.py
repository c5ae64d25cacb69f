"""`servingops plan` and `servingops drift`: read-only comparisons of files with the workspace.

Both open the target's workspace, read live state concurrently (beginning while the files
still load and validate) and render the Plan. `drift` is read-only by construction: it never
builds a client that writes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from .. import __version__, engine, planfile
from ..engine import LiveState
from ..errors import ReconcilerError, UsageError
from ..model import Plan
from ..render import json_view, markdown, text
from ..workspace import Workspace
from . import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Settings, cli
from .common import (
    Inputs,
    input_options,
    load_inputs,
    load_inputs_interleaved,
    open_workspace,
    parallelism_option,
    select_inputs,
)

FORMATS = click.Choice(["text", "json", "markdown"])


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class PlanRun:
    """A computed plan with what it was computed from.

    No generated repr: asyncio.run formats its main task (and so the task's result) when it
    restores the SIGINT handler, and a full repr of 1,000 planned endpoints took 0.12 s.
    """

    inputs: Inputs
    workspace: Workspace
    plan: Plan
    live: LiveState
    target_name: str


def run_plan(
    settings: Settings,
    *,
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    paths: Sequence[Path],
    prune: bool,
    allow_replace: bool,
    parallelism: int,
) -> PlanRun:
    """Load, read live, plan. Warnings from the files go to stderr.

    The reads that do not depend on the files (the listing, then every endpoint carrying the
    project's owner tag) start first and run while the files load and validate; the files'
    problems still come first: invalid files end the command with their diagnostics whatever
    the reads did, and only then does a failed read speak.
    """
    if prune and paths:
        raise UsageError(
            "--prune cannot be combined with a subset of files (PATHS or --path): a subset "
            "cannot say which owned endpoints are no longer wanted; run it on the whole project"
        )
    loaded, selected = select_inputs(settings, project=project, target=target)
    try:
        workspace = open_workspace(settings, loaded, selected)
    except ReconcilerError:
        # As before the reads overlapped the files: invalid files are reported first.
        load_inputs(settings, project=project, target=target, variables=variables, paths=paths)
        raise
    owner = loaded.owner_for(selected)
    target_name = selected.name if selected else "default"

    async def compute() -> PlanRun:
        async with workspace.client(max_connections=parallelism) as client:
            started = engine.start_reads(client, owner=owner, parallelism=parallelism)
            try:
                inputs = await load_inputs_interleaved(
                    settings, loaded, selected, variables=variables, paths=paths
                )
            except BaseException:
                await started.abandon()
                raise
            echo_warnings(inputs)
            if workspace.notice:
                click.echo(workspace.notice, err=True)
            result, live = await engine.compute_plan(
                client,
                inputs.documents,
                owner=owner,
                prune=prune,
                allow_replace=allow_replace,
                target=target_name,
                parallelism=parallelism,
                clock=settings.wall_clock,
                started=started,
            )
            return PlanRun(
                inputs=inputs, workspace=workspace, plan=result, live=live, target_name=target_name
            )

    return asyncio.run(compute())


def echo_warnings(inputs: Inputs) -> None:
    from ..render import diagnostics

    if inputs.warnings:
        click.echo(diagnostics.render_text(inputs.warnings), err=True)


@cli.command("plan")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@input_options
@click.option("--prune", is_flag=True, help="Plan deletion of owned endpoints no longer in files.")
@click.option(
    "--allow-replace",
    is_flag=True,
    help="Allow delete + create where a change has no in-place path (recorded in --out).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `servingops apply FILE` (no secrets are written).",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@parallelism_option(default=16, help="How many API reads run at once.")
@click.pass_obj
def plan_command(
    settings: Settings,
    paths: tuple[Path, ...],
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    prune: bool,
    allow_replace: bool,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    parallelism: int,
) -> int:
    """Show what apply would change in the workspace."""
    run = run_plan(
        settings,
        project=project,
        target=target,
        variables=variables,
        paths=paths,
        prune=prune,
        allow_replace=allow_replace,
        parallelism=parallelism,
    )
    result = run.plan
    click.echo(render(run, fmt, settings, drift=False))
    if not result.applyable:
        click.echo("error: the plan cannot be applied; fix the problems listed above", err=True)
        return EXIT_ERROR
    if out is not None:
        path = out if out.is_absolute() else settings.cwd / out
        path.write_text(
            planfile.dump(
                result,
                run.inputs.documents,
                run.live.endpoints,
                workspace=run.workspace.label,
                salt=secrets.token_bytes(16),
            )
        )
        click.echo(
            f"Saved the plan to {out}. Apply exactly it with: servingops apply {out}", err=True
        )
    if detailed_exitcode and not result.is_empty:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command("drift")
@input_options
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@parallelism_option(default=16, help="How many API reads run at once.")
@click.pass_obj
def drift_command(
    settings: Settings,
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    fmt: str,
    parallelism: int,
) -> int:
    """Report out-of-band changes. Exit 0 in sync, 2 drift found, 1 error."""
    run = run_plan(
        settings,
        project=project,
        target=target,
        variables=variables,
        paths=(),
        prune=False,
        allow_replace=True,  # drift reports what differs; the policy only matters to apply
        parallelism=parallelism,
    )
    result = run.plan
    click.echo(render(run, fmt, settings, drift=True))
    if not result.applyable:
        return EXIT_ERROR
    return EXIT_CHANGES if has_drift(result) else EXIT_OK


def render(run: PlanRun, fmt: str, settings: Settings, *, drift: bool) -> str:
    """The plan, or the drift report, in the chosen format."""
    label = run.workspace.label
    match fmt, drift:
        case "json", False:
            return json_view.render_plan(run.plan, tool_version=__version__, workspace=label)
        case "json", True:
            return json_view.render_drift_json(run.plan, tool_version=__version__, workspace=label)
        case "markdown", False:
            return markdown.render_plan(run.plan, target=run.target_name)
        case "markdown", True:
            return markdown.render_drift(run.plan, target=run.target_name)
        case _, False:
            return text.render_plan(run.plan, color=settings.use_color())
        case _:
            return text.render_drift(run.plan, color=settings.use_color())


def has_drift(plan: Plan) -> bool:
    """Drift: a desired endpoint differs or is missing, an owned one is no longer in files, or
    a configured one's last update failed. An update still rolling out is not drift."""
    return text.drift_count(plan) > 0
