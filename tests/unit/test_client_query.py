"""The data-plane calls of the client: one query (any status, timed, never retried), a
server-sent event stream, and the OpenAPI document in both of its documented shapes.

Streams: `text/event-stream` with `data: {...}` events and a final `data: [DONE]` (Databricks
Foundation Model API reference, docs.databricks.com machine-learning/foundation-models/
api-reference; MLflow's deployments client `predict_stream` parses them so). OpenAPI: the REST
reference documents `{"contents": "..."}` (get-inference-endpoint-schema.md) while
databricks-sdk-py reads the raw body with Accept: text/plain.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from servingops.auth import Credentials
from servingops.client import Chunk, Client
from servingops.errors import ApiError


def client(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    creds = Credentials(host="https://ws.example.net", token="secret-token")
    return Client(creds, transport=httpx.MockTransport(handler))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_query_returns_any_status_once_with_its_latency() -> None:
    seen: list[httpx.Request] = []
    ticks = iter([10.0, 10.25])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE"})

    async def go() -> Any:
        async with client(handler) as c:
            return await c.query(
                "fraud", {"inputs": [1]}, entity="champion", clock=lambda: next(ticks)
            )

    answer = run(go())
    assert (answer.status, answer.latency_ms) == (503, 250.0)
    assert answer.body == {"error_code": "TEMPORARILY_UNAVAILABLE"}
    assert len(seen) == 1  # never retried
    assert seen[0].url.path == "/serving-endpoints/fraud/served-models/champion/invocations"
    assert json.loads(seen[0].content) == {"inputs": [1]}


def collect(handler: Callable[[httpx.Request], httpx.Response]) -> list[Chunk]:
    async def go() -> list[Chunk]:
        async with client(handler) as c:
            return [
                chunk async for chunk in c.query_stream("chat", {"messages": [], "stream": True})
            ]

    chunks: list[Chunk] = asyncio.run(go())
    return chunks


def test_a_stream_yields_each_event_until_done() -> None:
    events = (
        'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
        ": keep-alive comment\n\n"
        'data: {"choices": [{"delta": {"content": "lo"}}]}\n\n'
        "data: [DONE]\n\n"
        'data: {"after": "done is ignored"}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"].startswith("text/event-stream")
        return httpx.Response(200, text=events, headers={"content-type": "text/event-stream"})

    chunks = collect(handler)
    assert [c.data for c in chunks] == [
        '{"choices": [{"delta": {"content": "Hel"}}]}',
        '{"choices": [{"delta": {"content": "lo"}}]}',
        "",
    ]
    assert [c.done for c in chunks] == [False, False, True]


def test_a_json_answer_to_a_stream_request_is_one_whole_chunk() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"predictions": [1]})

    chunks = collect(handler)
    assert [(json.loads(chunks[0].data), chunks[0].whole)] == [({"predictions": [1]}, True)]


def test_a_refused_stream_raises_the_apis_message_without_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error_code": "BAD_REQUEST", "message": "stream is off"})

    with pytest.raises(ApiError) as caught:
        collect(handler)
    assert (caught.value.status, caught.value.message) == (400, "stream is off")
    assert "secret-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"openapi": "3.1.0"}', "text/plain"),
        (json.dumps({"contents": '{"openapi": "3.1.0"}'}), "application/json"),
    ],
)
def test_openapi_reads_both_documented_shapes(body: str, content_type: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/plain"
        return httpx.Response(200, text=body, headers={"content-type": content_type})

    async def go() -> str:
        async with client(handler) as c:
            return await c.openapi("fraud")

    assert json.loads(run(go())) == {"openapi": "3.1.0"}
