"""Sequences of edits through `servingops apply` on the emulator: each edit reaches the
workspace, and the plan after it is empty (no perpetual diff, no silently dropped change)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock

from .conftest import ApplyCli, Recording, tags, with_emulator

BASE = """\
name: scorer
config:
  served_entities:
    - name: main
      entity_name: main.ml.scorer
      entity_version: "1"
      workload_size: Small
      scale_to_zero_enabled: true
"""

GATEWAY = """\
ai_gateway:
  usage_tracking_config: {enabled: true}
  inference_table_config: {catalog_name: c, schema_name: s, table_name_prefix: p, enabled: true}
  guardrails:
    input: {safety: true, pii: {behavior: BLOCK}, invalid_keywords: [b, a], valid_topics: [x]}
    output: {pii: {behavior: MASK}}
  rate_limits:
    - {key: user, renewal_period: minute, calls: 0}
    - {key: user_group, principal: grp, renewal_period: minute, tokens: 100}
  fallback_config: {enabled: true}
"""

LEGACY = """\
name: scorer
config:
  served_models:
    - name: main
      model_name: main.ml.scorer
      model_version: "2"
      workload_size: Small
      scale_to_zero_enabled: true
"""

EXTERNAL = """\
name: scorer
config:
  served_entities:
    - name: a
      external_model:
        provider: openai
        name: gpt-4o
        task: llm/v1/chat
        openai_config: {openai_api_key: '{{secrets/llm/k}}'}
"""

EXTERNAL_TWO = """\
name: scorer
config:
  served_entities:
    - name: a
      external_model:
        provider: openai
        name: gpt-4o-mini
        task: llm/v1/chat
        openai_config: {openai_api_key: '{{secrets/llm/k2}}', openai_organization: org}
    - name: b
      external_model:
        provider: anthropic
        name: claude
        task: llm/v1/chat
        anthropic_config: {anthropic_api_key: '{{secrets/llm/k3}}'}
  traffic_config:
    routes:
      - {served_entity_name: a, traffic_percentage: 0}
      - {served_entity_name: b, traffic_percentage: 100}
ai_gateway:
  fallback_config: {enabled: true}
"""

TELEMETRY = """\
telemetry_config:
  telemetry_profile_id: profile-1
  enabled_telemetry_features: [TELEMETRY_FEATURE_LOGS, TELEMETRY_FEATURE_METRICS]
  inference_table_config: {sampling_fraction: 1}
"""


GATEWAY_PATH = "/api/2.0/serving-endpoints/scorer/ai-gateway"


@pytest.fixture
def run(project: Path, emulator: Emulator[ManualClock], capsys: Any) -> ApplyCli:
    # Pre-flight checks every secret reference; a scope exists only once declared.
    emulator.seed_objects({"secrets": {"llm": ["k", "k2", "k3"], "s": ["k"]}})
    return ApplyCli(project, emulator, capsys)


def entity_with(fields: str) -> str:
    return BASE + textwrap.indent(textwrap.dedent(fields), " " * 6)


def write(project: Path, text: str) -> None:
    (project / "endpoints" / "scorer.yaml").write_text(text)


def converge(run: ApplyCli, project: Path, text: str) -> dict[str, Any]:
    """Write `text`, apply it, and check the plan after it is empty; the live endpoint."""
    write(project, text)
    code, out, err = run("apply", "--auto-approve", "--allow-replace")
    assert code == 0, out + err
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 0, out
    live = run.get("scorer")
    assert live is not None
    return live


SEQUENCES = {
    "gateway added then removed": [BASE, BASE + GATEWAY, BASE],
    "notifications added then removed": [
        BASE,
        BASE + "email_notifications: {on_update_success: [a@x.io], on_update_failure: [b@x.io]}\n",
        BASE,
    ],
    "tags added then removed": [BASE + "tags: {a: b, c: d}\n", BASE + "tags: {a: e}\n", BASE],
    "permissions then none": [
        BASE + "permissions:\n  - {group_name: users, permission_level: CAN_QUERY}\n",
        BASE + "permissions: []\n",
    ],
    "legacy rate limits": [
        BASE + "rate_limits:\n  - {key: user, renewal_period: minute, calls: 3}\n",
        BASE + "rate_limits:\n  - {key: user, renewal_period: minute, calls: 0}\n",
        BASE,
    ],
    "served_models and back": [BASE, LEGACY, BASE],
    "entity fields": [
        BASE,
        entity_with(
            """\
            instance_profile_arn: arn:aws:iam::1:instance-profile/x
            environment_vars: {A: "1", S: "{{secrets/s/k}}"}
            workload_type: GPU_SMALL
            burst_scaling_enabled: false
            """
        ),
        BASE,
    ],
    "provisioned throughput": [
        BASE,
        BASE.replace("main.ml.scorer", "system.ai.llama").replace(
            "      workload_size: Small\n      scale_to_zero_enabled: true\n",
            "      min_provisioned_throughput: 0\n      max_provisioned_throughput: 100\n",
        ),
        BASE.replace("main.ml.scorer", "system.ai.llama").replace(
            "      workload_size: Small\n      scale_to_zero_enabled: true\n",
            "      provisioned_model_units: 50\n",
        ),
    ],
    "external models": [EXTERNAL, EXTERNAL_TWO, EXTERNAL],
    "telemetry": [
        BASE,
        BASE + TELEMETRY,
        BASE + TELEMETRY.replace("METRICS", "TRACES").replace("1}", "0.25}"),
    ],
}


@pytest.mark.parametrize("steps", list(SEQUENCES.values()), ids=list(SEQUENCES))
def test_every_edit_converges(run: ApplyCli, project: Path, steps: list[str]) -> None:
    for text in steps:
        converge(run, project, text)


def test_rate_limit_of_zero_calls_is_sent_as_zero(run: ApplyCli, project: Path) -> None:
    live = converge(run, project, BASE + GATEWAY)
    limits = {(r["key"], r.get("principal")): r for r in live["ai_gateway"]["rate_limits"]}
    assert limits[("user", None)]["calls"] == 0
    assert limits[("user_group", "grp")]["tokens"] == 100


def test_telemetry_reaches_the_workspace(run: ApplyCli, project: Path) -> None:
    live = converge(run, project, BASE + TELEMETRY)  # at create
    assert live["telemetry_config"]["telemetry_profile_id"] == "profile-1"
    write(project, BASE + TELEMETRY.replace("_LOGS, TELEMETRY_FEATURE", ""))
    assert "via PATCH telemetry-config" in run("plan")[1]
    live = converge(run, project, BASE + TELEMETRY.replace("_LOGS, TELEMETRY_FEATURE", ""))
    assert live["telemetry_config"]["enabled_telemetry_features"] == ["TELEMETRY_FEATURE_METRICS"]
    assert [p for p in run.transport.seen if p[1].endswith("/telemetry-config")]
    # An omitted block is left to the workspace (it may set telemetry itself).
    live = converge(run, project, BASE)
    assert live["telemetry_config"]["telemetry_profile_id"] == "profile-1"


def test_telemetry_table_names_create_a_profile_once(run: ApplyCli, project: Path) -> None:
    tables = "telemetry_config:\n  table_names: {logs_table: c.s.logs}\n"
    converge(run, project, BASE)
    write(project, BASE + tables)
    assert run("plan", "--detailed-exitcode")[0] == 2  # not dropped
    live = converge(run, project, BASE + tables)
    assert live["telemetry_config"]["telemetry_profile_id"]  # the workspace made one


def test_description_change_needs_allow_replace(run: ApplyCli, project: Path) -> None:
    first = converge(run, project, BASE + "description: one\n")
    write(project, BASE + "description: two\n")
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert "--allow-replace" in out
    assert run.get("scorer")["id"] == first["id"]  # type: ignore[index]
    assert run("plan", "--detailed-exitcode")[0] == 1  # a replace the plan does not allow
    assert run("plan", "--detailed-exitcode", "--allow-replace")[0] == 2
    second = converge(run, project, BASE + "description: two\n")
    assert (second["id"], second["description"]) != (first["id"], "one")


def test_system_metrics_export_state_reaches_the_workspace(run: ApplyCli, project: Path) -> None:
    enabled = BASE + "uc_system_metrics_export_state: FIRST_PARTY_EXPORT_ENABLED\n"
    live = converge(run, project, enabled)  # at create
    assert live["uc_system_metrics_export_state"] == "FIRST_PARTY_EXPORT_ENABLED"
    disabled = enabled.replace("_ENABLED", "_DISABLED")
    write(project, disabled)
    assert "via PATCH system-metrics-export-state" in run("plan")[1]
    live = converge(run, project, disabled)
    assert live["uc_system_metrics_export_state"] == "FIRST_PARTY_EXPORT_DISABLED"
    assert [p for p in run.transport.seen if p[1].endswith("/system-metrics-export-state")]
    # Omitted: the workspace's choice, not a difference.
    live = converge(run, project, BASE)
    assert live["uc_system_metrics_export_state"] == "FIRST_PARTY_EXPORT_DISABLED"


# --------------------------------------------------------------------------------------------
# Server fills are adopted, not fought (issue 9 item 6)


def test_auto_capture_without_enabled_converges(run: ApplyCli, project: Path) -> None:
    # The server fills auto_capture_config.enabled (true by default) and table_name_prefix
    # (the endpoint name) when a file leaves them out:
    # docs.databricks.com/machine-learning/model-serving/enable-model-serving-inference-tables.html
    # ("If this isn't specified, the endpoint name is used"; enabled "This true by default");
    # terraform-provider-databricks serving/resource_model_serving.go marks both Computed.
    text = BASE + "  auto_capture_config: {catalog_name: c, schema_name: s}\n"
    live = converge(run, project, text)
    assert live["config"]["auto_capture_config"]["enabled"] is True
    puts = len([p for p in run.transport.seen if p[0] == "PUT"])
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert len([p for p in run.transport.seen if p[0] == "PUT"]) == puts  # no new rollout
    assert run("drift")[0] == 0


def test_inference_table_without_prefix_converges(run: ApplyCli, project: Path) -> None:
    # The server names the table after the endpoint when no prefix is given; adopted, never
    # fought (it was a replace on every apply).
    table = (
        "ai_gateway:\n  inference_table_config: {catalog_name: c, schema_name: s, enabled: true}\n"
    )
    live = converge(run, project, BASE + table)
    assert live["ai_gateway"]["inference_table_config"]["table_name_prefix"] == "scorer"
    first = live["id"]
    live = converge(run, project, BASE + table)
    assert live["id"] == first


def gateway_table(**names: str) -> str:
    fields = {"catalog_name": "c", "schema_name": "s", "table_name_prefix": "p", **names}
    inner = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"ai_gateway:\n  inference_table_config: {{{inner}, enabled: true}}\n"


@pytest.mark.parametrize("field", ["catalog_name", "schema_name", "table_name_prefix"])
def test_inference_table_names_move_in_place(run: ApplyCli, project: Path, field: str) -> None:
    # An in-place path is preferred to a replace: the names change with PUT ai-gateway once the
    # table is disabled (databricks-sdk-py AiGatewayInferenceTableConfig: "On update, you have
    # to disable inference table first in order to change the catalog name").
    first = converge(run, project, BASE + gateway_table())
    write(project, BASE + gateway_table(**{field: "moved"}))
    code, out, _ = run("plan")
    assert "must be replaced" not in out
    assert "via PUT ai-gateway" in out
    assert "disabled first" in out
    code, out, err = run("apply", "--auto-approve")  # no --allow-replace needed
    assert code == 0, out + err
    live = run.get("scorer")
    assert live is not None
    assert live["id"] == first["id"]
    assert live["ai_gateway"]["inference_table_config"][field] == "moved"
    assert live["ai_gateway"]["inference_table_config"]["enabled"] is True
    gateway_puts = [s for s in run.transport.seen if s[:2] == ("PUT", GATEWAY_PATH)]
    assert len(gateway_puts) == 2
    assert run.plan_is_empty()


def test_explicit_cpu_against_a_workspace_that_omits_workload_type(
    project: Path, capsys: Any
) -> None:
    # Workspaces without GPU serving return no workload_type (design.md section 8, "an empty
    # workload_type on workspaces without GPU serving"); CPU is the documented default
    # (databricks-sdk-py ServedEntityInput.workload_type: 'Defaults to "CPU"'), so an explicit
    # CPU in the file is not a difference.
    config = EmulatorConfig(update_seconds=30.0, report_workload_type=False)
    for run in with_emulator(project, capsys, config):
        live = converge(run, project, entity_with("workload_type: CPU\n"))
        assert "workload_type" not in live["config"]["served_entities"][0]
        assert run("drift")[0] == 0
        live = converge(run, project, entity_with("workload_type: GPU_SMALL\n"))
        assert live["config"]["served_entities"][0]["workload_type"] == "GPU_SMALL"
        converge(run, project, entity_with("workload_type: CPU\n"))


def test_scale_to_zero_left_out_is_sent_false_then_kept(run: ApplyCli, project: Path) -> None:
    # The API rejects entities without scale_to_zero_enabled (terraform-provider-databricks
    # #4064): a create sends false; a config update sends the live value the file leaves alone.
    without = BASE.replace("      scale_to_zero_enabled: true\n", "")
    live = converge(run, project, without)
    assert live["config"]["served_entities"][0]["scale_to_zero_enabled"] is False
    converge(run, project, BASE)
    live = converge(run, project, without.replace('"1"', '"2"'))
    entity = live["config"]["served_entities"][0]
    assert (entity["entity_version"], entity["scale_to_zero_enabled"]) == ("2", True)


def test_legacy_rate_limits_say_what_is_sent(run: ApplyCli, project: Path) -> None:
    legacy = BASE + "rate_limits:\n  - {key: user, renewal_period: minute, calls: 3}\n"
    write(project, legacy)
    _, out, _ = run("plan")
    assert "rate_limits sent as ai_gateway.rate_limits in the create body" in out
    converge(run, project, legacy)
    write(project, legacy.replace("calls: 3", "calls: 4"))
    _, out, err = run("plan")
    assert "rate_limits sent as ai_gateway.rate_limits via PUT ai-gateway" in out
    assert "rate_limits is the legacy form" in err


@pytest.mark.parametrize("removal", ["telemetry_config: {}\n", "telemetry_config: null\n"])
def test_telemetry_can_be_removed(run: ApplyCli, project: Path, removal: str) -> None:
    # PATCH telemetry-config without a telemetry_config removes it: "If not provided, the
    # telemetry configuration will be removed from the endpoint" (databricks-sdk-py
    # ServingEndpointsAPI.patch_telemetry_config); databricks/cli sends exactly {} to remove it
    # (acceptance/bundle/resources/model_serving_endpoints/drift/
    # telemetry_config_with_config_update: "Removal sends an empty telemetry PATCH").
    converge(run, project, BASE + TELEMETRY)
    write(project, BASE + removal)
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 2, out
    assert "via PATCH telemetry-config" in out
    live = converge(run, project, BASE + removal)
    assert "telemetry_config" not in live
    converge(run, project, BASE + removal)  # nothing left to remove: no perpetual diff
    converge(run, project, BASE)  # omitted: left alone


def test_an_empty_telemetry_block_on_an_external_endpoint_is_no_telemetry(
    run: ApplyCli, project: Path
) -> None:
    converge(run, project, EXTERNAL + "telemetry_config: {}\n")


# --------------------------------------------------------------------------------------------
# Write-only fields (design.md section 8): burst_scaling_enabled is accepted and never returned
# by GET (databricks/cli bundle/direct/dresources/resources.yml: input_only; its testserver
# "burst_scaling_enabled is not echoed on GET"), so servingops compares it with a digest of what
# it last applied, kept in the servingops-applied tag.


class BodyRecording(Recording):
    """Also keeps the JSON bodies of writes, by (method, path)."""

    def __init__(self, emu: Emulator[ManualClock]) -> None:
        super().__init__(emu)
        self.bodies: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" and request.content:
            self.bodies.append((request.method, request.url.path, json.loads(request.content)))
        return await super().handle_async_request(request)

    def sent(self, method: str, suffix: str) -> list[Any]:
        return [b for m, p, b in self.bodies if m == method and p.endswith(suffix)]


def burst(value: bool | None) -> str:
    return BASE if value is None else entity_with(f"burst_scaling_enabled: {str(value).lower()}\n")


def test_write_only_changes_are_sent_and_never_a_perpetual_diff(
    run: ApplyCli, project: Path
) -> None:
    run.transport = recording = BodyRecording(run.emu)
    live = converge(run, project, burst(False))
    (create,) = recording.sent("POST", "/serving-endpoints")
    assert create["config"]["served_entities"][0]["burst_scaling_enabled"] is False
    assert "servingops-applied" in tags(live)
    assert "burst_scaling_enabled" not in live["config"]["served_entities"][0]  # never echoed

    write(project, burst(True))
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 2
    assert "burst_scaling_enabled" in out
    assert "via PUT config" in out
    live = converge(run, project, burst(True))
    (put,) = recording.sent("PUT", "/config")
    assert put["served_entities"][0]["burst_scaling_enabled"] is True
    applied = tags(live)["servingops-applied"]

    live = converge(run, project, burst(None))  # removed: back to the server default
    assert len(recording.sent("PUT", "/config")) == 2
    assert tags(live)["servingops-applied"] != applied
    converge(run, project, burst(None))
    assert len(recording.sent("PUT", "/config")) == 2  # quiet from now on


def test_an_adopted_endpoint_says_its_write_only_values_cannot_be_read(
    run: ApplyCli, project: Path
) -> None:
    run.transport = recording = BodyRecording(run.emu)
    run.emu.seed_endpoint(yaml.safe_load(BASE))
    write(project, burst(False))
    _, out, _ = run("plan")
    assert "cannot be read" in out
    assert "sent with the next config update" in out
    converge(run, project, burst(False))  # adopts: tags only, no rollout
    assert recording.sent("PUT", "/config") == []
    converge(run, project, burst(False).replace('"1"', '"2"'))
    (put,) = recording.sent("PUT", "/config")
    assert put["served_entities"][0]["burst_scaling_enabled"] is False
