"""The PostgreSQL adapter of the picture repository (``PICADAILY_DATABASE_URL``), for metadata
served by several replicas or bigger libraries. Same protocol, same rules (they are in the core),
same test suite as SQLite.

- Versioned migrations in ``schema_version``, applied at start under an advisory lock (two
  replicas starting together migrate once).
- A connection pool (``PICADAILY_DATABASE_POOL_SIZE``). A connection idle for more than
  ``CHECK_IDLE_S`` is checked at checkout (a round trip) and replaced if it died, say with a
  server restart; one given back less than that ago is handed out as it is (checking every
  checkout was a quarter of this adapter's round trips: 23 of 109 per choreographed picture).
  A read, or a transaction's BEGIN, that meets a dead one runs again on another; a write alone,
  or a transaction whose connection dies under it, fails with a retryable 503 (the callers
  retry: activities by their policy, consumers by redelivery).
- The SQL is the SQLite adapter's (``SqlPictures``, placeholders translated); only connections,
  transactions and migrations are PostgreSQL's own.
- A transaction holds one connection (per thread) from BEGIN to COMMIT and takes a
  transaction-level advisory lock first (in BEGIN's round trip): write transactions are
  serialised as SQLite's BEGIN IMMEDIATE serialises them, so the core's read-then-write rules
  hold across replicas.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from picadaily.contracts import Picture

from .repository import COLLAGE_WHERE, SqlPictures, _row_to_picture

R = TypeVar("R")
WRITE_LOCK = 7_001  # the advisory lock every transaction takes
# One round trip: with no parameters psycopg sends the text as a simple query, both statements.
BEGIN_LOCKED = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
CHECK_IDLE_S = 5.0  # a pooled connection idle for longer is checked before it is handed out
PICTURE = "SELECT * FROM pictures WHERE id = %s"
TIMELINE = "SELECT * FROM timeline WHERE picture_id = %s ORDER BY started, attempt"

# The same schema as SQLite's migrations end with (tests/integration/test_schema.py), numbered
# by this dialect's own history.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE pictures (
        id TEXT PRIMARY KEY,
        object_key TEXT NOT NULL,
        original_name TEXT,
        content_type TEXT,
        size BIGINT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        finished TEXT,
        mode TEXT,
        status TEXT NOT NULL,
        error TEXT,
        labels TEXT,
        colours TEXT,
        safety TEXT,
        thumbnail TEXT,
        collage_updated INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 1,
        etag TEXT
    );
    CREATE INDEX pictures_created ON pictures (created DESC, id DESC);
    CREATE INDEX pictures_status ON pictures (status, created DESC);
    CREATE TABLE labels (
        picture_id TEXT NOT NULL REFERENCES pictures(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (picture_id, name)
    );
    CREATE INDEX labels_name ON labels (name);
    CREATE TABLE deleted (
        id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE timeline (
        picture_id TEXT NOT NULL REFERENCES pictures(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started TEXT NOT NULL,
        ended TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        mode TEXT,
        version INTEGER,
        PRIMARY KEY (picture_id, step, attempt, started)
    );
    """,
    # 2: moderation: why a picture waits for a person, and the decision.
    "ALTER TABLE pictures ADD COLUMN review TEXT;",
    # 3: EXIF and place; the gallery filters by camera and year.
    """
    ALTER TABLE pictures ADD COLUMN exif TEXT;
    ALTER TABLE pictures ADD COLUMN camera TEXT;
    ALTER TABLE pictures ADD COLUMN taken_year INTEGER;
    CREATE INDEX pictures_camera ON pictures (camera, created DESC);
    CREATE INDEX pictures_year ON pictures (taken_year, created DESC);
    """,
    # 4: the cost curve: the same indexes as the SQLite migration 6.
    f"""
    CREATE INDEX pictures_collage ON pictures (created DESC, id DESC) WHERE {COLLAGE_WHERE};
    CREATE INDEX pictures_mode ON pictures (mode, created DESC);
    CREATE INDEX pictures_mode_status ON pictures (mode, status);
    ALTER TABLE labels ADD COLUMN created TEXT;
    UPDATE labels
        SET created = (SELECT created FROM pictures WHERE pictures.id = labels.picture_id);
    CREATE INDEX labels_newest ON labels (name, created DESC, picture_id DESC);
    """,
)


class PostgresPictures(SqlPictures):
    def __init__(self, url: str, pool_size: int = 8, check_idle_s: float = CHECK_IDLE_S) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self._recent = RecentlyUsed(check_idle_s)
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True,
                                    kwargs={"autocommit": True, "row_factory": dict_row},
                                    check=self._recent.check, reset=self._recent.given_back)
        self._local = threading.local()
        self._migrate()

    def close(self) -> None:
        self._pool.close()

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row: Any = conn.execute("SELECT max(version) AS v FROM schema_version").fetchone()
            current = int(row["v"] or 0) if row else 0
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                conn.execute(script)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    # --- connections and transactions ---------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:  # nested: part of the outer one
            yield
            return
        from psycopg import Error

        conn, _ = self._live(lambda c: c.execute(BEGIN_LOCKED))
        try:
            self._local.conn = conn
            try:
                yield
            except BaseException:
                with suppress(Error):  # a dead connection: the pool discards it
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._local.conn = None
            conn.execute("COMMIT")
        finally:
            self._pool.putconn(conn)

    def _live(self, work: Callable[[Any], R]) -> tuple[Any, R]:
        """A pooled connection and what ``work`` did on it, the caller to give it back. A
        connection that turns out dead (it died while it idled in the pool for less than
        ``CHECK_IDLE_S``, so it was handed out unchecked) is given back, to be discarded and
        replaced, and ``work`` runs once more on another: only for work that is harmless to
        repeat, a read or the BEGIN that opens a transaction."""
        from psycopg import OperationalError

        for last in (False, True):
            conn = self._pool.getconn()
            try:
                return conn, work(conn)
            except OperationalError:
                self._pool.putconn(conn)
                if last or not conn.broken:
                    raise
            except BaseException:
                self._pool.putconn(conn)
                raise
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[Any], R]) -> R:
        """A read on the transaction's connection, or on a live one from the pool."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return work(conn)
        conn, result = self._live(work)
        self._pool.putconn(conn)
        return result

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        # the shared SQL uses "?"; rows read out before the connection goes back to the pool
        return self._read(lambda conn: conn.execute(sql.replace("?", "%s"), args).fetchall())

    def _run(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> int:
        """A write: never repeated (a dead connection fails it; the caller retries)."""
        def write(conn: Any) -> int:
            return int(conn.execute(sql.replace("?", "%s"), args).rowcount)

        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return write(conn)
        with self._pool.connection() as own:
            return write(own)

    # --- the protocol -------------------------------------------------------------------------

    def get(self, picture_id: str, timeline: bool = True) -> Picture | None:
        def read(conn: Any) -> tuple[Any, list[Any]]:
            if not timeline:
                return conn.execute(PICTURE, (picture_id,)).fetchone(), []
            with conn.pipeline():  # both questions in one round trip
                picture = conn.execute(PICTURE, (picture_id,))
                steps = conn.execute(TIMELINE, (picture_id,))
                return picture.fetchone(), steps.fetchall()

        row, entries = self._read(read)
        return None if row is None else _row_to_picture(row, entries)


class RecentlyUsed:
    """The pool's check: a round trip only for a connection idle for ``CHECK_IDLE_S`` or more
    (or never given back); one the pool knows is broken fails the check without one."""

    def __init__(self, idle_s: float = CHECK_IDLE_S) -> None:
        self._idle_s = idle_s
        self._given_back: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def given_back(self, conn: Any) -> None:
        with self._lock:
            self._given_back[conn] = time.monotonic()

    def check(self, conn: Any) -> None:
        from psycopg import OperationalError
        from psycopg_pool import ConnectionPool

        if conn.closed or conn.broken:
            raise OperationalError("the connection is closed")
        with self._lock:
            at = self._given_back.get(conn)
        if at is None or time.monotonic() - at >= self._idle_s:
            ConnectionPool.check_connection(conn)
