"""The emulated workspace's semantics: who may do what, and what each API call does.

`Workspace` methods take an authenticated caller and plain request data, run one SQLite
transaction, and return JSON-ready values; HTTP plumbing lives in `app.py`. State transitions
come from `lifecycle`, validation from `validation`, response shapes from `shapes`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
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
    quota_exceeded,
    rate_limited,
    unauthenticated,
)
from .lifecycle import Doc
from .principals import ADMINS_GROUP, Directory, Principal, group_scim_id
from .store import DocCache, Grant, Store, Txn
from .workspace_objects import WorkspaceObjectServices

CAN_VIEW, CAN_QUERY, CAN_MANAGE = validation.PERMISSION_LEVELS
_RANK = {CAN_VIEW: 1, CAN_QUERY: 2, CAN_MANAGE: 3}
_VERB = {CAN_VIEW: "View", CAN_QUERY: "Query", CAN_MANAGE: "Manage"}
_LEVEL_DESCRIPTIONS = {
    CAN_MANAGE: "Can Manage",
    CAN_QUERY: "Can Query",
    CAN_VIEW: "Can View",
}
TOKEN_TTL_SECONDS = 3600
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ADMINS_INHERITED_FROM = "/serving-endpoints/"


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
        self,
        config: EmulatorConfig,
        clock: Clock,
        store: Store,
        directory: Directory,
        objects: WorkspaceObjectServices,
    ) -> None:
        self.config = config
        self._clock = clock
        self._store = store
        self._directory = directory
        # Unity Catalog models, secret scopes and principals (their routes: objects_app.py)
        self.objects = objects
        self._shuffler = shapes.Shuffler(config.shuffle_seed)
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
        return {
            "access_token": self._mint(principal, self.now_ms(), TOKEN_TTL_SECONDS),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECONDS,
            "scope": scope or "all-apis",
        }

    def exchange_token(
        self, subject_token: str, subject_token_type: str, client_id: str, scope: str | None
    ) -> dict[str, Any]:
        """OAuth token federation (RFC 8693): a workspace token for a federated JWT.

        `client_id` names the service principal whose federation policy applies; without it
        (an account-wide policy) the JWT's `sub` names the user or service principal. The JWT's
        shape, algorithm and expiry are checked; its signature and issuer are not.
        """
        if not subject_token or subject_token_type != JWT_TOKEN_TYPE:
            raise OAuthError(
                400,
                "invalid_request",
                f"Token exchange needs a subject_token of type {JWT_TOKEN_TYPE}.",
            )
        claims = _jwt_claims(subject_token)
        if claims is None:
            raise OAuthError(
                400, "invalid_grant", "The subject_token is not a JWT signed with RS256 or ES256."
            )
        now = self.now_ms()
        lifetime = TOKEN_TTL_SECONDS
        expires = claims.get("exp")
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            lifetime = min(lifetime, int(expires - now / 1000))
            if lifetime <= 0:
                raise OAuthError(400, "invalid_grant", "The subject_token has expired.")
        directory = self._directory
        principal: Principal | None
        if directory.is_open:
            principal = directory.lookup("user", self.config.admin_user)
        elif client_id:
            principal = directory.lookup("service_principal", client_id)
            if principal is None:
                raise OAuthError(401, "invalid_client", "Client authentication failed.")
        else:
            subject = str(claims.get("sub") or "")
            principal = directory.lookup("user", subject) or directory.lookup(
                "service_principal", subject
            )
        if principal is None:
            raise OAuthError(
                400, "invalid_grant", "No federation policy matches the subject_token."
            )
        return {
            "access_token": self._mint(principal, now, lifetime),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope or "all-apis",
        }

    def _mint(self, principal: Principal, now: int, lifetime: int) -> str:
        """A new OAuth access token acting as `principal`, valid `lifetime` seconds from `now`."""
        token = "emu-oauth-" + secrets.token_hex(20)
        with self._store.transaction(write=True) as tx:
            tx.purge_tokens(now)
            tx.save_token(token, principal.kind, principal.name, now + lifetime * 1000)
        return token

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
            # A Unity Catalog model version that does not exist or is not READY cannot deploy.
            problem = (
                None
                if "external_model" in entity
                else self.objects.registry.deployment_problem(name, version)
            )
            if problem is not None:
                return {
                    "entity": entity["name"],
                    "message": f"Served entity '{entity['name']}' failed to deploy: {problem}",
                }
        return None

    def _rollout(
        self, doc: Doc, config: Doc, now: int, creator: str, *, instant: bool = False
    ) -> Doc:
        """Start rolling `config` out; `instant` (seeding) makes it active at once, never failed."""
        return lifecycle.begin_rollout(
            doc,
            config,
            now_ms=now,
            duration_ms=0 if instant else round(self.config.update_seconds * 1000),
            creator=creator,
            failure=None if instant else self._failure_for(config),
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
            "usage_policy_id": self.config.usage_policy_id,
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
            limit = self.config.max_endpoints
            if tx.endpoint_count() >= limit:
                raise quota_exceeded(
                    f"Cannot create serving endpoint '{doc['name']}': the workspace has reached "
                    f"its limit of {limit} serving endpoints. Delete unused endpoints and retry."
                )
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
            doc = lifecycle.settle(self._rollout(doc, config, now, creator, instant=ready), now)
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
            # Documented limit: only custom-model endpoints that are not route-optimized stop.
            kind = shapes.served_kind(m.doc)
            why = {
                "external": "it serves external models",
                "foundation": "it serves foundation models",
            }.get(kind or "")
            if why is None and m.doc.get("route_optimized"):
                why = "it is route-optimized"
            if why is not None:
                raise invalid(
                    f"Endpoint {name} cannot be stopped: {why}. Only custom model endpoints "
                    "that are not route-optimized can be stopped."
                )
            self._not_updating(m.doc, m.now)
            if m.doc.get("stopped"):
                raise invalid_state(f"Endpoint {name} is already stopped.")
            m.doc["stopped"] = True
            m.doc["updated_ms"] = m.now
        return self._detailed(m.doc, m.now, m.level, base_url)

    def start(self, caller: Principal, name: str, base_url: str) -> Doc:
        with self._mutate(caller, name) as m:
            self._not_updating(m.doc, m.now)
            if not m.doc.get("stopped"):
                raise invalid_state(f"Endpoint {name} is not stopped.")
            active = m.doc["config"]
            config = {
                k: copy.deepcopy(v)
                for k, v in active.items()
                if k not in ("config_version", "rollout_ms")
            }
            m.doc = self._rollout(m.doc, config, m.now, caller.name)
        return self._detailed(m.doc, m.now, m.level, base_url)

    # -- for the data plane (dataplane.py) ----------------------------------------------------

    @property
    def store(self) -> Store:
        return self._store

    @property
    def clock(self) -> Clock:
        return self._clock

    def load(self, tx: Txn, name: str, now: int) -> Doc:
        """The settled endpoint `name` inside `tx`, or 404."""
        return self._by_name(tx, name, now)

    def require(self, tx: Txn, caller: Principal, doc: Doc, needed: str) -> str:
        """The caller's level on `doc`, or 403 when it is below `needed`."""
        return self._require(tx, caller, doc, needed)

    def read_endpoint(
        self, caller: Principal, name: str, needed: str = CAN_VIEW
    ) -> tuple[Doc, int]:
        """The settled endpoint and the time it was read at, for a caller with `needed`."""
        now = self.now_ms()
        with self._store.transaction(write=False) as tx:
            doc = self._by_name(tx, name, now)
            self._require(tx, caller, doc, needed)
        return doc, now

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
            if not self.objects.scim.exists(kind, principal):
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


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWS compact token signed with RS256 or ES256, or None."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        )
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or header.get("alg") not in ("RS256", "ES256"):
        return None
    return claims if isinstance(claims, dict) else None
