"""`servingops validate`: check endpoint files and the project file.

Offline by default: no workspace is contacted. With `--online` it also runs pre-flight over
every endpoint in the files (not only those a plan would change): model aliases resolve, model
versions exist and are READY, secret references and principals exist in the target's workspace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError
from ..model import Diagnostic
from ..render import diagnostics as view
from ..render import plural
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import Inputs, input_options, load_inputs, open_workspace, parallelism_option

if TYPE_CHECKING:
    from .. import engine

FORMATS = ("text", "json", "github")


@cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@input_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json like `terraform validate -json`, github for PR annotations.",
)
@click.option(
    "--online",
    is_flag=True,
    help="Also check what the files refer to in the target's workspace: model versions and "
    "aliases, secret scopes and keys, principals (read only).",
)
@parallelism_option(default=16, help="How many workspace lookups run at once (--online).")
@click.pass_obj
def validate(
    settings: Settings,
    paths: Sequence[Path],
    project: Path | None,
    target: str | None,
    variables: Mapping[str, str],
    output_format: str,
    online: bool,
    parallelism: int,
) -> int:
    """Validate endpoint files (default: the project's endpoints) and report every problem.

    Exit 0 when valid (warnings allowed), 1 when any file is invalid (or, with --online, when
    something a file refers to is missing from the workspace).
    """
    try:
        inputs = load_inputs(
            settings, project=project, target=target, variables=variables, paths=paths
        )
    except ConfigError as e:
        _report(e.diagnostics, output_format)
        return EXIT_ERROR
    found: Sequence[Diagnostic] = inputs.warnings
    checked: engine.Checked | None = None
    if online:
        checked = _check_online(settings, inputs, parallelism=parallelism)
        found = sorted((*inputs.warnings, *checked.problems), key=Diagnostic.sort_key)
        if any(d.is_error for d in found):
            _report(found, output_format)
            return EXIT_ERROR
    if output_format == "json":
        click.echo(view.render_json(found))
        return EXIT_OK
    if found:
        if output_format == "github":
            click.echo(view.render_github(found))
        else:
            click.echo(view.render_text(found, summary=False), err=True)
    line = (
        f"Valid: {plural(len(inputs.documents), 'endpoint')} in {plural(inputs.file_count, 'file')}"
    )
    if found:
        line += f" ({plural(len(found), 'warning')})"
    if checked is not None:
        for pin in checked.pins:
            click.echo(
                f'endpoint "{pin.endpoint}" {pin.entity}: {pin.model} @{pin.alias} is '
                f"version {pin.version}"
            )
        line += f"; pre-flight made {plural(checked.lookups, 'workspace lookup')}"
    click.echo(line + ".")
    return EXIT_OK


def _check_online(settings: Settings, inputs: Inputs, *, parallelism: int) -> engine.Checked:
    import asyncio  # online only: offline validation loads neither asyncio nor the client

    from .. import engine

    workspace = open_workspace(settings, inputs.project, inputs.target)
    if workspace.notice:
        click.echo(workspace.notice, err=True)

    async def check() -> engine.Checked:
        async with workspace.client(max_connections=parallelism) as client:
            return await engine.check_documents(client, inputs.documents, parallelism=parallelism)

    return asyncio.run(check())


def _report(diagnostics: Sequence[Diagnostic], output_format: str) -> None:
    if output_format == "json":
        click.echo(view.render_json(diagnostics))
    elif output_format == "github":
        click.echo(view.render_github(diagnostics))
        click.echo(view.summary_line(diagnostics), err=True)
    else:
        click.echo(view.render_text(diagnostics), err=True)
