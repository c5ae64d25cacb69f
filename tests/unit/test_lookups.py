"""Pre-flight's reads through engine.compute_plan: what is asked, how often, and under which
bound; what 403, 404 and other failures become."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from servingops import engine
from servingops.errors import ApiError, NotFound, PermissionDenied
from servingops.model import OWNER_TAG, ActionKind, DesiredDocument, Plan, Severity, SourceRef

OWNER = "o"


def entity(version: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "entity_name": "main.risk.fraud",
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
        **extra,
    }


def doc(name: str, version: str = "8", **body: Any) -> DesiredDocument:
    env = {"environment_vars": {"K": "{{secrets/llm/k}}"}}
    return DesiredDocument(
        name=name,
        body={
            "name": name,
            "config": {"served_entities": [entity(version, **env)]},
            "permissions": [{"group_name": "risk", "permission_level": "CAN_QUERY"}],
            **body,
        },
        source=SourceRef(path=f"{name}.yaml", line=1, column=1),
    )


class Workspace:
    """A fake reader of endpoints and of what configs refer to. Every call yields to the loop a
    few times (so concurrent calls overlap) and is recorded; `fail` maps a lookup name to the
    exception it raises."""

    def __init__(self, live: list[dict[str, Any]] | None = None) -> None:
        self.live = {e["name"]: e for e in live or []}
        self.calls: list[tuple[str, ...]] = []
        self.inflight = 0
        self.most = 0
        self.fail: dict[str, Exception] = {}

    async def _call(self, *what: str) -> None:
        self.calls.append(what)
        self.inflight += 1
        self.most = max(self.most, self.inflight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            failure = self.fail.get(what[-1])
            if failure is not None:
                raise failure
        finally:
            self.inflight -= 1

    async def list_endpoints(self) -> list[dict[str, Any]]:
        await self._call("list")
        return [{"name": n, "id": n, "tags": e.get("tags", [])} for n, e in self.live.items()]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        await self._call("get", name)
        return self.live.get(name)

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        await self._call("acl", endpoint_id)
        return {"access_control_list": [{"group_name": "risk", "permission_level": "CAN_QUERY"}]}

    async def me(self) -> dict[str, Any]:
        await self._call("me")
        return {"userName": "me@example.com"}

    async def get_model_version(self, full_name: str, version: str) -> dict[str, Any]:
        await self._call("version", full_name, version)
        return {"version": int(version), "status": "READY"}

    async def get_model_version_by_alias(self, full_name: str, alias: str) -> dict[str, Any]:
        await self._call("alias", full_name, alias)
        return {"version": 8, "status": "READY"}

    async def list_secret_keys(self, scope: str) -> list[str]:
        await self._call("scope", scope)
        return ["k"]

    async def find_principals(self, kind: str, name: str) -> list[dict[str, Any]]:
        await self._call(kind, name)
        return [{"id": "1"}]

    def kinds(self, kind: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == kind]


def plan(workspace: Workspace, documents: list[DesiredDocument], *, parallelism: int = 16) -> Plan:
    result, _ = asyncio.run(
        engine.compute_plan(workspace, documents, owner=OWNER, parallelism=parallelism)
    )
    return result


def live_of(document: DesiredDocument) -> dict[str, Any]:
    """The GET answer for an endpoint that matches `document` and is owned by this project."""
    config = document.body["config"]
    return {
        "name": document.name,
        "id": document.name,
        "config": {**config, "config_version": 1},
        "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
        "tags": [{"key": OWNER_TAG, "value": OWNER}],
    }


def test_ten_endpoints_referring_to_one_version_read_it_once() -> None:
    workspace = Workspace()
    result = plan(workspace, [doc(f"e{i}") for i in range(10)])
    assert result.count(ActionKind.CREATE) == 10
    assert result.problems == ()
    assert workspace.kinds("version") == [("version", "main.risk.fraud", "8")]
    assert workspace.kinds("scope") == [("scope", "llm")]
    assert workspace.kinds("group") == [("group", "risk")]


def test_an_alias_is_read_once_and_its_answer_checks_the_version() -> None:
    workspace = Workspace()
    result = plan(workspace, [doc("a", "@champion"), doc("b", "@champion")])
    assert workspace.kinds("alias") == [("alias", "main.risk.fraud", "champion")]
    assert workspace.kinds("version") == []  # the alias answered with the version's status
    assert [p.display for p in result.pins] == ["@champion (8)", "@champion (8)"]
    create = result.actions[0].after
    assert create is not None
    assert create.body["config"]["served_entities"]["main"]["entity_version"] == "8"


def test_unchanged_endpoints_are_not_checked() -> None:
    same = doc("same")
    workspace = Workspace(live=[live_of(same)])
    result = plan(workspace, [same])
    assert result.unchanged == ("same",)
    assert [c[0] for c in workspace.calls if c[0] not in ("list", "get", "acl", "me")] == []


def test_lookups_share_the_live_reads_bound_and_aliases_overlap_them() -> None:
    documents = [doc(f"e{i}", "@champion" if i == 0 else str(i)) for i in range(12)]
    workspace = Workspace(live=[live_of(doc(f"e{i}", "1")) for i in range(12)])
    plan(workspace, documents, parallelism=3)
    assert workspace.most == 3
    alias_at = workspace.calls.index(("alias", "main.risk.fraud", "champion"))
    last_get = max(i for i, c in enumerate(workspace.calls) if c[0] == "get")
    assert alias_at < last_get  # read beside the live state, not after it


def test_a_forbidden_lookup_is_a_warning_and_the_plan_stays_appliable() -> None:
    workspace = Workspace()
    workspace.fail["8"] = PermissionDenied(
        status=403, method="GET", path="/v", error_code="PERMISSION_DENIED", message="no"
    )
    result = plan(workspace, [doc("a")])
    (problem,) = result.problems
    assert problem.severity is Severity.WARNING
    assert "lacks EXECUTE" in problem.summary
    assert result.applyable


def test_a_missing_object_is_an_error_and_the_plan_is_not_appliable() -> None:
    workspace = Workspace()
    workspace.fail["llm"] = NotFound(
        status=404, method="GET", path="/s", error_code="RESOURCE_DOES_NOT_EXIST", message="gone"
    )
    result = plan(workspace, [doc("a")])
    (problem,) = result.problems
    assert problem.severity is Severity.ERROR
    assert 'secret scope "llm", which does not exist' in problem.summary
    assert not result.applyable


def test_any_other_failure_is_raised_and_leaves_nothing_unretrieved() -> None:
    # The live listing fails while the alias lookup started beside it fails too: one error
    # reaches the user, and asyncio has no second one to print with a traceback.
    workspace = Workspace()
    workspace.fail["list"] = ApiError(status=500, method="GET", path="/l", message="boom")
    workspace.fail["champion"] = ApiError(status=500, method="GET", path="/a", message="also")
    unretrieved: list[dict[str, Any]] = []
    errors: list[str] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: unretrieved.append(ctx))
        try:
            await engine.compute_plan(workspace, [doc("a", "@champion")], owner=OWNER)
        except ApiError as e:
            errors.append(str(e))
        for _ in range(10):
            await asyncio.sleep(0)  # let the alias lookup finish (and fail)
        for failure in workspace.fail.values():
            failure.__traceback__ = None  # the fake reuses them: let their frames go
        gc.collect()  # a future whose failure nobody retrieved reports it when collected

    asyncio.run(run())
    assert errors == ["GET /l failed with HTTP 500: boom"]
    assert unretrieved == []


class EndpointsOnly:
    """A reader of endpoints that cannot look anything else up (engine.LiveReader only)."""

    def __init__(self) -> None:
        self.inner = Workspace()

    async def list_endpoints(self) -> list[dict[str, Any]]:
        return await self.inner.list_endpoints()

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        return await self.inner.get_endpoint(name)

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        return await self.inner.get_permissions(endpoint_id)

    async def me(self) -> dict[str, Any]:
        return await self.inner.me()


def test_a_reader_without_lookups_plans_without_pre_flight() -> None:
    result, _ = asyncio.run(engine.compute_plan(EndpointsOnly(), [doc("a")], owner=OWNER))
    assert result.problems == ()
    assert result.count(ActionKind.CREATE) == 1
    # ...and cannot resolve an alias, which it says instead of guessing.
    result, _ = asyncio.run(
        engine.compute_plan(EndpointsOnly(), [doc("a", "@champion")], owner=OWNER)
    )
    (problem,) = result.problems
    assert "could not be resolved" in problem.summary
