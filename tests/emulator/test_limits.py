"""The per-workspace write budget, injected faults and injected latency."""

from __future__ import annotations

import time

from serving_emulator import Emulator, EmulatorConfig, SystemClock

from .conftest import Api, create_body, entity, error_code, make_emulator

EP = "/api/2.0/serving-endpoints"


def test_write_budget_answers_429_with_retry_after_until_the_window_moves() -> None:
    emu = make_emulator(write_budget_calls=3, write_budget_seconds=60, update_seconds=0)
    api = Api(emu)
    try:
        assert api.post(EP, json={"name": "a"}).status_code == 200
        emu.advance(10)
        assert api.post(EP, json={"name": "b"}).status_code == 200
        r = api.put(f"{EP}/a/config", json={"served_entities": [entity("x")]})
        assert r.status_code == 200
        # Reads and non-budgeted writes still work.
        assert api.patch(f"{EP}/a/tags", json={"add_tags": [{"key": "k"}]}).status_code == 200
        limited = api.post(EP, json={"name": "c"})
        assert (limited.status_code, error_code(limited)) == (429, "REQUEST_LIMIT_EXCEEDED")
        assert limited.headers["Retry-After"] == "50"  # the oldest call leaves the window at 60s
        assert api.put(f"{EP}/a/config", json={"served_entities": [entity("y")]}).status_code == 429
        assert api.get(f"{EP}/c").status_code == 404  # the rejected create changed nothing
        emu.advance(50)
        assert api.post(EP, json={"name": "c"}).status_code == 200
    finally:
        api.close()
        emu.close()


def test_write_budget_zero_disables_it() -> None:
    emu = make_emulator(write_budget_calls=0)
    api = Api(emu)
    try:
        for i in range(60):
            assert api.post(EP, json={"name": f"e{i}"}).status_code == 200
    finally:
        api.close()
        emu.close()


def _fault_statuses(seed: int) -> list[int]:
    emu = make_emulator(fault_rate=0.5, fault_seed=seed)
    api = Api(emu)
    try:
        out: list[int] = []
        for _ in range(60):
            r = api.get(EP)
            out.append(r.status_code)
            if r.status_code != 200:
                assert error_code(r) in {
                    "REQUEST_LIMIT_EXCEEDED",
                    "INTERNAL_ERROR",
                    "TEMPORARILY_UNAVAILABLE",
                }
            if r.status_code in (429, 503):
                assert r.headers["Retry-After"].isdigit()
        # OAuth discovery is never faulted.
        assert api.get("/.well-known/databricks-config").status_code == 200
        return out
    finally:
        api.close()
        emu.close()


def test_faults_are_seeded_and_cover_429_500_503() -> None:
    first = _fault_statuses(7)
    assert first == _fault_statuses(7)
    assert set(first) == {200, 429, 500, 503}
    assert 15 <= first.count(200) <= 45


def test_faulted_writes_change_nothing() -> None:
    emu = make_emulator(fault_rate=1.0)
    api = Api(emu)
    try:
        assert api.post(EP, json=create_body()).status_code in (429, 500, 503)
    finally:
        api.close()
    assert emu.seed_endpoint({"name": "probe"})["name"] == "probe"
    emu.close()


def test_latency_is_added_to_each_request() -> None:
    emu = Emulator(EmulatorConfig(latency_ms=50), clock=SystemClock())
    api = Api(emu)
    try:
        api.get(EP)
        started = time.perf_counter()
        api.get(EP)
        assert time.perf_counter() - started >= 0.045
    finally:
        api.close()
        emu.close()


def test_the_workspace_limit_of_1000_endpoints_is_enforced() -> None:
    # "Model serving limits": at most 1,000 serving endpoints per workspace
    # (https://learn.microsoft.com/azure/databricks/machine-learning/model-serving/model-serving-limits).
    # The real error body is not published; the emulator answers 400 QUOTA_EXCEEDED (a 429 would
    # make the SDKs retry a refusal that cannot clear by waiting).
    emu = make_emulator(write_budget_calls=0)
    api = Api(emu)
    try:
        for i in range(999):
            emu.seed_endpoint({"name": f"seeded-{i:04d}"})
        assert api.post(EP, json={"name": "the-1000th"}).status_code == 200
        refused = api.post(EP, json={"name": "one-too-many"})
        assert (refused.status_code, error_code(refused)) == (400, "QUOTA_EXCEEDED")
        assert "1000" in refused.json()["message"]
        assert api.get(f"{EP}/one-too-many").status_code == 404
        assert api.delete(f"{EP}/seeded-0000").status_code == 200
        assert api.post(EP, json={"name": "one-too-many"}).status_code == 200
    finally:
        api.close()
        emu.close()


def test_the_endpoint_limit_is_a_knob() -> None:
    emu = make_emulator(max_endpoints=1)
    api = Api(emu)
    try:
        assert api.post(EP, json={"name": "a"}).status_code == 200
        assert error_code(api.post(EP, json={"name": "b"})) == "QUOTA_EXCEEDED"
    finally:
        api.close()
        emu.close()
