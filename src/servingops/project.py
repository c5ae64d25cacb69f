"""The project file `servingops.yaml`: where desired state lives, its owner, and named targets.

Without a project file the defaults apply: endpoints from ./endpoints, owner `default`, no
targets. Problems in the file raise ConfigError with located diagnostics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import loader, schema
from .errors import ConfigError, UsageError
from .model import Diagnostic, Severity

PROJECT_FILE = "servingops.yaml"
DEFAULT_OWNER = "default"
DEFAULT_ENDPOINTS = "endpoints"
LOCAL_WORKSPACE = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One workspace to plan and apply against.

    `workspace` is "local" for the embedded emulated workspace; otherwise `host` and/or
    `profile` (a ~/.databrickscfg profile) say where it is, falling back to the environment.
    `owner`, when set, overrides the project's owner for this target. `prune` and
    `environment` are read by CI only: the generated workflows pass `--prune` to plan for a
    target that says `prune: true`, and gate its apply with the deployment environment named
    `environment` (default: the target's name).
    """

    name: str
    workspace: str | None = None
    host: str | None = None
    profile: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None
    prune: bool = False
    environment: str | None = None

    @property
    def is_local(self) -> bool:
        return self.workspace == LOCAL_WORKSPACE

    @property
    def environment_name(self) -> str:
        """The CI deployment environment that gates apply for this target."""
        return self.environment or self.name

    @property
    def secret_suffix(self) -> str:
        """The target's name as CI variable names carry it: `prod-eu` -> `PROD_EU`."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """A loaded project. `path` is None when no project file exists; `root` anchors paths."""

    path: Path | None
    root: Path
    endpoints: tuple[Path, ...]
    owner: str
    default_target: str | None
    targets: Mapping[str, Target]

    def owner_for(self, target: Target | None) -> str:
        """The ownership tag value used for `target` (its override, else the project's)."""
        return target.owner if target is not None and target.owner else self.owner


def load_project(cwd: Path, explicit: Path | None = None) -> Project:
    """Read `explicit` (relative to cwd), else `cwd/servingops.yaml`, else use the defaults."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else cwd / explicit
        if not path.is_file():
            raise UsageError(
                f"project file {explicit} does not exist; check the --project path, or run "
                "servingops init to create a servingops.yaml"
            )
    else:
        path = cwd / PROJECT_FILE
        if not path.is_file():
            return Project(
                path=None,
                root=cwd,
                endpoints=(cwd / DEFAULT_ENDPOINTS,),
                owner=DEFAULT_OWNER,
                default_target=None,
                targets={},
            )
    display = _display(path, cwd)
    result = loader.load_file(path, display=display)
    if result.diagnostics:
        raise ConfigError(result.diagnostics)
    root = path.parent
    if not result.documents:
        data: Any = {}
        document = None
    else:
        document = result.documents[0]
        data = document.data
        if len(result.documents) > 1:
            extra = result.documents[1]
            raise ConfigError(
                [_error(extra, "the project file holds one document; remove the extra '---' part")]
            )
        problems = schema.validate(document, schema=schema.PROJECT_SCHEMA)
        problems += _check(document)
        if problems:
            raise ConfigError(problems)
    return _build(data, path=path, root=root)


def select_target(project: Project, name: str | None) -> Target | None:
    """The target called `name`, else the project's default; None when there is neither."""
    chosen = name if name is not None else project.default_target
    if chosen is None:
        return None
    target = project.targets.get(chosen)
    if target is not None:
        return target
    if not project.targets and chosen == LOCAL_WORKSPACE:
        return Target(name=LOCAL_WORKSPACE, workspace=LOCAL_WORKSPACE)
    if project.targets:
        known = ", ".join(sorted(project.targets))
        raise UsageError(f"unknown target {chosen!r}; known targets: {known}")
    where = f"{project.path.name} defines" if project.path else "there is no servingops.yaml, so"
    raise UsageError(f"unknown target {chosen!r}: {where} no targets")


def _display(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return str(path)


def _error(document: loader.LoadedDocument, message: str, *key: str) -> Diagnostic:
    return Diagnostic(
        severity=Severity.ERROR,
        summary=message,
        source=document.locate(tuple(key)),
        pointer=".".join(key),
    )


def _check(document: loader.LoadedDocument) -> tuple[Diagnostic, ...]:
    data = document.data
    if not isinstance(data, Mapping):
        return ()
    out: list[Diagnostic] = []
    targets = data.get("targets")
    targets = targets if isinstance(targets, Mapping) else {}
    default = data.get("default_target")
    if isinstance(default, str) and default not in targets:
        known = ", ".join(sorted(str(t) for t in targets)) or "none"
        out.append(
            Diagnostic(
                severity=Severity.ERROR,
                summary=f"default_target {default!r} is not a defined target (targets: {known})",
                source=document.locate(("default_target",)),
                pointer="default_target",
            )
        )
    for name, spec in targets.items():
        if not isinstance(spec, Mapping):
            continue
        if spec.get("workspace") == LOCAL_WORKSPACE:
            for key in ("host", "profile"):
                if key in spec:
                    out.append(
                        Diagnostic(
                            severity=Severity.ERROR,
                            summary=f"a target with workspace: local cannot also set {key}",
                            source=document.locate(("targets", name, key), key=True),
                            pointer=f"targets.{name}.{key}",
                        )
                    )
    owner = data.get("owner")
    if isinstance(owner, str) and not owner.strip():
        out.append(_error(document, "owner must not be empty", "owner"))
    return tuple(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _build(data: Mapping[str, Any], *, path: Path, root: Path) -> Project:
    raw_endpoints = data.get("endpoints", DEFAULT_ENDPOINTS)
    listed = [raw_endpoints] if isinstance(raw_endpoints, str) else list(raw_endpoints)
    targets: dict[str, Target] = {}
    for name, spec in (data.get("targets") or {}).items():
        spec = spec or {}
        targets[name] = Target(
            name=name,
            workspace=spec.get("workspace"),
            host=spec.get("host"),
            profile=spec.get("profile"),
            variables={k: _text(v) for k, v in (spec.get("variables") or {}).items()},
            owner=spec.get("owner"),
            prune=spec.get("prune") is True,
            environment=spec.get("environment"),
        )
    return Project(
        path=path,
        root=root,
        endpoints=tuple(root / p for p in listed),
        owner=data.get("owner", DEFAULT_OWNER),
        default_target=data.get("default_target"),
        targets=targets,
    )
