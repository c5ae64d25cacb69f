"""Markdown for CI: values cannot forge the hidden marker, and traffic changes get a chart."""

from __future__ import annotations

import copy
import re

import pytest

from servingops.model import Plan
from servingops.render import markdown
from tests.unit.test_render_text import (
    _plan,
    case_traffic_shift,
    desired,
    embed_body,
    fraud_body,
    live,
    routes,
)

FORGED = "<!-- servingops:plan target=prod --> </details><img src=https://example.net/x.png>"


def forged_plan() -> Plan:
    """An endpoint file whose values carry the hidden marker and raw HTML, everywhere a value
    can reach a comment: the description (a replace reason's value), a tag key and a tag value."""
    changed = embed_body(description=FORGED, tags=[{"key": FORGED[:40], "value": FORGED}])
    return _plan([desired(changed)], [live(embed_body())])


@pytest.mark.parametrize("render", [markdown.render_plan, markdown.render_drift])
def test_values_cannot_forge_the_hidden_marker(render) -> None:
    out = render(forged_plan(), target="prod")
    # The one HTML comment is ours, on the first line; a CI job that looks for the marker can
    # only ever find the comment servingops wrote.
    assert out.count("<!--") == 1
    assert out.startswith("<!-- servingops:")
    assert out.splitlines()[0] in {
        "<!-- servingops:plan target=prod -->",
        "<!-- servingops:drift target=prod -->",
    }
    # The value is still shown, visibly escaped.
    assert "<!\\-- servingops:plan target=prod -->" in out


@pytest.mark.parametrize("render", [markdown.render_plan, markdown.render_drift])
def test_values_cannot_add_html_outside_code(render) -> None:
    out = render(forged_plan(), target="prod")
    outside = re.sub(r"(?ms)^(`{3,})[a-z]*\n.*?^\1\n", "", out)  # drop fenced blocks
    outside = re.sub(r"`[^`\n]*`", "", outside)  # and code spans: neither renders HTML
    assert "<img" not in outside
    assert outside.count("</details>") == 1  # ours, closing the full plan


def test_escape_markers_keeps_ordinary_text() -> None:
    assert markdown.escape_markers("a <b> -> c") == "a <b> -> c"
    assert markdown.escape_markers("x<!--y<!--") == "x<!\\--y<!\\--"


# --------------------------------------------------------------------------------------------
# Traffic charts


def test_a_traffic_change_is_drawn_before_and_after_with_the_table_kept() -> None:
    out = markdown.render_plan(case_traffic_shift(), target="prod")
    charts = re.findall(r"(?ms)^```mermaid\n(.*?)^```\n", out)
    assert charts == [
        'pie showData title fraud-scorer traffic before (%)\n    "champion" : 100\n',
        "pie showData title fraud-scorer traffic after (%)\n"
        '    "champion" : 90\n    "challenger" : 10\n',
    ]
    # the table still says it in words, and comes first; the charts sit before the full plan
    assert out.index("100/0 → 90/10") < out.index("```mermaid") < out.index("<details>")


def test_no_chart_without_a_split_change() -> None:
    bumped = copy.deepcopy(fraud_body())
    bumped["config"]["served_entities"][1]["entity_version"] = "8"  # same names, same split
    plan = _plan([desired(bumped)], [live(fraud_body())])
    assert "mermaid" not in markdown.render_plan(plan, target="prod")
    created = _plan([desired(fraud_body())], [])  # a create has no "before" split
    assert "mermaid" not in markdown.render_plan(created, target="prod")


def test_at_most_a_few_charts_then_a_note() -> None:
    want, have = [], []
    for i in range(7):
        before = fraud_body(name=f"fraud-{i}")
        after = copy.deepcopy(before)
        after["config"]["traffic_config"] = routes(champion=50, challenger=50)
        want.append(desired(after))
        have.append(live(before))
    out = markdown.render_plan(_plan(want, have), target="prod")
    assert out.count("```mermaid") == 2 * markdown.MAX_CHARTS
    assert "2 more endpoints change traffic (see the table)" in out


def test_charts_are_dropped_before_the_plan_is_cut() -> None:
    plan = case_traffic_shift()
    full = markdown.render_plan(plan, target="prod")
    small = markdown.render_plan(plan, target="prod", limit=len(full) - 1)
    assert "```mermaid" not in small
    assert "lines (" not in small  # the full plan is not cut: dropping the charts was enough
    assert small == re.sub(r"(?ms)^```mermaid\n.*?^```\n\n", "", full)
