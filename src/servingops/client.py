"""Async client for the serving-endpoints and permissions REST APIs: raw dicts in and out.

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
from urllib.parse import quote

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
        return await self._call("PATCH", path, json={"telemetry_config": telemetry})

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
        response = await self._call_raw("GET", path, accept="text/plain")
        return response.text

    async def build_logs(self, name: str, served_entity: str) -> str:
        path = f"/api/2.0/serving-endpoints/{_seg(name)}/served-models/{_seg(served_entity)}"
        payload = await self._call("GET", f"{path}/build-logs")
        return str(payload.get("logs") or "")

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

    # -- transport -----------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, json: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return _json(await self._call_raw(method, path, json=json))

    async def _call_raw(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        retry = self._retry
        budget = retry.budget
        started = retry.clock()
        attempt = 0
        reauthenticated = False
        while True:
            auth = await self._auth.headers()
            request = self._request(
                method, path, json, {**auth, "Accept": accept} if accept else auth
            )
            self.requests += 1
            try:
                response = await self._send(request)
            except httpx.TransportError as e:
                reason = network.describe(
                    e, url=request.url, network=self._network, timeout=self._timeout_seconds
                )
                failure: Exception = TransportError(f"{method} {path}: {reason}")
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
    message = str(payload.get("message") or payload.get("error") or response.reason_phrase)
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
