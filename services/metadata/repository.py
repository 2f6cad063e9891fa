"""Where picture documents are kept: the repository protocol the core uses, its SQLite adapter
and an in-memory one for unit tests of the core.

The repository holds the SQL and nothing else: no rule about statuses, tombstones or when a
picture is done lives here (those are in ``core``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from picadaily.contracts import (
    Colour,
    Exif,
    Label,
    Picture,
    Review,
    Safety,
    Thumbnail,
    TimelineEntry,
)
from picadaily.sqlite import open_sqlite
from picadaily.steps import COLLAGE_STATUSES

# Columns a core may change with ``update`` (JSON ones are stored as text).
JSON_FIELDS = frozenset({"labels", "colours", "safety", "thumbnail", "review", "exif"})
FIELDS = frozenset({"original_name", "content_type", "size", "mode", "status", "error",
                    "created", "finished", "updated", "collage_updated", "version",
                    "etag", "camera", "taken_year"}) | JSON_FIELDS
INDEXED = frozenset({"camera", "taken_year"})  # columns to find pictures by, not in a Picture


@dataclass(frozen=True)
class Query:
    label: str | None = None
    mode: str | None = None
    status: str | None = None
    camera: str | None = None
    year: int | None = None
    limit: int = 24
    after: tuple[str, str] | None = None  # (created ISO time, id) of the last one already seen


# The collage's rule is the kernel's (steps.COLLAGE_STATUSES), its candidates those with a
# thumbnail. Written out in the SQL (not parameters) so that a partial index on exactly these
# rows serves the query: COLLAGE_WHERE is in a migration's index and in the queries that must
# match it, so its text never changes (a unit test pins it).
ALIVE_WHERE = f"status IN ({', '.join(repr(s.value) for s in COLLAGE_STATUSES)})"
COLLAGE_WHERE = f"thumbnail IS NOT NULL AND {ALIVE_WHERE}"
# The compare page's figures cover the newest pictures of each mode (counts cover all).
STATS_WINDOW = 1000
MODES = ("orchestration", "choreography")


@dataclass(frozen=True)
class StatsRows:
    pictures: list[dict[str, Any]]  # id, mode, status, created, finished (the window's)
    steps: list[dict[str, Any]]  # step, outcome, attempt, started, ended, mode (the window's)
    counts: list[dict[str, Any]]  # mode, status, n (the whole library)
    window: int  # the newest pictures of each mode the first two cover


class PictureRepository(Protocol):
    def transaction(self) -> Any:
        """A context manager: the calls inside happen all together or not at all."""
        ...

    def get(self, picture_id: str, timeline: bool = True) -> Picture | None: ...
    def status(self, picture_id: str) -> str | None: ...
    def add(self, picture: Picture) -> None: ...
    def update(self, picture_id: str, **fields: Any) -> None: ...
    def add_timeline(self, picture_id: str, entry: TimelineEntry) -> None: ...
    def remove(self, picture_id: str) -> bool: ...
    def clear_timeline(self, picture_id: str) -> None: ...
    def tombstone(self, picture_id: str) -> datetime | None: ...
    def tombstone_version(self, picture_id: str) -> int:
        """The version the deleted picture had (0 if none was deleted)."""
        ...

    def set_tombstone(self, picture_id: str, at: datetime | None, version: int = 1) -> None: ...
    def query(self, q: Query) -> list[str]: ...
    def collage_candidates(self, count: int, also: Sequence[str] = ()) -> list[tuple[str, str]]:
        """(id, created ISO time) of the newest ``count`` pictures that have a thumbnail and are
        done or still processing, then of those of ``also`` not among them that are still
        processing or done, thumbnail or not."""
        ...

    def stats_rows(self, window: int = STATS_WINDOW) -> StatsRows: ...


# --- SQLite ------------------------------------------------------------------------------------

# Versioned migrations: the service applies those above the file's ``user_version`` at start.
# PostgreSQL's (``postgres.py``) are numbered by its own history but end with the same schema:
# tests/integration/test_schema.py compares the two after their last migration.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS pictures (
        id TEXT PRIMARY KEY,
        object_key TEXT NOT NULL,
        original_name TEXT,
        content_type TEXT,
        size INTEGER,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        finished TEXT,
        mode TEXT,
        status TEXT NOT NULL,
        error TEXT,
        labels TEXT,
        colours TEXT,
        safety TEXT,
        thumbnail TEXT
    );
    CREATE INDEX IF NOT EXISTS pictures_created ON pictures (created DESC, id DESC);
    CREATE TABLE IF NOT EXISTS labels (
        picture_id TEXT NOT NULL REFERENCES pictures(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (picture_id, name)
    );
    CREATE INDEX IF NOT EXISTS labels_name ON labels (name);
    CREATE TABLE IF NOT EXISTS deleted (
        id TEXT PRIMARY KEY,
        at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS timeline (
        picture_id TEXT NOT NULL REFERENCES pictures(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started TEXT NOT NULL,
        ended TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        mode TEXT,
        PRIMARY KEY (picture_id, step, attempt, started)
    );
    """,
    # 2: choreography's "done" needs both the stored analysis and the collage update.
    "ALTER TABLE pictures ADD COLUMN collage_updated INTEGER NOT NULL DEFAULT 0;",
    # 3: an overwritten original is processed again as a new version of the picture.
    """
    ALTER TABLE pictures ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE pictures ADD COLUMN etag TEXT;
    ALTER TABLE deleted ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE timeline ADD COLUMN version INTEGER;
    """,
    # 4: moderation: why a picture waits for a person, and the decision.
    """
    ALTER TABLE pictures ADD COLUMN review TEXT;
    CREATE INDEX IF NOT EXISTS pictures_status ON pictures (status, created DESC);
    """,
    # 5: EXIF and place; the gallery filters by camera and year.
    """
    ALTER TABLE pictures ADD COLUMN exif TEXT;
    ALTER TABLE pictures ADD COLUMN camera TEXT;
    ALTER TABLE pictures ADD COLUMN taken_year INTEGER;
    CREATE INDEX IF NOT EXISTS pictures_camera ON pictures (camera, created DESC);
    CREATE INDEX IF NOT EXISTS pictures_year ON pictures (taken_year, created DESC);
    """,
    # 6: the cost curve (issue 14): what each picture and each page asks stays an index walk
    # as the library grows — the collage's newest four, a label's newest pictures, the compare
    # page's newest pictures of a mode.
    f"""
    CREATE INDEX IF NOT EXISTS pictures_collage ON pictures (created DESC, id DESC)
        WHERE {COLLAGE_WHERE};
    CREATE INDEX IF NOT EXISTS pictures_mode ON pictures (mode, created DESC);
    CREATE INDEX IF NOT EXISTS pictures_mode_status ON pictures (mode, status);
    ALTER TABLE labels ADD COLUMN created TEXT;
    UPDATE labels
        SET created = (SELECT created FROM pictures WHERE pictures.id = labels.picture_id);
    CREATE INDEX IF NOT EXISTS labels_newest ON labels (name, created DESC, picture_id DESC);
    """,
)


class SqlPictures:
    """The SQL both relational adapters share (written with ``?`` placeholders): everything but
    connections, transactions and reading a whole document. Subclasses provide ``_all``,
    ``_run``, ``transaction`` and ``get``."""

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _run(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> int:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError

    def status(self, picture_id: str) -> str | None:
        rows = self._all("SELECT status FROM pictures WHERE id = ?", (picture_id,))
        return str(rows[0]["status"]) if rows else None

    def add(self, picture: Picture) -> None:
        self._run(
            """INSERT INTO pictures (id, object_key, original_name, content_type, size, created,
                                     updated, mode, status, version, etag)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (picture.id, picture.object_key, picture.original_name, picture.content_type,
             picture.size, picture.created.isoformat(), picture.updated.isoformat(),
             picture.mode, picture.status, picture.version, picture.etag))

    def update(self, picture_id: str, **fields: Any) -> None:
        unknown = set(fields) - FIELDS
        if unknown:
            raise ValueError(f"not a picture field: {', '.join(sorted(unknown))}")
        values = [_column_value(name, value) for name, value in fields.items()]
        with self.transaction():
            self._run(f"UPDATE pictures SET {', '.join(f'{n} = ?' for n in fields)} "
                      "WHERE id = ?", [*values, picture_id])
            if "labels" in fields:
                self._run("DELETE FROM labels WHERE picture_id = ?", (picture_id,))
                for label in fields["labels"] or []:
                    self._run("INSERT INTO labels (picture_id, name, score, created) "
                              "SELECT ?, ?, ?, created FROM pictures WHERE id = ? "
                              "ON CONFLICT (picture_id, name) DO UPDATE SET score = "
                              "excluded.score, created = excluded.created",
                              (picture_id, label.name.lower(), label.score, picture_id))
            elif "created" in fields:  # (a new version: its labels follow its time)
                self._run("UPDATE labels SET created = ? WHERE picture_id = ?",
                          (_column_value("created", fields["created"]), picture_id))

    def add_timeline(self, picture_id: str, entry: TimelineEntry) -> None:
        self._run(
            """INSERT INTO timeline
               (picture_id, step, attempt, started, ended, outcome, error, mode, version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (picture_id, step, attempt, started) DO UPDATE SET
               ended = excluded.ended, outcome = excluded.outcome, error = excluded.error,
               mode = excluded.mode, version = excluded.version""",
            (picture_id, entry.step, entry.attempt, entry.started.isoformat(),
             entry.ended.isoformat(), entry.outcome, entry.error, entry.mode, entry.version))

    def clear_timeline(self, picture_id: str) -> None:
        self._run("DELETE FROM timeline WHERE picture_id = ?", (picture_id,))

    def remove(self, picture_id: str) -> bool:
        return self._run("DELETE FROM pictures WHERE id = ?", (picture_id,)) > 0

    def tombstone(self, picture_id: str) -> datetime | None:
        rows = self._all("SELECT at FROM deleted WHERE id = ?", (picture_id,))
        return datetime.fromisoformat(rows[0]["at"]) if rows else None

    def tombstone_version(self, picture_id: str) -> int:
        rows = self._all("SELECT version FROM deleted WHERE id = ?", (picture_id,))
        return int(rows[0]["version"]) if rows else 0

    def set_tombstone(self, picture_id: str, at: datetime | None, version: int = 1) -> None:
        if at is None:
            self._run("DELETE FROM deleted WHERE id = ?", (picture_id,))
        else:
            self._run("INSERT INTO deleted (id, at, version) VALUES (?, ?, ?) "
                      "ON CONFLICT (id) DO UPDATE SET at = excluded.at, "
                      "version = excluded.version", (picture_id, at.isoformat(), version))

    def query(self, q: Query) -> list[str]:
        if q.label:
            return self._query_label(q)
        where: list[str] = []
        args: list[object] = []
        if q.mode:
            where.append("mode = ?")
            args.append(q.mode)
        if q.status:
            where.append("status = ?")
            args.append(q.status)
        if q.camera:
            where.append("camera = ?")
            args.append(q.camera)
        if q.year:
            where.append("taken_year = ?")
            args.append(q.year)
        if q.after:
            created, picture_id = q.after
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [created, created, picture_id]
        sql = "SELECT id FROM pictures"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(q.limit)
        return [r["id"] for r in self._all(sql, args)]

    def _query_label(self, q: Query) -> list[str]:
        """A label's pictures, newest first, walking the label's own index in time order (its
        rows carry their picture's created time) and stopping at the page's end."""
        assert q.label is not None
        where = ["l.name = ?"]
        args: list[object] = [q.label]
        for column, value in (("p.mode", q.mode), ("p.status", q.status),
                              ("p.camera", q.camera),
                              ("p.taken_year", q.year)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if q.after:
            created, picture_id = q.after
            where.append("(l.created < ? OR (l.created = ? AND l.picture_id < ?))")
            args += [created, created, picture_id]
        args.append(q.limit)
        return [r["id"] for r in self._all(
            f"""SELECT l.picture_id AS id FROM labels l JOIN pictures p ON p.id = l.picture_id
                WHERE {' AND '.join(where)}
                ORDER BY l.created DESC, l.picture_id DESC LIMIT ?""", args)]

    # (a subclass may name the index to walk)
    _COLLAGE_NEWEST = f"""SELECT id, created FROM pictures WHERE {COLLAGE_WHERE}
                          ORDER BY created DESC, id DESC LIMIT ?"""

    def collage_candidates(self, count: int, also: Sequence[str] = ()) -> list[tuple[str, str]]:
        newest = [(r["id"], r["created"]) for r in self._all(self._COLLAGE_NEWEST, (count,))]
        listed = {i for i, _ in newest}
        others = [i for i in dict.fromkeys(also) if i not in listed]
        if not others:
            return newest
        alive = {r["id"]: r["created"] for r in self._all(
            f"""SELECT id, created FROM pictures WHERE {ALIVE_WHERE}
                AND id IN ({', '.join('?' * len(others))})""", others)}
        return newest + [(i, alive[i]) for i in others if i in alive]

    def stats_rows(self, window: int = STATS_WINDOW) -> StatsRows:
        counts = self._all("SELECT mode, status, COUNT(*) AS n FROM pictures "
                           "WHERE mode IS NOT NULL GROUP BY mode, status")
        pictures: list[Any] = []
        steps: list[Any] = []
        for mode in MODES:
            newest = "SELECT id FROM pictures WHERE mode = ? ORDER BY created DESC LIMIT ?"
            pictures += self._all(f"""SELECT id, mode, status, created, finished FROM pictures
                                      WHERE id IN ({newest})""", (mode, window))
            steps += self._all(f"""SELECT picture_id, step, outcome, attempt, started, ended,
                                          CAST(? AS TEXT) AS mode
                                   FROM timeline WHERE picture_id IN ({newest})""",
                               (mode, mode, window))
        return StatsRows([dict(r) for r in pictures], [dict(r) for r in steps],
                         [dict(r) for r in counts], window)




@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    if path == ":memory:":
        yield
        return
    import fcntl

    with open(f"{path}.migrating", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class SqlitePictures(SqlPictures):
    """A thread-safe SQLite repository. One connection, serialised by a lock (the HTTP edge runs
    handlers in a thread pool); a transaction holds the lock from BEGIN to COMMIT."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._db = open_sqlite(path)
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._migrate()

    def _migrate(self) -> None:
        """Every migration not applied yet; two replicas starting on one file take turns (a
        lock file beside it; the version is read once the lock is held), so it migrates once."""
        with _file_lock(self._path):
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(
                    f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._db.in_transaction:  # nested: part of the outer one
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # (without statistics SQLite's planner prefers the status index and sorts every done
    # picture: 4 ms at 10,000; named, the partial index walk stops at the fourth)
    _COLLAGE_NEWEST = f"""SELECT id, created FROM pictures INDEXED BY pictures_collage
                          WHERE {COLLAGE_WHERE} ORDER BY created DESC, id DESC LIMIT ?"""

    def get(self, picture_id: str, timeline: bool = True) -> Picture | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM pictures WHERE id = ?",
                                   (picture_id,)).fetchone()
            if row is None:
                return None
            entries = self._db.execute(
                "SELECT * FROM timeline WHERE picture_id = ? ORDER BY started, attempt",
                (picture_id,)).fetchall() if timeline else []
        return _row_to_picture(row, entries)


def _column_value(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        if value is None:
            return None
        if isinstance(value, list):
            return json.dumps([v.model_dump(mode="json") for v in value])
        return value.model_dump_json()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _row_to_picture(row: Any, timeline: list[Any]) -> Picture:
    """A picture from its row and timeline rows (SQLite's rows or PostgreSQL's dicts)."""
    def load(column: str) -> Any:
        value = row[column]
        return None if value is None else json.loads(value)

    labels, colours = load("labels"), load("colours")
    safety, thumbnail, review = load("safety"), load("thumbnail"), load("review")
    exif = load("exif")
    return Picture(
        id=row["id"], object_key=row["object_key"], original_name=row["original_name"],
        content_type=row["content_type"], size=row["size"],
        created=datetime.fromisoformat(row["created"]),
        updated=datetime.fromisoformat(row["updated"]),
        finished=datetime.fromisoformat(row["finished"]) if row["finished"] else None,
        mode=row["mode"], status=row["status"], error=row["error"],
        labels=[Label.model_validate(x) for x in labels] if isinstance(labels, list) else None,
        colours=[Colour.model_validate(x) for x in colours] if isinstance(colours, list) else None,
        safety=Safety.model_validate(safety) if safety else None,
        thumbnail=Thumbnail.model_validate(thumbnail) if thumbnail else None,
        review=Review.model_validate(review) if review else None,
        exif=Exif.model_validate(exif) if exif else None,
        collage_updated=bool(row["collage_updated"]), version=row["version"], etag=row["etag"],
        timeline=[
            TimelineEntry(
                step=t["step"], attempt=t["attempt"], outcome=t["outcome"], error=t["error"],
                mode=t["mode"], version=t["version"],
                started=datetime.fromisoformat(t["started"]),
                ended=datetime.fromisoformat(t["ended"]),
            )
            for t in timeline
        ],
    )


# --- in memory (unit tests of the core) --------------------------------------------------------

@dataclass
class InMemoryPictures:
    pictures: dict[str, Picture] = field(default_factory=dict)
    tombstones: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    indexed: dict[str, dict[str, Any]] = field(default_factory=dict)  # camera, taken_year
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            saved = ({k: v.model_copy(deep=True) for k, v in self.pictures.items()},
                     dict(self.tombstones))
            try:
                yield
            except BaseException:
                self.pictures, self.tombstones = saved
                raise

    def get(self, picture_id: str, timeline: bool = True) -> Picture | None:
        picture = self.pictures.get(picture_id)
        if picture is None:
            return None
        copy = picture.model_copy(deep=True)
        copy.timeline = sorted(copy.timeline, key=lambda t: (t.started, t.attempt)) \
            if timeline else []
        return copy

    def status(self, picture_id: str) -> str | None:
        picture = self.pictures.get(picture_id)
        return picture.status if picture else None

    def add(self, picture: Picture) -> None:
        if picture.id in self.pictures:
            raise KeyError(f"{picture.id} exists")
        self.pictures[picture.id] = picture.model_copy(deep=True)

    def update(self, picture_id: str, **fields: Any) -> None:
        unknown = set(fields) - FIELDS
        if unknown:
            raise ValueError(f"not a picture field: {', '.join(sorted(unknown))}")
        picture = self.pictures.get(picture_id)
        if picture is not None:
            for name, value in fields.items():
                if name in INDEXED:  # columns to find pictures by, not fields of a Picture
                    self.indexed.setdefault(picture_id, {})[name] = value
                else:
                    setattr(picture, name, value)

    def add_timeline(self, picture_id: str, entry: TimelineEntry) -> None:
        picture = self.pictures[picture_id]
        key = (entry.step, entry.attempt, entry.started)
        picture.timeline = [t for t in picture.timeline
                            if (t.step, t.attempt, t.started) != key] + [entry]

    def clear_timeline(self, picture_id: str) -> None:
        self.pictures[picture_id].timeline = []

    def remove(self, picture_id: str) -> bool:
        self.indexed.pop(picture_id, None)
        return self.pictures.pop(picture_id, None) is not None

    def tombstone(self, picture_id: str) -> datetime | None:
        stone = self.tombstones.get(picture_id)
        return stone[0] if stone else None

    def tombstone_version(self, picture_id: str) -> int:
        stone = self.tombstones.get(picture_id)
        return stone[1] if stone else 0

    def set_tombstone(self, picture_id: str, at: datetime | None, version: int = 1) -> None:
        if at is None:
            self.tombstones.pop(picture_id, None)
        else:
            self.tombstones[picture_id] = (at, version)

    def _newest_first(self) -> list[Picture]:
        return sorted(self.pictures.values(), key=lambda p: (p.created.isoformat(), p.id),
                      reverse=True)

    def query(self, q: Query) -> list[str]:
        out = []
        for p in self._newest_first():
            if q.label and q.label not in {x.name.lower() for x in p.labels or []}:
                continue
            if (q.mode and p.mode != q.mode) or (q.status and p.status != q.status):
                continue
            indexed = self.indexed.get(p.id, {})
            if q.camera and indexed.get("camera") != q.camera:
                continue
            if q.year and indexed.get("taken_year") != q.year:
                continue
            if q.after and (p.created.isoformat(), p.id) >= q.after:
                continue
            out.append(p.id)
        return out[:q.limit]

    def collage_candidates(self, count: int, also: Sequence[str] = ()) -> list[tuple[str, str]]:
        newest = [p for p in self._newest_first()
                  if p.thumbnail is not None and p.status in COLLAGE_STATUSES][:count]
        ids = {p.id for p in newest}
        others = [p for i in dict.fromkeys(also) if i not in ids
                  and (p := self.pictures.get(i)) is not None and p.status in COLLAGE_STATUSES]
        return [(p.id, p.created.isoformat()) for p in newest + others]

    def stats_rows(self, window: int = STATS_WINDOW) -> StatsRows:
        pictures, steps = [], []
        counts: dict[tuple[str, str], int] = {}
        for p in self.pictures.values():
            if p.mode is not None:
                counts[(p.mode, p.status)] = counts.get((p.mode, p.status), 0) + 1
        newest = {m: set([p.id for p in self._newest_first() if p.mode == m][:window])
                  for m in MODES}
        for p in self.pictures.values():
            if p.mode is None or p.id not in newest[p.mode]:
                continue
            pictures.append({"id": p.id, "mode": p.mode, "status": p.status,
                             "created": p.created.isoformat(),
                             "finished": p.finished.isoformat() if p.finished else None})
            steps += [{"picture_id": p.id, "step": t.step, "outcome": t.outcome,
                       "attempt": t.attempt,
                       "started": t.started.isoformat(), "ended": t.ended.isoformat(),
                       "mode": p.mode} for t in p.timeline]
        return StatsRows(pictures, steps, [{"mode": m, "status": st, "n": n}
                                           for (m, st), n in counts.items()], window)
