"""JSON plan renderer: golden files, the Terraform-like shape, and secret masking."""

from __future__ import annotations

import json
from typing import Any

import pytest

from servingops.model import Plan
from servingops.render import json_view
from tests.unit.test_render_text import (
    CASES,
    REFERENCES,
    SECRETS,
    case_delete_prune,
    case_empty_workspace,
    case_problems,
    case_replace,
    case_side_calls,
    case_traffic_shift,
    case_updating,
)

META = {"tool_version": "0.0.0-test", "workspace": "https://example.cloud.databricks.com"}


def _doc(plan: Plan) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json_view.render_plan(plan, **META))
    return doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_plan_matches_golden(case, golden):
    golden(f"plan_{case}.json", json_view.render_plan(CASES[case](), **META))


@pytest.mark.parametrize("case", sorted(CASES))
def test_drift_json_matches_golden(case, golden):
    golden(f"drift_{case}.json", json_view.render_drift_json(CASES[case](), **META))


def test_top_level_shape():
    doc = _doc(case_traffic_shift())
    assert list(doc) == [
        "format_version", "tool_version", "workspace", "target", "owner", "policy",
        "resource_changes", "aliases", "unchanged", "orphaned", "unmanaged", "foreign",
        "updating", "waits", "rollouts", "health", "ignored", "problems", "summary",
    ]  # fmt: skip
    assert doc["format_version"] == "1.5"
    assert doc["summary"] == {"add": 0, "change": 1, "destroy": 0, "unchanged": 1}
    change = doc["resource_changes"][0]
    assert change["address"] == "endpoint.fraud-scorer"
    assert change["source"] == {"file": "endpoints/fraud-scorer.yaml", "line": 1}
    assert change["change"]["actions"] == ["update"]
    assert change["live_fingerprint"]["endpoint_id"] == "id-fraud-scorer"
    assert len(change["live_fingerprint"]["sha256"]) == 64
    assert change["live_state"] == {"config_update": "NOT_UPDATING", "ready": "READY"}
    fields = {f["path"]: f for f in change["change"]["fields"]}
    assert fields["config.traffic.champion"] == {
        "path": "config.traffic.champion", "before": 100, "after": 90, "via": "config",
    }  # fmt: skip


def test_actions_lists_per_kind():
    kinds = {
        "create": _doc(case_empty_workspace()),
        "replace": _doc(case_replace()),
        "delete": _doc(case_delete_prune()),
    }
    assert kinds["create"]["resource_changes"][0]["change"]["actions"] == ["create"]
    assert kinds["create"]["resource_changes"][0]["change"]["before"] is None
    assert kinds["create"]["resource_changes"][0]["live_fingerprint"] is None
    replaced = kinds["replace"]["resource_changes"][0]
    assert replaced["change"]["actions"] == ["delete", "create"]
    assert replaced["action_reason"] == "replace_because_cannot_update"
    assert replaced["change"]["replace_paths"] == [["description"]]
    deleted = kinds["delete"]["resource_changes"][0]
    assert deleted["change"]["actions"] == ["delete"]
    assert deleted["change"]["after"] is None
    assert deleted["source"] is None


def test_absent_sides_are_flagged_only_where_needed():
    doc = _doc(case_side_calls())
    fields = [f for rc in doc["resource_changes"] for f in rc["change"]["fields"]]
    added = next(f for f in fields if f["path"] == "tags.tier")
    assert added["before"] is None
    assert added["before_absent"] is True
    assert "after_absent" not in added
    removed = next(f for f in fields if f["path"] == "tags.cost-center")
    assert removed["after_absent"] is True
    changed = next(f for f in fields if f["path"] == "tags.team")
    assert "before_absent" not in changed
    assert "after_absent" not in changed


def test_secrets_replaced_and_flagged():
    out = json_view.render_plan(case_empty_workspace(), **META)
    for secret in SECRETS:
        assert secret not in out
    by_name = {rc["name"]: rc for rc in json.loads(out)["resource_changes"]}
    chat = by_name["chat-gpt"]["change"]
    entity = chat["after"]["config"]["served_entities"]["gpt-4o-mini"]
    # a secret reference is not a secret (issue 9 item 7)
    assert entity["external_model"]["openai_config"]["openai_api_key"] == REFERENCES[1]
    assert chat["after_sensitive"] == {}
    fraud = by_name["fraud-scorer"]["change"]
    env = fraud["after_sensitive"]["config"]["served_entities"]["champion"]["environment_vars"]
    assert env == {"PLAIN_TOKEN": True}
    assert fraud["after"]["config"]["served_entities"]["champion"]["environment_vars"] == {
        "DB_PASSWORD": REFERENCES[0],
        "PLAIN_TOKEN": "(sensitive)",
    }
    assert fraud["before_sensitive"] == {}


def test_problems_and_updating():
    doc = _doc(case_problems())
    assert doc["problems"][0]["severity"] == "error"
    assert doc["problems"][0]["file"] == "endpoints/rec-embed.yaml"
    assert doc["problems"][0]["line"] == 2
    assert _doc(case_updating())["updating"] == ["fraud-scorer", "rec-embed"]


def test_drift_json():
    doc = json.loads(json_view.render_drift_json(case_traffic_shift(), **META))
    assert doc["drift"] is True
    fields = {f["path"]: f for f in doc["changed"][0]["fields"]}
    assert fields["config.traffic.champion"]["live"] == 100
    assert fields["config.traffic.champion"]["desired"] == 90
    converged = json.loads(json_view.render_drift_json(CASES["converged"](), **META))
    assert converged["drift"] is False
    assert converged["changed"] == converged["missing"] == converged["orphaned"] == []


def test_output_is_deterministic():
    plan = case_side_calls()
    assert json_view.render_plan(plan, **META) == json_view.render_plan(case_side_calls(), **META)
