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
