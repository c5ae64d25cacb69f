"""servingops' field registry and the emulator's own model of the API, run against the same
fixtures: request bodies from the API reference and the Databricks docs (tests/fixtures/api,
each names its source in `_source`).

The emulator keeps its own knowledge of the API (it imports nothing from servingops), so each
fixture is checked twice, independently: servingops validates it as an endpoint file, and the
emulator accepts it as a create request. Then servingops reads back what the emulator serves
and must see no difference from the file (apart from adopting the endpoint's ownership tag):
the two models of the API agree on what every field means.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, EmulatorConfig, ManualClock
from servingops import engine, rules, schema
from servingops.desired import to_desired
from servingops.loader import LoadedDocument
from servingops.model import OWNER_TAG, ActionKind, SourceRef

from .conftest import OWNER, T0, api, call

FIXTURES = Path(__file__).parents[1] / "fixtures" / "api"
CASES = sorted(p.name for p in FIXTURES.glob("create_*.json"))


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    body.pop("_source")
    return body


@pytest.mark.parametrize("name", CASES)
def test_servingops_accepts_each_fixture_as_an_endpoint_file(name: str) -> None:
    document = LoadedDocument(
        path=name, index=0, data=fixture(name), source=SourceRef(path=name, line=1, column=1)
    )
    problems = [*schema.validate(document), *rules.check_document(document)]
    assert [d.summary for d in problems if d.is_error] == []


@pytest.mark.parametrize("name", CASES)
def test_the_emulator_serves_each_fixture_as_servingops_reads_it(name: str) -> None:
    body = fixture(name)
    emu = Emulator(EmulatorConfig(update_seconds=10), clock=ManualClock(T0))
    try:
        emu.seed_objects({"secrets": {"my_openai_secret_scope": ["openai_api_key"]}})
        call(emu, "create_endpoint", copy.deepcopy(body))  # the API's own body, as sent
        emu.advance(11)
        loaded = LoadedDocument(
            path=name, index=0, data=body, source=SourceRef(path=name, line=1, column=1)
        )

        async def plan() -> Any:
            async with api(emu) as client:
                result, _ = await engine.compute_plan(client, [to_desired(loaded)], owner=OWNER)
                return result

        result = asyncio.run(plan())
    finally:
        emu.close()
    assert result.applyable, [p.summary for p in result.problems]
    [action] = result.actions  # the endpoint exists unowned: adopted, nothing else differs
    assert action.kind is ActionKind.UPDATE
    assert action.adopt
    assert [c.path for c in action.changes] == [("tags", OWNER_TAG)]
