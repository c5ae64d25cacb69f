"""Workspace objects in SQLite: Unity Catalog models, secret scopes and principals, and which
kinds are authoritative.

Objects from the objects file or the seed hook and objects created through the API live in one
table, so every emulator sharing a database file sees the same objects. A kind becomes
authoritative when objects data lists it (what is not there does not exist); a kind never listed
is permissive. Seeding merges: it adds what the data names and sets the states it gives, and
keeps everything else (objects created through the API, versions the data does not mention).
"""

from __future__ import annotations

import json
from typing import Any

from .objects import WorkspaceObjects
from .store import Store, Txn

SCHEMA = """
CREATE TABLE IF NOT EXISTS workspace_objects (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    doc  TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS authoritative_kinds (kind TEXT PRIMARY KEY)
"""

Doc = dict[str, Any]

MODEL = "model"
SCOPE = "scope"
USER = "user"
GROUP = "group"
SERVICE_PRINCIPAL = "service_principal"

# objects-file kind -> the stored kinds it makes authoritative
_FILE_KINDS = {
    "models": MODEL,
    "secrets": SCOPE,
    "groups": GROUP,
    "users": USER,
    "service_principals": SERVICE_PRINCIPAL,
}


def get(tx: Txn, kind: str, key: str) -> Doc | None:
    row = tx.execute(
        "SELECT doc FROM workspace_objects WHERE kind = ? AND key = ?", (kind, key)
    ).fetchone()
    return _load(row[0]) if row else None


def all_of(tx: Txn, kind: str) -> list[Doc]:
    """Every object of `kind`, ordered by key."""
    rows = tx.execute(
        "SELECT doc FROM workspace_objects WHERE kind = ? ORDER BY key", (kind,)
    ).fetchall()
    return [_load(text) for (text,) in rows]


def put(tx: Txn, kind: str, key: str, doc: Doc) -> None:
    tx.execute(
        "INSERT INTO workspace_objects (kind, key, doc) VALUES (?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
        (kind, key, json.dumps(doc, sort_keys=True)),
    )


def delete(tx: Txn, kind: str, key: str) -> None:
    tx.execute("DELETE FROM workspace_objects WHERE kind = ? AND key = ?", (kind, key))


def is_authoritative(tx: Txn, kind: str) -> bool:
    row = tx.execute("SELECT 1 FROM authoritative_kinds WHERE kind = ?", (kind,)).fetchone()
    return row is not None


def seed(store: Store, objects: WorkspaceObjects, *, now_ms: int, owner: str) -> None:
    """Merge `objects` into the database and make the kinds it lists authoritative.

    `owner` owns (and created) the models and scopes that the data does not give an owner.
    """
    with store.transaction(write=True) as tx:
        for file_kind in sorted(objects.kinds):
            tx.execute(
                "INSERT OR IGNORE INTO authoritative_kinds (kind) VALUES (?)",
                (_FILE_KINDS[file_kind],),
            )
        for model in objects.models:
            doc = get(tx, MODEL, model.full_name) or new_model(
                model.full_name, owner=model.owner or owner, now_ms=now_ms
            )
            doc["open_versions"] = False
            if model.owner:
                doc["owner"] = model.owner
            for number, status in model.versions.items():
                version = doc["versions"].get(str(number)) or new_version(
                    created_by=doc["owner"], now_ms=now_ms
                )
                version["status"] = status
                doc["versions"][str(number)] = version
            doc["aliases"].update(model.aliases)
            if model.execute is not None:
                doc["execute"] = list(model.execute)
            put(tx, MODEL, model.full_name, doc)
        for scope in objects.scopes:
            key = scope.name.lower()  # scope names are case-insensitive
            doc = get(tx, SCOPE, key) or new_scope(scope.name, manage="users")
            if scope.read is not None:
                doc["acl"] = {principal: "READ" for principal in scope.read}
            for secret_key in scope.keys:
                doc["keys"].setdefault(secret_key, {"ts": now_ms, "value": None})
            put(tx, SCOPE, key, doc)
        for name in objects.groups:
            if get(tx, GROUP, name) is None:
                put(tx, GROUP, name, {"display_name": name, "members": []})
        for name in objects.users:
            put(tx, USER, name, {"user_name": name, "display_name": name})
        for app_id, display in objects.service_principals:
            put(tx, SERVICE_PRINCIPAL, app_id, {"application_id": app_id, "display_name": display})


def new_model(full_name: str, *, owner: str, now_ms: int, comment: str | None = None) -> Doc:
    doc: Doc = {
        "full_name": full_name,
        "owner": owner,
        "created_by": owner,
        "created_at": now_ms,
        "updated_by": owner,
        "updated_at": now_ms,
        "versions": {},
        "aliases": {},
        "execute": None,
        # True for a model known only because an alias was set on it while the models kind is
        # permissive: its versions stay permissive (any version exists and is READY).
        "open_versions": False,
    }
    if comment:
        doc["comment"] = comment
    return doc


def new_version(*, created_by: str, now_ms: int) -> Doc:
    return {"status": "READY", "created_by": created_by, "created_at": now_ms}


def new_scope(name: str, *, manage: str, backend_type: str = "DATABRICKS") -> Doc:
    return {"name": name, "backend_type": backend_type, "acl": {manage: "MANAGE"}, "keys": {}}


def _load(text: str) -> Doc:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("corrupt workspace object row")
    return doc
