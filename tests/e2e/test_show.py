"""`servingops show PLANFILE` (issue 11 item 3): a saved plan renders exactly as `plan` printed
it, in text, JSON and markdown, without reading the project or contacting any workspace, and
the file holds no value any renderer masks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from servingops import planfile
from servingops.cli import Settings, main

from .conftest import ApplyCli, call, write_endpoint

SECRET = "hunter2-not-for-plans"
NEW = """\
name: fresh
config:
  served_entities:
    - name: main
      entity_name: main.ml.fresh
      entity_version: "1"
      workload_size: Small
      scale_to_zero_enabled: true
      environment_vars: {API_MODE: "${var.mode}", HF_TOKEN: "{{secrets/search/hf}}"}
smoke:
  - name: one-row
    request: {inputs: [[1]]}
    expect: {status: 200, json: {"$.predictions[0]": "main.ml.fresh/1"}}
"""


@pytest.fixture
def reviewed(run: ApplyCli, project: Path) -> ApplyCli:
    """A plan with a create (a masked value, a secret reference and a smoke check), an update,
    a replace, a delete, and live endpoints that are stopped and updating."""
    for name in ("bump", "rename", "gone", "paused", "rolling"):
        write_endpoint(project, name)
    run.emu.seed_objects({"secrets": {"search": ["hf"]}})
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "fresh.yaml").write_text(NEW)
    write_endpoint(project, "bump", version="2")
    write_endpoint(project, "rename", extra="description: new words\n")
    (project / "endpoints" / "gone.yaml").unlink()
    call(run.emu, "stop_endpoint", "paused")
    call(
        run.emu,
        "update_config",
        "rolling",
        {"served_entities": [_entity("main.ml.rolling", "1")]},
    )
    run.emu.advance(5)
    return run


def _entity(model: str, version: str) -> dict[str, Any]:
    return {
        "name": "main",
        "entity_name": model,
        "entity_version": version,
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }


PLAN = ("plan", "--allow-replace", "--prune", "--var", f"mode={SECRET}")


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_prints_what_plan_printed(reviewed: ApplyCli, project: Path, fmt: str) -> None:
    code, printed, err = reviewed(*PLAN, "--format", fmt, "--out", "reviewed.plan")
    assert code == 0, err
    assert SECRET not in printed
    saved = (project / "reviewed.plan").read_text()
    assert SECRET not in saved
    assert "{{secrets/search/hf}}" in saved  # references are not secrets: shown everywhere

    code, shown, err = show(project, "reviewed.plan", "--format", fmt)
    assert (code, err) == (0, "")
    assert shown == printed


def test_the_reviewed_plan_covers_every_kind_and_health(reviewed: ApplyCli, project: Path) -> None:
    assert reviewed(*PLAN, "--out", "reviewed.plan")[0] == 0
    _, shown, _ = show(project, "reviewed.plan")
    for expected in (
        '# endpoint "fresh" will be created',
        '# endpoint "bump" will be updated in place',
        '# endpoint "rename" must be replaced',
        '# endpoint "gone" will be destroyed',
        "API_MODE = (sensitive)",
        '"{{secrets/search/hf}}"',
        "# smoke checks once READY: one-row (status 200, 1 JSONPath)",
        "stopped: serves nothing until started",
        "updating: config_version 2 rolling out for ",
        "Plan: 2 to add, 1 to change, 2 to destroy.",
    ):
        assert expected in shown, expected


def test_show_reads_nothing_but_the_file(reviewed: ApplyCli, project: Path, tmp_path: Path) -> None:
    assert reviewed(*PLAN, "--out", "reviewed.plan")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no project file here, and every request would fail
    settings = Settings(
        cwd=elsewhere, env={}, home=elsewhere, transport=Refuse(), color=False, interactive=False
    )
    code = main(["show", str(project / "reviewed.plan")], settings=settings)
    assert code == 0


def test_apply_of_the_file_is_unchanged(reviewed: ApplyCli, project: Path) -> None:
    assert reviewed(*PLAN, "--out", "reviewed.plan")[0] == 0
    code, out, err = reviewed("apply", "reviewed.plan", "--var", f"mode={SECRET}")
    assert code == 0, out + err
    assert "smoke passed: one-row" in out
    assert reviewed.get("gone") is None


def test_show_of_another_version_notes_it_and_of_a_non_plan_refuses(
    reviewed: ApplyCli, project: Path
) -> None:
    assert reviewed(*PLAN, "--out", "reviewed.plan")[0] == 0
    data = json.loads((project / "reviewed.plan").read_text())
    data["tool_version"] = "0.0.1"
    (project / "other.plan").write_text(json.dumps(data))
    code, shown, err = show(project, "other.plan")
    assert code == 0
    assert "Plan: 2 to add" in shown
    assert err.startswith("note: other.plan was saved by servingops 0.0.1")
    data["format_version"] = planfile.FORMAT_VERSION - 1
    (project / "old.plan").write_text(json.dumps(data))
    code, _, err = show(project, "old.plan")
    assert code == 1
    assert "in a format this version cannot read" in err
    (project / "notes.txt").write_text("hello")
    assert show(project, "notes.txt")[0] == 1
    code, _, err = show(project, "missing.plan")
    assert code == 64
    assert "cannot read the saved plan missing.plan" in err


def show(project: Path, *argv: str) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    settings = Settings(
        cwd=project, env={}, home=project, transport=Refuse(), color=False, interactive=False
    )
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["show", *argv], settings=settings)
    return code, out.getvalue(), err.getvalue()


class Refuse(httpx.AsyncBaseTransport):
    """Any request fails the test: show contacts nothing."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"show sent {request.method} {request.url}")
