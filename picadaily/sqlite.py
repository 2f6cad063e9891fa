"""Opening a SQLite file the way every service that keeps one does: its folder made, WAL
journal, one connection shared by threads (each caller serialises its use with a lock)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_sqlite(path: Path | str) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db
