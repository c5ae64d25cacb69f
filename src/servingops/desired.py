"""Desired state from files: load, interpolate variables, validate, convert to API create bodies.

This is the one entry the rest of the system reads desired endpoints through. Bodies hold only
what the user wrote (no defaults filled in; normalize.py does that), in the REST API's shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path as FsPath
from types import MappingProxyType
from typing import Any

from . import fields, loader, rollout, rules, schema, smoke
from .model import DesiredDocument, Diagnostic, Path, Severity, SourceRef, render_pointer
from .normalize import copy
from .project import Project, Target

YAML_SUFFIXES = (".yaml", ".yml")

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)(\})?")
_VAR_NAME = re.compile(r"var\.([A-Za-z_][A-Za-z0-9_]*)")

# Every top-level field the registry knows (legacy top-level `rate_limits` is moved into
# ai_gateway by to_desired, which is why it is not among them), but `rollout`, which the
# document carries beside its body (DesiredDocument.rollout).
_TOP_LEVEL = tuple(dict.fromkeys(f.path[0] for f in fields.FIELDS if f.path != ("rollout",)))

_LEGACY_ENTITY_KEYS = {"model_name": "entity_name", "model_version": "entity_version"}


def load_desired(
    project: Project,
    target: Target | None,
    *,
    overrides: Mapping[str, str] = _NO_VARIABLES,
    paths: Sequence[FsPath] = (),
) -> tuple[tuple[DesiredDocument, ...], tuple[Diagnostic, ...]]:
    """Every endpoint document under `paths` (default: the project's endpoints).

    Returns the documents and all diagnostics sorted by file and line. Documents are returned
    only when no diagnostic is an error; warnings come back alongside them.
    """
    steps = loading(project, target, overrides=overrides, paths=paths)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            loaded: tuple[tuple[DesiredDocument, ...], tuple[Diagnostic, ...]] = done.value
            return loaded


def loading(
    project: Project,
    target: Target | None,
    *,
    overrides: Mapping[str, str] = _NO_VARIABLES,
    paths: Sequence[FsPath] = (),
) -> Generator[None, None, tuple[tuple[DesiredDocument, ...], tuple[Diagnostic, ...]]]:
    """`load_desired` one file at a time: yields after each file and returns what
    load_desired returns, so a caller can interleave other work (the CLI's live reads)."""
    files, diagnostics = collect_files(project, paths or project.endpoints)
    variables = {**(target.variables if target else {}), **overrides}
    documents: list[loader.LoadedDocument] = []
    for path, display in files:
        result = loader.load_file(path, display=display)
        diagnostics += result.diagnostics
        if not result.documents and not result.diagnostics:
            diagnostics.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    summary="file holds no endpoint document; write one (a mapping with a "
                    "name) or delete the file",
                    source=SourceRef(path=display, line=1, column=1),
                )
            )
        for document in result.documents:
            document, problems = interpolate(document, variables, target=target)
            diagnostics += problems
            diagnostics += schema.validate(document)
            diagnostics += rules.check_document(document)
            checked = smoke.check_document(document)
            diagnostics += checked
            if not checked:
                document, unread = smoke.read_request_files(
                    document, folder=path.parent, root=project.root
                )
                diagnostics += unread
            diagnostics += rollout.check_document(document)
            documents.append(document)
        yield
    diagnostics += rules.check_unique_names(documents)
    ordered = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
    if any(d.is_error for d in ordered):
        return (), ordered
    return tuple(to_desired(d) for d in documents), ordered


def collect_files(
    project: Project, roots: Sequence[FsPath]
) -> tuple[list[tuple[FsPath, str]], list[Diagnostic]]:
    """Endpoint files under `roots` (folders walked for *.yaml/*.yml, sorted), with display names.

    Hidden files and folders and the project file itself are skipped; a file named twice is
    read once. Symlinks are followed only while they stay inside the project: a link that leads
    out of it (or, for a root outside the project, out of that root) is refused unread, and a
    dangling one is an error too, since skipping it would silently drop its endpoint.
    """
    files: list[tuple[FsPath, str]] = []
    problems: list[Diagnostic] = []
    seen: set[FsPath] = set()
    skip = project.path.resolve() if project.path else None
    project_root = FsPath(os.path.realpath(project.root))
    for root in roots:
        root = root if root.is_absolute() else project.root / root
        lexical = FsPath(os.path.abspath(root))
        boundary = project_root if _within(lexical, FsPath(os.path.abspath(project.root))) else None
        real = FsPath(os.path.realpath(root))
        if boundary is None:
            boundary = real if real.is_dir() else real.parent  # a root outside the project
        problem = _link_problem(root, real, boundary, project.root)
        if problem is not None:
            problems.append(problem)
            continue
        found: list[FsPath] = []
        if real.is_dir():
            _walk(root, boundary=boundary, found=found, problems=problems, base=project.root)
        elif real.is_file():
            found = [root]
        else:
            problems.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    summary="no such file or folder; check the endpoints setting in "
                    "servingops.yaml or the paths given",
                    source=SourceRef(path=_display(root, project.root)),
                )
            )
            continue
        for path in sorted(found):
            key = path.resolve()
            if key in seen or key == skip:
                continue
            seen.add(key)
            files.append((path, _display(path, project.root)))
    return files, problems


def _walk(
    folder: FsPath,
    *,
    boundary: FsPath,
    found: list[FsPath],
    problems: list[Diagnostic],
    base: FsPath,
    visited: set[FsPath] | None = None,
) -> None:
    """Collect YAML files under `folder`, following links that stay within `boundary`."""
    visited = visited if visited is not None else set()
    here = FsPath(os.path.realpath(folder))
    if here in visited:
        return  # a folder link back to where the walk has been (a loop, or a second way in)
    visited.add(here)
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as e:
        problems.append(
            Diagnostic(
                severity=Severity.ERROR,
                summary=f"cannot read folder: {e.strerror or e}",
                source=SourceRef(path=_display(folder, base)),
            )
        )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = FsPath(entry.path)
        if entry.is_symlink():
            real = FsPath(os.path.realpath(path))
            if not real.exists() or real.is_dir() or path.suffix in YAML_SUFFIXES:
                problem = _link_problem(path, real, boundary, base)
                if problem is not None:
                    problems.append(problem)
                    continue
            if real.is_dir():
                _walk(
                    path,
                    boundary=boundary,
                    found=found,
                    problems=problems,
                    base=base,
                    visited=visited,
                )
            elif real.is_file() and path.suffix in YAML_SUFFIXES:
                found.append(path)
        elif entry.is_dir(follow_symlinks=False):
            _walk(
                path, boundary=boundary, found=found, problems=problems, base=base, visited=visited
            )
        elif entry.is_file(follow_symlinks=False) and path.suffix in YAML_SUFFIXES:
            found.append(path)


def _link_problem(path: FsPath, real: FsPath, boundary: FsPath, base: FsPath) -> Diagnostic | None:
    """Why `path` (whose target resolves to `real`) may not be read, or None when it may.

    Only links are judged: a path that is not a link reads what it names. The message names
    the link as written, never anything read from its target.
    """
    if not _through_link(path):
        return None
    if not real.exists():
        summary = "points to nothing; fix the link or delete it"
    elif not _within(real, boundary):
        summary = (
            "leads outside the project; copy the file into the project, or point the link inside it"
        )
    else:
        return None
    return Diagnostic(
        severity=Severity.ERROR,
        summary=f"symlink to {_link_text(path)!r} {summary}",
        source=SourceRef(path=_display(path, base)),
    )


def _through_link(path: FsPath) -> bool:
    """True when `path` or one of its folders is a symlink (so its real place may differ)."""
    return path.is_symlink() or FsPath(os.path.realpath(path)) != FsPath(os.path.abspath(path))


def _link_text(path: FsPath) -> str:
    """What the nearest link on `path` says (as its author wrote it), for messages."""
    for candidate in (path, *path.parents):
        if candidate.is_symlink():
            return os.readlink(candidate)
    return str(path)


def _within(path: FsPath, folder: FsPath) -> bool:
    return path == folder or folder in path.parents


def _display(path: FsPath, base: FsPath) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def interpolate(
    document: loader.LoadedDocument,
    variables: Mapping[str, str],
    *,
    target: Target | None = None,
) -> tuple[loader.LoadedDocument, tuple[Diagnostic, ...]]:
    """Replace `${var.NAME}` in every string value; `$${` writes a literal `${`.

    Undefined variables and other `${...}` forms are located errors (the text stays as written).
    """
    problems: list[Diagnostic] = []

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return _substitute(value, path)
        return value

    def _substitute(text: str, path: Path) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            inner, closed = match.group(1), match.group(2)
            name = _VAR_NAME.fullmatch(inner)
            if closed is None:
                problems.append(
                    _problem(
                        document,
                        path,
                        "unterminated '${'; close it with '}' or write '$${' for a literal '${'",
                    )
                )
            elif name is None:
                problems.append(
                    _problem(
                        document,
                        path,
                        f"unsupported interpolation '${{{inner}}}'; only ${{var.NAME}} is "
                        "supported (write '$${' for a literal '${')",
                    )
                )
            elif name.group(1) in variables:
                return variables[name.group(1)]
            else:
                problems.append(_problem(document, path, _undefined(name.group(1), target)))
            return match.group(0)

        return _INTERPOLATION.sub(replace, text)

    data = walk(document.data, ())
    if not problems and data == document.data:
        return document, ()
    return _replace_data(document, data), tuple(problems)


def _replace_data(document: loader.LoadedDocument, data: Any) -> loader.LoadedDocument:
    return loader.LoadedDocument(
        path=document.path,
        index=document.index,
        data=data,
        source=document.source,
        positions=document.positions,
        key_positions=document.key_positions,
    )


def _undefined(name: str, target: Target | None) -> str:
    if target is None:
        return (
            f"undefined variable '{name}': no target is selected; "
            f"pass --target or --var {name}=VALUE"
        )
    return (
        f"undefined variable '{name}': target '{target.name}' does not define it; add it "
        f"under targets.{target.name}.variables in servingops.yaml or pass --var {name}=VALUE"
    )


def _problem(document: loader.LoadedDocument, path: Path, message: str) -> Diagnostic:
    return Diagnostic(
        severity=Severity.ERROR,
        summary=message,
        source=document.locate(path),
        pointer=render_pointer(path),
    )


def to_desired(document: loader.LoadedDocument) -> DesiredDocument:
    """Convert one valid document to the API create-body shape, carrying positions along.

    `served_models` becomes `served_entities`, a tags mapping becomes `[{key, value}]`,
    top-level `rate_limits` moves to `ai_gateway.rate_limits` (its position stays under
    `("rate_limits",)`, the mark of the legacy form); nothing else is added.
    """
    data: Mapping[str, Any] = document.data
    body: dict[str, Any] = {k: copy(data[k]) for k in _TOP_LEVEL if k in data}
    renames: list[tuple[Path, Path]] = []
    config = body.get("config")
    if isinstance(config, dict):
        _convert_config(config, renames)
    tag_positions: dict[Path, SourceRef] = {}
    if isinstance(data.get("tags"), Mapping):
        body["tags"] = []
        for i, (key, value) in enumerate(data["tags"].items()):
            body["tags"].append({"key": key, "value": value})
            key_ref = document.key_positions.get(("tags", key))
            value_ref = document.positions.get(("tags", key))
            if key_ref is not None:
                tag_positions[("tags", i)] = key_ref
                tag_positions[("tags", i, "key")] = key_ref
            if value_ref is not None:
                tag_positions[("tags", i, "value")] = value_ref
    if "rate_limits" in data:
        gateway = body.setdefault("ai_gateway", {})
        gateway["rate_limits"] = copy(data["rate_limits"])
        renames.append((("rate_limits",), ("ai_gateway", "rate_limits")))
    positions = _remap_positions(
        document, renames, tags_mapping=isinstance(data.get("tags"), Mapping)
    )
    positions.update(tag_positions)
    if "rate_limits" in data:
        ref = document.key_positions.get(("rate_limits",))
        if ref is not None:
            # Kept so the plan can say that the legacy limits go out as AI-gateway limits.
            positions[("rate_limits",)] = ref
            if "ai_gateway" not in data:
                positions.setdefault(("ai_gateway",), ref)
    return DesiredDocument(
        name=str(body.get("name", "")),
        body=body,
        source=document.source,
        positions=positions,
        rollout=rollout.spec_from_block(data.get("rollout")),  # never part of the API body
    )


def _convert_config(config: dict[str, Any], renames: list[tuple[Path, Path]]) -> None:
    config.pop("name", None)  # the PUT config path parameter; validation warned that it is ignored
    if "served_models" in config and "served_entities" not in config:
        models = config.pop("served_models")
        config["served_entities"] = [
            {_LEGACY_ENTITY_KEYS.get(k, k): v for k, v in m.items()} for m in models
        ]
        renames.append((("config", "served_models"), ("config", "served_entities")))
    routes = (config.get("traffic_config") or {}).get("routes") or []
    for i, route in enumerate(routes):
        if "served_model_name" in route:
            legacy = route.pop("served_model_name")
            route.setdefault("served_entity_name", legacy)
            renames.append(
                (
                    ("config", "traffic_config", "routes", i, "served_model_name"),
                    ("config", "traffic_config", "routes", i, "served_entity_name"),
                )
            )


def _remap_positions(
    document: loader.LoadedDocument, renames: Sequence[tuple[Path, Path]], *, tags_mapping: bool
) -> dict[Path, SourceRef]:
    out: dict[Path, SourceRef] = {}
    for path, ref in document.positions.items():
        if tags_mapping and len(path) > 1 and path[0] == "tags":
            continue  # rebuilt from the mapping's keys and values
        out.setdefault(_rename(path, renames), ref)
    return out


def _rename(path: Path, renames: Sequence[tuple[Path, Path]]) -> Path:
    for old, new in renames:
        if path[: len(old)] == old:
            path = new + path[len(old) :]
            if old[:2] == ("config", "served_models") and len(path) > 3:
                field = path[3]
                if isinstance(field, str) and field in _LEGACY_ENTITY_KEYS:
                    path = (*path[:3], _LEGACY_ENTITY_KEYS[field], *path[4:])
    return path
