"""Fidelity check: the official databricks-sdk WorkspaceClient against a served emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import serving

from .conftest import SP_APP_ID, served_workspace


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with served_workspace(tmp_path, monkeypatch, update_seconds=0.3) as url:
        yield url


def test_sdk_runs_the_full_lifecycle_with_oauth_m2m(served: str) -> None:
    w = WorkspaceClient(host=served, client_id=SP_APP_ID, client_secret="s3cret")
    api = w.serving_endpoints
    timeout = timedelta(seconds=30)
    created = api.create_and_wait(
        "fraud-scorer",
        config=serving.EndpointCoreConfigInput(
            name="fraud-scorer",
            served_entities=[
                serving.ServedEntityInput(
                    entity_name="main.risk.fraud",
                    entity_version="7",
                    workload_size="Small",
                    scale_to_zero_enabled=True,
                )
            ],
        ),
        tags=[serving.EndpointTag(key="team", value="risk")],
        timeout=timeout,
    )
    assert created.state is not None
    assert created.state.config_update == serving.EndpointStateConfigUpdate.NOT_UPDATING
    assert created.creator == SP_APP_ID
    assert created.id is not None

    got = api.get("fraud-scorer")
    assert got.config is not None
    assert got.config.served_entities is not None
    assert got.config.served_entities[0].name == "fraud-7"
    assert got.permission_level == serving.ServingEndpointDetailedPermissionLevel.CAN_MANAGE
    assert [e.name for e in api.list()] == ["fraud-scorer"]

    updated = api.update_config_and_wait(
        "fraud-scorer",
        served_entities=[
            serving.ServedEntityInput(
                name="champion",
                entity_name="main.risk.fraud",
                entity_version="8",
                workload_size="Small",
                scale_to_zero_enabled=False,
            )
        ],
        timeout=timeout,
    )
    assert updated.config is not None
    assert updated.config.config_version == 2

    tags = api.patch(
        "fraud-scorer", add_tags=[serving.EndpointTag(key="tier", value="1")], delete_tags=["team"]
    )
    assert tags.tags is not None
    assert {t.key for t in tags.tags} == {"tier"}
    gateway = api.put_ai_gateway(
        "fraud-scorer",
        usage_tracking_config=serving.AiGatewayUsageTrackingConfig(enabled=True),
        rate_limits=[
            serving.AiGatewayRateLimit(
                renewal_period=serving.AiGatewayRateLimitRenewalPeriod.MINUTE, calls=100
            )
        ],
    )
    assert gateway.usage_tracking_config is not None
    assert gateway.usage_tracking_config.enabled is True

    endpoint_id = created.id
    level = serving.ServingEndpointPermissionLevel
    replaced = api.set_permissions(
        endpoint_id,
        access_control_list=[
            serving.ServingEndpointAccessControlRequest(
                service_principal_name=SP_APP_ID, permission_level=level.CAN_MANAGE
            )
        ],
    )
    assert replaced.object_id == f"/serving-endpoints/{endpoint_id}"
    merged = api.update_permissions(
        endpoint_id,
        access_control_list=[
            serving.ServingEndpointAccessControlRequest(
                user_name="alice@example.com", permission_level=level.CAN_QUERY
            )
        ],
    )
    assert merged.access_control_list is not None
    names = {
        a.user_name or a.group_name or a.service_principal_name for a in merged.access_control_list
    }
    assert names == {SP_APP_ID, "alice@example.com", "admins"}
    read = api.get_permissions(endpoint_id)
    assert read.object_type == "serving-endpoint"
    levels = api.get_permission_levels(endpoint_id)
    assert levels.permission_levels is not None

    logs = api.build_logs("fraud-scorer", "champion")
    assert logs.logs is not None
    assert "champion" in logs.logs

    api.delete("fraud-scorer")
    assert list(api.list()) == []


def test_sdk_with_a_personal_access_token(served: str) -> None:
    w = WorkspaceClient(host=served, token="dapi-alice")
    me = w.current_user.me()
    assert me.user_name == "alice@example.com"
    assert list(w.serving_endpoints.list()) == []
    with pytest.raises(Exception, match="does not exist") as info:
        w.serving_endpoints.get("missing")
    assert type(info.value).__name__ == "ResourceDoesNotExist"
