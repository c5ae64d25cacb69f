"""Property: for generated live endpoints, `servingops export --all` then `servingops plan` finds
nothing to change, except the ownership tag on endpoints that do not carry it yet (adoption).

Endpoints are seeded into the emulator out of band (as another tool would create them) and their
permissions are set through the HTTP API; everything else goes through the real CLI.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops.model import OWNER_TAG

from .conftest import OWNER, Cli, call

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
# Endpoint names up to the API's 63-character limit, with every allowed character.
ENDPOINT_NAMES = st.one_of(
    NAMES,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{62}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,63}", fullmatch=True),
)
WORDS = st.text("abc xyz-:#'\"", min_size=1, max_size=10)
PRINCIPALS = st.sampled_from(["analysts", "support", "6f1c-app"])
LEVELS = st.sampled_from(["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"])


def _split(draw: st.DrawFn, n: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 100]
    return [bounds[i + 1] - bounds[i] for i in range(n)]


def _routes(names: list[str], split: list[int]) -> dict[str, Any]:
    return {
        "routes": [
            {"served_entity_name": n, "traffic_percentage": p}
            for n, p in zip(names, split, strict=True)
        ]
    }


@st.composite
def custom_config(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    unnamed = len(names) == 1 and draw(st.booleans())
    entities = []
    for name in names:
        entity: dict[str, Any] = {
            "entity_name": draw(st.sampled_from(["main.risk.fraud", "main.a.b_c", "plain"])),
            "entity_version": str(draw(st.integers(1, 40))),
        }
        if not unnamed:
            entity["name"] = name
        if draw(st.booleans()):
            entity["workload_size"] = draw(st.sampled_from(["Small", "Medium", "Large"]))
        else:
            low = draw(st.integers(0, 4)) * 4
            entity["min_provisioned_concurrency"] = low
            entity["max_provisioned_concurrency"] = low + draw(st.integers(0, 4)) * 4
        if draw(st.booleans()):
            entity["scale_to_zero_enabled"] = draw(st.booleans())
        if draw(st.booleans()):
            entity["workload_type"] = draw(st.sampled_from(["CPU", "GPU_SMALL", "GPU_LARGE"]))
        if draw(st.booleans()):
            entity["environment_vars"] = {
                "MODE": draw(st.sampled_from(["fast", "true", "1", "a b"])),
                "API_KEY": "{{secrets/scope/api-key}}",
            }
        entities.append(entity)
    config: dict[str, Any] = {"served_entities": entities}
    if len(names) > 1 or (not unnamed and draw(st.booleans())):
        config["traffic_config"] = _routes(names, _split(draw, len(names)))
    return config


@st.composite
def external_config(draw: st.DrawFn) -> dict[str, Any]:
    provider = draw(st.sampled_from(["openai", "anthropic"]))
    if provider == "openai":
        model = draw(st.sampled_from(["gpt-4o-mini", "gpt-4o", "o3.mini"]))
        secrets = {"openai_config": {"openai_api_key": "{{secrets/llm/openai}}"}}
    else:
        model = draw(st.sampled_from(["claude-3-5-sonnet", "claude-3.haiku"]))
        secrets = {"anthropic_config": {"anthropic_api_key": "{{secrets/llm/anthropic}}"}}
    entity: dict[str, Any] = {
        "external_model": {"provider": provider, "name": model, "task": "llm/v1/chat", **secrets}
    }
    if draw(st.booleans()):
        entity["name"] = draw(NAMES)
    return {"served_entities": [entity]}


@st.composite
def foundation_config(draw: st.DrawFn) -> dict[str, Any]:
    """Provisioned throughput on a system.ai foundation model (not pay-per-token)."""
    entity: dict[str, Any] = {
        "name": draw(NAMES),
        "entity_name": draw(st.sampled_from(["system.ai.llama_v3_8b", "system.ai.bge_large"])),
        "entity_version": str(draw(st.integers(1, 3))),
    }
    if draw(st.booleans()):
        entity["provisioned_model_units"] = draw(st.integers(1, 4)) * 50
    else:
        low = draw(st.integers(0, 2)) * 100
        entity["min_provisioned_throughput"] = low
        entity["max_provisioned_throughput"] = low + draw(st.integers(1, 3)) * 100
    return {"served_entities": [entity]}


@st.composite
def gateway(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["usage_tracking_config"] = {"enabled": draw(st.booleans())}
    if draw(st.booleans()):
        side: dict[str, Any] = {}
        if draw(st.booleans()):
            side["safety"] = draw(st.booleans())
        if draw(st.booleans()):
            side["pii"] = {"behavior": draw(st.sampled_from(["BLOCK", "MASK", "NONE"]))}
        if draw(st.booleans()):
            side["invalid_keywords"] = draw(
                st.lists(st.sampled_from(["secret", "password", "ssn"]), unique=True, min_size=1)
            )
        out["guardrails"] = {draw(st.sampled_from(["input", "output"])): side}
    if draw(st.booleans()):
        out["inference_table_config"] = {
            "enabled": draw(st.booleans()),
            "catalog_name": "main",
            "schema_name": "serving_logs",
            "table_name_prefix": draw(NAMES),
        }
    limits = []
    for key in draw(st.lists(st.sampled_from(["user", "endpoint", "user_group"]), unique=True)):
        metric = draw(st.sampled_from(["calls", "tokens"]))
        limit: dict[str, Any] = {"key": key, "renewal_period": "minute"}
        limit[metric] = draw(st.integers(1, 9999))
        if key == "user_group":
            limit["principal"] = draw(PRINCIPALS)
        limits.append(limit)
    if limits:
        out["rate_limits"] = limits
    if draw(st.booleans()):
        out["fallback_config"] = {"enabled": draw(st.booleans())}
    return out


@st.composite
def live_endpoint(draw: st.DrawFn, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    # An endpoint may be created with no config at all (databricks/cli acceptance test
    # bundle/resources/model_serving_endpoints/basic; terraform-provider-databricks #4446).
    config = draw(st.one_of(custom_config(), external_config(), foundation_config(), st.none()))
    if config is not None:
        body["config"] = config
    if draw(st.booleans()):
        body["description"] = draw(WORDS)
    if draw(st.booleans()):
        body["route_optimized"] = draw(st.booleans())
    tags = draw(
        st.dictionaries(NAMES, st.sampled_from(["", "x", "4411", "true", "a b"]), max_size=3)
    )
    body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if draw(st.booleans()):
        body["tags"].append({"key": OWNER_TAG, "value": OWNER})
    gw = draw(gateway())
    if gw:
        body["ai_gateway"] = gw
    emails = st.lists(st.sampled_from(["a@x.io", "b@x.io", "c@x.io"]), unique=True, max_size=2)
    success, failure = draw(emails), draw(emails)
    if success or failure:
        body["email_notifications"] = {"on_update_success": success, "on_update_failure": failure}
    return body


@st.composite
def acl(draw: st.DrawFn) -> list[dict[str, str]] | None:
    if not draw(st.booleans()):
        return None  # leave the creator's grant as it is
    fields = st.sampled_from(["group_name", "user_name", "service_principal_name"])
    entries = draw(st.lists(st.tuples(fields, PRINCIPALS, LEVELS), max_size=4))
    return [{field: who, "permission_level": level} for field, who, level in entries]


LIVE_STATES = ("ready", "updating", "stopped")
"""ready: the config is active; updating: mid-rollout (export writes the pending config);
stopped: stopped through `POST .../config:stop` (only a ready endpoint with a config can be).
Custom-model endpoints may also be "failed": a later config update ended in UPDATE_FAILED
(export writes the config still serving)."""
FAILING_VERSION = "41"  # never drawn by custom_config; the emulator fails rollouts to it
FAILING = frozenset((name, FAILING_VERSION) for name in ("main.risk.fraud", "main.a.b_c", "plain"))


@st.composite
def workspaces(draw: st.DrawFn) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    names = draw(st.lists(ENDPOINT_NAMES, min_size=1, max_size=3, unique_by=str.lower))
    out = []
    for name in names:
        body = draw(live_endpoint(name))
        entities = body.get("config", {}).get("served_entities", [])
        custom = entities and all(
            "entity_version" in e and not e["entity_name"].startswith("system.") for e in entities
        )
        # Failed first: a rollout that can fail is rarer to draw, and the most telling state.
        # Only custom-model endpoints that are not route-optimized can be stopped (docs), so
        # only they are drawn stopped.
        stoppable = custom and not body.get("route_optimized")
        states = (
            ("failed", *LIVE_STATES[: 3 if stoppable else 2])
            if custom
            else LIVE_STATES[: 2 if entities else 1]
        )
        how = {
            "acl": draw(acl()),
            "creator": draw(st.sampled_from([None, "bob@example.com"])),
            "state": draw(st.sampled_from(states)),
        }
        out.append((body, how))
        event(f"live state: {how['state']}")
        event("config" if "config" in body else "no config")
        if len(name) == 63:
            event("name at the 63-character limit")
    return out


def seed_all(
    emu: Emulator[ManualClock], workspace: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Failed updates first (their rollout must end before the others are seeded)."""
    failing = [(body, how) for body, how in workspace if how["state"] == "failed"]
    for body, how in failing:
        seed(emu, body, how)
        config = copy.deepcopy(body["config"])
        for entity in config["served_entities"]:
            entity["entity_version"] = FAILING_VERSION
            entity.setdefault("scale_to_zero_enabled", False)  # the API requires it
        call(emu, "update_config", body["name"], config)
    if failing:
        emu.advance(EMULATOR.update_seconds + 1)
    for body, how in workspace:
        if how["state"] != "failed":
            seed(emu, body, how)


def seed(emu: Emulator[ManualClock], body: dict[str, Any], how: dict[str, Any]) -> None:
    created = emu.seed_endpoint(body, creator=how["creator"], ready=how["state"] != "updating")
    if how["acl"] is not None:
        call(emu, "set_permissions", created["id"], how["acl"])
    if how["state"] == "stopped":
        stop(emu, body["name"])


def stop(emu: Emulator[ManualClock], name: str) -> None:
    """`POST /api/2.0/serving-endpoints/{name}/config:stop` through the client."""
    call(emu, "stop_endpoint", name)


EMULATOR = EmulatorConfig(update_seconds=30, shuffle_seed=11, failing_versions=FAILING)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(workspace=workspaces())
def test_export_then_plan_is_empty(
    workspace: list[tuple[dict[str, Any], dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    emu = Emulator(EMULATOR, clock=ManualClock(1.7e9))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "servingops.yaml").write_text(
            f"owner: {OWNER}\ndefault_target: test\n"
            "targets:\n  test:\n    host: https://test.example.net\n"
        )
        try:
            # Pre-flight checks the secret references of adopted endpoints: declare their scopes.
            emu.seed_objects({"secrets": {"scope": ["api-key"], "llm": ["openai", "anthropic"]}})
            seed_all(emu, workspace)
            cli = Cli(root, emu, capsys)
            code, out, err = cli("export", "--all")
            assert code == 0, err
            assert sorted(p.name for p in (root / "endpoints").glob("*.yaml")) == sorted(
                f"{body['name']}.yaml" for body, _ in workspace
            )
            code, out, err = cli("plan", "--format", "json", "--detailed-exitcode")
            assert code in (0, 2), err
            changes = {
                c["name"]: [f["path"] for f in c["change"]["fields"]]
                for c in json.loads(out)["resource_changes"]
            }
            unowned = {
                body["name"]
                for body, _ in workspace
                if not any(t["key"] == OWNER_TAG for t in body["tags"])
            }
            assert changes == {name: [f"tags.{OWNER_TAG}"] for name in unowned}, [
                (root / "endpoints" / f"{n}.yaml").read_text() for n in changes
            ]
        finally:
            emu.close()
