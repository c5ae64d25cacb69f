"""SQLite persistence: endpoints, direct permission grants, issued OAuth tokens, the write-budget
log and invocation counters.

One connection per `Store`, shared by threads under a lock; every unit of work is a transaction
(`BEGIN IMMEDIATE` for writes), so concurrent writers in threads or in other processes using the
same file serialize instead of losing updates. File databases use WAL so readers never block.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoints (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    endpoint_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    principal   TEXT NOT NULL,
    level       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, kind, principal)
);
CREATE TABLE IF NOT EXISTS writes (ts_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS writes_ts ON writes (ts_ms);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    token      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
    endpoint_id TEXT NOT NULL,
    entity      TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, entity)
);
"""

Grant = tuple[str, str, str]  # (kind, principal, level)


class Txn:
    """Operations available inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # endpoints
    def endpoint_by_name(self, name: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT doc FROM endpoints WHERE name = ?", (name,)).fetchone()
        return _load(row[0]) if row else None

    def endpoint_by_id(self, endpoint_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT doc FROM endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()
        return _load(row[0]) if row else None

    def endpoints(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT doc FROM endpoints ORDER BY name").fetchall()
        return [_load(r[0]) for r in rows]

    def insert_endpoint(self, doc: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO endpoints (id, name, doc) VALUES (?, ?, ?)",
            (doc["id"], doc["name"], json.dumps(doc)),
        )

    def save_endpoint(self, doc: dict[str, Any]) -> None:
        self._conn.execute(
            "UPDATE endpoints SET doc = ? WHERE id = ?", (json.dumps(doc), doc["id"])
        )

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._conn.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
        self._conn.execute("DELETE FROM grants WHERE endpoint_id = ?", (endpoint_id,))
        self._conn.execute("DELETE FROM invocations WHERE endpoint_id = ?", (endpoint_id,))

    # permissions
    def grants(self, endpoint_id: str) -> list[Grant]:
        rows = self._conn.execute(
            "SELECT kind, principal, level FROM grants WHERE endpoint_id = ? ORDER BY seq",
            (endpoint_id,),
        ).fetchall()
        return [(str(k), str(p), str(lv)) for k, p, lv in rows]

    def set_grant(self, endpoint_id: str, grant: Grant) -> None:
        kind, principal, level = grant
        self._conn.execute(
            "INSERT INTO grants (endpoint_id, kind, principal, level, seq) "
            "VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM grants)) "
            "ON CONFLICT (endpoint_id, kind, principal) DO UPDATE SET level = excluded.level",
            (endpoint_id, kind, principal, level),
        )

    def clear_grants(self, endpoint_id: str) -> None:
        self._conn.execute("DELETE FROM grants WHERE endpoint_id = ?", (endpoint_id,))

    # write budget
    def writes_since(self, since_ms: int) -> tuple[int, int | None]:
        """Count of recorded writes after `since_ms` and the oldest of them."""
        count, oldest = self._conn.execute(
            "SELECT COUNT(*), MIN(ts_ms) FROM writes WHERE ts_ms > ?", (since_ms,)
        ).fetchone()
        return int(count), (int(oldest) if oldest is not None else None)

    def record_write(self, now_ms: int, horizon_ms: int) -> None:
        self._conn.execute("DELETE FROM writes WHERE ts_ms <= ?", (horizon_ms,))
        self._conn.execute("INSERT INTO writes (ts_ms) VALUES (?)", (now_ms,))

    # OAuth tokens
    def save_token(self, token: str, kind: str, name: str, expires_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO oauth_tokens (token, kind, name, expires_ms) VALUES (?, ?, ?, ?)",
            (token, kind, name, expires_ms),
        )

    def token(self, token: str, now_ms: int) -> tuple[str, str] | None:
        row = self._conn.execute(
            "SELECT kind, name FROM oauth_tokens WHERE token = ? AND expires_ms > ?",
            (token, now_ms),
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def purge_tokens(self, now_ms: int) -> None:
        self._conn.execute("DELETE FROM oauth_tokens WHERE expires_ms <= ?", (now_ms,))

    # invocation counters
    def count_invocation(self, endpoint_id: str, entity: str) -> None:
        self._conn.execute(
            "INSERT INTO invocations (endpoint_id, entity, count) VALUES (?, ?, 1) "
            "ON CONFLICT (endpoint_id, entity) DO UPDATE SET count = count + 1",
            (endpoint_id, entity),
        )

    def invocation_counts(self, endpoint_id: str) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT entity, count FROM invocations WHERE endpoint_id = ? ORDER BY entity",
            (endpoint_id,),
        ).fetchall()
        return {str(e): int(c) for e, c in rows}


class Store:
    """A SQLite database holding one emulated workspace (`:memory:` or a file path)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.in_memory = path == ":memory:" or path.startswith("file::memory:")
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if not self.in_memory:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction(write=True):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Txn]:
        """Run a unit of work atomically; writes take the database write lock up front."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Txn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _load(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("corrupt endpoint row")
    return doc
