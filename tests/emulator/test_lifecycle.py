"""The state machine on a ManualClock: rollouts, conflicts, failures and out-of-band seeding."""

from __future__ import annotations

from serving_emulator import Emulator, ManualClock

from .conftest import Api, create_body, entity, error_code, make_emulator

EP = "/api/2.0/serving-endpoints"


def test_create_settles_after_update_seconds(api: Api, emu: Emulator[ManualClock]) -> None:
    api.post(EP, json=create_body())
    emu.advance(29.9)
    assert api.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "IN_PROGRESS"
    emu.advance(0.2)
    ep = api.get(f"{EP}/fraud-scorer").json()
    assert ep["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert ep["config"]["config_version"] == 1
    assert ep["last_updated_timestamp"] == 1_766_000_030_000
    assert "pending_config" not in ep


def test_update_keeps_old_config_serving_then_replaces_it(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    api.post(EP, json=create_body())
    emu.advance(31)
    new = {"served_entities": [entity("solo", version="9")]}
    r = api.put(f"{EP}/fraud-scorer/config", json=new)
    assert r.status_code == 200
    ep = r.json()
    assert ep["name"] == "fraud-scorer"
    assert ep["state"] == {"ready": "READY", "config_update": "IN_PROGRESS"}
    assert ep["config"]["config_version"] == 1
    assert {e["name"] for e in ep["config"]["served_entities"]} == {"champion", "challenger"}
    assert ep["pending_config"]["config_version"] == 2
    assert [e["name"] for e in ep["pending_config"]["served_entities"]] == ["solo"]
    assert ep["pending_config"]["served_entities"][0]["state"]["deployment"] == (
        "DEPLOYMENT_CREATING"
    )
    # The old config keeps answering while the update rolls out.
    served = api.post("/serving-endpoints/fraud-scorer/invocations", json={"inputs": [1]})
    assert served.headers["served-model-name"] in {"champion", "challenger"}
    again = api.put(f"{EP}/fraud-scorer/config", json=new)
    assert (again.status_code, error_code(again)) == (409, "RESOURCE_CONFLICT")
    emu.advance(30)
    ep = api.get(f"{EP}/fraud-scorer").json()
    assert ep["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert ep["config"]["config_version"] == 2
    assert [e["name"] for e in ep["config"]["served_entities"]] == ["solo"]
    assert "pending_config" not in ep


def test_failing_version_ends_update_failed_with_messages_and_build_logs() -> None:
    emu = make_emulator(failing_versions=frozenset({("fraud", "9")}))
    api = Api(emu)
    try:
        api.post(EP, json=create_body())
        emu.advance(31)
        api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [entity("bad", version="9")]})
        emu.advance(31)
        ep = api.get(f"{EP}/fraud-scorer").json()
        assert ep["state"] == {"ready": "READY", "config_update": "UPDATE_FAILED"}
        assert ep["config"]["config_version"] == 1  # the old config is kept
        (bad,) = ep["pending_config"]["served_entities"]
        assert bad["state"]["deployment"] == "DEPLOYMENT_FAILED"
        message = bad["state"]["deployment_state_message"]
        assert "main.risk.fraud version 9" in message
        logs = api.get(f"{EP}/fraud-scorer/served-models/bad/build-logs").json()["logs"]
        assert message in logs
        # A failed update does not block the next one.
        fixed = api.put(f"{EP}/fraud-scorer/config", json={"served_entities": [entity("ok")]})
        assert fixed.json()["pending_config"]["config_version"] == 2
        emu.advance(31)
        assert api.get(f"{EP}/fraud-scorer").json()["state"]["config_update"] == "NOT_UPDATING"
    finally:
        api.close()
        emu.close()


def test_failing_first_create_is_not_ready() -> None:
    emu = make_emulator(fail_updates=True)
    api = Api(emu)
    try:
        api.post(EP, json=create_body())
        emu.advance(31)
        ep = api.get(f"{EP}/fraud-scorer").json()
        assert ep["state"] == {"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}
        assert "config" not in ep
        states = {
            e["name"]: e["state"]["deployment"] for e in ep["pending_config"]["served_entities"]
        }
        assert sorted(states.values()) == ["DEPLOYMENT_ABORTED", "DEPLOYMENT_FAILED"]
    finally:
        api.close()
        emu.close()


def test_switching_between_external_and_custom_is_rejected(
    api: Api, emu: Emulator[ManualClock]
) -> None:
    api.post(EP, json=create_body())
    emu.advance(31)
    external = {
        "served_entities": [
            {"external_model": {"provider": "openai", "name": "gpt", "task": "llm/v1/chat"}}
        ]
    }
    r = api.put(f"{EP}/fraud-scorer/config", json=external)
    assert (r.status_code, error_code(r)) == (400, "INVALID_PARAMETER_VALUE")


def test_seed_endpoint_is_ready_at_once(api: Api, emu: Emulator[ManualClock]) -> None:
    seeded = emu.seed_endpoint(create_body(name="drifted"), creator="someone@example.com")
    assert seeded["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert seeded["creator"] == "someone@example.com"
    got = api.get(f"{EP}/drifted").json()
    assert got["config"]["config_version"] == 1
    assert got["id"] == seeded["id"]
    pending = emu.seed_endpoint(create_body(name="rolling"), ready=False)
    assert pending["state"]["config_update"] == "IN_PROGRESS"


def test_update_seconds_zero_is_immediate() -> None:
    emu = make_emulator(update_seconds=0.0)
    api = Api(emu)
    try:
        ep = api.post(EP, json=create_body()).json()
        assert ep["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    finally:
        api.close()
        emu.close()
