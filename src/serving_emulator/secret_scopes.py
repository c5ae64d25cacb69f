"""Secret scopes and secrets (`/api/2.0/secrets/...`): list routes give names, never values.

A scope's ACL decides what a caller may do: READ lists keys and reads a value, WRITE also puts
and deletes secrets, MANAGE also deletes the scope. Admins hold MANAGE on every scope; a scope
created through the API gives its creator MANAGE (or every user, with
`initial_manage_principal: users`); a scope from the objects file gives every user MANAGE unless
its `read` list says who may read it. Scope names are case-insensitive.

Scopes cannot be permissive the way models and principals are: the only way to ask whether a key
exists is to list its scope, and a list cannot hold every name. A scope exists once declared
(objects file, seed hook) or created.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from . import objectstore
from .clock import Clock
from .errors import ApiError, invalid, malformed, not_found, permission_denied
from .objects import SCOPE_NAME, SECRET_KEY
from .objectstore import SCOPE, Doc
from .principals import USERS_GROUP, Principal
from .store import Store, Txn

READ, WRITE, MANAGE = "READ", "WRITE", "MANAGE"
_RANK = {READ: 1, WRITE: 2, MANAGE: 3}
MAX_VALUE_BYTES = 128 * 1024
MAX_KEYS = 1000
AZURE_KEYVAULT = "AZURE_KEYVAULT"


class SecretScopes:
    """The secret scopes of one emulated workspace, over the shared `Store`."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> int:
        return round(self._clock.now() * 1000)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _scope(tx: Txn, name: str) -> Doc:
        doc = objectstore.get(tx, SCOPE, name.lower())
        if doc is None:
            raise not_found(f"Scope {name} does not exist!")
        return doc

    @staticmethod
    def _level(caller: Principal, doc: Doc) -> int:
        if caller.is_admin:
            return _RANK[MANAGE]
        best = 0
        for principal, level in doc["acl"].items():
            mine = principal in (caller.name, USERS_GROUP) or principal in caller.groups
            if mine:
                best = max(best, _RANK[level])
        return best

    def _require(self, caller: Principal, doc: Doc, needed: str) -> None:
        if self._level(caller, doc) < _RANK[needed]:
            raise permission_denied(
                f"User {caller.name} does not have {needed} permission on scope {doc['name']}."
            )

    # -- scopes -------------------------------------------------------------------------------

    def create_scope(self, caller: Principal, body: Mapping[str, Any]) -> Doc:
        name = _required(body, "scope")
        if not SCOPE_NAME.match(name):
            raise invalid(
                f"Scope name '{name}' is invalid: it must consist of alphanumeric characters, "
                "dashes, underscores, '@' and periods, and may not exceed 128 characters."
            )
        manage = body.get("initial_manage_principal")
        if manage not in (None, "", USERS_GROUP):
            raise invalid(
                "initial_manage_principal only supports the group 'users' (all workspace users)."
            )
        backend = str(body.get("scope_backend_type") or "DATABRICKS").upper()
        if backend not in ("DATABRICKS", AZURE_KEYVAULT):
            raise invalid(f"Unknown scope_backend_type '{backend}'.")
        keyvault = body.get("backend_azure_keyvault")
        if backend == AZURE_KEYVAULT and not isinstance(keyvault, dict):
            raise invalid("backend_azure_keyvault is required for an AZURE_KEYVAULT scope.")
        with self._store.transaction(write=True) as tx:
            if objectstore.get(tx, SCOPE, name.lower()) is not None:
                # The real answer is a 400 (databricks-cli#340, azure-databricks-operator#91).
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Scope {name} already exists!")
            doc = objectstore.new_scope(
                name, manage=USERS_GROUP if manage else caller.name, backend_type=backend
            )
            if backend == AZURE_KEYVAULT:
                doc["keyvault_metadata"] = keyvault
            objectstore.put(tx, SCOPE, name.lower(), doc)
        return {}

    def delete_scope(self, caller: Principal, body: Mapping[str, Any]) -> Doc:
        name = _required(body, "scope")
        with self._store.transaction(write=True) as tx:
            doc = self._scope(tx, name)
            self._require(caller, doc, MANAGE)
            objectstore.delete(tx, SCOPE, name.lower())
        return {}

    def list_scopes(self, caller: Principal) -> Doc:
        # Scope names are readable by every workspace user (Databricks docs, "Secret scopes").
        with self._store.transaction(write=False) as tx:
            docs = objectstore.all_of(tx, SCOPE)
        scopes = []
        for doc in docs:
            scope: Doc = {"name": doc["name"], "backend_type": doc["backend_type"]}
            if doc.get("keyvault_metadata"):
                scope["keyvault_metadata"] = doc["keyvault_metadata"]
            scopes.append(scope)
        return {"scopes": scopes} if scopes else {}

    # -- secrets ------------------------------------------------------------------------------

    def put_secret(self, caller: Principal, body: Mapping[str, Any]) -> Doc:
        name, key = _required(body, "scope"), _required(body, "key")
        string_value, bytes_value = body.get("string_value"), body.get("bytes_value")
        if (string_value is None) == (bytes_value is None):
            raise malformed("Exactly one of string_value and bytes_value must be specified.")
        if string_value is not None:
            if not isinstance(string_value, str):
                raise invalid("string_value must be a string.")
            raw = string_value.encode("utf-8")
        else:
            try:
                raw = base64.b64decode(str(bytes_value), validate=True)
            except (binascii.Error, ValueError):
                raise invalid("bytes_value must be base64-encoded.") from None
        if len(raw) > MAX_VALUE_BYTES:
            raise invalid(f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes.")
        with self._store.transaction(write=True) as tx:
            doc = self._scope(tx, name)
            self._require(caller, doc, WRITE)
            if doc["backend_type"] == AZURE_KEYVAULT:
                raise ApiError(
                    400, "BAD_REQUEST", f"Scope {name} is backed by Azure Key Vault: read only."
                )
            if not SECRET_KEY.match(key):
                raise invalid(
                    f"Secret key '{key}' is invalid: it must consist of alphanumeric characters, "
                    "dashes, underscores and periods, and may not exceed 128 characters."
                )
            if key not in doc["keys"] and len(doc["keys"]) >= MAX_KEYS:
                raise ApiError(
                    400,
                    "RESOURCE_LIMIT_EXCEEDED",
                    f"Scope {name} already holds the maximum of {MAX_KEYS} secrets.",
                )
            doc["keys"][key] = {"ts": self._now(), "value": base64.b64encode(raw).decode()}
            objectstore.put(tx, SCOPE, name.lower(), doc)
        return {}

    def delete_secret(self, caller: Principal, body: Mapping[str, Any]) -> Doc:
        name, key = _required(body, "scope"), _required(body, "key")
        with self._store.transaction(write=True) as tx:
            doc = self._scope(tx, name)
            self._require(caller, doc, WRITE)
            if key not in doc["keys"]:
                raise not_found(f"Secret does not exist with scope: {name} and key: {key}")
            del doc["keys"][key]
            objectstore.put(tx, SCOPE, name.lower(), doc)
        return {}

    def list_secrets(self, caller: Principal, query: Mapping[str, str]) -> Doc:
        name = _required(query, "scope")
        with self._store.transaction(write=False) as tx:
            doc = self._scope(tx, name)
        self._require(caller, doc, READ)
        secrets = [
            {"key": key, "last_updated_timestamp": entry["ts"]}
            for key, entry in sorted(doc["keys"].items())
        ]
        return {"secrets": secrets} if secrets else {}

    def get_secret(self, caller: Principal, query: Mapping[str, str]) -> Doc:
        """The value, base64-encoded, for a caller holding READ on the scope.

        The API reference calls this route DBUtils-only, yet the Databricks CLI's cloud
        acceptance test (acceptance/bundle/resources/secret_scopes/basic) reads a value back with
        `secrets get-secret` as the scope's creator; what decides is the scope's ACL. A key from
        the objects file has no value: it reads as empty.
        """
        name, key = _required(query, "scope"), _required(query, "key")
        with self._store.transaction(write=False) as tx:
            doc = self._scope(tx, name)
        self._require(caller, doc, READ)
        entry = doc["keys"].get(key)
        if entry is None:
            raise not_found(f"Secret does not exist with scope: {name} and key: {key}")
        return {"key": key, "value": entry["value"] or ""}


def _required(body: Mapping[str, Any], field: str) -> str:
    """A required non-empty string field of a request body or query (`scope`, `key`)."""
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing required field: {field}.")
    return value
