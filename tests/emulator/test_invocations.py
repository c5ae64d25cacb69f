"""The data plane: both invocation routes, the four scoring formats, chat, completions and
embeddings, and server-sent event streams (issue 11, item 5).

Sources for the real behaviour:
- Query routes, including `/serving-endpoints/{name}/served-models/{entity}/invocations`:
  https://docs.databricks.com/en/machine-learning/model-serving/serve-multiple-models-to-serving-endpoint.html
  ("Query individual models behind an endpoint"), databricks-sdk-py issue #1043.
- Scoring formats and the error for a body without exactly one of them: MLflow's scoring server,
  mlflow/pyfunc/scoring_server/__init__.py (REQUIRED_INPUT_FORMAT, error code BAD_REQUEST).
- Chat, completions and embeddings shapes and the streamed chunks:
  https://docs.databricks.com/en/machine-learning/foundation-models/api-reference.html and
  mlflow/deployments/databricks/__init__.py (`predict_stream` reads `data: <json>` lines until
  `data: [DONE]`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code, external, query, ready

EP = "/api/2.0/serving-endpoints"


def test_the_served_models_route_queries_one_entity(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    for _ in range(20):  # 10% of traffic, yet every call lands on the named entity
        r = query(api, "fraud-scorer", {"inputs": [1]}, entity_name="challenger")
        assert r.status_code == 200, r.text
        assert r.headers["served-model-name"] == "challenger"
        assert r.json() == {"predictions": ["main.risk.fraud/8"]}
    missing = query(api, "fraud-scorer", {"inputs": [1]}, entity_name="nope")
    assert (missing.status_code, error_code(missing)) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert "nope" in missing.json()["message"]


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5, 6]]}}, 3),
        ({"dataframe_records": [{"a": 1}, {"a": 2}]}, 2),
        ({"instances": [[1], [2], [3], [4]]}, 4),
        ({"instances": {"a": [1, 2, 3]}}, 3),
        ({"inputs": [[1.0, 2.0], [3.0, 4.0]]}, 2),
        ({"inputs": {"a": [1, 2, 3], "b": [4, 5, 6]}}, 3),
        ({"inputs": "one text"}, 1),
        ({"dataframe_split": {"columns": ["a"], "data": []}}, 0),
    ],
)
def test_every_scoring_format_gets_one_prediction_per_row(
    api: Api, emu: Emulator[ManualClock], body: dict[str, Any], rows: int
) -> None:
    ready(api, emu, {"name": "m", "config": {"served_entities": [entity("only")]}})
    r = query(api, "m", {**body, "params": {"threshold": 0.5}})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": ["main.risk.fraud/7"] * rows}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": [[1]]},
        {"messages": [{"role": "user", "content": "hi"}]},
        {"inputs": [1], "instances": [1]},
    ],
)
def test_a_body_without_exactly_one_scoring_key_is_a_400(
    api: Api, emu: Emulator[ManualClock], body: dict[str, Any]
) -> None:
    ready(api, emu, {"name": "m", "config": {"served_entities": [entity("only")]}})
    r = query(api, "m", body)
    assert (r.status_code, error_code(r)) == (400, "BAD_REQUEST")
    assert "exactly one of the input fields" in r.json()["message"]


def test_a_malformed_dataframe_split_is_a_400(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, {"name": "m", "config": {"served_entities": [entity("only")]}})
    r = query(api, "m", {"dataframe_split": [[1, 2]]})
    assert (r.status_code, error_code(r)) == (400, "BAD_REQUEST")


def test_chat_answers_a_chat_completion(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, external("chat", "llm/v1/chat"))
    r = query(api, "chat", {"messages": [{"role": "user", "content": "Hello there"}]})
    assert r.status_code == 200, r.text
    assert r.headers["served-model-name"] == "gpt-4o-mini"
    out = r.json()
    assert out["object"] == "chat.completion"
    assert out["id"].startswith("chatcmpl-")
    assert out["created"] == 1_766_000_031
    assert out["model"] == "gpt-4o-mini"
    (choice,) = out["choices"]
    assert choice["message"]["role"] == "assistant"
    assert "Hello there" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    usage = out["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_completions_answer_a_text_completion_not_a_chat(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, external("complete", "llm/v1/completions", model="gpt-3.5-turbo-instruct"))
    r = query(api, "complete", {"prompt": "Once upon a time", "max_tokens": 20})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "text_completion"
    assert out["id"].startswith("cmpl-")
    (choice,) = out["choices"]
    assert "message" not in choice
    assert "Once upon a time" in choice["text"]
    assert choice["finish_reason"] == "stop"
    two = query(api, "complete", {"prompt": ["a", "b"]}).json()
    assert [c["index"] for c in two["choices"]] == [0, 1]


@pytest.mark.parametrize(
    ("payload", "count"), [("one text", 1), (["a", "b", "c"], 3), (["same", "same"], 2)]
)
def test_embeddings_answer_one_vector_per_input(
    api: Api, emu: Emulator[ManualClock], payload: Any, count: int
) -> None:
    ready(api, emu, external("embed", "llm/v1/embeddings", model="text-embedding-3-small"))
    r = query(api, "embed", {"input": payload})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "list"
    assert out["model"] == "text-embedding-3-small"
    assert [d["index"] for d in out["data"]] == list(range(count))
    assert all(d["object"] == "embedding" for d in out["data"])
    vectors = [d["embedding"] for d in out["data"]]
    assert all(len(v) == len(vectors[0]) > 0 for v in vectors)
    assert all(isinstance(x, float) for x in vectors[0])
    if payload == ["same", "same"]:
        assert vectors[0] == vectors[1]  # deterministic
    assert "completion_tokens" not in out["usage"]


@pytest.mark.parametrize(
    ("task", "body"),
    [
        ("llm/v1/chat", {"prompt": "hi"}),
        ("llm/v1/chat", {"messages": []}),
        ("llm/v1/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("llm/v1/embeddings", {"prompt": "hi"}),
        ("llm/v1/embeddings", {"input": [1, 2]}),
        ("llm/v1/embeddings", {"input": "x", "stream": True}),
    ],
)
def test_a_body_the_task_cannot_answer_is_a_400(
    api: Api, emu: Emulator[ManualClock], task: str, body: dict[str, Any]
) -> None:
    ready(api, emu, external("llm", task))
    r = query(api, "llm", body)
    assert (r.status_code, error_code(r)) == (400, "BAD_REQUEST"), r.text


def _events(r: httpx.Response) -> list[Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in r.text.split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks)
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]


def test_stream_true_answers_chat_completion_chunks(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, external("chat", "llm/v1/chat"))
    messages = [{"role": "user", "content": "Tell me a story"}]
    whole = query(api, "chat", {"messages": messages}).json()
    chunks = _events(query(api, "chat", {"messages": messages, "stream": True}))
    assert len(chunks) > 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]


def test_stream_true_answers_completion_chunks(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, external("complete", "llm/v1/completions"))
    whole = query(api, "complete", {"prompt": "Say hi"}).json()
    chunks = _events(query(api, "complete", {"prompt": "Say hi", "stream": True}))
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_foundation_model_answers_chat_or_embeddings_by_its_name(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    for name, model in (
        ("llama", "system.ai.meta_llama_v3_1_8b_instruct"),
        ("gte", "system.ai.gte_large_en_v1_5"),
    ):
        body = {
            "name": name,
            "config": {
                "served_entities": [
                    {
                        "name": "m",
                        "entity_name": model,
                        "entity_version": "1",
                        "min_provisioned_throughput": 0,
                        "max_provisioned_throughput": 100,
                        "scale_to_zero_enabled": False,
                    }
                ]
            },
        }
        ready(api, emu, body)
    chat = query(api, "llama", {"messages": [{"role": "user", "content": "hi"}]})
    assert chat.json()["object"] == "chat.completion"
    embedded = query(api, "gte", {"input": ["a", "b"]})
    assert len(embedded.json()["data"]) == 2


def test_the_old_config_keeps_answering_during_an_update(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [entity("next", version="9")]})
    r = query(api, "fraud-scorer", {"inputs": [1]}, entity_name="champion")
    assert r.status_code == 200
    pending = query(api, "fraud-scorer", {"inputs": [1]}, entity_name="next")
    assert pending.status_code == 404  # not serving until the update lands
