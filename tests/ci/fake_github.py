"""A fake GitHub REST API for the calls the servingops action makes, served on loopback.

It keeps issues (pull requests are issues too), comments, pull requests and workflow artifacts
in memory, behind the same paths, pagination (`per_page`, `page`, a `Link: rel="next"` header)
and answers as api.github.com (docs.github.com/en/rest: issues, issue comments, "List pull
requests associated with a commit", artifacts). Like GitHub, it lets any writer edit any
comment: only the action's own checks keep it from editing someone else's. An artifact's zip
is served from a *different origin* (`localhost` vs `127.0.0.1`) after a 302, as GitHub
redirects to blob storage, and the fake records whether the token was sent along.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

WORKFLOW_TOKEN = "ghs_workflow-token-not-a-secret"
"""GITHUB_TOKEN: writes as github-actions[bot], and may not call GET /user."""
MALLORY_TOKEN = "ghp_mallory-token-not-a-secret"
BOT = "github-actions[bot]"
USERS = {WORKFLOW_TOKEN: BOT, MALLORY_TOKEN: "mallory"}


@dataclass
class Store:
    """Everything the fake holds; tests read and seed it directly (same process)."""

    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[int, bytes] = field(default_factory=dict)
    blob_requests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # Seeding helpers ------------------------------------------------------------------------

    def open_pull(self, number: int, *, head_sha: str, title: str = "Change endpoints") -> None:
        with self.lock:
            self.issues[number] = {
                "number": number,
                "title": title,
                "body": "",
                "state": "open",
                "labels": [],
                "user": {"login": "alice", "type": "User"},
                "pull_request": {"url": f"/pulls/{number}"},
            }
            self.pulls[number] = {
                "number": number,
                "head": {"sha": head_sha, "ref": f"change-{number}"},
                "base": {"ref": "main"},
                "merged_at": None,
                "merge_commit_sha": None,
            }

    def merge_pull(self, number: int, *, merge_sha: str) -> None:
        with self.lock:
            self.pulls[number]["merged_at"] = "2026-12-01T12:00:00Z"
            self.pulls[number]["merge_commit_sha"] = merge_sha
            self.issues[number]["state"] = "closed"

    def add_comment(self, number: int, *, body: str, login: str) -> int:
        with self.lock:
            comment_id = self.new_id()
            self.comments[comment_id] = {
                "id": comment_id,
                "issue_number": number,
                "body": body,
                "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
            }
            return comment_id

    def add_artifact(
        self, name: str, files: Mapping[str, bytes], *, run_id: int, head_sha: str
    ) -> int:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        with self.lock:
            artifact_id = self.new_id()
            self.artifacts[artifact_id] = {
                "id": artifact_id,
                "name": name,
                "expired": False,
                "created_at": f"2026-12-01T12:{artifact_id % 60:02d}:00Z",
                "workflow_run": {"id": run_id, "head_sha": head_sha},
            }
            self.blobs[artifact_id] = buffer.getvalue()
            return artifact_id

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue_number"] == number]

    def open_issues(self, label: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.issues.values()
            if i["state"] == "open"
            and "pull_request" not in i
            and label in [lbl["name"] for lbl in i["labels"]]
        ]


def build_app(store: Store, *, blob_origin: str) -> Starlette:
    def user_of(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return (
            USERS.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        )

    def unauthorized() -> JSONResponse:
        return JSONResponse({"message": "Bad credentials"}, status_code=401)

    def page(request: Request, items: list[dict[str, Any]], *, key: str | None = None) -> Response:
        per_page = int(request.query_params.get("per_page", "30"))
        number = int(request.query_params.get("page", "1"))
        chunk = items[(number - 1) * per_page : number * per_page]
        headers = {}
        if number * per_page < len(items):
            query = dict(request.query_params)
            query["page"] = str(number + 1)
            next_url = request.url.replace_query_params(**query)
            headers["link"] = f'<{next_url}>; rel="next"'
        body: Any = {"total_count": len(items), key: chunk} if key else chunk
        return JSONResponse(body, headers=headers)

    async def get_user(request: Request) -> Response:
        store.requests.append(("GET", "/user"))
        login = user_of(request)
        if login is None:
            return unauthorized()
        if login.endswith("[bot]"):  # installation tokens may not read /user
            return JSONResponse({"message": "Resource not accessible by integration"}, 403)
        return JSONResponse({"login": login, "type": "User"})

    async def issue_comments(request: Request) -> Response:
        login = user_of(request)
        if login is None:
            return unauthorized()
        number = int(request.path_params["number"])
        store.requests.append((request.method, f"/issues/{number}/comments"))
        if number not in store.issues:
            return JSONResponse({"message": "Not Found"}, 404)
        if request.method == "POST":
            payload = await request.json()
            comment_id = store.add_comment(number, body=payload["body"], login=login)
            return JSONResponse(store.comments[comment_id], status_code=201)
        items = sorted(store.comments_on(number), key=lambda c: c["id"])
        return page(request, items)

    async def edit_comment(request: Request) -> Response:
        if user_of(request) is None:
            return unauthorized()
        comment_id = int(request.path_params["comment_id"])
        store.requests.append(("PATCH", f"/issues/comments/{comment_id}"))
        payload = await request.json()
        with store.lock:
            store.comments[comment_id]["body"] = payload["body"]
        return JSONResponse(store.comments[comment_id])

    async def issues(request: Request) -> Response:
        login = user_of(request)
        if login is None:
            return unauthorized()
        store.requests.append((request.method, "/issues"))
        if request.method == "POST":
            payload = await request.json()
            with store.lock:
                number = max([*store.issues, 0]) + 1
                store.issues[number] = {
                    "number": number,
                    "title": payload["title"],
                    "body": payload.get("body", ""),
                    "state": "open",
                    "labels": [{"name": n} for n in payload.get("labels", [])],
                    "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
                }
            return JSONResponse(store.issues[number], status_code=201)
        state = request.query_params.get("state", "open")
        labels = set(filter(None, request.query_params.get("labels", "").split(",")))
        items = [
            i
            for _, i in sorted(store.issues.items())
            if (state == "all" or i["state"] == state)
            and labels <= {lbl["name"] for lbl in i["labels"]}
        ]
        return page(request, items)

    async def edit_issue(request: Request) -> Response:
        if user_of(request) is None:
            return unauthorized()
        number = int(request.path_params["number"])
        store.requests.append(("PATCH", f"/issues/{number}"))
        payload = await request.json()
        with store.lock:
            for key in ("title", "body", "state", "state_reason"):
                if key in payload:
                    store.issues[number][key] = payload[key]
        return JSONResponse(store.issues[number])

    async def commit_pulls(request: Request) -> Response:
        if user_of(request) is None:
            return unauthorized()
        sha = request.path_params["sha"]
        store.requests.append(("GET", f"/commits/{sha}/pulls"))
        found = [
            p
            for p in store.pulls.values()
            if p["merge_commit_sha"] == sha or (p["head"]["sha"] == sha and not p["merged_at"])
        ]
        return JSONResponse(found)

    async def artifacts(request: Request) -> Response:
        if user_of(request) is None:
            return unauthorized()
        name = request.query_params.get("name")
        store.requests.append(("GET", f"/actions/artifacts?name={name}"))
        base = str(request.base_url).rstrip("/")
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        items = [
            {
                **a,
                "archive_download_url": f"{base}/repos/{repo}/actions/artifacts/{a['id']}/zip",
            }
            for _, a in sorted(store.artifacts.items(), reverse=True)
            if name is None or a["name"] == name
        ]
        return page(request, items, key="artifacts")

    async def artifact_zip(request: Request) -> Response:
        if user_of(request) is None:
            return unauthorized()
        artifact_id = int(request.path_params["artifact_id"])
        if artifact_id not in store.blobs:
            return JSONResponse({"message": "Not Found"}, 404)
        return RedirectResponse(f"{blob_origin}/_blob/{artifact_id}?sig=short-lived", 302)

    async def blob(request: Request) -> Response:
        artifact_id = int(request.path_params["artifact_id"])
        store.blob_requests.append(
            {"id": artifact_id, "authorization": "authorization" in request.headers}
        )
        return Response(store.blobs[artifact_id], media_type="application/zip")

    repo = "/repos/{owner}/{repo}"
    return Starlette(
        routes=[
            Route("/user", get_user),
            Route(
                f"{repo}/issues/{{number:int}}/comments", issue_comments, methods=["GET", "POST"]
            ),
            Route(f"{repo}/issues/comments/{{comment_id:int}}", edit_comment, methods=["PATCH"]),
            Route(f"{repo}/issues", issues, methods=["GET", "POST"]),
            Route(f"{repo}/issues/{{number:int}}", edit_issue, methods=["PATCH"]),
            Route(f"{repo}/commits/{{sha}}/pulls", commit_pulls),
            Route(f"{repo}/actions/artifacts", artifacts),
            Route(f"{repo}/actions/artifacts/{{artifact_id:int}}/zip", artifact_zip),
            Route("/_blob/{artifact_id:int}", blob),
        ]
    )


@dataclass(frozen=True)
class FakeGitHub:
    url: str
    store: Store


@contextmanager
def serve_fake_github(*, startup_timeout: float = 10.0) -> Iterator[FakeGitHub]:
    """The fake on 127.0.0.1 (a free port) for the duration of the block; always stopped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    store = Store()
    app = build_app(store, blob_origin=f"http://localhost:{port}")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        lifespan="off", ws="none", timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-github", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub API did not start")
            time.sleep(0.01)
        yield FakeGitHub(url=f"http://127.0.0.1:{port}", store=store)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def zip_files(paths: list[Path]) -> dict[str, bytes]:
    """What actions/upload-artifact stores: the files relative to their common folder."""
    folders = [p.parent for p in paths]
    common = Path(*Path(folders[0]).parts)
    for folder in folders[1:]:
        while not folder.is_relative_to(common):
            common = common.parent
    return {p.relative_to(common).as_posix(): p.read_bytes() for p in paths}
