"""AI-gateway rate limits enforced on queries, per key, in windows of the injected clock
(issue 11, item 5).

Sources: the AI-gateway rate-limit fields (key: endpoint | user | user_group |
service_principal, principal, calls, tokens, renewal_period: minute) in databricks-sdk-py
`serving.AiGatewayRateLimit`; their precedence in
https://docs.databricks.com/aws/en/ai-gateway/rate-limits-beta ("Details and behavior": the
endpoint limit is a global maximum, a user's or service principal's own limit beats group
limits, which beat the default; a group limit is shared by its members; a member of several
limited groups is limited when it exceeds all of them);
the refusal is HTTP 429 with error_code REQUEST_LIMIT_EXCEEDED and a message starting
"REQUEST_LIMIT_EXCEEDED: Exceeded ... rate limit for ..." as Databricks serving answers its own
rate limits (real bodies quoted in public issue trackers, e.g. `{"error_code":
"REQUEST_LIMIT_EXCEEDED","message":"REQUEST_LIMIT_EXCEEDED: Exceeded workspace rate limit for
..."}`), and databricks-sdk-py maps the code to `RequestLimitExceeded`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, entity, error_code, make_emulator, yaml_file

EP = "/api/2.0/serving-endpoints"
SP = "6f1c2f0e-0000-4000-8000-000000000007"
USERS = {
    "users": [
        {"user_name": "admin@example.com", "groups": ["admins"], "tokens": ["t-admin"]},
        {"user_name": "alice@example.com", "tokens": ["t-alice"]},
        {"user_name": "bob@example.com", "groups": ["data-science"], "tokens": ["t-bob"]},
        {
            "user_name": "carol@example.com",
            "groups": ["data-science", "risk"],
            "tokens": ["t-carol"],
        },
    ],
    "service_principals": [{"application_id": SP, "tokens": ["t-sp"]}],
}
# 1_766_000_000 s is 20 s into a minute: the first window renews 40 s after the start.
TO_NEXT_WINDOW = 40


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Emulator[ManualClock]]:
    emulator = make_emulator(users_file=yaml_file(tmp_path / "users.yaml", USERS), update_seconds=0)
    yield emulator
    emulator.close()


@pytest.fixture
def clients(team: Emulator[ManualClock]) -> Iterator[dict[str, Api]]:
    made = {who: Api(team, token=f"t-{who}") for who in ("admin", "alice", "bob", "carol", "sp")}
    admin = made["admin"]
    body = {"name": "m", "config": {"served_entities": [entity("only")]}}
    assert admin.post(EP, json=body).status_code == 200
    endpoint_id = admin.get(f"{EP}/m").json()["id"]
    grants = [
        {"group_name": "users", "permission_level": "CAN_QUERY"},
        {"service_principal_name": SP, "permission_level": "CAN_QUERY"},
    ]
    r = admin.patch(
        f"/api/2.0/permissions/serving-endpoints/{endpoint_id}",
        json={"access_control_list": grants},
    )
    assert r.status_code == 200, r.text
    yield made
    for client in made.values():
        client.close()


def limit(clients: dict[str, Api], *limits: dict[str, Any]) -> None:
    rules = [{"renewal_period": "minute", **lim} for lim in limits]
    r = clients["admin"].put(f"{EP}/m/ai-gateway", json={"rate_limits": rules})
    assert r.status_code == 200, r.text


def status(client: Api) -> int:
    return int(client.post("/serving-endpoints/m/invocations", json={"inputs": [1]}).status_code)


def test_calls_zero_refuses_every_query(clients: dict[str, Api]) -> None:
    limit(clients, {"key": "endpoint", "calls": 0})
    r = clients["alice"].post("/serving-endpoints/m/invocations", json={"inputs": [1]})
    assert (r.status_code, error_code(r)) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert r.json()["message"].startswith("REQUEST_LIMIT_EXCEEDED: Exceeded endpoint rate limit")
    assert "m" in r.json()["message"]
    direct = clients["alice"].post(
        "/serving-endpoints/m/served-models/only/invocations", json={"inputs": [1]}
    )
    assert direct.status_code == 429


def test_an_endpoint_limit_is_shared_and_renews_each_minute(
    team: Emulator[ManualClock], clients: dict[str, Api]
) -> None:
    limit(clients, {"calls": 2})  # key defaults to endpoint
    assert [status(clients["alice"]), status(clients["bob"])] == [200, 200]
    assert [status(clients["alice"]), status(clients["sp"])] == [429, 429]
    team.advance(TO_NEXT_WINDOW - 1)
    assert status(clients["bob"]) == 429
    team.advance(1)
    assert [status(clients["bob"]), status(clients["bob"]), status(clients["bob"])] == [
        200,
        200,
        429,
    ]


def test_a_user_limit_counts_each_user_and_a_named_principal_overrides_it(
    clients: dict[str, Api],
) -> None:
    limit(
        clients,
        {"key": "user", "calls": 1},
        {"key": "user", "principal": "bob@example.com", "calls": 3},
    )
    assert [status(clients["alice"]), status(clients["alice"])] == [200, 429]
    assert [status(clients["bob"]) for _ in range(4)] == [200, 200, 200, 429]
    # "User (Default) ... applies to all users of the endpoint": service principals too.
    assert [status(clients["sp"]), status(clients["sp"])] == [200, 429]


def test_a_service_principal_limit_leaves_users_alone(clients: dict[str, Api]) -> None:
    limit(clients, {"key": "service_principal", "calls": 1})
    assert [status(clients["sp"]), status(clients["sp"])] == [200, 429]
    assert [status(clients["alice"]), status(clients["alice"])] == [200, 200]


def test_a_group_limit_is_shared_by_its_members(clients: dict[str, Api]) -> None:
    limit(clients, {"key": "user_group", "principal": "data-science", "calls": 1})
    assert [status(clients["bob"]), status(clients["bob"])] == [200, 429]
    r = clients["bob"].post("/serving-endpoints/m/invocations", json={"inputs": [1]})
    assert "user group 'data-science'" in r.json()["message"]
    assert [status(clients["alice"]), status(clients["alice"])] == [200, 200]


def test_a_caller_in_several_limited_groups_is_refused_when_all_are_spent(
    clients: dict[str, Api],
) -> None:
    limit(
        clients,
        {"key": "user_group", "principal": "data-science", "calls": 1},
        {"key": "user_group", "principal": "risk", "calls": 2},
    )
    # carol is in both groups: data-science's one call, then risk's second, then refused.
    assert [status(clients["carol"]) for _ in range(3)] == [200, 200, 429]
    assert status(clients["bob"]) == 429  # data-science is spent


def test_custom_limits_beat_group_and_default_limits_but_not_the_endpoints(
    clients: dict[str, Api],
) -> None:
    limit(
        clients,
        {"key": "user", "calls": 0},
        {"key": "user_group", "principal": "data-science", "calls": 0},
        {"key": "user", "principal": "bob@example.com", "calls": 5},
        {"key": "endpoint", "calls": 2},
    )
    assert status(clients["alice"]) == 429  # the default
    assert status(clients["carol"]) == 429  # her group
    assert [status(clients["bob"]) for _ in range(3)] == [200, 200, 429]  # the endpoint's max


def test_a_group_limit_without_principal_is_not_enforced(clients: dict[str, Api]) -> None:
    limit(clients, {"key": "user_group", "calls": 0})
    assert [status(clients["alice"]), status(clients["bob"])] == [200, 200]


def test_a_tokens_limit_is_accepted_but_not_enforced(clients: dict[str, Api]) -> None:
    limit(clients, {"key": "endpoint", "tokens": 0})
    assert [status(clients["alice"]) for _ in range(3)] == [200, 200, 200]


def test_refused_queries_do_not_spend_the_limit(
    team: Emulator[ManualClock], clients: dict[str, Api]
) -> None:
    limit(clients, {"key": "user", "calls": 1}, {"key": "endpoint", "calls": 2})
    assert [status(clients["alice"]), status(clients["alice"])] == [200, 429]
    # alice's refusal did not count against the endpoint's two calls
    assert [status(clients["bob"]), status(clients["bob"])] == [200, 429]
    team.advance(TO_NEXT_WINDOW)
    assert status(clients["alice"]) == 200
