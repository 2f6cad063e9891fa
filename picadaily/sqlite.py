"""Opening a SQLite file the way every service that keeps one does: its folder made, WAL
journal, one connection shared by threads (each caller serialises its use with a lock)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

# Switching a new file to WAL takes the database's exclusive lock without waiting on the busy
# timeout: two processes opening one file at once (two replicas of a service) saw "database is
# locked". The switch is tried again for this long.
WAL_SWITCH_WAIT_S = 10.0


def open_sqlite(path: Path | str) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    deadline = time.monotonic() + WAL_SWITCH_WAIT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    db.execute("PRAGMA synchronous=NORMAL")
    return db
