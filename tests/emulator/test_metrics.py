"""The metrics export and the per-entity fault knob (issue 11, item 5).

Sources for the real export (`GET /api/2.0/serving-endpoints/{name}/metrics`, Prometheus text):
https://docs.databricks.com/en/machine-learning/model-serving/metrics-export-serving-endpoint.html
(latency, request rate, 4xx/5xx error rate, CPU, memory, provisioned concurrency, each over a
minute) and DataDog/integrations-core databricks/metadata.csv and monitors (the metric names:
request_count_total, request_4xx_count_total, request_5xx_count_total, request_latency_ms,
cpu_usage_percentage, mem_usage_percentage, provisioned_concurrent_requests_total; gauges for
"the last minute"). Scrapes quoted in public repositories show the `_total` families declared as
gauges and each sample carrying a minute-aligned millisecond timestamp.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from serving_emulator import Emulator, EmulatorConfig, EntityFault, ManualClock

from .conftest import (
    START,
    Api,
    create_body,
    entity,
    error_code,
    external,
    make_emulator,
    query,
    ready,
    yaml_file,
)

EP = "/api/2.0/serving-endpoints"
SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+) (\d+)$")
FAMILIES = {
    "request_count_total": "gauge",
    "request_4xx_count_total": "gauge",
    "request_5xx_count_total": "gauge",
    "request_latency_ms": "histogram",
    "cpu_usage_percentage": "gauge",
    "mem_usage_percentage": "gauge",
    "provisioned_concurrent_requests_total": "gauge",
}


def scrape(api: Api, name: str = "fraud-scorer") -> tuple[dict[tuple[str, str], float], set[int]]:
    """{(metric, labels): value} and the set of sample timestamps; checks the text format."""
    r = api.get(f"{EP}/{name}/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    types = dict(re.findall(r"^# TYPE (\w+) (\w+)$", r.text, re.M))
    assert types == FAMILIES
    values: dict[tuple[str, str], float] = {}
    stamps: set[int] = set()
    for line in r.text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        metric, labels, value, stamp = match.groups()
        values[(metric, labels)] = float(value)
        stamps.add(int(stamp))
    return values, stamps


def counts(values: dict[tuple[str, str], float], served: str) -> tuple[int, int, int]:
    label = f'served_entity_name="{served}"'
    return (
        int(values[("request_count_total", label)]),
        int(values[("request_4xx_count_total", label)]),
        int(values[("request_5xx_count_total", label)]),
    )


def to_next_minute(emu: Emulator[ManualClock]) -> None:
    now = emu.clock.now()
    emu.advance(60 - now % 60)


def test_every_family_is_exported_with_zeros_and_a_minute_timestamp(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    values, stamps = scrape(api)
    assert counts(values, "champion") == (0, 0, 0)
    assert counts(values, "challenger") == (0, 0, 0)
    now_ms = round(emu.clock.now() * 1000)
    assert stamps == {now_ms // 60_000 * 60_000}
    label = 'served_entity_name="champion"'
    assert values[("request_latency_ms_count", label)] == 0
    assert values[("request_latency_ms_bucket", label + ',le="+Inf"')] == 0
    # scale_to_zero_enabled with no traffic: nothing provisioned
    assert values[("provisioned_concurrent_requests_total", label)] == 0


def test_counts_are_exact_per_entity_and_windowed_by_the_clock(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    for _ in range(3):
        query(api, "fraud-scorer", {"inputs": [1]}, entity_name="champion")
    query(api, "fraud-scorer", {"wrong": 1}, entity_name="champion")  # 400
    for _ in range(2):
        query(api, "fraud-scorer", {"inputs": [1]}, entity_name="challenger")
    # The export shows the last complete minute: nothing yet.
    values, _ = scrape(api)
    assert counts(values, "champion") == (0, 0, 0)
    to_next_minute(emu)
    values, stamps = scrape(api)
    assert counts(values, "champion") == (4, 1, 0)
    assert counts(values, "challenger") == (2, 0, 0)
    # Scrapes within the same minute agree.
    emu.advance(30)
    assert scrape(api) == (values, stamps)
    # One minute later the window has moved on.
    emu.advance(30)
    later, later_stamps = scrape(api)
    assert counts(later, "champion") == (0, 0, 0)
    assert later_stamps == {next(iter(stamps)) + 60_000}


def test_refusals_before_a_served_entity_are_not_counted(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    api.put(
        f"{EP}/fraud-scorer/ai-gateway",
        json={"rate_limits": [{"key": "endpoint", "calls": 1, "renewal_period": "minute"}]},
    )
    statuses = [query(api, "fraud-scorer", {"inputs": [1]}).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    to_next_minute(emu)
    values, _ = scrape(api)
    assert sum(counts(values, e)[0] for e in ("champion", "challenger")) == 1


def test_an_entity_fault_at_start_up_fails_an_exact_share_and_adds_latency() -> None:
    faults = {"fraud-scorer/challenger": EntityFault(error_rate=0.5, latency_ms=300)}
    emu = make_emulator(entity_faults=faults)
    api = Api(emu)
    try:
        ready(api, emu, create_body())
        results = [
            query(api, "fraud-scorer", {"inputs": [1]}, entity_name="challenger") for _ in range(4)
        ]
        assert [r.status_code for r in results] == [200, 500, 200, 500]
        assert error_code(results[1]) == "INTERNAL_ERROR"
        assert "challenger" in results[1].json()["message"]
        assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 200
        to_next_minute(emu)
        values, _ = scrape(api)
        assert counts(values, "challenger") == (4, 0, 2)
        assert counts(values, "champion") == (1, 0, 0)
        label = 'served_entity_name="challenger"'
        assert values[("request_latency_ms_bucket", label + ',le="250"')] == 0
        assert values[("request_latency_ms_bucket", label + ',le="500"')] == 4
        assert values[("request_latency_ms_sum", label)] == 1200
        assert values[("request_latency_ms_sum", 'served_entity_name="champion"')] == 0
    finally:
        api.close()
        emu.close()


@pytest.mark.parametrize("target", ["main.risk.fraud@8", "fraud@8"])
def test_a_fault_on_a_model_version_follows_it_into_every_endpoint(target: str) -> None:
    emu = make_emulator(entity_faults={target: EntityFault(error_rate=1.0)})
    api = Api(emu)
    try:
        ready(api, emu, create_body())
        ready(
            api, emu, {"name": "other", "config": {"served_entities": [entity("v8", version="8")]}}
        )
        assert query(api, "fraud-scorer", {"inputs": [1]}, "challenger").status_code == 500
        assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 200
        assert query(api, "other", {"inputs": [1]}).status_code == 500
    finally:
        api.close()
        emu.close()


def test_the_seed_hook_flips_a_fault_at_run_time(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, create_body())
    emu.set_entity_fault("fraud-scorer/champion", error_rate=1.0)
    assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 500
    emu.clear_entity_fault("fraud-scorer/champion")
    assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 200
    with pytest.raises(ValueError, match="error_rate"):
        emu.set_entity_fault("fraud-scorer/champion", error_rate=1.5)


def test_a_run_time_fault_replaces_the_start_up_one() -> None:
    emu = make_emulator(entity_faults={"fraud-scorer/champion": EntityFault(error_rate=1.0)})
    api = Api(emu)
    try:
        ready(api, emu, create_body())
        emu.set_entity_fault("fraud-scorer/champion", error_rate=0.0)
        assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 200
        emu.clear_entity_fault("fraud-scorer/champion")  # back to the start-up fault
        assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 500
    finally:
        api.close()
        emu.close()


def test_the_control_route_sets_lists_and_clears_faults(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    ready(api, emu, create_body())
    route = "/_emulator/entity-faults/fraud-scorer/challenger"
    r = api.put(route, json={"error_rate": 1.0, "latency_ms": 50})
    assert r.status_code == 200, r.text
    assert r.json() == {"target": "fraud-scorer/challenger", "error_rate": 1.0, "latency_ms": 50}
    listed = api.get("/_emulator/entity-faults").json()["entity_faults"]
    assert listed == [{"target": "fraud-scorer/challenger", "error_rate": 1.0, "latency_ms": 50}]
    assert query(api, "fraud-scorer", {"inputs": [1]}, "challenger").status_code == 500
    assert api.delete(route).status_code == 200
    assert api.get("/_emulator/entity-faults").json() == {"entity_faults": []}
    assert query(api, "fraud-scorer", {"inputs": [1]}, "challenger").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 2},
        {"error_rate": "half"},
        {"latency_ms": -1},
        {"errors": 1},
        {"error_rate": True},
    ],
)
def test_the_control_route_rejects_bad_faults(api: Api, body: dict[str, Any]) -> None:
    r = api.put("/_emulator/entity-faults/x/y", json=body)
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_only_admins_may_change_faults(tmp_path: Path) -> None:
    users = yaml_file(
        tmp_path / "users.yaml",
        {
            "users": [
                {"user_name": "admin@example.com", "groups": ["admins"], "tokens": ["t-a"]},
                {"user_name": "dev@example.com", "tokens": ["t-d"]},
            ]
        },
    )
    emu = make_emulator(users_file=users)
    dev, admin = Api(emu, token="t-d"), Api(emu, token="t-a")
    try:
        r = dev.put("/_emulator/entity-faults/x/y", json={"error_rate": 1})
        assert (r.status_code, error_code(r)) == (403, "PERMISSION_DENIED")
        assert dev.get("/_emulator/entity-faults").status_code == 403
        assert admin.put("/_emulator/entity-faults/x/y", json={"error_rate": 1}).status_code == 200
    finally:
        dev.close()
        admin.close()
        emu.close()


def test_run_time_faults_are_shared_through_the_database(tmp_path: Path) -> None:
    db = tmp_path / "ws.db"
    clock = ManualClock(START)
    first = Emulator(EmulatorConfig(update_seconds=0), db_path=db, clock=clock)
    second = Emulator(EmulatorConfig(update_seconds=0), db_path=db, clock=clock)
    api = Api(second)
    try:
        first.seed_endpoint(create_body())
        first.set_entity_fault("fraud-scorer/champion", error_rate=1.0)
        assert query(api, "fraud-scorer", {"inputs": [1]}, "champion").status_code == 500
    finally:
        api.close()
        first.close()
        second.close()


def test_external_models_export_request_metrics_only(api: Api, emu: Emulator[ManualClock]) -> None:
    ready(api, emu, external("chat", "llm/v1/chat"))
    query(api, "chat", {"messages": [{"role": "user", "content": "hi"}]})
    to_next_minute(emu)
    text = api.get(f"{EP}/chat/metrics").text
    assert 'request_count_total{served_entity_name="gpt-4o-mini"} 1 ' in text
    assert "cpu_usage_percentage" not in text


def test_entity_fault_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from serving_emulator.__main__ import main as emulator_main
    from servingops.cli import main as servingops_main

    for bad in ("nope", "a/b:error_rate", "a/b:error_rate=2", "a/b:speed=1", ":error_rate=1"):
        assert servingops_main(["emulator", "serve", "--entity-fault", bad]) == 64
        assert "error:" in capsys.readouterr().err
        assert emulator_main(["--entity-fault", bad]) == 64
        assert "error:" in capsys.readouterr().err
