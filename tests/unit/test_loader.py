"""Loader: positions for every node, duplicate keys, limits, encodings; never a traceback."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servingops import desired, loader
from servingops.model import SourceRef
from servingops.project import load_project


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


# --- symlinks among the endpoint files (issue 9, item 11), with real links in tmp_path ---------

ENDPOINT = "name: {name}\n"


def symlinked_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project at tmp_path/repo with endpoints/, and a folder outside it holding a secret."""
    root = tmp_path / "repo"
    (root / "endpoints").mkdir(parents=True)
    (root / "servingops.yaml").write_text("endpoints: endpoints/\nowner: o\n")
    (root / "endpoints" / "ok.yaml").write_text(ENDPOINT.format(name="ok"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("hunter2-token-abc\n")
    (outside / "x.yaml").write_text("name: leaked\npassword: hunter2-token-abc\n")
    return root, outside


def load(root: Path, *paths: str) -> tuple[list[str], list[str]]:
    """(names of the loaded documents, diagnostics as text lines)."""
    project = load_project(root)
    documents, diagnostics = desired.load_desired(
        project, None, paths=tuple(root / p for p in paths)
    )
    return [d.name for d in documents], [f"{d.source}: {d.summary}" for d in diagnostics]


def test_link_to_a_file_outside_the_project_is_refused_without_reading_it(tmp_path: Path) -> None:
    root, outside = symlinked_project(tmp_path)
    (root / "endpoints" / "leak.yaml").symlink_to(outside / "secret.txt")
    (root / "endpoints" / "leak2.yaml").symlink_to(outside / "x.yaml")
    names, problems = load(root)
    assert names == []
    assert problems == [
        f"endpoints/leak.yaml: symlink to '{outside / 'secret.txt'}' leads outside the project; "
        "copy the file into the project, or point the link inside it",
        f"endpoints/leak2.yaml: symlink to '{outside / 'x.yaml'}' leads outside the project; "
        "copy the file into the project, or point the link inside it",
    ]
    assert not any("hunter2" in p or "leaked" in p for p in problems)


def test_relative_link_and_link_chain_leaving_the_project(tmp_path: Path) -> None:
    root, outside = symlinked_project(tmp_path)
    (root / "hop.yaml").symlink_to(outside / "x.yaml")  # inside the project, but leads out
    (root / "endpoints" / "chain.yaml").symlink_to("../hop.yaml")
    (root / "endpoints" / "rel.yaml").symlink_to("../../outside/x.yaml")
    names, problems = load(root)
    assert names == []
    assert [p.split(":")[0] for p in problems] == ["endpoints/chain.yaml", "endpoints/rel.yaml"]
    assert "symlink to '../hop.yaml' leads outside the project" in problems[0]


def test_dangling_link_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    """Skipping it would drop its endpoint from the desired state, and `--prune` would delete it."""
    root, _ = symlinked_project(tmp_path)
    (root / "endpoints" / "gone.yaml").symlink_to("../moved/gone.yaml")
    (root / "endpoints" / "team-b").symlink_to("../nowhere")  # a folder link, dangling
    names, problems = load(root)
    assert names == []
    assert problems == [
        "endpoints/gone.yaml: symlink to '../moved/gone.yaml' points to nothing; fix the link "
        "or delete it",
        "endpoints/team-b: symlink to '../nowhere' points to nothing; fix the link or delete it",
    ]


def test_link_loop_is_an_error(tmp_path: Path) -> None:
    root, _ = symlinked_project(tmp_path)
    (root / "endpoints" / "a.yaml").symlink_to("b.yaml")
    (root / "endpoints" / "b.yaml").symlink_to("a.yaml")
    names, problems = load(root)
    assert names == []
    assert len(problems) == 2
    assert all("points to nothing" in p for p in problems)


def test_links_inside_the_project_are_followed_once(tmp_path: Path) -> None:
    root, _ = symlinked_project(tmp_path)
    shared = root / "shared"
    shared.mkdir()
    (shared / "common.yaml").write_text(ENDPOINT.format(name="common"))
    (root / "endpoints" / "common.yaml").symlink_to("../shared/common.yaml")
    (root / "endpoints" / "team").symlink_to("../shared")  # the same file again, by a folder
    (root / "endpoints" / "loop").symlink_to(".")  # a folder link back to an ancestor
    names, problems = load(root)
    assert problems == []
    assert sorted(names) == ["common", "ok"]


def test_folder_link_leaving_the_project_is_refused(tmp_path: Path) -> None:
    root, outside = symlinked_project(tmp_path)
    (root / "endpoints" / "vendor").symlink_to(outside)
    names, problems = load(root)
    assert names == []
    assert problems == [
        f"endpoints/vendor: symlink to '{outside}' leads outside the project; "
        "copy the file into the project, or point the link inside it",
    ]


def test_named_paths_that_are_links_leaving_the_project_are_refused(tmp_path: Path) -> None:
    root, outside = symlinked_project(tmp_path)
    (root / "leak.yaml").symlink_to(outside / "x.yaml")
    (root / "linked").symlink_to(outside)
    for path in ("leak.yaml", "linked", "linked/x.yaml"):
        names, problems = load(root, path)
        assert names == []
        assert len(problems) == 1, problems
        assert "leads outside the project" in problems[0]
        assert "hunter2" not in problems[0]


def test_non_yaml_links_leaving_the_project_are_ignored(tmp_path: Path) -> None:
    root, outside = symlinked_project(tmp_path)
    (root / "endpoints" / "NOTES.txt").symlink_to(outside / "secret.txt")
    names, problems = load(root)
    assert (names, problems) == (["ok"], [])


def test_files_outside_the_project_named_explicitly_are_read(tmp_path: Path) -> None:
    """Only links are judged: a path given on purpose may be anywhere."""
    root, outside = symlinked_project(tmp_path)
    (outside / "y.yaml").write_text(ENDPOINT.format(name="explicit"))
    names, problems = load(root, str(outside / "y.yaml"))
    assert (names, problems) == (["explicit"], [])


@pytest.mark.parametrize(
    "where",
    [
        "config: {served_entities: [{external_model: {openai_config: {openai_api_key: VALUE}}}]}",
        "config: {served_entities: [{environment_vars: {TOKEN: VALUE}}]}",
        "config: {served_models: [{environment_vars: {TOKEN: VALUE}}]}",
    ],
)
@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool"])
def test_a_secret_value_that_fails_its_tag_is_not_echoed(where: str, tag: str) -> None:
    text = "name: x\n" + where.replace("VALUE", f"{tag} sk-abc123") + "\n"
    message = only_error(loader.load_text(text, path="f.yaml"))
    assert "sk-abc123" not in message
    assert message.startswith("f.yaml:2:")
    assert f"invalid {tag[2:]} value (not shown: it may be a secret)" in message


def test_a_bool_tag_on_a_word_that_is_no_boolean_is_a_located_error() -> None:
    # PyYAML's bool constructor raises KeyError here, which is not a YAMLError
    assert only_error(loader.load_text("a: 1\nb: !!bool maybe\n", path="f")) == (
        "f:2:4: invalid bool value 'maybe'; write true or false"
    )


def test_unreadable_folder_is_an_error_not_a_silent_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = symlinked_project(tmp_path)
    locked = root / "endpoints" / "locked"
    locked.mkdir()
    (locked / "hidden.yaml").write_text(ENDPOINT.format(name="hidden"))
    scandir = os.scandir

    def refuse_locked(path: Any) -> Any:  # an environment fact: tests run as root here
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_locked)
    names, problems = load(root)
    assert names == []
    assert problems == ["endpoints/locked: cannot read folder: Permission denied"]
