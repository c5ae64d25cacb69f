"""`servingops apply [PLANFILE]`: change the workspace to match the files, or a saved plan.

Without PLANFILE it plans, shows the plan and asks for `yes` on a terminal (without one it
refuses unless --auto-approve); a plan whose policy forbids one of its actions is refused
before the prompt. With PLANFILE it re-reads live state and applies exactly that plan, or
changes nothing and exits 3 when an endpoint it acts on moved since it was saved (or a masked
value no longer resolves to what was reviewed). Either way it also waits for the project's
rollouts still in progress, so a re-run after a timeout succeeds only once they are READY.

Time and pacing come from `Settings.runtime` (an `ApplyRuntime`, waiting.py), the real clock
unless a test passes its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .. import applier, engine, planfile, smoke
from ..apply_model import ApplyResult, Observer, Status
from ..client import RetryPolicy
from ..engine import LiveState
from ..errors import ReconcilerError, UsageError
from ..model import Plan
from ..project import load_project, select_target
from ..render import progress, text
from ..waiting import DEFAULT_TIMEOUT, ApplyRuntime, WaitPolicy, WriteScheduler
from ..workspace import Workspace
from . import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    Settings,
    cli,
)
from .common import input_options, load_inputs, open_workspace, parallelism_option
from .planning import run_plan

MAX_TIMEOUT_HOURS = 72
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(value: str, *, option: str = "'--wait-timeout'") -> float:
    """`45m`, `90s`, `1h30m`, `120` (seconds) -> seconds; BadParameter otherwise."""
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None or not any(match.groups()):
        raise click.BadParameter(
            f"expected a duration like 45m, 90s or 1h30m, got {value!r}",
            param_hint=option,
        )
    hours, minutes, seconds = match.groups()
    too_long = any(part and len(part) > 9 for part in match.groups())
    total = (
        0.0 if too_long else int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    )
    if total <= 0 and not too_long:
        raise click.BadParameter("the wait timeout must be positive", param_hint=option)
    if too_long or total > MAX_TIMEOUT_HOURS * 3600:
        raise click.BadParameter(
            f"the wait timeout must be at most {MAX_TIMEOUT_HOURS}h", param_hint=option
        )
    return total


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float:
    return DEFAULT_TIMEOUT if value is None else parse_duration(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """A plan that may be applied, with where and as whom (`caller`: the ACL principal key
    of the identity running apply, kept at CAN_MANAGE)."""

    plan: Plan
    caller: str | None
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
@click.option(
    "--skip-smoke",
    is_flag=True,
    help="Emergencies only: do not run the endpoint files' smoke checks (printed loudly).",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Traffic rollouts: advance each at most N steps and never wait out a pause (for a "
    "scheduled apply; a later run continues). Default: drive each rollout to its end.",
)
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
    skip_smoke: bool,
    max_steps: int | None,
    fmt: str,
) -> int:
    """Change the workspace to match the files (or exactly a saved PLANFILE)."""
    if planfile is not None:
        if paths or prune or allow_replace:
            raise UsageError(
                "a saved plan already fixes the files, --prune and --allow-replace; "
                "pass them to `servingops plan --out` instead"
            )
        ready = _from_saved_plan(
            settings, planfile, project=project, target=target, variables=variables
        )
    else:
        ready = _from_files(
            settings,
            paths=paths,
            project=project,
            target=target,
            variables=variables,
            prune=prune,
            allow_replace=allow_replace,
            parallelism=parallelism,
            show=fmt == "text",
        )
    runtime = settings.runtime or ApplyRuntime()
    if ready.plan.is_empty and not ready.plan.waits:
        if fmt == "json":
            click.echo(progress.json_summary(ApplyResult(outcomes=()), exit_code=EXIT_OK))
        return EXIT_OK
    if ready.plan.actions and planfile is None and not auto_approve and not _confirmed(settings):
        return EXIT_ERROR
    waits = text.waits_line(ready.plan)
    if waits and fmt == "text":
        click.echo(waits)
    skipped = _smoke_skipped(ready.plan) if skip_smoke else ""
    if skipped:
        click.echo(f"WARNING: --skip-smoke: {skipped} will NOT run.", err=True)
    result, terminated = run_apply(
        ready,
        runtime,
        observer=observer_for(settings, fmt, runtime),
        parallelism=parallelism,
        timeout=wait_timeout,
        no_wait=no_wait,
        skip_smoke=skip_smoke,
        max_steps=max_steps,
    )
    code = exit_code(result, terminated=terminated)
    echo_result(result, code, fmt)
    if skipped:
        click.echo(
            f"WARNING: --skip-smoke: {skipped} did not run; nothing checked that the "
            "endpoints answer. Run servingops query, or apply again without --skip-smoke.",
            err=True,
        )
    return code


def _smoke_skipped(plan: Plan) -> str:
    """`2 smoke checks of fraud-scorer, chat` for the --skip-smoke warning ("" when none)."""
    names = [a.name for a in plan.actions if smoke.planned(a)]
    count = sum(len(smoke.planned(a)) for a in plan.actions)
    if not count:
        return ""
    return f"{count} smoke check{'s' if count > 1 else ''} of {', '.join(names)}"


def exit_code(result: ApplyResult, *, terminated: bool = False) -> int:
    """143 terminated, 130 interrupted, 1 any failure, 4 any wait timed out, else 0."""
    if result.interrupted:
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if result.having(Status.FAILED):
        return EXIT_ERROR
    if result.having(Status.TIMED_OUT):
        return EXIT_TIMEOUT
    return EXIT_OK


def echo_result(result: ApplyResult, code: int, fmt: str) -> None:
    """The closing summary: a JSON line, or the stats and the result text."""
    if fmt == "json":
        click.echo(progress.json_summary(result, exit_code=code))
        return
    _echo_stats(result)
    click.echo("")
    click.echo(progress.render_apply_result(result))


def _from_files(
    settings: Settings,
    *,
    paths: tuple[Path, ...],
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
    prune: bool,
    allow_replace: bool,
    parallelism: int,
    show: bool,
) -> Ready:
    run = run_plan(
        settings,
        project=project,
        target=target,
        variables=variables,
        paths=paths,
        prune=prune,
        allow_replace=allow_replace,
        parallelism=max(parallelism, 16),
    )
    if show or not run.plan.applyable:
        click.echo(text.render_plan(run.plan, color=settings.use_color()))
    if not run.plan.applyable:
        raise ReconcilerError("the plan cannot be applied; fix the problems listed above")
    owner = run.inputs.project.owner_for(run.inputs.target)
    return Ready(plan=run.plan, caller=run.live.caller, workspace=run.workspace, owner=owner)


def _from_saved_plan(
    settings: Settings,
    path: Path,
    *,
    project: Path | None,
    target: str | None,
    variables: dict[str, str],
) -> Ready:
    saved = read_saved_plan(settings, path)
    if target is not None and target != saved.target:
        raise UsageError(f"{path} was planned for target {saved.target!r}, not {target!r}")
    loaded = load_project(settings.cwd, project)
    named = saved.target in loaded.targets or saved.target != "default"
    chosen = select_target(loaded, saved.target if named else None)
    if saved.masked:
        # Masked values were never written to the file: take them from the files and
        # variables again, and refuse if they are not what was reviewed.
        current = load_inputs(
            settings,
            project=project,
            target=saved.target if named else None,
            variables=variables,
            paths=(),
        )
        saved = planfile.resolve_masked(saved, current.documents)
    workspace = open_workspace(settings, loaded, chosen)
    if workspace.notice:
        click.echo(workspace.notice, err=True)

    async def replan() -> tuple[Plan, LiveState]:
        async with workspace.client() as client:
            return await engine.compute_plan(
                client,
                saved.documents,
                owner=saved.owner,
                prune=saved.prune,
                allow_replace=saved.allow_replace,
                target=saved.target,
                clock=settings.wall_clock,
                pins=saved.pins,
            )

    fresh, live = asyncio.run(replan())
    plan, notes = planfile.reviewed(saved, fresh, live.endpoints, workspace=workspace.label)
    for note in (*planfile.pin_notes(plan), *notes):
        click.echo(f"note: {note}", err=True)
    for problem in plan.problems:  # pre-flight runs again: what the plan refers to may be gone
        click.echo(text.problem_line(problem), err=True)
    if not plan.applyable:
        raise ReconcilerError("the saved plan cannot be applied; run plan again")
    return Ready(plan=plan, caller=live.caller, workspace=workspace, owner=saved.owner)


def read_saved_plan(
    settings: Settings, path: Path, *, any_tool_version: bool = False
) -> planfile.SavedPlan:
    """The saved plan at `path` (relative to the working folder), or a one-line error."""
    full = path if path.is_absolute() else settings.cwd / path
    try:
        content = full.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read the saved plan {path}: {e.strerror}") from None
    return planfile.parse(content, path=str(path), any_tool_version=any_tool_version)


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


def observer_for(settings: Settings, fmt: str, runtime: ApplyRuntime) -> Observer:
    if fmt == "json":
        return progress.JsonProgress(sys.stdout, every=runtime.progress_every)
    if settings.is_interactive():
        return progress.TerminalProgress(sys.stdout)
    return progress.PeriodicProgress(sys.stdout, every=runtime.progress_every)


def run_apply(
    ready: Ready,
    runtime: ApplyRuntime,
    *,
    observer: Observer,
    parallelism: int,
    timeout: float,
    no_wait: bool,
    skip_smoke: bool = False,
    max_steps: int | None = None,
) -> tuple[ApplyResult, bool]:
    """Run the applier; (its result, whether SIGTERM ended it). SIGTERM is handled like
    Ctrl-C: nothing new starts, what is in flight is reported, and a summary follows."""
    terminated = False

    async def go() -> ApplyResult:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_term() -> None:
            nonlocal terminated
            terminated = True
            if task is not None:
                task.cancel()

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
        connections = max(16, parallelism)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signal.SIGTERM, on_term)
        try:
            async with ready.workspace.client(retry=retry, max_connections=connections) as client:
                return await applier.apply(
                    ready.plan,
                    client,
                    owner=ready.owner,
                    caller=ready.caller,
                    observer=observer,
                    wait=wait,
                    scheduler=scheduler,
                    parallelism=parallelism,
                    no_wait=no_wait,
                    queries=client,
                    skip_smoke=skip_smoke,
                    max_steps=max_steps,
                )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)

    result = asyncio.run(go())
    return result, terminated


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
