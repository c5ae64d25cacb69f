"""Fidelity check: MLflow's Databricks deployments client against a served emulator (issue 11).

`mlflow.deployments.get_deploy_client("databricks")` (mlflow-skinny,
mlflow/deployments/databricks/__init__.py) with DATABRICKS_HOST/DATABRICKS_TOKEN pointing at
the emulator runs every call it has: create, get, list, each update method, predict in every
scoring format, chat, completions, embeddings, predict_stream and delete. Each answer is
checked against the shapes MLflow documents for the real service (its docstrings quote real
responses) and against the emulator's own GET.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import served_workspace

deployments = pytest.importorskip("mlflow.deployments")

SECRET_REF = "{{secrets/llm/openai}}"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)  # MLflow must not leave files behind in the repository
    with served_workspace(tmp_path, monkeypatch, update_seconds=0) as url:
        monkeypatch.setenv("DATABRICKS_HOST", url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-alice")
        yield deployments.get_deploy_client("databricks")


def custom_endpoint(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": "champion",
                    "entity_name": "main.risk.fraud",
                    "entity_version": "7",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                }
            ]
        },
        "tags": [{"key": "team", "value": "risk"}],
    }


def external_endpoint(name: str, task: str, model: str) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "served_entities": [
                {
                    "name": model,
                    "external_model": {
                        "name": model,
                        "provider": "openai",
                        "task": task,
                        "openai_config": {"openai_api_key": SECRET_REF},
                    },
                }
            ]
        },
    }


def test_the_client_has_the_calls_this_test_covers(client: Any) -> None:
    # A newer MLflow with another update call fails here, so the test grows with it.
    updates = {n for n, _ in inspect.getmembers(client, inspect.ismethod) if "update_" in n}
    assert updates <= {
        "update_endpoint",
        "update_endpoint_config",
        "update_endpoint_tags",
        "update_endpoint_rate_limits",
        "update_endpoint_ai_gateway",
        "update_deployment",  # not implemented by the Databricks client
    }


def test_create_get_list_update_and_delete(client: Any) -> None:
    created = client.create_endpoint(config=custom_endpoint("fraud"))
    assert created["name"] == "fraud"
    assert created["permission_level"] == "CAN_MANAGE"
    assert created["route_optimized"] is False
    assert created["endpoint_type"] == "CUSTOM_MODEL"
    assert created["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}

    got = client.get_endpoint("fraud")
    assert got["id"] == created["id"]
    assert got.name == "fraud"  # DatabricksEndpoint gives attribute access
    assert got["config"]["served_entities"][0]["entity_version"] == "7"
    assert [e["name"] for e in client.list_endpoints()] == ["fraud"]

    updated = client.update_endpoint_config(
        endpoint="fraud",
        config={
            "served_entities": [
                {
                    "name": "champion",
                    "entity_name": "main.risk.fraud",
                    "entity_version": "8",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                }
            ]
        },
    )
    assert updated["name"] == "fraud"
    assert client.get_endpoint("fraud")["config"]["config_version"] == 2

    tags = client.update_endpoint_tags(
        endpoint="fraud", config={"add_tags": [{"key": "tier", "value": "1"}]}
    )
    assert {(t["key"], t["value"]) for t in tags["tags"]} == {("team", "risk"), ("tier", "1")}

    limits = {"rate_limits": [{"calls": 10, "key": "endpoint", "renewal_period": "minute"}]}
    assert client.update_endpoint_rate_limits(endpoint="fraud", config=limits) == limits

    with pytest.warns(FutureWarning), pytest.warns(UserWarning, match="deprecated"):
        legacy = client.update_endpoint(endpoint="fraud", config=limits)
    assert legacy == limits

    assert client.delete_endpoint(endpoint="fraud") == {}
    assert client.list_endpoints() == []


def test_update_ai_gateway_fills_the_inference_table_prefix(client: Any) -> None:
    client.create_endpoint(config=external_endpoint("test", "llm/v1/chat", "gpt-4o-mini"))
    gateway = {
        "usage_tracking_config": {"enabled": True},
        "inference_table_config": {
            "enabled": True,
            "catalog_name": "my_catalog",
            "schema_name": "my_schema",
        },
    }
    # The answer MLflow's docstring quotes: the prefix is the endpoint's name.
    assert client.update_endpoint_ai_gateway(endpoint="test", config=gateway) == {
        "usage_tracking_config": {"enabled": True},
        "inference_table_config": {
            "catalog_name": "my_catalog",
            "schema_name": "my_schema",
            "table_name_prefix": "test",
            "enabled": True,
        },
    }
    assert (
        client.get_endpoint("test")["ai_gateway"]["inference_table_config"]["table_name_prefix"]
        == "test"
    )


@pytest.mark.parametrize(
    ("inputs", "rows"),
    [
        ({"dataframe_split": {"columns": ["amount"], "data": [[12.5], [3.0]]}}, 2),
        ({"dataframe_records": [{"amount": 12.5}]}, 1),
        ({"instances": [[1.0], [2.0], [3.0]]}, 3),
        ({"inputs": {"amount": [1.0, 2.0]}}, 2),
    ],
)
def test_predict_in_every_scoring_format(client: Any, inputs: dict[str, Any], rows: int) -> None:
    client.create_endpoint(config=custom_endpoint("fraud"))
    answer = client.predict(endpoint="fraud", inputs=inputs)
    assert answer == {"predictions": ["main.risk.fraud/7"] * rows}


def test_predict_without_a_scoring_key_raises_the_400(client: Any) -> None:
    import requests

    client.create_endpoint(config=custom_endpoint("fraud"))
    with pytest.raises(requests.HTTPError, match="400 Client Error: The input must be") as info:
        client.predict(endpoint="fraud", inputs={"amount": [1.0]})
    assert '"error_code": "BAD_REQUEST"' in str(info.value)


def test_chat_completions_and_embeddings(client: Any) -> None:
    client.create_endpoint(config=external_endpoint("chat", "llm/v1/chat", "gpt-4o-mini"))
    client.create_endpoint(
        config=external_endpoint("complete", "llm/v1/completions", "gpt-35-turbo-instruct")
    )
    client.create_endpoint(
        config=external_endpoint("embed", "llm/v1/embeddings", "text-embedding-3-small")
    )
    chat = client.predict(endpoint="chat", inputs={"messages": [{"role": "user", "content": "Hi"}]})
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant"
    assert set(chat["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert client.get_endpoint("chat")["task"] == "llm/v1/chat"
    assert client.get_endpoint("chat")["endpoint_type"] == "EXTERNAL_MODEL"

    completion = client.predict(endpoint="complete", inputs={"prompt": "Once", "max_tokens": 5})
    assert completion["object"] == "text_completion"
    assert "text" in completion["choices"][0]

    embedded = client.predict(endpoint="embed", inputs={"input": ["a", "b", "c"]})
    assert embedded["object"] == "list"
    assert [d["index"] for d in embedded["data"]] == [0, 1, 2]


def test_predict_stream_for_chat_and_completions(client: Any) -> None:
    client.create_endpoint(config=external_endpoint("chat", "llm/v1/chat", "gpt-4o-mini"))
    client.create_endpoint(
        config=external_endpoint("complete", "llm/v1/completions", "gpt-35-turbo-instruct")
    )
    messages = {"messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 50}
    chunks = list(client.predict_stream(endpoint="chat", inputs=messages))
    assert len(chunks) > 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    whole = client.predict(endpoint="chat", inputs=messages)
    assert streamed == whole["choices"][0]["message"]["content"]

    parts = list(client.predict_stream(endpoint="complete", inputs={"prompt": "Once"}))
    assert {p["object"] for p in parts} == {"text_completion"}
    assert parts[-1]["choices"][0]["finish_reason"] == "stop"
