"""Desired state from files: load, interpolate variables, validate, convert to API create bodies.

This is the one entry the rest of the system reads desired endpoints through. Bodies hold only
what the user wrote (no defaults filled in; normalize.py does that), in the REST API's shape.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from types import MappingProxyType
from typing import Any

from . import loader, rules, schema
from .model import DesiredDocument, Diagnostic, Path, Severity, SourceRef, render_pointer
from .project import Project, Target

YAML_SUFFIXES = (".yaml", ".yml")

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)(\})?")
_VAR_NAME = re.compile(r"var\.([A-Za-z_][A-Za-z0-9_]*)")

_TOP_LEVEL = (
    "name",
    "description",
    "route_optimized",
    "budget_policy_id",
    "config",
    "tags",
    "ai_gateway",
    "email_notifications",
    "telemetry_config",
    "uc_system_metrics_export_state",
    "permissions",
)

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
            documents.append(document)
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
    read once.
    """
    files: list[tuple[FsPath, str]] = []
    problems: list[Diagnostic] = []
    seen: set[FsPath] = set()
    skip = project.path.resolve() if project.path else None
    for root in roots:
        root = root if root.is_absolute() else project.root / root
        if root.is_dir():
            found = sorted(
                p
                for p in root.rglob("*")
                if p.suffix in YAML_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
        elif root.is_file():
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
        for path in found:
            key = path.resolve()
            if key in seen or key == skip:
                continue
            seen.add(key)
            files.append((path, _display(path, project.root)))
    return files, problems


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
    body: dict[str, Any] = {k: copy.deepcopy(data[k]) for k in _TOP_LEVEL if k in data}
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
        gateway["rate_limits"] = copy.deepcopy(data["rate_limits"])
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
