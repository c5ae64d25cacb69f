"""The packaged schemas: valid draft 2020-12, strict, documented, and worded messages."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from servingops import loader, schema
from servingops.model import SourceRef

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = (schema.ENDPOINT_SCHEMA, schema.PROJECT_SCHEMA)


def walk_schemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_schemas(value, f"{where}/{i}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    document = schema.load_schema(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith(name)
    Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("name", SCHEMAS)
def test_published_file_is_the_packaged_file(name: str) -> None:
    assert json.loads((REPO / "schemas" / name).read_text()) == schema.load_schema(name)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_object_is_closed_and_every_property_described(name: str) -> None:
    for where, node in walk_schemas(schema.load_schema(name)):
        types = node.get("type")
        types = [types] if isinstance(types, str) else types or []
        if "object" in types and "properties" in node:
            assert node.get("additionalProperties") is False, where
        for prop, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{where}/properties/{prop}"


def test_endpoint_schema_covers_every_provider_block() -> None:
    defs = schema.load_schema(schema.ENDPOINT_SCHEMA)["$defs"]
    providers = defs["external_model"]["properties"]["provider"]["enum"]
    blocks = [k for k in defs["external_model"]["properties"] if k.endswith("_config")]
    assert len(providers) == len(blocks) == 9
    plaintext = [
        p
        for _, node in walk_schemas(defs)
        for p in node.get("properties", {})
        if p.endswith("_plaintext")
    ]
    assert len(plaintext) == 12


@pytest.mark.parametrize("path", sorted((REPO / "endpoints").glob("*.yaml")), ids=lambda p: p.name)
def test_example_endpoint_files_are_schema_valid(path: Path) -> None:
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../schemas/endpoint.schema.json\n"
    )
    result = loader.load_file(path)
    assert result.diagnostics == ()
    assert result.documents
    for document in result.documents:
        assert schema.validate(document) == ()


def test_example_project_file_is_schema_valid() -> None:
    path = REPO / "servingops.yaml"
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=schemas/project.schema.json\n"
    )
    (document,) = loader.load_file(path).documents
    assert schema.validate(document, schema=schema.PROJECT_SCHEMA) == ()


def messages(text: str, name: str = schema.ENDPOINT_SCHEMA) -> list[str]:
    (document,) = loader.load_text(text, path="e.yaml").documents
    return [f"{d.source}: {d.pointer}: {d.summary}" for d in schema.validate(document, schema=name)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nfoo: 1\nbar: 2\n",
            [
                "e.yaml:2:1: foo: unknown key 'foo'; see the schema for the allowed keys",
                "e.yaml:3:1: bar: unknown key 'bar'; see the schema for the allowed keys",
            ],
        ),
        (
            "name: x\nemail_notifications: {on_update_failur: []}\n",
            [
                "e.yaml:2:23: email_notifications.on_update_failur: unknown key "
                "'on_update_failur'; did you mean 'on_update_failure'?",
            ],
        ),
        (
            "name: x\nemail_notifications: {zzz: []}\n",
            [
                "e.yaml:2:23: email_notifications.zzz: unknown key 'zzz'; allowed keys: "
                "on_update_failure, on_update_success",
            ],
        ),
        ("name: 5\n", ['e.yaml:1:7: name: expected a string, got the number 5 (quote it: "5")']),
        ("name: true\n", ['e.yaml:1:7: name: expected a string, got true (quote it: "true")']),
        (
            "name: x\nconfig: {served_entities: {}}\n",
            [
                "e.yaml:2:27: config.served_entities: expected a list, got a mapping",
            ],
        ),
        (
            "name: x\nconfig: {served_entities: [{entity_version: [1]}]}\n",
            [
                "e.yaml:2:45: config.served_entities[0].entity_version: expected a string, "
                "got a list",
            ],
        ),
        (
            "name: x\nconfig: {served_entities: [{max_provisioned_concurrency: -1}]}\n",
            [
                "e.yaml:2:58: config.served_entities[0].max_provisioned_concurrency: must be at "
                "least 0, got -1",
            ],
        ),
        (
            "name: x\nconfig: {served_entities: [{max_provisioned_concurrency: null}]}\n",
            [
                "e.yaml:2:58: config.served_entities[0].max_provisioned_concurrency: expected a "
                "whole number, got nothing",
            ],
        ),
        (
            "name: x\nai_gateway: {guardrails: {input: {pii: {behavior: mask}}}}\n",
            [
                "e.yaml:2:51: ai_gateway.guardrails.input.pii.behavior: 'mask' is not one of "
                "'BLOCK', 'MASK', 'NONE'; did you mean 'MASK'?",
            ],
        ),
        (
            "name: x\nai_gateway: {fallback_config: {}}\n",
            [
                "e.yaml:2:31: ai_gateway.fallback_config: missing required key 'enabled'",
            ],
        ),
        ("- 1\n", ["e.yaml:1:1: : expected a mapping, got a list"]),
    ],
)
def test_endpoint_messages(text: str, expected: list[str]) -> None:
    assert messages(text) == expected


def test_project_messages() -> None:
    text = (
        "owner: x\ntargets:\n  prod:\n    host: adb-1.azuredatabricks.net\n"
        "    variables: {1bad: x}\n  dev: {workspace: remote}\n"
    )
    assert messages(text, schema.PROJECT_SCHEMA) == [
        "e.yaml:4:11: targets.prod.host: expected a URL starting with https://, got "
        "'adb-1.azuredatabricks.net'",
        "e.yaml:5:17: targets.prod.variables.1bad: invalid name '1bad': use letters, digits "
        "and '_', not starting with a digit",
        "e.yaml:6:20: targets.dev.workspace: 'remote' is not one of 'local'",
    ]


# --- a secret field's value never appears in a diagnostic, whatever its type (issue 9, item 11)

_EXTERNAL = (
    "name: x\nconfig:\n  served_entities:\n    - external_model:\n"
    "        provider: {provider}\n        name: m\n        task: llm/v1/chat\n"
    "        {block}:\n"
)
SECRET_SPOTS = {
    "openai_api_key": _EXTERNAL.format(provider="openai", block="openai_config")
    + "          openai_api_key: {value}\n",
    "entra_secret": _EXTERNAL.format(provider="openai", block="openai_config")
    + "          microsoft_entra_client_secret: {value}\n",
    "plaintext_twin": _EXTERNAL.format(provider="openai", block="openai_config")
    + "          openai_api_key_plaintext: {value}\n",
    "aws_secret": _EXTERNAL.format(provider="amazon-bedrock", block="amazon_bedrock_config")
    + "          aws_secret_access_key: {value}\n",
    "custom_api_key": _EXTERNAL.format(provider="custom", block="custom_provider_config")
    + "          api_key_auth: {{key: k, value: {value}}}\n",
    "custom_bearer": _EXTERNAL.format(provider="custom", block="custom_provider_config")
    + "          bearer_token_auth: {{token: {value}}}\n",
    "env_var": "name: x\nconfig:\n  served_entities:\n    - entity_name: a.b.c\n"
    "      entity_version: '1'\n      environment_vars: {{TOKEN: {value}}}\n",
    "legacy_env_var": "name: x\nconfig:\n  served_models:\n    - model_name: a.b.c\n"
    "      model_version: '1'\n      environment_vars: {{TOKEN: {value}}}\n",
}
SECRET_VALUES = {
    "int": ("98765432101", "98765432101"),
    "float": ("31415.9265", "31415.9265"),
    "exponent": ("2.71828e+5", "271828"),
    "negative": ("-4242424242", "4242424242"),
    "bool": ("true", "true"),
}


@pytest.mark.parametrize("value", sorted(SECRET_VALUES))
@pytest.mark.parametrize("spot", sorted(SECRET_SPOTS))
def test_secret_values_are_never_echoed(spot: str, value: str) -> None:
    written, shown = SECRET_VALUES[value]
    found = messages(SECRET_SPOTS[spot].format(value=written))
    leaf = SECRET_SPOTS[spot].rstrip("\n}").rsplit(": ", 2)[-2].rsplit(" ", 1)[-1].lstrip("{")
    secret_lines = [m for m in found if m.split(": ")[1].endswith(leaf)]
    assert secret_lines, found
    for line in secret_lines:
        assert shown not in line.split(": ", 2)[-1], line
        assert "not shown" in line, line


def test_secret_type_error_wording() -> None:
    assert messages(SECRET_SPOTS["openai_api_key"].format(value="12345")) == [
        "e.yaml:9:27: config.served_entities[0].external_model.openai_config.openai_api_key: "
        "expected a string, got a number (not shown: a secret field; write a secret reference "
        'like "{{secrets/<scope>/<key>}}")',
    ]
    assert messages(SECRET_SPOTS["env_var"].format(value="12345")) == [
        "e.yaml:6:33: config.served_entities[0].environment_vars.TOKEN: expected a string, "
        "got a number (not shown: environment variable values may be secret; quote it)",
    ]


def test_ordinary_values_are_still_quoted_back() -> None:
    assert messages("name: x\ntags: {a: 5}\n") == [
        'e.yaml:2:11: tags.a: expected a string, got the number 5 (quote it: "5")'
    ]


# --------------------------------------------------------------------------------------------
# The compiled check (jsonschema-rs) only lets a document skip the full validator (jsonschema),
# which alone words diagnostics: whatever it accepts, the full validator must accept too.

SEEDS = [
    document.data
    for path in sorted((REPO / "endpoints").glob("*.yaml"))
    for document in loader.load_file(path).documents
]
_ENUMS = sorted(
    {
        value
        for _, node in walk_schemas(schema.load_schema(schema.ENDPOINT_SCHEMA))
        for value in node.get("enum", [])
        if isinstance(node.get("enum"), list)
    }
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits too
    | st.floats(allow_nan=False)  # infinities too
    | st.text(st.characters(codec=None), max_size=8)  # lone surrogates too
    | st.sampled_from([*_ENUMS, "12", "12\n", "-1", "@champion", "https://x.io", "", "a-b_c.d"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _places(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _places(value, (*path, i))


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid example with a few values replaced, keys added or keys removed."""
    document = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_places(document))))
        if not path:
            continue
        *parents, last = path
        holder = document
        for part in parents:
            holder = holder[part]
        action = draw(st.sampled_from(["replace", "add", "remove"]))
        if action == "remove" and isinstance(holder, dict):
            del holder[last]
        elif action == "add" and isinstance(holder[last], dict):
            holder[last][draw(st.text(max_size=12))] = draw(_VALUES)
        else:
            holder[last] = draw(_VALUES)
    return document


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_whatever_the_compiled_check_accepts_the_full_validator_accepts(data: Any) -> None:
    if schema._passes(data, schema.ENDPOINT_SCHEMA):
        assert list(schema._validator(schema.ENDPOINT_SCHEMA).iter_errors(data)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Python's `$` also matches before a final newline: jsonschema accepts what the
        # compiled check refuses, and the full validator's word is final.
        (
            "name: x\nconfig:\n  served_entities:\n    - {entity_name: m, entity_version: '1',"
            ' workload_size: Small, min_provisioned_throughput: "12\\n"}\n',
            [],
        ),
        # An integer beyond 64 bits, and infinity, which the compiled check cannot represent.
        (
            "name: x\nconfig:\n  traffic_config:\n    routes:\n"
            "      - {served_entity_name: a, traffic_percentage: 100000000000000000000}\n",
            [
                "e.yaml:5:53: config.traffic_config.routes[0].traffic_percentage: must be at "
                "most 100, got 100000000000000000000"
            ],
        ),
        (
            "name: x\nconfig:\n  traffic_config:\n    routes:\n"
            "      - {served_entity_name: a, traffic_percentage: .inf}\n",
            [
                "e.yaml:5:53: config.traffic_config.routes[0].traffic_percentage: expected a "
                'whole number, got the number inf (quote it: "inf")',
                "e.yaml:5:53: config.traffic_config.routes[0].traffic_percentage: must be at "
                "most 100, got inf",
            ],
        ),
    ],
)
def test_what_the_compiled_check_cannot_judge_the_full_validator_does(
    text: str, expected: list[str]
) -> None:
    assert messages(text) == expected


def test_data_the_compiled_check_cannot_read_goes_to_the_full_validator() -> None:
    # The loader only yields string keys; a caller with other data still gets diagnostics.
    document = loader.LoadedDocument(
        path="e.yaml", index=0, data={"name": "x", 1: "y"}, source=SourceRef(path="e.yaml")
    )
    assert [d.summary for d in schema.validate(document)] == [
        "unknown key '1'; see the schema for the allowed keys"
    ]
