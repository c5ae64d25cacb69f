"""Text plan and drift renderer: golden files per realistic case, plus the secret property.

The cases here (built through normalize and the planner, as the CLI does) are shared with the
JSON and markdown renderer tests.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servingops import normalize, planner, preflight, rollout
from servingops.gates import Breach, Check
from servingops.model import (
    OWNER_TAG,
    ROLLOUT_TAG,
    DesiredDocument,
    Endpoint,
    Gates,
    Plan,
    RolloutSpec,
    SourceRef,
)
from servingops.preflight import Fact, Kind, Lookup, Outcome
from servingops.render import json_view, markdown, text

OWNER = "ml-platform/serving"
CALLER = "service_principal:ci-app-id"
# Values written in clear (masked everywhere), and secret references (shown everywhere: a
# reference is a pointer, and a reviewer must see which one changes; issue 9 item 7).
SECRETS = ("plain-env-secret-value",)
REFERENCES = ("{{secrets/fraud/db_password}}", "{{secrets/llm/openai_key}}")


# --------------------------------------------------------------------------------------------
# Realistic inputs: desired documents and the GET responses the workspace would return


def served(name: str, version: str, *, size: str = "Small", stz: bool = True, **extra: Any):
    return {
        "name": name,
        "entity_name": "main.risk.fraud",
        "entity_version": version,
        "workload_size": size,
        "workload_type": "CPU",
        "scale_to_zero_enabled": stz,
        **extra,
    }


def routes(**split: int) -> dict[str, Any]:
    return {
        "routes": [{"served_entity_name": n, "traffic_percentage": p} for n, p in split.items()]
    }


def fraud_body(**changes: Any) -> dict[str, Any]:
    env = {"DB_PASSWORD": REFERENCES[0], "PLAIN_TOKEN": SECRETS[0]}
    body: dict[str, Any] = {
        "name": "fraud-scorer",
        "description": "Scores card transactions",
        "config": {
            "served_entities": [
                served("champion", "7", environment_vars=env),
                served("challenger", "7"),
            ],
            "traffic_config": routes(champion=100, challenger=0),
        },
        "tags": [{"key": "team", "value": "risk"}, {"key": "cost-center", "value": "4411"}],
        "email_notifications": {"on_update_failure": ["ml-oncall@example.com"]},
        "permissions": [{"group_name": "risk-analysts", "permission_level": "CAN_QUERY"}],
    }
    body.update(changes)
    return body


def chat_body(**changes: Any) -> dict[str, Any]:
    external = {
        "provider": "openai",
        "name": "gpt-4o-mini",
        "task": "llm/v1/chat",
        "openai_config": {"openai_api_key": REFERENCES[1]},
    }
    body: dict[str, Any] = {
        "name": "chat-gpt",
        "config": {"served_entities": [{"name": "gpt-4o-mini", "external_model": external}]},
        "ai_gateway": {
            "usage_tracking_config": {"enabled": True},
            "rate_limits": [{"key": "user", "renewal_period": "minute", "calls": 100}],
        },
        "tags": [{"key": "team", "value": "genai"}],
    }
    body.update(changes)
    return body


def embed_body(**changes: Any) -> dict[str, Any]:
    entity = {
        "entity_name": "main.rec.embed",
        "entity_version": "3",
        "workload_size": "Small",
        "workload_type": "CPU",
        "scale_to_zero_enabled": True,
    }
    body: dict[str, Any] = {
        "name": "rec-embed",
        "description": "Recommendation embeddings",
        "config": {"served_entities": [entity]},
    }
    body.update(changes)
    return body


def desired(body: dict[str, Any], line: int = 1, *, spec: RolloutSpec | None = None) -> Endpoint:
    name = body["name"]
    source = SourceRef(path=f"endpoints/{name}.yaml", line=line, column=1)
    doc = DesiredDocument(name=name, body=copy.deepcopy(body), source=source, rollout=spec)
    return normalize.normalize_desired(doc, caller=CALLER)


def live(
    body: dict[str, Any],
    *,
    owner: str | None = OWNER,
    pending: dict[str, Any] | None = None,
    version: int = 4,
    rollout_state: str | None = None,
) -> Endpoint:
    """The GET response (and permissions GET) a workspace returns for `body` once created."""
    raw = copy.deepcopy(body)
    name = raw["name"]
    acl = raw.pop("permissions", None)
    config = raw.get("config")
    if config:
        raw["config"] = _live_config(config, version)
    tags = list(raw.get("tags") or [])
    if owner is not None:
        tags.append({"key": OWNER_TAG, "value": owner})
    if rollout_state is not None:
        tags.append({"key": ROLLOUT_TAG, "value": rollout_state})
    raw.update(
        {
            "id": f"id-{name}",
            "creator": "ci-app-id",
            "creation_timestamp": 1766000000000,
            "last_updated_timestamp": 1766000300000 + version,
            "state": {
                "ready": "READY",
                "config_update": "IN_PROGRESS" if pending else "NOT_UPDATING",
            },
            "permission_level": "CAN_MANAGE",
            "route_optimized": False,
            "tags": tags,
        }
    )
    if pending:
        raw["pending_config"] = _live_config(pending, version + 1)
    permissions = None
    if acl is not None:
        entries = [
            {
                **{k: v for k, v in e.items() if k != "permission_level"},
                "all_permissions": [
                    {"permission_level": e["permission_level"], "inherited": False}
                ],
            }
            for e in acl
        ]
        entries.append(
            {
                "group_name": "admins",
                "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": True}],
            }
        )
        permissions = {"object_id": f"/serving-endpoints/id-{name}", "access_control_list": entries}
    return normalize.normalize_live(raw, permissions=permissions, caller=CALLER)


def _live_config(config: dict[str, Any], version: int) -> dict[str, Any]:
    entities = []
    for entity in config["served_entities"]:
        out = dict(entity)
        out.setdefault("name", normalize.default_entity_name(entity))
        out.update(creator="ci-app-id", creation_timestamp=1766000000000)
        out["state"] = {"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}
        entities.append(out)
    split = config.get("traffic_config") or routes(**{entities[0]["name"]: 100})
    return {
        "config_version": version,
        "served_entities": entities,
        "traffic_config": {
            "routes": [{**r, "served_model_name": r["served_entity_name"]} for r in split["routes"]]
        },
    }


def _plan(
    want: list[Endpoint],
    have: list[Endpoint],
    *,
    prune: bool = False,
    allow_replace: bool = False,
    observed_at_ms: int | None = None,
) -> Plan:
    return planner.plan(
        want,
        have,
        owner=OWNER,
        prune=prune,
        allow_replace=allow_replace,
        target="prod",
        observed_at_ms=observed_at_ms,
    )


# --------------------------------------------------------------------------------------------
# The cases


def case_empty_workspace() -> Plan:
    return _plan([desired(fraud_body()), desired(chat_body(), 3), desired(embed_body())], [])


def case_converged() -> Plan:
    bodies = [fraud_body(), chat_body(), embed_body()]
    return _plan([desired(b) for b in bodies], [live(b) for b in bodies])


def case_traffic_shift() -> Plan:
    shifted = copy.deepcopy(fraud_body())
    shifted["config"]["served_entities"][1]["entity_version"] = "8"
    shifted["config"]["traffic_config"] = routes(champion=90, challenger=10)
    return _plan(
        [desired(shifted), desired(embed_body())], [live(fraud_body()), live(embed_body())]
    )


def case_side_calls() -> Plan:
    fraud = fraud_body(
        tags=[{"key": "team", "value": "fraud-risk"}, {"key": "tier", "value": "1"}],
        email_notifications={
            "on_update_failure": ["ml-oncall@example.com"],
            "on_update_success": ["risk-team@example.com"],
        },
        permissions=[
            {"group_name": "risk-analysts", "permission_level": "CAN_MANAGE"},
            {"user_name": "ana@example.com", "permission_level": "CAN_QUERY"},
        ],
    )
    chat = chat_body(
        ai_gateway={
            "usage_tracking_config": {"enabled": True},
            "rate_limits": [
                {"key": "user", "renewal_period": "minute", "calls": 200},
                {"key": "endpoint", "renewal_period": "minute", "tokens": 50000},
            ],
            "guardrails": {"input": {"safety": True, "invalid_keywords": ["ssn"]}},
        }
    )
    return _plan([desired(fraud), desired(chat, 3)], [live(fraud_body()), live(chat_body())])


def case_capacity() -> Plan:
    bigger = copy.deepcopy(fraud_body())
    bigger["config"]["served_entities"][0]["workload_size"] = "Large"
    bigger["config"]["served_entities"][0]["scale_to_zero_enabled"] = False
    before = copy.deepcopy(fraud_body())
    before["config"]["served_entities"][1]["scale_to_zero_enabled"] = False
    return _plan([desired(bigger)], [live(before)])


def case_adoption() -> Plan:
    return _plan([desired(embed_body())], [live(embed_body(), owner=None)])


def case_replace() -> Plan:
    changed = embed_body(description="Recommendation embeddings v2")
    return _plan([desired(changed)], [live(embed_body())], allow_replace=True)


def case_replace_blocked() -> Plan:
    """The same change planned without --allow-replace: shown, and refused."""
    changed = embed_body(description="Recommendation embeddings v2")
    return _plan([desired(changed)], [live(embed_body())])


def case_delete_prune() -> Plan:
    old = embed_body(name="old-scorer")
    return _plan([desired(fraud_body())], [live(fraud_body()), live(old)], prune=True)


def case_orphaned_unmanaged() -> Plan:
    old = embed_body(name="old-scorer")
    theirs = embed_body(name="team-x-endpoint")
    adhoc = embed_body(name="adhoc-test")
    return _plan(
        [desired(fraud_body())],
        [
            live(fraud_body()),
            live(old),
            live(theirs, owner="team-x/serving"),
            live(adhoc, owner=None),
        ],
    )


def case_updating() -> Plan:
    bumped = copy.deepcopy(embed_body())
    bumped["config"]["served_entities"][0]["entity_version"] = "4"
    fraud = fraud_body()
    return _plan(
        [desired(fraud), desired(bumped)],
        [live(fraud, pending=fraud["config"]), live(embed_body(), pending=embed_body()["config"])],
    )


CANARY = RolloutSpec(
    entity="challenger",
    steps=(10, 25, 50, 100),
    pause_seconds=600,
    gates=Gates(max_error_rate=0.01, max_p99_ms=800, min_requests=200),
)


def canary_body(champion: int, challenger: int) -> dict[str, Any]:
    """fraud-scorer with challenger on version 8 and the given split."""
    body = copy.deepcopy(fraud_body())
    body["config"]["served_entities"][1]["entity_version"] = "8"
    body["config"]["traffic_config"] = routes(champion=champion, challenger=challenger)
    return body


def canary_state(phase: str, share: int, **kw: Any) -> str:
    target, attempt = rollout.digests(CANARY, desired(canary_body(0, 100), spec=CANARY))
    state = rollout.State(
        entity="challenger",
        phase=phase,
        share=share,
        before={"champion": 100, "challenger": 0},
        target=target,
        attempt=attempt,
        **kw,
    )
    return rollout.encode(state)


def case_rollout_pending() -> Plan:
    """A new version rolled out to 100% in four gated steps, from champion 100%."""
    return _plan([desired(canary_body(0, 100), spec=CANARY)], [live(fraud_body())])


def case_rollout_in_progress() -> Plan:
    """Step 2 (25%) went live four minutes before the plan; two steps left."""
    state = canary_state("live", 25, at_s=1766000000)
    return _plan(
        [desired(canary_body(0, 100), spec=CANARY)],
        [live(canary_body(75, 25), version=6, rollout_state=state)],
        observed_at_ms=1766000240000,
    )


def case_rollout_held() -> Plan:
    """Rolled back at 10% by its error-rate gate: held at champion 100% until the file moves."""
    failure = Breach(check=Check.ERROR_RATE, value=0.034, limit=0.01, minutes=3, requests=512)
    state = canary_state("rolledback", 10, at_s=1766000180, failure=failure)
    return _plan(
        [desired(canary_body(0, 100), spec=CANARY)],
        [live(canary_body(100, 0), version=7, rollout_state=state)],
        observed_at_ms=1766000400000,
    )


def case_problems() -> Plan:
    return _plan(
        [desired(embed_body(budget_policy_id="bp-new"), 2)],
        [live(embed_body(budget_policy_id="bp-old"))],
    )


def case_alias() -> Plan:
    """The challenger follows `@champion` (now version 8) and a new endpoint follows `@prod`;
    pre-flight found a missing group and could not read a secret scope."""
    fraud = copy.deepcopy(fraud_body())
    fraud["config"]["served_entities"][1]["entity_version"] = "@champion"
    fraud["config"]["traffic_config"] = routes(champion=90, challenger=10)
    embed = copy.deepcopy(embed_body())
    embed["config"]["served_entities"][0].update(name="embed", entity_version="@prod")
    docs = [
        DesiredDocument(
            name=b["name"],
            body=b,
            source=SourceRef(path=f"endpoints/{b['name']}.yaml", line=1, column=1),
        )
        for b in (fraud, embed)
    ]
    found = Outcome.FOUND
    aliases = {
        Lookup(Kind.ALIAS, "main.risk.fraud", "champion"): Fact(outcome=found, version="8"),
        Lookup(Kind.ALIAS, "main.rec.embed", "prod"): Fact(outcome=found, version="5"),
    }
    resolution = preflight.resolve_aliases(docs, aliases)
    plan = _plan(
        [normalize.normalize_desired(d, caller=CALLER) for d in resolution.documents],
        [live(fraud_body())],
    )
    facts = {
        Lookup(Kind.SCOPE, "fraud"): Fact(outcome=Outcome.DENIED),
        Lookup(Kind.GROUP, "risk-analysts"): Fact(outcome=Outcome.MISSING),
    }
    refs = [r for d in resolution.documents for r in preflight.references(d)]
    return dataclasses.replace(plan, pins=resolution.pins, problems=preflight.check(refs, facts))


CASES: dict[str, Callable[[], Plan]] = {
    "alias": case_alias,
    "empty_workspace": case_empty_workspace,
    "converged": case_converged,
    "traffic_shift": case_traffic_shift,
    "side_calls": case_side_calls,
    "capacity": case_capacity,
    "adoption": case_adoption,
    "replace": case_replace,
    "replace_blocked": case_replace_blocked,
    "delete_prune": case_delete_prune,
    "orphaned_unmanaged": case_orphaned_unmanaged,
    "updating": case_updating,
    "problems": case_problems,
    "rollout_pending": case_rollout_pending,
    "rollout_in_progress": case_rollout_in_progress,
    "rollout_held": case_rollout_held,
}


def all_outputs(plan: Plan) -> dict[str, str]:
    """Every renderer's output for one plan, by name."""
    meta = {"tool_version": "0.0.0-test", "workspace": "https://example.cloud.databricks.com"}
    return {
        "text": text.render_plan(plan),
        "text_color": text.render_plan(plan, color=True),
        "drift": text.render_drift(plan),
        "json": json_view.render_plan(plan, **meta),
        "drift_json": json_view.render_drift_json(plan, **meta),
        "markdown": markdown.render_plan(plan, target="prod"),
        "markdown_drift": markdown.render_drift(plan, target="prod"),
    }


ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_plan_matches_golden(case, golden):
    golden(f"plan_{case}.txt", text.render_plan(CASES[case]()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_drift_report_matches_golden(case, golden):
    golden(f"drift_{case}.txt", text.render_drift(CASES[case]()))


def test_colour_only_when_asked(golden):
    plan = case_traffic_shift()
    plain = text.render_plan(plan)
    coloured = text.render_plan(plan, color=True)
    golden("plan_traffic_shift_color.txt", coloured)
    assert "\x1b[" not in plain
    assert "\x1b[33m~\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == plain


def test_colour_symbols_per_action():
    coloured = text.render_plan(case_delete_prune(), color=True)
    assert "\x1b[31m-\x1b[0m endpoint" in coloured
    replaced = text.render_plan(case_replace(), color=True)
    assert "\x1b[35m-/+\x1b[0m endpoint" in replaced
    created = text.render_plan(case_empty_workspace(), color=True)
    assert "\x1b[32m+\x1b[0m endpoint" in created


@pytest.mark.parametrize(
    ("case", "last"),
    [
        ("empty_workspace", "Plan: 3 to add, 0 to change, 0 to destroy. 0 unchanged."),
        ("converged", "No changes. Live endpoints match the configuration."),
        ("traffic_shift", "Plan: 0 to add, 1 to change, 0 to destroy. 1 unchanged."),
        ("replace", "Plan: 1 to add, 0 to change, 1 to destroy. 0 unchanged."),
        ("delete_prune", "Plan: 0 to add, 0 to change, 1 to destroy. 1 unchanged."),
        ("orphaned_unmanaged", "No changes. Live endpoints match the configuration."),
        ("problems", "Plan: 0 to add, 1 to change, 0 to destroy. 0 unchanged."),
    ],
)
def test_summary_line_is_the_last_line(case, last):
    assert text.render_plan(CASES[case]()).splitlines()[-1] == last


def test_traffic_shift_shows_impact():
    out = text.render_plan(case_traffic_shift())
    assert "# traffic champion/challenger 100/0 -> 90/10" in out
    assert "# challenger: version 7 -> 8" in out
    assert '~ entity_version = "7" -> "8"' in out
    assert "via PUT config (rolling update; config_version 4 keeps serving until the new one" in out
    assert "(sensitive)" not in out  # the unchanged secrets are hidden, not shown masked


def test_replace_says_why_and_that_the_url_changes():
    out = text.render_plan(case_replace())
    assert '# endpoint "rec-embed" must be replaced' in out
    assert "# (the description has no update API)" in out
    assert "URL changes" in out
    assert "# forces replacement" in out


def test_adoption_is_said():
    out = text.render_plan(case_adoption())
    assert "adopted" in out
    assert f'+ {OWNER_TAG} = "{OWNER}"' in out


def test_capacity_and_cold_starts():
    out = text.render_plan(case_capacity())
    assert "capacity champion: 0-4 -> 16-64 concurrency (Small -> Large)" in out
    assert "scale-to-zero: cold starts (challenger)" in out


def test_orphaned_and_unmanaged_listed():
    out = text.render_plan(case_orphaned_unmanaged())
    assert "will be deleted with --prune: old-scorer" in out
    assert "1 unmanaged endpoint (no servingops-owner tag) left untouched: adhoc-test" in out
    # Owned by another project is not "unmanaged": it is listed apart, with its owner.
    assert (
        "1 endpoint owned by another servingops project left untouched: "
        "team-x-endpoint (team-x/serving)"
    ) in out


def test_problems_are_one_line_each():
    out = text.render_plan(case_problems())
    errors = [line for line in out.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert errors[0].startswith("endpoints/rec-embed.yaml:2:1: error: ")
    assert "budget_policy_id" in errors[0]


def test_no_drift_line():
    assert text.render_drift(case_converged()).splitlines()[-1] == (
        "No drift. 3 endpoints match the configuration."
    )


def test_no_drift_line_agrees_with_its_count():
    # Seen from a user's repository with one endpoint: "No drift. 1 endpoint match the
    # configuration."; and with only a rollout in progress: "0 endpoints match".
    one = _plan([desired(fraud_body())], [live(fraud_body())])
    assert text.render_drift(one).splitlines()[-1] == (
        "No drift. 1 endpoint matches the configuration."
    )
    assert text.render_drift(case_rollout_in_progress()).splitlines()[-1] == "No drift."


def test_drift_words_live_and_desired():
    out = text.render_drift(case_traffic_shift())
    assert out.startswith("Drift detected in 1 endpoint:")
    assert "config.traffic.champion: live 100, desired 90" in out


@pytest.mark.parametrize("case", sorted(CASES))
def test_secrets_never_appear_in_any_output(case):
    for name, out in all_outputs(CASES[case]()).items():
        for secret in SECRETS:
            assert secret not in out, f"{secret!r} leaked in {name}"


def test_secret_references_are_shown_in_every_format():
    plans = {n: o for n, o in all_outputs(case_empty_workspace()).items() if "drift" not in n}
    assert set(plans) == {"text", "text_color", "json", "markdown"}
    for name, out in plans.items():
        for reference in REFERENCES:
            assert reference in out, f"{reference!r} hidden in {name}"


def test_renderers_are_deterministic():
    assert all_outputs(case_side_calls()) == all_outputs(case_side_calls())


_TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=_TOKEN, where=st.sampled_from(["env", "openai", "bearer", "api_key"]), side=st.booleans()
)
def test_random_secret_never_rendered(token, where, side):
    secret = f"sk-{token}"
    planted = _plant(secret, where)
    plain = _plant("sk-unrelated", where)
    want, have = (planted, plain) if side else (plain, planted)
    plans = [
        _plan([desired(want)], []),
        _plan([desired(want)], [live(have)]),
        _plan([], [live(have)], prune=True),
    ]
    for plan in plans:
        for name, out in all_outputs(plan).items():
            assert secret not in out, f"secret leaked in {name}"


def _plant(secret: str, where: str) -> dict[str, Any]:
    if where == "env":
        body = fraud_body()
        body["config"]["served_entities"][1]["environment_vars"] = {"API_KEY": secret}
        return body
    if where == "openai":
        body = chat_body()
        body["config"]["served_entities"][0]["external_model"]["openai_config"] = {
            "openai_api_key": secret
        }
        return body
    auth = (
        {"bearer_token_auth": {"token": secret}}
        if where == "bearer"
        else {"api_key_auth": {"key": "X-Api-Key", "value": secret}}
    )
    external = {
        "provider": "custom",
        "name": "my-llm",
        "task": "llm/v1/chat",
        "custom_provider_config": {"custom_provider_url": "https://llm.example.com", **auth},
    }
    return {"name": "custom-llm", "config": {"served_entities": [{"external_model": external}]}}


def test_live_endpoint_without_config_gains_one():
    bare = {"name": "rec-embed", "description": "Recommendation embeddings"}
    plan = _plan([desired(embed_body())], [live(bare)])
    out = text.render_plan(plan)
    assert '+ served_entity "embed-3" {' in out
    assert "+ traffic {" in out
    assert "# traffic embed-3 100" in out


def test_hand_built_edge_cases():
    from servingops.model import ABSENT, Action, ActionKind, Carrier, FieldChange

    before = live(fraud_body())
    changes = (
        FieldChange(
            path=("config", "served_entities", "champion", "environment_vars", "DB_PASSWORD"),
            before="old-secret-value",
            after="new-secret-value",
            carrier=Carrier.CONFIG,
        ),
        FieldChange(path=("tags",), before={"a": "1"}, after=["weird"], carrier=Carrier.TAGS),
        FieldChange(path=("ai_gateway",), before=ABSENT, after={}, carrier=Carrier.AI_GATEWAY),
    )
    action = Action(
        kind=ActionKind.UPDATE, name="fraud-scorer", before=before, after=before, changes=changes
    )
    plan = Plan(actions=(action,), owner=OWNER)
    outputs = all_outputs(plan)
    for out in outputs.values():
        assert "old-secret-value" not in out
        assert "new-secret-value" not in out
    assert "~ DB_PASSWORD = (sensitive) -> (sensitive)" in outputs["text"]
    assert re.search(r'~ tags +=  ?\{a = "1"\} -> \["weird"\]', outputs["text"])
    assert re.search(r"\+ ai_gateway += \{\}", outputs["text"])


def test_replace_still_names_the_version_bump() -> None:
    from servingops import normalize, planner
    from servingops.model import DesiredDocument, SourceRef
    from servingops.render import impact

    def entity(version: str) -> dict[str, object]:
        return {"name": "champion", "entity_name": "main.risk.fraud", "entity_version": version,
                "workload_size": "Small", "scale_to_zero_enabled": True}  # fmt: skip

    live = {
        "name": "fraud", "id": "1", "description": "old", "route_optimized": False,
        "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
        "config": {"config_version": 1, "served_entities": [entity("7")]},
        "tags": [{"key": "servingops-owner", "value": "o"}],
    }  # fmt: skip
    body = {"name": "fraud", "description": "new", "config": {"served_entities": [entity("9")]}}
    want = normalize.normalize_desired(
        DesiredDocument(name="fraud", body=body, source=SourceRef(path="f.yaml"))
    )
    plan = planner.plan([want], [normalize.normalize_live(live)], owner="o")
    (action,) = plan.actions
    assert action.kind.value == "replace"
    assert "champion: version 7 -> 9" in impact.impact_notes(action, plan)
