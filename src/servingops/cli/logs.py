"""`servingops logs NAME [ENTITY] [--build] [--tail N]`: a served entity's server logs (the most
recent lines of the model server) or, with --build, the logs of building its environment.

ENTITY defaults to the endpoint's only served entity; with several, it must be named.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from . import EXIT_OK, Settings, cli
from .common import project_option, target_option
from .live import TEXT_OR_JSON, get_endpoint, open_target, pick_entity, tail


@cli.command("logs")
@click.argument("name")
@click.argument("entity", required=False)
@project_option
@target_option
@click.option("--build", is_flag=True, help="Build logs instead of the model server's logs.")
@click.option(
    "--tail", "lines", type=click.IntRange(min=1), default=None, help="Only the last N lines."
)
@click.option("--format", "fmt", type=TEXT_OR_JSON, default="text", show_default=True)
@click.pass_obj
def logs_command(
    settings: Settings,
    name: str,
    entity: str | None,
    project: Path | None,
    target: str | None,
    build: bool,
    lines: int | None,
    fmt: str,
) -> int:
    """Print a served entity's server logs (or --build logs)."""
    workspace = open_target(settings, project=project, target=target).workspace

    async def read() -> tuple[str, str]:
        async with workspace.client() as client:
            raw = await get_endpoint(client, name, workspace)
            served = pick_entity(raw, entity, command="logs")
            if build:
                return served, await client.build_logs(name, served)
            return served, await client.server_logs(name, served)

    served, text = asyncio.run(read())
    text = tail(text, lines)
    kind = "build" if build else "server"
    if fmt == "json":
        payload = {"endpoint": name, "served_entity": served, "kind": kind, "logs": text}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not text:
        click.echo(f'No {kind} log lines for "{served}" of endpoint "{name}" yet.', err=True)
        return EXIT_OK
    click.echo(text, nl=not text.endswith("\n"))
    return EXIT_OK
