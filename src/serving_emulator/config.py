"""EmulatorConfig: every knob of the emulated workspace, with defaults for a quick start; and
EntityFault, the knob that makes one served entity misbehave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ADMIN_USER = "local-admin@example.com"
DEFAULT_WORKSPACE_ID = "1234567890123456"
# "Model serving limits and regions": 1,000 serving endpoints per workspace.
MAX_ENDPOINTS = 1000


@dataclass(frozen=True, kw_only=True)
class EntityFault:
    """A served entity that misbehaves, to simulate a bad model version.

    error_rate: fraction (0.0-1.0) of its queries answered 500 INTERNAL_ERROR. The failures are
        spread exactly, not drawn at random: after n queries, floor(n * error_rate) have failed.
    latency_ms: added to each of its answers (waited for in wall time unless the emulator runs
        on a ManualClock) and to the latency its metrics report.
    """

    error_rate: float = 0.0
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """How the emulated workspace behaves.

    update_seconds: how long a config rollout (create with a config, PUT config, config:start)
        stays IN_PROGRESS before it settles. The deadline is stored with the endpoint, so every
        process sharing one database agrees on when it finishes.
    latency_ms: delay added before answering every API and invocation request.
    fault_rate: fraction (0.0-1.0) of API and invocation requests answered at random with 429,
        500 or 503 before they are processed; the draw is seeded by `fault_seed`.
    fail_updates: when true, every config rollout ends in UPDATE_FAILED.
    failing_versions: (entity_name, entity_version) pairs whose rollout fails; an entity name may
        be given in full (`main.risk.fraud`) or by its last dotted component (`fraud`).
    write_budget_calls / write_budget_seconds: at most this many create and PUT-config calls are
        accepted per sliding window per workspace; beyond it the answer is 429
        REQUEST_LIMIT_EXCEEDED with an integer Retry-After. 0 in either field disables the limit.
    users_file: YAML or JSON file mapping tokens and OAuth clients to users, groups and service
        principals (format in the package docstring). None: any non-empty token and any OAuth
        client id/secret act as `admin_user`, a member of the `admins` group.
    objects: the workspace objects a serving config refers to, as an objects file (YAML or
        JSON) or the same data as a mapping: Unity Catalog models with their versions' statuses
        and aliases, secret scopes with their keys, groups, users and service principals
        (format in the package docstring). Each kind it lists is authoritative; a kind it does
        not list is permissive (any model version exists and is READY, any principal exists).
        Loaded into the database at start-up; `Emulator.seed_objects` adds more later. A rollout
        whose served entity names a Unity Catalog model version that does not exist or is not
        READY ends in UPDATE_FAILED.
    shuffle_seed: keyed lists (served entities, routes, tags, ACL entries) are returned in an
        order shuffled by this seed, stable for a given endpoint state. None keeps stored order.
    routing_seed: seeds the traffic-split draw that picks a served entity for each invocation.
    entity_faults: served entities that misbehave (`EntityFault`), keyed by a target:
        `ENDPOINT/SERVED_ENTITY` (one entity of one endpoint) or `MODEL@VERSION` (every entity
        serving that model version, anywhere; MODEL in full, `main.risk.fraud`, or by its last
        component, `fraud`). Faults set at run time (`Emulator.set_entity_fault`, or
        `PUT /_emulator/entity-faults/{target}`) replace these for the same target.
    max_endpoints: how many serving endpoints the workspace may hold (the documented limit is
        1,000); a create beyond it answers 400 QUOTA_EXCEEDED. Seeding is not limited.
    report_workload_type: when false, GET leaves out a served entity's workload_type while it
        is the default CPU, as workspaces without GPU serving do.
    usage_policy_id: the usage policy the workspace associates with every serving endpoint it
        creates. The list response returns it (databricks-sdk-py ServingEndpoint; the detailed
        GET does not); no serving request sets or changes it. None: no policy.
    workspace_id: reported by /.well-known/databricks-config.
    admin_user: the identity of every caller when there is no users file.
    """

    update_seconds: float = 10.0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    fail_updates: bool = False
    failing_versions: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    write_budget_calls: int = 50
    write_budget_seconds: float = 300.0
    users_file: Path | str | None = None
    objects: Path | str | Mapping[str, Any] | None = None
    shuffle_seed: int | None = 0
    routing_seed: int = 0
    entity_faults: Mapping[str, EntityFault] = field(default_factory=dict, hash=False)
    max_endpoints: int = MAX_ENDPOINTS
    report_workload_type: bool = True
    usage_policy_id: str | None = None
    workspace_id: str = DEFAULT_WORKSPACE_ID
    admin_user: str = DEFAULT_ADMIN_USER

    def __post_init__(self) -> None:
        if self.update_seconds < 0:
            raise ValueError("update_seconds must be >= 0")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.max_endpoints < 0:
            raise ValueError("max_endpoints must be >= 0")
        if self.write_budget_calls < 0 or self.write_budget_seconds < 0:
            raise ValueError("the write budget must be >= 0 (0 disables it)")

    @property
    def write_budget_enabled(self) -> bool:
        return self.write_budget_calls > 0 and self.write_budget_seconds > 0
