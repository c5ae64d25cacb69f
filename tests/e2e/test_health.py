"""Live health in every view, and the desired run state (issue 11 items 1-2).

Before this, a stopped endpoint planned "No changes" and drifted "No drift", a failed update
was invisible in the text plan and the PR comment, and a plan on a stopped endpoint said "old
config keeps serving". Stop and start go through `config:stop` / `config:start` (reference
section 2.1: undocumented in the SDKs; the docs' statuses are "Ready", "Ready (Update failed)",
"Not ready (Updating)", "Not ready (Update failed)", "Not ready (Stopped)").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serving_emulator import EmulatorConfig

from .conftest import ApplyCli, call, with_emulator, write_endpoint

UPDATE_SECONDS = 30.0


def stop(run: ApplyCli, name: str = "scorer") -> None:
    call(run.emu, "stop_endpoint", name)


def state(run: ApplyCli, name: str = "scorer") -> dict[str, Any]:
    raw = run.get(name)
    assert raw is not None
    result: dict[str, Any] = raw["state"]
    return result


def test_a_stopped_endpoint_shows_in_plan_drift_json_and_markdown(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    stop(run)
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 0, out  # the file does not manage the run state: nothing to change
    assert "Live health: 1 stopped." in out
    assert '# endpoint "scorer": stopped: serves nothing until started' in out
    code, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["health"]["scorer"]["state"] == "stopped"
    _, out, _ = run("plan", "--format", "markdown")
    assert "1 endpoint not ready live:" in out
    assert "`scorer`: stopped" in out
    code, out, _ = run("drift")
    assert code == 0, out
    assert "stopped: serves nothing until started (config_version 1 (main 100%) is kept)" in out


def test_stopped_while_the_file_says_running_is_drift_and_apply_starts_it(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "scorer", extra="state: running\n")
    assert run("apply", "--auto-approve")[0] == 0
    stop(run)
    code, out, _ = run("drift")
    assert code == 2
    assert 'state: live "stopped", desired "running"' in out
    code, out, _ = run("plan")
    assert '~ state = "stopped" -> "running"' in out
    assert "via POST config:start" in out
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert state(run) == {"config_update": "NOT_UPDATING", "ready": "READY"}
    assert run.plan_is_empty()


def test_state_stopped_stops_it_and_a_config_change_keeps_it_stopped(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "scorer", extra="state: stopped\n")
    code, out, _ = run("apply", "--auto-approve")  # created, rolled out, then stopped
    assert code == 0, out
    assert state(run)["ready"] == "NOT_READY"
    assert run.plan_is_empty()
    assert run("drift")[0] == 0
    write_endpoint(project, "scorer", version="3", extra="state: stopped\n")
    _, out, _ = run("plan")
    assert "the endpoint is stopped: the new config rolls out, then it is stopped again" in out
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    raw = run.get("scorer")
    assert raw is not None
    assert raw["config"]["config_version"] == 2
    assert raw["state"]["ready"] == "NOT_READY"
    assert run.plan_is_empty()


def test_an_unmanaged_stopped_endpoint_is_never_started_as_a_side_effect(
    run: ApplyCli, project: Path
) -> None:
    assert run("apply", "--auto-approve")[0] == 0
    stop(run)
    write_endpoint(project, "scorer", version="3")  # no state: in the file
    _, out, _ = run("plan")
    assert "then it is stopped again" in out
    assert run("apply", "--auto-approve")[0] == 0
    assert state(run)["ready"] == "NOT_READY"  # stopped, as it was
    assert run.plan_is_empty()


def test_a_failed_update_is_drift_with_its_reason(project: Path, capsys: Any) -> None:
    config = EmulatorConfig(
        update_seconds=UPDATE_SECONDS, failing_versions=frozenset({("main.ml.scorer", "9")})
    )
    for run in with_emulator(project, capsys, config):
        assert run("apply", "--auto-approve")[0] == 0
        # Someone else rolls out a broken version; the file's version keeps serving.
        raw = run.get("scorer")
        assert raw is not None
        entity = {k: v for k, v in raw["config"]["served_entities"][0].items() if k != "state"}
        call(
            run.emu,
            "update_config",
            "scorer",
            {"served_entities": [{**entity, "entity_version": "9"}]},
        )
        run.emu.advance(UPDATE_SECONDS + 1)
        code, out, _ = run("drift")
        assert code == 2, out
        assert "update failed: main: Served entity 'main' failed to deploy" in out
        assert "still serving config_version 1" in out
        code, out, _ = run("drift", "--format", "json")
        assert json.loads(out)["update_failed"] == ["scorer"]
        _, out, _ = run("plan", "--format", "markdown")
        assert "update failed" in out


def test_an_update_in_progress_says_which_version_and_for_how_long(run: ApplyCli) -> None:
    assert run("apply", "--auto-approve", "--no-wait")[0] == 0
    run.emu.advance(10)
    _, out, _ = run("plan")
    assert "updating: config_version 1 rolling out for 10s; nothing serves yet" in out
    _, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["health"]["scorer"]["pending_seconds"] == 10


def test_only_custom_model_endpoints_may_be_stopped(run: ApplyCli, project: Path) -> None:
    (project / "endpoints" / "chat.yaml").write_text(
        "name: chat\nstate: stopped\nconfig:\n  served_entities:\n"
        "    - external_model:\n        name: gpt-4o\n        provider: openai\n"
        "        task: llm/v1/chat\n"
        "        openai_config: {openai_api_key: '{{secrets/llm/openai}}'}\n"
    )
    code, _, err = run("validate")
    assert code == 1
    assert (
        "endpoints/chat.yaml:2:8: error: state: an external-model endpoint cannot be stopped" in err
    )


def test_stop_is_refused_on_a_route_optimized_endpoint(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", extra="route_optimized: true\nstate: stopped\n")
    code, _, err = run("validate")
    assert code == 1
    assert "a route-optimized endpoint cannot be stopped" in err


def test_export_writes_state_stopped_only_for_a_stopped_endpoint(
    run: ApplyCli, project: Path
) -> None:
    body = {
        "served_entities": [
            {"entity_name": "main.ml.m", "entity_version": "1", "workload_size": "Small",
             "scale_to_zero_enabled": True}
        ]
    }  # fmt: skip
    run.emu.seed_endpoint({"name": "adhoc-a", "config": body})
    run.emu.seed_endpoint({"name": "adhoc-b", "config": body})
    stop(run, "adhoc-a")
    out_dir = project / "exported"
    code, out, err = run("export", "adhoc-a", "adhoc-b", "--out-dir", str(out_dir))
    assert code == 0, out + err
    assert "state: stopped\n" in (out_dir / "adhoc-a.yaml").read_text()
    assert "state:" not in (out_dir / "adhoc-b.yaml").read_text()
