"""The embedded `local` workspace and the workspace objects its project refers to.

It has no objects file, so model versions and principals are permissive; secret scopes cannot
be, so opening it declares the scopes and keys the project's endpoint files reference. Checked
through the emulator's HTTP surface on the same database file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from servingops.project import load_project, select_target
from servingops.workspace import LOCAL_DB, resolve_workspace, secret_references

from .conftest import Api, make_emulator

REPO = Path(__file__).resolve().parents[2]


def _example_project(tmp_path: Path) -> Path:
    shutil.copy(REPO / "servingops.yaml", tmp_path / "servingops.yaml")
    shutil.copytree(REPO / "endpoints", tmp_path / "endpoints")
    return tmp_path


def test_the_example_files_secret_references_are_found(tmp_path: Path) -> None:
    project = load_project(_example_project(tmp_path))
    assert secret_references(project) == {"llm": ["openai"], "search": ["hf-token"]}


def test_opening_the_local_workspace_declares_the_referenced_secrets(tmp_path: Path) -> None:
    root = _example_project(tmp_path)
    extra = root / "endpoints" / "extra.yaml"
    extra.write_text(
        "name: extra\n"
        "config:\n"
        "  served_entities:\n"
        "    - entity_name: main.a.b\n"
        '      entity_version: "1"\n'
        "      workload_size: Small\n"
        "      scale_to_zero_enabled: true\n"
        "      environment_vars:\n"
        '        A: "{{secrets/llm/second}}"\n'
        '        B: "{{secrets/${var.scope}/x}}"\n'  # not a name: left to validation
    )
    project = load_project(root)
    resolve_workspace(project, select_target(project, None), env={}, home=tmp_path)
    emu = make_emulator(db_path=root / LOCAL_DB)
    api = Api(emu)
    try:
        scopes = api.get("/api/2.0/secrets/scopes/list").json()["scopes"]
        assert [s["name"] for s in scopes] == ["llm", "search"]
        keys = api.get("/api/2.0/secrets/list", params={"scope": "llm"}).json()["secrets"]
        assert [k["key"] for k in keys] == ["openai", "second"]
        # Models stay permissive: whatever version the files name is READY.
        version = api.get("/api/2.1/unity-catalog/models/main.risk.fraud/versions/8").json()
        assert version["status"] == "READY"
    finally:
        api.close()
        emu.close()
