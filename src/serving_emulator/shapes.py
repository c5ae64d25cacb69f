"""Read-side shapes: stored endpoints rendered as the API returns them (pure functions).

Adds the output-only fields (timestamps in ms, state, config_version, served-entity state,
`served_models` mirror, both route name keys, task, endpoint_url, permission_level), leaves out
what the real API never echoes (legacy rate limits, budget_policy_id, plaintext secrets, which are
not even stored), and orders keyed lists by a seeded shuffle so clients must compare them as sets.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from typing import TypeVar

from . import invocations, lifecycle
from .lifecycle import Doc

T = TypeVar("T")

_MIRRORED_FIELDS = (
    "workload_size",
    "workload_type",
    "scale_to_zero_enabled",
    "min_provisioned_concurrency",
    "max_provisioned_concurrency",
    "provisioned_model_units",
    "environment_vars",
    "instance_profile_arn",
)


class Shuffler:
    """Deterministic reordering of keyed lists; the same seed and key give the same order."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed

    def order(self, items: Sequence[T], key: str) -> list[T]:
        if self._seed is None or len(items) < 2:
            return list(items)
        return [items[i] for i in _permutation(self._seed, key, len(items))]


@functools.lru_cache(maxsize=1 << 16)
def _permutation(seed: int, key: str, size: int) -> tuple[int, ...]:
    """The order `random.Random(f"{seed}:{key}").shuffle` gives a list of `size` items.

    A shuffle's swaps depend only on the generator and the list's length, so shuffling the
    indices once and reusing them gives the same order as shuffling each list; seeding a
    generator from a string (a SHA-512 and a Mersenne Twister set-up) is the costly part, and
    every read renders the same few keys again.
    """
    indices = list(range(size))
    random.Random(f"{seed}:{key}").shuffle(indices)
    return tuple(indices)


def _entity_state(doc: Doc, block: str, entity: Doc, now_ms: int) -> tuple[str, str]:
    if block == "config":
        if doc.get("stopped"):
            return "DEPLOYMENT_ABORTED", "The endpoint is stopped."
        return "DEPLOYMENT_READY", ""
    if lifecycle.is_updating(doc, now_ms):
        return "DEPLOYMENT_CREATING", "The served entity is being deployed."
    failure = doc["pending"]["failure"]
    if failure["entity"] == entity["name"]:
        return "DEPLOYMENT_FAILED", failure["message"]
    return "DEPLOYMENT_ABORTED", f"Deployment aborted because '{failure['entity']}' failed."


def _config_out(
    doc: Doc, block: str, now_ms: int, shuffler: Shuffler, *, report_workload_type: bool
) -> Doc:
    src = doc[block]
    key = f"{doc['id']}:{block}:{src['config_version']}"
    entities: list[Doc] = []
    models: list[Doc] = []
    for entity in src["served_entities"]:
        deployment, message = _entity_state(doc, block, entity, now_ms)
        state = {"deployment": deployment, "deployment_state_message": message}
        out = {k: v for k, v in entity.items() if k != "creation_ms"}
        if not report_workload_type and out.get("workload_type") == "CPU":
            del out["workload_type"]
        out["creation_timestamp"] = entity["creation_ms"]
        out["state"] = state
        entities.append(out)
        if "external_model" not in entity:
            # External models have no legacy served_models representation.
            model = {
                "name": entity["name"],
                "model_name": entity["entity_name"],
                "model_version": entity["entity_version"],
            }
            model.update({k: out[k] for k in _MIRRORED_FIELDS if k in out})
            model.update(
                creator=entity["creator"],
                creation_timestamp=entity["creation_ms"],
                state=dict(state),
            )
            models.append(model)
    routes = [
        {
            "served_entity_name": r["served_entity_name"],
            "served_model_name": r["served_entity_name"],
            "traffic_percentage": r["traffic_percentage"],
        }
        for r in src["traffic_config"]["routes"]
    ]
    config: Doc = {
        "config_version": src["config_version"],
        "served_entities": shuffler.order(entities, f"{key}:entities"),
    }
    if models:
        config["served_models"] = shuffler.order(models, f"{key}:entities")
    config["traffic_config"] = {"routes": shuffler.order(routes, f"{key}:routes")}
    if src.get("auto_capture_config"):
        config["auto_capture_config"] = dict(src["auto_capture_config"])
    if block == "pending":
        config["start_time"] = src["start_ms"]
    return config


def to_json(value: object) -> str:
    """`value` as JSON exactly as Starlette's JSONResponse renders it (before UTF-8 encoding)."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )


def _first_entity(doc: Doc) -> Doc | None:
    for block in ("config", "pending"):
        for entity in (doc.get(block) or {}).get("served_entities", []):
            return dict(entity)
    return None


def served_kind(doc: Doc) -> str | None:
    """'external', 'foundation' or 'custom' (an endpoint serves one kind); None without config."""
    entity = _first_entity(doc)
    return invocations.entity_kind(entity) if entity is not None else None


# The API's endpoint_type per kind of served entity (see tests/emulator/test_day2.py for the
# sources and which value is the emulator's choice).
_ENDPOINT_TYPES = {
    "external": "EXTERNAL_MODEL",
    "foundation": "FOUNDATION_MODEL_API",
    "custom": "CUSTOM_MODEL",
}


def _kind_fields(doc: Doc) -> Doc:
    """`task` (for an endpoint serving LLMs: external or foundation models) and
    `endpoint_type`, from what the endpoint serves; nothing without a config."""
    entity = _first_entity(doc)
    if entity is None:
        return {}
    task = invocations.entity_task(entity)
    out: Doc = {"task": task} if task else {}
    out["endpoint_type"] = _ENDPOINT_TYPES[invocations.entity_kind(entity)]
    return out


def tags_out(doc: Doc, shuffler: Shuffler) -> list[Doc]:
    return shuffler.order([dict(t) for t in doc["tags"]], f"{doc['id']}:tags")


def detailed(
    doc: Doc,
    *,
    now_ms: int,
    permission_level: str,
    base_url: str,
    shuffler: Shuffler,
    report_workload_type: bool = True,
) -> Doc:
    """ServingEndpointDetailed for a settled stored endpoint."""
    out: Doc = {
        "name": doc["name"],
        "id": doc["id"],
        "creator": doc["creator"],
        "creation_timestamp": doc["creation_ms"],
        "last_updated_timestamp": lifecycle.last_updated_ms(doc, now_ms),
        "state": lifecycle.status(doc, now_ms),
    }
    if doc.get("config"):
        out["config"] = _config_out(
            doc, "config", now_ms, shuffler, report_workload_type=report_workload_type
        )
    if doc.get("pending"):
        out["pending_config"] = _config_out(
            doc, "pending", now_ms, shuffler, report_workload_type=report_workload_type
        )
    out["permission_level"] = permission_level
    out["route_optimized"] = bool(doc.get("route_optimized"))
    if doc.get("route_optimized"):
        out["endpoint_url"] = f"{base_url.rstrip('/')}/serving-endpoints/{doc['name']}/invocations"
    out["description"] = doc.get("description") or ""
    if doc["tags"]:
        out["tags"] = tags_out(doc, shuffler)
    for key in ("ai_gateway", "email_notifications", "telemetry_config"):
        if doc.get(key):
            out[key] = doc[key]
    if doc.get("uc_system_metrics_export_state"):
        out["uc_system_metrics_export_state"] = doc["uc_system_metrics_export_state"]
    if doc.get("budget_policy_id"):
        out["effective_budget_policy_id"] = doc["budget_policy_id"]
    out.update(_kind_fields(doc))
    return out


def summary(doc: Doc, *, now_ms: int, shuffler: Shuffler) -> Doc:
    """ServingEndpoint as it appears in the list response (no scaling, traffic or pending)."""
    out: Doc = {
        "name": doc["name"],
        "id": doc["id"],
        "creator": doc["creator"],
        "creation_timestamp": doc["creation_ms"],
        "last_updated_timestamp": lifecycle.last_updated_ms(doc, now_ms),
        "state": lifecycle.status(doc, now_ms),
        "description": doc.get("description") or "",
    }
    active = doc.get("config")
    if active:
        key = f"{doc['id']}:config:{active['config_version']}:entities"
        specs: list[Doc] = []
        models: list[Doc] = []
        for entity in active["served_entities"]:
            spec = {"name": entity["name"]}
            for k in ("entity_name", "entity_version", "external_model"):
                if k in entity:
                    spec[k] = entity[k]
            specs.append(spec)
            if "external_model" not in entity:
                models.append(
                    {
                        "name": entity["name"],
                        "model_name": entity["entity_name"],
                        "model_version": entity["entity_version"],
                    }
                )
        out["config"] = {"served_entities": shuffler.order(specs, key)}
        if models:
            out["config"]["served_models"] = shuffler.order(models, key)
    if doc["tags"]:
        out["tags"] = tags_out(doc, shuffler)
    if doc.get("ai_gateway"):
        out["ai_gateway"] = doc["ai_gateway"]
    if doc.get("telemetry_config"):
        out["telemetry_config"] = doc["telemetry_config"]
    if doc.get("usage_policy_id"):  # list only: not in the detailed GET (SDK types)
        out["usage_policy_id"] = doc["usage_policy_id"]
    out.update(_kind_fields(doc))
    return out
