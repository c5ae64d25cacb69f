"""`Emulator`: one emulated workspace (config, clock, SQLite store, identities) and its ASGI app."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from starlette.applications import Starlette

from .app import build_app
from .clock import Clock, ManualClock, SystemClock
from .config import EmulatorConfig, EntityFault
from .dataplane import DataPlane
from .objects import load_objects
from .objectstore import seed
from .principals import Directory
from .service import Workspace
from .store import Store
from .workspace_objects import WorkspaceObjectServices

ClockT = TypeVar("ClockT", bound=Clock)

SEED_BASE_URL = "http://emulator.local"


class Emulator(Generic[ClockT]):
    """An emulated Databricks workspace serving the Model Serving API.

    `app` is the ASGI application (use it with `httpx.ASGITransport`, or serve it with
    `serve_in_thread` / uvicorn). `db_path` is `":memory:"` or a SQLite file; instances on the
    same file share state and see the same state progression. `clock` defaults to the system
    clock; pass a `ManualClock` to drive time from tests.
    """

    @overload
    def __init__(
        self: Emulator[SystemClock],
        config: EmulatorConfig | None = None,
        *,
        db_path: str | Path = ":memory:",
        clock: None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        db_path: str | Path = ":memory:",
        clock: ClockT,
    ) -> None: ...

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        db_path: str | Path = ":memory:",
        clock: Any = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: ClockT = clock if clock is not None else SystemClock()  # type: ignore[assignment]
        if self.config.users_file is not None:
            directory = Directory.from_file(self.config.users_file)
        else:
            directory = Directory.single_admin(self.config.admin_user)
        # A bad objects file fails here, before anything is served or written.
        objects = load_objects(self.config.objects) if self.config.objects is not None else None
        self._store = Store(str(db_path))
        services = WorkspaceObjectServices.over(
            self._store,
            self.clock,
            directory,
            admin_user=self.config.admin_user,
            workspace_id=self.config.workspace_id,
        )
        self._workspace = Workspace(self.config, self.clock, self._store, directory, services)
        if objects is not None:
            seed(
                self._store, objects, now_ms=self._workspace.now_ms(), owner=self.config.admin_user
            )
        self._dataplane = DataPlane(self._workspace)
        self.app: Starlette = build_app(self._workspace, self._dataplane)

    def advance(self, seconds: float) -> None:
        """Move a `ManualClock` forward; rollouts whose deadline passed now appear finished."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs an Emulator built with a ManualClock")
        self.clock.advance(seconds)

    def seed_endpoint(
        self,
        body: Mapping[str, Any],
        *,
        creator: str | None = None,
        ready: bool = True,
    ) -> dict[str, Any]:
        """Create an endpoint out of band, as another tool would (no auth, no write budget).

        `body` is a create request. With `ready` (default) its config is active at once
        (READY / NOT_UPDATING, config_version 1); otherwise it rolls out like a normal create.
        `creator` (default: the admin user) gets CAN_MANAGE. Returns the GET shape.
        """
        return self._workspace.seed_endpoint(
            body,
            creator=creator or self.config.admin_user,
            ready=ready,
            base_url=SEED_BASE_URL,
        )

    def seed_objects(self, data: Mapping[str, Any]) -> None:
        """Add workspace objects out of band, in the objects-file format (see EmulatorConfig).

        Merges into what exists: each model, scope and principal named is added or updated
        (version statuses and aliases set as given), and each kind named becomes authoritative.
        Raises `ObjectsFileError` for malformed data.
        """
        seed(
            self._store,
            load_objects(data),
            now_ms=self._workspace.now_ms(),
            owner=self.config.admin_user,
        )

    def set_entity_fault(
        self, target: str, *, error_rate: float = 0.0, latency_ms: float = 0.0
    ) -> None:
        """Make a served entity misbehave from now on, as a bad model version would.

        `target` is `ENDPOINT/SERVED_ENTITY` or `MODEL@VERSION` (see `EmulatorConfig.
        entity_faults`). Stored in the database, so every process sharing it sees the fault;
        `PUT /_emulator/entity-faults/{target}` does the same over HTTP.
        """
        fault = EntityFault(error_rate=error_rate, latency_ms=latency_ms)  # ValueError if bad
        self._dataplane.set_entity_fault(
            None, target, {"error_rate": fault.error_rate, "latency_ms": fault.latency_ms}
        )

    def clear_entity_fault(self, target: str) -> None:
        """Undo `set_entity_fault` for `target` (a start-up fault for it applies again)."""
        self._dataplane.clear_entity_fault(None, target)

    def close(self) -> None:
        """Close the database connection (the file, if any, keeps the state)."""
        self._store.close()

    def __enter__(self) -> Emulator[ClockT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
