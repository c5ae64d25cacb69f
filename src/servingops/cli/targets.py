"""`servingops targets`: the project's targets with what CI needs to run one job per target.

The JSON form is one line, so a workflow step can write it to $GITHUB_OUTPUT and build its job
matrix from it (`include: ${{ fromJSON(...) }}`) without importing servingops internals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..project import Target, load_project, select_target
from . import EXIT_OK, Settings, cli
from .common import project_option


def describe(target: Target) -> dict[str, Any]:
    """One target as CI sees it (the keys are the JSON contract; see docs/ci.md)."""
    return {
        "target": target.name,
        "secret_suffix": target.secret_suffix,
        "local": target.is_local,
        "environment": target.environment_name,
        "prune": target.prune,
        "host": target.host or "",
        "profile": target.profile or "",
    }


@cli.command("targets")
@project_option
@click.option(
    "--remote",
    is_flag=True,
    help="Only targets that are real workspaces (leave out workspace: local).",
)
@click.option("--target", "only", default=None, metavar="NAME", help="Only this target.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def targets_command(
    settings: Settings, project: Path | None, remote: bool, only: str | None, fmt: str
) -> int:
    """List the project's targets: name, CI variable suffix, local or not, environment, prune.

    `--format json` prints one line, for CI job matrices.
    """
    loaded = load_project(settings.cwd, project)
    chosen = [t for _, t in sorted(loaded.targets.items()) if not (remote and t.is_local)]
    if only is not None:
        select_target(loaded, only)  # an unknown name is a usage error that lists the known ones
        chosen = [t for t in chosen if t.name == only]
    rows = [describe(t) for t in chosen]
    if fmt == "json":
        click.echo(json.dumps(rows, separators=(",", ":")))
        return EXIT_OK
    if not rows:
        where = loaded.path.name if loaded.path else "no servingops.yaml"
        click.echo(f"No {'remote ' if remote else ''}targets ({where}).")
        return EXIT_OK
    table = [("TARGET", "WORKSPACE", "ENVIRONMENT", "SUFFIX", "PRUNE")]
    for t, row in zip(chosen, rows, strict=True):
        table.append((t.name, _where(t), row["environment"], row["secret_suffix"], _yes(t.prune)))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def _where(target: Target) -> str:
    if target.is_local:
        return "local (embedded)"
    if target.host:
        return target.host
    return f"profile {target.profile}" if target.profile else "from the environment"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
