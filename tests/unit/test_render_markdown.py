"""Markdown PR comment renderer: golden files, warnings outside details, and the size budget."""

from __future__ import annotations

import re

import pytest

from servingops.model import Plan
from servingops.render import markdown, text
from tests.unit.test_render_text import (
    CASES,
    _plan,
    case_delete_prune,
    case_problems,
    case_replace,
    case_traffic_shift,
    desired,
    fraud_body,
)


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown_plan_matches_golden(case, golden):
    golden(f"plan_{case}.md", markdown.render_plan(CASES[case](), target="prod"))


@pytest.mark.parametrize("case", ["traffic_shift", "orphaned_unmanaged", "converged"])
def test_markdown_drift_matches_golden(case, golden):
    golden(f"drift_{case}.md", markdown.render_drift(CASES[case](), target="prod"))


def test_marker_heading_and_table():
    out = markdown.render_plan(case_traffic_shift(), target="prod")
    lines = out.splitlines()
    assert lines[0] == "<!-- servingops:plan target=prod -->"
    assert "## servingops plan: prod — 0 to add, 1 to change, 0 to destroy" in lines
    row = next(line for line in lines if line.startswith("| `fraud-scorer`"))
    assert "traffic champion/challenger 100/0 → 90/10" in row
    assert "challenger: version 7 → 8" in row
    assert out.index("| endpoint |") < out.index("<details>")


def test_diff_symbols_in_column_zero():
    out = markdown.render_plan(case_traffic_shift(), target="prod")
    assert '!           entity_version = "7" -> "8"' in out
    assert '!   endpoint "fraud-scorer" {' in out


def test_warnings_outside_details():
    for plan, needle in [
        (case_delete_prune(), "will be **destroyed**"),
        (case_replace(), "URL changes, traffic interrupted"),
        (case_problems(), "**This plan cannot be applied**"),
        (CASES["adoption"](), "will be **adopted**"),
    ]:
        out = markdown.render_plan(plan, target="prod")
        assert "> [!WARNING]" in out
        assert out.index(needle) < out.index("<details>")


def _many(n: int) -> Plan:
    bodies = []
    for i in range(n):
        body = fraud_body(name=f"fraud-scorer-{i:03d}")
        bodies.append(desired(body))
    return _plan(bodies, [])


def _balanced(out: str) -> None:
    assert out.count("<details>") == out.count("</details>") == 1
    fences = [line for line in out.splitlines() if re.fullmatch(r"`{3,}(diff|text)?", line)]
    assert len(fences) == 2
    assert out.index("<details>") < out.index(fences[0]) < out.rindex("</details>")


def test_large_plan_is_cut_in_the_middle():
    plan = _many(300)
    full = text.render_plan(plan)
    assert len(full) > markdown.LIMIT
    out = markdown.render_plan(plan, target="prod")
    assert len(out) <= markdown.LIMIT
    _balanced(out)
    assert "## servingops plan: prod — 300 to add, 0 to change, 0 to destroy" in out
    assert "cut to fit the comment; see the CI artifact or `servingops plan`" in out
    assert 'will be created\n+   endpoint "fraud-scorer-000" {' in out  # start kept
    assert out.rstrip().endswith("</details>")
    assert "Plan: 300 to add, 0 to change, 0 to destroy. 0 unchanged." in out  # end kept


@pytest.mark.parametrize("limit", [1_500, 4_000, 10_000, 30_000, 60_000])
def test_any_limit_is_respected(limit):
    plan = _many(200)
    out = markdown.render_plan(plan, target="prod", limit=limit)
    assert len(out) <= limit
    assert out.startswith("<!-- servingops:plan target=prod -->")
    assert "## servingops plan: prod — 200 to add" in out
    if "<details>" in out:
        _balanced(out)


def test_drift_body_is_cut_too():
    plan = _many(300)
    out = markdown.render_drift(plan, target="prod", limit=20_000)
    assert len(out) <= 20_000
    assert out.startswith("<!-- servingops:drift target=prod -->")
    _balanced(out)


def test_backticks_in_values_never_close_the_fence():
    body = fraud_body(description="uses ``` fences and ```` more")
    out = markdown.render_plan(_plan([desired(body)], []), target="prod")
    assert "`````diff" in out
    _balanced_fence = re.findall(r"^`````$", out, flags=re.M)
    assert len(_balanced_fence) == 1
