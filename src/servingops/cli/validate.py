"""`servingops validate`: check endpoint files and the project file; no workspace is contacted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from ..errors import ConfigError
from ..model import Diagnostic
from ..render import diagnostics as view
from ..render import plural
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import input_options, load_inputs

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
@click.pass_obj
def validate(
    settings: Settings,
    paths: Sequence[Path],
    project: Path | None,
    target: str | None,
    variables: Mapping[str, str],
    output_format: str,
) -> int:
    """Validate endpoint files (default: the project's endpoints) and report every problem.

    Exit 0 when valid (warnings allowed), 1 when any file is invalid.
    """
    try:
        inputs = load_inputs(
            settings, project=project, target=target, variables=variables, paths=paths
        )
    except ConfigError as e:
        _report(e.diagnostics, output_format)
        return EXIT_ERROR
    if output_format == "json":
        click.echo(view.render_json(inputs.warnings))
        return EXIT_OK
    if inputs.warnings:
        if output_format == "github":
            click.echo(view.render_github(inputs.warnings))
        else:
            click.echo(view.render_text(inputs.warnings, summary=False), err=True)
    line = (
        f"Valid: {plural(len(inputs.documents), 'endpoint')} in {plural(inputs.file_count, 'file')}"
    )
    if inputs.warnings:
        line += f" ({plural(len(inputs.warnings), 'warning')})"
    click.echo(line + ".")
    return EXIT_OK


def _report(diagnostics: Sequence[Diagnostic], output_format: str) -> None:
    if output_format == "json":
        click.echo(view.render_json(diagnostics))
    elif output_format == "github":
        click.echo(view.render_github(diagnostics))
        click.echo(view.summary_line(diagnostics), err=True)
    else:
        click.echo(view.render_text(diagnostics), err=True)
