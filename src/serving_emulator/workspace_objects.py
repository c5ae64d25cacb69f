"""The workspace objects a serving config refers to, as one set of services over the `Store`:
the Unity Catalog registry, secret scopes and SCIM principals (built together by `Emulator`)."""

from __future__ import annotations

from dataclasses import dataclass

from . import objectstore
from .clock import Clock
from .principals import Directory
from .registry import Registry
from .scim import Scim
from .secret_scopes import SecretScopes
from .store import Store


@dataclass(frozen=True)
class WorkspaceObjectServices:
    """What the routes and the rollout and ACL checks consult."""

    registry: Registry
    scopes: SecretScopes
    scim: Scim

    @classmethod
    def over(
        cls,
        store: Store,
        clock: Clock,
        directory: Directory,
        *,
        admin_user: str,
        workspace_id: str,
    ) -> WorkspaceObjectServices:
        store.ensure_schema(objectstore.SCHEMA)
        return cls(
            registry=Registry(store, clock, admin_user=admin_user, workspace_id=workspace_id),
            scopes=SecretScopes(store, clock),
            scim=Scim(store, directory),
        )
