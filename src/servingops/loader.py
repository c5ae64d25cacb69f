"""Read YAML files into plain data plus a position for every node. Safe loading only; no validation.

Every failure (size, encoding, syntax, duplicate keys, unsafe tags, alias bombs) becomes a located
Diagnostic; no input bytes make this module raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import fields
from .model import Diagnostic, Path, Severity, SourceRef

MAX_FILE_BYTES = 1024 * 1024
"""Files larger than this (1 MiB) are refused unread: an endpoint file is a few kilobytes."""

MAX_VALUES = 100_000
"""Most values one file may expand to; bounds alias expansion ("billion laughs")."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "merge")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedDocument:
    """One YAML document: its data and where each value (and each mapping key) was written.

    `positions` maps an instance path to the start of its value; `key_positions` maps the path
    of a mapping entry to the start of its key (used for "unknown key" messages).
    """

    path: str
    index: int
    data: Any
    source: SourceRef
    positions: Mapping[Path, SourceRef] = field(default_factory=dict)
    key_positions: Mapping[Path, SourceRef] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> SourceRef:
        """The position of `path`, or of its nearest written ancestor."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        for end in range(len(path), -1, -1):
            ref = self.positions.get(path[:end])
            if ref is not None:
                return ref
        return self.source


@dataclass(frozen=True, slots=True)
class LoadResult:
    documents: tuple[LoadedDocument, ...]
    diagnostics: tuple[Diagnostic, ...]


def is_secret_path(path: Path) -> bool:
    """True when the value at `path` in a file may hold a secret: an external-model provider's
    secret field (or its `_plaintext` twin) or an environment variable. Diagnostics never repeat
    such a value, whatever its type."""
    canonical = tuple("served_entities" if part == "served_models" else part for part in path)
    if canonical and isinstance(canonical[-1], str) and canonical[-1].endswith("_plaintext"):
        canonical = (*canonical[:-1], canonical[-1].removesuffix("_plaintext"))
    return fields.is_sensitive(canonical)


class _Loader(yaml.SafeLoader):
    """SafeLoader used only to compose nodes; construction is done by _Builder below."""


class _Problem(Exception):
    def __init__(self, message: str, node: Node | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def load_file(path: FsPath, *, display: str | None = None) -> LoadResult:
    """Read and parse one file; `display` is the name used in diagnostics."""
    name = display if display is not None else str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _fail(name, _too_big(size))
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return _fail(name, f"cannot read file: {e.strerror or e}")
    return load_bytes(data, path=name)


def load_bytes(data: bytes, *, path: str) -> LoadResult:
    """Parse YAML bytes (possibly several `---` documents). Pure; never raises."""
    if len(data) > MAX_FILE_BYTES:
        return _fail(path, _too_big(len(data)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return _fail(
            path,
            f"file is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8",
            SourceRef(path=path, line=line, column=column),
        )
    return load_text(text, path=path)


def load_text(text: str, *, path: str) -> LoadResult:
    """Parse YAML text. Empty documents (only comments, or nothing between `---`) are skipped."""
    loader: _Loader | None = None
    documents: list[LoadedDocument] = []
    try:
        nodes = _compose_fast(text)
        if nodes is None:
            loader = _Loader(text)
            nodes = _compose_all(loader)
        for index, node in enumerate(nodes):
            if not (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                documents.append(_Builder(path).document(node, index))
    except yaml.MarkedYAMLError as e:
        return _fail(path, _yaml_message(e), _mark_ref(path, e.problem_mark or e.context_mark))
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        return _fail(
            path,
            f"unacceptable character #x{e.character:04x}; remove it or save the file as "
            "plain UTF-8 text",
            SourceRef(path=path, line=line, column=column),
        )
    except yaml.YAMLError as e:  # every PyYAML error is one of the above; kept as a backstop
        return _fail(path, f"invalid YAML: {e}")
    except _Problem as e:
        return _fail(path, e.message, _mark_ref(path, e.node.start_mark if e.node else None))
    except RecursionError:
        return _fail(path, "the YAML is nested too deeply to read")
    finally:
        if loader is not None:
            loader.dispose()
    return LoadResult(tuple(documents), ())


def _compose_all(loader: yaml.SafeLoader | Any) -> list[Node]:
    nodes: list[Node] = []
    while loader.check_node():
        node = loader.get_node()
        if node is None:
            break
        nodes.append(node)
    return nodes


def _compose_fast(text: str) -> list[Node] | None:
    """Compose with libyaml when it is available (about ten times faster than pure Python).

    Any problem sends the text down the pure-Python path instead, so error messages are the
    same on every machine; so does any character the pure-Python reader would refuse.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return None
    loader = fast(text)
    try:
        return _compose_all(loader)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _too_big(size: int) -> str:
    return (
        f"file is {size} bytes, larger than the {MAX_FILE_BYTES} byte limit; "
        "split it into smaller files"
    )


def _fail(path: str, message: str, source: SourceRef | None = None) -> LoadResult:
    diag = Diagnostic(
        severity=Severity.ERROR,
        summary=message,
        source=source or SourceRef(path=path, line=1, column=1),
    )
    return LoadResult((), (diag,))


def _mark_ref(path: str, mark: Any) -> SourceRef:
    if mark is None:
        return SourceRef(path=path, line=1, column=1)
    return SourceRef(path=path, line=mark.line + 1, column=mark.column + 1)


def _yaml_message(e: yaml.MarkedYAMLError) -> str:
    problem = e.problem or "invalid YAML"
    if "'\\t'" in problem:
        return f"YAML syntax error: {problem}; indent with spaces, not tabs"
    if e.context and e.problem_mark is not None and e.context_mark is not None:
        return f"YAML syntax error: {problem} ({e.context} at line {e.context_mark.line + 1})"
    if e.context:
        return f"YAML syntax error: {e.context}: {problem}"
    return f"YAML syntax error: {problem}"


def _plain_tree(root: Node) -> bool:
    """True when no node is reachable twice (no aliases) and there are at most MAX_VALUES
    nodes: the usual file, which then needs none of the alias-expansion accounting below."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen or len(seen) >= MAX_VALUES:
            return False
        seen.add(key)
        if isinstance(node, SequenceNode):
            stack += node.value
        elif isinstance(node, MappingNode):
            for pair in node.value:
                stack += pair
    return True


class _Builder:
    """Turns a composed node tree into plain data, recording positions and enforcing limits."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.positions: dict[Path, SourceRef] = {}
        self.key_positions: dict[Path, SourceRef] = {}
        self.constructor = yaml.SafeLoader("")
        self.sizes: dict[int, int] = {}

    def ref(self, node: Node) -> SourceRef:
        return _mark_ref(self.path, node.start_mark)

    def document(self, node: Node, index: int) -> LoadedDocument:
        distinct: set[int] = set()
        expanded = 0 if _plain_tree(node) else self._size(node, (), distinct)
        if expanded > MAX_VALUES:
            if len(distinct) <= MAX_VALUES:
                raise _Problem(
                    f"aliases expand this document to more than {MAX_VALUES} values "
                    '(a "billion laughs" document); write the values out instead',
                    node,
                )
            raise _Problem(f"document has more than {MAX_VALUES} values; split it up", node)
        data = self._build(node, ())
        return LoadedDocument(
            path=self.path,
            index=index,
            data=data,
            source=self.ref(node),
            positions=self.positions,
            key_positions=self.key_positions,
        )

    def _size(self, node: Node, ancestors: tuple[int, ...], distinct: set[int]) -> int:
        key = id(node)
        if key in ancestors:
            raise _Problem(
                "recursive alias: a node contains itself; YAML cycles are not allowed", node
            )
        cached = self.sizes.get(key)
        if cached is not None:
            return cached
        distinct.add(key)
        total = 1
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                children += [k, v]
        inner = (*ancestors, key)
        for child in children:
            total += self._size(child, inner, distinct)
            if total > MAX_VALUES:
                break
        self.sizes[key] = total
        return total

    def _build(self, node: Node, path: Path) -> Any:
        self.positions.setdefault(path, self.ref(node))
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _Problem(f"unsupported YAML tag {node.tag}; remove it", node)
            return [self._build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path=path)

    def _scalar(self, node: ScalarNode, *, path: Path | None = None) -> Any:
        """The scalar's value; `path` (None for a mapping key) says where it is written, so a
        message about a value that may be a secret does not repeat it."""
        if node.tag == _STR_TAG:
            return node.value  # what SafeConstructor.construct_yaml_str returns, without dispatch
        if node.tag not in _SAFE_SCALAR_TAGS:
            raise _Problem(f"unsupported YAML tag {node.tag}; remove it", node)
        if node.tag in ("tag:yaml.org,2002:timestamp", _MERGE_TAG):
            return node.value  # dates stay as written: JSON has no date type
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, KeyError) as e:
            # KeyError: PyYAML's bool constructor looks the word up in a table (`!!bool maybe`).
            kind = node.tag.rsplit(":", 1)[-1]
            hint = "write true or false" if kind == "bool" else f"remove the !!{kind} tag"
            # Only a failing value needs the secret check, so it is not paid for every scalar.
            if path is not None and is_secret_path(path):
                message = f"invalid {kind} value (not shown: it may be a secret); {hint}"
            elif isinstance(e, KeyError):
                message = f"invalid {kind} value {node.value!r}; {hint}"
            else:
                message = f"invalid {kind} value {node.value!r}: {e}"
            raise _Problem(message, node) from None
        if isinstance(value, float) and value != value:  # NaN never equals itself
            raise _Problem("NaN is not a valid value", node)
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise _Problem(f"unsupported YAML tag {node.tag}; remove it", node)
        out: dict[str, Any] = {}
        explicit: dict[str, Node] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged += self._merge_sources(value_node)
                continue
            key = self._key(key_node)
            if key in explicit:
                first = explicit[key].start_mark
                raise _Problem(
                    f"duplicate key {key!r} (first defined at line {first.line + 1}); "
                    "remove one of them",
                    key_node,
                )
            explicit[key] = key_node
            self.key_positions[(*path, key)] = self.ref(key_node)
            out[key] = self._build(value_node, (*path, key))
        # Merge keys (`<<: *defaults`) supply values the mapping does not set itself; earlier
        # sources win, as in the YAML merge-key spec.
        for source in merged:
            for key_node, value_node in source.value:
                key = self._key(key_node)
                if key not in out:
                    self.key_positions[(*path, key)] = self.ref(key_node)
                    out[key] = self._build(value_node, (*path, key))
        return out

    def _merge_sources(self, node: Node) -> list[MappingNode]:
        if isinstance(node, MappingNode):
            return [node]
        if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            return [n for n in node.value if isinstance(n, MappingNode)]
        raise _Problem("a merge key (<<) must refer to a mapping or a list of mappings", node)

    def _key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise _Problem("mapping keys must be plain strings, not lists or mappings", node)
        if node.tag == _STR_TAG:
            return str(node.value)
        value = self._scalar(node)
        if isinstance(value, bool) or value is None:
            raise _Problem(
                f"key {node.value!r} is read as {value!r} by YAML; quote it to use it as a name",
                node,
            )
        return str(node.value)
