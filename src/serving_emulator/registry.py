"""Unity Catalog registered models, model versions and aliases (`/api/2.1/unity-catalog/models`).

Stored models (from the objects file, the seed hook or `POST /models`) hold their versions and
aliases authoritatively. While the `models` kind is permissive, a model nobody declared still
exists: any version of it is READY and any alias points at version 1. The same lookups decide
whether a rollout can deploy a served entity (`deployment_problem`).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from typing import Any

from . import objectstore
from .clock import Clock
from .errors import ApiError, already_exists, invalid, permission_denied
from .objectstore import MODEL, Doc
from .principals import Principal
from .store import Store, Txn

DEFAULT_PAGE = 100
MAX_PAGE = 1000
# With both catalog_name and schema_name, list pages are larger (databricks-sdk-py
# RegisteredModelsAPI.list docstring: 10000 either way).
SCHEMA_PAGE = 10000
_RESERVED_ALIASES = ("latest",)


def not_found(message: str) -> ApiError:
    # Unity Catalog answers 404 NOT_FOUND with "<Securable> '<full name>' does not exist."
    return ApiError(404, "NOT_FOUND", message)


class Registry:
    """The models of one emulated metastore, over the shared `Store`."""

    def __init__(self, store: Store, clock: Clock, *, admin_user: str, workspace_id: str) -> None:
        self._store = store
        self._clock = clock
        self._admin_user = admin_user
        self._metastore_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"metastore:{workspace_id}"))

    def _now(self) -> int:
        return round(self._clock.now() * 1000)

    # -- lookups -----------------------------------------------------------------------------

    def _model(self, tx: Txn, full_name: str) -> tuple[Doc | None, bool]:
        """(the model, whether it is stored); a permissive kind makes up undeclared models."""
        stored = objectstore.get(tx, MODEL, full_name)
        if stored is not None:
            return stored, True
        if objectstore.is_authoritative(tx, MODEL):
            return None, False
        doc = objectstore.new_model(full_name, owner=self._admin_user, now_ms=self._now())
        doc["open_versions"] = True
        return doc, False

    def _existing(self, tx: Txn, full_name: str) -> tuple[Doc, bool]:
        doc, stored = self._model(tx, full_name)
        if doc is None:
            raise not_found(f"Routine or Model '{full_name}' does not exist.")
        return doc, stored

    @staticmethod
    def _version(doc: Doc, number: int) -> Doc | None:
        version = doc["versions"].get(str(number))
        if version is None and doc.get("open_versions"):
            return objectstore.new_version(created_by=doc["owner"], now_ms=doc["created_at"])
        return dict(version) if version is not None else None

    @staticmethod
    def _alias(doc: Doc, alias: str, stored: bool) -> int | None:
        number = doc["aliases"].get(alias)
        if number is None and not stored:
            return 1  # an undeclared model in a permissive registry: the first version
        return int(number) if number is not None else None

    def deployment_problem(self, entity_name: str, entity_version: str) -> str | None:
        """Why a rollout cannot deploy this entity, or None (no check on the caller's access).

        Only three-level names are Unity Catalog models; others (the workspace model registry,
        which is not emulated) always deploy.
        """
        full_name = entity_name.lower()
        if len(full_name.split(".")) != 3:
            return None
        with self._store.transaction(write=False) as tx:
            doc, _stored = self._model(tx, full_name)
        if doc is None:
            return f"Routine or Model '{full_name}' does not exist."
        if not entity_version.isdigit():
            return f"Model version '{entity_version}' of {full_name} is not a version number."
        version = self._version(doc, int(entity_version))
        if version is None:
            return f"Model version {int(entity_version)} of {full_name} does not exist."
        if version["status"] != "READY":
            return (
                f"Model version {int(entity_version)} of {full_name} is in status "
                f"{version['status']}; only model versions in READY status can be served."
            )
        return None

    # -- permissions --------------------------------------------------------------------------

    @staticmethod
    def _holds(caller: Principal, names: list[str] | tuple[str, ...]) -> bool:
        return caller.name in names or any(g in names for g in caller.groups)

    def _can_read(self, caller: Principal, doc: Doc) -> bool:
        execute = doc.get("execute")
        return (
            caller.is_admin
            or execute is None
            or self._holds(caller, [doc["owner"]])
            or self._holds(caller, execute)
        )

    def _require_read(self, caller: Principal, doc: Doc) -> None:
        if not self._can_read(caller, doc):
            raise permission_denied(
                f"User does not have EXECUTE on Routine or Model '{doc['full_name']}'."
            )

    def _require_owner(self, caller: Principal, doc: Doc) -> None:
        if not (caller.is_admin or self._holds(caller, [doc["owner"]])):
            raise permission_denied(
                f"User is not an owner of Routine or Model '{doc['full_name']}'."
            )

    # -- shapes --------------------------------------------------------------------------------

    def _model_out(self, doc: Doc, *, include_aliases: bool) -> Doc:
        catalog, schema, name = doc["full_name"].split(".")
        out: Doc = {
            "name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "full_name": doc["full_name"],
            "owner": doc["owner"],
            "storage_location": self._storage(doc),
            "metastore_id": self._metastore_id,
            "created_at": doc["created_at"],
            "created_by": doc["created_by"],
            "updated_at": doc["updated_at"],
            "updated_by": doc["updated_by"],
        }
        if doc.get("comment"):
            out["comment"] = doc["comment"]
        if include_aliases:
            out["aliases"] = [
                self._alias_out(doc, alias, int(number))
                for alias, number in sorted(doc["aliases"].items())
            ]
        return out

    def _alias_out(self, doc: Doc, alias: str, number: int) -> Doc:
        catalog, schema, name = doc["full_name"].split(".")
        return {
            "alias_name": alias,
            "version_num": number,
            "catalog_name": catalog,
            "schema_name": schema,
            "model_name": name,
            "id": _uuid(f"alias:{doc['full_name']}:{alias}"),
        }

    def _version_out(
        self, doc: Doc, number: int, version: Doc, *, include_aliases: bool = False
    ) -> Doc:
        catalog, schema, name = doc["full_name"].split(".")
        location = f"{self._storage(doc)}/versions/{number}"
        out: Doc = {
            "model_name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "version": number,
            "status": version["status"],
            "source": location,
            "storage_location": location,
            "metastore_id": self._metastore_id,
            "id": _uuid(f"version:{doc['full_name']}:{number}"),
            "created_at": version["created_at"],
            "created_by": version["created_by"],
            "updated_at": version["created_at"],
            "updated_by": version["created_by"],
        }
        if include_aliases:
            out["aliases"] = [
                self._alias_out(doc, alias, number)
                for alias, target in sorted(doc["aliases"].items())
                if int(target) == number
            ]
        return out

    def _storage(self, doc: Doc) -> str:
        return f"emulator://metastore/{self._metastore_id}/models/{_uuid(doc['full_name'])}"

    # -- models -----------------------------------------------------------------------------

    def get_model(self, caller: Principal, full_name: str, query: Mapping[str, str]) -> Doc:
        full_name = _full_name(full_name)
        with self._store.transaction(write=False) as tx:
            doc, _stored = self._existing(tx, full_name)
        self._require_read(caller, doc)
        return self._model_out(doc, include_aliases=_flag(query, "include_aliases"))

    def list_models(self, caller: Principal, query: Mapping[str, str]) -> Doc:
        catalog, schema = query.get("catalog_name"), query.get("schema_name")
        if bool(catalog) != bool(schema):
            raise invalid("catalog_name and schema_name must be specified together.")
        default = SCHEMA_PAGE if catalog else DEFAULT_PAGE
        limit = _page_size(query, default=default, cap=SCHEMA_PAGE if catalog else MAX_PAGE)
        after = _after(query)
        prefix = f"{catalog}.{schema}.".lower() if catalog else ""
        with self._store.transaction(write=False) as tx:
            docs = objectstore.all_of(tx, MODEL)
        visible = [
            d
            for d in docs
            if d["full_name"].startswith(prefix)
            and d["full_name"] > after
            and self._can_read(caller, d)
        ]
        page = visible[:limit]
        out: Doc = {"registered_models": [self._model_out(d, include_aliases=False) for d in page]}
        if len(visible) > limit:
            out["next_page_token"] = _token(page[-1]["full_name"])
        return out

    def create_model(self, caller: Principal, body: Mapping[str, Any]) -> Doc:
        parts = [_identifier(body.get(key), key) for key in ("catalog_name", "schema_name", "name")]
        full_name = ".".join(parts).lower()
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise invalid("comment must be a string.")
        owner = body.get("owner") or caller.name
        if not isinstance(owner, str):
            raise invalid("owner must be a string.")
        now = self._now()
        with self._store.transaction(write=True) as tx:
            if objectstore.get(tx, MODEL, full_name) is not None:
                raise already_exists(f"Routine or Model '{full_name}' already exists.")
            doc = objectstore.new_model(full_name, owner=owner, now_ms=now, comment=comment)
            doc["created_by"] = doc["updated_by"] = caller.name
            objectstore.put(tx, MODEL, full_name, doc)
        return self._model_out(doc, include_aliases=False)

    def delete_model(self, caller: Principal, full_name: str) -> Doc:
        full_name = _full_name(full_name)
        with self._store.transaction(write=True) as tx:
            doc = objectstore.get(tx, MODEL, full_name)
            if doc is None:
                raise not_found(f"Routine or Model '{full_name}' does not exist.")
            self._require_owner(caller, doc)
            objectstore.delete(tx, MODEL, full_name)
        return {}

    # -- versions ---------------------------------------------------------------------------

    def get_version(
        self, caller: Principal, full_name: str, version: str, query: Mapping[str, str]
    ) -> Doc:
        full_name = _full_name(full_name)
        number = _version_number(version)
        with self._store.transaction(write=False) as tx:
            doc, _stored = self._existing(tx, full_name)
        self._require_read(caller, doc)
        found = self._version(doc, number)
        if found is None:
            raise not_found(f"Model version {number} of '{full_name}' does not exist.")
        return self._version_out(
            doc, number, found, include_aliases=_flag(query, "include_aliases")
        )

    def list_versions(self, caller: Principal, full_name: str, query: Mapping[str, str]) -> Doc:
        full_name = _full_name(full_name)
        limit = _page_size(query, default=DEFAULT_PAGE, cap=MAX_PAGE)
        after = _after(query)
        with self._store.transaction(write=False) as tx:
            doc, _stored = self._existing(tx, full_name)
        self._require_read(caller, doc)
        # Newest first; the token is the last version number shown. A permissive model that
        # nobody declared has no versions to list (any one of them can still be read).
        numbers = sorted((int(n) for n in doc["versions"]), reverse=True)
        if after:
            if not after.isdigit():
                raise invalid("page_token is not a token this API returned.")
            numbers = [n for n in numbers if n < int(after)]
        page = numbers[:limit]
        out: Doc = {
            "model_versions": [self._version_out(doc, n, doc["versions"][str(n)]) for n in page]
        }
        if len(numbers) > limit:
            out["next_page_token"] = _token(str(page[-1]))
        return out

    # -- aliases ----------------------------------------------------------------------------

    def get_by_alias(
        self, caller: Principal, full_name: str, alias: str, query: Mapping[str, str]
    ) -> Doc:
        full_name = _full_name(full_name)
        with self._store.transaction(write=False) as tx:
            doc, stored = self._existing(tx, full_name)
        self._require_read(caller, doc)
        number = self._alias(doc, alias, stored)
        version = self._version(doc, number) if number is not None else None
        if number is None or version is None:
            raise not_found(f"Alias '{alias}' does not exist on Routine or Model '{full_name}'.")
        return self._version_out(
            doc, number, version, include_aliases=_flag(query, "include_aliases")
        )

    def set_alias(
        self, caller: Principal, full_name: str, alias: str, body: Mapping[str, Any]
    ) -> Doc:
        full_name = _full_name(full_name)
        if alias.lower() in _RESERVED_ALIASES:
            raise invalid(f"The alias name '{alias}' is reserved.")
        raw = body.get("version_num")
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise invalid("version_num must be a positive integer.")
        number = int(raw)
        now = self._now()
        with self._store.transaction(write=True) as tx:
            doc, _stored = self._existing(tx, full_name)
            self._require_owner(caller, doc)
            if self._version(doc, number) is None:
                raise not_found(f"Model version {number} of '{full_name}' does not exist.")
            doc["aliases"][alias] = number
            doc["updated_at"], doc["updated_by"] = now, caller.name
            objectstore.put(tx, MODEL, full_name, doc)
        return self._alias_out(doc, alias, number)

    def delete_alias(self, caller: Principal, full_name: str, alias: str) -> Doc:
        full_name = _full_name(full_name)
        now = self._now()
        with self._store.transaction(write=True) as tx:
            doc, _stored = self._existing(tx, full_name)
            self._require_owner(caller, doc)
            if alias not in doc["aliases"]:
                raise not_found(
                    f"Alias '{alias}' does not exist on Routine or Model '{full_name}'."
                )
            del doc["aliases"][alias]
            doc["updated_at"], doc["updated_by"] = now, caller.name
            objectstore.put(tx, MODEL, full_name, doc)
        return {}


def _uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _full_name(raw: str) -> str:
    parts = raw.split(".")
    if len(parts) != 3 or not all(parts):
        raise invalid(f"'{raw}' is not a three-level model name (catalog.schema.model).")
    return raw.lower()


def _identifier(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"{key} is required.")
    if any(c in value for c in "./ ") or not value.isprintable():
        raise invalid(f"{key} '{value}' is not a valid name.")
    return value


def _version_number(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise invalid(f"Model version '{raw}' is not a positive integer.")
    return int(raw)


def _flag(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() == "true"


def _page_size(query: Mapping[str, str], *, default: int, cap: int) -> int:
    raw = query.get("max_results")
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid(f"max_results must be an integer, not '{raw}'.") from None
    if size < 0:
        raise invalid("max_results must not be negative.")
    return default if size == 0 else min(size, cap)


def _token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _after(query: Mapping[str, str]) -> str:
    token = query.get("page_token")
    if not token:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = data["after"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        raise invalid("page_token is not a token this API returned.") from None
    if not isinstance(after, str):
        raise invalid("page_token is not a token this API returned.")
    return after
