"""Sequences of edits through `servingops apply` on the emulator: each edit reaches the
workspace, and the plan after it is empty (no perpetual diff, no silently dropped change)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import ApplyCli

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
