"""Semantic rules the JSON Schema cannot express: names, routes, entity kinds, secrets, grants.

Rules read an endpoint document as the user wrote it (after variable interpolation) and never
assume the schema passed: every access checks its type, so a malformed document yields
diagnostics, not exceptions. Messages never repeat a value that may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import fields
from .fields import Kind
from .loader import LoadedDocument
from .model import OWNER_TAG, ROLLOUT_TAG, Diagnostic, Path, Severity, render_pointer
from .normalize import PRINCIPALS, default_entity_name, entity_kind, ignore_pattern
from .preflight import ALIAS_NAME, RESERVED_ALIASES, alias_of, is_unity_catalog

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,63}")
ENTITY_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
SECRET_FORM = "{{secrets/<scope>/<key>}}"

MAX_SERVED_ENTITIES = 15
# No source documents a served-entity name length; the emulator applies the endpoint name's.
MAX_ENTITY_NAME = 63
MAX_ENVIRONMENT_VARS = 30
KNOWN_WORKLOAD_SIZES = ("Small", "Medium", "Large")
BEDROCK_PROVIDERS = ("ai21labs", "amazon", "anthropic", "cohere", "grok")

PROVIDER_CONFIGS: Mapping[str, str] = {
    "ai21labs": "ai21labs_config",
    "amazon-bedrock": "amazon_bedrock_config",
    "anthropic": "anthropic_config",
    "cohere": "cohere_config",
    "custom": "custom_provider_config",
    "databricks-model-serving": "databricks_model_serving_config",
    "google-cloud-vertex-ai": "google_cloud_vertex_ai_config",
    "openai": "openai_config",
    "palm": "palm_config",
}

# Secret fields per provider block (the registry's); each may instead be written as
# `<field>_plaintext`, which we reject. `custom_provider_config` nests its secrets one level down.
SECRET_FIELDS: Mapping[str, tuple[str, ...]] = {
    block: names for block, names in fields.PROVIDER_SECRETS.items() if "." not in block
}
_NESTED_SECRETS = {
    block.split(".", 1)[1]: names[0]
    for block, names in fields.PROVIDER_SECRETS.items()
    if block.startswith("custom_provider_config.")
}

_EXTERNAL_EXCLUDES = (
    "entity_name",
    "entity_version",
    "workload_size",
    "workload_type",
    "scale_to_zero_enabled",
)


def entity_list_key(config: Mapping[str, Any]) -> str:
    """Which list holds the served entities: `served_entities`, or legacy `served_models`."""
    if "served_entities" not in config and "served_models" in config:
        return "served_models"
    return "served_entities"


def check_document(document: LoadedDocument) -> tuple[Diagnostic, ...]:
    """Every semantic problem within one endpoint document."""
    ctx = _Context(document)
    data = document.data
    if not isinstance(data, Mapping):
        return ()
    _check_name(ctx, data)
    config = data.get("config")
    if isinstance(config, Mapping):
        _check_config_name(ctx, data, config)
        _check_config(ctx, config)
    _check_tags(ctx, data.get("tags"))
    _check_permissions(ctx, data.get("permissions"))
    _check_rate_limits(ctx, data)
    _check_inference_table(ctx, data.get("ai_gateway"))
    _check_telemetry(ctx, data)
    _check_run_state(ctx, data)
    _check_ignore_changes(ctx, data.get("ignore_changes"))
    return tuple(sorted(ctx.out, key=Diagnostic.sort_key))


def check_unique_names(documents: Sequence[LoadedDocument]) -> tuple[Diagnostic, ...]:
    """Endpoint names must be unique across all files; every later use is an error."""
    seen: dict[str, LoadedDocument] = {}
    out: list[Diagnostic] = []
    for doc in documents:
        name = doc.data.get("name") if isinstance(doc.data, Mapping) else None
        if not isinstance(name, str):
            continue
        first = seen.get(name)
        if first is None:
            seen[name] = doc
            continue
        where = first.locate(("name",))
        out.append(
            Diagnostic(
                severity=Severity.ERROR,
                summary=f"endpoint name '{name}' is already used at {where}; "
                "endpoint names must be unique",
                source=doc.locate(("name",)),
                pointer="name",
            )
        )
    return tuple(out)


class _Context:
    def __init__(self, document: LoadedDocument) -> None:
        self.document = document
        self.out: list[Diagnostic] = []

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        self._add(Severity.ERROR, path, message, key)

    def warning(self, path: Path, message: str, *, key: bool = False) -> None:
        self._add(Severity.WARNING, path, message, key)

    def _add(self, severity: Severity, path: Path, message: str, key: bool) -> None:
        self.out.append(
            Diagnostic(
                severity=severity,
                summary=message,
                source=self.document.locate(path, key=key),
                pointer=render_pointer(path),
            )
        )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _items(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                yield i, item


def _check_inference_table(ctx: _Context, gateway: Any) -> None:
    """Every accepted inference-table block is sent: it must say whether it logs, and an
    enabled one names the catalog and schema the API requires when enabling."""
    table = gateway.get("inference_table_config") if isinstance(gateway, Mapping) else None
    if not isinstance(table, Mapping):
        return
    path: Path = ("ai_gateway", "inference_table_config")
    enabled = table.get("enabled")
    if enabled is None:
        if table:
            ctx.error(
                path,
                "inference_table_config needs enabled: true (with catalog_name and "
                "schema_name) to log requests, or enabled: false",
                key=True,
            )
        return
    missing = [k for k in ("catalog_name", "schema_name") if k not in table]
    if enabled is True and missing:
        ctx.error(
            path,
            f"enabled inference tables need {' and '.join(missing)} (the API requires "
            "catalog_name and schema_name when enabling)",
            key=True,
        )


def _check_telemetry(ctx: _Context, data: Mapping[str, Any]) -> None:
    """The workspace keeps telemetry only for endpoints serving custom models (it drops it
    silently at create otherwise, which would be a perpetual diff)."""
    telemetry = data.get("telemetry_config")
    if not isinstance(telemetry, Mapping) or not telemetry:
        return  # absent: left as the workspace has it; {} or null: no telemetry
    table = telemetry.get("inference_table_config")
    if isinstance(table, Mapping) and "name" in table:
        ctx.warning(
            ("telemetry_config", "inference_table_config", "name"),
            "inference_table_config.name is output-only (the workspace names the payload "
            "table) and is ignored",
            key=True,
        )
    if "telemetry_profile_id" not in telemetry and "table_names" not in telemetry:
        ctx.error(
            ("telemetry_config",),
            "telemetry_config needs telemetry_profile_id or table_names (write "
            "telemetry_config: {} to remove telemetry)",
            key=True,
        )
        return
    config = data.get("config")
    entities = (
        [e for _, e in _items(config.get(entity_list_key(config)))]
        if isinstance(config, Mapping)
        else []
    )
    if not entities:
        ctx.error(
            ("telemetry_config",),
            "telemetry_config needs served entities: only endpoints serving custom models "
            "support telemetry",
            key=True,
        )
    elif any(isinstance(e.get("external_model"), Mapping) for e in entities):
        ctx.error(
            ("telemetry_config",),
            "telemetry_config is not supported for external models; only endpoints serving "
            "custom models support telemetry",
            key=True,
        )


def _check_ignore_changes(ctx: _Context, entries: Any) -> None:
    """Each entry must name a field servingops compares (fields.py), as plans print paths."""
    if not isinstance(entries, list):
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            continue
        pattern = ignore_pattern(entry)
        if pattern[:1] == ("tags",) and pattern[1:2] and pattern[1] in fields.RESERVED_TAGS:
            ctx.error(
                ("ignore_changes", i),
                f"{entry!r} is servingops' own tag; it is never compared, so there is nothing "
                "to ignore",
            )
        elif not pattern or not fields.compared(pattern):
            ctx.error(
                ("ignore_changes", i),
                f"{entry!r} is not a field servingops compares; write the path as a plan prints "
                "it, e.g. tags.team, description or config.served_entities.*.workload_size "
                "(* stands for any one key)",
            )


_UNSTOPPABLE = {Kind.EXTERNAL: "an external-model", Kind.FOUNDATION: "a foundation-model"}


def _check_run_state(ctx: _Context, data: Mapping[str, Any]) -> None:
    """Only custom-model endpoints that are not route-optimized can be stopped (docs)."""
    if data.get("state") != "stopped":
        return
    if data.get("route_optimized") is True:
        ctx.error(
            ("state",),
            "a route-optimized endpoint cannot be stopped; remove state: stopped "
            "(or delete the endpoint to stop paying for it)",
        )
    config = data.get("config")
    entities = config.get(entity_list_key(config)) if isinstance(config, Mapping) else None
    for _, entity in _items(entities):
        kind = _UNSTOPPABLE.get(entity_kind(entity))
        if kind is not None:
            ctx.error(
                ("state",),
                f"{kind} endpoint cannot be stopped (only custom-model endpoints can); "
                "remove state: stopped",
            )
            return


def _check_name(ctx: _Context, data: Mapping[str, Any]) -> None:
    name = data.get("name")
    if not isinstance(name, str):
        return
    if not name:
        ctx.error(("name",), "endpoint name is empty; use 1-63 letters, digits, '-' or '_'")
    elif len(name) > 63:
        ctx.error(("name",), f"endpoint name is {len(name)} characters long; the limit is 63")
    elif not NAME_RE.fullmatch(name):
        ctx.error(
            ("name",),
            f"endpoint name {name!r} may only contain letters, digits, '-' and '_'",
        )


def _check_config_name(ctx: _Context, data: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """`config.name` is the PUT config path parameter that API examples and the Python SDK put
    in the body; it pastes in, and is ignored."""
    given = config.get("name")
    if given is None:
        return
    endpoint = data.get("name")
    if isinstance(given, str) and isinstance(endpoint, str) and given != endpoint:
        ctx.warning(
            ("config", "name"),
            f"config.name {given!r} differs from name {endpoint!r} and is ignored: the "
            "endpoint is named by name",
        )
        return
    ctx.warning(
        ("config", "name"),
        "config.name is ignored: the endpoint is named by name (it is accepted so API "
        "examples and SDK-written bodies paste in)",
    )


def _check_config(ctx: _Context, config: Mapping[str, Any]) -> None:
    base: Path = ("config",)
    if "served_entities" in config and "served_models" in config:
        ctx.error(
            (*base, "served_models"),
            "served_models and served_entities are both set; keep only served_entities "
            "(served_models is its legacy form)",
            key=True,
        )
    elif "served_models" in config:
        ctx.warning(
            (*base, "served_models"),
            "served_models is deprecated; it is read as served_entities (rename it, with "
            "model_name -> entity_name and model_version -> entity_version)",
            key=True,
        )
    list_key = entity_list_key(config)
    list_path: Path = (*base, list_key)
    entities = list(_items(config.get(list_key)))
    names: dict[str, int] = {}
    external: list[int] = []
    custom: list[int] = []
    tasks: dict[str, int] = {}
    defaulted: set[int] = set()
    for i, entity in entities:
        path: Path = (*list_path, i)
        _check_entity(ctx, path, entity)
        if isinstance(entity.get("external_model"), Mapping):
            external.append(i)
            task = entity["external_model"].get("task")
            if isinstance(task, str):
                if tasks and task not in tasks:
                    first_task, first = next(iter(tasks.items()))
                    ctx.error(
                        (*path, "external_model", "task"),
                        f"task {task!r} differs from {first_task!r} of "
                        f"{render_pointer((*list_path, first))}; all external models of an "
                        "endpoint must share one task",
                    )
                tasks.setdefault(task, i)
        elif "entity_name" in entity or "model_name" in entity:
            custom.append(i)
        explicit = entity.get("name")
        name = explicit if isinstance(explicit, str) else default_entity_name(entity)
        if name is None or (
            explicit is None and str(entity.get("entity_version", "")).startswith("@")
        ):
            continue  # no default name to check (an aliased entity must be named: _check_version)
        if not isinstance(explicit, str) and not _check_default_name(ctx, path, entity, name):
            continue
        if name in names:
            other = render_pointer((*list_path, names[name]))
            if names[name] in defaulted:
                other += " (its default name)"
            if isinstance(explicit, str):
                ctx.error(
                    (*path, "name"),
                    f"served entity name {name!r} is already used by {other}; "
                    "served entity names must be unique",
                )
            else:
                ctx.error(
                    path,
                    f"this served entity gets the default name {name!r}, which {other} "
                    "already uses; give it a distinct name",
                )
        else:
            names[name] = i
            if not isinstance(explicit, str):
                defaulted.add(i)
    if external and custom:
        ctx.error(
            list_path,
            "external models and Databricks models cannot be served by one endpoint "
            f"({render_pointer((*list_path, external[0]))} is external, "
            f"{render_pointer((*list_path, custom[0]))} is not); split them into two endpoints",
            key=True,
        )
    if len(entities) > MAX_SERVED_ENTITIES:
        ctx.error(
            list_path,
            f"{len(entities)} served entities; an endpoint serves at most {MAX_SERVED_ENTITIES}",
            key=True,
        )
    traffic = config.get("traffic_config")
    if len(entities) > 1 and traffic is None:
        ctx.error(
            list_path,
            f"{len(entities)} served entities need a traffic_config whose routes sum to 100",
            key=True,
        )
    if isinstance(traffic, Mapping):
        _check_routes(ctx, (*base, "traffic_config"), traffic, names)


def _check_default_name(ctx: _Context, path: Path, entity: Mapping[str, Any], name: str) -> bool:
    """The server names an unnamed entity by a fixed rule and rejects the request when that name
    is not a valid served-entity name; say so here, where the entity is written."""
    if isinstance(entity.get("external_model"), Mapping):
        source = "external_model.name"
    elif "entity_name" in entity:
        source = "entity_name and entity_version"
    else:
        source = "model_name and model_version"
    shown = name if len(name) <= MAX_ENTITY_NAME else f"{name[:20]}...{name[-10:]}"
    intro = f"this served entity has no name and its default name {shown!r} (from {source})"
    if len(name) > MAX_ENTITY_NAME:
        ctx.error(
            path,
            f"{intro} is {len(name)} characters long, over the limit of {MAX_ENTITY_NAME}; "
            "give it a name",
        )
        return False
    if not ENTITY_NAME_RE.fullmatch(name):
        ctx.error(path, f"{intro} may only contain letters, digits, '-' and '_'; give it a name")
        return False
    return True


def _check_entity(ctx: _Context, path: Path, entity: Mapping[str, Any]) -> None:
    name = entity.get("name")
    if isinstance(name, str) and not ENTITY_NAME_RE.fullmatch(name):
        ctx.error(
            (*path, "name"),
            f"served entity name {name!r} may only contain letters, digits, '-' and '_'",
        )
    elif isinstance(name, str) and len(name) > MAX_ENTITY_NAME:
        ctx.error(
            (*path, "name"),
            f"served entity name is {len(name)} characters long; the limit is {MAX_ENTITY_NAME}",
        )
    external = entity.get("external_model")
    if isinstance(external, Mapping):
        for key in _EXTERNAL_EXCLUDES:
            if key in entity:
                ctx.error(
                    (*path, key),
                    f"{key} cannot be set on an external model entity; remove it",
                    key=True,
                )
        _check_external(ctx, (*path, "external_model"), external)
    elif "external_model" not in entity and not ("entity_name" in entity or "model_name" in entity):
        ctx.error(path, "a served entity needs entity_name (a model) or external_model")
    size = entity.get("workload_size")
    bounds = [
        k for k in ("min_provisioned_concurrency", "max_provisioned_concurrency") if k in entity
    ]
    if size is not None and bounds:
        ctx.error(
            (*path, "workload_size"),
            f"workload_size and {'/'.join(bounds)} are mutually exclusive; "
            "set workload_size or provisioned concurrency, not both",
            key=True,
        )
    if isinstance(size, str) and size not in KNOWN_WORKLOAD_SIZES:
        ctx.warning(
            (*path, "workload_size"),
            f"workload_size {size!r} is not Small, Medium or Large; "
            "it is valid only if your workspace defines that size",
        )
    for low_key, high_key in (
        ("min_provisioned_concurrency", "max_provisioned_concurrency"),
        ("min_provisioned_throughput", "max_provisioned_throughput"),
    ):
        low, high = _as_int(entity.get(low_key)), _as_int(entity.get(high_key))
        if low is not None and high is not None and low > high:
            ctx.error((*path, low_key), f"{low_key} {low} is greater than {high_key} {high}")
    env = entity.get("environment_vars")
    if isinstance(env, Mapping) and len(env) > MAX_ENVIRONMENT_VARS:
        ctx.error(
            (*path, "environment_vars"),
            f"{len(env)} environment variables; a served entity may have at most "
            f"{MAX_ENVIRONMENT_VARS}",
            key=True,
        )
    _check_version(ctx, path, entity)


def _check_version(ctx: _Context, path: Path, entity: Mapping[str, Any]) -> None:
    """A version is a number ("7") or a Unity Catalog model alias ("@champion"), which plan
    resolves to a number (preflight.py) and pins in a saved plan."""
    key = "entity_version" if "entity_version" in entity else "model_version"
    version = entity.get(key)
    if not isinstance(version, str) or "${" in version or "external_model" in entity:
        return  # other types: the schema; unresolved variables: already reported
    where: Path = (*path, key)
    alias = alias_of(version)
    if alias is None:
        if not (version.isascii() and version.isdigit()):
            ctx.error(
                where,
                f'{key} {version!r} is neither a version number (such as "7") nor a model '
                'alias (such as "@champion")',
            )
        return
    if not ALIAS_NAME.fullmatch(alias):
        ctx.error(
            where,
            f"{version!r} is not a model alias: an alias has 1-255 letters, digits, '_' and "
            "'-' after the '@'",
        )
    elif alias.lower() in RESERVED_ALIASES:
        ctx.error(where, f"{version!r} is reserved by Unity Catalog; write a version number")
    model = entity.get("entity_name", entity.get("model_name"))
    if isinstance(model, str) and not is_unity_catalog(model):
        ctx.error(
            where,
            f"a model alias needs a Unity Catalog model (catalog.schema.model); {model!r} is "
            "not one, so write a version number",
        )
    if not isinstance(entity.get("name"), str):
        ctx.error(
            path,
            f"a served entity whose version is an alias ({version}) needs a name: its default "
            "name follows the version, so it would change whenever the alias moves",
        )


def _check_external(ctx: _Context, path: Path, external: Mapping[str, Any]) -> None:
    provider = external.get("provider")
    expected = PROVIDER_CONFIGS.get(provider) if isinstance(provider, str) else None
    for key in external:
        if isinstance(key, str) and key.endswith("_config") and key != expected:
            if key not in PROVIDER_CONFIGS.values():
                continue  # unknown key: the schema reports it
            hint = f"; use {expected}" if expected else ""
            ctx.error(
                (*path, key),
                f"{key} does not belong to provider {provider!r}{hint}",
                key=True,
            )
    if expected is None:
        return
    block = external.get(expected)
    if block is None:
        ctx.error(path, f"provider {provider!r} needs {expected}")
        return
    if not isinstance(block, Mapping):
        return
    block_path: Path = (*path, expected)
    if expected == "custom_provider_config":
        _check_custom_auth(ctx, block_path, block)
    else:
        for name in SECRET_FIELDS[expected]:
            _check_secret(ctx, block_path, block, name)
        _check_credentials(ctx, block_path, expected, block)
    if expected == "amazon_bedrock_config":
        brp = block.get("bedrock_provider")
        if isinstance(brp, str) and brp.lower() not in BEDROCK_PROVIDERS:
            ctx.error(
                (*block_path, "bedrock_provider"),
                f"bedrock_provider {brp!r} is not one of {', '.join(BEDROCK_PROVIDERS)}",
            )
    if expected == "openai_config" and block.get("openai_api_type") in ("azure", "azuread"):
        for needed in ("openai_api_base", "openai_api_version"):
            if needed not in block:
                ctx.error(
                    block_path,
                    f"Azure OpenAI (openai_api_type {block['openai_api_type']!r}) needs {needed}",
                )


def _check_secret(ctx: _Context, block_path: Path, block: Mapping[str, Any], name: str) -> None:
    plain = f"{name}_plaintext"
    if plain in block:
        ctx.error(
            (*block_path, plain),
            f"{plain} would put a secret in git; store it in a Databricks secret scope and "
            f'set {name}: "{SECRET_FORM}" instead',
            key=True,
        )
    value = block.get(name)
    if isinstance(value, str) and not fields.SECRET_REFERENCE.fullmatch(value):
        ctx.error(
            (*block_path, name),
            f"{name} must be a secret reference like {SECRET_FORM}, not a literal value",
        )


def _has_secret(block: Mapping[str, Any], name: str) -> bool:
    return name in block or f"{name}_plaintext" in block


def _check_credentials(
    ctx: _Context, block_path: Path, expected: str, block: Mapping[str, Any]
) -> None:
    fields = SECRET_FIELDS[expected]
    if expected == "amazon_bedrock_config":
        if "instance_profile_arn" in block or "uc_service_credential_name" in block:
            return
        missing = [f for f in fields if not _has_secret(block, f)]
        if missing:
            ctx.error(
                block_path,
                f"amazon_bedrock_config needs {' and '.join(missing)} (as {SECRET_FORM}), "
                "or instance_profile_arn, or uc_service_credential_name",
            )
        return
    if not any(_has_secret(block, f) for f in fields):
        ctx.error(block_path, f"{expected} needs {' or '.join(fields)} (as {SECRET_FORM})")


def _check_custom_auth(ctx: _Context, block_path: Path, block: Mapping[str, Any]) -> None:
    present = [k for k in _NESTED_SECRETS if k in block]
    if len(present) != 1:
        ctx.error(
            block_path,
            "custom_provider_config needs exactly one of api_key_auth or bearer_token_auth",
        )
    for auth, name in _NESTED_SECRETS.items():
        sub = block.get(auth)
        if isinstance(sub, Mapping):
            _check_secret(ctx, (*block_path, auth), sub, name)
            if not _has_secret(sub, name):
                ctx.error((*block_path, auth), f"{auth} needs {name} (as {SECRET_FORM})")


def _check_routes(
    ctx: _Context, path: Path, traffic: Mapping[str, Any], names: Mapping[str, int]
) -> None:
    routes_path: Path = (*path, "routes")
    routes = traffic.get("routes")
    if not isinstance(routes, list):
        return
    total = 0
    complete = True
    routed: dict[str, int] = {}
    for i, route in _items(routes):
        rpath: Path = (*routes_path, i)
        entity = route.get("served_entity_name")
        legacy = route.get("served_model_name")
        if entity is not None and legacy is not None and entity != legacy:
            ctx.error(
                (*rpath, "served_model_name"),
                "served_model_name differs from served_entity_name; keep only served_entity_name",
                key=True,
            )
        target = entity if entity is not None else legacy
        target_key = "served_entity_name" if entity is not None else "served_model_name"
        if target is None:
            ctx.error(rpath, "route needs served_entity_name")
        elif isinstance(target, str):
            if target not in names:
                known = ", ".join(sorted(names)) or "none"
                ctx.error(
                    (*rpath, target_key),
                    f"route to {target!r}, which is not a served entity of this endpoint "
                    f"(served entities: {known})",
                )
            elif target in routed:
                ctx.error(
                    (*rpath, target_key),
                    f"{target!r} already has a route "
                    f"({render_pointer((*routes_path, routed[target]))}); "
                    "give each served entity one route",
                )
            routed.setdefault(target, i)
        percentage = _as_int(route.get("traffic_percentage"))
        if percentage is None:
            complete = False
        else:
            total += percentage
            if isinstance(route.get("traffic_percentage"), str) and percentage > 100:
                ctx.error(
                    (*rpath, "traffic_percentage"),
                    f"must be at most 100, got {percentage}",
                )
    all_mappings = len(routes) == sum(1 for _ in _items(routes))
    if complete and all_mappings and total != 100 and (routes or names):
        ctx.error(
            routes_path,
            f"traffic percentages sum to {total}; they must sum to 100",
            key=True,
        )


def _check_tags(ctx: _Context, tags: Any) -> None:
    if isinstance(tags, Mapping):
        for reserved in fields.RESERVED_TAGS:
            if reserved in tags:
                ctx.error(("tags", reserved), _reserved_tag_message(reserved), key=True)
        return
    seen: dict[str, int] = {}
    for i, tag in _items(tags):
        key = tag.get("key")
        if not isinstance(key, str):
            continue
        if key in fields.RESERVED_TAGS:
            ctx.error(("tags", i, "key"), _reserved_tag_message(key))
        if key in seen:
            ctx.error(
                ("tags", i, "key"),
                f"tag key {key!r} is already used by tags[{seen[key]}]; tag keys must be unique",
            )
        seen.setdefault(key, i)


_RESERVED_TAG_USE = {
    OWNER_TAG: "from the project's owner",
    fields.APPLIED_TAG: "what apply sent",
    ROLLOUT_TAG: "the state of a traffic rollout",
}


def _reserved_tag_message(key: str) -> str:
    return f"tag {key!r} is managed by servingops ({_RESERVED_TAG_USE[key]}); remove it"


def _check_permissions(ctx: _Context, permissions: Any) -> None:
    seen: dict[tuple[str, str], int] = {}
    for i, grant in _items(permissions):
        path: Path = ("permissions", i)
        principals = [k for k in PRINCIPALS if k in grant]
        if not principals:
            ctx.error(
                path, "permission needs one of user_name, group_name or service_principal_name"
            )
            continue
        if len(principals) > 1:
            ctx.error(
                (*path, principals[1]),
                f"permission names both {principals[0]} and {principals[1]}; "
                "write one entry per principal",
                key=True,
            )
            continue
        kind = principals[0]
        who = grant[kind]
        if not isinstance(who, str):
            continue
        if (kind, who) in seen:
            ctx.error(
                (*path, kind),
                f"{kind} {who!r} is already granted in permissions[{seen[(kind, who)]}]; "
                "give each principal one entry",
            )
        seen.setdefault((kind, who), i)


def _check_rate_limits(ctx: _Context, data: Mapping[str, Any]) -> None:
    gateway = data.get("ai_gateway")
    gateway_limits = gateway.get("rate_limits") if isinstance(gateway, Mapping) else None
    if "rate_limits" in data and gateway_limits is not None:
        ctx.error(
            ("rate_limits",),
            "rate_limits and ai_gateway.rate_limits are both set; move these limits into "
            "ai_gateway.rate_limits",
            key=True,
        )
    elif "rate_limits" in data:
        ctx.warning(
            ("rate_limits",),
            "rate_limits is the legacy form and is sent as ai_gateway.rate_limits (PUT "
            "ai-gateway); move the limits under ai_gateway",
            key=True,
        )
    seen: dict[tuple[str, str, str], int] = {}
    for i, limit in _items(data.get("rate_limits")):
        _check_duplicate_limit(ctx, ("rate_limits",), i, limit, seen)
    seen = {}
    for i, limit in _items(gateway_limits):
        path: Path = ("ai_gateway", "rate_limits", i)
        if "calls" in limit and "tokens" in limit:
            ctx.error(
                (*path, "tokens"), "set calls or tokens in one rate limit, not both", key=True
            )
        elif "calls" not in limit and "tokens" not in limit:
            ctx.error(path, "rate limit needs calls or tokens")
        _check_duplicate_limit(ctx, ("ai_gateway", "rate_limits"), i, limit, seen)


def _check_duplicate_limit(
    ctx: _Context,
    base: Path,
    i: int,
    limit: Mapping[str, Any],
    seen: dict[tuple[str, str, str], int],
) -> None:
    key, principal = limit.get("key", "endpoint"), limit.get("principal", "")
    if not isinstance(key, str) or not isinstance(principal, str):
        return
    unit = "tokens" if "tokens" in limit else "calls"
    ident = (key, principal, unit)
    if ident in seen:
        who = f" and principal {principal!r}" if principal else ""
        ctx.error(
            (*base, i),
            f"another {unit} limit ({render_pointer((*base, seen[ident]))}) has key "
            f"{key!r}{who}; keep one",
        )
    seen.setdefault(ident, i)
