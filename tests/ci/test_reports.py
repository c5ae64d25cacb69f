"""What the action posts: each body starts with its marker, says what happened and what to do
next, and captured output cannot carry a marker of its own."""

from __future__ import annotations

from servingops.ci import reports

RUN = reports.Run(sha="0123456789abcdef", url="https://github.com/acme/e/actions/runs/5")


def test_a_failed_plan_says_so_and_shows_the_end_of_stderr() -> None:
    body = reports.plan_comment(
        target="prod", exitcode=1, markdown="", stderr="x\n" * 20_000 + "error: boom\n",
        run=RUN, artifact="",
    )  # fmt: skip
    assert body.startswith("<!-- servingops:plan target=prod -->\n")
    assert "## servingops plan: prod — failed (exit 1)" in body
    assert "error: boom" in body
    assert "start cut" in body
    assert len(body) < 25_000
    assert "commit `0123456`" in body


def test_a_plan_says_where_the_saved_plan_is() -> None:
    markdown = "<!-- servingops:plan target=prod -->\n## servingops plan: prod\n"
    body = reports.plan_comment(
        target="prod", exitcode=2, markdown=markdown, stderr="", run=RUN, artifact="servingops-x"
    )
    assert body.count("<!--") == 1
    assert "Saved as the artifact `servingops-x`" in body


def test_output_cannot_forge_a_marker() -> None:
    body = reports.apply_comment(
        target="prod", exitcode=1, output="<!-- servingops:apply target=prod -->", run=RUN
    )
    assert body.count("<!--") == 1
    assert body.startswith("<!-- servingops:apply target=prod -->")


def test_stale_and_missing_plans_say_what_to_do_next() -> None:
    title, body = reports.apply_issue(
        target="prod", exitcode=3, reason="", output="stale", pr=12, run=RUN
    )
    assert title == "servingops apply for prod: refused: the reviewed plan is stale"
    assert body.startswith("<!-- servingops:apply target=prod -->")
    assert "Pull request #12 was merged" in body
    assert "nothing was changed" in body
    assert "closed by the next successful apply" in body
    title, body = reports.apply_issue(
        target="prod", exitcode=None, reason="No saved plan.", output="", pr=None, run=RUN
    )
    assert title == "servingops apply for prod: no reviewed plan"
    assert "never re-plans by itself" in body
    missing = reports.missing_plan_comment(target="prod", reason="No saved plan.", run=RUN)
    assert "not applied: no reviewed plan" in missing


def test_drift_issue_and_summary() -> None:
    title, body = reports.drift_issue(target="qa", markdown="## servingops drift: qa\n", run=RUN)
    assert title == "Drift detected in qa"
    assert body.startswith("<!-- servingops:drift target=qa -->\n## servingops drift: qa")
    assert reports.summary(command="drift", target="qa", exitcode=0, body="") == (
        "### servingops drift `qa`: exit 0\n"
    )
    assert reports.artifact_name("prod-eu", "abc") == "servingops-plan-prod-eu-abc"
