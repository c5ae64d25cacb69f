"""Open the workspace a target points at: a real host with unified auth, or the embedded one.

The embedded `local` workspace is the emulator running in-process over SQLite in
`.servingops/local.db` under the project root, so separate CLI runs share its state and its
updates finish on the wall clock. Nothing here prints; the CLI shows `notice` when set.

The local workspace has no objects file, so any Unity Catalog model version exists and is READY
and any principal exists. Secret scopes are the exception (a key can only be found by listing
its scope), so each open declares the scopes and keys the project's endpoint files reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from .auth import Credentials, resolve_credentials
from .client import DEFAULT_RETRY, Client, RetryPolicy
from .desired import collect_files
from .errors import ConfigError
from .fields import SECRET_REFERENCE
from .model import Diagnostic, Severity, SourceRef
from .project import Project, Target

LOCAL_HOST = "http://local.servingops"
LOCAL_DB = Path(".servingops") / "local.db"
LOCAL_UPDATE_SECONDS = 3.0
"""How long a rollout takes in the embedded workspace: long enough to watch apply wait."""

# Names the emulator accepts for a scope and a key (a reference written with `${var.x}` or other
# characters is left to validation, not declared).
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_SECRET_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """Where the commands talk to. `label` is safe to print (no credentials)."""

    label: str
    creds: Credentials = field(repr=False)
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    notice: str = ""
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment the command runs in: its proxy and CA bundle settings apply."""

    def client(self, *, retry: RetryPolicy = DEFAULT_RETRY, max_connections: int = 16) -> Client:
        return Client(
            self.creds,
            env=self.env,
            transport=self.transport,
            retry=retry,
            max_connections=max_connections,
        )


def resolve_workspace(
    project: Project,
    target: Target | None,
    *,
    env: Mapping[str, str],
    home: Path,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Workspace:
    """The workspace for `target`; `transport` (tests) replaces the network for any host."""
    if transport is not None:
        fake = Credentials(host=LOCAL_HOST, token="test", source="test transport")
        return Workspace(label="test workspace", creds=fake, transport=transport)
    update_seconds = _local_update_seconds(env)
    notice = ""
    if target is None or target.workspace != "local":
        creds = resolve_credentials(
            host=target.host if target else None,
            profile=target.profile if target else None,
            env=env,
            home=home,
        )
        if creds is not None:
            return Workspace(label=creds.host, creds=creds, env=env)
        if target is not None and (target.host or target.profile):
            raise ConfigError(
                [
                    Diagnostic(
                        severity=Severity.ERROR,
                        summary=f'target "{target.name}" has no usable workspace host',
                        source=SourceRef(path=str(project.path or "servingops.yaml")),
                    )
                ]
            )
        notice = (
            "notice: no Databricks host configured (target, DATABRICKS_HOST or "
            f"~/.databrickscfg); using the embedded local workspace in {LOCAL_DB}"
        )
    local = open_local(
        project.root, update_seconds=update_seconds, secrets=secret_references(project)
    )
    return replace(local, notice=notice)


def _local_update_seconds(env: Mapping[str, str]) -> float:
    raw = env.get("SERVINGOPS_LOCAL_UPDATE_SECONDS")
    try:
        return max(0.0, float(raw)) if raw else LOCAL_UPDATE_SECONDS
    except ValueError:
        raise ConfigError(
            [
                Diagnostic(
                    severity=Severity.ERROR,
                    summary=f"SERVINGOPS_LOCAL_UPDATE_SECONDS must be a number of seconds, "
                    f"not {raw!r}",
                )
            ]
        ) from None


def secret_references(project: Project) -> dict[str, list[str]]:
    """Scope -> key names of every `{{secrets/scope/key}}` in the project's endpoint files.

    Read from the files' text, so a file that does not validate still contributes.
    """
    files, _problems = collect_files(project, project.endpoints)
    found: dict[str, set[str]] = {}
    for path, _display in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # validation reports it
        for match in SECRET_REFERENCE.finditer(text):
            scope, key = match.group(0)[len("{{secrets/") : -len("}}")].split("/")
            if _SCOPE_NAME.match(scope) and _SECRET_KEY.match(key):
                found.setdefault(scope, set()).add(key)
    return {scope: sorted(keys) for scope, keys in sorted(found.items())}


def open_local(
    root: Path,
    *,
    update_seconds: float = LOCAL_UPDATE_SECONDS,
    secrets: Mapping[str, Sequence[str]] | None = None,
) -> Workspace:
    """The embedded emulator over `<root>/.servingops/local.db` (created on first use).

    `update_seconds` is how long a rollout takes (SERVINGOPS_LOCAL_UPDATE_SECONDS). `secrets`
    (scope -> key names) are declared in the workspace, added to what it already holds.
    """
    from serving_emulator import Emulator, EmulatorConfig, SystemClock

    db = root / LOCAL_DB
    db.parent.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(
        EmulatorConfig(update_seconds=update_seconds),
        db_path=str(db),
        clock=SystemClock(),
    )
    if secrets:
        emulator.seed_objects({"secrets": {scope: list(keys) for scope, keys in secrets.items()}})
    creds = Credentials(host=LOCAL_HOST, token="local", source="embedded local workspace")
    return Workspace(
        label=f"local ({LOCAL_DB})",
        creds=creds,
        transport=httpx.ASGITransport(app=emulator.app),
    )
