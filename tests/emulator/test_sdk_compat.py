"""Fidelity check: the official databricks-sdk WorkspaceClient against a served emulator.

The workspace-object routes are read through the SDK's own service classes (databricks-sdk-py
service/catalog.py RegisteredModelsAPI and ModelVersionsAPI, service/workspace.py SecretsAPI,
service/iam.py UsersAPI, GroupsAPI and ServicePrincipalsAPI), which fixes their paths, query
parameters, paging loops and response field names.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, OperationFailed, ResourceDoesNotExist
from databricks.sdk.service import catalog, serving

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


OBJECTS = {
    "models": {
        "main.risk.fraud": {
            "versions": {"7": "READY", "8": "READY", "9": "PENDING_REGISTRATION"},
            "aliases": {"champion": "7"},
        }
    },
    "secrets": {"llm": ["openai-key"]},
    "groups": ["risk-analysts"],
    "users": ["ana@example.com"],
    "service_principals": [{"application_id": SP_APP_ID, "display_name": "ci"}],
}


@pytest.fixture
def served_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with served_workspace(
        tmp_path, monkeypatch, update_seconds=0.3, users=None, objects=OBJECTS
    ) as url:
        yield url


def test_sdk_reads_the_registry_secrets_and_principals(served_objects: str) -> None:
    w = WorkspaceClient(host=served_objects, token="dapi-admin")
    model = w.registered_models.get("main.risk.fraud", include_aliases=True)
    assert model.full_name == "main.risk.fraud"
    assert [(a.alias_name, a.version_num) for a in model.aliases or []] == [("champion", 7)]
    assert [m.full_name for m in w.registered_models.list()] == ["main.risk.fraud"]
    pending = w.model_versions.get("main.risk.fraud", 9)
    assert pending.status == catalog.ModelVersionInfoStatus.PENDING_REGISTRATION
    # The SDK pages until next_page_token is absent.
    versions = w.model_versions.list("main.risk.fraud", max_results=2)
    assert sorted(v.version or 0 for v in versions) == [7, 8, 9]
    assert w.model_versions.get_by_alias("main.risk.fraud", "champion").version == 7
    with pytest.raises(NotFound, match="does not exist"):
        w.model_versions.get("main.risk.fraud", 11)
    with pytest.raises(NotFound, match=r"Routine or Model 'main\.risk\.nope' does not exist"):
        w.registered_models.get("main.risk.nope")
    w.registered_models.create(catalog_name="main", schema_name="ml", name="churn")
    assert [m.name for m in w.registered_models.list(catalog_name="main", schema_name="ml")] == [
        "churn"
    ]
    alias = w.registered_models.set_alias("main.risk.fraud", "challenger", 8)
    assert (alias.alias_name, alias.version_num) == ("challenger", 8)

    w.secrets.create_scope("search")
    w.secrets.put_secret("search", "hf-token", string_value="s3cr3t")
    assert {s.name for s in w.secrets.list_scopes()} == {"llm", "search"}
    assert [s.key for s in w.secrets.list_secrets("llm")] == ["openai-key"]
    assert [s.key for s in w.secrets.list_secrets("search")] == ["hf-token"]
    with pytest.raises(ResourceDoesNotExist):
        list(w.secrets.list_secrets("nope"))

    users = list(w.users.list(filter='userName eq "ana@example.com"'))
    assert [u.user_name for u in users] == ["ana@example.com"]
    groups = list(w.groups.list(filter='displayName eq "risk-analysts"'))
    assert [g.display_name for g in groups] == ["risk-analysts"]
    assert list(w.groups.list(filter='displayName eq "nope"')) == []
    sps = list(w.service_principals.list(filter=f'applicationId eq "{SP_APP_ID}"'))
    assert [(s.application_id, s.display_name) for s in sps] == [(SP_APP_ID, "ci")]
    created = w.groups.create(display_name="fraud-oncall")
    assert created.id is not None
    assert w.groups.get(created.id).display_name == "fraud-oncall"


def test_sdk_sees_update_failed_for_a_missing_model_version(served_objects: str) -> None:
    w = WorkspaceClient(host=served_objects, token="dapi-admin")
    api = w.serving_endpoints
    with pytest.raises(OperationFailed, match="UPDATE_FAILED"):
        api.create_and_wait(
            "fraud-scorer",
            config=serving.EndpointCoreConfigInput(
                name="fraud-scorer",
                served_entities=[
                    serving.ServedEntityInput(
                        name="champion",
                        entity_name="main.risk.fraud",
                        entity_version="11",
                        workload_size="Small",
                        scale_to_zero_enabled=True,
                    )
                ],
            ),
            timeout=timedelta(seconds=30),
        )
    got = api.get("fraud-scorer")
    assert got.state is not None
    assert got.state.config_update == serving.EndpointStateConfigUpdate.UPDATE_FAILED
    assert got.pending_config is not None
    assert got.pending_config.served_entities is not None
    served = got.pending_config.served_entities[0]
    assert served.state is not None
    assert served.state.deployment == serving.ServedModelStateDeployment.DEPLOYMENT_FAILED
    assert served.state.deployment_state_message == (
        "Served entity 'champion' failed to deploy: "
        "Model version 11 of main.risk.fraud does not exist."
    )
