"""Hostile input answers Databricks JSON errors, never a plain-text 500 (issue 9, item 11).

The real API answers malformed requests with `{"error_code", "message"}` bodies
(https://docs.databricks.com/api/account/errors, "The error object"); its OAuth token endpoint
answers RFC 6749 section 5.2 errors (`{"error", "error_description"}`), which is what
databricks-sdk-py's `oauth.py` reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code

EP = "/api/2.0/serving-endpoints"


def _nested(depth: int) -> bytes:
    return b'{"name": "x", "description": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_json_is_a_400_json_error(api: Api, depth: int) -> None:
    r = api.post(EP, content=_nested(depth), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert error_code(r) == "MALFORMED_REQUEST"
    assert "nested" in r.json()["message"]


def _with_entity(**fields: Any) -> dict[str, Any]:
    return {"name": "x", "config": {"served_entities": [entity("a", **fields)]}}


@pytest.mark.parametrize(
    "body",
    [
        _with_entity(workload_type=["CPU"]),
        _with_entity(workload_type={"a": 1}),
        {
            "name": "x",
            "config": {
                "served_entities": [
                    {"external_model": {"provider": ["openai"], "name": "m", "task": "t"}}
                ]
            },
        },
        {"name": "x", "uc_system_metrics_export_state": ["FIRST_PARTY_EXPORT_ENABLED"]},
        {"name": "x", "ai_gateway": {"rate_limits": [{"renewal_period": ["minute"], "calls": 1}]}},
        {
            "name": "x",
            "ai_gateway": {"rate_limits": [{"renewal_period": "minute", "key": ["user"]}]},
        },
        {"name": "x", "ai_gateway": {"guardrails": {"input": {"pii": {"behavior": ["MASK"]}}}}},
        {"name": ["x"]},
        {"name": "x", "tags": [{"key": ["k"]}]},
    ],
)
def test_a_list_where_an_enum_string_is_expected_is_a_400(api: Api, body: dict[str, Any]) -> None:
    r = api.post(EP, json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "INVALID_PARAMETER_VALUE"


def test_enum_lists_in_permissions_and_updates_are_400(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ep = api.post(EP, json=create_body()).json()
    emu.advance(31)
    r = api.patch(
        f"/api/2.0/permissions/serving-endpoints/{ep['id']}",
        json={"access_control_list": [{"user_name": "a@b.c", "permission_level": ["CAN_VIEW"]}]},
    )
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")
    bad_name = {**entity("a"), "name": ["a"]}
    r = api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [bad_name]})
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_non_utf8_body_to_the_token_route_is_an_oauth_400(api: Api) -> None:
    r = api.post(
        "/oidc/v1/token",
        content=b"grant_type=client_credentials&client_id=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == "invalid_request"


def test_non_utf8_json_body_is_a_400(api: Api) -> None:
    r = api.post(EP, content=b'{"name": "\xff"}', headers={"Content-Type": "application/json"})
    assert (r.status_code, error_code(r)) == (400, "MALFORMED_REQUEST")
