"""`servingops export`: write live endpoints as YAML files, to adopt an existing workspace.

Reads the named endpoints (or all of them) with their permissions, and writes one minimal file
per endpoint. Never overwrites a file without --force, and never writes an endpoint that a
project file already declares (that would be a duplicate name).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .. import engine, exporter, loader
from ..desired import YAML_SUFFIXES, collect_files
from ..engine import LiveState
from ..errors import ReconcilerError
from ..model import DesiredDocument, Endpoint, SourceRef
from ..project import Project, load_project, select_target
from ..workspace import resolve_workspace
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import parallelism_option, project_option, target_option


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """What was read: exportable endpoints, and the ones that cannot be managed (with why)."""

    endpoints: tuple[Endpoint, ...]
    unmanageable: Mapping[str, str] = field(default_factory=dict)


@cli.command("export")
@click.argument("names", nargs=-1, metavar="[NAMES]...")
@click.option("--all", "export_all", is_flag=True, help="Export every endpoint in the workspace.")
@project_option
@target_option
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into (default: the project's first endpoints folder).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@parallelism_option(default=16, help="How many API reads run at once.")
@click.pass_obj
def export_command(
    settings: Settings,
    names: tuple[str, ...],
    export_all: bool,
    project: Path | None,
    target: str | None,
    out_dir: Path | None,
    force: bool,
    parallelism: int,
) -> int:
    """Write live endpoints as YAML files, one `<name>.yaml` each, with their permissions.

    Name the endpoints to export, or pass --all. Files that exist are skipped unless --force;
    endpoints already declared in the project's files are skipped. Exit 0 when every selected
    endpoint was written (or was already declared), 1 when any file was skipped because it
    exists, a named endpoint is missing or cannot be managed, or on error.
    """
    if names and export_all:
        raise click.UsageError("give endpoint NAMES or --all, not both")
    if not names and not export_all:
        raise click.UsageError(
            "name the endpoints to export (servingops export NAME...), or pass --all"
        )
    loaded = load_project(settings.cwd, project)
    selected_target = select_target(loaded, target)
    workspace = resolve_workspace(
        loaded,
        selected_target,
        env=settings.env,
        home=settings.home,
        transport=settings.transport,
    )
    if workspace.notice:
        click.echo(workspace.notice, err=True)
    owner = loaded.owner_for(selected_target)

    async def read() -> Selection:
        async with workspace.client() as client:
            return await read_selection(client, names=names, owner=owner, parallelism=parallelism)

    selection = asyncio.run(read())
    failed = False
    for name in names:
        if name in selection.unmanageable:
            click.echo(f"error: {name}: {selection.unmanageable[name]}", err=True)
            failed = True
    if failed:
        return EXIT_ERROR
    for name, why in sorted(selection.unmanageable.items()):
        click.echo(f"note: skipped {name}: {why}", err=True)

    folder = _out_dir(settings, loaded, out_dir)
    declared = declared_names(loaded)
    schema_ref = _schema_ref(loaded.root, folder)
    written: list[Path] = []
    exists: list[Path] = []
    already: list[str] = []
    for endpoint in selection.endpoints:
        path = folder / f"{endpoint.name}.yaml"
        where = declared.get(endpoint.name)
        if where is not None and where != path.resolve():
            click.echo(
                f"note: skipped {endpoint.name}: already declared in "
                f"{_display(where, settings.cwd)}",
                err=True,
            )
            already.append(endpoint.name)
            continue
        if path.exists() and not force:
            exists.append(path)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(exporter.to_yaml(endpoint, schema_ref=schema_ref))
        written.append(path)
        click.echo(f"wrote {_display(path, settings.cwd)}")
    for path in exists:
        click.echo(
            f"skipped {_display(path, settings.cwd)}: file exists (use --force to overwrite)",
            err=True,
        )
    click.echo(_summary(written, exists, already, folder=_display(folder, settings.cwd)))
    if written:
        click.echo(
            "Next: review the files, commit them, and run `servingops plan`; endpoints without "
            "this project's ownership tag are adopted (the plan adds only the tag).",
            err=True,
        )
    return EXIT_ERROR if exists else EXIT_OK


async def read_selection(
    reader: engine.LiveReader, *, names: Sequence[str], owner: str, parallelism: int
) -> Selection:
    """Read the named endpoints (all when `names` is empty) with their direct permissions.

    A named endpoint that does not exist raises ReconcilerError. Endpoints without an id
    (system endpoints) and pay-per-token foundation-model endpoints cannot be managed: they are
    returned in `unmanageable`, never exported.
    """
    listing = await reader.list_endpoints()
    live_names = {str(e.get("name")) for e in listing}
    missing = [n for n in names if n not in live_names]
    if missing:
        raise ReconcilerError(
            f"no endpoint named {', '.join(missing)} in the workspace; "
            "list them with `servingops export --all` or check --target"
        )
    wanted = list(dict.fromkeys(names)) if names else sorted(live_names)
    # Stub documents with `permissions` make read_live fetch each endpoint's ACL and the caller,
    # exactly as plan does for files that manage permissions.
    stubs = [
        DesiredDocument(
            name=n, body={"name": n, "permissions": []}, source=SourceRef(path="<export>")
        )
        for n in wanted
    ]
    live: LiveState = await engine.read_live(
        reader,
        desired=stubs,
        owner=owner,
        parallelism=parallelism,
        all_endpoints=not names,
        need_caller=True,
    )
    chosen = set(wanted)
    endpoints: list[Endpoint] = []
    unmanageable: dict[str, str] = {}
    for endpoint in live.endpoints:
        if endpoint.name not in chosen or endpoint.name not in live.raw:
            continue
        reason = _unmanageable(endpoint)
        if reason:
            unmanageable[endpoint.name] = reason
        else:
            endpoints.append(endpoint)
    return Selection(endpoints=tuple(endpoints), unmanageable=unmanageable)


def _unmanageable(endpoint: Endpoint) -> str:
    status = endpoint.status
    if status is None or not status.endpoint_id:
        return "a system endpoint without an id; it cannot be managed"
    if status.foundation_model:
        return "a pay-per-token foundation-model endpoint; it cannot be managed"
    if "config" not in endpoint.body:
        return "it has no served entities to describe"
    return ""


def declared_names(project: Project) -> dict[str, Path]:
    """Endpoint names already written in the project's files (read loosely: names only)."""
    files, _ = collect_files(project, project.endpoints)
    out: dict[str, Path] = {}
    for path, display in files:
        for document in loader.load_file(path, display=display).documents:
            data: Any = document.data
            if isinstance(data, Mapping) and isinstance(data.get("name"), str):
                out.setdefault(data["name"], path.resolve())
    return out


def _out_dir(settings: Settings, project: Project, out_dir: Path | None) -> Path:
    if out_dir is not None:
        return out_dir if out_dir.is_absolute() else settings.cwd / out_dir
    first = project.endpoints[0] if project.endpoints else project.root / "endpoints"
    return first.parent if first.suffix in YAML_SUFFIXES else first


def _schema_ref(root: Path, folder: Path) -> str:
    """The modeline path from `folder` to the project's schemas/endpoint.schema.json."""
    schema = root / "schemas" / "endpoint.schema.json"
    return Path(os.path.relpath(schema.resolve(), folder.resolve())).as_posix()


def _display(path: Path, cwd: Path) -> str:
    try:
        return path.resolve().relative_to(cwd.resolve()).as_posix()
    except ValueError:
        return str(path)


def _summary(written: list[Path], exists: list[Path], already: list[str], *, folder: str) -> str:
    count = len(written)
    line = f"Exported {count} endpoint{'' if count == 1 else 's'} to {folder}/"
    extras = []
    if exists:
        extras.append(f"{len(exists)} skipped: file exists")
    if already:
        extras.append(f"{len(already)} already declared")
    return line + (f" ({'; '.join(extras)})." if extras else ".")
