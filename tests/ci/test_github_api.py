"""The GitHub REST calls behind the action, against the fake API on loopback: only our own
comment or issue that starts with the marker is edited, pages are followed, the reviewed plan
is found by commit, and the token goes nowhere but the API and into no message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from servingops.ci.github import ACTIONS_BOT, GitHubAPI, GitHubError, RunContext
from servingops.cli import Settings, main
from servingops.errors import UsageError

from .fake_github import BOT, MALLORY_TOKEN, WORKFLOW_TOKEN, FakeGitHub, serve_fake_github

MARKER = "<!-- servingops:plan target=prod -->"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    with serve_fake_github() as served:
        yield served


def context(fake: FakeGitHub, *, token: str = WORKFLOW_TOKEN, sha: str = "c0ffee") -> RunContext:
    return RunContext(
        api_url=fake.url,
        token=token,
        repository="acme/endpoints",
        sha=sha,
        run_url="https://github.com/acme/endpoints/actions/runs/1",
        event={},
    )


def test_only_our_comment_that_starts_with_the_marker_is_edited(fake: FakeGitHub) -> None:
    store = fake.store
    store.open_pull(11, head_sha="a1")
    spoof = store.add_comment(11, body=f"{MARKER}\nforged", login="mallory")
    quote = store.add_comment(11, body=f"see {MARKER}", login=BOT)
    for i in range(120):  # two pages of someone's chatter before ours
        store.add_comment(11, body=f"comment {i}", login="alice")
    with GitHubAPI(context(fake)) as api:
        verb, first = api.upsert_comment(11, marker=MARKER, body=f"{MARKER}\nplan 1")
        assert verb == "created"
        assert api.upsert_comment(11, marker=MARKER, body=f"{MARKER}\nplan 2") == (
            "updated",
            first,
        )
    assert store.comments[first]["body"] == f"{MARKER}\nplan 2"
    assert store.comments[spoof]["body"] == f"{MARKER}\nforged"
    assert store.comments[quote]["body"] == f"see {MARKER}"


def test_the_author_is_the_tokens_own_login(fake: FakeGitHub) -> None:
    with GitHubAPI(context(fake)) as api:
        assert api.author() == ACTIONS_BOT  # GITHUB_TOKEN may not call GET /user
    with GitHubAPI(context(fake, token=MALLORY_TOKEN)) as api:
        assert api.author() == "mallory"
    with GitHubAPI(context(fake), author="deploy-app[bot]") as api:
        assert api.author() == "deploy-app[bot]"


def test_one_issue_per_marker_opened_updated_and_closed(fake: FakeGitHub) -> None:
    marker = "<!-- servingops:drift target=qa -->"
    with GitHubAPI(context(fake)) as api:
        verb, number = api.upsert_issue(marker=marker, label="drift", title="t", body=marker)
        assert verb == "opened"
        again = api.upsert_issue(marker=marker, label="drift", title="t2", body=f"{marker}\n2")
        assert again == ("updated", number)
        assert api.close_issue(marker=marker, label="drift", comment="done") == number
        assert api.close_issue(marker=marker, label="drift", comment="done") is None
    issue = fake.store.issues[number]
    assert (issue["state"], issue["title"], issue["labels"]) == (
        "closed",
        "t2",
        [{"name": "drift"}],
    )


def test_the_merged_pull_request_and_its_reviewed_plan(fake: FakeGitHub, tmp_path: Path) -> None:
    store = fake.store
    store.open_pull(21, head_sha="head21")
    store.merge_pull(21, merge_sha="merge21")
    name = "servingops-plan-prod-head21"
    plan = {"format": "servingops-plan", "actions": []}
    store.add_artifact(name, {"plan.json": b"old"}, run_id=1, head_sha="head21")
    newest = store.add_artifact(
        name, {"plan.json": json.dumps(plan).encode(), "plan.md": b"# md"}, run_id=2,
        head_sha="head21",
    )  # fmt: skip
    # Same name, uploaded by a run for another commit: never the reviewed plan.
    store.add_artifact(name, {"plan.json": b"forged"}, run_id=3, head_sha="other")
    expired = store.add_artifact(name, {"plan.json": b"expired"}, run_id=4, head_sha="head21")
    store.artifacts[expired]["expired"] = True
    with GitHubAPI(context(fake, sha="merge21")) as api:
        merged = api.merged_pull("merge21")
        assert merged is not None
        assert (merged.number, merged.head_sha) == (21, "head21")
        assert api.merged_pull("direct-push") is None
        found = api.find_artifact(name, head_sha=merged.head_sha)
        assert found is not None
        assert found.id == newest
        path = api.download_plan(found, tmp_path / "plan")
        assert api.find_artifact("servingops-plan-prod-nope", head_sha=None) is None
    assert json.loads(path.read_text()) == plan
    assert (tmp_path / "plan" / "plan.md").read_text() == "# md"
    assert store.blob_requests[-1] == {"id": newest, "authorization": False}


def test_an_artifact_without_a_plan_is_an_error(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.store.add_artifact("servingops-plan-x-h", {"other.txt": b"x"}, run_id=5, head_sha="h")
    with GitHubAPI(context(fake)) as api:
        found = api.find_artifact("servingops-plan-x-h", head_sha="h")
        assert found is not None
        with pytest.raises(GitHubError, match=r"holds no plan\.json"):
            api.download_plan(found, tmp_path)


def test_a_refused_token_is_one_line_without_the_token(fake: FakeGitHub) -> None:
    secret = "ghp_this-is-not-a-real-token"
    with GitHubAPI(context(fake, token=secret)) as api, pytest.raises(GitHubError) as info:
        api.upsert_comment(11, marker=MARKER, body="x")
    message = str(info.value)
    assert message == (
        "GitHub API: GET /repos/acme/endpoints/issues/11/comments returned 401 Bad credentials; "
        "the token was refused; check the action's github-token input"
    )
    assert secret not in message


def test_run_context_from_the_runner(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 4, "head": {"sha": "h4"}}}))
    env = {
        "GITHUB_REPOSITORY": "acme/endpoints",
        "GITHUB_SHA": "merge4",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_RUN_ID": "9",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
    }
    ctx = RunContext.from_env(env)
    assert (ctx.pr_number, ctx.head_sha, ctx.sha) == (4, "h4", "merge4")
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.run_url == "https://github.com/acme/endpoints/actions/runs/9"
    with pytest.raises(UsageError, match="runs inside GitHub Actions"):
        RunContext.from_env({})


def test_a_failed_post_is_a_warning_and_the_summary_is_still_written(
    fake: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 404, "head": {"sha": "h"}}}))
    (tmp_path / "plan.md").write_text(f"{MARKER}\n## servingops plan: prod\n")
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    env = {
        "GITHUB_REPOSITORY": "acme/endpoints",
        "GITHUB_API_URL": fake.url,
        "GITHUB_TOKEN": WORKFLOW_TOKEN,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    argv = ["ci", "github", "report", "plan", "--target", "prod", "--exitcode", "2"]
    code = main([*argv, "--markdown", "plan.md"], settings=Settings(cwd=tmp_path, env=env))
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("::warning title=servingops could not post to GitHub::GitHub API: GET")
    assert "404" in out
    assert "## servingops plan: prod" in summary.read_text()
    assert output.read_text() == "has-changes=true\n"


def test_an_unreachable_api_is_a_warning_for_reports_and_an_error_for_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 1, "head": {"sha": "h"}}}))
    env = {
        "GITHUB_REPOSITORY": "acme/endpoints",
        "GITHUB_API_URL": f"http://127.0.0.1:{port}",
        "GITHUB_TOKEN": WORKFLOW_TOKEN,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "m",
    }
    settings = Settings(cwd=tmp_path, env=env)
    report = ["ci", "github", "report", "plan", "--target", "prod", "--exitcode", "0"]
    assert main(report, settings=settings) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("::warning title=servingops could not post to GitHub::GitHub API: GET")
    assert "ConnectError" in out
    fetch = ["ci", "github", "fetch-plan", "--target", "prod", "--out", "plan"]
    assert main(fetch, settings=settings) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: GitHub API: GET /repos/acme/endpoints/commits/m/pulls failed")
    assert WORKFLOW_TOKEN not in err
    assert "Traceback" not in err
