"""Judging a smoke check's answer (status, latency, RFC 9535 JSONPath values) and which
actions run the checks. RFC 9535: https://www.rfc-editor.org/rfc/rfc9535 (the library,
python-jsonpath, runs in strict mode: its `strict=True` follows the RFC's grammar)."""

from __future__ import annotations

from typing import Any

import pytest

from servingops import smoke
from servingops.model import (
    Action,
    ActionKind,
    Carrier,
    Endpoint,
    FieldChange,
    SmokeCheck,
)

CHECK = SmokeCheck(
    name="one-row",
    request={"inputs": [[1]]},
    status=200,
    max_latency_ms=100,
    json=(("$.predictions[0]", 0), ("$.predictions[*]", [0, 1])),
)


def judge(**answer: Any) -> list[str]:
    defaults = {"status": 200, "latency_ms": 5.0, "body": {"predictions": [0, 1]}, "text": ""}
    return smoke.judge(CHECK, **{**defaults, **answer})


def test_a_matching_answer_passes() -> None:
    assert judge() == []


def test_each_failure_says_expected_and_got() -> None:
    assert judge(latency_ms=250.4) == ["latency: expected at most 100 ms, got 250 ms"]
    assert judge(body={"predictions": [1, 1]}) == [
        "$.predictions[0]: expected 0, got 1",
        "$.predictions[*]: expected [0, 1], got [1, 1]",
    ]
    assert judge(body={"outputs": []}) == [
        "$.predictions[0]: expected 0, got no match",
        "$.predictions[*]: expected [0, 1], got no match",
    ]
    assert judge(body=None, text="<html>") == [
        "$.predictions[0]: expected 0, got an answer that is not JSON",
        "$.predictions[*]: expected [0, 1], got an answer that is not JSON",
    ]


def test_a_wrong_status_says_the_apis_message_and_skips_the_paths() -> None:
    body = {"error_code": "BAD_REQUEST", "message": "no scoring key"}
    assert judge(status=400, body=body) == [
        "status: expected 200, got 400 (BAD_REQUEST: no scoring key)"
    ]
    assert judge(status=502, body=None, text="Bad   gateway\n") == [
        "status: expected 200, got 502 (Bad gateway)"
    ]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1.0, True),
        (True, 1, False),  # JSON booleans are not numbers
        (0, False, False),
        ("1", 1, False),
        ([1, {"a": None}], [1.0, {"a": None}], True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        (None, None, True),
    ],
)
def test_values_compare_as_json(a: Any, b: Any, same: bool) -> None:
    assert smoke.same(a, b) is same


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("$.predictions[0]", ""),
        ("$.choices[0].message.content", ""),
        ("$..embedding", ""),
        ("$.data[?@.index == 0].embedding", ""),
        ("$.data[?length(@.embedding) > 2]", ""),
        ("predictions[0]", "expected 'TOKEN_ROOT', found 'TOKEN_NAME'"),
        ("$.a[", "unexpected end of query"),
        ("$.a.length()", "unexpected token '('"),
    ],
)
def test_paths_are_rfc_9535_queries(path: str, problem: str) -> None:
    found = smoke.path_problem(path)
    assert (problem in found) if problem else found == ""


def test_a_filter_selects_per_rfc_9535() -> None:
    answer = {"data": [{"index": 0, "embedding": [1, 2, 3]}, {"index": 1, "embedding": [4]}]}
    assert smoke.select("$.data[?@.index == 1].embedding", answer) == [[4]]
    assert smoke.select("$.data[?length(@.embedding) > 2].index", answer) == [0]


def _endpoint(**body: Any) -> Endpoint:
    return Endpoint(name="e", body=body, smoke=(CHECK,))


def _update(carrier: Carrier, **body: Any) -> Action:
    change = FieldChange(path=("x",), before=1, after=2, carrier=carrier)
    return Action(
        kind=ActionKind.UPDATE, name="e", before=_endpoint(), after=_endpoint(**body),
        changes=(change,),
    )  # fmt: skip


def test_checks_run_after_rollouts_and_starts_only() -> None:
    create = Action(kind=ActionKind.CREATE, name="e", before=None, after=_endpoint())
    assert smoke.planned(create) == (CHECK,)
    assert smoke.planned(_update(Carrier.CONFIG)) == (CHECK,)
    assert smoke.planned(_update(Carrier.RUN_STATE, state="running")) == (CHECK,)
    assert smoke.planned(_update(Carrier.TAGS)) == ()
    assert smoke.planned(_update(Carrier.CONFIG, state="stopped")) == ()
    delete = Action(kind=ActionKind.DELETE, name="e", before=_endpoint(), after=None)
    assert smoke.planned(delete) == ()


def test_describe_names_what_is_checked() -> None:
    assert smoke.describe(CHECK) == "one-row (status 200, <= 100 ms, 2 JSONPaths)"
    bare = SmokeCheck(name="b", request={"inputs": [1]}, entity="champion")
    assert smoke.describe(bare) == "b (champion; status 200)"
