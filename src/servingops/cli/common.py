"""Options and input loading shared by the commands that read desired state.

validate, plan, apply and drift all take `--project`, `--target` and `--var`, and all load the
project, pick the target and read the endpoint files the same way: through `load_inputs`. Every
command that talks to a workspace opens it through `open_workspace`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..desired import load_desired, loading
from ..errors import ConfigError
from ..model import DesiredDocument, Diagnostic
from ..project import Project, Target, load_project, select_target
from . import Settings

if TYPE_CHECKING:
    from ..workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """A loaded project, the selected target, and its valid desired documents (plus warnings)."""

    project: Project
    target: Target | None
    documents: tuple[DesiredDocument, ...]
    warnings: tuple[Diagnostic, ...]

    @property
    def file_count(self) -> int:
        return len({d.source.path for d in self.documents})


def parse_var_assignments(values: Sequence[str]) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`; a bad item raises click.BadParameter."""
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not _VAR_NAME.fullmatch(name):
            raise click.BadParameter(
                f"expected NAME=VALUE (NAME of letters, digits and '_'), got {item!r}",
                param_hint="'--var'",
            )
        out[name] = value
    return out


def _parse_vars(_ctx: click.Context, _param: click.Parameter, value: Sequence[str]) -> Any:
    return parse_var_assignments(value or ())


def project_option(f: F) -> F:
    """`--project FILE`: the project file (default: ./servingops.yaml when present)."""
    return click.option(
        "--project",
        "project",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Project file (default: ./servingops.yaml if present).",
    )(f)


def target_option(f: F) -> F:
    """`--target NAME`: a target of the project file (default: its default_target)."""
    return click.option(
        "--target",
        "-t",
        "target",
        default=None,
        metavar="NAME",
        help="Target from the project file (default: its default_target).",
    )(f)


def var_option(f: F) -> F:
    """`--var NAME=VALUE` (repeatable): overrides the target's variables; parsed to a dict."""
    return click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_parse_vars,
        help="Set ${var.NAME}; overrides the target's variables. Repeatable.",
    )(f)


def parallelism_option(*, default: int, help: str) -> Callable[[F], F]:
    """`--parallelism N` (1-256): how many API calls or endpoints run at once."""
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 256),
        default=default,
        show_default=True,
        help=help,
    )


def input_options(f: F) -> F:
    """All three: --project, --target and --var."""
    return project_option(target_option(var_option(f)))


def select_inputs(
    settings: Settings, *, project: Path | None, target: str | None
) -> tuple[Project, Target | None]:
    """The project file and the selected target (the cheap part of `load_inputs`)."""
    loaded = load_project(settings.cwd, project)
    return loaded, select_target(loaded, target)


def open_workspace(settings: Settings, project: Project, target: Target | None) -> Workspace:
    """The workspace `target` points at, under the command's environment and transport."""
    from ..workspace import resolve_workspace  # with the client and httpx: not for offline ones

    return resolve_workspace(
        project, target, env=settings.env, home=settings.home, transport=settings.transport
    )


def load_inputs(
    settings: Settings,
    *,
    project: Path | None,
    target: str | None,
    variables: Mapping[str, str],
    paths: Sequence[Path],
) -> Inputs:
    """Load the project, select the target and read desired state; ConfigError on any error."""
    loaded, selected = select_inputs(settings, project=project, target=target)
    documents, diagnostics = load_desired(
        loaded, selected, overrides=variables, paths=_absolute(settings, paths)
    )
    return _inputs(loaded, selected, documents, diagnostics)


async def load_inputs_interleaved(
    settings: Settings,
    project: Project,
    target: Target | None,
    *,
    variables: Mapping[str, str],
    paths: Sequence[Path],
) -> Inputs:
    """`load_inputs` for a project already selected, one file per turn of the event loop, so
    live reads started before it make progress while the files load and validate.

    Interleaved rather than in a worker thread: loading is CPU-bound Python and would hold the
    GIL against the event loop anyway; a thread measured no better (benchmarks/README.md), and
    it could not be stopped when a read fails or the user interrupts.
    """
    import asyncio  # here, not at the top: validate and targets run without an event loop

    steps = loading(project, target, overrides=variables, paths=_absolute(settings, paths))
    while True:
        try:
            next(steps)
        except StopIteration as done:
            documents, diagnostics = done.value
            break
        await asyncio.sleep(0)
    return _inputs(project, target, documents, diagnostics)


def _absolute(settings: Settings, paths: Sequence[Path]) -> list[Path]:
    return [p if p.is_absolute() else settings.cwd / p for p in paths]


def _inputs(
    project: Project,
    target: Target | None,
    documents: tuple[DesiredDocument, ...],
    diagnostics: tuple[Diagnostic, ...],
) -> Inputs:
    if any(d.is_error for d in diagnostics):
        raise ConfigError(diagnostics)
    return Inputs(project=project, target=target, documents=documents, warnings=diagnostics)
