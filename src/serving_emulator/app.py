"""HTTP plumbing: the Starlette routes of the emulated workspace.

Each handler authenticates, applies the injected latency and faults, parses the JSON body and
hands the work to `Workspace`. `ApiError` becomes the Databricks error body; unknown paths and
methods get JSON 404/405 answers too.

Where the work runs matters for throughput: a hop to a worker thread costs more CPU than a whole
read. So reads run on the event loop under `store.no_wait` (they take no lock that another
request or process could hold for long, and fail fast with `StoreBusy` in the rare moment they
would have to wait, when they are run again in a worker thread). Writes to a file database run
in worker threads because they may wait for another process's write lock; everything on an
in-memory database is private to this process and short, so it all runs on the loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import invocations as invocations_module
from .dataplane import DataPlane
from .errors import ApiError, malformed
from .objects_app import objects_routes
from .principals import Principal
from .service import OAuthError, Workspace
from .store import StoreBusy, no_wait

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

Handler = Callable[[Request], Awaitable[Response]]
_log = logging.getLogger("serving_emulator")
T = TypeVar("T")
_FAULTS = (
    (429, "REQUEST_LIMIT_EXCEEDED", "Injected fault: too many requests."),
    (500, "INTERNAL_ERROR", "Injected fault: internal server error."),
    (503, "TEMPORARILY_UNAVAILABLE", "Injected fault: service temporarily unavailable."),
)


class _Api:
    def __init__(self, workspace: Workspace, dataplane: DataPlane) -> None:
        self.ws = workspace
        self.dp = dataplane
        self.config = workspace.config
        # An in-memory database is private to this process and every call on it is short, so
        # running it on the event loop beats a worker-thread hop. A file may be locked by
        # another process for a while, so its writes go to worker threads (reads: `_read`).
        self._inline = workspace.in_memory
        self._faults = random.Random(self.config.fault_seed)
        self._faults_lock = threading.Lock()
        # str(request.base_url) parses and re-renders a URL on every call; it only depends on
        # the few scope fields in the key (see `_base`).
        self._base_urls: dict[tuple[Any, ...], str] = {}

    # -- request pipeline ----------------------------------------------------------------------

    async def _prelude(self, request: Request) -> Principal:
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if self.config.fault_rate > 0:
            with self._faults_lock:
                hit = self._faults.random() < self.config.fault_rate
                fault = self._faults.choice(_FAULTS)
            if hit:
                status, code, message = fault
                headers = {"Retry-After": "1"} if status in (429, 503) else None
                raise ApiError(status, code, message, headers=headers)
        header = request.headers.get("authorization")
        known = self.ws.static_principal(header)
        if known is not None:
            return known
        return await self._read(self.ws.authenticate, header)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write (or anything that may wait for the database) off the loop if needed."""
        if self._inline:
            return fn(*args)
        return await run_in_threadpool(fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only `Workspace` call on the loop; in a worker thread if it must wait."""
        if self._inline:
            return fn(*args)
        try:
            with no_wait():
                return fn(*args)
        except StoreBusy:
            return await run_in_threadpool(fn, *args)

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        return parse_json_object(await request.body())

    def _base(self, request: Request) -> str:
        scope = request.scope
        key = (
            scope.get("scheme"),
            scope.get("server"),
            scope.get("root_path"),
            scope.get("app_root_path"),
            request.headers.get("host"),
        )
        base = self._base_urls.get(key)
        if base is None:
            base = str(request.base_url).rstrip("/")
            if len(self._base_urls) >= 64:  # bounded: Host headers are client-chosen
                self._base_urls.clear()
            self._base_urls[key] = base
        return base

    # -- discovery and OAuth -------------------------------------------------------------------

    async def databricks_config(self, request: Request) -> Response:
        base = self._base(request)
        return JSONResponse(
            {"oidc_endpoint": f"{base}/oidc", "workspace_id": self.config.workspace_id}
        )

    async def oauth_metadata(self, request: Request) -> Response:
        base = self._base(request)
        return JSONResponse(
            {
                "issuer": f"{base}/oidc",
                "authorization_endpoint": f"{base}/oidc/v1/authorize",
                "token_endpoint": f"{base}/oidc/v1/token",
                "grant_types_supported": ["client_credentials", TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def token(self, request: Request) -> Response:
        try:
            body = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            return _oauth_error(
                OAuthError(400, "invalid_request", "The request body is not UTF-8 form data.")
            )
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if form.get("grant_type") == TOKEN_EXCHANGE:
            try:
                token = await self._call(
                    self.ws.exchange_token,
                    form.get("subject_token", ""),
                    form.get("subject_token_type", ""),
                    form.get("client_id", ""),
                    form.get("scope"),
                )
            except OAuthError as e:
                return _oauth_error(e)
            return JSONResponse(token)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                OAuthError(
                    400,
                    "unsupported_grant_type",
                    "Only client_credentials and token-exchange are supported.",
                )
            )
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        try:
            token = await self._call(
                self.ws.issue_token, client_id, client_secret, form.get("scope")
            )
        except OAuthError as e:
            return _oauth_error(e)
        return JSONResponse(token)

    async def me(self, request: Request) -> Response:
        caller = await self._prelude(request)
        return JSONResponse(self.ws.me(caller))

    # -- serving endpoints ---------------------------------------------------------------------

    async def list_or_create(self, request: Request) -> Response:
        caller = await self._prelude(request)
        if request.method == "GET":
            # Already JSON, rendered as JSONResponse would (see Workspace.list_endpoints_json).
            listing = await self._read(self.ws.list_endpoints_json, caller)
            return Response(listing, media_type="application/json")
        body = await self._json(request)
        return JSONResponse(
            await self._call(self.ws.create_endpoint, caller, body, self._base(request))
        )

    async def get_or_delete(self, request: Request) -> Response:
        caller = await self._prelude(request)
        name = request.path_params["name"]
        if request.method == "GET":
            return JSONResponse(
                await self._read(self.ws.get_endpoint, caller, name, self._base(request))
            )
        return JSONResponse(await self._call(self.ws.delete_endpoint, caller, name))

    def reader(self, fn: Callable[..., Any], *params: str, query: bool = False) -> Handler:
        """A GET handler answering fn(caller, *path params[, query]), run as a read."""

        async def handler(request: Request) -> Response:
            caller = await self._prelude(request)
            args: list[Any] = [request.path_params[p] for p in params]
            if query:
                args.append(dict(request.query_params))
            return JSONResponse(await self._read(fn, caller, *args))

        return handler

    def writer(
        self,
        fn: Callable[..., Any],
        *params: str,
        body: bool = True,
        base_url: bool = False,
        status: int = 200,
    ) -> Handler:
        """A handler answering fn(caller, *path params[, JSON body][, base URL]), run as a
        write; a None result answers 204."""

        async def handler(request: Request) -> Response:
            caller = await self._prelude(request)
            args: list[Any] = [request.path_params[p] for p in params]
            if body:
                args.append(await self._json(request))
            if base_url:
                args.append(self._base(request))
            result = await self._call(fn, caller, *args)
            if result is None:
                return Response(status_code=204)
            return JSONResponse(result, status_code=status)

        return handler

    async def openapi(self, request: Request) -> Response:
        caller = await self._prelude(request)
        text = await self._read(
            self.dp.openapi, caller, request.path_params["name"], self._base(request)
        )
        return PlainTextResponse(text)

    async def metrics(self, request: Request) -> Response:
        caller = await self._prelude(request)
        text = await self._read(self.dp.metrics, caller, request.path_params["name"])
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def invocations(self, request: Request) -> Response:
        caller = await self._prelude(request)
        body = await self._json(request)
        params = request.path_params
        result = await self._call(
            self.dp.invoke, caller, params["name"], params.get("served"), body
        )
        if result.delay_s > 0:
            await asyncio.sleep(result.delay_s)
        if result.error is not None:
            raise result.error
        answer = result.answer
        assert answer is not None
        headers = {"served-model-name": result.served_model_name}
        if answer.chunks is not None:
            events = invocations_module.sse_lines(answer.chunks)
            return StreamingResponse(
                _iterate(events), media_type="text/event-stream", headers=headers
            )
        return JSONResponse(answer.body, headers=headers)

    # -- emulator-only control routes ----------------------------------------------------------

    async def entity_fault(self, request: Request) -> Response:
        caller = await self._prelude(request)
        target = request.path_params["target"]
        if request.method == "DELETE":
            return JSONResponse(await self._call(self.dp.clear_entity_fault, caller, target))
        body = await self._json(request)
        return JSONResponse(await self._call(self.dp.set_entity_fault, caller, target, body))

    # -- permissions ---------------------------------------------------------------------------

    async def permissions(self, request: Request) -> Response:
        caller = await self._prelude(request)
        endpoint_id = request.path_params["endpoint_id"]
        if request.method == "GET":
            result = await self._read(self.ws.get_permissions, caller, endpoint_id)
        else:
            body = await self._json(request)
            result = await self._call(
                self.ws.set_permissions, caller, endpoint_id, body, request.method == "PUT"
            )
        return JSONResponse(result)


MAX_JSON_DEPTH = 64


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or 400 MALFORMED_REQUEST.

    Nesting is bounded before parsing: the real API's bodies are a few levels deep, and a body
    nested thousands of levels would otherwise end in a RecursionError (a 500) here or in any
    later walk over it.
    """
    if not raw.strip():
        return {}
    # Counting brackets is done in C; only a body with many of them needs the exact walk.
    opened = raw.count(b"[") + raw.count(b"{")
    if opened > MAX_JSON_DEPTH and _depth(raw) > MAX_JSON_DEPTH:
        raise malformed(f"Request body is nested too deeply (more than {MAX_JSON_DEPTH} levels).")
    try:
        body = json.loads(raw)
    except ValueError as e:  # includes UnicodeDecodeError for a body that is not UTF-8
        raise malformed(f"Request body is not valid JSON: {e}.") from e
    if not isinstance(body, dict):
        raise malformed("Request body must be a JSON object.")
    return body


def _depth(raw: bytes) -> int:
    """The deepest bracket nesting in `raw`, ignoring brackets inside JSON strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _oauth_error(error: OAuthError) -> Response:
    return JSONResponse(
        {"error": error.error, "error_description": error.description}, status_code=error.status
    )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(
            405, "NOT_IMPLEMENTED", f"Method {request.method} is not allowed on {request.url.path}."
        )
    else:
        error = ApiError(
            exc.status_code,
            "ENDPOINT_NOT_FOUND",
            f"No API found for '{request.method} {request.url.path}'.",
        )
    return JSONResponse(error.body(), status_code=error.status, headers=exc.headers)


class _JsonServerErrors:
    """The last line of defence: a bug answers a Databricks-shaped JSON 500, never the plain-text
    page with a traceback that Starlette's ServerErrorMiddleware would send. The traceback goes
    to the server's log instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            _log.exception("internal error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            error = ApiError(500, "INTERNAL_ERROR", "Internal error while handling the request.")
            await JSONResponse(error.body(), status_code=500)(scope, receive, send)


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def build_app(workspace: Workspace, dataplane: DataPlane) -> Starlette:
    """The ASGI application serving `workspace` (control plane, data plane, OAuth)."""
    api = _Api(workspace, dataplane)
    dp = dataplane
    ws = workspace
    se = "/api/2.0/serving-endpoints/{name}"
    perms = "/api/2.0/permissions/serving-endpoints/{endpoint_id}"
    # No two paths overlap, so the order only decides how many patterns a request is tried
    # against: the busiest routes come first.
    routes = [
        Route(se, api.get_or_delete, methods=["GET", "DELETE"]),
        Route("/api/2.0/serving-endpoints", api.list_or_create, methods=["GET", "POST"]),
        Route("/.well-known/databricks-config", api.databricks_config, methods=["GET"]),
        Route("/oidc/.well-known/oauth-authorization-server", api.oauth_metadata, methods=["GET"]),
        Route("/oidc/v1/token", api.token, methods=["POST"]),
        Route("/api/2.0/preview/scim/v2/Me", api.me, methods=["GET"]),
        Route(f"{se}/config", api.writer(ws.update_config, "name", base_url=True), methods=["PUT"]),
        Route(
            f"{se}/config:stop",
            api.writer(ws.stop, "name", body=False, base_url=True),
            methods=["POST"],
        ),
        Route(
            f"{se}/config:start",
            api.writer(ws.start, "name", body=False, base_url=True),
            methods=["POST"],
        ),
        Route(f"{se}/tags", api.writer(ws.patch_tags, "name"), methods=["PATCH"]),
        Route(f"{se}/rate-limits", api.writer(ws.put_rate_limits, "name"), methods=["PUT"]),
        Route(f"{se}/ai-gateway", api.writer(ws.put_ai_gateway, "name"), methods=["PUT"]),
        Route(f"{se}/notifications", api.writer(ws.patch_notifications, "name"), methods=["PATCH"]),
        Route(
            f"{se}/telemetry-config",
            api.writer(ws.patch_telemetry, "name", base_url=True),
            methods=["PATCH"],
        ),
        Route(
            f"{se}/system-metrics-export-state",
            api.writer(ws.patch_metrics_export, "name", base_url=True),
            methods=["PATCH"],
        ),
        Route(
            f"{se}/served-models/{{served}}/build-logs",
            api.reader(dp.build_logs, "name", "served"),
            methods=["GET"],
        ),
        Route(
            f"{se}/served-models/{{served}}/logs",
            api.reader(dp.server_logs, "name", "served"),
            methods=["GET"],
        ),
        Route(f"{se}/openapi", api.openapi, methods=["GET"]),
        Route(f"{se}/metrics", api.metrics, methods=["GET"]),
        Route(perms, api.permissions, methods=["GET", "PUT", "PATCH"]),
        Route(
            f"{perms}/permissionLevels",
            api.reader(ws.permission_levels, "endpoint_id"),
            methods=["GET"],
        ),
        Route("/serving-endpoints/{name}/invocations", api.invocations, methods=["POST"]),
        Route(
            "/serving-endpoints/{name}/served-models/{served}/invocations",
            api.invocations,
            methods=["POST"],
        ),
        Route("/_emulator/entity-faults", api.reader(dp.entity_faults), methods=["GET"]),
        Route(
            "/_emulator/entity-faults/{target:path}", api.entity_fault, methods=["PUT", "DELETE"]
        ),
    ]
    routes += objects_routes(api, workspace.objects)  # models, secrets, SCIM principals
    return Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        middleware=[Middleware(_JsonServerErrors)],
    )
