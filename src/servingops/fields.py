"""The field registry: every endpoint field servingops knows, and the facts about it.

One declarative entry per field, by its path in the canonical body (normalize.py: keyed lists
become mappings, so `*` stands for an entity name, a tag key, a principal, ...). Each entry says
who sets the field, how the two sides are compared, which API call carries a change (or why
none can in place), what the server fills when it is left out, and whether it is secret.
Normalization, request bodies, export, the plan's impact notes, masking in every renderer and
the field-coverage test read this table; tests check that it and the published JSON Schema
agree field by field. Adding an API field is one entry here plus its tests. Pure data.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .model import OWNER_TAG, ROLLOUT_TAG, Carrier, Path

ANY = "*"
"""In a path pattern: any one key (an entity name, a tag key, a principal, a limit id)."""

Pattern = tuple[str, ...]
"""A canonical path pattern: keys, with ANY for any one key."""


class Source(enum.StrEnum):
    """Who sets a field."""

    USER = "user"  # written in files; left out means absent
    DEFAULT = "server default"  # the server fills `default` when it is left out
    FILL = "server fill"  # the server fills a value of its own choosing when it is left out
    WRITE_ONLY = "write only"  # accepted and never returned: compared through a digest tag
    CONSUMED = "consumed"  # accepted and turned into something else that GET returns instead
    DERIVED = "derived"  # computed by normalization from other fields; never written
    SERVINGOPS = "servingops"  # servingops' own field: used by servingops, never sent to the API
    REJECTED = "rejected"  # accepted by the API, refused by servingops (plaintext secrets)

    @property
    def keeps_live(self) -> bool:
        """A file that leaves the field out adopts the live value: not a difference."""
        return self in (Source.DEFAULT, Source.FILL)


class Compare(enum.StrEnum):
    """How the desired and live values are compared."""

    VALUE = "value"
    KEYED = "keyed list"  # a list of objects, keyed (`key`) into a mapping: order never matters
    SET = "set"  # a list of plain values, compared sorted and without duplicates
    DIGEST = "digest"  # compared with a digest of what servingops last sent (APPLIED_TAG)
    NONE = "not compared"


class Kind(enum.StrEnum):
    """What an endpoint or served entity serves (normalize.entity_kind)."""

    CUSTOM = "custom"
    EXTERNAL = "external"
    FOUNDATION = "foundation"


ALL_KINDS = frozenset(Kind)
COMPUTE_KINDS = frozenset({Kind.CUSTOM, Kind.FOUNDATION})


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """The facts about one field.

    path       canonical path pattern (`*` = any one key)
    type       JSON type of the value in a file: string, boolean, integer, number, object
    source     who sets it (Source)
    compare    how it is compared (Compare); `key` names what a keyed list is keyed by
    carrier    the API call that changes it in place; None inherits the nearest enclosing one
    reason     why a change needs a replace (carrier RECREATE) or is impossible (carrier NONE)
    default    the server's value when the field is left out (Source.DEFAULT), or the value a
               write-only field has when unset; export leaves a field out when live holds it
    implied    some workspaces leave the field out of GET while it holds `default`
    required   the API rejects a request without it: always sent (desired, else live, else
               `default`)
    clearable  a block written empty (`{}` or null) removes the live one, while leaving the
               block out leaves it alone
    integer_text  an integer the API accepts as a string too ("5" and 5 are the same)
    in_create  the create body carries it (False: another call sets it once the endpoint
               exists, or none does)
    listed     returned by the list call only, not by GET: read from the listing
    sensitive  never shown or stored, unless its value is a bare secret reference
    kinds      the served-entity kinds (or, at the endpoint's top level, endpoint kinds) the
               field applies to: a server value is adopted or implied only for those
    unless     sibling fields whose presence makes the field not the server's choice
    documents  where the field is written in a file, as schema pointers (`[]` = any list item,
               `*` = any key); derived from `path` when empty
    """

    path: Pattern
    type: str
    source: Source = Source.USER
    compare: Compare = Compare.VALUE
    key: str = ""
    carrier: Carrier | None = None
    reason: str = ""
    default: Any = None
    implied: bool = False
    required: bool = False
    clearable: bool = False
    integer_text: bool = False
    in_create: bool = True
    listed: bool = False
    sensitive: bool = False
    kinds: frozenset[Kind] = ALL_KINDS
    unless: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()

    @property
    def pointers(self) -> tuple[str, ...]:
        """The schema pointers this field is written at (its `documents`, or derived)."""
        return self.documents or (_document(self.path, self.compare),)


# --------------------------------------------------------------------------------------------
# The table


def _f(*path: str, **facts: Any) -> Field:
    return Field(path=tuple(path), **facts)


ENTITY = ("config", "served_entities", ANY)
"""The path pattern of one served entity."""
_REPLACE_TABLES = "legacy inference table catalog, schema and prefix cannot change in place"
_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # provider block: (plain fields, secret fields, each with a `_plaintext` twin)
    "ai21labs_config": ((), ("ai21labs_api_key",)),
    "amazon_bedrock_config": (
        ("aws_region", "bedrock_provider", "instance_profile_arn", "uc_service_credential_name"),
        ("aws_access_key_id", "aws_secret_access_key"),
    ),
    "anthropic_config": ((), ("anthropic_api_key",)),
    "cohere_config": (("cohere_api_base",), ("cohere_api_key",)),
    "custom_provider_config": (("custom_provider_url",), ()),
    "custom_provider_config.api_key_auth": (("key",), ("value",)),
    "custom_provider_config.bearer_token_auth": ((), ("token",)),
    "databricks_model_serving_config": (("databricks_workspace_url",), ("databricks_api_token",)),
    "google_cloud_vertex_ai_config": (("project_id", "region"), ("private_key",)),
    "openai_config": (
        (
            "openai_api_type",
            "openai_api_base",
            "openai_api_version",
            "openai_deployment_name",
            "openai_organization",
            "microsoft_entra_tenant_id",
            "microsoft_entra_client_id",
        ),
        ("openai_api_key", "microsoft_entra_client_secret"),
    ),
    "palm_config": ((), ("palm_api_key",)),
}
_INTEGER_ENTITY_FIELDS = (
    "min_provisioned_concurrency", "max_provisioned_concurrency",
    "min_provisioned_throughput", "max_provisioned_throughput", "provisioned_model_units",
)  # fmt: skip


def _entity_fields() -> Iterator[Field]:
    """A served entity's fields; each also written in the legacy `served_models` form."""

    def entity(name: str, type: str, *, legacy: str = "", **facts: Any) -> Field:
        legacy_name = legacy or name
        documents = (
            f"config.served_entities[].{name}",
            f"config.served_models[].{legacy_name}",
        )
        if name.startswith("environment_vars"):
            documents = (
                "config.served_entities[].environment_vars.*",
                "config.served_models[].environment_vars.*",
            )
        return Field(path=(*ENTITY, *name.split(".")), type=type, documents=documents, **facts)

    yield entity("entity_name", "string", legacy="model_name")
    yield entity("entity_version", "string", legacy="model_version")
    # "Small" 4-4, "Medium" 8-16, "Large" 16-64 concurrency, or a workspace's own sizes; the
    # server's choice only when no concurrency bounds are given.
    yield entity(
        "workload_size",
        "string",
        source=Source.FILL,
        kinds=COMPUTE_KINDS,
        unless=("min_provisioned_concurrency", "max_provisioned_concurrency"),
    )
    # Workspaces without GPU serving return no workload_type; CPU is the documented default.
    yield entity(
        "workload_type",
        "string",
        source=Source.DEFAULT,
        default="CPU",
        implied=True,
        kinds=COMPUTE_KINDS,
    )
    # "scaleToZeroEnabled is undefined. Please set it to either true or false." (the API, as
    # quoted in terraform-provider-databricks #4064): sent on every create and config update.
    yield entity(
        "scale_to_zero_enabled",
        "boolean",
        source=Source.DEFAULT,
        default=False,
        required=True,
        kinds=COMPUTE_KINDS,
    )
    for name in _INTEGER_ENTITY_FIELDS:
        yield entity(name, "integer", integer_text=True, kinds=COMPUTE_KINDS)
    # "Whether burst scaling is enabled. When enabled (default), ..." (databricks-sdk-py
    # ServedEntityInput); GET never returns it.
    yield entity(
        "burst_scaling_enabled",
        "boolean",
        source=Source.WRITE_ONLY,
        compare=Compare.DIGEST,
        default=True,
        kinds=COMPUTE_KINDS,
    )
    yield entity("environment_vars.*", "string", sensitive=True, kinds=COMPUTE_KINDS)
    yield entity("instance_profile_arn", "string", kinds=COMPUTE_KINDS)


def _external_model_fields() -> Iterator[Field]:
    base = (*ENTITY, "external_model")
    for name in ("provider", "name", "task"):
        yield Field(path=(*base, name), type="string", kinds=frozenset({Kind.EXTERNAL}))
    for block, (plain, secrets) in _PROVIDERS.items():
        at = (*base, *block.split("."))
        for name in plain:
            yield Field(path=(*at, name), type="string", kinds=frozenset({Kind.EXTERNAL}))
        for name in secrets:
            yield Field(
                path=(*at, name), type="string", sensitive=True, kinds=frozenset({Kind.EXTERNAL})
            )
            # The API takes a secret in clear as `<name>_plaintext` and never returns it;
            # servingops refuses it in files (validate says to use a secret reference).
            yield Field(
                path=(*at, f"{name}_plaintext"),
                type="string",
                source=Source.REJECTED,
                compare=Compare.NONE,
                sensitive=True,
                kinds=frozenset({Kind.EXTERNAL}),
            )


def _gateway_fields() -> Iterator[Field]:
    gw = ("ai_gateway",)
    yield _f(*gw, "usage_tracking_config", "enabled", type="boolean", default=False)
    table = (*gw, "inference_table_config")
    yield _f(*table, "enabled", type="boolean")
    yield _f(*table, "catalog_name", type="string")
    yield _f(*table, "schema_name", type="string")
    # The server names the table after the endpoint when no prefix is given; the names move in
    # place with PUT ai-gateway (disabling the table first while it is enabled).
    yield _f(*table, "table_name_prefix", type="string", source=Source.FILL)
    for side in ("input", "output"):
        rails = (*gw, "guardrails", side)
        yield _f(*rails, "safety", type="boolean", default=False)
        yield _f(*rails, "pii", "behavior", type="string", default="NONE")
        yield _f(*rails, "invalid_keywords", type="string", compare=Compare.SET)
        yield _f(*rails, "valid_topics", type="string", compare=Compare.SET)
    limits = (*gw, "rate_limits", ANY)
    legacy = "rate_limits[]"  # top-level legacy limits, managed as ai_gateway.rate_limits

    def limit(name: str, type: str, **facts: Any) -> Field:
        documents: tuple[str, ...] = (f"ai_gateway.rate_limits[].{name}",)
        if name in ("calls", "renewal_period", "key"):
            documents += (f"{legacy}.{name}",)
        return Field(path=(*limits, name), type=type, documents=documents, **facts)

    yield limit("calls", "integer", integer_text=True)
    yield limit("tokens", "integer", integer_text=True)
    yield limit("renewal_period", "string", default="minute")
    yield limit("key", "string", default="endpoint")
    yield limit("principal", "string")
    yield _f(*gw, "fallback_config", "enabled", type="boolean", default=False)


def _legacy_table_fields() -> Iterator[Field]:
    table = ("config", "auto_capture_config")
    yield _f(*table, type="object", source=Source.FILL, carrier=Carrier.CONFIG)
    recreate: dict[str, Any] = {"carrier": Carrier.RECREATE, "reason": _REPLACE_TABLES}
    yield _f(*table, "catalog_name", type="string", **recreate)
    yield _f(*table, "schema_name", type="string", **recreate)
    yield _f(*table, "table_name_prefix", type="string", source=Source.FILL, **recreate)
    # Legacy inference tables are enabled unless the request says otherwise (docs: "This true
    # by default").
    yield _f(*table, "enabled", type="boolean", source=Source.DEFAULT, default=True)


def _telemetry_fields() -> Iterator[Field]:
    tel = ("telemetry_config",)
    yield _f(*tel, "telemetry_profile_id", type="string", source=Source.FILL)
    # Consumed: the workspace makes a telemetry profile of the tables; GET returns its id.
    tables = ("logs_table", "metrics_table", "traces_table", "annotations_table")
    yield Field(
        path=(*tel, "table_names"),
        type="object",
        source=Source.CONSUMED,
        documents=tuple(f"telemetry_config.table_names.{t}" for t in tables),
    )
    yield _f(*tel, "enabled_telemetry_features", type="string", compare=Compare.SET)
    yield _f(*tel, "inference_table_config", "sampling_fraction", type="number")
    yield _f(
        *tel,
        "inference_table_config",
        "name",
        type="string",
        source=Source.DERIVED,
        compare=Compare.NONE,
    )  # output-only: the workspace names it; a pasted body's value is ignored with a warning


FIELDS: tuple[Field, ...] = (
    # -- the endpoint ------------------------------------------------------------------------
    Field(path=("name",), type="string", compare=Compare.NONE),  # the identity: never compared
    Field(
        path=("description",),
        type="string",
        source=Source.DEFAULT,
        default="",
        carrier=Carrier.RECREATE,
        reason="the description has no update API",
    ),
    Field(
        path=("route_optimized",),
        type="boolean",
        source=Source.DEFAULT,
        default=False,
        carrier=Carrier.RECREATE,
        reason="route_optimized cannot be changed in place; the endpoint URL changes",
    ),
    Field(
        path=("budget_policy_id",),
        type="string",
        source=Source.FILL,
        carrier=Carrier.NONE,
        reason="budget_policy_id can only be set when the endpoint is created: give the endpoint "
        "a new name to create one with another policy",
    ),
    # "The usage policy associated with serving endpoint" (databricks-sdk-py ServingEndpoint;
    # reference section 3.14: in the list response only). The workspace assigns it; no serving
    # request sets or changes it, so a file may only assert it.
    Field(
        path=("usage_policy_id",),
        type="string",
        source=Source.FILL,
        carrier=Carrier.NONE,
        reason="usage_policy_id is assigned by the workspace; no serving API sets or changes it",
        in_create=False,
        listed=True,
    ),
    # Desired run state (servingops' own: config:stop / config:start); only custom-model
    # endpoints that are not route-optimized can be stopped (docs).
    Field(
        path=("state",),
        type="string",
        source=Source.DEFAULT,
        default="running",
        carrier=Carrier.RUN_STATE,
        in_create=False,  # a desired "stopped" is a config:stop once the first rollout ends
        kinds=frozenset({Kind.CUSTOM}),
        unless=("route_optimized",),
    ),
    # -- the config (PUT /config: asynchronous, versioned) ------------------------------------
    Field(path=("config",), type="object", source=Source.FILL, carrier=Carrier.CONFIG),
    Field(
        path=("config", "name"),
        type="string",
        source=Source.DERIVED,
        compare=Compare.NONE,
    ),  # the PUT config path parameter, pasted from API examples: ignored with a warning
    Field(
        path=("config", "entity_kind"),
        type="string",
        source=Source.DERIVED,
        carrier=Carrier.RECREATE,
        reason="an endpoint cannot switch between external and custom served entities",
        documents=("-",),
    ),
    Field(
        path=("config", "served_entities"),
        type="object",
        compare=Compare.KEYED,
        key="name (default: <model>-<version>, or the external model's name)",
        documents=("config.served_entities[].name", "config.served_models[].name"),
    ),
    *_entity_fields(),
    *_external_model_fields(),
    Field(
        path=("config", "traffic", ANY),
        type="integer",
        compare=Compare.VALUE,
        integer_text=True,
        documents=(
            "config.traffic_config.routes[].traffic_percentage",
            "config.traffic_config.routes[].served_entity_name",
            "config.traffic_config.routes[].served_model_name",
        ),
    ),  # keyed by served entity; one lone entity gets 100% when no routes are given
    *_legacy_table_fields(),
    # -- synchronous side calls --------------------------------------------------------------
    Field(
        path=("tags", ANY),
        type="string",
        carrier=Carrier.TAGS,
        documents=("tags[].value", "tags[].key"),
    ),  # keyed by tag key; the reserved tags (RESERVED_TAGS) never take part
    Field(path=("ai_gateway",), type="object", carrier=Carrier.AI_GATEWAY),
    *_gateway_fields(),
    Field(path=("email_notifications",), type="object", carrier=Carrier.NOTIFICATIONS),
    Field(path=("email_notifications", "on_update_success"), type="string", compare=Compare.SET),
    Field(path=("email_notifications", "on_update_failure"), type="string", compare=Compare.SET),
    Field(
        path=("permissions", ANY),
        type="string",
        carrier=Carrier.PERMISSIONS,
        in_create=False,  # PUT permissions as soon as the endpoint id exists
        documents=(
            "permissions[].permission_level",
            "permissions[].user_name",
            "permissions[].group_name",
            "permissions[].service_principal_name",
        ),
    ),  # keyed by principal ("group:x"); only direct grants; the caller's own is implicit
    # Telemetry may be set by the workspace without user input, so an omitted block is left
    # alone; `telemetry_config: {}` removes it (PATCH without a telemetry_config: "If not
    # provided, the telemetry configuration will be removed", databricks-sdk-py).
    Field(
        path=("telemetry_config",),
        type="object",
        source=Source.FILL,
        carrier=Carrier.TELEMETRY,
        clearable=True,
    ),
    *_telemetry_fields(),
    # No documented default: an omitted state is the workspace's choice.
    Field(
        path=("uc_system_metrics_export_state",),
        type="string",
        source=Source.FILL,
        carrier=Carrier.METRICS_EXPORT,
    ),
    # -- servingops' own blocks: used by servingops, never sent and never a difference --------
    Field(
        path=("smoke",),
        type="object",
        source=Source.SERVINGOPS,
        compare=Compare.NONE,
        documents=tuple(
            f"smoke[].{leaf}"
            for leaf in (
                "name",
                "request",
                "request_file",
                "entity",
                "expect.status",
                "expect.max_latency_ms",
                "expect.json",
            )
        ),
    ),  # queries apply sends once the endpoint is READY (smoke.py)
    Field(
        path=("rollout",),
        type="object",
        source=Source.SERVINGOPS,
        compare=Compare.NONE,
        documents=tuple(
            f"rollout.{leaf}"
            for leaf in (
                "entity",
                "steps[]",
                "pause",
                "on_failure",
                "gates.max_error_rate",
                "gates.max_p99_ms",
                "gates.min_requests",
            )
        ),
    ),  # how apply moves traffic to the file's split in gated steps (rollout.py)
    Field(
        path=("ignore_changes",),
        type="string",
        source=Source.SERVINGOPS,
        compare=Compare.NONE,
        documents=("ignore_changes[]",),
    ),  # paths whose live values are kept (normalize.resolve_server_chosen)
)

APPLIED_TAG = "servingops-applied"
"""Reserved tag: a digest of the write-only values servingops last sent (Compare.DIGEST)."""
RESERVED_TAGS = (OWNER_TAG, APPLIED_TAG, ROLLOUT_TAG)
"""Tags servingops keeps for itself beside the user's: the ownership tag, the digest of the
write-only values it last sent, and a traffic rollout's state. Hidden from diffs, never
removed by a tag patch (the rollout driver clears its own when a rollout ends)."""

SECRET_REFERENCE = re.compile(r"\{\{secrets/[^/{}\s]+/[^/{}\s]+\}\}")
"""`{{secrets/<scope>/<key>}}`: a pointer to a workspace secret, not a secret itself."""


# --------------------------------------------------------------------------------------------
# Lookups


class _Node:
    """The registry as a tree of path parts, so that a lookup costs one step per part."""

    __slots__ = ("any", "children", "compared", "field")

    def __init__(self) -> None:
        self.field: Field | None = None
        self.children: dict[str, _Node] = {}
        self.any: _Node | None = None
        self.compared = False  # a compared field is at or below this node

    def child(self, part: str) -> _Node | None:
        return self.children.get(part) or self.any


def _tree(fields: Iterable[Field]) -> _Node:
    root = _Node()
    for f in fields:
        # Compared in the canonical body; a write-only field is compared through its digest
        # and kept out of the body (normalize keeps it aside in Endpoint.write_only).
        in_body = f.compare not in (Compare.NONE, Compare.DIGEST)
        node = root
        node.compared |= in_body
        for part in f.path:
            if part == ANY:
                node.any = node.any or _Node()
                node = node.any
            else:
                node = node.children.setdefault(part, _Node())
            node.compared |= in_body
        node.field = f
    return root


def _walk(path: Path) -> Iterator[_Node]:
    """The nodes along `path`, as far as the registry knows it."""
    node: _Node | None = _ROOT
    for part in path:
        node = node.child(str(part)) if node is not None else None
        if node is None:
            return
        yield node


def exact(path: Path) -> Field | None:
    """The field whose pattern is exactly `path` (same length), or None."""
    nodes = list(_walk(path))
    return nodes[-1].field if len(nodes) == len(path) and nodes else None


def compared(path: Path) -> bool:
    """Whether any field compared in the canonical body is at or below `path`: if not, the
    canonical form leaves it out (output-only values the server returns, fields a newer server
    returns, rejected plaintext, write-only values kept aside)."""
    nodes = list(_walk(path))
    if len(nodes) == len(path):
        return bool(nodes) and nodes[-1].compared
    # Below a field that is one opaque object (no fields listed under it): all of it counts.
    deepest = nodes[-1] if nodes else None
    return bool(
        deepest is not None
        and deepest.compared
        and deepest.field is not None
        and deepest.field.type == "object"
        and not deepest.children
        and deepest.any is None
    )


def carrier_for(path: Path) -> tuple[Carrier, str]:
    """The API call that carries a change at `path`, and the reason when none can in place.

    The nearest enclosing field with a carrier wins.
    """
    found = (Carrier.NONE, "no API call can change this field")
    for node in _walk(path):
        if node.field is not None and node.field.carrier is not None:
            found = (node.field.carrier, node.field.reason)
    return found


def is_server_default(path: Path, value: Any) -> bool:
    """True when `value` at `path` is what the server fills in when nobody sets the field (and
    normalization adopts it from live when a file omits it), so a file need not say it."""
    found = exact(path)
    if found is None or found.default is None or not found.source.keeps_live:
        return False
    return type(value) is type(found.default) and value == found.default


def is_sensitive(path: Path) -> bool:
    found = exact(path)
    return bool(found and found.sensitive)


def is_masked(path: Path, value: Any) -> bool:
    """True when `value` at `path` must never be shown or stored: a sensitive field whose value
    is not a bare secret reference. References are shown, so a reviewer sees which one moves."""
    if isinstance(value, str) and SECRET_REFERENCE.fullmatch(value.strip()):
        return False
    return is_sensitive(path)


def having(**facts: Any) -> tuple[Field, ...]:
    """The fields with all the given facts, e.g. `having(source=Source.CONSUMED)`."""
    return tuple(f for f in FIELDS if all(getattr(f, k) == v for k, v in facts.items()))


def under(prefix: Pattern, fields: Iterable[Field] = FIELDS) -> tuple[Field, ...]:
    """The fields at or below `prefix`."""
    n = len(prefix)
    return tuple(f for f in fields if f.path[:n] == prefix)


def leaf_names(fields: Iterable[Field]) -> frozenset[str]:
    return frozenset(f.path[-1] for f in fields)


def _document(path: Pattern, compare: Compare) -> str:
    """The schema pointer of a canonical path: served entities and AI-gateway rate limits are
    lists in files (`[]`), sets are lists of plain values."""
    pointer = ".".join(str(p) for p in path)
    for keyed in ("config.served_entities", "ai_gateway.rate_limits"):
        pointer = pointer.replace(f"{keyed}.{ANY}", f"{keyed}[]")
    return pointer + "[]" if compare is Compare.SET else pointer


_ROOT = _tree(FIELDS)


# Derived facts, for the code that reads them by name.
PROVIDER_SECRETS: dict[str, tuple[str, ...]] = {
    block: secrets for block, (_, secrets) in _PROVIDERS.items() if secrets
}
"""Secret fields per provider block (`custom_provider_config.api_key_auth` for nested ones);
each may also be written as `<field>_plaintext`, which servingops refuses."""
WRITE_ONLY_ENTITY = tuple(f for f in under(ENTITY) if f.source is Source.WRITE_ONLY)
"""Served-entity fields accepted and never returned (compared through APPLIED_TAG)."""
WRITE_ONLY_NAMES = leaf_names(WRITE_ONLY_ENTITY)
REQUIRED_ENTITY = tuple(f for f in under(ENTITY) if f.required)
"""Served-entity fields every create and config update must carry."""
LISTED = tuple(f.path[0] for f in FIELDS if f.listed)
"""Top-level fields only the list call returns (read from the listing, not the GET)."""
SCALARS = tuple(
    f
    for f in FIELDS
    if len(f.path) == 1 and f.type in ("string", "boolean") and f.compare is Compare.VALUE
)
"""The endpoint's own plain values: description, route_optimized, budget_policy_id, state, ..."""
