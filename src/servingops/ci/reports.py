"""What CI posts: PR comments, issue bodies and job summaries for plan, apply and drift.

Pure: exit codes and captured output in, markdown out. Every body starts with its hidden marker
(`<!-- servingops:KIND target=NAME -->`), which is how the action finds the one comment or issue
it keeps per target; captured output is passed through `escape_markers` so it cannot carry one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..render.markdown import escape_markers

TAIL = 20_000
"""Characters of captured output kept in a comment (the end, where the error is)."""

DRIFT_LABEL = "drift"
APPLY_LABEL = "servingops-apply"


def marker(kind: str, target: str) -> str:
    """The hidden first line of a body: `plan`, `apply` (PR comments and the failure issue)
    or `drift` (the drift issue)."""
    return f"<!-- servingops:{kind} target={target} -->"


def artifact_name(target: str, sha: str) -> str:
    """The saved plan's artifact: one per target and commit that was planned."""
    return f"servingops-plan-{target}-{sha}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """Where a body points readers: the commit and the workflow run that produced it."""

    sha: str
    url: str

    def footer(self, what: str) -> str:
        return f"<sub>{what} at commit `{self.sha[:7]}` by [this run]({self.url}).</sub>"


def plan_comment(
    *, target: str, exitcode: int, markdown: str, stderr: str, run: Run, artifact: str
) -> str:
    """The PR comment for a plan: the rendered plan, or why it failed."""
    if exitcode in (0, 2):
        body = markdown.rstrip("\n")
        if not body.startswith(marker("plan", target)):
            body = f"{marker('plan', target)}\n{body}"
        note = (
            f"Saved as the artifact `{artifact}`. On merge, apply applies exactly this plan, or "
            "refuses if anything it touches has changed since."
            if artifact
            else ""
        )
        return "\n\n".join(p for p in [body, note, run.footer("Planned")] if p) + "\n"
    return "\n\n".join(
        [
            marker("plan", target),
            f"## servingops plan: {target} — failed (exit {exitcode})",
            "Nothing can be applied from this pull request until the plan succeeds.",
            output_block(stderr),
            run.footer("Planned"),
        ]
    )


def apply_comment(*, target: str, exitcode: int, output: str, run: Run) -> str:
    """The merged PR's comment after apply ran (any exit code)."""
    if exitcode == 0:
        head = f"## servingops apply: {target} — applied the reviewed plan"
        lines = [head]
    else:
        lines = [f"## servingops apply: {target} — {_apply_failure(exitcode)}", _next(exitcode)]
    return "\n\n".join(
        [marker("apply", target), *lines, output_block(output), run.footer("Applied")]
    )


def missing_plan_comment(*, target: str, reason: str, run: Run) -> str:
    """The merged PR's comment when no reviewed plan can be found: nothing was applied."""
    return "\n\n".join(
        [
            marker("apply", target),
            f"## servingops apply: {target} — not applied: no reviewed plan",
            f"> [!CAUTION]\n> {escape_markers(reason)}",
            _next(None),
            run.footer("Checked"),
        ]
    )


def apply_issue(
    *, target: str, exitcode: int | None, reason: str, output: str, pr: int | None, run: Run
) -> tuple[str, str]:
    """(title, body) of the one open issue per target that says apply did not complete."""
    what = "no reviewed plan" if exitcode is None else _apply_failure(exitcode)
    title = f"servingops apply for {target}: {what}"
    where = f"Pull request #{pr} was merged, but its" if pr else "The"
    lines = [
        marker("apply", target),
        f"## {title}",
        f"{where} changes to `{target}` are not (fully) applied.",
    ]
    if reason:
        lines.append(f"> [!CAUTION]\n> {escape_markers(reason)}")
    lines.append(_next(exitcode))
    if output:
        lines.append(output_block(output))
    lines.append(run.footer("Last failed"))
    lines.append("This issue is closed by the next successful apply of this target.")
    return title, "\n\n".join(lines)


def drift_issue(*, target: str, markdown: str, run: Run) -> tuple[str, str]:
    """(title, body) of the one open `drift` issue per target."""
    body = markdown.rstrip("\n")
    if not body.startswith(marker("drift", target)):
        body = f"{marker('drift', target)}\n{body}"
    return f"Drift detected in {target}", f"{body}\n\n{run.footer('Last checked')}\n"


def back_in_sync(*, run: Run) -> str:
    return f"Back in sync; closing. {run.footer('Checked')}"


def applied_closing(*, run: Run) -> str:
    return f"Applied successfully; closing. {run.footer('Applied')}"


def summary(*, command: str, target: str, exitcode: int, body: str) -> str:
    """The job summary: the same markdown the PR or issue shows, or a line when there is none."""
    head = f"### servingops {command} `{target}`: exit {exitcode}"
    return f"{head}\n\n{body.rstrip()}\n" if body.strip() else f"{head}\n"


def _apply_failure(exitcode: int) -> str:
    if exitcode == 3:
        return "refused: the reviewed plan is stale"
    if exitcode == 4:
        return "timed out waiting for a rollout"
    return f"failed (exit {exitcode})"


def _next(exitcode: int | None) -> str:
    """What to do next, per outcome (the apply workflow never re-plans by itself)."""
    if exitcode == 3:
        return (
            "An endpoint this plan changes moved after the plan was reviewed, so nothing was "
            "changed. Review a new plan: open a pull request (its plan is applied on merge), or "
            "run the apply workflow by hand on the default branch; it plans, shows the plan, "
            "and applies it after the target's environment approves."
        )
    if exitcode == 4:
        return (
            "An update was still rolling out at the wait timeout; nothing was deleted. Re-run "
            "the failed job to wait for it (the same reviewed plan is applied again only if "
            "nothing moved), or run the apply workflow by hand."
        )
    if exitcode is None:
        return (
            "Apply only applies the plan reviewed on the pull request for the commit that was "
            "merged, and never re-plans by itself. Make sure the plan workflow ran and passed "
            "on the pull request's last commit, or run the apply workflow by hand on the "
            "default branch: it plans, shows the plan, and applies it after the target's "
            "environment approves."
        )
    return (
        "See the output below and the run's log; fix the cause, then re-run the failed job or "
        "run the apply workflow by hand."
    )


def output_block(text: str) -> str:
    kept = text[-TAIL:] if len(text) > TAIL else text
    cut = "… (start cut; the full output is in the run's log)\n" if len(text) > TAIL else ""
    fence = "`" * max(3, _longest_backticks(kept) + 1)
    body = escape_markers(cut + kept).rstrip("\n") or "(no output)"
    return f"<details><summary>Output</summary>\n\n{fence}text\n{body}\n{fence}\n\n</details>"


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return longest
