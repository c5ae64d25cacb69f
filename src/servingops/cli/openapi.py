"""`servingops openapi NAME [--out FILE]`: the endpoint's OpenAPI document (its query API: paths,
input and output formats), printed, or written to FILE (an existing file only with --force).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from ..errors import ReconcilerError
from . import EXIT_OK, Settings, cli
from .common import project_option, target_option
from .live import TEXT_OR_JSON, get_endpoint, open_target


@cli.command("openapi")
@click.argument("name")
@project_option
@target_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the document to FILE instead of printing it.",
)
@click.option("--force", is_flag=True, help="Overwrite FILE when it exists.")
@click.option("--format", "fmt", type=TEXT_OR_JSON, default="text", show_default=True)
@click.pass_obj
def openapi_command(
    settings: Settings,
    name: str,
    project: Path | None,
    target: str | None,
    out: Path | None,
    force: bool,
    fmt: str,
) -> int:
    """Print (or --out) the endpoint's OpenAPI document."""
    path = None if out is None else out if out.is_absolute() else settings.cwd / out
    if path is not None and path.exists() and not force:
        raise ReconcilerError(f"{out} already exists; nothing was written (use --force)")
    workspace = open_target(settings, project=project, target=target).workspace

    async def read() -> str:
        async with workspace.client() as client:
            await get_endpoint(client, name, workspace)  # a clear error for a wrong name
            return await client.openapi(name)

    document = _pretty(asyncio.run(read()))
    if path is not None:
        path.write_text(document, encoding="utf-8")
        click.echo(f'Wrote the OpenAPI document of endpoint "{name}" to {out}.', err=True)
        return EXIT_OK
    if fmt == "json":
        payload = {"format_version": "1", "endpoint": name, "document": _parsed(document)}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(document, nl=False)
    return EXIT_OK


def _parsed(document: str) -> Any:
    try:
        return json.loads(document)
    except ValueError:
        return document


def _pretty(document: str) -> str:
    """JSON documents indented two spaces (as the API's varies); anything else as served."""
    parsed = _parsed(document)
    if isinstance(parsed, str):
        return document if document.endswith("\n") else document + "\n"
    return json.dumps(parsed, indent=2, ensure_ascii=False) + "\n"
