"""An identity without CAN_MANAGE gets one clear line per problem, saying what to do next."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops.auth import Credentials
from servingops.client import Client

from .conftest import T0, Cli, write_endpoint

ADMIN = "admin@x.io"


@pytest.fixture
def restricted(project: Path, capsys: Any, tmp_path: Path) -> Iterator[Cli]:
    """The CLI's token ("test") acts as a data-science user; ADMIN owns the endpoints."""
    users = tmp_path / "users.yaml"
    users.write_text(
        yaml.safe_dump(
            {
                "users": [
                    {"user_name": ADMIN, "groups": ["admins"], "tokens": ["t-admin"]},
                    {"user_name": "dev@x.io", "groups": ["data-science"], "tokens": ["test"]},
                ]
            }
        )
    )
    emu = Emulator(EmulatorConfig(users_file=users), clock=ManualClock(T0))
    yield Cli(project, emu, capsys)
    emu.close()


def seed(emu: Emulator[ManualClock], name: str, *, viewers: str | None = None) -> None:
    entity = {
        "name": "main",
        "entity_name": f"main.ml.{name}",
        "entity_version": "1",
        "workload_size": "Small",
        "scale_to_zero_enabled": True,
    }
    live = emu.seed_endpoint(
        {
            "name": name,
            "config": {"served_entities": [entity]},
            "tags": [{"key": "team", "value": "ml"}],
        },
        creator=ADMIN,
    )
    if viewers is None:
        return

    async def grant() -> None:
        creds = Credentials(host="http://emulator.local", token="t-admin")
        async with Client(creds, transport=httpx.ASGITransport(app=emu.app)) as client:
            acl = [{"group_name": viewers, "permission_level": "CAN_VIEW"}]
            await client.set_permissions(live["id"], acl)

    asyncio.run(grant())


@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_a_desired_endpoint_hidden_from_the_caller_is_not_planned_as_a_create(
    restricted: Cli, command: str
) -> None:
    # The listing shows only endpoints the caller may view, so "scorer" looked missing: plan
    # said "will be created", drift "missing live", and apply failed on a GET mid-way.
    seed(restricted.emu, "scorer")
    argv = [command, "--auto-approve"] if command == "apply" else [command]
    code, out, err = restricted(*argv)
    assert code == 1, (out, err)
    assert "created" not in out
    assert "missing" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        'error: endpoint "scorer" exists but this identity may not view it (HTTP 403 '
        "PERMISSION_DENIED), so it cannot be compared with the files; ask its owner or a "
        "workspace admin for CAN_MANAGE on it, or rename the endpoint"
    ]


def test_apply_without_can_manage_says_what_to_do(restricted: Cli, project: Path) -> None:
    seed(restricted.emu, "scorer", viewers="data-science")
    write_endpoint(project, "scorer", version="1")
    (project / "endpoints" / "scorer.yaml").write_text(
        (project / "endpoints" / "scorer.yaml").read_text().replace("team: ml", "team: risk")
    )
    code, out, err = restricted("plan")
    assert code == 0, err
    assert '"ml" -> "risk"' in out
    code, out, err = restricted("apply", "--auto-approve")
    assert code == 1
    assert "Traceback" not in out + err
    failed = [line for line in out.splitlines() if line.startswith('  - endpoint "scorer"')]
    assert failed == [
        '  - endpoint "scorer": PATCH /api/2.0/serving-endpoints/scorer/tags failed with HTTP 403'
        " PERMISSION_DENIED: User does not have permission 'Manage' on Endpoint scorer; the "
        "identity running servingops needs CAN_MANAGE on the endpoint; ask its owner or a "
        "workspace admin to grant it"
    ]
