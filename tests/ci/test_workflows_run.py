"""The workflows `servingops init --ci github` writes, run as GitHub runs them, end to end.

Each test drives the generated servingops-plan/apply/drift workflows and the action
(action.yml) through tests/ci/runner.py against the fake GitHub API (tests/ci/fake_github.py)
and the embedded emulated workspace of a user's repository (a git repo, not a package).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    commit,
    dispatch_event,
    endpoint,
    git,
    local_matrix,
    needs,
    pr_event,
    push_event,
    schedule_event,
    servingops,
    workflow,
)
from .fake_github import BOT
from .runner import Event, JobResult, Runner

pytestmark = pytest.mark.slow  # each job starts servingops a few times (about 1 s each)

PLAN_MARKER = "<!-- servingops:plan target=local -->"
APPLY_MARKER = "<!-- servingops:apply target=local -->"
DRIFT_MARKER = "<!-- servingops:drift target=local -->"


def change(repo: Path, branch: str, message: str, *, champion: int, challenger: int) -> str:
    """Commit a new traffic split on `branch` (jobs leave the checkout detached elsewhere)."""
    git(repo, "checkout", "-q", branch)
    path = repo / "endpoints" / "fraud-scorer.yaml"
    path.write_text(endpoint(champion=champion, challenger=challenger))
    return commit(repo, message)


def merge(repo: Path, runner: Runner, number: int, branch: str) -> str:
    """Merge the pull request's branch into main (a merge commit), as the merge button does."""
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{number}")
    sha = git(repo, "rev-parse", "HEAD")
    runner.fake.store.merge_pull(number, merge_sha=sha)
    return sha


def local_job(
    runner: Runner,
    workflow: dict[str, Any],
    job_id: str,
    event: Event,
    *,
    after: str,
    run_id: int | None = None,
    **results: str,
) -> JobResult:
    """Run `job_id` for the embedded `local` target: `after` is the job that listed the
    targets, `results` maps the other jobs it needs to their result."""
    repo = runner.workspace
    return runner.run_job(
        workflow,
        job_id,
        event,
        matrix=local_matrix(repo),
        needs=needs(repo, after, **results),
        run_id=run_id,
    )


def no_changes(repo: Path) -> bool:
    """The workspace matches main's files (plan --detailed-exitcode exits 0)."""
    git(repo, "checkout", "-q", "main")
    return servingops(repo, "plan", "--detailed-exitcode") == 0


def test_plan_comment_is_created_then_updated_in_place_and_merge_applies_the_reviewed_plan(
    repo: Path, runner: Runner
) -> None:
    store = runner.fake.store
    plan_wf, apply_wf = workflow(repo, "plan"), workflow(repo, "apply")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "shift-traffic")
    first = change(repo, "shift-traffic", "Send 10% to the challenger", champion=90, challenger=10)
    store.open_pull(1, head_sha=first)
    # Someone else pastes the marker into their own comment; the bot quotes it mid-comment.
    spoof = "<!-- servingops:plan target=local -->\nLooks fine, merge it."
    spoof_id = store.add_comment(1, body=spoof, login="mallory")
    quoted_id = store.add_comment(1, body=f"Note: {PLAN_MARKER} is ours", login=BOT)

    validate = runner.run_job(plan_wf, "validate", pr_event(1, head=first, base=base))
    assert validate.result == "success", validate.log
    # Only workspaces are planned in CI: prod, with prune from servingops.yaml.
    [prod] = json.loads(validate.outputs["targets"])
    assert (prod["target"], prod["secret_suffix"], prod["prune"]) == ("prod", "PROD", True)

    plan = local_job(runner, plan_wf, "plan", pr_event(1, head=first, base=base), after="validate")
    assert plan.result == "success", plan.log
    ours = [c for c in store.comments_on(1) if c["body"].startswith(PLAN_MARKER)]
    [created] = [c for c in ours if c["user"]["login"] == BOT]
    assert "traffic champion/challenger 100/0 → 90/10" in created["body"]
    assert "```mermaid" in created["body"]
    assert f"servingops-plan-local-{first}" in created["body"]
    assert "traffic champion/challenger" in plan.summary
    assert {a["name"] for a in store.artifacts.values()} == {f"servingops-plan-local-{first}"}

    # A second push to the pull request: the same comment is edited, nothing else is.
    second = change(repo, "shift-traffic", "Make it 50/50", champion=50, challenger=50)
    store.pulls[1]["head"]["sha"] = second
    again = local_job(
        runner, plan_wf, "plan", pr_event(1, head=second, base=base), after="validate"
    )
    assert again.result == "success", again.log
    bodies = {c["id"]: c["body"] for c in store.comments_on(1)}
    assert len(bodies) == 3  # the spoof, the quote and ours: no new comment
    assert "100/0 → 50/50" in bodies[created["id"]]
    assert bodies[spoof_id] == spoof
    assert bodies[quoted_id] == f"Note: {PLAN_MARKER} is ours"

    # Merge: apply finds the plan reviewed for the PR's last commit and applies exactly it.
    merged = merge(repo, runner, 1, "shift-traffic")
    applied = local_job(
        runner,
        apply_wf,
        "apply",
        push_event(sha=merged, before=base),
        after="targets",
        plan="skipped",
    )
    assert applied.result == "success", applied.log
    assert applied.step("Apply the reviewed plan to local").outputs["exitcode"] == "0"
    assert applied.step("Apply the reviewed plan to local").outputs["has-changes"] == "true"
    assert no_changes(repo), applied.log
    [result] = [c for c in store.comments_on(1) if c["body"].startswith(APPLY_MARKER)]
    assert "applied the reviewed plan" in result["body"]
    # The artifact's zip came from blob storage, without the token.
    assert store.blob_requests == [{"id": store.blob_requests[0]["id"], "authorization": False}]
    assert not store.open_issues("servingops-apply")


def test_a_stale_plan_is_refused_on_merge_with_a_comment_and_one_issue(
    repo: Path, runner: Runner
) -> None:
    store = runner.fake.store
    plan_wf, apply_wf = workflow(repo, "plan"), workflow(repo, "apply")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "half")
    head = change(repo, "half", "Half and half", champion=50, challenger=50)
    store.open_pull(2, head_sha=head)
    plan = local_job(runner, plan_wf, "plan", pr_event(2, head=head, base=base), after="validate")
    assert plan.result == "success", plan.log

    # While the pull request waits, someone changes the endpoint by hand.
    git(repo, "checkout", "-q", "main")
    (repo / "endpoints" / "fraud-scorer.yaml").write_text(endpoint(champion=80, challenger=20))
    assert servingops(repo, "apply", "--auto-approve") == 0
    git(repo, "checkout", "-q", "--", ".")

    merged = merge(repo, runner, 2, "half")
    refused = local_job(
        runner,
        apply_wf,
        "apply",
        push_event(sha=merged, before=base),
        after="targets",
        plan="skipped",
    )
    assert refused.result == "failure"
    step = refused.step("Apply the reviewed plan to local")
    assert step.outputs["exitcode"] == "3"
    assert "::error title=servingops apply (local) failed::exit code 3" in step.log
    [comment] = [c for c in store.comments_on(2) if c["body"].startswith(APPLY_MARKER)]
    assert "refused: the reviewed plan is stale" in comment["body"]
    [issue] = store.open_issues("servingops-apply")
    assert issue["body"].startswith(APPLY_MARKER)
    assert issue["title"] == "servingops apply for local: refused: the reviewed plan is stale"
    assert "Pull request #2 was merged" in issue["body"]
    assert servingops(repo, "plan", "--detailed-exitcode") == 2  # nothing was applied

    # A commit pushed straight to main has no reviewed plan: refused too, same issue updated.
    pushed = change(repo, "main", "Direct push", champion=60, challenger=40)
    missing = local_job(
        runner,
        apply_wf,
        "apply",
        push_event(sha=pushed, before=merged),
        after="targets",
        plan="skipped",
    )
    assert missing.result == "failure"
    assert "no reviewed plan for this commit" in missing.log
    [issue] = store.open_issues("servingops-apply")
    assert "no reviewed plan" in issue["title"]
    assert "is not the merge of a pull request" in issue["body"]

    # The way out: run the apply workflow by hand. It plans main for review, then applies
    # exactly that plan in the target's environment; the issue closes.
    dispatch = dispatch_event(sha=pushed)
    manual_plan = local_job(runner, apply_wf, "plan", dispatch, after="targets", run_id=99)
    assert manual_plan.result == "success", manual_plan.log
    assert "50/50 → 60/40" in manual_plan.summary or "60/40" in manual_plan.summary
    manual = local_job(
        runner, apply_wf, "apply", dispatch, after="targets", plan="success", run_id=99
    )
    assert manual.result == "success", manual.log
    assert no_changes(repo)
    assert not store.open_issues("servingops-apply")


def test_drift_opens_one_issue_then_closes_it_when_back_in_sync(repo: Path, runner: Runner) -> None:
    store = runner.fake.store
    drift_wf = workflow(repo, "drift")
    main_sha = git(repo, "rev-parse", "HEAD")
    # Someone else's issue that carries the marker is never touched.
    store.issues[50] = {
        "number": 50,
        "title": "Drift detected in local",
        "body": f"{DRIFT_MARKER}\nplease ignore",
        "state": "open",
        "labels": [{"name": "drift"}],
        "user": {"login": "mallory", "type": "User"},
    }
    in_sync = local_job(runner, drift_wf, "drift", schedule_event(sha=main_sha), after="targets")
    assert in_sync.result == "success", in_sync.log
    assert [i["number"] for i in store.open_issues("drift")] == [50]

    (repo / "endpoints" / "fraud-scorer.yaml").write_text(endpoint(champion=70, challenger=30))
    assert servingops(repo, "apply", "--auto-approve") == 0  # an out-of-band change
    git(repo, "checkout", "-q", "--", ".")
    for _ in range(2):
        found = local_job(runner, drift_wf, "drift", schedule_event(sha=main_sha), after="targets")
        assert found.result == "success", found.log  # drift (exit 2) does not fail the job
        assert found.step("Drift in local").outputs["exitcode"] == "2"
    ours = [i for i in store.open_issues("drift") if i["user"]["login"] == BOT]
    [issue] = ours  # opened once, then updated
    assert issue["body"].startswith(DRIFT_MARKER)
    assert "`fraud-scorer`" in issue["body"]
    assert issue["title"] == "Drift detected in local"

    assert servingops(repo, "apply", "--auto-approve") == 0  # back to the files
    back = local_job(runner, drift_wf, "drift", schedule_event(sha=main_sha), after="targets")
    assert back.result == "success", back.log
    assert store.issues[issue["number"]]["state"] == "closed"
    assert any("Back in sync" in c["body"] for c in store.comments_on(issue["number"]))
    assert store.issues[50]["state"] == "open"
    assert store.issues[50]["body"] == f"{DRIFT_MARKER}\nplease ignore"
