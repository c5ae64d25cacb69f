"""SQLite persistence: endpoints, direct permission grants, issued OAuth tokens, the write-budget
log, invocation counters, answered queries, AI-gateway rate-limit windows and per-entity faults.

One connection per `Store`, shared by threads under a lock; every unit of work is a transaction
(`BEGIN IMMEDIATE` for writes), so concurrent writers in threads or in other processes using the
same file serialize instead of losing updates. File databases use WAL so readers never block.

Reads that must not wait (the HTTP layer runs them on the event loop, see `no_wait`) use a second
connection to a file database with a zero busy timeout: in WAL mode a read transaction only sees
SQLITE_BUSY in rare moments (another connection recovering or closing the WAL), and then
`StoreBusy` tells the caller to run the same read again where waiting is fine. That connection
never holds the write connection's lock, so a write waiting for another process's lock cannot
stall it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
CREATE TABLE IF NOT EXISTS queries (
    endpoint_id TEXT NOT NULL,
    entity      TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    latency_ms  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queries_by_endpoint ON queries (endpoint_id, ts_ms);
CREATE TABLE IF NOT EXISTS rate_windows (
    endpoint_id TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    window      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, bucket, window)
);
CREATE TABLE IF NOT EXISTS entity_faults (
    target      TEXT PRIMARY KEY,
    error_rate  REAL NOT NULL,
    latency_ms  REAL NOT NULL
);
"""

# How long answered queries are kept for metrics and server logs (the metrics show the last
# complete minute; the logs the latest requests).
QUERY_RETENTION_MS = 15 * 60 * 1000

Grant = tuple[str, str, str]  # (kind, principal, level)

# Set (by `no_wait`) around work that runs on an event loop and so must never block on a lock.
_NO_WAIT: ContextVar[bool] = ContextVar("serving_emulator_store_no_wait", default=False)
# The transaction open in this context, per store: a nested `transaction()` joins it (see there).
_OPEN: ContextVar[dict[int, tuple[Txn, bool]] | None] = ContextVar(
    "serving_emulator_store_open", default=None
)


class StoreBusy(Exception):
    """A transaction could not start without waiting; run the work again where waiting is fine."""


@contextmanager
def no_wait() -> Iterator[None]:
    """Within the block, reads fail fast with `StoreBusy` instead of waiting, and so do writes.

    Writes always take the write lock, which another process may hold for a while, so they are
    refused up front rather than attempted.
    """
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


class DocCache:
    """Parsed endpoint documents, reused while their stored JSON text is unchanged.

    The key is the endpoint id and the check is the row's text itself, so a change made by any
    connection or process is seen at the next read: no version counter to keep in step. The
    documents handed out are shared between reads and must not be mutated (read transactions
    only; writes parse their own copy).
    """

    MAX_ENTRIES = 1 << 16

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, dict[str, Any]]] = {}

    def parse(self, endpoint_id: str, text: str) -> dict[str, Any]:
        entry = self._entries.get(endpoint_id)
        if entry is not None and entry[0] == text:
            return entry[1]
        doc = _load(text)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[endpoint_id] = (text, doc)
        return doc


class Txn:
    """Operations available inside one transaction.

    In a read transaction (`docs` given) the endpoint documents returned are shared, read-only
    objects; a write transaction returns fresh ones its caller may change and save.
    """

    def __init__(self, conn: sqlite3.Connection, docs: DocCache | None = None) -> None:
        self._conn = conn
        self._docs = docs

    def _doc(self, endpoint_id: str, text: str) -> dict[str, Any]:
        return _load(text) if self._docs is None else self._docs.parse(endpoint_id, text)

    # endpoints
    def endpoint_by_name(self, name: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT id, doc FROM endpoints WHERE name = ?", (name,)).fetchone()
        return self._doc(row[0], row[1]) if row else None

    def endpoint_by_id(self, endpoint_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT doc FROM endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()
        return self._doc(endpoint_id, row[0]) if row else None

    def endpoints(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT id, doc FROM endpoints ORDER BY name").fetchall()
        return [self._doc(i, text) for i, text in rows]

    def endpoint_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM endpoints").fetchone()[0])

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
        for table in ("grants", "invocations", "queries", "rate_windows"):
            self._conn.execute(f"DELETE FROM {table} WHERE endpoint_id = ?", (endpoint_id,))

    # permissions
    def grants(self, endpoint_id: str) -> list[Grant]:
        rows = self._conn.execute(
            "SELECT kind, principal, level FROM grants WHERE endpoint_id = ? ORDER BY seq",
            (endpoint_id,),
        ).fetchall()
        return [(str(k), str(p), str(lv)) for k, p, lv in rows]

    def all_grants(self) -> dict[str, list[Grant]]:
        """Every endpoint's grants (as `grants` orders them), in one query for listings."""
        out: dict[str, list[Grant]] = {}
        for endpoint_id, kind, principal, level in self._conn.execute(
            "SELECT endpoint_id, kind, principal, level FROM grants ORDER BY seq"
        ):
            out.setdefault(str(endpoint_id), []).append((str(kind), str(principal), str(level)))
        return out

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

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run one statement in this transaction (for modules that own their own tables)."""
        return self._conn.execute(sql, params)

    def invocation_count(self, endpoint_id: str, entity: str) -> int:
        row = self._conn.execute(
            "SELECT count FROM invocations WHERE endpoint_id = ? AND entity = ?",
            (endpoint_id, entity),
        ).fetchone()
        return int(row[0]) if row else 0

    # answered queries (metrics, server logs)
    def record_query(
        self, endpoint_id: str, entity: str, ts_ms: int, status: int, latency_ms: float
    ) -> None:
        self._conn.execute(
            "DELETE FROM queries WHERE endpoint_id = ? AND ts_ms < ?",
            (endpoint_id, ts_ms - QUERY_RETENTION_MS),
        )
        self._conn.execute(
            "INSERT INTO queries (endpoint_id, entity, ts_ms, status, latency_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (endpoint_id, entity, ts_ms, status, latency_ms),
        )

    def queries(
        self, endpoint_id: str, since_ms: int, until_ms: int
    ) -> list[tuple[str, int, int, float]]:
        """(entity, ts_ms, status, latency_ms) answered in [since_ms, until_ms), oldest first."""
        rows = self._conn.execute(
            "SELECT entity, ts_ms, status, latency_ms FROM queries "
            "WHERE endpoint_id = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, rowid",
            (endpoint_id, since_ms, until_ms),
        ).fetchall()
        return [(str(e), int(t), int(s), float(lat)) for e, t, s, lat in rows]

    # AI-gateway rate-limit windows
    def rate_counts(self, endpoint_id: str, window: int) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT bucket, count FROM rate_windows WHERE endpoint_id = ? AND window = ?",
            (endpoint_id, window),
        ).fetchall()
        return {str(b): int(c) for b, c in rows}

    def count_rate(self, endpoint_id: str, buckets: list[str], window: int) -> None:
        self._conn.execute(
            "DELETE FROM rate_windows WHERE endpoint_id = ? AND window < ?", (endpoint_id, window)
        )
        for bucket in buckets:
            self._conn.execute(
                "INSERT INTO rate_windows (endpoint_id, bucket, window, count) "
                "VALUES (?, ?, ?, 1) ON CONFLICT (endpoint_id, bucket, window) "
                "DO UPDATE SET count = count + 1",
                (endpoint_id, bucket, window),
            )

    # per-entity faults set at run time
    def entity_faults(self) -> dict[str, tuple[float, float]]:
        rows = self._conn.execute(
            "SELECT target, error_rate, latency_ms FROM entity_faults ORDER BY target"
        ).fetchall()
        return {str(t): (float(r), float(lat)) for t, r, lat in rows}

    def set_entity_fault(self, target: str, error_rate: float, latency_ms: float) -> None:
        self._conn.execute(
            "INSERT INTO entity_faults (target, error_rate, latency_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (target) DO UPDATE SET error_rate = excluded.error_rate, "
            "latency_ms = excluded.latency_ms",
            (target, error_rate, latency_ms),
        )

    def clear_entity_fault(self, target: str) -> bool:
        cursor = self._conn.execute("DELETE FROM entity_faults WHERE target = ?", (target,))
        return cursor.rowcount > 0


class Store:
    """A SQLite database holding one emulated workspace (`:memory:` or a file path)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.in_memory = path == ":memory:" or path.startswith("file::memory:")
        self._lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._docs = DocCache()
        self._conn = self._connect(busy_timeout_ms=30000)
        if not self.in_memory:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction(write=True):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
        # The non-waiting reader (file databases only: an in-memory database exists only inside
        # its one connection, and nothing outside this process can lock it).
        if not self.in_memory:
            self._reader = self._connect(busy_timeout_ms=0)

    def _connect(self, *, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        return conn

    def ensure_schema(self, ddl: str) -> None:
        """Create tables another module owns (statements separated by `;`, IF NOT EXISTS)."""
        with self.transaction(write=True) as tx:
            for statement in ddl.split(";"):
                if statement.strip():
                    tx.execute(statement)

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Txn]:
        """Run a unit of work atomically; writes take the database write lock up front.

        Inside `no_wait`, a file database raises `StoreBusy` instead of waiting for a lock.
        A call made while this context already has a transaction open on this store joins it
        (a read inside a write, or a read inside a read), so code reached from inside a unit of
        work can read without knowing about it; a write inside a read is a bug.
        """
        opened = _OPEN.get() or {}
        current = opened.get(id(self))
        if current is not None:
            txn, is_write = current
            if write and not is_write:
                raise RuntimeError("a write transaction cannot be nested in a read transaction")
            yield txn
            return
        with self._open(write=write) as txn:
            token = _OPEN.set({**opened, id(self): (txn, write)})
            try:
                yield txn
            finally:
                _OPEN.reset(token)

    @contextmanager
    def _open(self, *, write: bool) -> Iterator[Txn]:
        if self._reader is not None and _NO_WAIT.get():
            if write:
                raise StoreBusy("writes may wait for the database lock")
            with self._reader_lock:
                yield from _unit(self._reader, "BEGIN", self._docs, translate_busy=True)
            return
        with self._lock:
            if write:
                yield from _unit(self._conn, "BEGIN IMMEDIATE", None)
            else:
                yield from _unit(self._conn, "BEGIN", self._docs)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        if self._reader is not None:
            with self._reader_lock:
                self._reader.close()


def _unit(
    conn: sqlite3.Connection, begin: str, docs: DocCache | None, *, translate_busy: bool = False
) -> Iterator[Txn]:
    """BEGIN, yield the transaction, COMMIT, or ROLLBACK when the work raised."""
    try:
        conn.execute(begin)
        txn = Txn(conn, docs)
    except sqlite3.OperationalError as e:
        if translate_busy and _is_busy(e):
            raise StoreBusy(str(e)) from e
        raise
    try:
        yield txn
    except BaseException as e:
        conn.execute("ROLLBACK")
        # A deferred read transaction takes its lock at the first SELECT, so that is where a
        # non-waiting read meets a busy database.
        if translate_busy and isinstance(e, sqlite3.OperationalError) and _is_busy(e):
            raise StoreBusy(str(e)) from e
        raise
    conn.execute("COMMIT")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # The primary result code is the low byte of the (possibly extended) error code.
    return error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _load(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("corrupt endpoint row")
    return doc
