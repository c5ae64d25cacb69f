"""A SQLite file shared by several emulators (threads or processes) behaves as one workspace."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from serving_emulator import ManualClock

from .conftest import START, Api, create_body, make_emulator

EP = "/api/2.0/serving-endpoints"


def test_two_instances_on_one_file_share_state_and_progression(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    clock = ManualClock(START)
    one = make_emulator(db_path=db, clock=clock)
    a = Api(one)
    created = a.post(EP, json=create_body()).json()
    a.close()
    one.close()
    # A second process-like instance (own connection, own clock at the same time) sees it,
    # still in progress, and later finished, without anyone writing in between.
    two = make_emulator(db_path=db, clock=ManualClock(START + 5))
    three = make_emulator(db_path=db, clock=ManualClock(START + 31))
    b, c = Api(two), Api(three)
    try:
        ep = b.get(f"{EP}/fraud-scorer").json()
        assert ep["id"] == created["id"]
        assert ep["state"]["config_update"] == "IN_PROGRESS"
        assert c.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "NOT_UPDATING"
        assert b.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "IN_PROGRESS"
        assert b.post(EP, json=create_body()).status_code == 409
    finally:
        b.close()
        c.close()
        two.close()
        three.close()


def test_parallel_writers_in_threads_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    emulators = [make_emulator(db_path=db, write_budget_calls=0) for _ in range(2)]
    emulators[0].seed_endpoint({"name": "shared"})
    errors: list[str] = []

    def writer(index: int) -> None:
        api = Api(emulators[index % 2])
        try:
            for j in range(15):
                key = f"w{index}-{j}"
                r = api.patch(f"{EP}/shared/tags", json={"add_tags": [{"key": key, "value": "v"}]})
                if r.status_code != 200:
                    errors.append(r.text)
                r = api.post(EP, json={"name": key})
                if r.status_code != 200:
                    errors.append(r.text)
        finally:
            api.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    check = Api(emulators[1])
    try:
        tags = check.get(f"{EP}/shared").json()["tags"]
        assert len(tags) == 6 * 15
        assert len(check.get(EP).json()["endpoints"]) == 1 + 6 * 15
    finally:
        check.close()
        for e in emulators:
            e.close()


_WRITER = """
import asyncio, sys, httpx
from serving_emulator import Emulator, EmulatorConfig
emu = Emulator(EmulatorConfig(write_budget_calls=0), db_path=sys.argv[1])
async def main():
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu.local",
                                 headers={"Authorization": "Bearer t"}) as client:
        for j in range(20):
            r = await client.patch("/api/2.0/serving-endpoints/shared/tags",
                                   json={"add_tags": [{"key": f"{sys.argv[2]}-{j}"}]})
            r.raise_for_status()
asyncio.run(main())
emu.close()
"""


def test_parallel_writer_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    emu = make_emulator(db_path=db)
    emu.seed_endpoint({"name": "shared"})
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), f"p{i}"]) for i in range(3)]
    try:
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0, 0]
    api = Api(emu)
    try:
        assert len(api.get(f"{EP}/shared").json()["tags"]) == 60
    finally:
        api.close()
        emu.close()


def test_workspace_objects_persist_for_a_second_instance(tmp_path: Path) -> None:
    # One instance starts with an objects file and creates objects through the API; a second
    # instance on the same file, without an objects file, sees all of it, with the same kinds
    # authoritative, and fails the same rollouts.
    db = tmp_path / "ws.db"
    objects = {
        "models": {"main.risk.fraud": {"versions": {"7": "READY", "9": "PENDING_REGISTRATION"}}},
        "groups": ["risk-analysts"],
    }
    one = make_emulator(db_path=db, objects=objects)
    a = Api(one)
    uc = "/api/2.1/unity-catalog/models"
    assert (
        a.put(f"{uc}/main.risk.fraud/aliases/champion", json={"version_num": 7}).status_code == 200
    )
    assert a.post("/api/2.0/secrets/scopes/create", json={"scope": "llm"}).status_code == 200
    put = {"scope": "llm", "key": "openai", "string_value": "v"}
    assert a.post("/api/2.0/secrets/put", json=put).status_code == 200
    assert (
        a.post("/api/2.0/preview/scim/v2/Groups", json={"displayName": "oncall"}).status_code == 201
    )
    a.close()
    one.close()

    two = make_emulator(db_path=db)
    b = Api(two)
    try:
        assert b.get(f"{uc}/main.risk.fraud/aliases/champion").json()["version"] == 7
        assert b.get(f"{uc}/main.risk.other").status_code == 404  # models stay authoritative
        assert (
            b.get("/api/2.0/secrets/list", params={"scope": "llm"}).json()["secrets"][0]["key"]
            == "openai"
        )
        groups = b.get("/api/2.0/preview/scim/v2/Groups").json()
        assert {"oncall", "risk-analysts"} <= {g["displayName"] for g in groups["Resources"]}
        missing = b.get(
            "/api/2.0/preview/scim/v2/Groups", params={"filter": 'displayName eq "nope"'}
        ).json()
        assert missing["totalResults"] == 0  # groups stay authoritative
        body = create_body()
        body["config"]["served_entities"][1]["entity_version"] = "9"
        b.post(EP, json=body)
        two.advance(31)
        assert b.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "UPDATE_FAILED"
    finally:
        b.close()
        two.close()
