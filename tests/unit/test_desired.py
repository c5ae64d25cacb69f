"""load_desired: the invalid corpus (exact diagnostics), body conversion, interpolation, fuzzing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servingops import desired, loader
from servingops.model import SourceRef
from servingops.project import Project, Target, load_project
from servingops.render.diagnostics import render_text

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "invalid"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
TARGET = Target(name="ci", variables={"version": "3"})


def project_at(root: Path, *, endpoints: tuple[Path, ...] | None = None) -> Project:
    return Project(
        path=None,
        root=root,
        endpoints=endpoints or (root,),
        owner="default",
        default_target="ci",
        targets={"ci": TARGET},
    )


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_invalid_corpus_case(case: str) -> None:
    root = CORPUS / case
    documents, diagnostics = desired.load_desired(project_at(root), TARGET)
    assert documents == ()
    assert any(d.is_error for d in diagnostics)
    assert render_text(diagnostics) + "\n" == (root / "expected.txt").read_text()


def test_huge_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "huge.yaml").write_text("name: x\n" + "# padding line\n" * 80_000)
    documents, diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    assert documents == ()
    assert render_text(diagnostics) == (
        "huge.yaml:1:1: error: file is 1200008 bytes, larger than the 1048576 byte limit; "
        "split it into smaller files\n1 error in 1 file"
    )


def test_examples_load_into_api_bodies() -> None:
    project = load_project(REPO)
    documents, diagnostics = desired.load_desired(project, project.targets["prod"])
    assert diagnostics == ()
    assert [d.name for d in documents] == ["fraud-scorer", "support-chat", "text-embeddings"]
    fraud = documents[0]
    assert fraud.source == SourceRef(path="endpoints/fraud-scorer.yaml", line=3, column=1)
    assert fraud.body == {
        "name": "fraud-scorer",
        "description": "Scores card transactions for fraud",
        "config": {
            "served_entities": [
                {
                    "name": "champion",
                    "entity_name": "main.risk.fraud",
                    "entity_version": "7",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                },
                {
                    "name": "challenger",
                    "entity_name": "main.risk.fraud",
                    "entity_version": "7",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                },
            ],
            "traffic_config": {
                "routes": [
                    {"served_entity_name": "champion", "traffic_percentage": 90},
                    {"served_entity_name": "challenger", "traffic_percentage": 10},
                ]
            },
        },
        "tags": [{"key": "team", "value": "risk"}, {"key": "cost-center", "value": "4411"}],
        "ai_gateway": {"rate_limits": [{"key": "user", "renewal_period": "minute", "calls": 100}]},
        "email_notifications": {"on_update_failure": ["ml-oncall@example.com"]},
        "permissions": [
            {"group_name": "risk-analysts", "permission_level": "CAN_QUERY"},
            {
                "service_principal_name": "6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f",
                "permission_level": "CAN_MANAGE",
            },
        ],
    }
    pos = fraud.positions
    assert pos[("tags", 1, "key")] == SourceRef(
        path="endpoints/fraud-scorer.yaml", line=23, column=20
    )
    assert pos[("tags", 1, "value")].line == 23
    assert pos[("ai_gateway", "rate_limits", 0, "calls")].line == 22
    assert pos[("ai_gateway",)].line == 22
    assert pos[("config", "traffic_config", "routes", 1, "traffic_percentage")].line == 20
    chat = documents[1].body
    assert chat["config"]["served_entities"][0]["external_model"]["name"] == "gpt-4o"
    assert "permissions" in chat


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text)


def test_legacy_served_models_are_converted_with_a_warning(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "name: x\nconfig:\n  served_models:\n"
        "    - {model_name: m.s.f, model_version: 2, scale_to_zero_enabled: false}\n"
        "  traffic_config:\n    routes: [{served_model_name: f-2, traffic_percentage: 100}]\n",
    )
    (doc,), diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    assert render_text(diagnostics) == (
        "a.yaml:3:3: warning: config.served_models: served_models is deprecated; it is read as "
        "served_entities (rename it, with model_name -> entity_name and model_version -> "
        "entity_version)\n0 errors (1 warning)"
    )
    assert doc.body["config"] == {
        "served_entities": [
            {"entity_name": "m.s.f", "entity_version": 2, "scale_to_zero_enabled": False}
        ],
        "traffic_config": {"routes": [{"served_entity_name": "f-2", "traffic_percentage": 100}]},
    }
    assert doc.positions[("config", "served_entities", 0, "entity_version")] == SourceRef(
        path="a.yaml", line=4, column=42
    )
    assert ("config", "traffic_config", "routes", 0, "served_entity_name") in doc.positions


def test_permissions_absent_versus_empty(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: a\n---\nname: b\npermissions: []\n")
    (a, b), _ = desired.load_desired(project_at(tmp_path), TARGET)
    assert "permissions" not in a.body
    assert b.body == {"name": "b", "permissions": []}


def test_rate_limits_join_an_existing_ai_gateway(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "name: a\nai_gateway: {usage_tracking_config: {enabled: true}}\n"
        "rate_limits: [{calls: '5', renewal_period: minute}]\n",
    )
    (doc,), _ = desired.load_desired(project_at(tmp_path), TARGET)
    assert doc.body["ai_gateway"] == {
        "usage_tracking_config": {"enabled": True},
        "rate_limits": [{"calls": "5", "renewal_period": "minute"}],
    }
    assert doc.positions[("ai_gateway",)].line == 2


@pytest.mark.parametrize(
    ("value", "variables", "result"),
    [
        ("${var.version}", {"version": "3"}, "3"),
        ("v${var.version}-${var.suffix}", {"version": "3", "suffix": "b"}, "v3-b"),
        ("$${var.version}", {}, "${var.version}"),
        ("plain", {}, "plain"),
    ],
)
def test_interpolation(value: str, variables: dict[str, str], result: str) -> None:
    (doc,) = loader.load_text(f"description: '{value}'\n", path="a.yaml").documents
    new, problems = desired.interpolate(doc, variables)
    assert problems == ()
    assert new.data == {"description": result}


def test_interpolation_errors_without_target() -> None:
    text = "a: ${var.x}\nb: ${var.x\nc: ${x}\n"
    (doc,) = loader.load_text(text, path="a.yaml").documents
    new, problems = desired.interpolate(doc, {})
    assert new.data == {"a": "${var.x}", "b": "${var.x", "c": "${x}"}
    assert [f"{p.source}: {p.summary}" for p in problems] == [
        "a.yaml:1:4: undefined variable 'x': no target is selected; pass --target or --var x=VALUE",
        "a.yaml:2:4: unterminated '${'; close it with '}' or write '$${' for a literal '${'",
        "a.yaml:3:4: unsupported interpolation '${x}'; only ${var.NAME} is supported "
        "(write '$${' for a literal '${')",
    ]


def test_overrides_win_over_target_variables(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: e${var.version}\n")
    (doc,), _ = desired.load_desired(project_at(tmp_path), TARGET, overrides={"version": "9"})
    assert doc.name == "e9"


def test_paths_override_and_walk_sorted(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    write(tmp_path, "servingops.yaml", "owner: x\n")
    write(tmp_path / "sub", "b.yml", "name: b\n")
    write(tmp_path / "sub", "a.yaml", "name: a\n")
    write(tmp_path / "sub", "notes.txt", "not yaml")
    write(tmp_path / ".hidden", "c.yaml", "name: c\n")
    project = load_project(tmp_path)
    docs, _ = desired.load_desired(project, None, paths=[tmp_path, tmp_path / "sub" / "a.yaml"])
    assert [(d.name, d.source.path) for d in docs] == [("a", "sub/a.yaml"), ("b", "sub/b.yml")]


def test_loading_pauses_after_each_file_and_ends_with_what_load_desired_returns(
    tmp_path: Path,
) -> None:
    write(tmp_path, "a.yaml", "name: a\n")
    write(tmp_path, "b.yaml", "name: b\nfoo: 1\n")
    write(tmp_path, "c.yaml", "name: c\n")
    project = project_at(tmp_path)
    steps = desired.loading(project, None)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result = done.value
            break
        pauses += 1
    assert pauses == 3
    assert result == desired.load_desired(project, None)
    assert result[0] == ()  # b.yaml is invalid: no documents, its diagnostic
    assert [d.source.path for d in result[1]] == ["b.yaml"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    _docs, diagnostics = desired.load_desired(project_at(tmp_path), None, paths=[tmp_path / "no"])
    assert render_text(diagnostics) == (
        "no: error: no such file or folder; check the endpoints setting in servingops.yaml "
        "or the paths given\n1 error in 1 file"
    )


EXAMPLES = [p.read_text() for p in sorted((REPO / "endpoints").glob("*.yaml"))]


def mutate(text: str, rnd: random.Random, steps: int) -> str:
    chars = list(text)
    pool = [*list(": -[]{}&*!|>'\"#\n\t,?%@0123456789abcxyz${}."), "é", "\x00"]
    for _ in range(steps):
        op = rnd.randrange(4)
        at = rnd.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(at, len(chars) - 1)]
        elif op == 1:
            chars.insert(at, rnd.choice(pool))
        elif op == 2 and chars:
            lines = "".join(chars).split("\n")
            rnd.shuffle(lines)
            chars = list("\n".join(lines))
        else:
            chars[at:at] = list(rnd.choice(text.split("\n")) + "\n")
    return "".join(chars)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    example=st.sampled_from(EXAMPLES),
    seed=st.integers(min_value=0, max_value=2**32),
    steps=st.integers(min_value=1, max_value=8),
)
def test_mutated_examples_give_only_diagnostics(
    tmp_path: Path, example: str, seed: int, steps: int
) -> None:
    text = mutate(example, random.Random(seed), steps)
    (tmp_path / "e.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    documents, diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    if any(d.is_error for d in diagnostics):
        assert documents == ()
    for diag in diagnostics:
        assert diag.source is not None
        assert diag.source.path == "e.yaml"
    render_text(diagnostics)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_random_bytes_give_only_diagnostics(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "e.yaml").write_bytes(data)
    desired.load_desired(project_at(tmp_path), TARGET)


# --------------------------------------------------------------------------------------------
# Bodies written for the API paste in (issue 9 item 6)

PUT_CONFIG_EXAMPLE = """\
name: fraud-scorer
config:
  # The REST reference's PUT config example and the Python SDK's EndpointCoreConfigInput (a
  # required dataclass field, serialised inside create bodies) both carry config.name.
  name: fraud-scorer
  served_entities:
    - {name: a, entity_name: main.risk.fraud, entity_version: "7", workload_size: Small,
       scale_to_zero_enabled: true}
"""


def test_config_name_is_accepted_and_ignored_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", PUT_CONFIG_EXAMPLE)
    (doc,), diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    assert render_text(diagnostics) == (
        "a.yaml:5:9: warning: config.name: config.name is ignored: the endpoint is named by "
        "name (it is accepted so API examples and SDK-written bodies paste in)\n"
        "0 errors (1 warning)"
    )
    assert "name" not in doc.body["config"]
    write(tmp_path, "a.yaml", PUT_CONFIG_EXAMPLE.replace("  name: fraud-scorer", "  name: other"))
    _, diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    assert "config.name 'other' differs from name 'fraud-scorer' and is ignored" in render_text(
        diagnostics
    )


class _RecordingApiClient:
    """Stands in for the SDK's ApiClient: keeps the request body instead of sending it."""

    def __init__(self) -> None:
        self._cfg = SimpleNamespace(workspace_id=None)
        self.bodies: list[dict[str, Any]] = []

    def do(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        self.bodies.append(body)
        return {"name": body["name"]}


def sdk_create_body() -> dict[str, Any]:
    """A create body exactly as databricks-sdk-py's ServingEndpointsAPI.create writes it (the
    `CreateServingEndpoint(...).as_dict()` of older SDKs), with every block it can carry."""
    from databricks.sdk.service import serving as s

    recorder = _RecordingApiClient()
    s.ServingEndpointsAPI(recorder).create(  # type: ignore[no-untyped-call]
        name="sdk-made",
        description="written by the SDK",
        route_optimized=False,
        budget_policy_id="policy-1",
        config=s.EndpointCoreConfigInput(
            name="sdk-made",
            served_entities=[
                s.ServedEntityInput(
                    name="champion",
                    entity_name="main.risk.fraud",
                    entity_version="7",
                    workload_size="Small",
                    workload_type=s.ServingModelWorkloadType.CPU,
                    scale_to_zero_enabled=True,
                    burst_scaling_enabled=False,
                    environment_vars={"MODE": "fast"},
                )
            ],
            traffic_config=s.TrafficConfig(
                routes=[s.Route(served_entity_name="champion", traffic_percentage=100)]
            ),
            auto_capture_config=s.AutoCaptureConfigInput(
                catalog_name="c", schema_name="s", enabled=True
            ),
        ),
        ai_gateway=s.AiGatewayConfig(
            usage_tracking_config=s.AiGatewayUsageTrackingConfig(enabled=True),
            inference_table_config=s.AiGatewayInferenceTableConfig(
                catalog_name="c", schema_name="s", enabled=True
            ),
            guardrails=s.AiGatewayGuardrails(
                input=s.AiGatewayGuardrailParameters(
                    safety=True,
                    pii=s.AiGatewayGuardrailPiiBehavior(
                        behavior=s.AiGatewayGuardrailPiiBehaviorBehavior.BLOCK
                    ),
                )
            ),
            fallback_config=s.FallbackConfig(enabled=False),
        ),
        rate_limits=[
            s.RateLimit(
                calls=10, renewal_period=s.RateLimitRenewalPeriod.MINUTE, key=s.RateLimitKey.USER
            )
        ],
        tags=[s.EndpointTag(key="team", value="risk")],
        email_notifications=s.EmailNotifications(on_update_failure=["a@example.com"]),
        telemetry_config=s.TelemetryConfig(
            telemetry_profile_id="profile-1",
            inference_table_config=s.TelemetryInferenceTableConfig(sampling_fraction=0.5),
        ),
    )
    (body,) = recorder.bodies
    return body


def test_a_create_body_written_by_the_sdk_pastes_in(tmp_path: Path) -> None:
    body = sdk_create_body()
    assert body["config"]["name"] == "sdk-made"  # the extra key the SDK emits
    write(tmp_path, "sdk.yaml", json.dumps(body, indent=2))
    (doc,), diagnostics = desired.load_desired(project_at(tmp_path), TARGET)
    assert [d for d in diagnostics if d.is_error] == []
    assert {d.pointer for d in diagnostics} <= {"config.name", "rate_limits"}
    assert doc.body["config"]["served_entities"][0]["burst_scaling_enabled"] is False
