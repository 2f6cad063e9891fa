"""SQLite storage of picture documents, timeline entries and labels."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from picadaily.contracts import Colour, Label, Picture, Safety, Thumbnail, TimelineEntry

SCHEMA = """
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
"""


class SqlitePictures:
    """A thread-safe SQLite store. One connection, serialised by a lock (the HTTP edge runs
    handlers in a thread pool)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db


def row_to_picture(row: sqlite3.Row, timeline: list[sqlite3.Row]) -> Picture:
    def load(column: str) -> object:
        value = row[column]
        return None if value is None else json.loads(value)

    labels = load("labels")
    colours = load("colours")
    safety = load("safety")
    thumbnail = load("thumbnail")
    return Picture(
        id=row["id"],
        object_key=row["object_key"],
        original_name=row["original_name"],
        content_type=row["content_type"],
        size=row["size"],
        created=datetime.fromisoformat(row["created"]),
        updated=datetime.fromisoformat(row["updated"]),
        finished=datetime.fromisoformat(row["finished"]) if row["finished"] else None,
        mode=row["mode"],
        status=row["status"],
        error=row["error"],
        labels=[Label.model_validate(x) for x in labels] if isinstance(labels, list) else None,
        colours=[Colour.model_validate(x) for x in colours] if isinstance(colours, list) else None,
        safety=Safety.model_validate(safety) if safety else None,
        thumbnail=Thumbnail.model_validate(thumbnail) if thumbnail else None,
        timeline=[
            TimelineEntry(
                step=t["step"], attempt=t["attempt"], outcome=t["outcome"], error=t["error"],
                mode=t["mode"], started=datetime.fromisoformat(t["started"]),
                ended=datetime.fromisoformat(t["ended"]),
            )
            for t in timeline
        ],
    )
