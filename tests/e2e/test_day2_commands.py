"""The day-2 commands through the CLI against the emulator (issue 11 item 3): status in every
health state, logs, openapi and query.

API shapes (Databricks REST reference, Model Serving):
- "Get build logs" / "Get the latest logs":
  GET /api/2.0/serving-endpoints/{name}/served-models/{served_model_name}/build-logs and .../logs
  answer {"logs": "<text>"} (docs.databricks.com/api/model-serving/v1/get-served-model-logs.md).
- "Get the schema for a serving endpoint": GET /api/2.0/serving-endpoints/{name}/openapi, read raw
  with Accept: text/plain by databricks-sdk-py (`get_open_api`); the REST page documents
  {"contents": "..."} (docs.databricks.com/api/model-serving/v1/get-inference-endpoint-schema.md).
- "Query a serving endpoint": POST /serving-endpoints/{name}/invocations, and one served entity:
  POST /serving-endpoints/{name}/served-models/{entity}/invocations (docs.databricks.com
  machine-learning/model-serving/serve-multiple-models-to-serving-endpoint, "Query individual
  models behind an endpoint"). `stream: true` answers text/event-stream `data: {...}` events
  ending with `data: [DONE]` (docs.databricks.com machine-learning/foundation-models/
  api-reference; MLflow's deployments client `predict_stream` reads them so).
- A stopped endpoint is NOT_READY and refuses queries with 400 (reference section 2.1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving_emulator import EmulatorConfig

from .conftest import OWNER, ApplyCli, Recording, call, with_emulator, write_endpoint

UPDATE_SECONDS = 30.0
FAILING = frozenset({("main.ml.broken", "9")})


def _emulator_has(run: ApplyCli, method: str, path: str, body: Any = None) -> bool:
    """Whether the emulator serves a data-plane behaviour yet (issue 11 item 5 lands it)."""
    import asyncio

    async def probe() -> httpx.Response:
        transport = httpx.ASGITransport(app=run.emu.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            return await client.request(
                method, path, json=body, headers={"Authorization": "Bearer t"}
            )

    response = asyncio.run(probe())
    return response.status_code < 400 and (
        body is None
        or not body.get("stream")
        or response.headers.get("content-type", "").startswith("text/event-stream")
    )


@pytest.fixture
def states(project: Path, capsys: Any) -> Any:
    """A workspace with an endpoint in every health state, and one declared but not created."""
    config = EmulatorConfig(update_seconds=UPDATE_SECONDS, failing_versions=FAILING)
    for run in with_emulator(project, capsys, config):
        write_endpoint(project, "scorer")  # ready
        write_endpoint(project, "paused")  # stopped
        write_endpoint(project, "rolling")  # updating
        write_endpoint(project, "broken")  # update failed
        assert run("apply", "--auto-approve")[0] == 0
        write_endpoint(project, "planned")  # declared, never applied
        now = run.emu.clock.now()
        run.emu.advance(math.ceil(now) - now)  # apply's polls end between seconds
        call(run.emu, "stop_endpoint", "paused")
        call(run.emu, "create_endpoint", {"name": "bare"})  # not ready: no config
        owned = [{"key": "servingops-owner", "value": OWNER}]
        call(run.emu, "patch_tags", "bare", add=owned, delete=[])
        call(run.emu, "update_config", "broken", _config("main.ml.broken", "9"))
        run.emu.advance(UPDATE_SECONDS + 1)
        call(run.emu, "update_config", "rolling", _config("main.ml.rolling", "2"))
        run.emu.advance(12)
        yield run


def _config(model: str, version: str) -> dict[str, Any]:
    entity = {
        "name": "main",
        "entity_name": model,
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }
    return {"served_entities": [entity]}


# --------------------------------------------------------------------------------------------
# status


def test_status_shows_every_health_state(states: ApplyCli, golden: Any) -> None:
    code, out, err = states("status")
    assert code == 0, err
    golden("status_states.txt", out)
    assert "stopped: serves nothing until started" in out
    assert "updating: config_version 2 rolling out for 12s" in out
    assert "update failed: main: Served entity 'main' failed to deploy" in out
    assert "not ready: no active config" in out
    assert 'endpoint "planned" (endpoints/planned.yaml)\n  health:          not created' in out
    assert out.endswith(
        "\n6 endpoints: 1 ready, 1 not ready, 1 updating, 1 update failed, 1 stopped, "
        "1 not created.\n"
    )


def test_status_json_is_versioned_and_says_what_is_ready(states: ApplyCli, golden: Any) -> None:
    code, out, _ = states("status", "--format", "json")
    assert code == 0
    golden("status_states.json", out)
    doc = json.loads(out)
    by_name = {e["name"]: e for e in doc["endpoints"]}
    assert by_name["rolling"]["pending_seconds"] == 12
    assert by_name["rolling"]["pending_config_version"] == 2
    assert by_name["broken"]["failure"].startswith("main: Served entity 'main' failed")
    assert by_name["planned"] == {
        "name": "planned",
        "declared_in": "endpoints/planned.yaml",
        "exists": False,
        "health": "not created",
    }
    assert doc["all_ready"] is False


def test_status_check_exits_1_unless_every_shown_endpoint_is_ready(states: ApplyCli) -> None:
    assert states("status", "scorer", "--check")[0] == 0
    code, _, err = states("status", "--check")
    assert code == 1
    assert err.strip() == (
        "error: 5 of 6 endpoints not ready: bare (not ready), broken (update failed), "
        "paused (stopped), planned (not created), rolling (updating)"
    )
    code, _, err = states("status", "paused", "--check")
    assert (code, err.strip()) == (1, "error: 1 of 1 endpoints not ready: paused (stopped)")


def test_status_of_names_reads_any_endpoint_and_refuses_an_unknown_one(states: ApplyCli) -> None:
    code, out, _ = states("status", "rolling", "scorer")
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("endpoint ")] == [
        'endpoint "rolling" (endpoints/rolling.yaml)',
        'endpoint "scorer" (endpoints/scorer.yaml)',
    ]
    code, out, err = states("status", "nope")
    assert (code, out) == (1, "")
    assert err.strip() == (
        'error: endpoint "nope" does not exist in test workspace; '
        "servingops status lists the project's endpoints"
    )


def test_status_prefers_the_endpoint_url_the_api_returns(run: ApplyCli) -> None:
    # Route-optimized endpoints are queried on their own host (reference: `endpoint_url`,
    # "Invocation URL when route-optimized"); status shows the URL the API gives.
    assert run("apply", "--auto-approve")[0] == 0
    url = "https://1234.5.serving.example.net/serving-endpoints/scorer/invocations"
    run.transport = WithEndpointUrl(run, url)
    _, out, _ = run("status", "--format", "json")
    assert json.loads(out)["endpoints"][0]["url"] == url
    _, out, _ = run("status")
    assert f"  invocation URL:  {url}\n" in out


def test_status_works_while_an_endpoint_file_is_invalid(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "scorer.yaml").write_text(
        "name: scorer\nconfig: {served_entities: [{entity_name: x, entity_version: ${var.nope}}]}\n"
    )
    code, out, _ = run("status")
    assert code == 0
    assert "health:          ready" in out


# --------------------------------------------------------------------------------------------
# logs


def test_logs_prints_server_logs_and_build_logs_of_the_only_entity(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    code, out, _ = run("logs", "scorer")
    assert code == 0
    assert "'main'" in out
    code, out, _ = run("logs", "scorer", "--build")
    assert code == 0
    assert "Build" in out
    code, out, _ = run("logs", "scorer", "main", "--build", "--tail", "1")
    assert code == 0
    assert len(out.splitlines()) == 1
    code, out, _ = run("logs", "scorer", "--format", "json")
    doc = json.loads(out)
    assert (doc["endpoint"], doc["served_entity"], doc["kind"]) == ("scorer", "main", "server")


def test_logs_asks_which_entity_when_there_are_several(run: ApplyCli, project: Path) -> None:
    (project / "endpoints" / "scorer.yaml").write_text(
        "name: scorer\nconfig:\n  served_entities:\n"
        "    - {name: champion, entity_name: main.ml.s, entity_version: '1',"
        " workload_size: Small, scale_to_zero_enabled: true}\n"
        "    - {name: challenger, entity_name: main.ml.s, entity_version: '2',"
        " workload_size: Small, scale_to_zero_enabled: true}\n"
        "  traffic_config: {routes: [{served_entity_name: champion, traffic_percentage: 90},"
        " {served_entity_name: challenger, traffic_percentage: 10}]}\n"
    )
    assert run("apply", "--auto-approve")[0] == 0
    code, _, err = run("logs", "scorer")
    assert code == 64
    assert (
        err.strip()
        == (
            'error: endpoint "scorer" serves 2 entities (champion, challenger); name one: '
            "servingops logs scorer ENTITY"
        )
        or "name one: servingops logs scorer ENTITY" in err
    )
    code, _, err = run("logs", "scorer", "nobody")
    assert code == 1
    assert 'has no served entity "nobody" (it serves: ' in err
    assert run("logs", "scorer", "challenger")[0] == 0


def test_logs_of_an_unknown_endpoint_is_one_line(run: ApplyCli) -> None:
    code, out, err = run("logs", "ghost")
    assert (code, out) == (1, "")
    assert err.strip().startswith('error: endpoint "ghost" does not exist in test workspace')


# --------------------------------------------------------------------------------------------
# openapi


def test_openapi_prints_or_writes_the_document(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    code, out, _ = run("openapi", "scorer")
    assert code == 0
    document = json.loads(out)
    assert "/serving-endpoints/scorer/invocations" in document["paths"]
    code, out, err = run("openapi", "scorer", "--out", "scorer.openapi.json")
    assert (code, out) == (0, "")
    assert "to scorer.openapi.json" in err
    assert json.loads((project / "scorer.openapi.json").read_text()) == document
    code, _, err = run("openapi", "scorer", "--out", "scorer.openapi.json")
    assert code == 1
    assert "scorer.openapi.json already exists; nothing was written (use --force)" in err
    assert run("openapi", "scorer", "--out", "scorer.openapi.json", "--force")[0] == 0
    _, out, _ = run("openapi", "scorer", "--format", "json")
    assert json.loads(out)["document"] == document


# --------------------------------------------------------------------------------------------
# query


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["amount"], "data": [[12.5], [3.0]]}},
        {"dataframe_records": [{"amount": 12.5}, {"amount": 3.0}]},
        {"instances": [[12.5], [3.0]]},
        {"inputs": [[12.5], [3.0]]},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_query_sends_every_scoring_format(run: ApplyCli, body: dict[str, Any]) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    code, out, err = run("query", "scorer", "--data", json.dumps(body))
    assert code == 0, err
    assert json.loads(out) == {"predictions": ["main.ml.scorer/2", "main.ml.scorer/2"]}
    assert err.strip() == "HTTP 200 in 0 ms (served by main)"


def test_query_reads_a_file_and_answers_json(run: ApplyCli, project: Path) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    (project / "row.yaml").write_text("inputs: [[1.0]]\n")
    code, out, _ = run("query", "scorer", "--file", "row.yaml", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert {k: doc[k] for k in ("endpoint", "status", "served_by")} == {
        "endpoint": "scorer",
        "status": 200,
        "served_by": "main",
    }
    assert doc["response"]["predictions"] == ["main.ml.scorer/2"]


def test_query_latency_is_measured(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    run.transport = SlowQueries(run, seconds=0.25)
    _, _, err = run("query", "scorer", "--data", '{"inputs": [1]}')
    assert err.strip() == "HTTP 200 in 250 ms (served by main)"


CHAT = (
    "name: chat\nconfig:\n  served_entities:\n    - name: gpt\n      external_model:\n"
    "        name: gpt-4o\n        provider: openai\n        task: llm/v1/{task}\n"
    "        openai_config: {{openai_api_key: '{{{{secrets/llm/openai}}}}'}}\n"
)


@pytest.mark.parametrize(
    ("task", "body", "shape"),
    [
        ("chat", {"messages": [{"role": "user", "content": "hi"}]}, "choices"),
        ("completions", {"prompt": "Say hi"}, "choices"),
        ("embeddings", {"input": ["a", "b"]}, "data"),
    ],
)
def test_query_sends_chat_completions_and_embeddings(
    run: ApplyCli, project: Path, task: str, body: dict[str, Any], shape: str
) -> None:
    (project / "endpoints" / "scorer.yaml").unlink()
    (project / "endpoints" / "chat.yaml").write_text(CHAT.format(task=task))
    run.emu.seed_objects({"secrets": {"llm": ["openai"]}})
    assert run("apply", "--auto-approve")[0] == 0
    code, out, err = run("query", "chat", "--data", json.dumps(body))
    assert code == 0, err
    assert shape in json.loads(out)


def test_query_of_a_stopped_endpoint_is_a_one_line_error(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    call(run.emu, "stop_endpoint", "scorer")
    code, out, err = run("query", "scorer", "--data", '{"inputs": [1]}')
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith('error: endpoint "scorer" answered HTTP 400')


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "exactly one of --data JSON and --file FILE"),
        (["--data", "{}", "--file", "x.json"], "exactly one of --data JSON and --file FILE"),
        (["--data", "{nope"], "--data is not JSON: Expecting property name"),
        (["--data", "[1]"], "--data must be a JSON object"),
        (["--data", '{"rows": [1]}'], "--data has none of the query keys"),
        (["--file", "missing.json"], "cannot read file"),
    ],
)
def test_query_input_problems_are_usage_errors(
    run: ApplyCli, argv: list[str], message: str
) -> None:
    code, out, err = run("query", "scorer", *argv)
    assert (code, out) == (64, "")
    assert message in err


def test_query_of_an_unknown_endpoint_names_the_workspace(run: ApplyCli) -> None:
    code, _, err = run("query", "ghost", "--data", '{"inputs": [1]}')
    assert code == 1
    assert err.strip() == (
        'error: endpoint "ghost" does not exist in test workspace; '
        "servingops status lists the project's endpoints"
    )


def test_query_one_served_entity(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    path = "/serving-endpoints/scorer/served-models/main/invocations"
    if not _emulator_has(run, "POST", path, {"inputs": [1]}):
        pytest.skip("the emulator answers per-entity invocations from issue 11 item 5 on")
    code, out, err = run("query", "scorer", "--entity", "main", "--data", '{"inputs": [1]}')
    assert code == 0, err
    assert json.loads(out)["predictions"] == ["main.ml.scorer/2"]
    posted = [p for m, p, _ in run.transport.seen if m == "POST"]
    assert posted[-1] == path


def test_query_of_an_unknown_entity_is_one_line(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    code, _, err = run("query", "scorer", "--entity", "nobody", "--data", '{"inputs": [1]}')
    assert code == 1
    assert err.startswith('error: served entity "nobody" of endpoint "scorer" answered HTTP 404')
    assert len(err.strip().splitlines()) == 1


def test_query_stream_prints_chunks_as_they_arrive(run: ApplyCli, project: Path) -> None:
    (project / "endpoints" / "scorer.yaml").unlink()
    (project / "endpoints" / "chat.yaml").write_text(CHAT.format(task="chat"))
    run.emu.seed_objects({"secrets": {"llm": ["openai"]}})
    assert run("apply", "--auto-approve")[0] == 0
    body = {"messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    if not _emulator_has(run, "POST", "/serving-endpoints/chat/invocations", body):
        pytest.skip("the emulator streams server-sent events from issue 11 item 5 on")
    whole = json.loads(
        run("query", "chat", "--data", json.dumps({"messages": body["messages"]}))[1]
    )
    code, out, err = run(
        "query", "chat", "--stream", "--data", json.dumps({"messages": body["messages"]})
    )
    assert code == 0, err
    assert out == whole["choices"][0]["message"]["content"] + "\n"
    assert err.strip().startswith("HTTP 200, streamed ")
    code, out, _ = run("query", "chat", "--stream", "--format", "json", "--data", json.dumps(body))
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["done"] is True
    assert {e["chunk"]["object"] for e in events[:-1]} == {"chat.completion.chunk"}


def test_query_stream_of_an_endpoint_that_answers_json_prints_it_whole(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    streamed = {"inputs": [1], "stream": True}
    if _emulator_has(run, "POST", "/serving-endpoints/scorer/invocations", streamed):
        pytest.skip("this emulator streams custom models too")
    code, out, err = run("query", "scorer", "--stream", "--data", '{"inputs": [1]}')
    assert code == 0, err
    assert json.loads(out) == {"predictions": ["main.ml.scorer/2"]}
    assert err.strip() == "HTTP 200, streamed 1 chunk: first after 0 ms, done in 0 ms"


class SlowQueries(Recording):
    """The emulator, with every query taking `seconds` on its clock (a slow model)."""

    def __init__(self, run: ApplyCli, *, seconds: float) -> None:
        super().__init__(run.emu)
        self.emu = run.emu
        self.seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/invocations"):
            self.emu.advance(self.seconds)
        return await super().handle_async_request(request)


class WithEndpointUrl(Recording):
    """The emulator, with every endpoint GET carrying `endpoint_url` (as a route-optimized
    endpoint's does on a real workspace, where it names the endpoint's own host)."""

    def __init__(self, run: ApplyCli, url: str) -> None:
        super().__init__(run.emu)
        self.url = url

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method != "GET" or request.url.path.count("/") != 4:
            return response
        await response.aread()
        body = {**response.json(), "endpoint_url": self.url}
        return httpx.Response(response.status_code, json=body)
