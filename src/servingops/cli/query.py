"""`servingops query NAME (--data JSON | --file FILE) [--entity E] [--stream]`: send one query
to an endpoint (or to one of its served entities) and print the answer and the latency.

Any scoring format (dataframe_split, dataframe_records, instances, inputs) and chat,
completions and embeddings bodies (messages, prompt, input). The answer goes to stdout (JSON,
pipeable) and `HTTP 200 in 12 ms (served by champion)` to stderr. `--stream` asks for
server-sent events and prints each chunk as it arrives (a chat or completions chunk's text,
anything else as its JSON). A non-2xx answer is a one-line error with the API's message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .. import loader
from ..client import Answer, Client
from ..errors import ApiError, ReconcilerError, UsageError
from ..smoke import QUERY_KEYS
from ..workspace import Workspace
from . import EXIT_OK, Settings, cli
from .common import project_option, target_option
from .live import TEXT_OR_JSON, missing, open_target


@cli.command("query")
@click.argument("name")
@project_option
@target_option
@click.option("--data", "data", metavar="JSON", default=None, help="The query body as JSON.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A JSON (or YAML) file holding the query body.",
)
@click.option("--entity", default=None, metavar="NAME", help="Query this served entity only.")
@click.option("--stream", is_flag=True, help="Ask for server-sent events; print chunks live.")
@click.option("--format", "fmt", type=TEXT_OR_JSON, default="text", show_default=True)
@click.pass_obj
def query_command(
    settings: Settings,
    name: str,
    project: Path | None,
    target: str | None,
    data: str | None,
    file: Path | None,
    entity: str | None,
    stream: bool,
    fmt: str,
) -> int:
    """Query an endpoint and print the answer and the latency."""
    body = _body(settings, data=data, file=file)
    if stream:
        body = {**body, "stream": True} if "stream" not in body else body
    workspace = open_target(settings, project=project, target=target).workspace
    clock = settings.wall_clock

    async def go() -> None:
        async with workspace.client() as client:
            if stream:
                await _stream(client, workspace, name, body, entity=entity, fmt=fmt, clock=clock)
                return
            answer = await client.query(name, body, entity=entity, clock=clock)
            if answer.status >= 300:
                raise await _failure(client, workspace, name, entity, answer)
            _print_answer(name, entity, answer, fmt)

    asyncio.run(go())
    return EXIT_OK


def _body(settings: Settings, *, data: str | None, file: Path | None) -> dict[str, Any]:
    if (data is None) == (file is None):
        raise UsageError("give the query body with exactly one of --data JSON and --file FILE")
    if data is not None:
        try:
            parsed = json.loads(data)
        except ValueError as e:
            raise UsageError(f"--data is not JSON: {e}") from None
        where = "--data"
    else:
        assert file is not None
        path = file if file.is_absolute() else settings.cwd / file
        result = loader.load_file(path, display=str(file))
        if result.diagnostics:
            first = result.diagnostics[0]
            raise UsageError(f"--file {first.source or file}: {first.summary}")
        if len(result.documents) != 1:
            raise UsageError(f"--file {file} must hold one JSON object (the query body)")
        parsed = result.documents[0].data
        where = f"--file {file}"
    if not isinstance(parsed, Mapping):
        raise UsageError(f"{where} must be a JSON object (the query body)")
    if not any(k in parsed for k in QUERY_KEYS):
        raise UsageError(
            f"{where} has none of the query keys: scoring formats dataframe_split, "
            "dataframe_records, instances, inputs; chat messages; completions prompt; "
            "embeddings input"
        )
    return dict(parsed)


async def _failure(
    client: Client, workspace: Workspace, name: str, entity: str | None, answer: Answer
) -> ReconcilerError:
    if answer.status == 404 and await client.get_endpoint(name) is None:
        return missing(name, workspace)
    body = answer.body if isinstance(answer.body, Mapping) else {}
    code = str(body.get("error_code") or "")
    message = str(body.get("message") or body.get("error") or " ".join(answer.text.split())[:300])
    return _answered(name, entity, answer.status, code, message)


def _answered(
    name: str, entity: str | None, status: int, code: str, message: str
) -> ReconcilerError:
    who = f'served entity "{entity}" of endpoint "{name}"' if entity else f'endpoint "{name}"'
    hint = "; querying needs CAN_QUERY on the endpoint" if status in (401, 403) else ""
    detail = f": {message}" if message else ""
    return ReconcilerError(
        f"{who} answered HTTP {status}{' ' + code if code else ''}{detail}{hint}"
    )


def _print_answer(name: str, entity: str | None, answer: Answer, fmt: str) -> None:
    latency = round(answer.latency_ms)
    if fmt == "json":
        payload = {
            "endpoint": name,
            "entity": entity,
            "status": answer.status,
            "latency_ms": latency,
            "served_by": answer.served_by or None,
            "response": answer.body if answer.body is not None else answer.text,
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if answer.body is not None:
        click.echo(json.dumps(answer.body, indent=2, ensure_ascii=False))
    else:
        click.echo(answer.text, nl=not answer.text.endswith("\n"))
    served = f" (served by {answer.served_by})" if answer.served_by else ""
    click.echo(f"HTTP {answer.status} in {latency} ms{served}", err=True)


async def _stream(
    client: Client,
    workspace: Workspace,
    name: str,
    body: Mapping[str, Any],
    *,
    entity: str | None,
    fmt: str,
    clock: Any,
) -> None:
    chunks = 0
    first: float | None = None
    last = 0.0
    texted = False
    try:
        async for chunk in client.query_stream(name, body, entity=entity, clock=clock):
            last = chunk.elapsed_ms
            if chunk.done:
                break
            chunks += 1
            first = chunk.elapsed_ms if first is None else first
            parsed = _json_or_none(chunk.data)
            if fmt == "json":
                event = {"chunk": parsed if parsed is not None else chunk.data}
                event["elapsed_ms"] = round(chunk.elapsed_ms)
                if chunk.whole:
                    event["whole"] = True
                click.echo(json.dumps(event, ensure_ascii=False))
                continue
            piece = _text_of(parsed)
            if piece is not None and not chunk.whole:
                click.echo(piece, nl=False)
                texted = True
            elif parsed is not None:
                click.echo(json.dumps(parsed, indent=2 if chunk.whole else None))
            else:
                click.echo(chunk.data)
            sys.stdout.flush()
    except ApiError as e:
        if e.status == 404 and await client.get_endpoint(name) is None:
            raise missing(name, workspace) from None
        raise _answered(name, entity, e.status, e.error_code, e.message) from None
    if texted:
        click.echo("")
    timing = f"first after {round(first)} ms, " if first is not None else ""
    summary = (
        f"streamed {chunks} chunk{'s' if chunks != 1 else ''}: {timing}done in {round(last)} ms"
    )
    if fmt == "json":
        done = {"done": True, "chunks": chunks, "latency_ms": round(last)}
        click.echo(json.dumps(done))
    else:
        click.echo(f"HTTP 200, {summary}", err=True)


def _json_or_none(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _text_of(chunk: Any) -> str | None:
    """The text a chat (`delta.content`) or completions (`text`) chunk carries, else None."""
    if not isinstance(chunk, Mapping):
        return None
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, Mapping):
        content = delta.get("content")
        return content if isinstance(content, str) else ""
    text = choice.get("text")
    return text if isinstance(text, str) else None
