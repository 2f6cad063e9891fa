"""The metadata service on PostgreSQL (Debian's server, started by the fixtures): a restart of
the database in the middle of a burst of writes loses none of them. A write waits in the pool
for a fresh connection (up to its timeout), else answers a retryable 503 that the callers send
again (what activities and consumers do). Replicas' write transactions are serialised; a pooled
connection is checked (a round trip) only after it idled."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from bench.procs import cpu_by_process
from cli.local_postgres import PostgresServer
from picadaily.contracts import Picture
from picadaily.service_errors import read_service_error
from picadaily.settings import Settings
from services.metadata.http import create_app as metadata_app
from services.metadata.postgres import PostgresPictures, RecentlyUsed
from tests.servers import ThreadedServer

WRITES = 120


def test_a_postgresql_restart_mid_burst_loses_no_write(
        settings: Settings, postgres: PostgresServer, postgres_url: str) -> None:
    own = settings.model_copy(update={"database_url": postgres_url, "event_edges": False,
                                      "database_pool_size": 4})
    written: dict[str, int] = {}
    retried = 0
    halfway = threading.Event()
    lock = threading.Lock()

    def write(n: int) -> None:
        nonlocal retried
        picture_id = f"pg-{n:03d}"
        body = {"object_key": picture_id, "mode": "choreography", "etag": f"e{n}"}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                resp = httpx.put(f"{server.url}/pictures/{picture_id}", json=body, timeout=10)
                if resp.status_code == 200:
                    with lock:
                        written[picture_id] = resp.json()["version"]
                        if len(written) >= WRITES // 3:
                            halfway.set()
                    return
                error = read_service_error(resp)
                assert error is not None and error.retryable, resp.text
            except httpx.HTTPError:
                pass
            with lock:
                retried += 1
            time.sleep(0.2)
        raise AssertionError(f"{picture_id} was never written")

    with ThreadedServer(metadata_app(own)) as server, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(write, n) for n in range(WRITES)]
        assert halfway.wait(60)
        postgres.stop("fast")  # every pooled connection dies with it
        with lock:
            left_at_stop = WRITES - len(written)
        time.sleep(1)  # the outage: a second, so the writes in flight meet the stopped server
        postgres.start()
        for future in futures:
            future.result()
        listed = httpx.get(f"{server.url}/pictures", params={"limit": 200}).json()["pictures"]
    assert sorted(written) == sorted(p["id"] for p in listed)  # each exactly once
    assert set(written.values()) == {1}
    # Writes were still coming when the server went away: they waited in the pool (or got a
    # retryable 503 and were sent again) and all landed.
    assert left_at_stop > 0, "the burst was over before the restart: the test proved nothing"


def _picture(picture_id: str, size: int = 0) -> Picture:
    now = datetime.now(UTC)
    return Picture(id=picture_id, object_key=picture_id, created=now, updated=now, size=size)


def test_write_transactions_of_two_replicas_are_serialised(postgres_url: str) -> None:
    """Each replica reads a field and writes it back plus one, from several threads: with the
    lock taken in BEGIN's round trip, no increment is lost."""
    replicas = [PostgresPictures(postgres_url, pool_size=4) for _ in range(2)]
    replicas[0].add(_picture("counted"))

    def increment(repo: PostgresPictures) -> None:
        with repo.transaction():
            current = repo.get("counted", timeline=False)
            assert current is not None and current.size is not None
            time.sleep(0.002)  # the window a lost update needs
            repo.update("counted", size=current.size + 1)

    try:
        with ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(increment, replicas[n % 2]) for n in range(80)]:
                future.result()
        final = replicas[1].get("counted")
        assert final is not None and final.size == 80
    finally:
        for repo in replicas:
            repo.close()


class _Counting(psycopg.Connection[Any]):
    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return super().execute(*args, **kwargs)


def test_a_connection_given_back_recently_is_handed_out_without_a_round_trip(
        postgres_url: str) -> None:
    conn = _Counting.connect(postgres_url, autocommit=True)
    try:
        fresh, idle = RecentlyUsed(idle_s=3600), RecentlyUsed(idle_s=0)
        fresh.check(conn)  # never given back: checked
        assert conn.statements == 1
        fresh.given_back(conn)
        fresh.check(conn)
        assert conn.statements == 1
        idle.given_back(conn)
        idle.check(conn)  # idle for longer than its limit: checked
        assert conn.statements == 2
    finally:
        conn.close()
    with pytest.raises(psycopg.OperationalError):
        fresh.check(conn)  # closed: refused without a round trip
    assert conn.statements == 2


def _drop_connections(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_a_connection_that_died_in_the_pool_costs_no_read_and_no_transaction(
        postgres_url: str) -> None:
    """Dead connections, whether checked at checkout (idle past the limit) or handed out
    unchecked (given back just now): reads and transactions go on, on another connection; a
    write outside a transaction is not repeated (it fails, retryable, and its caller retries)."""
    checked = PostgresPictures(postgres_url, pool_size=1, check_idle_s=0)
    trusted = PostgresPictures(postgres_url, pool_size=1, check_idle_s=3600)
    try:
        checked.add(_picture("p"))
        assert trusted.get("p") is not None
        _drop_connections(postgres_url)
        assert checked.get("p") is not None  # checked at checkout, replaced
        assert trusted.get("p") is not None  # unchecked: read again on another
        _drop_connections(postgres_url)
        assert trusted.get("p", timeline=False) is not None
        _drop_connections(postgres_url)
        with trusted.transaction():  # its BEGIN went again on another
            trusted.update("p", size=7)
        assert trusted.get("p").size == 7  # type: ignore[union-attr]
        _drop_connections(postgres_url)
        with pytest.raises(psycopg.OperationalError):
            trusted.add(_picture("q"))  # a write alone: never sent twice
        assert trusted.get("q") is None
    finally:
        checked.close()
        trusted.close()


def test_the_bench_counts_the_server_and_its_backends_as_one_process(
        postgres: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:  # a backend of its own
        conn.execute("SELECT 1")
        assert set(cpu_by_process(postgres.pid())) == {"postgresql"}
