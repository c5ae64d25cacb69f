"""Property: whatever valid document is created in the emulator, planning it again is empty;
and changing any one field plans exactly that change and nothing else."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops import engine, normalize
from servingops.auth import Credentials
from servingops.client import Client
from servingops.model import OWNER_TAG, DesiredDocument, Plan, SourceRef

OWNER = "prop/owner"
NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
EMAILS = st.lists(st.sampled_from(["a@x.io", "b@x.io", "c@x.io"]), unique=True, max_size=3)


@st.composite
def custom_config(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    entities = []
    for name in names:
        entity: dict[str, Any] = {
            "name": name,
            "entity_name": draw(st.sampled_from(["main.a.model", "main.b.other", "plain"])),
            "entity_version": str(draw(st.integers(1, 30))),
        }
        if draw(st.booleans()):
            entity["workload_size"] = draw(st.sampled_from(["Small", "Medium", "Large"]))
        else:
            low = draw(st.integers(0, 8))
            entity["min_provisioned_concurrency"] = low
            entity["max_provisioned_concurrency"] = low + draw(st.integers(0, 8)) * 4
        if draw(st.booleans()):
            entity["scale_to_zero_enabled"] = draw(st.booleans())
        if draw(st.booleans()):
            entity["workload_type"] = draw(st.sampled_from(["CPU", "GPU_SMALL"]))
        if draw(st.booleans()):
            entity["environment_vars"] = {"MODE": draw(NAMES), "KEY": "{{secrets/s/k}}"}
        entities.append(entity)
    config: dict[str, Any] = {"served_entities": entities}
    if len(names) > 1 or draw(st.booleans()):
        split = _split(draw, len(names))
        config["traffic_config"] = {
            "routes": [
                {"served_entity_name": n, "traffic_percentage": p}
                for n, p in zip(names, split, strict=True)
            ]
        }
    return config


def _split(draw: st.DrawFn, n: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 100]
    return [bounds[i + 1] - bounds[i] for i in range(n)]


@st.composite
def external_config(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(["gpt-4o-mini", "gpt-4o", "o3.mini"]))
    return {
        "served_entities": [
            {
                "external_model": {
                    "provider": "openai",
                    "name": model,
                    "task": "llm/v1/chat",
                    "openai_config": {"openai_api_key": "{{secrets/llm/openai}}"},
                }
            }
        ]
    }


@st.composite
def gateway(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["usage_tracking_config"] = {"enabled": draw(st.booleans())}
    if draw(st.booleans()):
        out["guardrails"] = {
            "input": {"safety": draw(st.booleans()),
                      "pii": {"behavior": draw(st.sampled_from(["BLOCK", "MASK", "NONE"]))}}
        }  # fmt: skip
    limits = []
    for key in draw(st.lists(st.sampled_from(["user", "endpoint"]), unique=True, max_size=2)):
        metric = draw(st.sampled_from(["calls", "tokens"]))
        limits.append({"key": key, "renewal_period": "minute", metric: draw(st.integers(0, 999))})
    if limits:
        out["rate_limits"] = limits
    if draw(st.booleans()):
        out["fallback_config"] = {"enabled": draw(st.booleans())}
    return out


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"name": draw(NAMES)}
    body["config"] = draw(st.one_of(custom_config(), external_config()))
    if draw(st.booleans()):
        body["description"] = draw(st.text("abc xyz", max_size=12))
    if draw(st.booleans()):
        body["route_optimized"] = draw(st.booleans())
    tags = draw(st.dictionaries(NAMES, st.text("abc-1", max_size=5), max_size=3))
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    gw = draw(gateway())
    use_gateway = draw(st.booleans())
    if gw and use_gateway:
        body["ai_gateway"] = gw
    success, failure = draw(EMAILS), draw(EMAILS)
    if success or failure:
        body["email_notifications"] = {"on_update_success": success, "on_update_failure": failure}
    if draw(st.booleans()):
        groups = draw(st.lists(NAMES, unique=True, max_size=3))
        levels = st.sampled_from(["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"])
        body["permissions"] = [{"group_name": g, "permission_level": draw(levels)} for g in groups]
    return body


def plan_against(emu: Emulator[ManualClock], body: dict[str, Any]) -> Plan:
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))

    async def go() -> Plan:
        creds = Credentials(host="http://emulator.local", token="t")
        async with Client(creds, transport=httpx.ASGITransport(app=emu.app)) as client:
            result, _ = await engine.compute_plan(client, [doc], owner=OWNER)
            return result

    return asyncio.run(go())


def create(emu: Emulator[ManualClock], body: dict[str, Any]) -> None:
    """What apply sends for a new endpoint: the create body with the owner tag, then the ACL."""
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))
    request = normalize.to_document(normalize.normalize_desired(doc))
    acl = request.pop("permissions", None)
    request.setdefault("tags", []).append({"key": OWNER_TAG, "value": OWNER})

    async def go() -> None:
        creds = Credentials(host="http://emulator.local", token="t")
        async with Client(creds, transport=httpx.ASGITransport(app=emu.app)) as client:
            created = await client.create_endpoint(request)
            if acl is not None:
                await client.set_permissions(created["id"], acl)

    asyncio.run(go())
    emu.advance(60)


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(documents())
def test_created_document_plans_empty(body: dict[str, Any]) -> None:
    emu = Emulator(EmulatorConfig(update_seconds=5, shuffle_seed=7), clock=ManualClock(1.7e9))
    try:
        create(emu, body)
        result = plan_against(emu, body)
        assert result.is_empty, [(a.kind, [c.path for c in a.changes]) for a in result.actions]
    finally:
        emu.close()


MUTATIONS = ["tag", "version", "notification", "gateway_limit", "permission"]


@PROPERTY
@given(documents(), st.sampled_from(MUTATIONS))
def test_one_changed_field_is_exactly_one_change(body: dict[str, Any], what: str) -> None:
    changed = copy.deepcopy(body)
    expected = _mutate(changed, what)
    emu = Emulator(EmulatorConfig(update_seconds=5, shuffle_seed=3), clock=ManualClock(1.7e9))
    try:
        create(emu, body)
        result = plan_against(emu, changed)
        assert [a.name for a in result.actions] == [body["name"]]
        assert [c.path for c in result.actions[0].changes] == [expected]
    finally:
        emu.close()


def _mutate(body: dict[str, Any], what: str) -> tuple[str, ...]:
    """Change one thing in `body`; return the path the plan must report for it."""
    before = _canonical(body)
    entity = body["config"]["served_entities"][0]
    if what == "version" and "entity_name" in entity:
        entity["entity_version"] = str(int(entity["entity_version"]) + 100)
        return ("config", "served_entities", entity["name"], "entity_version")
    if what == "notification":
        notes = body.setdefault("email_notifications", {})
        notes["on_update_failure"] = [*notes.get("on_update_failure", []), "new@x.io"]
        return _reported(before, ("email_notifications", "on_update_failure"))
    if what == "gateway_limit":
        gw = body.setdefault("ai_gateway", {})
        limit = {"key": "user_group", "principal": "zz", "renewal_period": "minute", "calls": 5}
        gw["rate_limits"] = [*gw.get("rate_limits", []), limit]
        return _reported(before, ("ai_gateway", "rate_limits", "user_group:zz/calls/minute"))
    if what == "permission" and "permissions" in body:
        body["permissions"].append({"group_name": "zz-new", "permission_level": "CAN_VIEW"})
        return ("permissions", "group:zz-new")
    body.setdefault("tags", []).append({"key": "zz-new", "value": "v"})
    return ("tags", "zz-new")


def _canonical(body: dict[str, Any]) -> dict[str, Any]:
    doc = DesiredDocument(name=body["name"], body=body, source=SourceRef(path="p.yaml"))
    return dict(normalize.normalize_desired(doc).body)


def _reported(canonical: dict[str, Any], path: tuple[str, ...]) -> tuple[str, ...]:
    """A change is reported at the first level that did not exist before (a new subtree)."""
    node: Any = canonical
    for i, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            return path[: i + 1]
        node = node[part]
    return path
