"""The objects file (`emulator serve --objects FILE`, `EmulatorConfig.objects`): its format,
one-line `file:line` errors at start-up, and the seed hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving_emulator import Emulator, EmulatorConfig, ObjectsFileError
from serving_emulator.__main__ import main as emulator_main
from servingops.cli import main as servingops_main

from .conftest import Api, make_emulator

# The form issue 13 shows, verbatim (its long line split by the implicit concatenation).
ISSUE_FORM = (
    (
        "models:                      # Unity Catalog models: version -> status, alias -> version\n"
        '  main.risk.fraud: {versions: {"7": READY, "8": READY, "9": PENDING_REGISTRATION}, '
        'aliases: {champion: "7"}}\n'
    )
    + """\
secrets: {llm: [openai-key]} # scope -> key names
groups: [risk-analysts]
users: [ana@example.com]
service_principals: [{application_id: 6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f, display_name: ci}]
"""
)


def test_the_issue_form_loads(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(ISSUE_FORM)
    emu = make_emulator(objects=path)
    api = Api(emu)
    try:
        uc = "/api/2.1/unity-catalog/models/main.risk.fraud"
        assert api.get(f"{uc}/aliases/champion").json()["version"] == 7
        assert api.get(f"{uc}/versions/9").json()["status"] == "PENDING_REGISTRATION"
        assert api.get("/api/2.0/secrets/list", params={"scope": "llm"}).json() == {
            "secrets": [{"key": "openai-key", "last_updated_timestamp": 1_766_000_000_000}]
        }
        sp = api.get(
            "/api/2.0/preview/scim/v2/ServicePrincipals",
            params={"filter": 'applicationId eq "6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f"'},
        ).json()
        assert sp["Resources"][0]["displayName"] == "ci"
    finally:
        api.close()
        emu.close()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("models:\n  main.risk: {versions: {'1': READY}}\n", 2, "catalog.schema.model"),
        ("models:\n  a.b.c:\n    versions: {'1': READYY}\n", 3, "status must be one of"),
        ("models:\n  a.b.c: {versions: {one: READY}}\n", 2, "positive integer"),
        (
            "models:\n  a.b.c:\n    versions: {'1': READY}\n    aliases: {champion: '2'}\n",
            4,
            "not among",
        ),
        ("models:\n  a.b.c: {aliases: {latest: '1'}, versions: {'1': READY}}\n", 2, "reserved"),
        ("models:\n  a.b.c: {version: {'1': READY}}\n", 2, "unknown field"),
        ("secrets: {llm: [ok, 'bad key']}\n", 1, "secret key"),
        ("secrets:\n  'no space': [k]\n", 2, "scope name"),
        ("groups: [risk-analysts]\nclusters: []\n", 2, "unknown kind"),
        ("groups: risk-analysts\n", 1, "must be a list"),
        ("service_principals:\n  - {display_name: ci}\n", 2, "application_id is required"),
        ("users: [a@example.com]\nusers: [b@example.com]\n", 2, "duplicate key"),
        ("models: {a.b.c: {versions: {'1': READY}}\n", 2, "not valid YAML"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    with pytest.raises(ObjectsFileError) as info:
        Emulator(EmulatorConfig(objects=path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_in_process_data_names_the_path_of_the_problem() -> None:
    with pytest.raises(ObjectsFileError, match=r"^objects: models\.a\.b\.c\.versions\.1: status"):
        make_emulator(objects={"models": {"a.b.c": {"versions": {"1": "OK"}}}})
    emu = make_emulator()
    try:
        with pytest.raises(ObjectsFileError, match="unknown kind"):
            emu.seed_objects({"catalogs": ["main"]})
    finally:
        emu.close()


def test_empty_file_and_empty_kinds(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    make_emulator(objects=empty).close()
    # A kind listed with nothing under it is authoritative and empty.
    path = tmp_path / "objects.yaml"
    path.write_text("models:\n")
    emu = make_emulator(objects=path)
    api = Api(emu)
    try:
        assert api.get("/api/2.1/unity-catalog/models/main.a.b").status_code == 404
    finally:
        api.close()
        emu.close()


@pytest.mark.parametrize("runner", ["servingops", "python -m serving_emulator"])
def test_serve_refuses_a_bad_objects_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runner: str
) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text("models:\n  main.risk.fraud: {versions: {'7': READDY}}\n")
    args = ["--objects", str(path), "--port", "0"]
    code = (
        servingops_main(["emulator", "serve", *args])
        if runner == "servingops"
        else emulator_main(args)
    )
    assert code == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}:2: models.main.risk.fraud.versions.7: status")
    missing = tmp_path / "missing.yaml"
    assert servingops_main(["emulator", "serve", "--objects", str(missing)]) == 64
    assert f"{missing}: cannot read the objects file" in capsys.readouterr().err
