"""`GET .../openapi`: an endpoint's query schema as an OpenAPI 3.1 document. Pure.

The real route returns "the query schema of the serving endpoint in OpenAPI format. The schema
contains information for the supported paths, input and output format and datatypes"
(https://docs.databricks.com/api/model-serving/v1/get-inference-endpoint-schema.md). The
emulator lists the endpoint's own invocation path and one
`/serving-endpoints/{name}/served-models/{entity}/invocations` path per served entity of the
serving config (the pending one while the first rollout runs), each with the request and
response schema of what that entity answers (see `invocations`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .invocations import TASK_CHAT, TASK_COMPLETIONS, TASK_EMBEDDINGS, entity_task

Schema = dict[str, Any]

_STRING_OR_LIST: Schema = {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
}
_USAGE: Schema = {
    "type": "object",
    "properties": {
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
    },
}
_ERROR: Schema = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}

_SCORING: Schema = {
    "type": "object",
    "description": "Exactly one of dataframe_split, dataframe_records, instances or inputs.",
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "index": {"type": "array"},
                "data": {"type": "array", "items": {"type": "array"}},
            },
            "required": ["data"],
        },
        "dataframe_records": {"type": "array", "items": {"type": "object"}},
        "instances": {"oneOf": [{"type": "array"}, {"type": "object"}]},
        "inputs": {},
        "params": {"type": "object"},
    },
    "minProperties": 1,
}
_PREDICTIONS: Schema = {
    "type": "object",
    "properties": {"predictions": {"type": "array"}},
    "required": ["predictions"],
}
_CHAT_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                "required": ["role", "content"],
            },
            "minItems": 1,
        },
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "stream": {"type": "boolean"},
    },
    "required": ["messages"],
}
_CHAT_RESPONSE: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion", "chat.completion.chunk"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": _USAGE,
    },
}
_COMPLETIONS_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "prompt": _STRING_OR_LIST,
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "stream": {"type": "boolean"},
    },
    "required": ["prompt"],
}
_COMPLETIONS_RESPONSE: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["text_completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": _USAGE,
    },
}
_EMBEDDINGS_REQUEST: Schema = {
    "type": "object",
    "properties": {"input": _STRING_OR_LIST},
    "required": ["input"],
}
_EMBEDDINGS_RESPONSE: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["list"]},
        "model": {"type": "string"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "object": {"type": "string"},
                    "index": {"type": "integer"},
                    "embedding": {"type": "array", "items": {"type": "number"}},
                },
            },
        },
        "usage": _USAGE,
    },
}
_SCHEMAS = {
    None: ("ScoringRequest", _SCORING, "Predictions", _PREDICTIONS),
    TASK_CHAT: ("ChatRequest", _CHAT_REQUEST, "ChatCompletion", _CHAT_RESPONSE),
    TASK_COMPLETIONS: (
        "CompletionsRequest",
        _COMPLETIONS_REQUEST,
        "Completion",
        _COMPLETIONS_RESPONSE,
    ),
    TASK_EMBEDDINGS: (
        "EmbeddingsRequest",
        _EMBEDDINGS_REQUEST,
        "Embeddings",
        _EMBEDDINGS_RESPONSE,
    ),
}


def document(
    name: str, entities: Sequence[Mapping[str, Any]], *, config_version: int, base_url: str
) -> str:
    """The OpenAPI document (JSON text) for endpoint `name` serving `entities`."""
    schemas: dict[str, Schema] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    tasks = {entity_task(e) for e in entities}
    if len(tasks) == 1:
        # Every entity answers alike (the API requires one task per endpoint for LLMs).
        paths[f"/serving-endpoints/{name}/invocations"] = _operation(
            f"Query the {name} endpoint (routed by its traffic split)",
            next(iter(tasks)),
            schemas,
        )
    for e in entities:
        paths[f"/serving-endpoints/{name}/served-models/{e['name']}/invocations"] = _operation(
            f"Query served entity {e['name']} of {name} directly", entity_task(e), schemas
        )
    doc = {
        "openapi": "3.1.0",
        "info": {"title": name, "version": str(config_version)},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
    return json.dumps(doc, indent=2)


def _operation(summary: str, task: str | None, schemas: dict[str, Schema]) -> dict[str, Any]:
    request_name, request, response_name, response = _SCHEMAS.get(task, _SCHEMAS[None])
    schemas[request_name] = request
    schemas[response_name] = response
    ok: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{response_name}"}}
    }
    if task in (TASK_CHAT, TASK_COMPLETIONS):
        ok["text/event-stream"] = {
            "schema": {"type": "string", "description": "data: <chunk JSON> ... data: [DONE]"}
        }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request_name}"}}
                },
            },
            "responses": {
                "200": {"description": "The answer", "content": ok},
                "400": {"description": "The request cannot be answered", "content": error},
                "429": {"description": "An AI-gateway rate limit is exhausted", "content": error},
            },
        }
    }
