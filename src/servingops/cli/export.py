"""`servingops export`: write live endpoints as YAML files, to adopt an existing workspace.

Reads the selected endpoints (named, by glob, or all; narrowed by tags) with their permissions,
and writes one minimal file per endpoint, each served Unity Catalog model version with a comment
naming the aliases that point at it (`GET .../models/{name}?include_aliases=true`, one read per
model). Never overwrites a file without --force, never writes
an endpoint that a project file already declares (that would be a duplicate name) or that
another project owns, and never builds a path from a name that is not a valid endpoint name.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import click

from .. import engine, exporter, loader, normalize, preflight
from ..client import Client
from ..desired import YAML_SUFFIXES, collect_files
from ..engine import LiveState
from ..errors import NotFound, PermissionDenied, ReconcilerError
from ..model import OWNER_TAG, DesiredDocument, Endpoint, SourceRef
from ..project import Project
from ..rules import SECRET_FORM
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import parallelism_option, project_option, target_option
from .live import open_target

_GLOB_CHARS = frozenset("*?[")
_NO_TAGS: Mapping[str, str] = MappingProxyType({})
_NAME_RULE = "1-63 letters, digits, '-' or '_'"


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    """An endpoint that is not exported, and why (one line)."""

    name: str
    """As shown: the name itself when valid, else its repr (escapes NUL, newlines, ...)."""
    reason: str
    kind: str
    """"unmanageable", "owner", "invalid-name" or "secret"; the summary counts the last three."""
    named: bool
    """Named exactly on the command line: an error, not a note."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """What was read: exportable endpoints, and the ones that are not exported (with why)."""

    endpoints: tuple[Endpoint, ...]
    skipped: tuple[Skip, ...] = ()


@cli.command("export")
@click.argument("names", nargs=-1, metavar="[NAME|GLOB]...")
@click.option("--all", "export_all", is_flag=True, help="Export every endpoint in the workspace.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    callback=lambda _ctx, _param, value: _parse_tags(value),
    help="Only endpoints carrying this tag; repeatable, all must match.",
)
@click.option(
    "--no-permissions",
    is_flag=True,
    help="Leave the permissions block out (the ACL stays unmanaged; nothing reads it).",
)
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
    tags: Mapping[str, str],
    no_permissions: bool,
    project: Path | None,
    target: str | None,
    out_dir: Path | None,
    force: bool,
    parallelism: int,
) -> int:
    """Write live endpoints as YAML files, one `<name>.yaml` each, with their permissions.

    Name the endpoints to export, give name globs ('fraud-*', quoted), or pass --all; --tag
    narrows any of these. Files that exist are skipped unless --force; endpoints already
    declared in the project's files, owned by another servingops project, or with a name that
    is not a valid endpoint name are skipped, each with a note. Exit 0 when every selected
    endpoint was written or skipped that way, 1 when a file was skipped because it exists, a
    named endpoint is missing or cannot be exported, or on error.
    """
    if names and export_all:
        raise click.UsageError("give endpoint NAMES or --all, not both")
    if not names and not export_all:
        hint = "; --tag narrows a selection" if tags else ""
        raise click.UsageError(
            "name the endpoints to export (servingops export NAME|GLOB...), or pass --all" + hint
        )
    opened = open_target(settings, project=project, target=target)
    loaded, workspace = opened.project, opened.workspace
    owner = loaded.owner_for(opened.target)

    async def read() -> tuple[Selection, Aliases]:
        async with workspace.client() as client:
            selection = await read_selection(
                client,
                names=names,
                tags=tags,
                owner=owner,
                parallelism=parallelism,
                permissions=not no_permissions,
            )
            return selection, await read_aliases(
                client, selection.endpoints, parallelism=parallelism
            )

    selection, aliases = asyncio.run(read())
    for note in aliases.notes:
        click.echo(f"note: {note}", err=True)
    errors = [s for s in selection.skipped if s.named]
    for skip in errors:
        click.echo(f"error: {skip.name}: {skip.reason}", err=True)
    if errors:
        return EXIT_ERROR
    for skip in sorted(selection.skipped, key=lambda s: s.name):
        click.echo(f"note: skipped {skip.name}: {skip.reason}", err=True)

    folder = _out_dir(settings, loaded, out_dir)
    declared = declared_files(loaded)
    schema_ref = _schema_ref(loaded.root, folder)
    written: list[Path] = []
    exists: list[Path] = []
    already: list[str] = []
    for endpoint in selection.endpoints:
        path = folder / exporter.file_name(endpoint.name)
        where = _declared_in(declared, endpoint.name)
        # Declared endpoints are skipped: a second file would duplicate the name. The one
        # exception is --force on the endpoint's own file (declaring nothing else): a refresh.
        own_file = where == path.resolve() and declared[where] == {endpoint.name}
        if where is not None and not (force and own_file):
            click.echo(
                f"note: skipped {endpoint.name}: already declared in "
                f"{_display(where, settings.cwd)}",
                err=True,
            )
            already.append(endpoint.name)
            continue
        if (path.exists() or path.is_symlink()) and not force:
            exists.append(path)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # --force replaces the link; writing through it could land anywhere
        path.write_text(exporter.to_yaml(endpoint, schema_ref=schema_ref, aliases=aliases.by_model))
        written.append(path)
        click.echo(f"wrote {_display(path, settings.cwd)}")
    for path in exists:
        click.echo(
            f"skipped {_display(path, settings.cwd)}: file exists (use --force to overwrite)",
            err=True,
        )
    click.echo(
        _summary(written, exists, already, selection.skipped, folder=_display(folder, settings.cwd))
    )
    if written:
        click.echo(
            "Next: review the files, commit them, and run `servingops plan`; endpoints without "
            "this project's ownership tag are adopted (the plan adds only the tag).",
            err=True,
        )
    return EXIT_ERROR if exists else EXIT_OK


def _parse_tags(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="'--tag'")
        if key in out:
            raise click.BadParameter(f"tag {key!r} is given twice", param_hint="'--tag'")
        out[key] = value
    return out


async def read_selection(
    reader: engine.LiveReader,
    *,
    names: Sequence[str],
    owner: str,
    parallelism: int,
    tags: Mapping[str, str] = _NO_TAGS,
    permissions: bool = True,
) -> Selection:
    """Read the selected endpoints (all when `names` is empty), with their direct permissions
    unless `permissions` is false.

    `names` are exact names or globs (`*`, `?`, `[...]`; endpoint names never contain these);
    every endpoint must carry each of `tags`. An exact name that does not exist, or a glob that
    matches nothing, raises ReconcilerError. Endpoints that cannot be exported are returned in
    `skipped`: names that are not valid endpoint names (never used in a request or a path, nor
    trusted when a GET answers one), endpoints owned by another servingops project, system and
    pay-per-token foundation-model endpoints, and any whose secret fields hold a literal value.
    """
    listing = await reader.list_endpoints()
    exact = list(dict.fromkeys(n for n in names if not _is_glob(n)))
    globs = list(dict.fromkeys(n for n in names if _is_glob(n)))
    skipped: list[Skip] = []
    by_name: dict[str, Mapping[str, Any]] = {}
    for entry in listing:
        name = entry.get("name")
        if exporter.valid_name(name):
            by_name[str(name)] = entry
        elif not names or (isinstance(name, str) and _matches(name, globs)):
            skipped.append(_invalid_name(name, named=False))
    missing = [n for n in exact if n not in by_name]
    problems = [f"no endpoint named {', '.join(missing)}"] if missing else []
    problems += [f"no endpoint matches {g}" for g in globs if not _matches(by_name, [g])]
    if problems:
        raise ReconcilerError(
            f"{'; '.join(problems)} in the workspace; "
            "list them with `servingops export --all` or check --target"
        )
    wanted = [n for n in sorted(by_name) if not names or n in exact or _matches(n, globs)]
    chosen: list[str] = []
    for name in wanted:
        named = name in exact
        listed = by_name[name]
        if any(normalize.tag(listed, k) != v for k, v in tags.items()):
            if named:
                skipped.append(
                    Skip(
                        name=name,
                        reason=f"its tags do not match {_tag_list(tags)}",
                        kind="filtered",
                        named=False,
                    )
                )
            continue
        other = normalize.tag(listed, OWNER_TAG)
        if other is not None and other != owner:
            skipped.append(
                Skip(
                    name=name,
                    reason=f'owned by another servingops project (owner "{other}"); export it '
                    "from that project",
                    kind="owner",
                    named=named,
                )
            )
            continue
        chosen.append(name)

    # Stub documents with `permissions` make read_live fetch each endpoint's ACL and the caller,
    # exactly as plan does for files that manage permissions.
    body: dict[str, Any] = {"permissions": []} if permissions else {}
    stubs = [
        DesiredDocument(name=n, body={"name": n, **body}, source=SourceRef(path="<export>"))
        for n in chosen
    ]
    selected = _Selected(reader, [by_name[n] for n in chosen])
    live: LiveState = await engine.read_live(
        selected,
        desired=stubs,
        owner=owner,
        parallelism=parallelism,
        all_endpoints=True,
        need_caller=permissions,
    )
    for asked, answered in sorted(selected.renamed.items()):
        skipped.append(_renamed(asked, answered, named=asked in exact))
    endpoints: list[Endpoint] = []
    for endpoint in live.endpoints:
        kind, reason = _unexportable(endpoint)
        if reason:
            skipped.append(
                Skip(name=endpoint.name, reason=reason, kind=kind, named=endpoint.name in exact)
            )
        else:
            endpoints.append(endpoint)
    return Selection(endpoints=tuple(endpoints), skipped=tuple(skipped))


@dataclass(frozen=True, slots=True, kw_only=True)
class Aliases:
    """Which aliases point at which version, per Unity Catalog model the selection serves."""

    by_model: exporter.AliasIndex
    notes: tuple[str, ...] = ()
    """Models whose aliases this identity may not read (so their versions get no comment)."""


async def read_aliases(
    client: Client, endpoints: Sequence[Endpoint], *, parallelism: int
) -> Aliases:
    """The aliases of every Unity Catalog model the endpoints serve, one read per model.

    A model that does not exist (404) has none; one this identity may not read (403) is named in
    a note, and its versions are written without a comment.
    """
    models = sorted(
        {
            str(entity["entity_name"]).lower()
            for endpoint in endpoints
            for entity in (endpoint.body.get("config") or {}).get("served_entities", {}).values()
            if preflight.is_unity_catalog(entity.get("entity_name"))
        }
    )
    gate = asyncio.Semaphore(max(1, parallelism))

    async def read(model: str) -> tuple[dict[str, list[str]], str]:
        async with gate:
            try:
                raw = await client.get_registered_model(model, include_aliases=True)
            except NotFound:
                return {}, ""
            except PermissionDenied as e:
                if e.status != 403:
                    raise
                return {}, (
                    f"cannot read the aliases of {model} (this identity lacks EXECUTE on it); "
                    "its versions are written without alias comments"
                )
        out: dict[str, list[str]] = {}
        for alias in raw.get("aliases") or []:
            if isinstance(alias, dict) and isinstance(alias.get("alias_name"), str):
                out.setdefault(str(alias.get("version_num")), []).append(alias["alias_name"])
        return out, ""

    answers = await asyncio.gather(*(read(m) for m in models))
    return Aliases(
        by_model={m: found for m, (found, _) in zip(models, answers, strict=True) if found},
        notes=tuple(note for _, note in answers if note),
    )


class _Selected:
    """The reader as read_live sees it: the listing narrowed to the selection, and each GET
    checked to answer the name it was asked for."""

    def __init__(self, reader: engine.LiveReader, listing: list[Mapping[str, Any]]) -> None:
        self._reader = reader
        self._listing = listing
        self.renamed: dict[str, object] = {}

    async def list_endpoints(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._listing]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        raw = await self._reader.get_endpoint(name)
        if raw is not None and raw.get("name") != name:
            self.renamed[name] = raw.get("name")
            return None
        return raw

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        return await self._reader.get_permissions(endpoint_id)

    async def me(self) -> dict[str, Any]:
        return await self._reader.me()


def _invalid_name(name: object, *, named: bool) -> Skip:
    reason = f"not a valid endpoint name ({_NAME_RULE}); not written"
    return Skip(name=_quoted(name), reason=reason, kind="invalid-name", named=named)


def _renamed(asked: str, answered: object, *, named: bool) -> Skip:
    """The GET for `asked` answered another name: never written under either."""
    if not exporter.valid_name(answered):
        return _invalid_name(answered, named=named)
    reason = f"reading it answered another endpoint, {answered}; not written"
    return Skip(name=asked, reason=reason, kind="invalid-name", named=named)


def _quoted(name: object) -> str:
    """repr, so NUL, newlines and terminal escapes are shown escaped; long names shortened."""
    text = repr(name)
    return text if len(text) <= 80 else text[:76] + "...'"


def _is_glob(name: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(name)


def _matches(names: Iterable[str] | str, globs: Sequence[str]) -> bool:
    """True when the name (or any of the names) matches any of the globs."""
    candidates = [names] if isinstance(names, str) else names
    return any(fnmatch.fnmatchcase(n, g) for n in candidates for g in globs)


def _tag_list(tags: Mapping[str, str]) -> str:
    return " ".join(f"--tag {k}={v}" for k, v in tags.items())


def _unexportable(endpoint: Endpoint) -> tuple[str, str]:
    """(kind, reason) when the endpoint cannot be exported, else ("", "")."""
    status = endpoint.status
    if status is None or not status.endpoint_id:
        return "unmanageable", "a system endpoint without an id; it cannot be managed"
    if status.foundation_model:
        return "unmanageable", "a pay-per-token foundation-model endpoint; it cannot be managed"
    secrets = exporter.literal_secrets(endpoint)
    if secrets:
        return "secret", (
            f"{', '.join(secrets)} holds a literal value, not a {SECRET_FORM} reference; "
            "not written, since the file would put a secret in git"
        )
    return "", ""


def declared_files(project: Project) -> dict[Path, set[str]]:
    """The endpoint names each of the project's files declares (read loosely: names only)."""
    files, _ = collect_files(project, project.endpoints)
    out: dict[Path, set[str]] = {}
    for path, display in files:
        for document in loader.load_file(path, display=display).documents:
            data: Any = document.data
            if isinstance(data, Mapping) and isinstance(data.get("name"), str):
                out.setdefault(path.resolve(), set()).add(data["name"])
    return out


def _declared_in(declared: Mapping[Path, set[str]], name: str) -> Path | None:
    return next((path for path, names in declared.items() if name in names), None)


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
    try:  # the folder resolved, not the file: a link is shown where it is, not where it leads
        return (path.parent.resolve() / path.name).relative_to(cwd.resolve()).as_posix()
    except ValueError:
        return str(path)


_SKIP_WORDS = {
    "owner": "owned by another project",
    "invalid-name": "skipped: invalid name",
    "secret": "skipped: literal secret",
}


def _summary(
    written: list[Path],
    exists: list[Path],
    already: list[str],
    skipped: Sequence[Skip],
    *,
    folder: str,
) -> str:
    count = len(written)
    line = f"Exported {count} endpoint{'' if count == 1 else 's'} to {folder}/"
    extras = []
    if exists:
        extras.append(f"{len(exists)} skipped: file exists")
    if already:
        extras.append(f"{len(already)} already declared")
    for kind, words in _SKIP_WORDS.items():
        n = sum(1 for s in skipped if s.kind == kind)
        if n:
            extras.append(f"{n} {words}")
    return line + (f" ({'; '.join(extras)})." if extras else ".")
