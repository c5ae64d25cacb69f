"""Smoke checks: the `smoke:` block of an endpoint file, validated, read and judged.

Validation gives located diagnostics (one of request/request_file, unique names, a served entity
that exists, JSONPaths that parse); request files are read relative to the endpoint file (inside
the project only); `checks_of` builds the SmokeCheck values apply carries; `planned` says which
actions run them; `judge` compares one answer with a check's expectations. JSONPath is RFC 9535,
through python-jsonpath in strict mode (imported only when a smoke block is used). Sending the
queries is apply's (steps.py): nothing here talks to the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from .model import (
    Action,
    ActionKind,
    Carrier,
    DesiredDocument,
    Diagnostic,
    Path,
    Severity,
    SmokeCheck,
    render_pointer,
)
from .normalize import default_entity_name

if TYPE_CHECKING:
    from jsonpath import JSONPathEnvironment

    from .loader import LoadedDocument

SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The four scoring formats of a custom model (MLflow's scoring server takes exactly one)."""
LLM_KEYS = ("messages", "prompt", "input")
"""Chat, completions and embeddings requests."""
QUERY_KEYS = SCORING_KEYS + LLM_KEYS


# --------------------------------------------------------------------------------------------
# Validation (as written) and request files


def check_document(document: LoadedDocument) -> tuple[Diagnostic, ...]:
    """Problems the schema cannot express in the `smoke:` block of one endpoint document."""
    data = document.data
    checks = data.get("smoke") if isinstance(data, Mapping) else None
    if not isinstance(checks, list):
        return ()
    out: list[Diagnostic] = []

    def error(path: Path, message: str, *, key: bool = False) -> None:
        out.append(
            Diagnostic(
                severity=Severity.ERROR,
                summary=message,
                source=document.locate(path, key=key),
                pointer=render_pointer(path),
            )
        )

    entities = _entity_names(data.get("config"))
    seen: dict[str, int] = {}
    for i, check in enumerate(checks):
        if not isinstance(check, Mapping):
            continue
        at: Path = ("smoke", i)
        name = check.get("name")
        if isinstance(name, str):
            if name in seen:
                error(
                    (*at, "name"), f"smoke check '{name}' is already defined at smoke[{seen[name]}]"
                )
            seen.setdefault(name, i)
        sources = [k for k in ("request", "request_file") if k in check]
        if len(sources) != 1:
            which = "both" if sources else "neither"
            error(at, f"a smoke check needs exactly one of request and request_file (has {which})")
        entity = check.get("entity")
        if isinstance(entity, str) and entities is not None and entity not in entities:
            known = ", ".join(sorted(entities)) or "none"
            error(
                (*at, "entity"),
                f"served entity '{entity}' is not in this endpoint's config (served: {known})",
            )
        request = check.get("request")
        if isinstance(request, Mapping) and not any(k in request for k in QUERY_KEYS):
            error(
                (*at, "request"),
                "the request has none of the query keys: " + ", ".join(QUERY_KEYS),
            )
        expect = check.get("expect")
        paths = expect.get("json") if isinstance(expect, Mapping) else None
        if isinstance(paths, Mapping):
            for path in paths:
                problem = path_problem(str(path))
                if problem:
                    error((*at, "expect", "json", path), problem, key=True)
    return tuple(out)


def read_request_files(
    document: LoadedDocument, *, folder: FsPath, root: FsPath
) -> tuple[LoadedDocument, tuple[Diagnostic, ...]]:
    """The document with each `request_file` read into `request` (the file name is kept).

    Paths are relative to `folder` (the endpoint file's) and must stay inside `root` (the
    project); the file is JSON or YAML holding one object. Problems are located diagnostics.
    """
    data = document.data
    checks = data.get("smoke") if isinstance(data, Mapping) else None
    if not isinstance(checks, list) or not any(
        isinstance(c, Mapping) and isinstance(c.get("request_file"), str) for c in checks
    ):
        return document, ()
    problems: list[Diagnostic] = []
    inlined: list[Any] = []
    for i, check in enumerate(checks):
        name = check.get("request_file") if isinstance(check, Mapping) else None
        if not isinstance(name, str) or "request" in check:
            inlined.append(check)
            continue
        at = ("smoke", i, "request_file")
        body, problem = _read_request(folder / name, root=root)
        if problem:
            problems.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    summary=f"request_file '{name}' {problem}",
                    source=document.locate(at),
                    pointer=render_pointer(at),
                )
            )
            inlined.append(check)
            continue
        inlined.append({**check, "request": body})
    if problems:
        return document, tuple(problems)
    from .loader import LoadedDocument as Loaded  # file reading stays out of the pure parts

    new = Loaded(
        path=document.path,
        index=document.index,
        data={**data, "smoke": inlined},
        source=document.source,
        positions=document.positions,
        key_positions=document.key_positions,
    )
    return new, ()


def _read_request(path: FsPath, *, root: FsPath) -> tuple[Any, str]:
    real = FsPath(os.path.realpath(path))
    inside = FsPath(os.path.realpath(root))
    if real != inside and inside not in real.parents:
        return None, "is outside the project; keep request files inside it"
    if not real.is_file():
        return None, "does not exist (paths are relative to the endpoint file)"
    from .loader import load_file

    result = load_file(real, display=str(path))
    if result.diagnostics:
        first = result.diagnostics[0]
        where = f" at line {first.source.line}" if first.source and first.source.line else ""
        return None, f"cannot be read{where}: {first.summary}"
    if len(result.documents) != 1 or not isinstance(result.documents[0].data, Mapping):
        return None, "must hold one JSON object (the query body)"
    body = result.documents[0].data
    if not any(k in body for k in QUERY_KEYS):
        return None, "has none of the query keys: " + ", ".join(QUERY_KEYS)
    return body, ""


def _entity_names(config: Any) -> set[str] | None:
    """Served entity names of a config as written; None when they cannot be known here."""
    if not isinstance(config, Mapping):
        return None
    entities = config.get("served_entities", config.get("served_models"))
    if not isinstance(entities, list):
        return None
    names: set[str] = set()
    for entity in entities:
        if not isinstance(entity, Mapping):
            return None
        name = entity.get("name") or default_entity_name(entity)
        if not isinstance(name, str):
            return None
        names.add(name)
    return names


# --------------------------------------------------------------------------------------------
# JSONPath (RFC 9535)


@cache
def _environment() -> JSONPathEnvironment:
    from jsonpath import JSONPathEnvironment

    return JSONPathEnvironment(strict=True)


def path_problem(path: str) -> str:
    """Why `path` is not an RFC 9535 JSONPath query ("" when it is)."""
    from jsonpath import JSONPathError

    try:
        _environment().compile(path)
    except JSONPathError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"{json.dumps(path)} is not a JSONPath query (RFC 9535): {reason}"
    return ""


def select(path: str, document: Any) -> list[Any]:
    """The values `path` selects in `document`, in document order."""
    return list(_environment().compile(path).findall(document))


# --------------------------------------------------------------------------------------------
# Checks carried by the plan


def checks_of(document: DesiredDocument) -> tuple[SmokeCheck, ...]:
    """The SmokeCheck values of a validated desired document (request files already read)."""
    raw = document.body.get("smoke")
    if not isinstance(raw, list):
        return ()
    out = []
    for i, check in enumerate(raw):
        expect = check.get("expect") or {}
        latency = expect.get("max_latency_ms")
        out.append(
            SmokeCheck(
                name=str(check["name"]),
                request=check.get("request") or {},
                entity=check.get("entity"),
                status=int(expect.get("status", 200)),
                max_latency_ms=int(latency) if latency is not None else None,
                json=tuple((str(k), v) for k, v in (expect.get("json") or {}).items()),
                request_file=check.get("request_file"),
                source=document.positions.get(("smoke", i), document.source),
            )
        )
    return tuple(out)


def planned(action: Action) -> tuple[SmokeCheck, ...]:
    """The checks apply runs after `action`: after a create or replace, and after an update
    that rolls out a config or starts the endpoint; never for one that ends stopped."""
    after = action.after
    if after is None or not after.smoke or after.body.get("state") == "stopped":
        return ()
    match action.kind:
        case ActionKind.CREATE | ActionKind.REPLACE:
            return after.smoke
        case ActionKind.UPDATE:
            carriers = action.carriers
            if Carrier.CONFIG in carriers or Carrier.RUN_STATE in carriers:
                return after.smoke
            return ()
        case _:
            return ()


def describe(check: SmokeCheck) -> str:
    """`scores-one-row (champion; status 200, <= 1500 ms, 1 JSONPath)` for plans."""
    facts = [f"status {check.status}"]
    if check.max_latency_ms is not None:
        facts.append(f"<= {check.max_latency_ms} ms")
    if check.json:
        facts.append(f"{len(check.json)} JSONPath" + ("s" if len(check.json) > 1 else ""))
    target = f"{check.entity}; " if check.entity else ""
    return f"{check.name} ({target}{', '.join(facts)})"


# --------------------------------------------------------------------------------------------
# Judging one answer


def judge(check: SmokeCheck, *, status: int, latency_ms: float, body: Any, text: str) -> list[str]:
    """What is wrong with one answer to `check` (empty when it passes).

    `body` is the parsed JSON answer (None when it was not JSON). A JSONPath that selects one
    node compares that node's value; one that selects several compares the list of values.
    """
    failures = []
    if status != check.status:
        failures.append(f"status: expected {check.status}, got {status}{_error_text(body, text)}")
    if check.max_latency_ms is not None and latency_ms > check.max_latency_ms:
        failures.append(
            f"latency: expected at most {check.max_latency_ms} ms, got {round(latency_ms)} ms"
        )
    if status != check.status:
        return failures  # the answer's content is not the one the paths describe
    for path, expected in check.json:
        want = _literal(expected)
        if body is None:
            failures.append(f"{path}: expected {want}, got an answer that is not JSON")
            continue
        found = select(path, body)
        if not found:
            failures.append(f"{path}: expected {want}, got no match")
            continue
        got = found[0] if len(found) == 1 else found
        if not same(got, expected):
            failures.append(f"{path}: expected {want}, got {_literal(got)}")
    return failures


def same(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _literal(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_text(body: Any, text: str) -> str:
    if isinstance(body, Mapping) and (body.get("error_code") or body.get("message")):
        code = body.get("error_code") or ""
        message = body.get("message") or ""
        return f" ({': '.join(str(p) for p in (code, message) if p)})"
    snippet = " ".join(text.split())[:120]
    return f" ({snippet})" if snippet and body is None else ""
