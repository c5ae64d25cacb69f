"""Pre-flight: what endpoint files refer to in the workspace, and whether it is there.

Pure. `references` lists what a desired document refers to (Unity Catalog model versions,
`{{secrets/scope/key}}` references, principals in `permissions`), each with where it was
written; `resolve_aliases` pins `entity_version: "@alias"` to a version; `check` turns the facts
the engine fetched into located diagnostics. Fetching lives in engine.py (one read per distinct
`Lookup`, concurrently, cached for the run).
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import normalize
from .model import AliasPin, DesiredDocument, Diagnostic, Path, Severity, SourceRef, render_pointer

ALIAS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,254}")
"""An alias after its `@`: letters, digits, '_' and '-' (UC examples: 'champion',
'latest_stable'); the API itself reserves `latest`."""
RESERVED_ALIASES = frozenset({"latest"})

_SECRET = re.compile(r"\{\{secrets/([^/{}\s]+)/([^/{}\s]+)\}\}")
_BUILTIN_GROUPS = frozenset({"users", "admins"})
"""Every workspace has them (they cannot be deleted): nothing to look up."""


class Kind(enum.StrEnum):
    """What a lookup asks about."""

    VERSION = "model version"
    ALIAS = "model alias"
    SCOPE = "secret scope"
    USER = "user"
    GROUP = "group"
    SERVICE_PRINCIPAL = "service principal"


PRINCIPAL_FIELDS: Mapping[str, Kind] = {
    "user_name": Kind.USER,
    "group_name": Kind.GROUP,
    "service_principal_name": Kind.SERVICE_PRINCIPAL,
}


@dataclass(frozen=True, slots=True)
class Lookup:
    """One read that answers a question about the workspace; equal lookups are fetched once.

    `name` is the model's three-level name (lower case: Unity Catalog names are not case
    sensitive), the scope name or the principal's name; `item` is the version or the alias.
    """

    kind: Kind
    name: str
    item: str = ""


class Outcome(enum.StrEnum):
    FOUND = "found"
    MISSING = "missing"
    DENIED = "denied"
    """The caller may not perform the lookup (HTTP 403): nothing is known."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    """The answer to one Lookup. `status` is a model version's (READY, PENDING_REGISTRATION,
    FAILED_REGISTRATION), `version` the one an alias points at, `keys` a scope's key names;
    `message` is the workspace's own words for MISSING and DENIED."""

    outcome: Outcome
    status: str = ""
    version: str = ""
    keys: frozenset[str] = field(default_factory=frozenset)
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """Something a desired document refers to: where (`path` in its body), and what to ask."""

    endpoint: str
    path: Path
    source: SourceRef
    lookup: Lookup
    key: str = ""
    """For a secret scope: the key the reference names."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """Documents with every resolvable alias replaced by its version, the pins, the problems."""

    documents: tuple[DesiredDocument, ...]
    pins: tuple[AliasPin, ...] = ()
    problems: tuple[Diagnostic, ...] = ()


# --------------------------------------------------------------------------------------------
# Aliases


def alias_of(version: Any) -> str | None:
    """`"@champion"` -> `"champion"`; None for anything that is not an alias."""
    if isinstance(version, str) and version.startswith("@"):
        return version[1:]
    return None


def is_unity_catalog(entity_name: Any) -> bool:
    """Only three-level names (catalog.schema.model) are Unity Catalog models; the workspace
    model registry's names have no dots and are not checked."""
    if not isinstance(entity_name, str):
        return False
    parts = entity_name.split(".")
    return len(parts) == 3 and all(parts)


def alias_lookups(documents: Iterable[DesiredDocument]) -> list[Lookup]:
    """The alias reads needed to plan `documents` (each once)."""
    out: dict[Lookup, None] = {}
    for doc in documents:
        for _, entity in _entities(doc):
            alias = alias_of(entity.get("entity_version"))
            model = entity.get("entity_name")
            if alias and is_unity_catalog(model):
                out[Lookup(Kind.ALIAS, str(model).lower(), alias)] = None
    return list(out)


def resolve_aliases(
    documents: Sequence[DesiredDocument],
    facts: Mapping[Lookup, Fact],
    *,
    pinned: Sequence[AliasPin] = (),
) -> Resolution:
    """Replace each `@alias` entity_version with the version it resolves to.

    A pin from a saved plan (`pinned`, matched by endpoint, entity position, model and alias)
    wins over what the alias points at now; `facts` still says where it points now, so the
    pin can report that it moved. An alias that cannot be resolved is a located error (a plan
    cannot guess a version), and its document keeps the alias.
    """
    saved = {(p.endpoint, p.index, p.model, p.alias): p for p in pinned}
    out_docs: list[DesiredDocument] = []
    pins: list[AliasPin] = []
    problems: list[Diagnostic] = []
    for doc in documents:
        resolved: dict[int, str] = {}
        for i, entity in _entities(doc):
            alias = alias_of(entity.get("entity_version"))
            model = entity.get("entity_name")
            if alias is None or not is_unity_catalog(model):
                continue
            model = str(model)
            path: Path = ("config", "served_entities", i, "entity_version")
            fact = facts.get(Lookup(Kind.ALIAS, model.lower(), alias))
            current = fact.version if fact and fact.outcome is Outcome.FOUND else None
            pin = saved.get((doc.name, i, model, alias))
            version = pin.version if pin is not None else current
            if version is None:
                problems.append(_alias_problem(doc, path, model, alias, fact))
                continue
            resolved[i] = version
            entity_name = entity.get("name")
            if not isinstance(entity_name, str):
                entity_name = normalize.default_entity_name({**entity, "entity_version": version})
            pins.append(
                AliasPin(
                    endpoint=doc.name,
                    entity=str(entity_name or ""),
                    index=i,
                    model=model,
                    alias=alias,
                    version=version,
                    current=current,
                )
            )
        out_docs.append(_with_versions(doc, resolved) if resolved else doc)
    return Resolution(
        documents=tuple(out_docs),
        pins=tuple(sorted(pins, key=lambda p: (p.endpoint, p.index))),
        problems=tuple(sorted(problems, key=Diagnostic.sort_key)),
    )


def _with_versions(doc: DesiredDocument, versions: Mapping[int, str]) -> DesiredDocument:
    body = copy.deepcopy(dict(doc.body))
    entities = body["config"]["served_entities"]
    for i, version in versions.items():
        entities[i]["entity_version"] = version
    return DesiredDocument(name=doc.name, body=body, source=doc.source, positions=doc.positions)


def _alias_problem(
    doc: DesiredDocument, path: Path, model: str, alias: str, fact: Fact | None
) -> Diagnostic:
    subject = f'endpoint "{doc.name}": alias @{alias} of {model}'
    if fact is None:
        summary = f"{subject} could not be resolved: the workspace was not asked"
    elif fact.outcome is Outcome.DENIED:
        summary = (
            f"{subject} cannot be resolved: this identity {_LACKS_EXECUTE}; grant it, or write "
            "the version number instead of the alias"
        )
    else:
        summary = (
            f"{subject} does not exist{_said(fact)}; set the alias on a READY version (MLflow "
            "set_registered_model_alias), or write a version number"
        )
    return _diagnostic(Severity.ERROR, doc, path, summary)


# --------------------------------------------------------------------------------------------
# References and checks


def references(document: DesiredDocument) -> tuple[Reference, ...]:
    """What `document` refers to in the workspace, in document order."""
    out: list[Reference] = []
    for i, entity in _entities(document):
        model, version = entity.get("entity_name"), entity.get("entity_version")
        if "external_model" in entity or not is_unity_catalog(model):
            continue
        if isinstance(version, int) and not isinstance(version, bool):
            version = str(version)
        if not (isinstance(version, str) and version.isascii() and version.isdigit()):
            continue  # an unresolved alias (already an error) or a version the rules refuse
        path: Path = ("config", "served_entities", i, "entity_version")
        lookup = Lookup(Kind.VERSION, str(model).lower(), str(int(version)))
        out.append(_reference(document, path, lookup))
    # Serving resolves secret references only in a served entity (environment variables and
    # an external model's credentials); the same text in a tag is just text.
    for path, text in _strings(_served_entities(document), ("config", "served_entities")):
        for match in _SECRET.finditer(text):
            scope, key = match.groups()
            out.append(_reference(document, path, Lookup(Kind.SCOPE, scope), key=key))
    grants = document.body.get("permissions")
    for i, entry in enumerate(grants if isinstance(grants, list) else []):
        if not isinstance(entry, Mapping):
            continue
        for field_name, kind in PRINCIPAL_FIELDS.items():
            name = entry.get(field_name)
            if not isinstance(name, str) or not name:
                continue
            if kind is Kind.GROUP and name in _BUILTIN_GROUPS:
                continue
            out.append(_reference(document, ("permissions", i, field_name), Lookup(kind, name)))
    return tuple(out)


def check(refs: Iterable[Reference], facts: Mapping[Lookup, Fact]) -> tuple[Diagnostic, ...]:
    """One diagnostic per reference whose fact says it is missing, not servable, or could not be
    checked (a warning naming the permission the caller lacks). Unfetched lookups are skipped."""
    out: dict[tuple[Any, ...], Diagnostic] = {}
    for ref in refs:
        fact = facts.get(ref.lookup)
        if fact is None:
            continue
        found = _judge(ref, fact)
        if found is None:
            continue
        severity, summary = found
        diag = Diagnostic(
            severity=severity,
            summary=f'endpoint "{ref.endpoint}": {summary}',
            source=ref.source,
            pointer=render_pointer(ref.path),
        )
        out.setdefault((diag.sort_key(), severity), diag)
    return tuple(sorted(out.values(), key=Diagnostic.sort_key))


def describe(ref: Reference) -> str:
    """What a reference names, for messages: `main.risk.fraud version 8`, a secret, a group."""
    lookup = ref.lookup
    match lookup.kind:
        case Kind.VERSION:
            return f"{lookup.name} version {lookup.item}"
        case Kind.ALIAS:
            return f"{lookup.name}@{lookup.item}"
        case Kind.SCOPE:
            return "{{secrets/" + f"{lookup.name}/{ref.key}" + "}}"
        case Kind.SERVICE_PRINCIPAL:
            return f'service principal "{lookup.name}"'
        case _:
            return f'{lookup.kind.value} "{lookup.name}"'


_LACKS_EXECUTE = (
    "lacks EXECUTE on the model (or USE CATALOG / USE SCHEMA on its catalog and schema)"
)
_STATUS_ADVICE = {
    "PENDING_REGISTRATION": "wait until its registration finishes and try again",
    "FAILED_REGISTRATION": "its registration failed, so it can never be served; register the "
    "model again and serve the new version",
}


def _judge(ref: Reference, fact: Fact) -> tuple[Severity, str] | None:
    what = describe(ref)
    lookup = ref.lookup
    if lookup.kind is Kind.VERSION:
        if fact.outcome is Outcome.DENIED:
            return Severity.WARNING, (
                f"cannot check {what}: this identity {_LACKS_EXECUTE}; the rollout will fail "
                "if it does not exist or is not READY"
            )
        if fact.outcome is Outcome.MISSING:
            return Severity.ERROR, (
                f"{what} does not exist{_said(fact)}; serve an existing version, or register "
                "this one first"
            )
        if fact.status and fact.status != "READY":
            advice = _STATUS_ADVICE.get(fact.status, "serve a READY version")
            return Severity.ERROR, (
                f"{what} is {fact.status}, not READY (only READY versions can be served); {advice}"
            )
        return None
    if lookup.kind is Kind.SCOPE:
        scope = lookup.name
        if fact.outcome is Outcome.DENIED:
            return Severity.WARNING, (
                f'cannot check {what}: this identity lacks READ on secret scope "{scope}" '
                "(the identity that creates the endpoint needs it too); the rollout will fail "
                "if the secret does not exist"
            )
        if fact.outcome is Outcome.MISSING:
            return Severity.ERROR, (
                f'{what} names secret scope "{scope}", which does not exist; create it '
                f"(databricks secrets create-scope {scope}) and put the secret, or fix the "
                "reference"
            )
        if ref.key not in fact.keys:
            return Severity.ERROR, (
                f'{what} names key "{ref.key}", which secret scope "{scope}" does not hold; '
                f"put it (databricks secrets put-secret {scope} {ref.key}) or fix the reference"
            )
        return None
    if fact.outcome is Outcome.DENIED:
        return Severity.WARNING, (
            f"cannot check {what}: this identity may not look up {lookup.kind.value}s (SCIM); "
            "setting the permissions will fail if it does not exist"
        )
    if fact.outcome is Outcome.MISSING:
        hint = (
            "check the application id (service_principal_name takes the application id, not "
            "the display name)"
            if lookup.kind is Kind.SERVICE_PRINCIPAL
            else "check the name"
        )
        return Severity.ERROR, f"{what} does not exist in this workspace; {hint}"
    return None


def _said(fact: Fact) -> str:
    message = fact.message.strip().rstrip(".")
    return f" (the workspace says: {message})" if message else ""


# --------------------------------------------------------------------------------------------
# Walking documents


def locate(document: DesiredDocument, path: Path) -> SourceRef:
    """Where the value at `path` was written, or its nearest written ancestor, or the document."""
    for end in range(len(path), 0, -1):
        ref = document.positions.get(path[:end])
        if ref is not None:
            return ref
    return document.source


def _reference(
    document: DesiredDocument, path: Path, lookup: Lookup, *, key: str = ""
) -> Reference:
    return Reference(
        endpoint=document.name,
        path=path,
        source=locate(document, path),
        lookup=lookup,
        key=key,
    )


def _diagnostic(severity: Severity, doc: DesiredDocument, path: Path, summary: str) -> Diagnostic:
    return Diagnostic(
        severity=severity, summary=summary, source=locate(doc, path), pointer=render_pointer(path)
    )


def _served_entities(document: DesiredDocument) -> list[Any]:
    config = document.body.get("config")
    entities = config.get("served_entities") if isinstance(config, Mapping) else None
    return entities if isinstance(entities, list) else []


def _entities(document: DesiredDocument) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for i, entity in enumerate(_served_entities(document)):
        if isinstance(entity, Mapping):
            yield i, entity


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))
    elif isinstance(value, str) and "{{secrets/" in value:
        yield path, value
