"""`servingops ci github ...`: the steps of the GitHub Action (action.yml) that talk to GitHub.

Hidden from --help: these commands run inside a workflow, read GITHUB_* variables, and write
$GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY. `prepare` resolves the target and names the saved
plan; `fetch-plan` finds the plan reviewed on the merged pull request; `report` posts the
result (one PR comment per target, one issue per target) and sets the action's outputs.
A failed GitHub call while reporting is a warning: the command's own exit code decides the job.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import click

from ..ci import reports
from ..ci.github import GitHubAPI, GitHubError, RunContext
from ..errors import UsageError
from ..project import Target
from . import EXIT_ERROR, EXIT_OK, Settings, cli
from .common import project_option, select_inputs

ON_OFF = click.Choice(["on", "off"])


@cli.group("ci", hidden=True)
def ci_group() -> None:
    """Steps of the servingops GitHub Action (internal)."""


@ci_group.group("github")
def github_group() -> None:
    """GitHub Actions steps: prepare, fetch-plan, report."""


def _author_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--author",
        default="",
        help="Login the token writes as (default: GET /user, else github-actions[bot]).",
    )(f)


@github_group.command("prepare")
@project_option
@click.option("--command", "command", type=click.Choice(["validate", "plan", "apply", "drift"]))
@click.option("--target", "target", default="", help="Target (default: the default_target).")
@click.option("--plan-artifact", "plan_artifact", default="", help="Artifact name override.")
@click.pass_obj
def prepare_command(
    settings: Settings, project: Path | None, command: str, target: str, plan_artifact: str
) -> int:
    """Resolve the target, its prune setting and where the saved plan goes; set outputs."""
    _, chosen = select_inputs(settings, project=project, target=target or None)
    if chosen is None and command != "validate":
        raise UsageError(
            "no target: set the action's `target` input, or default_target in servingops.yaml"
        )
    context = RunContext.from_env(settings.env)
    name = chosen.name if chosen else ""
    folder = _runner_temp(settings) / "servingops" / f"plan-{name or 'default'}"
    artifact = plan_artifact or (reports.artifact_name(name, context.head_sha) if name else "")
    outputs = {
        "target": name,
        "prune": "true" if chosen is not None and chosen.prune else "false",
        "plan-dir": str(folder),
        "plan-path": str(folder / "plan.json"),
        "artifact": artifact,
        "pr": str(context.pr_number or ""),
        "head-sha": context.head_sha,
    }
    _write_outputs(settings, outputs)
    if chosen is not None:
        _profile_for_ci(settings, chosen)
    for key, value in outputs.items():
        click.echo(f"{key}: {value}")
    return EXIT_OK


@github_group.command("fetch-plan")
@click.option("--target", "target", required=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--artifact", "artifact_name", default="", help="Apply this artifact instead.")
@click.option("--comment", "comment", type=ON_OFF, default="on")
@_author_option
@click.pass_obj
def fetch_plan_command(
    settings: Settings, target: str, out: Path, artifact_name: str, comment: str, author: str
) -> int:
    """Download the plan reviewed for the merged pull request's head commit (or --artifact).

    Exit 0 with outputs plan-path and pr; exit 1 when there is none, after saying so on the
    pull request and in the target's apply issue (nothing is re-planned).
    """
    context = RunContext.from_env(settings.env)
    run = reports.Run(sha=context.sha, url=context.run_url)
    with GitHubAPI(context, author=author) as api:
        pr: int | None = context.pr_number
        head_sha: str | None = None
        name = artifact_name
        reason = ""
        if not name:
            merged = api.merged_pull(context.sha)
            if merged is None:
                reason = (
                    f"Commit {context.sha[:7]} is not the merge of a pull request (was it "
                    "pushed directly?), so no plan was reviewed for it."
                )
            else:
                pr, head_sha = merged.number, merged.head_sha
                name = reports.artifact_name(target, merged.head_sha)
        found = api.find_artifact(name, head_sha=head_sha) if name else None
        if found is None and not reason:
            reason = (
                f"No saved plan `{name}` was found: the plan workflow did not run or did not pass "
                "on the pull request's last commit, or its artifact expired."
            )
        if found is None:
            _write_outputs(settings, {"pr": str(pr or ""), "found": "false"})
            click.echo(f"error: {reason} Nothing was applied.", err=True)
            post = _Poster(api, target=target, enabled=comment == "on")
            _report_failure(
                settings, post, target=target, pr=pr, exitcode=None, reason=reason, output="",
                run=run,
            )  # fmt: skip
            return EXIT_ERROR
        path = api.download_plan(found, out if out.is_absolute() else settings.cwd / out)
    _write_outputs(settings, {"pr": str(pr or ""), "found": "true", "plan-path": str(path)})
    click.echo(f"Reviewed plan: artifact {found.name} (commit {found.head_sha[:7]}) -> {path}")
    return EXIT_OK


@github_group.command("report")
@click.argument("command", type=click.Choice(["validate", "plan", "apply", "drift"]))
@click.option("--target", "target", default="")
@click.option("--exitcode", "exitcode", type=int, required=True)
@click.option("--markdown", "markdown_file", type=click.Path(path_type=Path), default=None)
@click.option("--output", "output_file", type=click.Path(path_type=Path), default=None)
@click.option("--plan", "plan_file", type=click.Path(path_type=Path), default=None)
@click.option("--artifact", "artifact", default="")
@click.option("--pr", "pr", default="", help="Pull request to comment on (default: the event's).")
@click.option("--comment", "comment", type=ON_OFF, default="on")
@_author_option
@click.pass_obj
def report_command(
    settings: Settings,
    command: str,
    target: str,
    exitcode: int,
    markdown_file: Path | None,
    output_file: Path | None,
    plan_file: Path | None,
    artifact: str,
    pr: str,
    comment: str,
    author: str,
) -> int:
    """Post the result (PR comment or issue), write the job summary and the outputs."""
    context = RunContext.from_env(settings.env)
    run = reports.Run(sha=context.head_sha, url=context.run_url)
    markdown = _read(settings, markdown_file)
    output = _read(settings, output_file)
    number = int(pr) if pr.isdigit() else context.pr_number
    has_changes = exitcode == 2
    with GitHubAPI(context, author=author) as api:
        post = _Poster(api, target=target, enabled=comment == "on")
        if command == "plan":
            saved = artifact if exitcode in (0, 2) else ""
            body = reports.plan_comment(
                target=target, exitcode=exitcode, markdown=markdown, stderr=output, run=run,
                artifact=saved,
            )  # fmt: skip
            post.comment("plan", number, body)
        elif command == "apply":
            has_changes = exitcode == 0 and _plan_has_changes(settings, plan_file)
            body = reports.apply_comment(target=target, exitcode=exitcode, output=output, run=run)
            if exitcode == 0:
                post.comment("apply", number, body)
                post.close("apply", reports.APPLY_LABEL, reports.applied_closing(run=run))
            else:
                _report_failure(
                    settings, post, target=target, pr=number, exitcode=exitcode, reason="",
                    output=output, run=run,
                )  # fmt: skip
        elif command == "drift":
            if exitcode == 2:
                title, body = reports.drift_issue(target=target, markdown=markdown, run=run)
                post.issue("drift", reports.DRIFT_LABEL, title, body)
            elif exitcode == 0:
                body = markdown
                post.close("drift", reports.DRIFT_LABEL, reports.back_in_sync(run=run))
            else:
                body = f"Drift check failed (exit {exitcode}).\n\n" + reports.output_block(output)
        else:
            body = "Valid." if exitcode == 0 else reports.output_block(output)
    _write_summary(
        settings, reports.summary(command=command, target=target, exitcode=exitcode, body=body)
    )
    _write_outputs(settings, {"has-changes": "true" if has_changes else "false"})
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Helpers


class _Poster:
    """GitHub writes for one target; each failure is a workflow warning, not a failed step,
    and nothing is written when comments are off."""

    def __init__(self, api: GitHubAPI, *, target: str, enabled: bool) -> None:
        self.api = api
        self.target = target
        self.enabled = enabled

    def comment(self, kind: str, number: int | None, body: str) -> None:
        if self.enabled and number is not None:
            with _warned():
                marker = reports.marker(kind, self.target)
                verb, id_ = self.api.upsert_comment(number, marker=marker, body=body)
                click.echo(f"{verb} comment {id_}")

    def issue(self, kind: str, label: str, title: str, body: str) -> None:
        if self.enabled:
            with _warned():
                marker = reports.marker(kind, self.target)
                verb, number = self.api.upsert_issue(
                    marker=marker, label=label, title=title, body=body
                )
                click.echo(f"{verb} issue #{number}")

    def close(self, kind: str, label: str, comment: str) -> None:
        if self.enabled:
            with _warned():
                marker = reports.marker(kind, self.target)
                closed = self.api.close_issue(marker=marker, label=label, comment=comment)
                if closed is not None:
                    click.echo(f"closed issue #{closed}")


@contextlib.contextmanager
def _warned() -> Iterator[None]:
    try:
        yield
    except GitHubError as e:
        click.echo(f"::warning title=servingops could not post to GitHub::{e}")


def _report_failure(
    settings: Settings,
    post: _Poster,
    *,
    target: str,
    pr: int | None,
    exitcode: int | None,
    reason: str,
    output: str,
    run: reports.Run,
) -> None:
    """Apply did not complete: say so on the merged PR and in the target's one open issue."""
    if exitcode is None:
        body = reports.missing_plan_comment(target=target, reason=reason, run=run)
        _write_summary(
            settings, reports.summary(command="apply", target=target, exitcode=1, body=body)
        )
    else:
        body = reports.apply_comment(target=target, exitcode=exitcode, output=output, run=run)
    post.comment("apply", pr, body)
    title, issue = reports.apply_issue(
        target=target, exitcode=exitcode, reason=reason, output=output, pr=pr, run=run
    )
    post.issue("apply", reports.APPLY_LABEL, title, issue)


def _plan_has_changes(settings: Settings, plan_file: Path | None) -> bool:
    text = _read(settings, plan_file)
    try:
        return bool(json.loads(text).get("actions")) if text else False
    except (ValueError, AttributeError):
        return False


def _read(settings: Settings, path: Path | None) -> str:
    if path is None:
        return ""
    full = path if path.is_absolute() else settings.cwd / path
    try:
        return full.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _runner_temp(settings: Settings) -> Path:
    return Path(settings.env.get("RUNNER_TEMP") or settings.cwd / ".servingops" / "ci")


def _write_outputs(settings: Settings, values: Mapping[str, str]) -> None:
    """Append `name=value` lines to $GITHUB_OUTPUT (values here are single-line)."""
    path = settings.env.get("GITHUB_OUTPUT")
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as f:
        for key, value in values.items():
            f.write(f"{key}={value.replace(chr(10), ' ')}\n")


def _write_summary(settings: Settings, text: str) -> None:
    path = settings.env.get("GITHUB_STEP_SUMMARY")
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text + "\n")


def _profile_for_ci(settings: Settings, target: Target) -> None:
    """A target that names a ~/.databrickscfg profile gets one on the runner, holding only the
    host from DATABRICKS_HOST; credentials stay in the environment (never written to disk)."""
    host = settings.env.get("DATABRICKS_HOST", "")
    if not target.profile or not host:
        return
    config = Path(settings.env.get("DATABRICKS_CONFIG_FILE") or settings.home / ".databrickscfg")
    existing = config.read_text(encoding="utf-8") if config.is_file() else ""
    if f"[{target.profile}]" in existing:
        return
    config.parent.mkdir(parents=True, exist_ok=True)
    with config.open("a", encoding="utf-8") as f:
        f.write(f"\n[{target.profile}]\nhost = {host}\n")
    click.echo(f"wrote profile [{target.profile}] (host only) to {config}")
