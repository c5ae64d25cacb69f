"""GitHub Actions facts and the few GitHub REST calls the action makes.

`RunContext` reads what the runner provides (GITHUB_* variables and the event payload).
`GitHubAPI` upserts the one PR comment and the one issue per target, finds the pull request a
pushed commit merged, and finds and downloads a saved-plan artifact. Only a comment or issue
written by the action's own identity whose body *starts* with the marker is ever updated, so a
marker pasted by someone else (or forged through an endpoint file) is never matched. The token
is sent only to GITHUB_API_URL and never appears in an error.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .. import __version__
from ..errors import ReconcilerError, UsageError

DEFAULT_API = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"
"""Who GITHUB_TOKEN writes as; `GET /user` is not allowed for it, so this is the fallback."""
PLAN_FILE = "plan.json"
PLAN_MARKDOWN = "plan.md"


class GitHubError(ReconcilerError):
    """A GitHub API call failed; the message names the call and what to do next."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """The workflow run as the runner describes it."""

    api_url: str
    token: str
    repository: str
    sha: str
    run_url: str
    event: Mapping[str, Any]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunContext:
        repository = env.get("GITHUB_REPOSITORY", "")
        if "/" not in repository:
            raise UsageError(
                "GITHUB_REPOSITORY is not set; `servingops ci github` runs inside GitHub Actions"
            )
        event: Mapping[str, Any] = {}
        event_path = env.get("GITHUB_EVENT_PATH")
        if event_path and Path(event_path).is_file():
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            event = loaded if isinstance(loaded, Mapping) else {}
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        run_id = env.get("GITHUB_RUN_ID", "")
        return cls(
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/"),
            token=env.get("GITHUB_TOKEN", ""),
            repository=repository,
            sha=env.get("GITHUB_SHA", ""),
            run_url=f"{server}/{repository}/actions/runs/{run_id}",
            event=event,
        )

    @property
    def pull_request(self) -> Mapping[str, Any] | None:
        pr = self.event.get("pull_request")
        return pr if isinstance(pr, Mapping) else None

    @property
    def pr_number(self) -> int | None:
        pr = self.pull_request
        return int(pr["number"]) if pr and "number" in pr else None

    @property
    def head_sha(self) -> str:
        """The commit under review: the PR's head (not the merge commit GitHub tests), else
        the commit the run is for."""
        pr = self.pull_request
        head = pr.get("head") if pr else None
        if isinstance(head, Mapping) and head.get("sha"):
            return str(head["sha"])
        return self.sha


@dataclass(frozen=True, slots=True, kw_only=True)
class MergedPull:
    number: int
    head_sha: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    id: int
    name: str
    head_sha: str
    download_url: str


class GitHubAPI:
    """A small synchronous client for the calls above. Use as a context manager."""

    def __init__(
        self, context: RunContext, *, author: str = "", transport: httpx.BaseTransport | None = None
    ) -> None:
        self.context = context
        self._author = author
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"servingops/{__version__}",
        }
        if context.token:
            headers["Authorization"] = f"Bearer {context.token}"
        # httpx drops Authorization when a redirect leaves the API's origin (the artifact zip
        # is served from blob storage), so the token never travels there.
        self._http = httpx.Client(
            base_url=context.api_url,
            headers=headers,
            timeout=30.0,
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> GitHubAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # ----------------------------------------------------------------------------------------
    # Identity

    def author(self) -> str:
        """The login this token writes as: GET /user for user tokens; GITHUB_TOKEN and app
        installation tokens may not call it, and write as `github-actions[bot]` (or the app's
        bot, which the caller names with --author)."""
        if not self._author:
            response = self._send("GET", "/user")
            login = response.json().get("login") if response.status_code == 200 else None
            self._author = str(login) if login else ACTIONS_BOT
        return self._author

    def _ours(self, item: Mapping[str, Any], marker: str) -> bool:
        user = item.get("user") or {}
        body = item.get("body") or ""
        return user.get("login") == self.author() and body.startswith(marker)

    # ----------------------------------------------------------------------------------------
    # Comments and issues

    def upsert_comment(self, number: int, *, marker: str, body: str) -> tuple[str, int]:
        """Edit our comment on issue or PR `number` that starts with `marker`, else add one.
        Returns ("updated" | "created", comment id)."""
        repo = self.context.repository
        for comment in self._pages(f"/repos/{repo}/issues/{number}/comments"):
            if self._ours(comment, marker):
                self._call("PATCH", f"/repos/{repo}/issues/comments/{comment['id']}", body=body)
                return "updated", int(comment["id"])
        created = self._call("POST", f"/repos/{repo}/issues/{number}/comments", body=body)
        return "created", int(created["id"])

    def comment(self, number: int, body: str) -> None:
        repo = self.context.repository
        self._call("POST", f"/repos/{repo}/issues/{number}/comments", body=body)

    def find_issue(self, *, marker: str, label: str) -> Mapping[str, Any] | None:
        """Our open issue with `label` whose body starts with `marker`."""
        path = f"/repos/{self.context.repository}/issues"
        params = {"state": "open", "labels": label}
        for issue in self._pages(path, params=params):
            if "pull_request" not in issue and self._ours(issue, marker):
                return issue
        return None

    def upsert_issue(self, *, marker: str, label: str, title: str, body: str) -> tuple[str, int]:
        """Update our open issue for `marker`, else open one with `label` (GitHub creates a
        missing label). Returns ("updated" | "opened", issue number)."""
        repo = self.context.repository
        issue = self.find_issue(marker=marker, label=label)
        if issue is not None:
            number = int(issue["number"])
            self._call("PATCH", f"/repos/{repo}/issues/{number}", title=title, body=body)
            return "updated", number
        created = self._call(
            "POST", f"/repos/{repo}/issues", title=title, body=body, labels=[label]
        )
        return "opened", int(created["number"])

    def close_issue(self, *, marker: str, label: str, comment: str) -> int | None:
        """Close our open issue for `marker` with a last comment; its number, or None."""
        issue = self.find_issue(marker=marker, label=label)
        if issue is None:
            return None
        number = int(issue["number"])
        self.comment(number, comment)
        self._call(
            "PATCH",
            f"/repos/{self.context.repository}/issues/{number}",
            state="closed",
            state_reason="completed",
        )
        return number

    # ----------------------------------------------------------------------------------------
    # The reviewed plan

    def merged_pull(self, sha: str) -> MergedPull | None:
        """The pull request whose merge produced `sha` (merge, squash or rebase), if any.

        GET /repos/{owner}/{repo}/commits/{sha}/pulls lists the merged pull request that
        introduced a commit on the default branch (docs.github.com/en/rest/commits/commits,
        "List pull requests associated with a commit").
        """
        pulls = self._call("GET", f"/repos/{self.context.repository}/commits/{sha}/pulls")
        merged = [p for p in pulls if p.get("merged_at")]
        exact = [p for p in merged if p.get("merge_commit_sha") == sha]
        chosen = (exact or merged or [None])[0]
        if chosen is None:
            return None
        return MergedPull(number=int(chosen["number"]), head_sha=str(chosen["head"]["sha"]))

    def find_artifact(self, name: str, *, head_sha: str | None) -> Artifact | None:
        """The newest unexpired artifact called `name` (from a run for `head_sha`, when given).

        GET /repos/{owner}/{repo}/actions/artifacts?name= (docs.github.com/en/rest/actions/
        artifacts). Checking the run's head_sha means a run for another commit cannot supply
        the plan for this one, whatever it named its artifact.
        """
        path = f"/repos/{self.context.repository}/actions/artifacts"
        found = []
        for item in self._pages(path, params={"name": name}, key="artifacts"):
            run = item.get("workflow_run") or {}
            if item.get("name") != name or item.get("expired"):
                continue
            if head_sha is not None and run.get("head_sha") != head_sha:
                continue
            found.append(item)
        if not found:
            return None
        newest = max(found, key=lambda a: (str(a.get("created_at") or ""), int(a["id"])))
        return Artifact(
            id=int(newest["id"]),
            name=name,
            head_sha=str((newest.get("workflow_run") or {}).get("head_sha") or ""),
            download_url=str(newest["archive_download_url"]),
        )

    def download_plan(self, artifact: Artifact, folder: Path) -> Path:
        """Unpack the artifact's plan.json (and plan.md when present) into `folder`."""
        response = self._send("GET", artifact.download_url)
        self._check(response, "GET", f"artifact {artifact.name}")
        try:
            archive = zipfile.ZipFile(io.BytesIO(response.content))
        except zipfile.BadZipFile:
            raise GitHubError(f"artifact {artifact.name} is not a zip archive") from None
        names = set(archive.namelist())
        if PLAN_FILE not in names:
            raise GitHubError(f"artifact {artifact.name} holds no {PLAN_FILE}")
        folder.mkdir(parents=True, exist_ok=True)
        for member in (PLAN_FILE, PLAN_MARKDOWN):
            if member in names:
                (folder / member).write_bytes(archive.read(member))
        return folder / PLAN_FILE

    # ----------------------------------------------------------------------------------------
    # Transport

    def _pages(
        self, path: str, *, params: Mapping[str, str] | None = None, key: str | None = None
    ) -> Iterator[Mapping[str, Any]]:
        url: str | None = path
        query: dict[str, str] | None = {**(params or {}), "per_page": "100"}
        while url is not None:
            response = self._send("GET", url, params=query)
            self._check(response, "GET", path)
            data = response.json()
            yield from data[key] if key else data
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query already

    def _call(self, method: str, path: str, **payload: Any) -> Any:
        response = self._send(method, path, json=payload or None)
        self._check(response, method, path)
        return response.json() if response.content else None

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            where = url if url.startswith("/") else "an artifact download"
            raise GitHubError(
                f"GitHub API: {method} {where} failed: {type(e).__name__} (is "
                f"{self.context.api_url} reachable?)"
            ) from None

    @staticmethod
    def _check(response: httpx.Response, method: str, what: str) -> None:
        if response.is_success:
            return
        try:
            message = str(response.json().get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        hint = {
            401: "the token was refused; check the action's github-token input",
            403: "give the workflow the permission this call needs (see docs/ci.md)",
            404: "check the repository, and that the token may read it",
        }.get(response.status_code, "try again; if it persists, check GitHub's status")
        detail = f" {message}" if message else ""
        raise GitHubError(
            f"GitHub API: {method} {what} returned {response.status_code}{detail}; {hint}"
        )
