"""`servingops apply [PLANFILE]`: change the workspace to match the files, or a saved plan.

Without PLANFILE it plans, shows the plan and asks for `yes` on a terminal (without one it
refuses unless --auto-approve). With PLANFILE it re-reads live state and applies exactly that
plan, or changes nothing and exits 3 when any endpoint moved since it was saved.

Test seam: `Settings.options[RUNTIME_OPTION]` may hold an `ApplyRuntime`, which supplies the
sleep and clocks of the applier's waits, write scheduler and client retries, and the write
budget. End-to-end tests pass one whose `sleep` advances the emulator's ManualClock, so apply
waits out 10-minute rollouts instantly; everything else uses the real clock.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from .. import applier, engine, planfile
from ..apply_model import ApplyResult, Observer, Status
from ..client import RetryPolicy
from ..engine import LiveState
from ..errors import ReconcilerError, UsageError
from ..model import Plan
from ..project import load_project, select_target
from ..render import progress, text
from ..waiting import (
    DEFAULT_BUDGET_CALLS,
    DEFAULT_BUDGET_SECONDS,
    DEFAULT_TIMEOUT,
    Clock,
    Sleep,
    WaitPolicy,
    WriteScheduler,
)
from ..workspace import Workspace, resolve_workspace
from . import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    Settings,
    cli,
)
from .common import input_options, parallelism_option
from .planning import run_plan

RUNTIME_OPTION = "apply.runtime"


@dataclass(frozen=True, kw_only=True)
class ApplyRuntime:
    """Time and pacing for one apply (see the module docstring for the test seam)."""

    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    wall_clock: Clock = time.time
    budget_calls: int = DEFAULT_BUDGET_CALLS
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    progress_every: float = 30.0


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(value: str) -> float:
    """`45m`, `90s`, `1h30m`, `120` (seconds) -> seconds; BadParameter otherwise."""
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None or not any(match.groups()):
        raise click.BadParameter(
            f"expected a duration like 45m, 90s or 1h30m, got {value!r}",
            param_hint="'--wait-timeout'",
        )
    hours, minutes, seconds = match.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    if total <= 0:
        raise click.BadParameter("the wait timeout must be positive", param_hint="'--wait-timeout'")
    return total


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float:
    return DEFAULT_TIMEOUT if value is None else parse_duration(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ready:
    """A plan that may be applied, with where and as whom."""

    plan: Plan
    live: LiveState
    workspace: Workspace
    owner: str


@cli.command("apply")
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Desired-state file or folder (default: the project's endpoints). Repeatable.",
)
@input_options
@click.option("--prune", is_flag=True, help="Delete owned endpoints no longer in the files.")
@click.option("--allow-replace", is_flag=True, help="Allow delete + create where required.")
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@parallelism_option(default=8, help="How many endpoints are changed at once.")
@click.option(
    "--wait-timeout",
    "wait_timeout",
    default=None,
    callback=_duration,
    metavar="DURATION",
    help="Give up waiting for one endpoint after this long (default 45m); nothing is deleted.",
)
@click.option("--no-wait", is_flag=True, help="Start the updates and do not wait for them.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def apply_command(
    settings: Settings,
    planfile: Path | None,
    paths: tuple[Path, ...],
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    prune: bool,
    allow_replace: bool,
    auto_approve: bool,
    parallelism: int,
    wait_timeout: float,
    no_wait: bool,
    fmt: str,
) -> int:
    """Change the workspace to match the files (or exactly a saved PLANFILE)."""
    ready: _Ready | None
    if planfile is not None:
        if paths or variables or prune:
            raise UsageError(
                "a saved plan already fixes the files, variables and --prune; "
                "pass them to `servingops plan --out` instead"
            )
        ready = _from_saved_plan(settings, planfile, project=project, target=target)
    else:
        ready = _from_files(
            settings,
            paths=paths,
            project=project,
            target=target,
            variables=variables,
            prune=prune,
            parallelism=parallelism,
            show=fmt == "text",
        )
        if ready is None:
            return EXIT_OK
        if not auto_approve and not _confirmed(settings):
            return EXIT_ERROR
    runtime: ApplyRuntime = settings.options.get(RUNTIME_OPTION) or ApplyRuntime()
    observer = _observer(settings, fmt, runtime)
    result = asyncio.run(
        _run(
            ready,
            runtime,
            observer=observer,
            parallelism=parallelism,
            timeout=wait_timeout,
            allow_replace=allow_replace,
            no_wait=no_wait,
        )
    )
    code = exit_code(result)
    if fmt == "json":
        click.echo(progress.json_summary(result, exit_code=code))
    else:
        _echo_stats(result)
        click.echo("")
        click.echo(progress.render_apply_result(result))
    return code


def exit_code(result: ApplyResult) -> int:
    """130 interrupted, 1 any failure, 4 any wait timed out, else 0."""
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.having(Status.FAILED):
        return EXIT_ERROR
    if result.having(Status.TIMED_OUT):
        return EXIT_TIMEOUT
    return EXIT_OK


def _from_files(
    settings: Settings,
    *,
    paths: tuple[Path, ...],
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    prune: bool,
    parallelism: int,
    show: bool,
) -> _Ready | None:
    run = run_plan(
        settings,
        project=project,
        target=target,
        variables=variables,
        paths=paths,
        prune=prune,
        parallelism=max(parallelism, 16),
    )
    if show or not run.plan.applyable:
        click.echo(text.render_plan(run.plan, color=settings.use_color()))
    if not run.plan.applyable:
        raise ReconcilerError("the plan cannot be applied; fix the problems listed above")
    if run.plan.is_empty:
        return None
    owner = run.inputs.project.owner_for(run.inputs.target)
    return _Ready(plan=run.plan, live=run.live, workspace=run.workspace, owner=owner)


def _from_saved_plan(
    settings: Settings, path: Path, *, project: Path | None, target: str | None
) -> _Ready:
    full = path if path.is_absolute() else settings.cwd / path
    try:
        content = full.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read the saved plan {path}: {e.strerror}") from None
    saved = planfile.parse(content, path=str(path))
    if target is not None and target != saved.target:
        raise UsageError(f"{path} was planned for target {saved.target!r}, not {target!r}")
    loaded = load_project(settings.cwd, project)
    named = saved.target in loaded.targets or saved.target != "default"
    chosen = select_target(loaded, saved.target if named else None)
    workspace = resolve_workspace(
        loaded, chosen, env=settings.env, home=settings.home, transport=settings.transport
    )
    if workspace.notice:
        click.echo(workspace.notice, err=True)

    async def replan() -> tuple[Plan, LiveState]:
        async with workspace.client() as client:
            return await engine.compute_plan(
                client, saved.documents, owner=saved.owner, prune=saved.prune, target=saved.target
            )

    plan, live = asyncio.run(replan())
    planfile.check_fresh(saved, plan, live.endpoints, workspace=workspace.label)
    if not plan.applyable:
        raise ReconcilerError("the saved plan cannot be applied; run plan again")
    return _Ready(plan=plan, live=live, workspace=workspace, owner=saved.owner)


def _confirmed(settings: Settings) -> bool:
    if not settings.is_interactive():
        click.echo(
            "error: refusing to apply without a terminal to confirm; pass --auto-approve, or "
            "apply a saved plan (servingops plan --out FILE, then servingops apply FILE)",
            err=True,
        )
        return False
    click.echo("Do you want to perform these actions? Only 'yes' will be accepted to approve.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        click.echo("Apply cancelled; nothing was changed.", err=True)
        return False
    return True


def _observer(settings: Settings, fmt: str, runtime: ApplyRuntime) -> Observer:
    if fmt == "json":
        return progress.JsonProgress(sys.stdout, every=runtime.progress_every)
    if settings.is_interactive():
        return progress.TerminalProgress(sys.stdout)
    return progress.PeriodicProgress(sys.stdout, every=runtime.progress_every)


async def _run(
    ready: _Ready,
    runtime: ApplyRuntime,
    *,
    observer: Observer,
    parallelism: int,
    timeout: float,
    allow_replace: bool,
    no_wait: bool,
) -> ApplyResult:
    wait = WaitPolicy(
        timeout=timeout, sleep=runtime.sleep, clock=runtime.clock, wall_clock=runtime.wall_clock
    )
    scheduler = WriteScheduler(
        calls=runtime.budget_calls,
        window=runtime.budget_seconds,
        clock=runtime.clock,
        sleep=runtime.sleep,
    )
    retry = RetryPolicy(sleep=runtime.sleep, clock=runtime.clock)
    async with ready.workspace.client(retry=retry, max_connections=max(16, parallelism)) as client:
        return await applier.apply(
            ready.plan,
            client,
            owner=ready.owner,
            caller=ready.live.caller,
            observer=observer,
            wait=wait,
            scheduler=scheduler,
            parallelism=parallelism,
            allow_replace=allow_replace,
            no_wait=no_wait,
        )


def _echo_stats(result: ApplyResult) -> None:
    waited = [o for o in result.outcomes if o.overshoot is not None]
    if not waited:
        return
    worst = max(o.overshoot or 0.0 for o in waited)
    polls = sum(o.polls for o in waited) / len(waited)
    click.echo(
        f"Waited for {len(waited)} rollout(s): each noticed within {worst:.1f}s of finishing; "
        f"{polls:.1f} polls per endpoint."
    )
