"""Pre-flight through the CLI against the emulator (design.md section 8, issue 13 items 2-3).

Before any write, plan (and apply, drift, validate --online) checks what the files refer to:
Unity Catalog model versions exist and are READY, `@alias` versions resolve (shown as
`@champion (8)`, pinned in a saved plan, re-resolved by plan and drift), secret scopes and keys
exist, principals in `permissions` exist. Each failure is located at the field that refers to
it; a check the caller may not perform is a warning naming the missing permission.

The emulator's registry follows the real routes (GET /api/2.1/unity-catalog/models/{full_name}/
versions/{version}, .../aliases/{alias}, PUT .../aliases/{alias} with {"version_num": N}:
databricks-sdk-py service/catalog.py ModelVersionsAPI.get / get_by_alias and
RegisteredModelsAPI.set_alias; docs.databricks.com/api/uc-registered-models/v1/
get-model-version-by-alias), secrets list names only (GET /api/2.0/secrets/list, READ needed,
RESOURCE_DOES_NOT_EXIST for a missing scope: SecretsAPI.list_secrets), and principals are found
with SCIM filters (RFC 7644 section 3.4.2.2). "The endpoint creator must have READ access to the
Databricks secrets being referenced" (docs.databricks.com/machine-learning/model-serving/
store-env-variable-model-serving.html).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock

from .conftest import T0, ApplyCli, Cli

MODEL = "main.risk.fraud"
FILE = "endpoints/fraud.yaml"


def write(project: Path, text: str, name: str = "fraud") -> None:
    (project / "endpoints" / "scorer.yaml").unlink(missing_ok=True)
    (project / "endpoints" / f"{name}.yaml").write_text(textwrap.dedent(text))


def fraud(version: str, *, extra: str = "") -> str:
    """One served entity; `entity_version` sits at line 6, column 23."""
    return (
        "name: fraud\n"
        "config:\n"
        "  served_entities:\n"
        "    - name: champion\n"
        f"      entity_name: {MODEL}\n"
        f'      entity_version: "{version}"\n'
        "      workload_size: Small\n"
        "      scale_to_zero_enabled: true\n"
    ) + extra


def writes(run: ApplyCli) -> list[tuple[str, str, int]]:
    return [s for s in run.transport.seen if s[0] != "GET"]


def models(**spec: Any) -> dict[str, Any]:
    return {"models": {MODEL: spec}}


def move_alias(emu: Emulator[ManualClock], alias: str, version: int) -> None:
    """PUT /api/2.1/unity-catalog/models/{full_name}/aliases/{alias} (RegisteredModelsAPI
    .set_alias), as a promotion pipeline does."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emu.app), base_url="http://emulator.local"
        ) as http:
            return await http.put(
                f"/api/2.1/unity-catalog/models/{MODEL}/aliases/{alias}",
                json={"version_num": version},
                headers={"Authorization": "Bearer test"},
            )

    response = asyncio.run(go())
    assert response.status_code == 200, response.text


def served_version(run: ApplyCli) -> str:
    raw = run.get("fraud")
    assert raw is not None
    return str(raw["config"]["served_entities"][0]["entity_version"])


# --------------------------------------------------------------------------------------------
# Model versions


def test_a_missing_version_is_located_and_nothing_is_written(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects(models(versions={"7": "READY"}))
    write(project, fraud("9"))
    code, out, err = run("plan", "--out", "p.json")
    assert code == 1
    assert (
        f'{FILE}:6:23: error: endpoint "fraud": {MODEL} version 9 does not exist (the workspace '
        f"says: Model version 9 of '{MODEL}' does not exist); serve an existing version, or "
        "register this one first"
    ) in out
    assert "error: the plan cannot be applied" in err
    assert not (project / "p.json").exists()
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert f"{FILE}:6:23: error:" in out
    assert writes(run) == []
    assert run.get("fraud") is None


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("PENDING_REGISTRATION", "wait until its registration finishes and try again"),
        ("FAILED_REGISTRATION", "register the model again and serve the new version"),
    ],
)
def test_a_version_that_is_not_ready_is_located(
    run: ApplyCli, project: Path, status: str, advice: str
) -> None:
    run.emu.seed_objects(models(versions={"7": "READY", "9": status}))
    write(project, fraud("9"))
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert (
        f'{FILE}:6:23: error: endpoint "fraud": {MODEL} version 9 is {status}, not READY'
    ) in out
    assert advice in out
    assert writes(run) == []


def test_an_unchanged_endpoint_is_not_checked(run: ApplyCli, project: Path) -> None:
    write(project, fraud("7"))
    assert run("apply", "--auto-approve")[0] == 0
    # The version is deregistered after the rollout: the endpoint keeps serving its copy, and
    # a plan that leaves the endpoint alone has nothing to check.
    run.emu.seed_objects(models(versions={"8": "READY"}))
    run.transport.seen.clear()
    assert run("plan", "--detailed-exitcode")[0] == 0
    assert not [p for _, p, _ in run.transport.seen if "unity-catalog" in p]


# --------------------------------------------------------------------------------------------
# Aliases


def test_an_alias_resolves_is_shown_with_its_version_and_a_moved_alias_is_an_update(
    run: ApplyCli, project: Path
) -> None:
    run.emu.seed_objects(models(versions={"7": "READY", "8": "READY"}, aliases={"champion": "7"}))
    write(project, fraud("@champion"))
    code, out, _ = run("plan")
    assert code == 0
    assert "+ entity_version        = @champion (7)" in out
    code, out, _ = run("plan", "--format", "json")
    (alias,) = json.loads(out)["aliases"]
    assert (alias["model"], alias["alias"], alias["version"]) == (MODEL, "champion", "7")
    assert alias["display"] == "@champion (7)"
    assert run("apply", "--auto-approve")[0] == 0
    assert served_version(run) == "7"
    assert run("plan", "--detailed-exitcode")[0] == 0
    assert run("drift")[0] == 0

    move_alias(run.emu, "champion", 8)
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 2
    assert '~ entity_version = "7" -> @champion (8)' in out
    assert "champion: version 7 -> @champion (8)" in out
    code, out, _ = run("plan", "--format", "markdown")
    assert "champion: version 7 → @champion (8)" in out
    code, out, _ = run("drift")
    assert code == 2
    assert 'config.served_entities.champion.entity_version: live "7", desired @champion (8)' in out
    assert run("apply", "--auto-approve")[0] == 0
    assert served_version(run) == "8"


def test_an_alias_that_does_not_exist_is_located(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects(models(versions={"7": "READY"}, aliases={"champion": "7"}))
    write(project, fraud("@champoin"))
    code, out, _ = run("plan")
    assert code == 1
    assert (
        f'{FILE}:6:23: error: endpoint "fraud": alias @champoin of {MODEL} does not exist'
    ) in out
    assert writes(run) == []


def test_a_saved_plan_serves_the_pinned_version_after_the_alias_moved(
    run: ApplyCli, project: Path
) -> None:
    run.emu.seed_objects(
        models(versions={"7": "READY", "8": "READY", "9": "READY"}, aliases={"champion": "7"})
    )
    write(project, fraud("@champion"))
    assert run("apply", "--auto-approve")[0] == 0
    move_alias(run.emu, "champion", 8)
    code, out, _ = run("plan", "--out", "p.json")
    assert code == 0, out
    assert '"7" -> @champion (8)' in out
    saved = json.loads((project / "p.json").read_text())
    assert [(p["alias"], p["version"]) for p in saved["pins"]] == [("champion", "8")]

    move_alias(run.emu, "champion", 9)  # promoted again while the plan was in review
    code, out, err = run("apply", "p.json")
    assert code == 0, out + err
    assert (
        'note: endpoint "fraud" champion: alias @champion of main.risk.fraud now points at '
        "version 9; applying version 8, as the saved plan pinned it (run plan again to follow "
        "the alias)"
    ) in err
    assert served_version(run) == "8"  # what was reviewed
    code, out, _ = run("plan", "--detailed-exitcode")
    assert code == 2
    assert '"8" -> @champion (9)' in out


def test_an_alias_the_caller_may_not_read_is_an_error_not_a_guess(
    restricted: ApplyCli, project: Path
) -> None:
    write(project, fraud("@champion"))
    code, out, _ = restricted("plan")
    assert code == 1
    assert (
        f'{FILE}:6:23: error: endpoint "fraud": alias @champion of {MODEL} cannot be resolved: '
        "this identity lacks EXECUTE on the model"
    ) in out


# --------------------------------------------------------------------------------------------
# Secrets


def test_a_missing_secret_scope_and_key_are_located(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects({"secrets": {"llm": ["openai-key"]}})
    env = (
        "      environment_vars:\n"
        '        OPENAI: "{{secrets/llm/openai-key}}"\n'
        '        ANTHROPIC: "{{secrets/llm/anthropic-key}}"\n'
        '        DB: "{{secrets/db/password}}"\n'
    )
    write(project, fraud("7") + env)
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert (
        f'{FILE}:11:20: error: endpoint "fraud": {{{{secrets/llm/anthropic-key}}}} names key '
        '"anthropic-key", which secret scope "llm" does not hold; put it (databricks secrets '
        "put-secret llm anthropic-key) or fix the reference"
    ) in out
    assert (
        f'{FILE}:12:13: error: endpoint "fraud": {{{{secrets/db/password}}}} names secret scope '
        '"db", which does not exist; create it (databricks secrets create-scope db)'
    ) in out
    assert len([line for line in out.splitlines() if ": error: " in line]) == 2  # not OPENAI
    assert writes(run) == []


def test_one_scope_is_listed_once_however_many_endpoints_use_it(
    run: ApplyCli, project: Path
) -> None:
    run.emu.seed_objects({"secrets": {"llm": ["k"]}})
    env = '      environment_vars: {K: "{{secrets/llm/k}}"}\n'
    for i in range(5):
        write(project, fraud("7").replace("name: fraud", f"name: fraud-{i}") + env, f"f{i}")
    assert run("plan")[0] == 0
    lists = [p for m, p, _ in run.transport.seen if p == "/api/2.0/secrets/list"]
    versions = [p for m, p, _ in run.transport.seen if "/versions/" in p]
    assert (len(lists), len(versions)) == (1, 1)


# --------------------------------------------------------------------------------------------
# Principals


def test_unknown_group_user_and_service_principal_are_located(run: ApplyCli, project: Path) -> None:
    run.emu.seed_objects(
        {
            "groups": ["risk-analysts"],
            "users": ["ana@example.com"],
            "service_principals": [
                {"application_id": "6f1c2a4e-8b7d-4c3a-9e5f-0a1b2c3d4e5f", "display_name": "ci"}
            ],
        }
    )
    grants = (
        "permissions:\n"
        "  - {group_name: risk-analyst, permission_level: CAN_QUERY}\n"
        "  - {user_name: bob@example.com, permission_level: CAN_QUERY}\n"
        "  - {service_principal_name: ci, permission_level: CAN_MANAGE}\n"
        "  - {user_name: ana@example.com, permission_level: CAN_VIEW}\n"
        "  - {group_name: users, permission_level: CAN_VIEW}\n"
    )
    write(project, fraud("7", extra=grants))
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    lines = [line for line in out.splitlines() if ": error: " in line]
    assert lines == [
        f'{FILE}:10:18: error: endpoint "fraud": group "risk-analyst" does not exist in this '
        "workspace; check the name",
        f'{FILE}:11:17: error: endpoint "fraud": user "bob@example.com" does not exist in this '
        "workspace; check the name",
        f'{FILE}:12:30: error: endpoint "fraud": service principal "ci" does not exist in this '
        "workspace; check the application id (service_principal_name takes the application id, "
        "not the display name)",
    ]
    assert writes(run) == []


# --------------------------------------------------------------------------------------------
# A caller without registry access


@pytest.fixture
def restricted(project: Path, capsys: Any, tmp_path: Path) -> Iterator[ApplyCli]:
    """The CLI's token ("test") acts as dev@x.io, who holds no EXECUTE on the model."""
    users = tmp_path / "users.yaml"
    users.write_text(
        yaml.safe_dump(
            {
                "users": [
                    {"user_name": "admin@x.io", "groups": ["admins"], "tokens": ["t-admin"]},
                    {"user_name": "dev@x.io", "groups": ["data-science"], "tokens": ["test"]},
                ]
            }
        )
    )
    emu = Emulator(EmulatorConfig(users_file=users), clock=ManualClock(T0))
    emu.seed_objects(
        models(
            versions={"7": "READY"},
            aliases={"champion": "7"},
            owner="admin@x.io",
            execute=["risk-analysts"],
        )
    )
    yield ApplyCli(project, emu, capsys)
    emu.close()


def test_a_caller_without_registry_access_gets_a_warning_and_can_still_plan(
    restricted: ApplyCli, project: Path
) -> None:
    write(project, fraud("7"))
    code, out, err = restricted("plan", "--out", "p.json")
    assert code == 0, out + err
    assert (
        f'{FILE}:6:23: warning: endpoint "fraud": cannot check {MODEL} version 7: this identity '
        "lacks EXECUTE on the model (or USE CATALOG / USE SCHEMA on its catalog and schema); the "
        "rollout will fail if it does not exist or is not READY"
    ) in out
    assert (project / "p.json").exists()
    assert writes(restricted) == []


# --------------------------------------------------------------------------------------------
# validate --online


def test_validate_online_checks_every_endpoint_without_reading_endpoints(
    cli: Cli, project: Path
) -> None:
    cli.emu.seed_objects(
        {
            **models(versions={"7": "READY", "9": "PENDING_REGISTRATION"}, aliases={"prod": "7"}),
            "secrets": {"llm": ["k"]},
        }
    )
    write(project, fraud("@prod"))
    code, out, err = cli("validate", "--online")
    assert code == 0, err
    assert 'endpoint "fraud" champion: main.risk.fraud @prod is version 7' in out
    assert (
        out.splitlines()[-1] == "Valid: 1 endpoint in 1 file; pre-flight made 1 workspace lookup."
    )

    env = '      environment_vars: {K: "{{secrets/llm/nope}}"}\n'
    write(project, fraud("9", extra=env + 'tags: {k: "{{secrets/llm/nope}}"}\n'))
    code, out, err = cli("validate", "--online")
    assert code == 1
    assert err.splitlines() == [
        f'{FILE}:6:23: error: config.served_entities[0].entity_version: endpoint "fraud": '
        f"{MODEL} version 9 is PENDING_REGISTRATION, not READY (only READY versions can be "
        "served); wait until its registration finishes and try again",
        f'{FILE}:9:29: error: config.served_entities[0].environment_vars.K: endpoint "fraud": '
        "{{secrets/llm/nope}} names key "
        '"nope", which secret scope "llm" does not hold; put it (databricks secrets put-secret '
        "llm nope) or fix the reference",
        "2 errors in 1 file",
    ]
    code, out, _ = cli("validate", "--online", "--format", "github")
    assert code == 1
    assert out.startswith(f"::error file={FILE},line=6,col=23,title=servingops::")
    # Offline, the same files are valid: nothing is contacted.
    assert cli("validate")[0] == 0


# --------------------------------------------------------------------------------------------
# export


def test_export_names_the_alias_that_points_at_the_served_version(cli: Cli, project: Path) -> None:
    cli.emu.seed_objects(
        models(versions={"7": "READY", "8": "READY"}, aliases={"champion": "7", "next": "8"})
    )
    entity = {
        "name": "champion",
        "entity_name": MODEL,
        "entity_version": "7",
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }
    cli.emu.seed_endpoint({"name": "fraud", "config": {"served_entities": [entity]}})
    (project / "endpoints" / "scorer.yaml").unlink()
    code, _, err = cli("export", "fraud", "--no-permissions")
    assert code == 0, err
    text = (project / "endpoints" / "fraud.yaml").read_text()
    assert (
        "      entity_version: '7'  # @champion points at this version; write "
        'entity_version: "@champion" to follow it\n'
    ) in text
    assert "@next" not in text
    code, out, _ = cli("plan", "--format", "json")
    (change,) = json.loads(out)["resource_changes"]
    assert [f["path"] for f in change["change"]["fields"]] == ["tags.servingops-owner"]
    # Following the comment's advice changes nothing either: the alias resolves to what serves.
    path = project / "endpoints" / "fraud.yaml"
    path.write_text(path.read_text().replace("'7'", '"@champion"'))
    code, out, _ = cli("plan", "--format", "json")
    (change,) = json.loads(out)["resource_changes"]
    assert [f["path"] for f in change["change"]["fields"]] == ["tags.servingops-owner"]
