"""Open the workspace a target points at: a real host with unified auth, or the embedded one.

The embedded `local` workspace is the emulator running in-process over SQLite in
`.servingops/local.db` under the project root, so separate CLI runs share its state and its
updates finish on the wall clock. Nothing here prints; the CLI shows `notice` when set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .auth import Credentials, resolve_credentials
from .client import DEFAULT_RETRY, Client, RetryPolicy
from .errors import ConfigError
from .model import Diagnostic, Severity, SourceRef
from .project import Project, Target

LOCAL_HOST = "http://local.servingops"
LOCAL_DB = Path(".servingops") / "local.db"
LOCAL_UPDATE_SECONDS = 3.0
"""How long a rollout takes in the embedded workspace: long enough to watch apply wait."""


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """Where the commands talk to. `label` is safe to print (no credentials)."""

    label: str
    creds: Credentials = field(repr=False)
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    local: bool = False
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
    if target is not None and target.workspace == "local":
        return open_local(project.root, update_seconds=update_seconds)
    creds = resolve_credentials(
        host=target.host if target else None,
        profile=target.profile if target else None,
        env=env,
        home=home,
    )
    if creds is None:
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
        ws = open_local(project.root, update_seconds=update_seconds)
        return Workspace(
            label=ws.label,
            creds=ws.creds,
            transport=ws.transport,
            local=True,
            notice=(
                "notice: no Databricks host configured (target, DATABRICKS_HOST or "
                f"~/.databrickscfg); using the embedded local workspace in {LOCAL_DB}"
            ),
        )
    return Workspace(label=creds.host, creds=creds, env=env)


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


def open_local(root: Path, *, update_seconds: float = LOCAL_UPDATE_SECONDS) -> Workspace:
    """The embedded emulator over `<root>/.servingops/local.db` (created on first use).

    `update_seconds` is how long a rollout takes (SERVINGOPS_LOCAL_UPDATE_SECONDS).
    """
    from serving_emulator import Emulator, EmulatorConfig, SystemClock

    db = root / LOCAL_DB
    db.parent.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(
        EmulatorConfig(update_seconds=update_seconds),
        db_path=str(db),
        clock=SystemClock(),
    )
    creds = Credentials(host=LOCAL_HOST, token="local", source="embedded local workspace")
    return Workspace(
        label=f"local ({LOCAL_DB})",
        creds=creds,
        transport=httpx.ASGITransport(app=emulator.app),
        local=True,
    )
