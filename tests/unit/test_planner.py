"""The planner, table-driven: (desired, live, prune) -> actions with field paths and carriers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servingops import normalize, planner
from servingops.model import (
    ABSENT,
    ActionKind,
    Carrier,
    DesiredDocument,
    Path,
    Plan,
    SourceRef,
)

OWNER = "team/repo"


def entity(name: str, version: str = "1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "entity_name": "main.s.model", "entity_version": version,
            "workload_size": "Small", "scale_to_zero_enabled": True, **extra}  # fmt: skip


def doc(name: str = "ep", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "config": {"served_entities": [entity("a")]}}
    body.update(fields)
    return body


def live_of(body: dict[str, Any], *, owner: str | None = OWNER, **state: Any) -> dict[str, Any]:
    """What the server returns after creating `body` (defaults filled, output fields added)."""
    raw = copy.deepcopy(body)
    raw.pop("permissions", None)
    raw.setdefault("description", "")
    raw.setdefault("route_optimized", False)
    for e in raw.get("config", {}).get("served_entities", []):
        e.setdefault("workload_type", "CPU")
        e["state"] = {"deployment": "DEPLOYMENT_READY"}
    config = raw.get("config")
    if config:
        config["config_version"] = 1
        if "traffic_config" not in config:
            only = config["served_entities"][0]["name"]
            config["traffic_config"] = {"routes": [{"served_entity_name": only,
                                                    "served_model_name": only,
                                                    "traffic_percentage": 100}]}  # fmt: skip
    tags = list(raw.get("tags", []))
    if owner is not None:
        tags.append({"key": "servingops-owner", "value": owner})
    raw["tags"] = tags
    raw["id"] = "id-" + body["name"]
    raw["state"] = {"ready": "READY", "config_update": "NOT_UPDATING", **state}
    return raw


def make_plan(
    desired: list[dict[str, Any]],
    live: list[dict[str, Any]],
    *,
    prune: bool = False,
    acl: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    want = [
        normalize.normalize_desired(
            DesiredDocument(name=d["name"], body=d, source=SourceRef(path="f.yaml", line=1)),
            caller="user:me",
        )
        for d in desired
    ]
    have = [
        normalize.normalize_live(raw, permissions=(acl or {}).get(raw["name"]), caller="user:me")
        for raw in live
    ]
    return planner.plan(want, have, owner=OWNER, prune=prune)


def paths(plan: Plan) -> list[tuple[str, str, list[str]]]:
    return [
        (a.kind.value, a.name, [".".join(map(str, c.path)) for c in a.changes])
        for a in plan.actions
    ]


CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], bool, list[Any]]] = [
    ("empty workspace creates", [doc("b"), doc("a")], [], False,
     [("create", "a", []), ("create", "b", [])]),
    ("converged is empty", [doc()], [live_of(doc())], False, []),
    ("version bump", [doc(config={"served_entities": [entity("a", "2")]})], [live_of(doc())],
     False, [("update", "ep", ["config.served_entities.a.entity_version"])]),
    ("traffic shift", [doc(config={
        "served_entities": [entity("a"), entity("b", "2")],
        "traffic_config": {"routes": [{"served_entity_name": "a", "traffic_percentage": 90},
                                      {"served_entity_name": "b", "traffic_percentage": 10}]}})],
     [live_of(doc(config={
        "served_entities": [entity("a"), entity("b", "2")],
        "traffic_config": {"routes": [{"served_entity_name": "a", "traffic_percentage": 100},
                                      {"served_entity_name": "b", "traffic_percentage": 0}]}}))],
     False, [("update", "ep", ["config.traffic.a", "config.traffic.b"])]),
    ("tag change", [doc(tags=[{"key": "team", "value": "x"}])],
     [live_of(doc(tags=[{"key": "team", "value": "y"}]))], False,
     [("update", "ep", ["tags.team"])]),
    ("adoption adds the owner tag", [doc()], [live_of(doc(), owner=None)], False,
     [("update", "ep", ["tags.servingops-owner"])]),
    ("description forces replace", [doc(description="new")], [live_of(doc())], False,
     [("replace", "ep", ["description"])]),
    ("omitted description keeps live", [doc()], [live_of(doc(description="old"))], False, []),
    ("orphan without prune is kept", [], [live_of(doc("old"))], False, []),
    ("orphan with prune is deleted", [], [live_of(doc("old"))], True, [("delete", "old", [])]),
    ("unowned is never deleted", [], [live_of(doc("theirs"), owner=None)], True, []),
    ("gateway removal", [doc()],
     [live_of(doc(ai_gateway={"usage_tracking_config": {"enabled": True}}))], False,
     [("update", "ep", ["ai_gateway"])]),
    ("notifications", [doc(email_notifications={"on_update_failure": ["a@x.com"]})],
     [live_of(doc())], False, [("update", "ep", ["email_notifications"])]),
    ("order: creates, updates, replaces, deletes",
     [doc("z"), doc("m", description="n")],
     [live_of(doc("m")), live_of(doc("a"))], True,
     [("create", "z", []), ("replace", "m", ["description"]), ("delete", "a", [])]),
]  # fmt: skip


@pytest.mark.parametrize(("desired", "live", "prune", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_plan(desired: Any, live: Any, prune: bool, expected: Any) -> None:
    assert paths(make_plan(desired, live, prune=prune)) == expected


def test_lists_orphaned_unmanaged_and_unchanged() -> None:
    plan = make_plan(
        [doc("same")], [live_of(doc("same")), live_of(doc("mine")), live_of(doc("x"), owner=None)]
    )
    assert plan.unchanged == ("same",)
    assert plan.orphaned == ("mine",)
    assert plan.unmanaged == ("x",)
    assert plan.is_empty


def test_update_carries_before_after_and_carrier() -> None:
    plan = make_plan([doc(config={"served_entities": [entity("a", "2")]})], [live_of(doc())])
    (change,) = plan.actions[0].changes
    assert (change.before, change.after, change.carrier) == ("1", "2", Carrier.CONFIG)


def test_new_entity_is_one_added_subtree() -> None:
    desired = doc(
        config={
            "served_entities": [entity("a"), entity("b")],
            "traffic_config": {"routes": [{"served_entity_name": "a", "traffic_percentage": 100},
                                          {"served_entity_name": "b", "traffic_percentage": 0}]},
        }
    )  # fmt: skip
    plan = make_plan([desired], [live_of(doc())])
    added = [c for c in plan.actions[0].changes if c.path[:2] == ("config", "served_entities")]
    assert [(c.path, c.before) for c in added] == [(("config", "served_entities", "b"), ABSENT)]


def test_budget_policy_change_is_a_problem_not_a_silent_noop() -> None:
    plan = make_plan(
        [doc(budget_policy_id="bp-2")], [live_of(doc(), effective_budget_policy_id="bp-1")]
    )
    assert not plan.applyable
    assert "budget_policy_id cannot change" in plan.problems[0].summary


def test_endpoint_of_another_project_is_a_problem() -> None:
    plan = make_plan([doc()], [live_of(doc(), owner="other/repo")])
    assert plan.is_empty
    assert not plan.applyable
    assert 'owner "other/repo"' in plan.problems[0].summary


def test_permissions_diff_as_a_set_and_caller_is_implicit() -> None:
    acl = {
        "ep": {
            "access_control_list": [
                {"user_name": "me", "all_permissions": [{"permission_level": "CAN_MANAGE"}]},
                {"group_name": "b", "all_permissions": [{"permission_level": "CAN_VIEW"}]},
                {"group_name": "a", "all_permissions": [{"permission_level": "CAN_QUERY"}]},
            ]
        }
    }
    same = doc(permissions=[{"group_name": "a", "permission_level": "CAN_QUERY"},
                            {"group_name": "b", "permission_level": "CAN_VIEW"}])  # fmt: skip
    assert make_plan([same], [live_of(same)], acl=acl).is_empty
    changed = doc(permissions=[{"group_name": "a", "permission_level": "CAN_MANAGE"}])
    assert paths(make_plan([changed], [live_of(changed)], acl=acl)) == [
        ("update", "ep", ["permissions.group:a", "permissions.group:b"])
    ]


def test_updating_endpoint_is_listed_and_not_drift() -> None:
    raw = live_of(doc())
    raw["state"]["config_update"] = "IN_PROGRESS"
    plan = make_plan([doc()], [raw])
    assert plan.updating == ("ep",)
    assert plan.is_empty


def test_summary_counts_replace_twice() -> None:
    plan = make_plan([doc("n"), doc("r", description="x")], [live_of(doc("r"))])
    assert plan.summary == (2, 0, 1)
    assert plan.count(ActionKind.REPLACE) == 1


def test_problem_points_at_the_line_of_the_field() -> None:
    body = doc(budget_policy_id="bp-2")
    where: dict[Path, SourceRef] = {
        ("budget_policy_id",): SourceRef(path="f.yaml", line=9, column=1)
    }
    want = normalize.normalize_desired(
        DesiredDocument(name="ep", body=body, source=SourceRef(path="f.yaml", line=1),
                        positions=where)
    )  # fmt: skip
    have = normalize.normalize_live(live_of(doc(), effective_budget_policy_id="bp-1"))
    (problem,) = planner.plan([want], [have], owner=OWNER).problems
    assert str(problem.source) == "f.yaml:9:1"
