"""Validate documents against the packaged JSON Schemas and say every problem in plain words.

The schemas in `schemas/` are the published contract; this module loads those same files through
importlib.resources. Each jsonschema error becomes one Diagnostic at the offending key or value.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema_rs
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from .loader import LoadedDocument, is_secret_path
from .model import Diagnostic, Path, Severity, render_pointer

ENDPOINT_SCHEMA = "endpoint.schema.json"
_ANNOTATIONS = frozenset({"description", "title", "deprecated", "examples", "default", "$comment"})
PROJECT_SCHEMA = "project.schema.json"
_VALUE_FREE = frozenset({"additionalProperties", "required", "type"})
"""Checks whose messages below name keys or kinds, never a value inside a mapping or list."""

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}

_USERINFO = re.compile(r"^[^/@\s]*@|(?<=://)[^/@\s]*@")
_PATTERN_WORDS = {
    "^[0-9]+$": "a whole number",
    "^https?://": "a URL starting with https://",
    "^[A-Za-z_][A-Za-z0-9_]*$": "letters, digits and '_', not starting with a digit",
    "^[A-Za-z0-9_.-]+$": "a name of letters, digits, '.', '-' and '_'",
}


@functools.cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The packaged schema file `name` (e.g. ENDPOINT_SCHEMA), parsed."""
    text = resources.files("servingops").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _compiled(name: str) -> jsonschema_rs.Validator:
    """The schema compiled once per process (by jsonschema-rs): it only says whether a document
    is valid, about 300 times faster than finding and explaining each error below."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(dict(load_schema(name)))


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    """The validator that finds every error and words it (jsonschema, imported only then)."""
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {}), ()))


def _passes(data: Any, name: str) -> bool:
    """True when the compiled schema accepts `data`. Anything it rejects or cannot represent
    (a value JSON has no form for, an integer beyond 64 bits) goes to the full validator, which
    alone decides and words every error, so the diagnostics do not depend on this check."""
    try:
        return _compiled(name).is_valid(data)
    except ValueError:
        return False


def _inline_refs(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    """The schema with local `#/$defs/...` references replaced by their targets (a recursive
    reference is left as it is). Validation then skips a reference lookup at every step, about
    a third of its time; the published file keeps its references."""
    if isinstance(node, list):
        return [_inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    annotations_only = set(node) - {"$ref"} <= _ANNOTATIONS  # siblings that never validate
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen and annotations_only:
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, Mapping):
            siblings = {k: _inline_refs(v, defs, seen) for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(target, defs, (*seen, ref)), **siblings}
    return {k: v if k == "$defs" else _inline_refs(v, defs, seen) for k, v in node.items()}


def validate(document: LoadedDocument, *, schema: str = ENDPOINT_SCHEMA) -> tuple[Diagnostic, ...]:
    """Every schema problem in `document`, each located at the key or value it concerns."""
    if _passes(document.data, schema):
        return ()
    validator = _validator(schema)
    out: list[Diagnostic] = []
    for error in validator.iter_errors(document.data):
        for path, is_key, message in _explain(error):
            out.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    summary=message,
                    source=document.locate(path, key=is_key),
                    pointer=render_pointer(path),
                )
            )
    return tuple(sorted(out, key=Diagnostic.sort_key))


def _explain(error: ValidationError) -> Iterator[tuple[Path, bool, str]]:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "type" and is_secret_path(path):
        yield path, False, _secret_type_message(schema.get("type"), path, error.instance)
    elif kind not in _VALUE_FREE and _holds_secret(path, error.instance):
        # The messages below quote the value (jsonschema's own quote the whole instance); no
        # schema check on a secret reaches them today, but a new one must not print it.
        yield path, False, f"invalid value (not shown: it may hold a secret): failed '{kind}'"
    elif kind == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                yield (*path, key), True, _unknown_key(str(key), allowed)
    elif kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield path, False, f"missing required key '{missing}'"
    elif kind == "type":
        yield path, False, _type_message(schema.get("type"), schema, error.instance)
    elif kind == "enum":
        yield path, False, _enum_message(error.instance, list(schema.get("enum", [])))
    elif kind == "pattern" and "propertyNames" in error.absolute_schema_path:
        words = _PATTERN_WORDS.get(str(error.validator_value), "a valid name")
        yield (*path, str(error.instance)), True, f"invalid name {error.instance!r}: use {words}"
    elif kind == "pattern":
        words = _PATTERN_WORDS.get(
            str(error.validator_value), f"text matching {error.validator_value}"
        )
        shown = error.instance
        if isinstance(shown, str) and error.validator_value == "^https?://":
            shown = _USERINFO.sub("", shown)  # never echo a password written into a URL
        yield path, False, f"expected {words}, got {shown!r}"
    elif kind == "minimum":
        yield path, False, f"must be at least {error.validator_value}, got {error.instance!r}"
    elif kind == "exclusiveMinimum":
        yield path, False, f"must be more than {error.validator_value}, got {error.instance!r}"
    elif kind == "maximum":
        yield path, False, f"must be at most {error.validator_value}, got {error.instance!r}"
    else:
        yield path, False, error.message


def _unknown_key(key: str, allowed: list[str]) -> str:
    if key.endswith("_plaintext"):
        return f"unknown key '{key}'; plaintext secrets are not accepted"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    if len(allowed) <= 8:
        return f"unknown key '{key}'; allowed keys: {', '.join(allowed)}"
    return f"unknown key '{key}'; see the schema for the allowed keys"


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the number {value!r}"


def _type_message(expected: Any, schema: Mapping[str, Any], value: Any) -> str:
    types = [expected] if isinstance(expected, str) else list(expected or [])
    if set(types) == {"integer", "string"} and schema.get("pattern") == "^[0-9]+$":
        words = "a whole number"
    elif set(types) == {"string", "integer"}:
        words = "a string"
    else:
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
    hint = ""
    if "string" in types and isinstance(value, bool | int | float):
        hint = f' (quote it: "{_describe(value).removeprefix("the number ")}")'
    return f"expected {words}, got {_describe(value)}{hint}"


def _holds_secret(path: Path, value: Any) -> bool:
    if is_secret_path(path):
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret((*path, str(k)), v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_secret((*path, i), v) for i, v in enumerate(value))
    return False


def _secret_type_message(expected: Any, path: Path, value: Any) -> str:
    """A type error at a secret field: what was found, never the value."""
    types = [expected] if isinstance(expected, str) else list(expected or [])
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
    if isinstance(value, Mapping | list) or value is None:
        return f"expected {words}, got {_describe(value)}"
    found = "a boolean" if isinstance(value, bool) else "a number"
    if "environment_vars" in path:
        hint = "environment variable values may be secret; quote it"
    else:
        hint = 'a secret field; write a secret reference like "{{secrets/<scope>/<key>}}"'
    return f"expected {words}, got {found} (not shown: {hint})"


def _enum_message(value: Any, options: list[Any]) -> str:
    listed = ", ".join(repr(o) for o in options)
    message = f"{value!r} is not one of {listed}"
    if isinstance(value, str):
        lowered = {str(o).lower(): str(o) for o in options}
        close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {lowered[close[0]]!r}?"
    return message
