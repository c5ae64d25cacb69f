"""The field registry (fields.py) and the published JSON Schema agree field by field, and the
registry's entries are consistent with themselves.

The schema is the user-facing contract (what a file may say); the registry is what servingops
knows about each field (who sets it, how it is compared, which call carries it). A field added
to one and not the other fails here, which is the point: adding an API field is one registry
entry plus the schema property, checked together.
"""

from __future__ import annotations

from typing import Any

import pytest

from servingops import fields
from servingops.fields import ANY, Compare, Field, Source
from servingops.model import Carrier
from tests.unit.test_field_coverage import resolve, schema_leaves, schema_node

# Every schema leaf by its pointer (`[]` any list item, `*` any mapping key), with its node.
SCHEMA_LEAVES = {".".join(leaf).replace(".[]", "[]"): schema_node(leaf) for leaf in schema_leaves()}
# Blocks (an entry with entries under it) carry facts for what they hold, such as the call that
# changes it; the fields themselves are the leaves. A keyed list's entry documents its key.
BLOCKS = {
    f.path
    for f in fields.FIELDS
    for g in fields.FIELDS
    if g.path[: len(f.path)] == f.path != g.path
}
REGISTERED = {
    pointer: f
    for f in fields.FIELDS
    if f.path not in BLOCKS or f.compare is Compare.KEYED
    for pointer in f.pointers
    if pointer != "-"
}


def test_every_schema_field_has_a_registry_entry() -> None:
    missing = sorted(set(SCHEMA_LEAVES) - set(REGISTERED))
    assert missing == [], "add these schema fields to src/servingops/fields.py"


def test_every_registry_entry_is_in_the_schema() -> None:
    unknown = sorted(set(REGISTERED) - set(SCHEMA_LEAVES))
    assert unknown == [], "these registry entries name fields the schema does not have"


def _types(node: dict[str, Any]) -> set[str]:
    for key in ("oneOf", "anyOf"):
        if key in node:
            return {t for option in node[key] for t in _types(resolve(option))}
    declared = node.get("type")
    if declared is None:
        return {"string"} if "enum" in node else {"object"}
    return set(declared) if isinstance(declared, list) else {declared}


@pytest.mark.parametrize("pointer", sorted(SCHEMA_LEAVES))
def test_types_agree(pointer: str) -> None:
    field = REGISTERED[pointer]
    if field.type == "object" and field.compare is not Compare.KEYED:
        return  # one entry stands for a whole block, compared (or not) as one value
    # An entry's other pointers either write the same value elsewhere (the legacy
    # `served_models` twin: same last part) or name the key of a keyed list (a string).
    is_value = pointer.rsplit(".", 1)[-1] == field.pointers[0].rsplit(".", 1)[-1]
    expected = field.type if is_value and field.compare is not Compare.KEYED else "string"
    declared = _types(SCHEMA_LEAVES[pointer])
    assert expected in declared, f"{pointer}: registry says {expected}, schema {declared}"
    if field.integer_text and is_value:
        assert declared == {"integer", "string"}, f"{pointer}: integers may be written as text"


def test_entries_are_unique_and_complete() -> None:
    paths = [f.path for f in fields.FIELDS]
    assert len(paths) == len(set(paths)), "a path is registered twice"
    for f in fields.FIELDS:
        if f.carrier in (Carrier.RECREATE, Carrier.NONE):
            assert f.reason, f"{f.path}: say why a change cannot be made in place"
        if f.source is Source.DEFAULT:
            assert f.default is not None, f"{f.path}: a server default needs its value"
        if f.compare is Compare.DIGEST:
            assert f.source is Source.WRITE_ONLY, f"{f.path}: only write-only fields use a digest"
        if f.source in (Source.SERVINGOPS, Source.REJECTED):
            assert f.compare is Compare.NONE, f"{f.path}: never sent, so never compared"


def test_every_compared_field_has_a_carrier() -> None:
    for f in fields.FIELDS:
        if f.compare is Compare.NONE or (f.source is Source.DERIVED and not f.carrier):
            continue
        carrier, _ = fields.carrier_for(f.path)
        assert carrier is not Carrier.NONE or f.reason, f"{f.path}: no API call carries it"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("config", "served_entities", "champion", "workload_size"), Carrier.CONFIG),
        (("config", "traffic", "champion"), Carrier.CONFIG),
        (("tags", "team"), Carrier.TAGS),
        (("ai_gateway", "rate_limits", "user/calls/minute", "calls"), Carrier.AI_GATEWAY),
        (("ai_gateway", "inference_table_config", "catalog_name"), Carrier.AI_GATEWAY),
        (("config", "auto_capture_config", "catalog_name"), Carrier.RECREATE),
        (("description",), Carrier.RECREATE),
        (("budget_policy_id",), Carrier.NONE),
        (("permissions", "group:x"), Carrier.PERMISSIONS),
        (("state",), Carrier.RUN_STATE),
        (("telemetry_config", "enabled_telemetry_features"), Carrier.TELEMETRY),
    ],
)
def test_the_nearest_carrier_wins(path: tuple[str, ...], expected: Carrier) -> None:
    assert fields.carrier_for(path)[0] is expected


def test_lookups_follow_wildcards_and_stop_at_unknown_fields() -> None:
    size = fields.exact(("config", "served_entities", "any-name", "workload_size"))
    assert size is not None
    assert size.path == ("config", "served_entities", ANY, "workload_size")
    # Output-only fields of a served entity are unknown to the registry: left out.
    assert not fields.compared(("config", "served_entities", "a", "creator"))
    assert not fields.compared(("config", "served_entities", "a", "state"))
    # Write-only values are compared through their digest, not in the body.
    assert not fields.compared(("config", "served_entities", "a", "burst_scaling_enabled"))
    # Plaintext secrets are rejected, never compared.
    plaintext = ("config", "served_entities", "a", "external_model", "openai_config")
    assert not fields.compared((*plaintext, "openai_api_key_plaintext"))
    assert fields.compared((*plaintext, "openai_api_key"))
    # An opaque object counts as a whole.
    assert fields.compared(("telemetry_config", "table_names", "logs_table"))


def test_masking_reads_the_registry() -> None:
    env = ("config", "served_entities", "a", "environment_vars", "API_KEY")
    assert fields.is_masked(env, "plain text")
    assert not fields.is_masked(env, "{{secrets/scope/key}}")
    assert not fields.is_masked(("tags", "team"), "plain text")


def test_a_field_description_is_readable() -> None:
    # What a reviewer of the registry sees for one entry.
    field: Field | None = fields.exact(("config", "served_entities", "x", "scale_to_zero_enabled"))
    assert field is not None
    assert (field.source, field.default, field.required) == (Source.DEFAULT, False, True)
    assert field.pointers == (
        "config.served_entities[].scale_to_zero_enabled",
        "config.served_models[].scale_to_zero_enabled",
    )
