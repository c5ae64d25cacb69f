"""`servingops status [NAMES]`: each endpoint's live health, versions, pending update and its
age, served entities with their deployment state and message, traffic split and invocation URL.

Without NAMES it shows the project's endpoints: those its files declare and those carrying its
ownership tag. Read-only. Exit 0 once read; with `--check`, 1 when any shown endpoint is not
ready (updating, update failed, stopped, not ready, or not created), so CI can gate on it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .. import normalize
from ..model import OWNER_TAG
from ..render import status as view
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import project_option, target_option
from .live import TEXT_OR_JSON, declared_names, missing, open_target, unique


@cli.command("status")
@click.argument("names", nargs=-1)
@project_option
@target_option
@click.option("--format", "fmt", type=TEXT_OR_JSON, default="text", show_default=True)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when any endpoint shown is not ready (for CI gates and scripts).",
)
@click.pass_obj
def status_command(
    settings: Settings,
    names: tuple[str, ...],
    project: Path | None,
    target: str | None,
    fmt: str,
    check: bool,
) -> int:
    """Show the live health and serving state of endpoints (default: the project's)."""
    opened = open_target(settings, project=project, target=target)
    workspace = opened.workspace
    declared = declared_names(opened.project)
    owner = opened.project.owner_for(opened.target)

    async def read() -> list[view.EndpointStatus]:
        async with workspace.client() as client:
            if names:
                chosen = unique(names)
            else:
                listing = await client.list_endpoints()
                owned = [
                    str(e.get("name")) for e in listing if normalize.tag(e, OWNER_TAG) == owner
                ]
                chosen = sorted(set(declared) | set(owned))
            gate = asyncio.Semaphore(16)

            async def get(name: str) -> view.EndpointStatus:
                async with gate:
                    raw = await client.get_endpoint(name)
                if raw is None:
                    if name not in declared:
                        raise missing(name, workspace)
                    return view.not_created(name, declared_in=declared[name])
                return view.endpoint_status(
                    raw, host=workspace.creds.host, declared_in=declared.get(name)
                )

            return list(await asyncio.gather(*(get(n) for n in chosen)))

    views = asyncio.run(read())
    observed_at_ms = int(settings.wall_clock() * 1000)
    if fmt == "json":
        click.echo(
            view.render_json(views, workspace=workspace.label, observed_at_ms=observed_at_ms),
            nl=False,
        )
    else:
        click.echo(view.render_text(views, observed_at_ms=observed_at_ms), nl=False)
    if not check:
        return EXIT_OK
    sick = [v for v in views if not v.ready]
    if not sick:
        return EXIT_OK
    listed = ", ".join(f"{v.name} ({v.health})" for v in sick)
    click.echo(f"error: {len(sick)} of {len(views)} endpoints not ready: {listed}", err=True)
    return EXIT_ERROR
