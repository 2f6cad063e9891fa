"""The two dialects' migrations (``services/metadata/repository.py`` for SQLite,
``services/metadata/postgres.py`` for PostgreSQL) are numbered differently — each dialect's
numbers are its databases' history and cannot change — but they must end with the same
schema: the same tables, columns (nullability, defaults, primary keys), indexes (columns, order,
partial or not) and foreign keys. A column or index added to one dialect only fails here."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from services.metadata.postgres import PostgresPictures
from services.metadata.repository import SqlitePictures

Schema = dict[str, Any]


def sqlite_schema(path: Path) -> Schema:
    db = sqlite3.connect(path)
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    out: Schema = {}
    for table in tables:
        columns = {name: (bool(notnull or pk), default, bool(pk))
                   for _, name, _, notnull, default, pk in db.execute(
                       f"PRAGMA table_info({table})")}
        indexes = {}
        for _, name, _, origin, partial in db.execute(f"PRAGMA index_list({table})"):
            if origin != "c":
                continue  # a primary key's own index (compared as the primary key)
            keys = [(col, "DESC" if desc else "ASC") for _, _, col, desc, _, key in db.execute(
                f"PRAGMA index_xinfo({name})") if key]
            indexes[name] = (tuple(keys), bool(partial))
        fks = {(row[2], row[3], row[4], row[6]) for row in db.execute(
            f"PRAGMA foreign_key_list({table})")}
        out[table] = {"columns": columns, "indexes": indexes, "foreign_keys": fks}
    db.close()
    return out


def postgres_schema(url: str) -> Schema:
    with psycopg.connect(url) as db:
        tables = [r[0] for r in db.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name <> 'schema_version'")]
        out: Schema = {}
        for table in tables:
            pk = {r[0] for r in db.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass "
                "AND i.indisprimary", (table,))}
            columns = {name: (nullable == "NO", default, name in pk)
                       for name, nullable, default in db.execute(
                           "SELECT column_name, is_nullable, column_default FROM "
                           "information_schema.columns WHERE table_schema = current_schema() "
                           "AND table_name = %s", (table,))}
            indexes = {}
            for name, keys, options, partial in db.execute(
                    "SELECT c.relname, i.indnatts, i.indoption::int2[], i.indpred IS NOT NULL "
                    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", (table,)):
                cols = [str(db.execute("SELECT pg_get_indexdef(c.oid, %s, true) FROM pg_class c "
                                       "WHERE c.relname = %s", (k + 1, name)).fetchall()[0][0])
                        for k in range(keys)]
                indexes[name] = (tuple((col, "DESC" if options[k] & 1 else "ASC")
                                       for k, col in enumerate(cols)), partial)
            fks = {(ref, col, refcol, {"c": "CASCADE", "a": "NO ACTION"}[action])
                   for ref, col, refcol, action in db.execute(
                       "SELECT cf.relname, a.attname, af.attname, con.confdeltype "
                       "FROM pg_constraint con JOIN pg_class cf ON cf.oid = con.confrelid "
                       "JOIN pg_attribute a ON a.attrelid = con.conrelid "
                       "AND a.attnum = con.conkey[1] JOIN pg_attribute af ON "
                       "af.attrelid = con.confrelid AND af.attnum = con.confkey[1] "
                       "WHERE con.conrelid = %s::regclass AND con.contype = 'f'", (table,))}
            out[table] = {"columns": columns, "indexes": indexes, "foreign_keys": fks}
    return out


def test_both_dialects_end_with_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    SqlitePictures(tmp_path / "m.sqlite3")  # applies every migration
    PostgresPictures(postgres_url, pool_size=1).close()
    sqlite, postgres = sqlite_schema(tmp_path / "m.sqlite3"), postgres_schema(postgres_url)
    assert set(sqlite) == set(postgres) >= {"pictures", "labels", "deleted", "timeline"}
    assert len(sqlite["pictures"]["indexes"]) >= 7 and sqlite["labels"]["foreign_keys"]
    for table in sqlite:
        for part in ("columns", "indexes", "foreign_keys"):
            assert sqlite[table][part] == postgres[table][part], (table, part)
