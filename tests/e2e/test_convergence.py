"""Convergence: after apply, plan is empty, from any starting state, under faults and crashes.

In-process properties run the engine and applier against the emulator on a ManualClock whose
time moves only when apply (or the client's retry loop) sleeps. Live endpoints start in every
state: absent, ready, still rolling out, with a failed first rollout, with a failed update (the
old config serving), or stopped; desired documents use every field of the schema and every
external-model provider (the generators of test_no_perpetual_diff). The crash test serves a
file-backed emulator on 127.0.0.1 and kills `python -m servingops apply` with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_emulator import Emulator, EmulatorConfig, ManualClock, SystemClock
from serving_emulator.server import serve_in_thread
from servingops import applier, engine
from servingops.apply_model import ApplyResult, Status
from servingops.auth import Credentials
from servingops.client import Client, RetryPolicy
from servingops.model import OWNER_TAG, DesiredDocument, Plan, SourceRef
from servingops.waiting import WaitPolicy

from . import test_no_perpetual_diff as no_perpetual_diff
from .conftest import T0

OWNER = "team/convergence"

versions = st.sampled_from(["1", "2", "3"])
sizes = st.sampled_from(["Small", "Medium"])
tag_maps = st.dictionaries(st.sampled_from(["team", "cost", "env"]), st.sampled_from(["a", "b"]))


# Served-entity names of odd shapes and up to the length limit.
entity_names = st.sampled_from(["a", "b", "A_b-9", "x" * 63, "0-" + "q_" * 30])
LIVE_STATES = ("ready", "updating", "failed create", "failed update", "stopped")
FAILING = ("main.ml.broken", "9")  # the version every failed live state tried to roll out


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(entity_names, min_size=1, max_size=2, unique=True))
    entities = []
    for n in names:
        entity: dict[str, Any] = {
            "name": n,
            "entity_name": f"main.ml.{n}",
            "entity_version": draw(versions),
            "workload_size": draw(sizes),
        }
        if draw(st.booleans()):  # left out: false on create, the live value on updates
            entity["scale_to_zero_enabled"] = draw(st.booleans())
        if draw(st.booleans()):
            entity["burst_scaling_enabled"] = draw(st.booleans())  # write-only
        if draw(st.booleans()):
            entity["workload_type"] = draw(st.sampled_from(["CPU", "GPU_SMALL"]))
        entities.append(entity)
    config: dict[str, Any] = {"served_entities": entities}
    if len(names) == 2:
        split = draw(st.sampled_from([50, 90, 100]))
        config["traffic_config"] = {
            "routes": [
                {"served_entity_name": names[0], "traffic_percentage": split},
                {"served_entity_name": names[1], "traffic_percentage": 100 - split},
            ]
        }
    return config


@st.composite
def desired_bodies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "config": draw(configs())}
    tags = draw(tag_maps)
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if draw(st.booleans()):
        body["email_notifications"] = {"on_update_failure": ["oncall@example.com"]}
    if draw(st.booleans()):
        level = draw(st.sampled_from(["CAN_QUERY", "CAN_VIEW"]))
        body["permissions"] = [{"group_name": "users", "permission_level": level}]
    return body


@st.composite
def live_bodies(draw: st.DrawFn, name: str) -> dict[str, Any] | None:
    """None (absent), or a seeded endpoint: owned or not (adoption), in any live state."""
    if draw(st.booleans()):
        return None
    tags = draw(tag_maps)
    if draw(st.booleans()):
        tags = {**tags, OWNER_TAG: OWNER}
    body: dict[str, Any] = {"name": name, "config": draw(configs())}
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    body["_state"] = draw(st.sampled_from(LIVE_STATES))
    return body


def seed(emu: Emulator[ManualClock], body: dict[str, Any], state: str) -> None:
    """Create `body` out of band and bring it into `state`: ready, still updating, its first
    rollout failed (no active config), an update failed (the old config serves), or stopped."""
    if state == "failed create":
        entity = {"entity_name": FAILING[0], "entity_version": FAILING[1],
                  "scale_to_zero_enabled": False}  # fmt: skip
        emu.seed_endpoint({**body, "config": {"served_entities": [entity]}}, ready=False)
        emu.advance(60)
        return
    emu.seed_endpoint(body, ready=state != "updating")
    if state == "failed update":
        entity = {"name": "broken", "entity_name": FAILING[0], "entity_version": FAILING[1],
                  "scale_to_zero_enabled": False}  # fmt: skip
        _http(emu, "PUT", f"/api/2.0/serving-endpoints/{body['name']}/config",
              {"served_entities": [entity]})  # fmt: skip
        emu.advance(60)
    elif state == "stopped" and stoppable(body):
        _http(emu, "POST", f"/api/2.0/serving-endpoints/{body['name']}/config:stop", None)


def stoppable(body: dict[str, Any]) -> bool:
    """Only custom-model endpoints that are not route-optimized can be stopped (docs); other
    endpoints drawn "stopped" stay ready."""
    entities = (body.get("config") or {}).get("served_entities") or []
    return (
        bool(entities)
        and not body.get("route_optimized")
        and all(
            "external_model" not in e and not str(e.get("entity_name", "")).startswith("system.")
            for e in entities
        )
    )


def _http(emu: Emulator[ManualClock], method: str, path: str, body: Any) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=emu.app)
        headers = {"Authorization": "Bearer seed"}
        async with httpx.AsyncClient(transport=transport, base_url="http://emu.local") as c:
            for _ in range(50):  # injected 429/500/503 faults are retried
                response = await c.request(method, path, json=body, headers=headers)
                if response.status_code not in (429, 500, 503):
                    break
            response.raise_for_status()

    asyncio.run(go())


def emulator_for(faults: float, seed_text: str) -> Emulator[ManualClock]:
    config = EmulatorConfig(
        update_seconds=20.0,
        fault_rate=faults,
        fault_seed=len(seed_text),
        failing_versions=frozenset({FAILING}),
    )
    emu = Emulator(config, clock=ManualClock(T0))
    emu.seed_objects({"secrets": SECRET_SCOPES})  # every reference the generators write
    return emu


# Secret scopes exist only once declared (pre-flight checks every reference before a write).
SECRET_SCOPES = {"s": list("abcdefghijkl"), "llm": ["openai"]}


def document(body: dict[str, Any]) -> DesiredDocument:
    return DesiredDocument(name=body["name"], body=body, source=SourceRef(path="gen.yaml"))


def client_for(emu: Emulator[ManualClock], transport: httpx.AsyncBaseTransport) -> Client:
    async def sleep(seconds: float) -> None:
        emu.advance(seconds)
        await asyncio.sleep(0)

    retry = RetryPolicy(sleep=sleep, clock=emu.clock.now)
    return Client(Credentials(host="http://emu.local", token="t"), transport=transport, retry=retry)


async def apply_then_plan(
    emu: Emulator[ManualClock],
    docs: list[DesiredDocument],
    transport: httpx.AsyncBaseTransport,
) -> tuple[ApplyResult, Plan]:
    async def sleep(seconds: float) -> None:
        emu.advance(seconds)
        await asyncio.sleep(0)

    wait = WaitPolicy(sleep=sleep, clock=emu.clock.now, wall_clock=emu.clock.now)
    async with client_for(emu, transport) as client:
        plan, live = await engine.compute_plan(client, docs, owner=OWNER, allow_replace=True)
        result = await applier.apply(plan, client, owner=OWNER, caller=live.caller, wait=wait)
        after, _ = await engine.compute_plan(client, docs, owner=OWNER)
    return result, after


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, emu: Emulator[ManualClock]) -> None:
        self.inner = httpx.ASGITransport(app=emu.app)
        self.created = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == "/api/2.0/serving-endpoints":
            self.created += response.status_code == 200
        return response


NAMES = ("alpha", "beta", "gamma")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    desired=st.tuples(*(desired_bodies(n) for n in NAMES)),
    live=st.tuples(*(live_bodies(n) for n in NAMES)),
    faults=st.sampled_from([0.0, 0.2]),
)
def test_apply_then_plan_is_empty(
    desired: tuple[dict[str, Any], ...],
    live: tuple[dict[str, Any] | None, ...],
    faults: float,
) -> None:
    with emulator_for(faults, str(desired)) as emu:
        for body in live:
            if body is not None:
                seed(emu, body, body.pop("_state"))
        transport = Counting(emu)
        result, after = asyncio.run(apply_then_plan(emu, [document(b) for b in desired], transport))
        assert result.ok, [o.message for o in result.outcomes if o.status is not Status.SUCCEEDED]
        assert after.is_empty, [(a.kind, a.name, a.changes) for a in after.actions]
        # No duplicate creates: one accepted POST per endpoint that did not exist.
        replaced = sum(1 for o in result.outcomes if o.kind.value == "replace")
        missing = sum(1 for b in live if b is None)
        assert transport.created == missing + replaced


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    desired=no_perpetual_diff.documents(),
    live=no_perpetual_diff.documents(),
    state=st.sampled_from(LIVE_STATES),
    owned=st.booleans(),
)
def test_any_document_over_any_live_state_converges(
    desired: dict[str, Any], live: dict[str, Any], state: str, owned: bool
) -> None:
    """Every field of the schema, every provider, odd names, over a live endpoint of the same
    name in any state (a replace allowed): apply, then plan is empty."""
    want = no_perpetual_diff.as_body(desired)
    have = no_perpetual_diff.as_body({**live, "name": desired["name"]})
    # budget_policy_id cannot change on an existing endpoint (a plan error, tested elsewhere).
    want.pop("budget_policy_id", None)
    have.pop("budget_policy_id", None)
    have.pop("permissions", None)  # an ACL is set through the permissions API, not at create
    if owned:
        have["tags"] = [*have.get("tags", []), {"key": OWNER_TAG, "value": OWNER}]
    with emulator_for(0.0, str(desired)) as emu:
        external = "external_model" in str(have)
        seed(emu, have, "ready" if external and state == "failed update" else state)
        result, after = asyncio.run(apply_then_plan(emu, [document(want)], Counting(emu)))
        assert result.ok, [o.message for o in result.outcomes if o.status is not Status.SUCCEEDED]
        assert after.is_empty, [(a.kind, a.name, a.changes) for a in after.actions]


# --------------------------------------------------------------------------------------------
# Crash: kill -9 the apply process at random points; every re-run converges.


def _project(root: Path, version: int) -> None:
    (root / "endpoints").mkdir(exist_ok=True)
    (root / "servingops.yaml").write_text(f"endpoints: endpoints/\nowner: {OWNER}\n")
    for i in range(4):
        (root / "endpoints" / f"e{i}.yaml").write_text(
            textwrap.dedent(
                f"""\
                name: e{i}
                config:
                  served_entities:
                    - name: main
                      entity_name: main.ml.e{i}
                      entity_version: "{version + (i % 2)}"
                      workload_size: Small
                      scale_to_zero_enabled: true
                tags: {{round: "{version}"}}
                """
            )
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    config = EmulatorConfig(update_seconds=1.0)
    emu = Emulator(config, db_path=tmp_path / "ws.db", clock=SystemClock())
    with emu, serve_in_thread(emu) as url:
        yield url


def _cli(root: Path, url: str, *args: str, quiet: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABRICKS_HOST": url, "DATABRICKS_TOKEN": "crash-test"}
    env.pop("DATABRICKS_CONFIG_PROFILE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "servingops", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_converges(tmp_path: Path, served: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    rng = random.Random(5)
    for round_ in range(10):
        _project(root, version=round_ + 1)
        victim = _cli(root, served, "apply", "--auto-approve", "--parallelism", "4", quiet=True)
        time.sleep(rng.uniform(0.3, 2.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        rerun = _cli(root, served, "apply", "--auto-approve", "--parallelism", "4")
        out, _ = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, out.decode()
        check = _cli(root, served, "plan", "--detailed-exitcode")
        out, _ = check.communicate(timeout=60)
        assert check.returncode == 0, out.decode()
