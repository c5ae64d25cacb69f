"""`servingops show PLANFILE [--format text|json|markdown]`: render a saved plan exactly as
`plan` printed it, without reading the project or contacting any workspace.

The saved plan records the reviewed plan itself (planfile, plan_record); masked values are
digests there and are shown masked, as in every plan.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ..errors import ReconcilerError
from ..render import json_view, markdown, text
from . import EXIT_OK, Settings, cli
from .apply import read_saved_plan
from .planning import FORMATS


@cli.command("show")
@click.argument("planfile_path", metavar="PLANFILE", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_obj
def show_command(settings: Settings, planfile_path: Path, fmt: str) -> int:
    """Render a saved plan (from plan --out) without contacting anything."""
    saved = read_saved_plan(settings, planfile_path, any_tool_version=True)
    plan = saved.plan
    if plan is None:
        raise ReconcilerError(f"{planfile_path} holds no plan to show; run plan --out again")
    if saved.tool_version != __version__:
        click.echo(
            f"note: {planfile_path} was saved by servingops {saved.tool_version} "
            f"(this is {__version__}); apply it with that version",
            err=True,
        )
    match fmt:
        case "json":
            rendered = json_view.render_plan(
                plan, tool_version=saved.tool_version, workspace=saved.workspace
            )
        case "markdown":
            rendered = markdown.render_plan(plan, target=saved.target)
        case _:
            rendered = text.render_plan(plan, color=settings.use_color())
    click.echo(rendered)
    return EXIT_OK
