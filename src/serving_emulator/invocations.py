"""What a served entity answers to a query body: the scoring formats, chat, completions and
embeddings, streamed or not. Pure functions of the stored entity and the request.

Which shape an entity answers is decided by what it serves:

- an external model answers its `task` (llm/v1/chat, llm/v1/completions, llm/v1/embeddings);
- a foundation model (a Unity Catalog `system.ai.*` model, as provisioned-throughput endpoints
  serve) answers embeddings when its name says so (embed, gte, bge) and chat otherwise;
- any other (custom) model answers the MLflow scoring protocol: exactly one of
  dataframe_split, dataframe_records, instances or inputs, and `{"predictions": [...]}` with
  one prediction per row or instance (a label naming the model version that answered).

Shapes follow the Foundation Model REST API reference
(https://docs.databricks.com/en/machine-learning/foundation-models/api-reference.html) and the
MLflow scoring server (mlflow/pyfunc/scoring_server/__init__.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ApiError

TASK_CHAT = "llm/v1/chat"
TASK_COMPLETIONS = "llm/v1/completions"
TASK_EMBEDDINGS = "llm/v1/embeddings"
SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
EMBEDDING_SIZE = 8
_EMBEDDING_HINTS = ("embed", "gte", "bge")

EntityKind = Literal["custom", "external", "foundation"]
Doc = dict[str, Any]


def entity_kind(entity: Mapping[str, Any]) -> EntityKind:
    if "external_model" in entity:
        return "external"
    if str(entity.get("entity_name", "")).startswith("system.ai."):
        return "foundation"
    return "custom"


def entity_task(entity: Mapping[str, Any]) -> str | None:
    """The LLM task an entity answers; None for a custom model (the scoring protocol)."""
    kind = entity_kind(entity)
    if kind == "external":
        return str(entity["external_model"]["task"])
    if kind == "foundation":
        name = str(entity["entity_name"]).lower()
        return TASK_EMBEDDINGS if any(h in name for h in _EMBEDDING_HINTS) else TASK_CHAT
    return None


def model_name(entity: Mapping[str, Any]) -> str:
    if "external_model" in entity:
        return str(entity["external_model"]["name"])
    return str(entity["entity_name"]).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Answer:
    """A query's answer: one JSON body, or the chunks of a server-sent event stream."""

    body: Doc | None = None
    chunks: tuple[Doc, ...] | None = None


def answer(
    entity: Mapping[str, Any], body: Mapping[str, Any], *, now_s: int, request_id: str
) -> Answer:
    """The answer of `entity` to a query `body`; ApiError 400 for a body it cannot answer."""
    task = entity_task(entity)
    if task is None:
        return Answer(body=_predictions(entity, body))
    stream = body.get("stream") is True
    if task == TASK_CHAT:
        return _chat(entity, body, now_s=now_s, request_id=request_id, stream=stream)
    if task == TASK_COMPLETIONS:
        return _completions(entity, body, now_s=now_s, request_id=request_id, stream=stream)
    if task == TASK_EMBEDDINGS:
        if stream:
            raise _bad_request("Streaming is not supported for the llm/v1/embeddings task.")
        return Answer(body=_embeddings(entity, body, request_id=request_id))
    raise _bad_request(f"The served entity's task '{task}' cannot be queried.")


def sse_lines(chunks: Sequence[Doc]) -> list[bytes]:
    """The event stream for `chunks`: one `data: {json}` event each, then `data: [DONE]`."""
    events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n".encode() for c in chunks]
    events.append(b"data: [DONE]\n\n")
    return events


# -- custom models: the MLflow scoring protocol ----------------------------------------------


def _predictions(entity: Mapping[str, Any], body: Mapping[str, Any]) -> Doc:
    keys = [k for k in SCORING_KEYS if k in body]
    if len(keys) != 1:
        # The MLflow scoring server's message (REQUIRED_INPUT_FORMAT), with its error code.
        raise _bad_request(
            "The input must be a JSON dictionary with exactly one of the input fields "
            "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received "
            f"dictionary with input fields: {sorted(body)[:20]}."
        )
    label = f"{entity['entity_name']}/{entity['entity_version']}"
    return {"predictions": [label] * _rows(keys[0], body[keys[0]])}


def _rows(key: str, value: Any) -> int:
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise _bad_request(
                "Failed to parse input as a Pandas DataFrame: dataframe_split must be an "
                "object with a 'data' list (and optional 'columns' and 'index')."
            )
        return len(value["data"])
    if key == "dataframe_records":
        if not isinstance(value, list | dict):
            raise _bad_request("Failed to parse input: dataframe_records must be a list.")
        return len(value) if isinstance(value, list) else 1
    # instances / inputs: a list of rows, a dict of columns, or a single value
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        first = next(iter(value.values()), None)
        return len(first) if isinstance(first, list) else 1
    return 1


# -- LLM tasks -----------------------------------------------------------------------------


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _reply(entity: Mapping[str, Any], prompt: str) -> str:
    shown = " ".join(prompt.split())[:60]
    return f"Emulated answer from {model_name(entity)} to: {shown}"


def _chat(
    entity: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    now_s: int,
    request_id: str,
    stream: bool,
) -> Answer:
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        raise _bad_request(
            "The llm/v1/chat task needs 'messages': a non-empty list of {role, content} objects."
        )
    last = messages[-1].get("content")
    prompt = last if isinstance(last, str) else json.dumps(last)
    text = _reply(entity, prompt)
    prompt_tokens = sum(_words(str(m.get("content", ""))) for m in messages)
    usage = _usage(prompt_tokens, _words(text))
    base = {"id": f"chatcmpl-{request_id}", "created": now_s, "model": model_name(entity)}
    if not stream:
        return Answer(
            body={
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )
    pieces = _pieces(text)
    chunks: list[Doc] = []
    for i, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        last_piece = i == len(pieces) - 1
        chunk: Doc = {
            **base,
            "object": "chat.completion.chunk",
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": "stop" if last_piece else None}
            ],
        }
        if last_piece:
            chunk["usage"] = usage
        chunks.append(chunk)
    return Answer(chunks=tuple(chunks))


def _completions(
    entity: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    now_s: int,
    request_id: str,
    stream: bool,
) -> Answer:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise _bad_request(
            "The llm/v1/completions task needs 'prompt': a string or a list of strings."
        )
    texts = [_reply(entity, p) for p in prompts]
    usage = _usage(sum(_words(p) for p in prompts), sum(_words(t) for t in texts))
    base = {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": now_s,
        "model": model_name(entity),
    }
    if not stream:
        choices = [
            {"index": i, "text": t, "logprobs": None, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ]
        return Answer(body={**base, "choices": choices, "usage": usage})
    chunks: list[Doc] = []
    for i, text in enumerate(texts):
        pieces = _pieces(text)
        for j, piece in enumerate(pieces):
            done = j == len(pieces) - 1
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": i,
                            "text": piece,
                            "logprobs": None,
                            "finish_reason": "stop" if done else None,
                        }
                    ],
                }
            )
    chunks[-1]["usage"] = usage
    return Answer(chunks=tuple(chunks))


def _embeddings(entity: Mapping[str, Any], body: Mapping[str, Any], *, request_id: str) -> Doc:
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise _bad_request(
            "The llm/v1/embeddings task needs 'input': a string or a list of strings."
        )
    tokens = sum(_words(i) for i in inputs)
    return {
        "id": f"emb-{request_id}",
        "object": "list",
        "model": model_name(entity),
        "data": [
            {"object": "embedding", "index": i, "embedding": _vector(text)}
            for i, text in enumerate(inputs)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _vector(text: str) -> list[float]:
    """A deterministic unit-free vector: the same text always embeds the same way."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 127.5 - 1.0, 4) for b in digest[:EMBEDDING_SIZE]]


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


def _usage(prompt: int, completion: int) -> Doc:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)
