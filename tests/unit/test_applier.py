"""Applier against an in-memory fake workspace (state, not mocks) on a fake clock."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from servingops import engine, normalize
from servingops.applier import apply
from servingops.apply_model import ActionOutcome, ApplyResult, Phase, Progress, Status
from servingops.bodies import tag_patch
from servingops.errors import ApplyError, Conflict, RateLimited
from servingops.model import OWNER_TAG, Action, ActionKind, DesiredDocument, Plan, SourceRef
from servingops.steps import failure_message
from servingops.waiting import WaitPolicy, WriteScheduler, format_duration

OWNER = "team/serving"
CALLER = "me@example.com"


class FakeTime:
    """A clock that moves only when apply sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _err(cls: type[Any], status: int, code: str, **kw: Any) -> Any:
    return cls(status=status, method="X", path="/fake", error_code=code, message=code, **kw)


class FakeWorkspace:
    """Endpoints with rollouts that finish on the fake clock; satisfies EndpointAPI and
    engine.LiveReader. Knobs inject conflicts, 429s, lost answers and failing versions."""

    def __init__(self, time: FakeTime, *, update_seconds: float = 10.0) -> None:
        self.time = time
        self.update_seconds = update_seconds
        self.records: dict[str, dict[str, Any]] = {}
        self.acls: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, str]] = []
        self.writes: list[float] = []
        self.fail_versions: set[str] = set()
        self.rate_limits = 0
        self.lose_create_answers: set[str] = set()
        self.lose_update_answers: set[str] = set()
        self.race_update: set[str] = set()
        self.creates = 0
        self._ids = itertools.count(1)

    # -- seeding (out of band) ------------------------------------------------------------

    def seed(self, name: str, config: Mapping[str, Any], *, tags: Mapping[str, str]) -> None:
        self.records[name] = {
            "id": f"id-{next(self._ids)}",
            "name": name,
            "config": copy.deepcopy(dict(config)),
            "version": 1,
            "pending": None,
            "ready_at": 0.0,
            "failed": False,
            "tags": dict(tags),
            "updated": self.time.now,
            "ai_gateway": None,
            "email_notifications": None,
            "description": "",
        }
        self.acls[self.records[name]["id"]] = {f"user:{CALLER}": "CAN_MANAGE"}

    def start_rollout(self, name: str, config: Mapping[str, Any]) -> None:
        rec = self.records[name]
        rec["pending"] = copy.deepcopy(dict(config))
        rec["ready_at"] = self.time.now + self.update_seconds
        versions = {str(e.get("entity_version")) for e in config["served_entities"]}
        rec["failed"] = bool(versions & self.fail_versions)
        rec["updated"] = self.time.now

    # -- read side ------------------------------------------------------------------------

    async def list_endpoints(self) -> list[dict[str, Any]]:
        self.calls.append(("list", ""))
        return [self._raw(r) for r in self.records.values()]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        self.calls.append(("get", name))
        rec = self.records.get(name)
        return self._raw(rec) if rec else None

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        acl = self.acls.get(endpoint_id, {})
        entries = [
            {
                **{
                    k: v
                    for k, v in normalize.principal_entry(key, level).items()
                    if k != "permission_level"
                },
                "all_permissions": [{"permission_level": level, "inherited": False}],
            }
            for key, level in acl.items()
        ]
        return {"access_control_list": entries}

    async def me(self) -> dict[str, Any]:
        return {"userName": CALLER}

    # -- write side -----------------------------------------------------------------------

    async def create_endpoint(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = str(body["name"])
        self.calls.append(("create", name))
        self._budgeted()
        if name in self.records:
            raise _err(Conflict, 409, "RESOURCE_ALREADY_EXISTS")
        self.creates += 1
        self.seed(name, {}, tags={t["key"]: t["value"] for t in body.get("tags", [])})
        rec = self.records[name]
        rec["config"], rec["version"] = None, 0
        rec["description"] = body.get("description", "")
        rec["ai_gateway"] = body.get("ai_gateway")
        rec["email_notifications"] = body.get("email_notifications")
        if body.get("config"):
            self.start_rollout(name, body["config"])
        if name in self.lose_create_answers:
            self.lose_create_answers.discard(name)
            raise _err(Conflict, 409, "RESOURCE_ALREADY_EXISTS")
        return self._raw(rec)

    async def update_config(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("update_config", name))
        rec = self._settled(name)
        if name in self.race_update:  # someone else starts an update just before ours
            self.race_update.discard(name)
            self.start_rollout(name, rec["config"])
        if self._updating(rec):
            raise _err(Conflict, 409, "RESOURCE_CONFLICT")
        self._budgeted()
        self.start_rollout(name, config)
        if name in self.lose_update_answers:
            self.lose_update_answers.discard(name)
            raise _err(Conflict, 409, "RESOURCE_CONFLICT")  # the retry met our own rollout
        return self._raw(rec)

    async def delete_endpoint(self, name: str) -> None:
        self.calls.append(("delete", name))
        self.records.pop(name, None)

    async def patch_tags(
        self, name: str, *, add: Sequence[Mapping[str, str]], delete: Sequence[str]
    ) -> dict[str, Any]:
        self.calls.append(("patch_tags", name))
        rec = self.records[name]
        for key in delete:
            rec["tags"].pop(key, None)
        for tag in add:
            rec["tags"][tag["key"]] = tag["value"]
        return {"tags": [{"key": k, "value": v} for k, v in rec["tags"].items()]}

    async def put_ai_gateway(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("put_ai_gateway", name))
        self.records[name]["ai_gateway"] = dict(body) or None
        return dict(body)

    async def patch_notifications(
        self, name: str, email_notifications: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(("patch_notifications", name))
        self.records[name]["email_notifications"] = dict(email_notifications)
        return {"name": name}

    async def patch_telemetry(self, name: str, telemetry: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch_telemetry", name))
        self.records[name]["telemetry_config"] = dict(telemetry) or None
        return {"name": name}

    async def patch_metrics_export(self, name: str, state: str) -> dict[str, Any]:
        self.calls.append(("patch_metrics_export", name))
        self.records[name]["uc_system_metrics_export_state"] = state
        return {"name": name}

    async def stop_endpoint(self, name: str) -> dict[str, Any]:
        self.calls.append(("stop", name))
        self.records[name]["stopped"] = True
        return self._raw(self.records[name])

    async def start_endpoint(self, name: str) -> dict[str, Any]:
        self.calls.append(("start", name))
        self._budgeted()
        rec = self.records[name]
        rec["stopped"] = False
        self.start_rollout(name, rec["config"])
        return self._raw(rec)

    async def set_permissions(
        self, endpoint_id: str, acl: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        name = next(n for n, r in self.records.items() if r["id"] == endpoint_id)
        self.calls.append(("set_permissions", name))
        self.acls[endpoint_id] = {
            str(normalize.principal_key(e)): str(e["permission_level"]) for e in acl
        }
        return {}

    async def export_metrics(self, name: str) -> str:
        self.calls.append(("metrics", name))
        return ""  # no traffic: tests of traffic rollouts serve their own minutes

    # -- internals ------------------------------------------------------------------------

    def _budgeted(self) -> None:
        if self.rate_limits:
            self.rate_limits -= 1
            raise _err(RateLimited, 429, "REQUEST_LIMIT_EXCEEDED", retry_after=7.0)
        self.writes.append(self.time.now)

    def _updating(self, rec: dict[str, Any]) -> bool:
        return bool(rec["pending"]) and self.time.now < rec["ready_at"]

    def _settled(self, name: str) -> dict[str, Any]:
        rec = self.records[name]
        if rec["pending"] and not rec["failed"] and self.time.now >= rec["ready_at"]:
            rec["config"], rec["pending"] = rec["pending"], None
            rec["version"] += 1
            rec["updated"] = rec["ready_at"]
        return rec

    def _raw(self, rec: dict[str, Any]) -> dict[str, Any]:
        rec = self._settled(rec["name"])
        if self._updating(rec):
            update = "IN_PROGRESS"
        elif rec["pending"] and rec["failed"]:
            update = "UPDATE_FAILED"
        else:
            update = "NOT_UPDATING"
        raw: dict[str, Any] = {
            "name": rec["name"],
            "id": rec["id"],
            "state": {"config_update": update, "ready": "READY" if rec["config"] else "NOT_READY"},
            "last_updated_timestamp": int(rec["updated"] * 1000),
            "description": rec["description"],
            "tags": [{"key": k, "value": v} for k, v in rec["tags"].items()],
        }
        if rec["config"]:
            raw["config"] = self._config_out(rec["config"], rec["version"], failed=False)
        if rec["pending"]:
            raw["pending_config"] = self._config_out(
                rec["pending"], rec["version"] + 1, failed=update == "UPDATE_FAILED"
            )
        for key in ("ai_gateway", "email_notifications"):
            if rec[key]:
                raw[key] = copy.deepcopy(rec[key])
        return raw

    @staticmethod
    def _config_out(config: Mapping[str, Any], version: int, *, failed: bool) -> dict[str, Any]:
        entities = []
        for entity in config["served_entities"]:
            state = {"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}
            if failed:
                state = {
                    "deployment": "DEPLOYMENT_FAILED",
                    "deployment_state_message": f"container build for {entity['name']} failed",
                }
            entities.append({**copy.deepcopy(entity), "state": state})
        out: dict[str, Any] = {"config_version": version, "served_entities": entities}
        if config.get("traffic_config"):
            out["traffic_config"] = copy.deepcopy(config["traffic_config"])
        return out


class Recorder:
    """An Observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def started(self, action: Action) -> None:
        self.events.append(("started", action.name, None))

    def progress(self, action: Action, progress: Progress) -> None:
        self.events.append(("progress", action.name, progress))

    def finished(self, action: Action, outcome: ActionOutcome) -> None:
        self.events.append(("finished", action.name, outcome))

    def kinds(self, name: str) -> list[str]:
        return [kind for kind, n, _ in self.events if n == name]


def entity(version: str = "1", name: str = "champion") -> dict[str, Any]:
    return {
        "name": name,
        "entity_name": "main.risk.fraud",
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }


def config(version: str = "1") -> dict[str, Any]:
    return {"served_entities": [entity(version)]}


def doc(name: str, version: str = "1", **extra: Any) -> DesiredDocument:
    body = {"name": name, "config": config(version), **extra}
    return DesiredDocument(name=name, body=body, source=SourceRef(path=f"{name}.yaml", line=1))


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def ws(time: FakeTime) -> FakeWorkspace:
    return FakeWorkspace(time)


def policy(time: FakeTime, **kw: Any) -> WaitPolicy:
    return WaitPolicy(sleep=time.sleep, clock=time.clock, wall_clock=time.clock, **kw)


def plan_for(
    ws: FakeWorkspace,
    docs: Sequence[DesiredDocument],
    *,
    prune: bool = False,
    allow_replace: bool = False,
) -> Plan:
    plan, _ = asyncio.run(
        engine.compute_plan(ws, docs, owner=OWNER, prune=prune, allow_replace=allow_replace)
    )
    return plan


def run(ws: FakeWorkspace, plan: Plan, *, observer: Any = None, **kw: Any) -> ApplyResult:
    kw.setdefault("wait", policy(ws.time))
    if observer is not None:
        kw["observer"] = observer
    return asyncio.run(apply(plan, ws, owner=OWNER, caller=f"user:{CALLER}", **kw))


def converge(
    ws: FakeWorkspace,
    docs: Sequence[DesiredDocument],
    *,
    allow_replace: bool = False,
    **kw: Any,
) -> ApplyResult:
    result = run(ws, plan_for(ws, docs, allow_replace=allow_replace), **kw)
    assert plan_for(ws, docs).is_empty
    return result


def writes_only(ws: FakeWorkspace, name: str) -> list[str]:
    return [c for c, n in ws.calls if n == name and c not in ("get", "list")]


# --------------------------------------------------------------------------------------------
# Create, update, replace, delete


def test_create_sets_permissions_before_waiting_then_waits(ws: FakeWorkspace) -> None:
    grants = [{"group_name": "risk", "permission_level": "CAN_QUERY"}]
    rec = Recorder()
    result = converge(
        ws, [doc("fraud", tags=[{"key": "team", "value": "risk"}], permissions=grants)],
        observer=rec,
    )  # fmt: skip
    assert result.ok
    assert result.summary == (1, 0, 0)
    calls = [c for c, n in ws.calls if n == "fraud"]
    calls = calls[calls.index("create") :]  # the plan's probe for an unlisted name comes first
    assert calls[:3] == ["create", "set_permissions", "get"]  # ACL right after the POST
    assert ws.records["fraud"]["tags"] == {"team": "risk", OWNER_TAG: OWNER}
    assert ws.acls["id-1"] == {"group:risk": "CAN_QUERY", f"user:{CALLER}": "CAN_MANAGE"}
    outcome = result.outcomes[0]
    assert outcome.config_version == 1
    assert outcome.ready == "READY"
    assert 0 <= (outcome.overshoot or 0) <= 1.2  # noticed within ~10% of a 10 s rollout
    assert rec.kinds("fraud")[0] == "started"
    assert rec.kinds("fraud")[-1] == "finished"
    phases = {p.phase for kind, _, p in rec.events if kind == "progress"}
    assert phases == {Phase.CREATING}


def test_update_runs_fast_calls_then_config_and_keeps_owner_and_caller(
    ws: FakeWorkspace,
) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER, "old": "x"})
    desired = doc(
        "fraud",
        "2",
        tags=[{"key": "team", "value": "risk"}],
        ai_gateway={"usage_tracking_config": {"enabled": True}},
        email_notifications={"on_update_failure": ["oncall@example.com"]},
        permissions=[{"group_name": "risk", "permission_level": "CAN_QUERY"}],
    )
    result = converge(ws, [desired])
    assert result.ok
    assert result.summary == (0, 1, 0)
    assert writes_only(ws, "fraud") == [
        "patch_tags",
        "put_ai_gateway",
        "patch_notifications",
        "set_permissions",
        "update_config",
    ]
    assert ws.records["fraud"]["tags"] == {OWNER_TAG: OWNER, "team": "risk"}
    assert ws.acls["id-1"][f"user:{CALLER}"] == "CAN_MANAGE"
    assert ws.records["fraud"]["version"] == 2


def test_tags_only_update_sends_no_config(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    converge(ws, [doc("fraud", tags=[{"key": "team", "value": "risk"}])])
    assert writes_only(ws, "fraud") == ["patch_tags"]


def test_tag_patch_never_deletes_the_owner_tag() -> None:
    plan_before = normalize.normalize_live(
        {"name": "x", "tags": [{"key": "a", "value": "1"}, {"key": OWNER_TAG, "value": "o"}]}
    )
    after = normalize.normalize_desired(doc("x", tags=[{"key": "b", "value": "2"}]))
    add, delete = tag_patch(plan_before, after, owner="o")
    assert add == [{"key": "b", "value": "2"}, {"key": OWNER_TAG, "value": "o"}]
    assert delete == ["a"]


def test_adoption_adds_the_owner_tag(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={"team": "risk"})
    plan = plan_for(ws, [doc("fraud", tags=[{"key": "team", "value": "risk"}])])
    assert plan.actions[0].adopt
    run(ws, plan)
    assert ws.records["fraud"]["tags"][OWNER_TAG] == OWNER


def test_replace_is_refused_without_allow_replace(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    ws.seed("other", config("1"), tags={OWNER_TAG: OWNER})
    plan = plan_for(ws, [doc("fraud", description="new text"), doc("other", "2")])
    assert [a.kind for a in plan.actions] == [ActionKind.UPDATE, ActionKind.REPLACE]
    assert not plan.applyable
    assert "--allow-replace" in plan.problems[0].summary
    with pytest.raises(ApplyError):
        run(ws, plan)
    assert writes_only(ws, "fraud") == writes_only(ws, "other") == []


def test_replace_deletes_waits_until_gone_and_creates(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    result = converge(ws, [doc("fraud", description="new text")], allow_replace=True)
    assert result.ok
    assert result.summary == (1, 0, 1)
    assert writes_only(ws, "fraud") == ["delete", "create"]
    assert ws.records["fraud"]["id"] != "id-1"


def test_prune_deletes_owned_and_waits_until_gone(ws: FakeWorkspace) -> None:
    ws.seed("old", config("1"), tags={OWNER_TAG: OWNER})
    ws.seed("theirs", config("1"), tags={})
    plan = plan_for(ws, [], prune=True)
    assert [(a.kind, a.name) for a in plan.actions] == [(ActionKind.DELETE, "old")]
    result = run(ws, plan)
    assert result.ok
    assert result.summary == (0, 0, 1)
    assert set(ws.records) == {"theirs"}


def test_delete_rechecks_the_owner_tag_on_the_live_endpoint(ws: FakeWorkspace) -> None:
    ws.seed("old", config("1"), tags={OWNER_TAG: OWNER})
    plan = plan_for(ws, [], prune=True)
    ws.records["old"]["tags"] = {OWNER_TAG: "someone-else"}  # moved after the plan
    [outcome] = run(ws, plan).outcomes
    assert outcome.status is Status.FAILED
    assert "refusing to delete" in outcome.message
    assert "old" in ws.records
    assert ("delete", "old") not in ws.calls


def test_unappliable_plan_changes_nothing(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: "other"})
    plan = plan_for(ws, [doc("fraud", "2")])
    with pytest.raises(ApplyError, match="nothing was changed"):
        run(ws, plan)


# --------------------------------------------------------------------------------------------
# Waiting, conflicts, budget


def test_waits_out_an_update_already_in_progress(ws: FakeWorkspace, time: FakeTime) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    plan = plan_for(ws, [doc("fraud", "3")])
    ws.start_rollout("fraud", config("2"))  # someone else, after the plan
    ws.calls.clear()
    done_at = time.now + 10
    rec = Recorder()
    result = run(ws, plan, observer=rec)
    assert result.ok
    put_index = ws.calls.index(("update_config", "fraud"))
    assert all(c == "get" for c, _ in ws.calls[:put_index])
    phases = [p.phase for kind, _, p in rec.events if kind == "progress"]
    assert phases[0] is Phase.IN_FLIGHT
    assert Phase.UPDATING in phases
    assert ws.writes[0] >= done_at
    assert ws.records["fraud"]["version"] == 3


def test_conflict_is_waited_out_and_retried(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    ws.race_update.add("fraud")
    result = converge(ws, [doc("fraud", "2")])
    assert result.ok
    assert [c for c in writes_only(ws, "fraud")] == ["update_config", "update_config"]


def test_conflict_with_our_own_accepted_update_is_not_sent_twice(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    ws.lose_update_answers.add("fraud")
    result = converge(ws, [doc("fraud", "2")])
    assert result.ok
    assert writes_only(ws, "fraud") == ["update_config"]
    assert ws.records["fraud"]["version"] == 2


def test_lost_create_answer_is_not_a_duplicate(ws: FakeWorkspace) -> None:
    ws.lose_create_answers.add("fraud")
    result = converge(ws, [doc("fraud")])
    assert result.ok
    assert ws.creates == 1


def test_existing_unowned_endpoint_is_never_taken_over_by_a_create(ws: FakeWorkspace) -> None:
    plan = plan_for(ws, [doc("fraud")])
    ws.seed("fraud", config("1"), tags={})  # appeared after the plan
    [outcome] = run(ws, plan).outcomes
    assert outcome.status is Status.FAILED
    assert "not managed by this project" in outcome.message


def test_rate_limit_holds_writes_for_retry_after(ws: FakeWorkspace, time: FakeTime) -> None:
    ws.rate_limits = 2
    start = time.now
    result = converge(ws, [doc("a"), doc("b")])
    assert result.ok
    assert ws.creates == 2
    assert min(ws.writes) >= start + 7


def test_writes_stay_within_the_budget_across_endpoints(ws: FakeWorkspace, time: FakeTime) -> None:
    docs = [doc(f"e{i}") for i in range(5)]
    scheduler = WriteScheduler(calls=2, window=60.0, clock=time.clock, sleep=time.sleep)
    result = run(ws, plan_for(ws, docs), scheduler=scheduler, parallelism=5)
    assert result.ok
    assert scheduler.granted == 5
    for t in ws.writes:
        assert sum(1 for u in ws.writes if t <= u < t + 60) <= 2
    assert ws.writes[-1] - ws.writes[0] >= 120


def test_update_failed_reports_messages_and_build_logs(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    ws.seed("other", config("1"), tags={OWNER_TAG: OWNER})
    ws.fail_versions.add("9")
    result = run(ws, plan_for(ws, [doc("fraud", "9"), doc("other", "2")]))
    by_name = {o.name: o for o in result.outcomes}
    failed = by_name["fraud"]
    assert failed.status is Status.FAILED
    assert "config_update=UPDATE_FAILED" in failed.message
    assert "champion: container build for champion failed" in failed.message
    assert "databricks serving-endpoints build-logs fraud champion" in failed.message
    assert by_name["other"].status is Status.SUCCEEDED  # one failure does not stop the rest


def test_timeout_deletes_nothing_and_says_how_to_resume(time: FakeTime) -> None:
    ws = FakeWorkspace(time, update_seconds=3600)
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    result = run(ws, plan_for(ws, [doc("fraud", "2"), doc("new")]), wait=policy(time, timeout=60))
    assert {o.status for o in result.outcomes} == {Status.TIMED_OUT}
    assert all("still updating; re-run apply to resume" in o.message for o in result.outcomes)
    assert not any(c == "delete" for c, _ in ws.calls)
    assert set(ws.records) == {"fraud", "new"}
    # Re-running once the rollouts are over converges without a duplicate create.
    time.now += 3600
    converge(ws, [doc("fraud", "2"), doc("new")])
    assert ws.creates == 1


class NewStateWorkspace(FakeWorkspace):
    """A server that, 30 s into an update, reports a config_update value this version of
    servingops does not know."""

    def _raw(self, rec: dict[str, Any]) -> dict[str, Any]:
        raw = super()._raw(rec)
        late = self.time.now - self.records[rec["name"]]["updated"] >= 30
        if raw["state"]["config_update"] == "IN_PROGRESS" and late:
            raw["state"]["config_update"] = "UPDATE_QUEUED"
        return raw


def test_an_unknown_config_update_is_reported_in_the_servers_words(time: FakeTime) -> None:
    # The API documents config_update as an enum (NOT_UPDATING, IN_PROGRESS, UPDATE_FAILED,
    # UPDATE_CANCELED: docs.databricks.com/api/workspace/servingendpoints/get); a value added
    # later must reach progress lines and messages as the server wrote it, not as blank or "?".
    ws = NewStateWorkspace(time, update_seconds=3600)
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    rec = Recorder()
    run(ws, plan_for(ws, [doc("fraud", "2")]), observer=rec, wait=policy(time, timeout=60))
    shown = {p.config_update for kind, _, p in rec.events if kind == "progress"}
    assert "UPDATE_QUEUED" in shown


def test_no_wait_returns_after_the_calls(ws: FakeWorkspace) -> None:
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    [outcome] = run(ws, plan_for(ws, [doc("fraud", "2")]), no_wait=True).outcomes
    assert outcome.status is Status.SUCCEEDED
    assert not outcome.waited
    assert ws.calls[-1] == ("update_config", "fraud")


def test_interruption_starts_nothing_new_and_reports_in_flight(
    ws: FakeWorkspace, time: FakeTime
) -> None:
    for name in ("a", "b", "c"):
        ws.seed(name, config("1"), tags={OWNER_TAG: OWNER})
    plan = plan_for(ws, [doc(n, "2") for n in ("a", "b", "c")])
    rec = Recorder()

    async def interrupted() -> ApplyResult:
        task = asyncio.ensure_future(
            apply(plan, ws, owner=OWNER, caller=None, observer=rec, wait=policy(time),
                  parallelism=1)
        )  # fmt: skip
        while not any(c == "update_config" for c, _ in ws.calls):
            await asyncio.sleep(0)
        task.cancel()
        return await task

    result = asyncio.run(interrupted())
    assert result.interrupted
    assert not result.ok
    assert [o.status for o in result.outcomes] == [
        Status.INTERRUPTED,
        Status.SKIPPED,
        Status.SKIPPED,
    ]
    assert "re-run apply to resume" in result.outcomes[0].message
    assert [k for k, n, _ in rec.events if k != "progress"] == ["started", "finished"]
    assert [c for c, _ in ws.calls].count("update_config") == 1


# --------------------------------------------------------------------------------------------
# Small pure pieces


def test_wait_policy_delay_grows_with_elapsed_and_is_capped() -> None:
    wait = WaitPolicy(jitter=0.0)
    assert wait.delay(0) == 1.0
    assert wait.delay(50) == 5.0
    assert wait.delay(10_000) == 10.0
    jittered = WaitPolicy(jitter=0.1)
    assert all(0.9 <= jittered.delay(0) <= 1.1 for _ in range(50))


def test_scheduler_holds_after_429(time: FakeTime) -> None:
    scheduler = WriteScheduler(calls=0, window=0, clock=time.clock, sleep=time.sleep)
    scheduler.hold(30)
    assert asyncio.run(scheduler.acquire()) == 30
    assert asyncio.run(scheduler.acquire()) == 0


def test_failure_message_without_entity_details() -> None:
    live = normalize.normalize_live({"state": {"config_update": "UPDATE_CANCELED"}})
    text = failure_message("x", live.live_status)
    assert text.startswith("update failed (config_update=UPDATE_CANCELED)")
    assert "build-logs x <served-entity>" in text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.9, "59s"), (424, "7m04s"), (3723, "1h02m03s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_wait_timeout_ends_even_when_float_rounding_shortens_the_deadline(
    time: FakeTime,
) -> None:
    # (1000.1 + 60) - 1000.1 == 59.999999999999886: an exact elapsed-vs-timeout comparison
    # never reached the timeout and spun on zero-length sleeps.
    time.now = 1000.1
    ws = FakeWorkspace(time, update_seconds=3600)
    ws.seed("fraud", config("1"), tags={OWNER_TAG: OWNER})
    wait = policy(time, timeout=60, jitter=0.0)
    [outcome] = run(ws, plan_for(ws, [doc("fraud", "2")]), wait=wait).outcomes
    assert outcome.status is Status.TIMED_OUT
    assert len(time.slept) < 50
