"""Loader: positions for every node, duplicate keys, limits, encodings; never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servingops import loader
from servingops.model import SourceRef


def only_error(result: loader.LoadResult) -> str:
    assert result.documents == ()
    assert len(result.diagnostics) == 1
    diag = result.diagnostics[0]
    return f"{diag.source}: {diag.summary}"


def test_positions_for_values_and_keys() -> None:
    text = "name: x\nconfig:\n  served_entities:\n    - name: a\n      entity_version: '1'\n"
    (doc,) = loader.load_text(text, path="f.yaml").documents
    assert doc.data == {
        "name": "x",
        "config": {"served_entities": [{"name": "a", "entity_version": "1"}]},
    }
    assert doc.positions[("name",)] == SourceRef(path="f.yaml", line=1, column=7)
    assert doc.positions[("config", "served_entities", 0)] == SourceRef(
        path="f.yaml", line=4, column=7
    )
    assert doc.positions[("config", "served_entities", 0, "entity_version")] == SourceRef(
        path="f.yaml", line=5, column=23
    )
    assert doc.key_positions[("config",)] == SourceRef(path="f.yaml", line=2, column=1)
    assert doc.source == SourceRef(path="f.yaml", line=1, column=1)


def test_locate_falls_back_to_nearest_ancestor() -> None:
    (doc,) = loader.load_text("a:\n  b: 1\n", path="f.yaml").documents
    assert doc.locate(("a", "b", "c", 0)) == SourceRef(path="f.yaml", line=2, column=6)
    assert doc.locate(("a", "b"), key=True) == SourceRef(path="f.yaml", line=2, column=3)
    assert doc.locate(("zzz",)) == SourceRef(path="f.yaml", line=1, column=1)


def test_multiple_documents_and_empty_ones() -> None:
    text = "---\nname: a\n---\n# nothing\n---\nname: b\n...\n"
    docs = loader.load_text(text, path="f.yaml").documents
    assert [d.data for d in docs] == [{"name": "a"}, {"name": "b"}]
    assert [d.index for d in docs] == [0, 2]
    assert docs[1].positions[("name",)] == SourceRef(path="f.yaml", line=6, column=7)


def test_empty_text_has_no_documents_and_no_errors() -> None:
    assert loader.load_text("", path="f.yaml") == loader.LoadResult((), ())
    assert loader.load_text("# only a comment\n", path="f.yaml") == loader.LoadResult((), ())


def test_scalars_keep_yaml_types_and_dates_stay_text() -> None:
    text = "a: 1\nb: '1'\nc: true\nd: 2024-01-31\ne: 1.5\nf: null\n"
    (doc,) = loader.load_text(text, path="f.yaml").documents
    assert doc.data == {"a": 1, "b": "1", "c": True, "d": "2024-01-31", "e": 1.5, "f": None}


def test_merge_keys_are_supported_and_explicit_keys_win() -> None:
    text = "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n"
    (doc,) = loader.load_text(text, path="f.yaml").documents
    assert doc.data["c"] == {"x": 1, "y": 3}


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    result = loader.load_text("a: 1\nb:\n  c: 1\n  c: 2\n", path="f.yaml")
    assert only_error(result) == (
        "f.yaml:4:3: duplicate key 'c' (first defined at line 3); remove one of them"
    )


def test_billion_laughs_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    start = time.perf_counter()
    result = loader.load_text("\n".join(lines) + "\n", path="f.yaml")
    assert time.perf_counter() - start < 1.0
    assert only_error(result) == (
        "f.yaml:1:1: aliases expand this document to more than 100000 values "
        '(a "billion laughs" document); write the values out instead'
    )


def test_small_alias_use_is_fine() -> None:
    (doc,) = loader.load_text("a: &x [1, 2]\nb: *x\n", path="f.yaml").documents
    assert doc.data == {"a": [1, 2], "b": [1, 2]}


def test_too_many_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_VALUES", 50)  # the real limit takes seconds to reach
    text = "[" + ",".join(["1"] * 51) + "]"
    assert only_error(loader.load_text(text, path="f.yaml")) == (
        "f.yaml:1:1: document has more than 50 values; split it up"
    )


def test_recursive_alias() -> None:
    assert only_error(loader.load_text("a: &a [*a]\n", path="f.yaml")) == (
        "f.yaml:1:4: recursive alias: a node contains itself; YAML cycles are not allowed"
    )


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (loader.MAX_FILE_BYTES // 10 + 1))
    assert only_error(loader.load_file(path, display="big.yaml")) == (
        "big.yaml:1:1: file is 1048580 bytes, larger than the 1048576 byte limit; "
        "split it into smaller files"
    )
    assert only_error(loader.load_bytes(b" " * (loader.MAX_FILE_BYTES + 1), path="b")) == (
        "b:1:1: file is 1048577 bytes, larger than the 1048576 byte limit; "
        "split it into smaller files"
    )


def test_unreadable_file(tmp_path: Path) -> None:
    result = loader.load_file(tmp_path / "missing.yaml", display="missing.yaml")
    assert only_error(result) == "missing.yaml:1:1: cannot read file: No such file or directory"


def test_non_utf8_is_located() -> None:
    assert only_error(loader.load_bytes(b"a: 1\nb: caf\xe9\n", path="f.yaml")) == (
        "f.yaml:2:7: file is not valid UTF-8 (byte 0xe9 at offset 11); save it as UTF-8"
    )


def test_utf8_bom_is_accepted() -> None:
    (doc,) = loader.load_bytes(b"\xef\xbb\xbfname: x\n", path="f.yaml").documents
    assert doc.data == {"name": "x"}


def test_control_character() -> None:
    assert only_error(loader.load_bytes(b"a: 1\nb: \x07\n", path="f.yaml")) == (
        "f.yaml:2:4: unacceptable character #x0007; remove it or save the file as plain UTF-8 text"
    )


def test_tabs_get_a_hint() -> None:
    assert only_error(loader.load_text("a:\n\tb: 1\n", path="f.yaml")) == (
        "f.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token; "
        "indent with spaces, not tabs"
    )


def test_unsafe_and_binary_tags_are_refused() -> None:
    assert only_error(loader.load_text("a: !!python/name:os.system ''\n", path="f")) == (
        "f:1:4: unsupported YAML tag tag:yaml.org,2002:python/name:os.system; remove it"
    )
    assert only_error(loader.load_text("a: !!binary aGk=\n", path="f")) == (
        "f:1:4: unsupported YAML tag tag:yaml.org,2002:binary; remove it"
    )
    assert only_error(loader.load_text("a: !custom [1]\n", path="f")) == (
        "f:1:4: unsupported YAML tag !custom; remove it"
    )
    assert only_error(loader.load_text("a: !custom {b: 1}\n", path="f")) == (
        "f:1:4: unsupported YAML tag !custom; remove it"
    )


def test_keys_must_be_plain_names() -> None:
    assert only_error(loader.load_text("? [a]\n: 1\n", path="f")) == (
        "f:1:3: mapping keys must be plain strings, not lists or mappings"
    )
    assert only_error(loader.load_text("yes: 1\n", path="f")) == (
        "f:1:1: key 'yes' is read as True by YAML; quote it to use it as a name"
    )
    (doc,) = loader.load_text("'yes': 1\n2: b\n", path="f").documents
    assert doc.data == {"yes": 1, "2": "b"}


def test_bad_merge_and_nan() -> None:
    assert only_error(loader.load_text("a:\n  <<: 1\n", path="f")) == (
        "f:2:7: a merge key (<<) must refer to a mapping or a list of mappings"
    )
    assert only_error(loader.load_text("a: .nan\n", path="f")) == "f:1:4: NaN is not a valid value"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    result = loader.load_text("[" * 700 + "]" * 700, path="f")
    assert result.documents == ()
    assert len(result.diagnostics) == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = loader.load_bytes(data, path="f.yaml")
    assert all(d.source is not None for d in result.diagnostics)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab: -[]{}&*!|>'\"#\n\t,?<%@`~\\x01", max_size=120))
def test_random_yaml_like_text_never_raises(text: str) -> None:
    loader.load_text(text, path="f.yaml")
