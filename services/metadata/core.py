"""The metadata core: every change a picture document goes through, and the queries on it.

Every write is idempotent: the same call twice leaves the same document, and a final status is
never overwritten by a late or duplicated message.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from picadaily.contracts import Analysis, Picture, Registration, Thumbnail, TimelineEntry, utcnow
from picadaily.steps import FINAL_STATUSES, Status

from .repository import SqlitePictures, row_to_picture


class PictureNotFound(Exception):
    pass


@dataclass(frozen=True)
class Page:
    pictures: list[Picture]
    next_cursor: str | None




ChangeListener = Callable[[str, str], None]  # (picture id, status or "deleted")


class Metadata:
    def __init__(self, store: SqlitePictures, on_change: ChangeListener | None = None) -> None:
        self._store = store
        self._listeners: list[ChangeListener] = [on_change] if on_change else []

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _changed(self, picture_id: str, status: str | None = None) -> None:
        if not self._listeners:
            return
        if status is None:
            with self._store.reading() as db:
                row = db.execute("SELECT status FROM pictures WHERE id = ?",
                                 (picture_id,)).fetchone()
            status = row["status"] if row else "deleted"
        for listener in self._listeners:
            listener(picture_id, status)

    # --- writes -----------------------------------------------------------------------------

    def register(self, picture_id: str, reg: Registration) -> Picture:
        """Create the document (status processing) or fill in what an earlier message lacked."""
        now = utcnow().isoformat()
        with self._store.transaction() as db:
            db.execute("DELETE FROM deleted WHERE id = ?", (picture_id,))
            db.execute(
                """
                INSERT INTO pictures (id, object_key, original_name, content_type, size, created,
                                      updated, mode, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    original_name = COALESCE(pictures.original_name, excluded.original_name),
                    content_type = COALESCE(pictures.content_type, excluded.content_type),
                    size = COALESCE(pictures.size, excluded.size),
                    mode = COALESCE(excluded.mode, pictures.mode),
                    updated = excluded.updated
                """,
                (picture_id, reg.object_key, reg.original_name, reg.content_type, reg.size,
                 reg.created.isoformat(), now, reg.mode, Status.PROCESSING.value),
            )
        self._changed(picture_id)
        return self.get(picture_id)

    def record_step(self, picture_id: str, entry: TimelineEntry) -> None:
        """Add a timeline entry. A picture first seen here (put straight into the bucket) gets a
        document. A deleted picture's late entries are dropped: they must not bring it back."""
        with self._store.transaction() as db:
            if db.execute("SELECT 1 FROM deleted WHERE id = ?", (picture_id,)).fetchone():
                return
            db.execute(
                """INSERT INTO pictures (id, object_key, created, updated, mode, status)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
                   mode = COALESCE(pictures.mode, excluded.mode)""",
                (picture_id, picture_id, entry.started.isoformat(), utcnow().isoformat(),
                 entry.mode, Status.PROCESSING.value),
            )
            db.execute(
                """INSERT OR REPLACE INTO timeline
                   (picture_id, step, attempt, started, ended, outcome, error, mode)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (picture_id, entry.step, entry.attempt, entry.started.isoformat(),
                 entry.ended.isoformat(), entry.outcome, entry.error, entry.mode),
            )
        self._changed(picture_id)

    def store_analysis(self, picture_id: str, analysis: Analysis) -> None:
        with self._store.transaction() as db:
            self._require(db, picture_id)
            labels = analysis.labels
            db.execute(
                "UPDATE pictures SET labels = ?, colours = ?, safety = ?, updated = ? WHERE id = ?",
                (
                    None if labels is None else json.dumps([x.model_dump() for x in labels]),
                    json.dumps([c.model_dump() for c in analysis.colours]),
                    analysis.safety.model_dump_json(),
                    utcnow().isoformat(),
                    picture_id,
                ),
            )
            db.execute("DELETE FROM labels WHERE picture_id = ?", (picture_id,))
            db.executemany(
                "INSERT OR REPLACE INTO labels (picture_id, name, score) VALUES (?, ?, ?)",
                [(picture_id, x.name.lower(), x.score) for x in labels or []],
            )
        self._changed(picture_id)

    def set_thumbnail(self, picture_id: str, thumbnail: Thumbnail | None) -> None:
        with self._store.transaction() as db:
            self._require(db, picture_id)
            db.execute(
                "UPDATE pictures SET thumbnail = ?, updated = ? WHERE id = ?",
                (thumbnail.model_dump_json() if thumbnail else None, utcnow().isoformat(),
                 picture_id),
            )
        self._changed(picture_id)

    def finish(self, picture_id: str, status: Status, error: str | None = None) -> None:
        """Set the final status. The first final status wins; a repeat is a no-op."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status} is not a final status")
        now = utcnow().isoformat()
        with self._store.transaction() as db:
            self._require(db, picture_id)
            db.execute(
                """UPDATE pictures SET status = ?, error = ?, finished = ?, updated = ?
                   WHERE id = ? AND status = ?""",
                (status.value, error, now, now, picture_id, Status.PROCESSING.value),
            )
        self._changed(picture_id)

    def reopen(self, picture_id: str) -> Picture:
        """Back to processing (a dead letter is being redriven)."""
        with self._store.transaction() as db:
            self._require(db, picture_id)
            db.execute("""UPDATE pictures SET status = ?, error = NULL, finished = NULL,
                          updated = ? WHERE id = ?""",
                       (Status.PROCESSING.value, utcnow().isoformat(), picture_id))
        self._changed(picture_id)
        return self.get(picture_id)

    def delete(self, picture_id: str) -> bool:
        """Garbage collection: the document goes, a tombstone stays (late messages are ignored)."""
        with self._store.transaction() as db:
            cur = db.execute("DELETE FROM pictures WHERE id = ?", (picture_id,))
            db.execute("INSERT OR REPLACE INTO deleted (id, at) VALUES (?, ?)",
                       (picture_id, utcnow().isoformat()))
            existed = cur.rowcount > 0
        if existed:
            self._changed(picture_id, "deleted")
        return existed

    # --- reads ------------------------------------------------------------------------------

    def get(self, picture_id: str) -> Picture:
        with self._store.reading() as db:
            row = db.execute("SELECT * FROM pictures WHERE id = ?", (picture_id,)).fetchone()
            if row is None:
                raise PictureNotFound(picture_id)
            timeline = db.execute(
                "SELECT * FROM timeline WHERE picture_id = ? ORDER BY started, attempt",
                (picture_id,),
            ).fetchall()
        return row_to_picture(row, timeline)

    def list_pictures(
        self,
        *,
        label: str | None = None,
        mode: str | None = None,
        status: str | None = None,
        limit: int = 24,
        cursor: str | None = None,
    ) -> Page:
        """Newest first. ``cursor`` is the opaque ``next_cursor`` of the previous page."""
        where: list[str] = []
        args: list[object] = []
        if label:
            where.append("id IN (SELECT picture_id FROM labels WHERE name = ?)")
            args.append(label.strip().lower())
        if mode:
            where.append("mode = ?")
            args.append(mode)
        if status:
            where.append("status = ?")
            args.append(status)
        if cursor:
            created, picture_id = _decode_cursor(cursor)
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [created, created, picture_id]
        sql = "SELECT id FROM pictures"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        with self._store.reading() as db:
            ids = [r["id"] for r in db.execute(sql, args).fetchall()]
        pictures = [self.get(i) for i in ids[:limit]]
        next_cursor = None
        if len(ids) > limit and pictures:
            last = pictures[-1]
            next_cursor = _encode_cursor(last.created.isoformat(), last.id)
        return Page(pictures, next_cursor)

    def collage_candidates(self, count: int = 4) -> list[Picture]:
        """The newest pictures that have a thumbnail and are not rejected or failed."""
        with self._store.reading() as db:
            ids = [
                r["id"]
                for r in db.execute(
                    """SELECT id FROM pictures WHERE thumbnail IS NOT NULL AND status IN (?, ?)
                       ORDER BY created DESC, id DESC LIMIT ?""",
                    (Status.DONE.value, Status.PROCESSING.value, count),
                ).fetchall()
            ]
        return [self.get(i) for i in ids]

    def stats(self) -> dict[str, ModeStats]:
        """Per mode: counts, end-to-end seconds, per-step durations, retries and failures."""
        out: dict[str, ModeStats] = {}
        with self._store.reading() as db:
            pictures = db.execute(
                "SELECT id, mode, status, created, finished FROM pictures WHERE mode IS NOT NULL"
            ).fetchall()
            steps = db.execute(
                """SELECT t.step, t.outcome, t.attempt, t.started, t.ended, p.mode
                   FROM timeline t JOIN pictures p ON p.id = t.picture_id
                   WHERE p.mode IS NOT NULL""").fetchall()
        for row in pictures:
            s = out.setdefault(row["mode"], ModeStats())
            s.count += 1
            s.statuses[row["status"]] = s.statuses.get(row["status"], 0) + 1
            if row["status"] == Status.DONE and row["finished"]:
                s.e2e_ms.append(_ms(row["created"], row["finished"]))
        for row in steps:
            s = out.setdefault(row["mode"], ModeStats())
            if row["outcome"] == "ok":
                s.step_ms.setdefault(row["step"], []).append(_ms(row["started"], row["ended"]))
            elif row["outcome"] == "error":
                s.step_errors[row["step"]] = s.step_errors.get(row["step"], 0) + 1
            if row["attempt"] > 1:
                s.retries += 1
        return out

    def _require(self, db: sqlite3.Connection, picture_id: str) -> None:
        if db.execute("SELECT 1 FROM pictures WHERE id = ?", (picture_id,)).fetchone() is None:
            raise PictureNotFound(picture_id)


@dataclass
class ModeStats:
    count: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    e2e_ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=dict)
    step_errors: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "pictures": self.count,
            "statuses": self.statuses,
            "e2e_ms": _percentiles(self.e2e_ms),
            "steps": {step: {**_percentiles(v), "errors": self.step_errors.get(step, 0)}
                      for step, v in self.step_ms.items()},
            "step_errors": self.step_errors,
            "retried_attempts": self.retries,
        }


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "mean": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 1),
            "p95": round(p95, 1), "mean": round(statistics.fmean(ordered), 1)}


def _ms(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def _encode_cursor(created: str, picture_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created}|{picture_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, picture_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except Exception as exc:
        raise ValueError("the paging cursor is not one this server gave out") from exc
    return created, picture_id
