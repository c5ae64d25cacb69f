"""Semantic rules: table-driven, one problem per case, exact messages; valid shapes pass."""

from __future__ import annotations

import pytest

from servingops import loader, normalize, rules


def check(text: str) -> list[str]:
    (doc,) = loader.load_text(text, path="e.yaml").documents
    return [
        f"{d.source}: {d.severity.value}: {d.pointer}: {d.summary}"
        for d in rules.check_document(doc)
    ]


LEGACY_LIMITS_WARNING = (
    "e.yaml:2:1: warning: rate_limits: rate_limits is the legacy form and is sent as "
    "ai_gateway.rate_limits (PUT ai-gateway); move the limits under ai_gateway"
)


def external(provider: str, block: str, extra: str = "") -> str:
    return (
        "name: x\nconfig:\n  served_entities:\n    - external_model:\n"
        f"        provider: {provider}\n        name: m\n        task: llm/v1/chat\n"
        f"        {block}{extra}\n"
    )


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ({"external_model": {"name": "gpt-4o.mini:1"}}, "gpt-4o-mini-1"),
        ({"entity_name": "main.risk.fraud", "entity_version": "7"}, "fraud-7"),
        ({"entity_name": "ads-model", "entity_version": 3}, "ads-model-3"),
        ({"model_name": "a.b.c", "model_version": "2"}, "c-2"),
        ({"entity_name": "main.risk.fraud"}, None),
        ({"external_model": {}}, None),
    ],
)
def test_default_entity_name(entity: dict[str, object], expected: str | None) -> None:
    assert normalize.default_entity_name(entity) == expected


@pytest.mark.parametrize(
    "text",
    [
        "name: ok_name-1\n",
        external("openai", "openai_config: {openai_api_key: '{{secrets/s/k}}'}"),
        external(
            "openai",
            "openai_config: {microsoft_entra_client_secret: '{{secrets/s/k}}', "
            "openai_api_type: azuread, openai_api_base: b, openai_api_version: v}",
        ),
        external(
            "amazon-bedrock",
            "amazon_bedrock_config: {aws_region: us-east-1, "
            "bedrock_provider: Anthropic, instance_profile_arn: arn}",
        ),
        external(
            "custom",
            "custom_provider_config: {custom_provider_url: u, "
            "bearer_token_auth: {token: '{{secrets/s/t}}'}}",
        ),
        "name: x\nai_gateway:\n  rate_limits:\n"
        "    - {key: user, renewal_period: minute, calls: 1}\n"
        "    - {key: user, renewal_period: minute, tokens: 9}\n",
        "name: x\nconfig:\n  served_entities:\n    - {entity_name: a.b, entity_version: '1'}\n",
        external("openai", "openai_config: {openai_api_key: '{{secrets/s/k}}'}")
        + "telemetry_config: {}\n",
        "name: x\ntelemetry_config:\n",
    ],
)
def test_valid_documents_have_no_findings(text: str) -> None:
    assert check(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: ''\n",
            "e.yaml:1:7: error: name: endpoint name is empty; use 1-63 letters, digits, '-' or '_'",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {name: 'a b', entity_name: m}\n",
            "e.yaml:4:14: error: config.served_entities[0].name: served entity name 'a b' may "
            "only contain letters, digits, '-' and '_'",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: m, workload_size: XL}\n",
            "e.yaml:4:39: warning: config.served_entities[0].workload_size: workload_size 'XL' "
            "is not Small, Medium or Large; it is valid only if your workspace defines that size",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: m, "
            "min_provisioned_throughput: 9, max_provisioned_throughput: '3'}\n",
            "e.yaml:4:52: error: config.served_entities[0].min_provisioned_throughput: "
            "min_provisioned_throughput 9 is greater than max_provisioned_throughput 3",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {name: a, entity_name: m}\n"
            "  traffic_config:\n    routes:\n      - {traffic_percentage: 100}\n",
            "e.yaml:7:9: error: config.traffic_config.routes[0]: route needs served_entity_name",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {name: a, entity_name: m}\n"
            "  traffic_config:\n    routes:\n      - {served_entity_name: a, served_model_name: b, "
            "traffic_percentage: 100}\n",
            "e.yaml:7:33: error: config.traffic_config.routes[0].served_model_name: "
            "served_model_name differs from served_entity_name; keep only served_entity_name",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {name: a, entity_name: m}\n"
            "  traffic_config:\n    routes:\n      - {served_entity_name: a, "
            "traffic_percentage: '101'}\n",
            (
                "e.yaml:6:5: error: config.traffic_config.routes: traffic percentages sum to "
                "101; they must sum to 100",
                "e.yaml:7:53: error: config.traffic_config.routes[0].traffic_percentage: must "
                "be at most 100, got 101",
            ),
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: m.s.f, entity_version: 1}\n"
            "    - {entity_name: n.t.f, entity_version: 1}\n"
            "  traffic_config: {routes: [{served_entity_name: f-1, traffic_percentage: 100}]}\n",
            "e.yaml:5:7: error: config.served_entities[1]: this served entity gets the default "
            "name 'f-1', which config.served_entities[0] (its default name) already uses; "
            "give it a distinct name",
        ),
        (
            external("openai", "openai_config: {}"),
            "e.yaml:8:24: error: config.served_entities[0].external_model.openai_config: "
            "openai_config needs openai_api_key or microsoft_entra_client_secret (as "
            "{{secrets/<scope>/<key>}})",
        ),
        (
            external(
                "openai",
                "openai_config: {openai_api_key: '{{secrets/s/k}}', "
                "openai_api_type: azure, openai_api_base: b}",
            ),
            "e.yaml:8:24: error: config.served_entities[0].external_model.openai_config: Azure "
            "OpenAI (openai_api_type 'azure') needs openai_api_version",
        ),
        (
            external(
                "amazon-bedrock",
                "amazon_bedrock_config: {aws_region: r, "
                "bedrock_provider: amazon, aws_access_key_id: '{{secrets/s/k}}'}",
            ),
            "e.yaml:8:32: error: config.served_entities[0].external_model.amazon_bedrock_config: "
            "amazon_bedrock_config needs aws_secret_access_key (as {{secrets/<scope>/<key>}}), "
            "or instance_profile_arn, or uc_service_credential_name",
        ),
        (
            external(
                "custom",
                "custom_provider_config: {custom_provider_url: u, "
                "api_key_auth: {key: X-Key, value_plaintext: s3cret}}",
            ),
            "e.yaml:8:85: error: config.served_entities[0].external_model.custom_provider_config"
            ".api_key_auth.value_plaintext: value_plaintext would put a secret in git; store it "
            'in a Databricks secret scope and set value: "{{secrets/<scope>/<key>}}" instead',
        ),
        (
            external(
                "custom",
                "custom_provider_config: {custom_provider_url: u, api_key_auth: {key: X-Key}}",
            ),
            "e.yaml:8:72: error: config.served_entities[0].external_model.custom_provider_config"
            ".api_key_auth: api_key_auth needs value (as {{secrets/<scope>/<key>}})",
        ),
        (
            external("palm", "palm_config: {palm_api_key: '{{secrets/only-scope}}'}"),
            "e.yaml:8:37: error: config.served_entities[0].external_model.palm_config."
            "palm_api_key: palm_api_key must be a secret reference like "
            "{{secrets/<scope>/<key>}}, not a literal value",
        ),
        (
            "name: x\ntags: [{key: servingops-owner, value: me}]\n",
            "e.yaml:2:14: error: tags[0].key: tag 'servingops-owner' is managed by servingops "
            "(from the project's owner); remove it",
        ),
        (
            "name: x\ntags: {servingops-applied: x}\n",
            "e.yaml:2:8: error: tags.servingops-applied: tag 'servingops-applied' is managed by "
            "servingops (what apply sent); remove it",
        ),
        (
            "name: x\nrate_limits:\n  - {calls: 1, renewal_period: minute}\n"
            "  - {calls: 2, renewal_period: minute, key: endpoint}\n",
            (
                LEGACY_LIMITS_WARNING,
                "e.yaml:4:5: error: rate_limits[1]: another calls limit (rate_limits[0]) has key "
                "'endpoint'; keep one",
            ),
        ),
        (
            # Legacy top-level limits are managed as AI-gateway limits (the API's successor:
            # databricks-sdk-py ServingEndpointsAPI.put "Deprecated: Please use AI Gateway to
            # manage rate limits instead"): said, like served_models, never silent.
            "name: x\nrate_limits:\n  - {calls: 1, renewal_period: minute}\n",
            LEGACY_LIMITS_WARNING,
        ),
        (
            "name: x\nai_gateway:\n  rate_limits:\n"
            "    - {key: user_group, principal: g, renewal_period: minute, calls: 1}\n"
            "    - {key: user_group, principal: g, renewal_period: minute, calls: 2}\n",
            "e.yaml:5:7: error: ai_gateway.rate_limits[1]: another calls limit "
            "(ai_gateway.rate_limits[0]) has key 'user_group' and principal 'g'; keep one",
        ),
        (
            # Catalog and schema are "Required when enabling inference tables" (databricks-sdk-py
            # serving.py AiGatewayInferenceTableConfig); a block without `enabled` was silently
            # left out of the create body, so every accepted block must say what it does.
            "name: x\nai_gateway:\n  inference_table_config: {catalog_name: c}\n",
            "e.yaml:3:3: error: ai_gateway.inference_table_config: inference_table_config "
            "needs enabled: true (with catalog_name and schema_name) to log requests, or "
            "enabled: false",
        ),
        (
            "name: x\nai_gateway:\n  inference_table_config: {catalog_name: c, enabled: true}\n",
            "e.yaml:3:3: error: ai_gateway.inference_table_config: enabled inference tables "
            "need schema_name (the API requires catalog_name and schema_name when enabling)",
        ),
        (
            # The server names an unnamed entity <entity_name's last part>-<version> (external:
            # the model name with '.' and ':' turned into '-'; databricks-sdk-py ServedEntityInput
            # .name) and rejects the request when that name is not a valid served-entity name.
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: main.ml."
            + "m" * 62
            + ", entity_version: '12', scale_to_zero_enabled: false}\n",
            "e.yaml:4:7: error: config.served_entities[0]: this served entity has no name and "
            "its default name 'mmmmmmmmmmmmmmmmmmmm...mmmmmmm-12' (from entity_name and "
            "entity_version) is 65 characters long, over the limit of 63; give it a name",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: My Model, "
            "entity_version: '1', scale_to_zero_enabled: false}\n",
            "e.yaml:4:7: error: config.served_entities[0]: this served entity has no name and "
            "its default name 'My Model-1' (from entity_name and entity_version) may only contain "
            "letters, digits, '-' and '_'; give it a name",
        ),
        (
            external(
                "custom",
                "custom_provider_config: {custom_provider_url: u, "
                "bearer_token_auth: {token: '{{secrets/s/t}}'}}",
            ).replace("name: m", "name: meta/llama@3"),
            "e.yaml:4:7: error: config.served_entities[0]: this served entity has no name and "
            "its default name 'meta/llama@3' (from external_model.name) may only contain "
            "letters, digits, '-' and '_'; give it a name",
        ),
        (
            "name: x\nconfig:\n  served_entities:\n    - {name: "
            + "n" * 64
            + ", entity_name: m, entity_version: '1', scale_to_zero_enabled: false}\n",
            "e.yaml:4:14: error: config.served_entities[0].name: served entity name is 64 "
            "characters long; the limit is 63",
        ),
        (
            # A telemetry config naming no profile and no tables is discarded by the workspace
            # (databricks/cli libs/testserver/serving_endpoints.go applyTelemetryConfig:
            # "discards configs that identify no profile"): a perpetual diff, so an error.
            "name: x\nconfig:\n  served_entities:\n    - {name: a, entity_name: m, "
            "entity_version: '1', scale_to_zero_enabled: false}\n"
            "telemetry_config: {inference_table_config: {sampling_fraction: 0.5}}\n",
            "e.yaml:5:1: error: telemetry_config: telemetry_config needs telemetry_profile_id or "
            "table_names (write telemetry_config: {} to remove telemetry)",
        ),
    ],
)
def test_rule_messages(text: str, expected: str | tuple[str, ...]) -> None:
    assert check(text) == ([expected] if isinstance(expected, str) else list(expected))


def test_rules_tolerate_malformed_documents() -> None:
    for text in [
        "- 1\n",
        "name: 1\nconfig: []\n",
        "name: x\nconfig: {served_entities: [1, {external_model: 3}], traffic_config: []}\n",
        "name: x\nconfig: {served_entities: [{external_model: {provider: 1, x_config: 2}}]}\n",
        "name: x\nconfig: {traffic_config: {routes: [{served_entity_name: [1]}, 3]}}\n",
        "name: x\ntags: [1, {key: [2]}]\npermissions: [1, {user_name: [x], permission_level: 1}]\n",
        "name: x\nai_gateway: {rate_limits: [1, {key: [1]}]}\nrate_limits: 7\n",
        "name: x\nconfig: {served_entities: [{external_model: {provider: openai, "
        "openai_config: 5}}]}\n",
    ]:
        check(text)


def test_unique_names_across_documents() -> None:
    first = loader.load_text("name: a\n---\nname: b\n", path="one.yaml").documents
    second = loader.load_text("- x\n---\nname: a\n", path="two.yaml").documents
    found = rules.check_unique_names([*first, *second])
    assert [f"{d.source}: {d.summary}" for d in found] == [
        "two.yaml:3:7: endpoint name 'a' is already used at one.yaml:1:7; endpoint names "
        "must be unique"
    ]
