"""What the day-2 commands (status, logs, openapi, query) share: the target's workspace, the
project's endpoint names, one endpoint read with a one-line error when it does not exist, and
its served entities.

They read live state only; none of them needs the endpoint files to be valid (status takes the
names it can find in them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .. import loader
from ..client import Client
from ..desired import collect_files
from ..errors import ReconcilerError, UsageError
from ..project import Project, Target
from ..workspace import Workspace
from . import Settings
from .common import open_workspace, select_inputs

TEXT_OR_JSON = click.Choice(["text", "json"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """The loaded project, its selected target and the workspace that target points at."""

    project: Project
    target: Target | None
    workspace: Workspace


def open_target(settings: Settings, *, project: Path | None, target: str | None) -> Opened:
    """Load the project file, select the target and resolve its workspace (notice to stderr)."""
    loaded, chosen = select_inputs(settings, project=project, target=target)
    workspace = open_workspace(settings, loaded, chosen)
    if workspace.notice:
        click.echo(workspace.notice, err=True)
    return Opened(project=loaded, target=chosen, workspace=workspace)


def declared_names(project: Project) -> dict[str, str]:
    """Endpoint name -> file, for every document of the project's files that names one.

    Read leniently (no variables, no validation): status must work while a file is broken.
    """
    files, _problems = collect_files(project, project.endpoints)
    names: dict[str, str] = {}
    for path, display in files:
        for document in loader.load_file(path, display=display).documents:
            name = document.data.get("name") if isinstance(document.data, Mapping) else None
            if isinstance(name, str) and name:
                names.setdefault(name, display)
    return names


def missing(name: str, workspace: Workspace) -> ReconcilerError:
    return ReconcilerError(
        f'endpoint "{name}" does not exist in {workspace.label}; '
        "servingops status lists the project's endpoints"
    )


async def get_endpoint(client: Client, name: str, workspace: Workspace) -> dict[str, Any]:
    """The endpoint's GET response, or the one-line error naming the workspace."""
    raw = await client.get_endpoint(name)
    if raw is None:
        raise missing(name, workspace)
    return raw


def served_entities(raw: Mapping[str, Any]) -> list[str]:
    """Served entity names of the active config, then those only in the pending one."""
    names: list[str] = []
    for block in ("config", "pending_config"):
        config = raw.get(block)
        entities = config.get("served_entities") if isinstance(config, Mapping) else None
        for entity in entities or []:
            name = entity.get("name") if isinstance(entity, Mapping) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def pick_entity(raw: Mapping[str, Any], entity: str | None, *, command: str) -> str:
    """The served entity to use: the one named (which must exist), or the only one."""
    name = str(raw.get("name", ""))
    names = served_entities(raw)
    if entity is not None:
        if entity not in names:
            served = ", ".join(names) or "none"
            raise ReconcilerError(
                f'endpoint "{name}" has no served entity "{entity}" (it serves: {served})'
            )
        return entity
    if not names:
        raise ReconcilerError(
            f'endpoint "{name}" serves no entity yet (it has no config); nothing to show'
        )
    if len(names) > 1:
        raise UsageError(
            f'endpoint "{name}" serves {len(names)} entities ({", ".join(names)}); name one: '
            f"servingops {command} {name} ENTITY"
        )
    return names[0]


def tail(text: str, lines: int | None) -> str:
    """The last `lines` lines of `text` (all of it when None)."""
    if lines is None:
        return text
    kept = text.splitlines()[-lines:] if lines else []
    return "\n".join(kept) + ("\n" if kept else "")


def unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))
