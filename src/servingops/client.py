"""Async client for the serving-endpoints and permissions REST APIs (and the read-only lookups of
the Unity Catalog models, secrets and SCIM objects a config refers to): raw dicts in and out.

One method per REST call. Retries 429/500/502/503/504 and connection errors with capped
exponential backoff, jitter and integer Retry-After, within a total time budget; maps other
failures to the errors.py tree (network.py words transport failures). Proxies and CA bundles
come from the environment mapping passed in. Tokens live in headers only and never reach a
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx

from . import __version__, network, sdk_auth
from .auth import Credentials
from .errors import (
    ApiError,
    AuthError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransportError,
)
from .network import Network

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"servingops/{__version__}"

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class _Auth(Protocol):
    """Where request headers that authenticate come from (a PAT, OAuth M2M, or the SDK)."""

    async def headers(self) -> Mapping[str, str]: ...

    def invalidate(self) -> None:
        """Forget cached credentials after a 401, so the next call fetches fresh ones."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Backoff for retryable answers: min(cap, base * 2**attempt) with full jitter, or the
    server's integer Retry-After; gives up once `budget` seconds have passed, or `connect_budget`
    seconds while the host has never answered (a wrong host or port fails fast, not after
    minutes of silent retries)."""

    base: float = 0.5
    cap: float = 20.0
    budget: float = 300.0
    connect_budget: float = 10.0
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + self.rng.uniform(0, 0.25)
        return self.rng.uniform(0, min(self.cap, self.base * 2**attempt))


DEFAULT_RETRY = RetryPolicy()


class _TokenSource:
    """Bearer tokens: a static PAT, or OAuth M2M client credentials cached until near expiry.

    The client secret is only ever sent to the workspace's own host (https, or http on
    loopback, as the host itself): a discovery document naming another host is refused.
    """

    def __init__(
        self, creds: Credentials, http: httpx.AsyncClient, clock: Clock, network: Network
    ) -> None:
        self._creds = creds
        self._http = http
        self._clock = clock
        self._network = network
        self._headers: Mapping[str, str] = {}
        if creds.token:
            self._headers = {"Authorization": f"Bearer {creds.token}"}
        self._expires_at = float("inf") if creds.token else 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> Mapping[str, str]:
        if not self._headers or self._clock() >= self._expires_at:
            async with self._lock:
                if not self._headers or self._clock() >= self._expires_at:
                    await self._refresh()
        return self._headers

    def invalidate(self) -> None:
        if self._creds.client_id:
            self._headers = {}

    async def _refresh(self) -> None:
        creds = self._creds
        if not (creds.client_id and creds.client_secret):
            raise AuthError(f"no token and no OAuth client credentials for {creds.host}")
        endpoint = await self._token_endpoint()
        try:
            response = await self._http.post(
                endpoint,
                data={"grant_type": "client_credentials", "scope": "all-apis"},
                auth=httpx.BasicAuth(creds.client_id, creds.client_secret),
            )
        except httpx.HTTPError as e:
            reason = network.describe(
                e, url=endpoint, network=self._network, timeout=self._http.timeout.read or 0
            )
            raise TransportError(f"OAuth token request for {creds.host}: {reason}") from None
        if response.status_code != 200:
            raise AuthError(
                f"OAuth token request to {creds.host} was refused (HTTP {response.status_code}); "
                "check DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
            )
        payload = _json(response)
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"OAuth token response from {creds.host} has no access_token")
        lifetime = float(payload.get("expires_in") or 3600)
        self._headers = {"Authorization": f"Bearer {token}"}
        # Refresh a minute early (or at half-life for very short tokens).
        self._expires_at = self._clock() + max(lifetime - 60.0, lifetime / 2)

    async def _token_endpoint(self) -> httpx.URL:
        host = httpx.URL(self._creds.host)
        fallback = httpx.URL(f"{self._creds.host}/oidc/v1/token")
        url = f"{self._creds.host}/oidc/.well-known/oauth-authorization-server"
        try:
            response = await self._http.get(url)
        except httpx.HTTPError:
            return fallback  # the token request itself will say what is wrong with the network
        named = _json(response).get("token_endpoint") if response.status_code == 200 else None
        if not isinstance(named, str) or not named:
            return fallback
        try:
            endpoint = httpx.URL(named)
        except httpx.InvalidURL:
            endpoint = None
        if endpoint is None or (endpoint.scheme, endpoint.host, endpoint.port) != (
            host.scheme,
            host.host,
            host.port,
        ):
            other = f"{endpoint.scheme}://{endpoint.host}" if endpoint else "an invalid URL"
            raise AuthError(
                f"OAuth discovery on {self._creds.host} names a token endpoint elsewhere "
                f"({other}); servingops sends the client secret only to the workspace's own "
                "host, so check the workspace host"
            )
        return endpoint


class Client:
    """The workspace's serving API. Use as `async with Client(...) as client:`.

    `env` supplies the proxy (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) and CA bundle
    (SSL_CERT_FILE, SSL_CERT_DIR, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) settings; the process
    environment is not read. An injected `transport` replaces the network entirely.
    """

    def __init__(
        self,
        creds: Credentials,
        *,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 60.0,
        max_connections: int = 16,
    ) -> None:
        self.host = creds.host
        self._retry = retry
        self._timeout_seconds = timeout
        self._timeout = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._base = httpx.URL(creds.host)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if transport is not None:
            self._network = Network()  # in-process: no proxy, no TLS
        else:
            # The CA bundle is loaded once here and shared by every lane.
            self._network = network.resolve_network(creds.host, env or {})
        self._shared = transport
        self._max_lanes = 1 if transport is not None else max(1, max_connections)
        first = self._new_lane()
        self._lanes: list[httpx.AsyncBaseTransport] = [first]
        self._idle: list[httpx.AsyncBaseTransport] = [first]
        self._lane_freed = asyncio.Condition()
        # OAuth token requests are rare: an ordinary client is fine for them. trust_env is off
        # so that only `env` (not the process environment) decides the proxy and CA bundle.
        self._http = httpx.AsyncClient(
            transport=transport or self._network.transport(),
            timeout=timeout,
            headers=self._headers,
            trust_env=False,
        )
        self._auth: _Auth
        if creds.delegated:
            self._auth = sdk_auth.DelegatedAuth(creds, env or {}, retry.clock)
        else:
            self._auth = _TokenSource(creds, self._http, retry.clock, self._network)
        self.requests = 0
        """How many HTTP requests were sent (retries included); for benchmarks and tests."""
        self._answered = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._shared is None:
            for lane in self._lanes:
                await lane.aclose()

    def _new_lane(self) -> httpx.AsyncBaseTransport:
        if self._shared is not None:
            return self._shared  # an injected transport (tests, the embedded workspace)
        return self._network.transport(single=True)

    @contextlib.asynccontextmanager
    async def _lane(self) -> AsyncIterator[httpx.AsyncBaseTransport]:
        """One single-connection transport per request in flight, reused when idle.

        httpcore's pool scans every connection for every queued request (with a poll(2) per
        connection), which made reads CPU-bound at about 3 ms per request with 16 connections
        in one pool; independent one-connection lanes keep that cost flat. Requests go to the
        transport directly: httpx.AsyncClient's per-request machinery (URL merging, auth and
        redirect flows, cookies) cost another ~0.5 ms of CPU per call that this client never
        needs.
        """
        if self._shared is not None:
            yield self._shared
            return
        async with self._lane_freed:
            while not self._idle and len(self._lanes) >= self._max_lanes:
                await self._lane_freed.wait()
            if self._idle:
                lane = self._idle.pop()
            else:
                lane = self._new_lane()
                self._lanes.append(lane)
        try:
            yield lane
        finally:
            async with self._lane_freed:
                self._idle.append(lane)
                self._lane_freed.notify()

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None, auth: Mapping[str, str]
    ) -> httpx.Request:
        url = self._base.copy_with(raw_path=self._base.raw_path.rstrip(b"/") + path.encode())
        headers = {**self._headers, **auth}
        content = None
        if body is not None:
            content = jsonlib.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        return httpx.Request(
            method, url, headers=headers, content=content, extensions={"timeout": self._timeout}
        )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with self._lane() as lane:
            response = await lane.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    # -- serving endpoints -------------------------------------------------------------------

    async def list_endpoints(self) -> list[dict[str, Any]]:
        payload = await self._call("GET", "/api/2.0/serving-endpoints")
        endpoints = payload.get("endpoints") or []
        return [e for e in endpoints if isinstance(e, dict)]

    async def get_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", f"/api/2.0/serving-endpoints/{_seg(name)}")
        except NotFound:
            return None

    async def create_endpoint(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/api/2.0/serving-endpoints", json=body)

    async def update_config(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call(
            "PUT", f"/api/2.0/serving-endpoints/{_seg(name)}/config", json=config
        )

    async def delete_endpoint(self, name: str) -> None:
        with contextlib.suppress(NotFound):  # already gone is the goal of a delete
            await self._call("DELETE", f"/api/2.0/serving-endpoints/{_seg(name)}")

    async def patch_tags(
        self, name: str, *, add: Sequence[Mapping[str, str]], delete: Sequence[str]
    ) -> dict[str, Any]:
        body = {"add_tags": list(add), "delete_tags": list(delete)}
        return await self._call("PATCH", f"/api/2.0/serving-endpoints/{_seg(name)}/tags", json=body)

    async def put_ai_gateway(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/ai-gateway"
        return await self._call("PUT", path, json=body)

    async def patch_notifications(
        self, name: str, email_notifications: Mapping[str, Any]
    ) -> dict[str, Any]:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/notifications"
        return await self._call("PATCH", path, json={"email_notifications": email_notifications})

    async def patch_telemetry(self, name: str, telemetry: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/telemetry-config"
        # An empty config is sent as no config at all, which removes telemetry ("If not
        # provided, the telemetry configuration will be removed", patch_telemetry_config).
        body = {"telemetry_config": telemetry} if telemetry else {}
        return await self._call("PATCH", path, json=body)

    async def patch_metrics_export(self, name: str, state: str) -> dict[str, Any]:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/system-metrics-export-state"
        return await self._call("PATCH", path, json={"uc_system_metrics_export_state": state})

    async def stop_endpoint(self, name: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/2.0/serving-endpoints/{_seg(name)}/config:stop")

    async def start_endpoint(self, name: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/2.0/serving-endpoints/{_seg(name)}/config:start")

    async def export_metrics(self, name: str) -> str:
        """The endpoint's metrics export: Prometheus text for the last complete minute."""
        # The SDK's export_metrics asks for text (reference: databricks-sdk-py serving API).
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/metrics"
        response = await self._exchange("GET", path, accept="text/plain")
        return response.text

    async def build_logs(self, name: str, served_entity: str) -> str:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/served-models/{_seg(served_entity)}"
        payload = await self._call("GET", f"{path}/build-logs")
        return str(payload.get("logs") or "")

    async def server_logs(self, name: str, served_entity: str) -> str:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/served-models/{_seg(served_entity)}"
        payload = await self._call("GET", f"{path}/logs")
        return str(payload.get("logs") or "")

    async def openapi(self, name: str) -> str:
        """The endpoint's OpenAPI document for its query API, as text.

        The SDKs read the body raw (Accept: text/plain); the REST reference documents it as
        `{"contents": "<document>"}`: both are accepted.
        """
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/openapi"
        response = await self._exchange("GET", path, accept="text/plain")
        payload = _json(response)
        contents = payload.get("contents")
        if set(payload) == {"contents"} and isinstance(contents, str):
            return contents
        return response.text

    # -- the data plane (queries) ---------------------------------------------------------------

    async def query(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        entity: str | None = None,
        clock: Clock | None = None,
    ) -> Answer:
        """POST a query to the endpoint (or one served entity) once; any status is returned.

        Queries are not retried: a retry would hide the failure a smoke check looks for, and a
        query may not be idempotent (an LLM call costs tokens). `clock` (seconds) times it.
        """
        tick = clock or self._retry.clock
        request = self._request("POST", query_path(name, entity), body, await self._auth.headers())
        self.requests += 1
        started = tick()
        try:
            response = await self._send(request)
        except httpx.TransportError as e:
            raise self._transport_error(request, e, path=request.url.path) from None
        latency_ms = (tick() - started) * 1000
        try:
            parsed: Any = response.json() if response.content else None
        except ValueError:
            parsed = None
        return Answer(
            status=response.status_code,
            body=parsed,
            text=response.text,
            latency_ms=latency_ms,
            served_by=response.headers.get("served-model-name", ""),
        )

    async def query_stream(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        entity: str | None = None,
        clock: Clock | None = None,
    ) -> AsyncIterator[Chunk]:
        """POST a streaming query and yield each server-sent event's data as it arrives.

        The data plane answers `text/event-stream` with `data: {...}` events and a final
        `data: [DONE]`; an endpoint that cannot stream answers plain JSON, yielded as one
        chunk with `whole=True`. A non-2xx answer raises ApiError with the API's message.
        """
        tick = clock or self._retry.clock
        path = query_path(name, entity)
        request = self._request("POST", path, body, await self._auth.headers())
        request.headers["Accept"] = "text/event-stream, application/json"
        self.requests += 1
        started = tick()
        async with self._lane() as lane:
            try:
                response = await lane.handle_async_request(request)
            except httpx.TransportError as e:
                raise self._transport_error(request, e, path=request.url.path) from None
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise _api_error("POST", path, response)
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    await response.aread()
                    elapsed = (tick() - started) * 1000
                    yield Chunk(data=response.text, elapsed_ms=elapsed, whole=True)
                    return
                data: list[str] = []
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                        continue
                    if line or not data:
                        continue  # comments, event names and ids carry nothing to show
                    payload = "\n".join(data)
                    data = []
                    if payload.strip() == "[DONE]":
                        yield Chunk(data="", elapsed_ms=(tick() - started) * 1000, done=True)
                        return
                    yield Chunk(data=payload, elapsed_ms=(tick() - started) * 1000)
                if data and "\n".join(data).strip() != "[DONE]":
                    yield Chunk(data="\n".join(data), elapsed_ms=(tick() - started) * 1000)
                yield Chunk(data="", elapsed_ms=(tick() - started) * 1000, done=True)
            finally:
                await response.aclose()

    def _transport_error(
        self, request: httpx.Request, e: httpx.TransportError, *, path: str
    ) -> TransportError:
        reason = network.describe(
            e, url=request.url, network=self._network, timeout=self._timeout_seconds
        )
        return TransportError(f"{request.method} {path}: {reason}")

    # -- permissions and identity -------------------------------------------------------------

    async def get_permissions(self, endpoint_id: str) -> dict[str, Any]:
        return await self._call(
            "GET", f"/api/2.0/permissions/serving-endpoints/{_seg(endpoint_id)}"
        )

    async def set_permissions(
        self, endpoint_id: str, acl: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        path = f"/api/2.0/permissions/serving-endpoints/{_seg(endpoint_id)}"
        return await self._call("PUT", path, json={"access_control_list": list(acl)})

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/api/2.0/preview/scim/v2/Me")

    # -- what a config refers to (pre-flight and export; read only) ----------------------------

    async def get_model_version(self, full_name: str, version: str) -> dict[str, Any]:
        """A Unity Catalog model version (`status` READY, PENDING_REGISTRATION or
        FAILED_REGISTRATION); NotFound when the model or version does not exist."""
        path = f"{_UC_MODELS}/{_seg(full_name)}/versions/{_seg(version)}"
        return await self._call("GET", path)

    async def get_model_version_by_alias(self, full_name: str, alias: str) -> dict[str, Any]:
        """The model version an alias points at (`version`, `status`); NotFound without one."""
        return await self._call("GET", f"{_UC_MODELS}/{_seg(full_name)}/aliases/{_seg(alias)}")

    async def get_registered_model(
        self, full_name: str, *, include_aliases: bool = False
    ) -> dict[str, Any]:
        """A Unity Catalog registered model; with `include_aliases`, its `aliases` list of
        `{alias_name, version_num}`."""
        query = "?include_aliases=true" if include_aliases else ""
        return await self._call("GET", f"{_UC_MODELS}/{_seg(full_name)}{query}")

    async def list_secret_keys(self, scope: str) -> list[str]:
        """The key names in a secret scope (the API never returns values; it needs READ on the
        scope). NotFound (RESOURCE_DOES_NOT_EXIST) when the scope does not exist."""
        payload = await self._call("GET", "/api/2.0/secrets/list?" + urlencode({"scope": scope}))
        secrets = payload.get("secrets") or []
        return [str(s["key"]) for s in secrets if isinstance(s, dict) and "key" in s]

    async def find_principals(self, kind: str, name: str) -> list[dict[str, Any]]:
        """SCIM resources of `kind` (user, group, service_principal) whose name is `name`:
        `userName`, `displayName` or `applicationId eq "<name>"` (RFC 7644 filter)."""
        resource, attribute = _SCIM_LOOKUPS[kind]
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        query = urlencode({"filter": f"{attribute} eq {quoted}", "attributes": "id"})
        payload = await self._call("GET", f"/api/2.0/preview/scim/v2/{resource}?{query}")
        found = payload.get("Resources") or []
        return [r for r in found if isinstance(r, dict)]

    # -- transport -----------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, json: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return _json(await self._exchange(method, path, json=json))

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """One call with retries and re-authentication; the 2xx response, or an ApiError."""
        retry = self._retry
        budget = retry.budget
        started = retry.clock()
        attempt = 0
        reauthenticated = False
        while True:
            request = self._request(method, path, json, await self._auth.headers())
            if accept is not None:
                request.headers["Accept"] = accept
            self.requests += 1
            try:
                response = await self._send(request)
            except httpx.TransportError as e:
                failure: Exception = self._transport_error(request, e, path=path)
                if network.is_permanent(e):
                    raise failure from None
                retry_after = None
                never_connected = isinstance(
                    e, httpx.ConnectError | httpx.ConnectTimeout | httpx.ProxyError
                )
                if never_connected and not self._answered:
                    budget = min(retry.budget, retry.connect_budget)
            else:
                self._answered = True
                if response.status_code < 400:
                    return response
                failure = _api_error(method, path, response)
                retry_after = getattr(failure, "retry_after", None)
                if response.status_code == 401 and not reauthenticated:
                    # An OAuth token may have been revoked early: fetch a fresh one once.
                    reauthenticated = True
                    self._auth.invalidate()
                    continue
                if response.status_code not in RETRY_STATUSES:
                    raise failure
            wait = retry.delay(attempt, retry_after)
            if retry.clock() - started + wait > budget:
                raise failure
            attempt += 1
            await retry.sleep(wait)


_UC_MODELS = "/api/2.1/unity-catalog/models"
_SCIM_LOOKUPS = {
    "user": ("Users", "userName"),
    "group": ("Groups", "displayName"),
    "service_principal": ("ServicePrincipals", "applicationId"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One query's answer: status, parsed JSON body (None when not JSON), text, latency, and
    the served entity that answered (the `served-model-name` header, "" when absent)."""

    status: int
    body: Any
    text: str
    latency_ms: float
    served_by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """One server-sent event's data (`done` after `data: [DONE]`; `whole` for a JSON answer
    to a streaming request), and the milliseconds since the request was sent."""

    data: str
    elapsed_ms: float
    done: bool = False
    whole: bool = False


def query_path(name: str, entity: str | None) -> str:
    """The data plane's query route: the endpoint's, or one served entity's."""
    if entity is None:
        return f"/serving-endpoints/{_seg(name)}/invocations"
    return f"/serving-endpoints/{_seg(name)}/served-models/{_seg(entity)}/invocations"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {"value": payload}


def _api_error(method: str, path: str, response: httpx.Response) -> ApiError:
    payload = _json(response)
    code = str(payload.get("error_code") or "")
    # SCIM answers errors in RFC 7644's shape, with the words in `detail`.
    message = str(
        payload.get("message")
        or payload.get("error")
        or payload.get("detail")
        or response.reason_phrase
    )
    retry_after = _retry_after(response.headers.get("Retry-After"))
    status = response.status_code
    cls: type[ApiError] = ApiError
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 429:
        cls = RateLimited
    elif status in (401, 403):
        cls = PermissionDenied
    return cls(
        status=status,
        method=method,
        path=path,
        error_code=code,
        message=message,
        retry_after=retry_after,
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = int(value.strip())
    except ValueError:
        return None  # HTTP-date forms are not used by the serving API
    return float(max(seconds, 0))
