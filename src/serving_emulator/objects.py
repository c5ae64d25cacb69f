"""The objects file: the workspace objects a serving config refers to, declared up front.

Unity Catalog models (versions with a status, aliases), secret scopes and their keys, groups,
users and service principals. The format is in the package docstring. Parsing reports the first
problem as one line naming the file and line (`objects.yaml:3: ...`); in-process data (a mapping
given to `EmulatorConfig.objects` or `Emulator.seed_objects`) is checked the same way, with the
path to the problem instead of a line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

VERSION_STATUSES = ("READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION")
KINDS = ("models", "secrets", "groups", "users", "service_principals")

# Secret scope names: alphanumerics, '-', '_', '.', '@', at most 128 characters; keys the same
# without '@' (databricks-sdk-py SecretsAPI.create_scope / put_secret docstrings).
SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
SECRET_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class ObjectsFileError(ValueError):
    """The objects file (or in-process objects data) is unreadable or malformed; str() is one
    line that names the file and line of the problem."""


@dataclass(frozen=True)
class ModelSpec:
    """A Unity Catalog registered model: version number -> status, alias -> version number.

    `execute` lists the principals (user names, group names, service principal application ids)
    that hold EXECUTE on it; None means every caller does. Admins and the owner always do.
    """

    full_name: str
    versions: Mapping[int, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    owner: str | None = None
    execute: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScopeSpec:
    """A secret scope and its key names; `read` lists who holds READ (None: every user)."""

    name: str
    keys: tuple[str, ...] = ()
    read: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WorkspaceObjects:
    """Parsed objects data. `kinds` are the top-level kinds it lists: each is authoritative."""

    kinds: frozenset[str] = frozenset()
    models: tuple[ModelSpec, ...] = ()
    scopes: tuple[ScopeSpec, ...] = ()
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    service_principals: tuple[tuple[str, str], ...] = ()  # (application_id, display_name)


def load_objects(source: Path | str | Mapping[str, Any]) -> WorkspaceObjects:
    """Parse an objects file (YAML, or JSON which YAML reads too) or in-process data."""
    if isinstance(source, Mapping):
        # Represent the data as YAML nodes so one checker serves files and mappings alike.
        try:
            node = yaml.SafeDumper(io.StringIO()).represent_data(dict(source))
        except yaml.representer.RepresenterError as e:
            raise ObjectsFileError(
                f"objects: cannot read {e.args[-1]!r} (use plain data)"
            ) from None
        return _Checker("objects", lines=False).document(node)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ObjectsFileError(f"{path}: cannot read the objects file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ObjectsFileError(f"{path}: the objects file is not UTF-8 text") from None
    try:
        composed = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise ObjectsFileError(f"{path}:{line}: not valid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ObjectsFileError(f"{path}: not valid YAML: {e}") from None
    if composed is None:
        return WorkspaceObjects()
    return _Checker(str(path), lines=True).document(composed)


class _Checker:
    """Walks the YAML node tree, converting values and stopping at the first problem."""

    def __init__(self, source: str, *, lines: bool) -> None:
        self._source = source
        self._lines = lines

    def _fail(self, node: Node | None, where: str, message: str) -> ObjectsFileError:
        if self._lines and node is not None and node.start_mark is not None:
            return ObjectsFileError(
                f"{self._source}:{node.start_mark.line + 1}: {where}: {message}"
            )
        return ObjectsFileError(f"{self._source}: {where}: {message}")

    # -- node shapes -----------------------------------------------------------------------------

    def _mapping(self, node: Node, where: str) -> list[tuple[ScalarNode, Node]]:
        if not isinstance(node, MappingNode):
            raise self._fail(node, where, "must be a mapping")
        seen: set[str] = set()
        pairs: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or not key.value:
                raise self._fail(key, where, "keys must be non-empty strings")
            if key.value in seen:
                raise self._fail(key, where, f"duplicate key {key.value!r}")
            seen.add(key.value)
            pairs.append((key, value))
        return pairs

    def _sequence(self, node: Node, where: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self._fail(node, where, "must be a list")
        return list(node.value)

    def _text(self, node: Node, where: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag.endswith(":null") or not node.value:
            raise self._fail(node, where, "must be a non-empty string")
        return str(node.value)

    def _texts(self, node: Node, where: str) -> tuple[str, ...]:
        values = [self._text(n, f"{where}[{i}]") for i, n in enumerate(self._sequence(node, where))]
        return tuple(dict.fromkeys(values))

    def _version(self, node: Node, where: str) -> int:
        text = self._text(node, where)
        if not text.isdigit() or int(text) < 1:
            raise self._fail(node, where, f"a model version is a positive integer, not {text!r}")
        return int(text)

    # -- the document ----------------------------------------------------------------------------

    def document(self, node: Node) -> WorkspaceObjects:
        found: dict[str, Any] = {}
        for key, value in self._mapping(node, "objects"):
            kind = key.value
            if kind not in KINDS:
                raise self._fail(key, kind, f"unknown kind; expected one of {', '.join(KINDS)}")
            if isinstance(value, ScalarNode) and value.tag.endswith(":null"):
                found[kind] = ()  # `groups:` with nothing under it lists no groups
                continue
            if kind == "models":
                found[kind] = tuple(self._model(k, v) for k, v in self._mapping(value, kind))
            elif kind == "secrets":
                found[kind] = tuple(self._scope(k, v) for k, v in self._mapping(value, kind))
            elif kind == "service_principals":
                found[kind] = tuple(
                    self._service_principal(n, f"{kind}[{i}]")
                    for i, n in enumerate(self._sequence(value, kind))
                )
            else:
                found[kind] = self._texts(value, kind)
        return WorkspaceObjects(
            kinds=frozenset(found),
            models=found.get("models", ()),
            scopes=found.get("secrets", ()),
            groups=found.get("groups", ()),
            users=found.get("users", ()),
            service_principals=found.get("service_principals", ()),
        )

    def _model(self, key: ScalarNode, node: Node) -> ModelSpec:
        name = key.value
        where = f"models.{name}"
        parts = name.split(".")
        if len(parts) != 3 or not all(parts):
            raise self._fail(key, where, "a Unity Catalog model name is catalog.schema.model")
        versions: dict[int, str] = {}
        aliases: dict[str, int] = {}
        alias_nodes: dict[str, Node] = {}
        owner: str | None = None
        execute: tuple[str, ...] | None = None
        for field_key, value in self._mapping(node, where):
            at = f"{where}.{field_key.value}"
            if field_key.value == "versions":
                for v_key, v_status in self._mapping(value, at):
                    number = self._version(v_key, at)
                    status = self._text(v_status, f"{at}.{v_key.value}")
                    if status not in VERSION_STATUSES:
                        raise self._fail(
                            v_status,
                            f"{at}.{v_key.value}",
                            f"status must be one of {', '.join(VERSION_STATUSES)}, not {status!r}",
                        )
                    versions[number] = status
            elif field_key.value == "aliases":
                for a_key, a_version in self._mapping(value, at):
                    alias = a_key.value
                    if alias.lower() == "latest":
                        raise self._fail(a_key, at, "the alias name 'latest' is reserved")
                    aliases[alias] = self._version(a_version, f"{at}.{alias}")
                    alias_nodes[alias] = a_version
            elif field_key.value == "owner":
                owner = self._text(value, at)
            elif field_key.value == "execute":
                execute = self._texts(value, at)
            else:
                raise self._fail(
                    field_key, at, "unknown field; expected versions, aliases, owner or execute"
                )
        for alias, number in aliases.items():
            if number not in versions:
                raise self._fail(
                    alias_nodes[alias],
                    f"{where}.aliases.{alias}",
                    f"points at version {number}, which is not among the model's versions",
                )
        return ModelSpec(name.lower(), versions, aliases, owner, execute)

    def _scope(self, key: ScalarNode, node: Node) -> ScopeSpec:
        name = key.value
        where = f"secrets.{name}"
        if not SCOPE_NAME.match(name):
            raise self._fail(
                key,
                where,
                "a scope name is 1-128 alphanumerics, '-', '_', '.' or '@'",
            )
        read: tuple[str, ...] | None = None
        keys_node: Node | None = node
        if isinstance(node, MappingNode):  # long form: {keys: [...], read: [...]}
            keys_node = None
            for field_key, value in self._mapping(node, where):
                if field_key.value == "keys":
                    keys_node = value
                elif field_key.value == "read":
                    read = self._texts(value, f"{where}.read")
                else:
                    raise self._fail(field_key, where, "unknown field; expected keys or read")
        keys: tuple[str, ...] = ()
        if keys_node is not None:
            keys = self._texts(keys_node, where)
            for i, secret_key in enumerate(keys):
                if not SECRET_KEY.match(secret_key):
                    raise self._fail(
                        self._sequence(keys_node, where)[i],
                        f"{where}[{i}]",
                        "a secret key is 1-128 alphanumerics, '-', '_' or '.'",
                    )
        return ScopeSpec(name, keys, read)

    def _service_principal(self, node: Node, where: str) -> tuple[str, str]:
        if isinstance(node, ScalarNode):
            plain = self._text(node, where)
            return plain, plain
        app_id: str | None = None
        display: str | None = None
        for field_key, value in self._mapping(node, where):
            if field_key.value == "application_id":
                app_id = self._text(value, f"{where}.application_id")
            elif field_key.value == "display_name":
                display = self._text(value, f"{where}.display_name")
            else:
                raise self._fail(
                    field_key, where, "unknown field; expected application_id or display_name"
                )
        if app_id is None:
            raise self._fail(node, where, "application_id is required")
        return app_id, display or app_id
