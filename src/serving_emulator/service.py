"""The emulated workspace's semantics: who may do what, and what each API call does.

`Workspace` methods take an authenticated caller and plain request data, run one SQLite
transaction, and return JSON-ready values; HTTP plumbing lives in `app.py`. State transitions
come from `lifecycle`, validation from `validation`, response shapes from `shapes`.
"""

from __future__ import annotations

import copy
import json
import math
import random
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import lifecycle, shapes, validation
from .clock import Clock
from .config import EmulatorConfig
from .errors import (
    already_exists,
    conflict,
    invalid,
    invalid_state,
    not_found,
    permission_denied,
    rate_limited,
    unauthenticated,
)
from .lifecycle import Doc
from .principals import ADMINS_GROUP, Directory, Principal, group_scim_id
from .store import DocCache, Grant, Store, Txn

CAN_VIEW, CAN_QUERY, CAN_MANAGE = validation.PERMISSION_LEVELS
_RANK = {CAN_VIEW: 1, CAN_QUERY: 2, CAN_MANAGE: 3}
_VERB = {CAN_VIEW: "View", CAN_QUERY: "Query", CAN_MANAGE: "Manage"}
_LEVEL_DESCRIPTIONS = {
    CAN_MANAGE: "Can Manage",
    CAN_QUERY: "Can Query",
    CAN_VIEW: "Can View",
}
TOKEN_TTL_SECONDS = 3600
ADMINS_INHERITED_FROM = "/serving-endpoints/"


@dataclass(frozen=True)
class Invocation:
    """What an invocation returns: the JSON body and the served entity that answered."""

    body: dict[str, Any]
    served_model_name: str


@dataclass(frozen=True, slots=True)
class _Summary:
    """An endpoint's list shape (`doc`, rendered as `json`) for one stored doc and phase."""

    raw: Doc
    phase: bool | None
    doc: Doc
    json: str


class OAuthError(Exception):
    """A token-endpoint failure, answered in the OAuth error shape ({error, error_description})."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class Workspace:
    """One emulated workspace over a `Store`; safe to call from many threads."""

    def __init__(
        self, config: EmulatorConfig, clock: Clock, store: Store, directory: Directory
    ) -> None:
        self.config = config
        self._clock = clock
        self._store = store
        self._directory = directory
        self._shuffler = shapes.Shuffler(config.shuffle_seed)
        self._routing = random.Random(config.routing_seed)
        self._routing_lock = threading.Lock()
        # endpoint id -> its list summary; see `_summary`
        self._summaries: dict[str, _Summary] = {}

    def now_ms(self) -> int:
        return round(self._clock.now() * 1000)

    # -- identity ----------------------------------------------------------------------------

    @property
    def in_memory(self) -> bool:
        """True when the database lives in this process only."""
        return self._store.in_memory

    def static_principal(self, authorization: str | None) -> Principal | None:
        """The caller when the token is known without the database (users file, open mode)."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._directory.by_token(token.strip())

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization: Bearer <token>` header, or 401."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated(
                "Credential was not sent or was of an unsupported type for this API."
            )
        principal = self._directory.by_token(token)
        if principal is not None:
            return principal
        with self._store.transaction(write=False) as tx:
            issued = tx.token(token, self.now_ms())
        if issued is not None:
            found = self._directory.lookup(*issued)
            if found is not None:
                return found
        raise unauthenticated("Invalid access token.")

    def issue_token(self, client_id: str, client_secret: str, scope: str | None) -> dict[str, Any]:
        """OAuth client-credentials grant: a bearer token for the client's principal."""
        principal = self._directory.by_client(client_id, client_secret)
        if principal is None:
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        token = "emu-oauth-" + secrets.token_hex(20)
        now = self.now_ms()
        with self._store.transaction(write=True) as tx:
            tx.purge_tokens(now)
            tx.save_token(token, principal.kind, principal.name, now + TOKEN_TTL_SECONDS * 1000)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECONDS,
            "scope": scope or "all-apis",
        }

    def me(self, caller: Principal) -> dict[str, Any]:
        """SCIM /Me for the caller."""
        out: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": caller.scim_id,
            "userName": caller.name,
            "displayName": caller.display_name,
            "active": True,
            "groups": [
                {"display": g, "value": group_scim_id(g), "type": "direct"}
                for g in sorted(caller.groups)
            ],
        }
        if caller.kind == "service_principal":
            out["applicationId"] = caller.name
        else:
            out["emails"] = [{"value": caller.name, "type": "work", "primary": True}]
        return out

    # -- permissions helpers -------------------------------------------------------------------

    def _level(self, caller: Principal, grants: list[Grant]) -> str | None:
        if caller.is_admin:
            return CAN_MANAGE
        best: str | None = None
        for kind, name, level in grants:
            mine = (kind == caller.kind and name == caller.name) or (
                kind == "group" and name in caller.groups
            )
            if mine and (best is None or _RANK[level] > _RANK[best]):
                best = level
        return best

    def _require(self, tx: Txn, caller: Principal, doc: Doc, needed: str) -> str:
        # Admins may do anything, so their grants need not be read.
        level = CAN_MANAGE if caller.is_admin else self._level(caller, tx.grants(doc["id"]))
        if level is None or _RANK[level] < _RANK[needed]:
            who = "Service principal" if caller.kind == "service_principal" else "User"
            raise permission_denied(
                f"{who} does not have permission '{_VERB[needed]}' on Endpoint {doc['name']}."
            )
        return level

    # -- loading -------------------------------------------------------------------------------

    def _by_name(self, tx: Txn, name: str, now: int) -> Doc:
        doc = tx.endpoint_by_name(name)
        if doc is None:
            raise not_found(f"Endpoint with name '{name}' does not exist.")
        return lifecycle.settle(doc, now)

    def _by_id(self, tx: Txn, endpoint_id: str, now: int) -> Doc:
        doc = tx.endpoint_by_id(endpoint_id)
        if doc is None:
            raise not_found(f"Serving endpoint with id '{endpoint_id}' does not exist.")
        return lifecycle.settle(doc, now)

    def _detailed(self, doc: Doc, now: int, level: str, base_url: str) -> Doc:
        return shapes.detailed(
            lifecycle.settle(doc, now),
            now_ms=now,
            permission_level=level,
            base_url=base_url,
            shuffler=self._shuffler,
            report_workload_type=self.config.report_workload_type,
        )

    # -- write budget and failures -------------------------------------------------------------

    def _spend_write(self, tx: Txn, now: int) -> None:
        if not self.config.write_budget_enabled:
            return
        window = round(self.config.write_budget_seconds * 1000)
        count, oldest = tx.writes_since(now - window)
        if count >= self.config.write_budget_calls:
            assert oldest is not None
            retry = max(1, math.ceil((oldest + window - now) / 1000))
            raise rate_limited(
                f"Workspace {self.config.workspace_id} exceeded the limit of "
                f"{self.config.write_budget_calls} serving endpoint create/update calls per "
                f"{self.config.write_budget_seconds:g} seconds. Retry after {retry} seconds.",
                retry,
            )
        tx.record_write(now, now - window)

    def _failure_for(self, config: Doc) -> dict[str, str] | None:
        failing = self.config.failing_versions
        for entity in config["served_entities"]:
            if "external_model" in entity:
                hit = self.config.fail_updates
                what = f"external model {entity['external_model']['name']}"
            else:
                name, version = entity["entity_name"], entity["entity_version"]
                short = name.rsplit(".", 1)[-1]
                hit = (
                    self.config.fail_updates
                    or (name, version) in failing
                    or (short, version) in failing
                )
                what = f"{name} version {version}"
            if hit:
                return {
                    "entity": entity["name"],
                    "message": (
                        f"Served entity '{entity['name']}' failed to deploy: the container "
                        f"image build for {what} failed. See the build logs for details."
                    ),
                }
        return None

    def _rollout(self, doc: Doc, config: Doc, now: int, creator: str) -> Doc:
        return lifecycle.begin_rollout(
            doc,
            config,
            now_ms=now,
            duration_ms=round(self.config.update_seconds * 1000),
            creator=creator,
            failure=self._failure_for(config),
        )

    # -- endpoints -----------------------------------------------------------------------------

    def list_endpoints(self, caller: Principal) -> dict[str, Any]:
        return {"endpoints": [s.doc for s in self._visible_summaries(caller)]}

    def list_endpoints_json(self, caller: Principal) -> bytes:
        """`list_endpoints` as JSON, byte for byte as `shapes.to_json` renders it.

        Rendering dominates a listing's cost, so it joins the summaries' cached renderings.
        """
        parts = ",".join(s.json for s in self._visible_summaries(caller))
        return f'{{"endpoints":[{parts}]}}'.encode()

    def _visible_summaries(self, caller: Principal) -> list[_Summary]:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            raws = tx.endpoints()
            grants = None if caller.is_admin else tx.all_grants()
        return [
            self._summary(raw, now)
            for raw in raws
            if grants is None or self._level(caller, grants.get(raw["id"], [])) is not None
        ]

    def _summary(self, raw: Doc, now: int) -> _Summary:
        """The list shape of a stored endpoint, reused while the endpoint and its phase last.

        `raw` comes from a read transaction, so an unchanged row is the very same object (see
        `DocCache`), and the summary depends on the time only through `lifecycle.phase`.
        """
        phase = lifecycle.phase(raw, now)
        cached = self._summaries.get(raw["id"])
        if cached is not None and cached.raw is raw and cached.phase == phase:
            return cached
        doc = shapes.summary(lifecycle.settle(raw, now), now_ms=now, shuffler=self._shuffler)
        summary = _Summary(raw, phase, doc, shapes.to_json(doc))
        if len(self._summaries) >= DocCache.MAX_ENTRIES:
            self._summaries.clear()
        self._summaries[raw["id"]] = summary
        return summary

    def get_endpoint(self, caller: Principal, name: str, base_url: str) -> Doc:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_name(tx, name, now)
            level = self._require(tx, caller, doc, CAN_VIEW)
        return self._detailed(doc, now, level, base_url)

    def _new_doc(self, body: Mapping[str, Any], creator: str, now: int) -> tuple[Doc, Doc | None]:
        name = validation.check_endpoint_name(body.get("name"))
        config = (
            validation.parse_core_config(body["config"], name)
            if body.get("config") is not None
            else None
        )
        doc: Doc = {
            "id": secrets.token_hex(16),
            "name": name,
            "creator": creator,
            "creation_ms": now,
            "updated_ms": now,
            "description": validation.as_str(body.get("description") or "", "description"),
            "route_optimized": validation.as_bool(
                body.get("route_optimized", False), "route_optimized"
            ),
            "tags": validation.parse_tags(body.get("tags") or [], "tags"),
            "ai_gateway": (
                validation.parse_ai_gateway(body["ai_gateway"], endpoint_name=name)
                if body.get("ai_gateway") is not None
                else None
            ),
            "email_notifications": validation.parse_email_notifications(
                body.get("email_notifications")
            ),
            "rate_limits": validation.parse_rate_limits(body.get("rate_limits") or []),
            "budget_policy_id": (
                validation.as_str(body["budget_policy_id"], "budget_policy_id")
                if body.get("budget_policy_id")
                else None
            ),
            "telemetry_config": None,
            "uc_system_metrics_export_state": (
                validation.parse_export_state(body["uc_system_metrics_export_state"])
                if body.get("uc_system_metrics_export_state") is not None
                else None
            ),
            "config": None,
            "pending": None,
            "stopped": False,
        }
        # Like the real service, create silently drops telemetry it cannot apply.
        if body.get("telemetry_config") is not None and validation.config_kind(config) == "custom":
            doc["telemetry_config"] = _telemetry(None, body["telemetry_config"])
        return doc, config

    def create_endpoint(self, caller: Principal, body: Mapping[str, Any], base_url: str) -> Doc:
        now = self.now_ms()
        doc, config = self._new_doc(body, caller.name, now)
        with self._store.transaction(write=True) as tx:
            if tx.endpoint_by_name(doc["name"]) is not None:
                raise already_exists(f"Serving endpoint with name '{doc['name']}' already exists.")
            self._spend_write(tx, now)
            if config is not None:
                doc = self._rollout(doc, config, now, caller.name)
            tx.insert_endpoint(doc)
            tx.set_grant(doc["id"], (caller.kind, caller.name, CAN_MANAGE))
        return self._detailed(doc, now, CAN_MANAGE, base_url)

    def seed_endpoint(
        self, body: Mapping[str, Any], *, creator: str, ready: bool, base_url: str
    ) -> Doc:
        """Create out of band (no auth, no budget); `ready` makes the config active at once.

        A served entity without scale_to_zero_enabled is stored with false, as the tools that
        create endpoints out of band (the UI, Terraform) always send it.
        """
        body = _with_scale_to_zero(body)
        now = self.now_ms()
        principal = self._directory.lookup("user", creator) or self._directory.lookup(
            "service_principal", creator
        )
        kind = principal.kind if principal else "user"
        doc, config = self._new_doc(body, creator, now)
        if config is not None:
            doc = lifecycle.begin_rollout(
                doc,
                config,
                now_ms=now,
                duration_ms=0 if ready else round(self.config.update_seconds * 1000),
                creator=creator,
                failure=None if ready else self._failure_for(config),
            )
            doc = lifecycle.settle(doc, now)
        with self._store.transaction(write=True) as tx:
            if tx.endpoint_by_name(doc["name"]) is not None:
                raise already_exists(f"Serving endpoint with name '{doc['name']}' already exists.")
            tx.insert_endpoint(doc)
            tx.set_grant(doc["id"], (kind, creator, CAN_MANAGE))
        return self._detailed(doc, now, CAN_MANAGE, base_url)

    def delete_endpoint(self, caller: Principal, name: str) -> dict[str, Any]:
        now = self.now_ms()
        with self._store.transaction(write=True) as tx:
            doc = self._by_name(tx, name, now)
            self._require(tx, caller, doc, CAN_MANAGE)
            tx.delete_endpoint(doc["id"])
        return {}

    def update_config(
        self, caller: Principal, name: str, body: Mapping[str, Any], base_url: str
    ) -> Doc:
        now = self.now_ms()
        config = validation.parse_core_config(body, name)
        if config is None:
            raise invalid("The config must contain at least one served entity.")
        with self._store.transaction(write=True) as tx:
            doc = self._by_name(tx, name, now)
            level = self._require(tx, caller, doc, CAN_MANAGE)
            self._not_updating(doc, now)
            before = validation.config_kind(doc.get("config")) or validation.config_kind(
                doc.get("pending")
            )
            after = validation.config_kind(config)
            if before is not None and before != after:
                raise invalid(
                    f"Endpoint {name} serves {before} models; it cannot be updated to serve "
                    f"{after} models. Delete and re-create it instead."
                )
            self._spend_write(tx, now)
            doc = self._rollout(doc, config, now, caller.name)
            tx.save_endpoint(doc)
        return self._detailed(doc, now, level, base_url)

    def _not_updating(self, doc: Doc, now: int) -> None:
        if lifecycle.is_updating(doc, now):
            raise conflict(
                f"Endpoint {doc['name']} is currently updating (config version "
                f"{doc['pending']['config_version']}); retry when the update has finished."
            )

    def _mutate(self, caller: Principal, name: str, needed: str = CAN_MANAGE) -> _Mutation:
        return _Mutation(self, caller, name, needed)

    def patch_tags(self, caller: Principal, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        add, delete = validation.parse_tag_patch(body)
        with self._mutate(caller, name) as m:
            tags = [t for t in m.doc["tags"] if t["key"] not in delete]
            for tag in add:
                tags = [t for t in tags if t["key"] != tag["key"]] + [tag]
            m.doc["tags"] = tags
        return {"tags": shapes.tags_out(m.doc, self._shuffler)}

    def put_rate_limits(
        self, caller: Principal, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        limits = validation.parse_rate_limits(body.get("rate_limits") or [])
        with self._mutate(caller, name) as m:
            m.doc["rate_limits"] = limits
        return {"rate_limits": limits}

    def put_ai_gateway(
        self, caller: Principal, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        gateway = validation.parse_ai_gateway(body, "body", endpoint_name=name)
        with self._mutate(caller, name) as m:
            validation.check_inference_table_move(m.doc.get("ai_gateway"), gateway)
            m.doc["ai_gateway"] = gateway
        return copy.deepcopy(gateway) if gateway else {}

    def patch_notifications(
        self, caller: Principal, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        notifications = validation.parse_email_notifications(body.get("email_notifications"))
        with self._mutate(caller, name) as m:
            m.doc["email_notifications"] = notifications
        out: dict[str, Any] = {"name": name}
        if notifications:
            out["email_notifications"] = notifications
        return out

    def patch_telemetry(
        self, caller: Principal, name: str, body: Mapping[str, Any], base_url: str
    ) -> Doc:
        with self._mutate(caller, name) as m:
            kind = validation.config_kind(m.doc.get("config")) or validation.config_kind(
                m.doc.get("pending")
            )
            if kind != "custom":
                endpoint_type = "EXTERNAL_MODELS" if kind == "external" else "NO_CONFIG"
                raise invalid(
                    f"Telemetry configuration is not supported for endpoint type "
                    f"'{endpoint_type}'; only endpoints serving custom models support it."
                )
            self._not_updating(m.doc, m.now)
            raw = body.get("telemetry_config")
            m.doc["telemetry_config"] = (
                _telemetry(m.doc.get("telemetry_config"), raw) if raw is not None else None
            )
        return self._detailed(m.doc, m.now, m.level, base_url)

    def patch_metrics_export(
        self, caller: Principal, name: str, body: Mapping[str, Any], base_url: str
    ) -> Doc:
        state = validation.parse_export_state(body.get("uc_system_metrics_export_state"))
        with self._mutate(caller, name) as m:
            m.doc["uc_system_metrics_export_state"] = state
        return self._detailed(m.doc, m.now, m.level, base_url)

    def stop(self, caller: Principal, name: str, base_url: str) -> Doc:
        with self._mutate(caller, name) as m:
            if not m.doc.get("config"):
                raise invalid_state(f"Endpoint {name} has no active config to stop.")
            self._not_updating(m.doc, m.now)
            m.doc["stopped"] = True
            m.doc["updated_ms"] = m.now
        return self._detailed(m.doc, m.now, m.level, base_url)

    def start(self, caller: Principal, name: str, base_url: str) -> Doc:
        with self._mutate(caller, name) as m:
            self._not_updating(m.doc, m.now)
            if not m.doc.get("stopped"):
                raise invalid_state(f"Endpoint {name} is not stopped.")
            active = m.doc["config"]
            config = {k: copy.deepcopy(v) for k, v in active.items() if k != "config_version"}
            m.doc = self._rollout(m.doc, config, m.now, caller.name)
        return self._detailed(m.doc, m.now, m.level, base_url)

    # -- logs, schema, metrics -----------------------------------------------------------------

    def _served_entity(self, doc: Doc, served: str) -> tuple[str, Doc]:
        for block in ("pending", "config"):
            for entity in (doc.get(block) or {}).get("served_entities", []):
                if entity["name"] == served:
                    return block, entity
        raise not_found(f"Served model '{served}' does not exist in endpoint {doc['name']}.")

    def _read(self, caller: Principal, name: str, needed: str = CAN_VIEW) -> tuple[Doc, int]:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_name(tx, name, now)
            self._require(tx, caller, doc, needed)
        return doc, now

    def build_logs(self, caller: Principal, name: str, served: str) -> dict[str, Any]:
        doc, now = self._read(caller, name)
        block, entity = self._served_entity(doc, served)
        source = (
            f"external model {entity['external_model']['name']}"
            if "external_model" in entity
            else f"{entity['entity_name']} version {entity['entity_version']}"
        )
        lines = [
            f"{_stamp(entity['creation_ms'])} Building container image for served entity "
            f"'{served}' ({source}).",
            f"{_stamp(entity['creation_ms'])} Installing model dependencies.",
        ]
        if block == "pending" and lifecycle.is_updating(doc, now):
            lines.append(f"{_stamp(now)} Build in progress.")
        elif block == "pending" and lifecycle.has_failed(doc, now):
            failure = doc["pending"]["failure"]
            ended = _stamp(doc["pending"]["ready_ms"])
            if failure["entity"] == served:
                lines.append(f"{ended} ERROR: {failure['message']}")
            else:
                lines.append(f"{ended} Build cancelled: '{failure['entity']}' failed.")
        else:
            lines.append(f"{_stamp(entity['creation_ms'])} Build succeeded.")
        return {"logs": "\n".join(lines) + "\n"}

    def server_logs(self, caller: Principal, name: str, served: str) -> dict[str, Any]:
        doc, _now = self._read(caller, name)
        block, entity = self._served_entity(doc, served)
        if block == "pending" and not any(
            e["name"] == served for e in (doc.get("config") or {}).get("served_entities", [])
        ):
            return {"logs": ""}
        lines = [f"{_stamp(entity['creation_ms'])} Model server started for '{served}'."]
        if doc.get("stopped"):
            lines.append(f"{_stamp(doc['updated_ms'])} Model server stopped.")
        return {"logs": "\n".join(lines) + "\n"}

    def openapi(self, caller: Principal, name: str, base_url: str) -> str:
        doc, _now = self._read(caller, name, CAN_QUERY)
        paths: dict[str, Any] = {
            f"/serving-endpoints/{name}/invocations": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "responses": {"200": {"description": "Successful response"}},
                }
            }
        }
        for entity in (doc.get("config") or {}).get("served_entities", []):
            paths[f"/serving-endpoints/{name}/served-models/{entity['name']}/invocations"] = paths[
                f"/serving-endpoints/{name}/invocations"
            ]
        document = {
            "openapi": "3.1.0",
            "info": {
                "title": name,
                "version": str((doc.get("config") or {}).get("config_version", 0)),
            },
            "servers": [{"url": base_url}],
            "paths": paths,
        }
        return json.dumps(document, indent=2)

    def metrics(self, caller: Principal, name: str) -> str:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_name(tx, name, now)
            self._require(tx, caller, doc, CAN_VIEW)
            counts = tx.invocation_counts(doc["id"])
        lines = [
            "# HELP request_count_total Number of invocation requests served.",
            "# TYPE request_count_total counter",
        ]
        for entity in (doc.get("config") or {}).get("served_entities", []):
            count = counts.get(entity["name"], 0)
            lines.append(f'request_count_total{{served_entity_name="{entity["name"]}"}} {count}')
        lines += [
            "# HELP endpoint_ready Whether the endpoint serves traffic (1) or not (0).",
            "# TYPE endpoint_ready gauge",
            f"endpoint_ready {1 if lifecycle.status(doc, now)['ready'] == 'READY' else 0}",
        ]
        return "\n".join(lines) + "\n"

    def invoke(self, caller: Principal, name: str, body: Mapping[str, Any]) -> Invocation:
        now = self.now_ms()
        with self._store.transaction(write=True) as tx:
            doc = self._by_name(tx, name, now)
            self._require(tx, caller, doc, CAN_QUERY)
            if doc.get("stopped"):
                raise invalid_state(f"Endpoint {name} is stopped; start it to serve requests.")
            active = doc.get("config")
            if not active:
                raise invalid_state(f"Endpoint {name} is not ready: it has no active config.")
            routes = [r for r in active["traffic_config"]["routes"] if r["traffic_percentage"]]
            with self._routing_lock:
                chosen = self._routing.choices(
                    [r["served_entity_name"] for r in routes],
                    weights=[r["traffic_percentage"] for r in routes],
                )[0]
            tx.count_invocation(doc["id"], chosen)
        entity = next(e for e in active["served_entities"] if e["name"] == chosen)
        return Invocation(_prediction(entity, body), chosen)

    # -- permissions ---------------------------------------------------------------------------

    def _permissions_out(self, endpoint_id: str, grants: list[Grant]) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for kind, principal, level in grants:
            key = {"user": "user_name", "group": "group_name"}.get(kind, "service_principal_name")
            entry: dict[str, Any] = {key: principal}
            display = self._directory.display_name(kind, principal)  # type: ignore[arg-type]
            if display is not None:
                entry["display_name"] = display
            entry["all_permissions"] = [{"permission_level": level, "inherited": False}]
            entries.append(entry)
        entries.append(
            {
                "group_name": ADMINS_GROUP,
                "all_permissions": [
                    {
                        "permission_level": CAN_MANAGE,
                        "inherited": True,
                        "inherited_from_object": [ADMINS_INHERITED_FROM],
                    }
                ],
            }
        )
        return {
            "object_id": f"/serving-endpoints/{endpoint_id}",
            "object_type": "serving-endpoint",
            "access_control_list": self._shuffler.order(entries, f"{endpoint_id}:acl"),
        }

    def get_permissions(self, caller: Principal, endpoint_id: str) -> dict[str, Any]:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_id(tx, endpoint_id, now)
            self._require(tx, caller, doc, CAN_VIEW)
            grants = tx.grants(endpoint_id)
        return self._permissions_out(endpoint_id, grants)

    def set_permissions(
        self, caller: Principal, endpoint_id: str, body: Mapping[str, Any], replace: bool
    ) -> dict[str, Any]:
        requested = validation.parse_acl(body.get("access_control_list"))
        for kind, principal, _level in requested:
            if kind == "group" and principal == ADMINS_GROUP:
                raise invalid("The admins group always has CAN_MANAGE; it cannot be changed.")
            if not self._directory.exists(kind, principal):  # type: ignore[arg-type]
                label = {"user": "User", "group": "Group"}.get(kind, "Service principal")
                raise invalid(f"{label} '{principal}' does not exist in this workspace.")
        now = self.now_ms()
        with self._store.transaction(write=True) as tx:
            doc = self._by_id(tx, endpoint_id, now)
            self._require(tx, caller, doc, CAN_MANAGE)
            if replace:
                tx.clear_grants(endpoint_id)
            for grant in requested:
                tx.set_grant(endpoint_id, grant)
            grants = tx.grants(endpoint_id)
        return self._permissions_out(endpoint_id, grants)

    def permission_levels(self, caller: Principal, endpoint_id: str) -> dict[str, Any]:
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_id(tx, endpoint_id, now)
            self._require(tx, caller, doc, CAN_VIEW)
        return {
            "permission_levels": [
                {"permission_level": level, "description": _LEVEL_DESCRIPTIONS[level]}
                for level in (CAN_MANAGE, CAN_QUERY, CAN_VIEW)
            ]
        }


class _Mutation:
    """A write transaction on one endpoint: load settled, check the level, save on success."""

    def __init__(self, workspace: Workspace, caller: Principal, name: str, needed: str) -> None:
        self._workspace = workspace
        self._caller = caller
        self._name = name
        self._needed = needed
        self.doc: Doc = {}
        self.level = ""
        self.now = 0

    def __enter__(self) -> _Mutation:
        ws = self._workspace
        self.now = ws.now_ms()
        self._cm = ws._store.transaction(write=True)
        self._tx = self._cm.__enter__()
        try:
            self.doc = ws._by_name(self._tx, self._name, self.now)
            self.level = ws._require(self._tx, self._caller, self.doc, self._needed)
        except BaseException as e:
            self._cm.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self._tx.save_endpoint(self.doc)
        self._cm.__exit__(exc_type, exc, tb)


def _with_scale_to_zero(body: Mapping[str, Any]) -> Mapping[str, Any]:
    config = body.get("config")
    if not isinstance(config, dict):
        return body
    filled = dict(config)
    for key in ("served_entities", "served_models"):
        if isinstance(config.get(key), list):
            filled[key] = [
                {"scale_to_zero_enabled": False, **e}
                if isinstance(e, dict) and "external_model" not in e
                else e
                for e in config[key]
            ]
    return {**body, "config": filled}


def _telemetry(previous: Doc | None, raw: Any) -> Doc | None:
    src = validation.as_obj(raw, "telemetry_config")
    tables = src.get("table_names")
    profile = src.get("telemetry_profile_id")
    if tables is None and not profile:
        return previous
    out: Doc = {"telemetry_profile_id": profile or secrets.token_hex(16)}
    features = src.get("enabled_telemetry_features")
    if features:
        out["enabled_telemetry_features"] = validation.as_list(
            features, "telemetry_config.enabled_telemetry_features"
        )
    table = src.get("inference_table_config")
    if table is not None:
        table = dict(validation.as_obj(table, "telemetry_config.inference_table_config"))
        if isinstance(tables, dict) and tables.get("logs_table"):
            table["name"] = f"{tables['logs_table']}_payload"
        out["inference_table_config"] = table
    return out


def _rows(body: Mapping[str, Any]) -> int:
    for key in ("dataframe_records", "instances", "inputs"):
        value = body.get(key)
        if isinstance(value, list):
            return max(1, len(value))
    split = body.get("dataframe_split")
    if isinstance(split, dict) and isinstance(split.get("data"), list):
        return max(1, len(split["data"]))
    return 1


def _prediction(entity: Doc, body: Mapping[str, Any]) -> dict[str, Any]:
    if "external_model" in entity:
        model = entity["external_model"]
        text = f"Emulated answer from {model['name']} ({entity['name']})."
        if model["task"] == "llm/v1/embeddings":
            return {
                "object": "list",
                "model": model["name"],
                "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 0.0, 0.0]}],
            }
        return {
            "id": "chatcmpl-" + secrets.token_hex(8),
            "object": "chat.completion",
            "model": model["name"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    label = f"{entity['entity_name']}/{entity['entity_version']}"
    return {"predictions": [label] * _rows(body)}


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
