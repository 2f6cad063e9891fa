"""The metadata service on PostgreSQL (Debian's server, started by the fixtures): a restart of
the database in the middle of a burst of writes loses none of them. A write waits in the pool
for a fresh connection (up to its timeout), else answers a retryable 503 that the callers send
again (what activities and consumers do)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from cli.local_postgres import PostgresServer
from picadaily.service_errors import read_service_error
from picadaily.settings import Settings
from services.metadata.http import create_app as metadata_app
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
        time.sleep(1)
        postgres.start()
        for future in futures:
            future.result()
        listed = httpx.get(f"{server.url}/pictures", params={"limit": 200}).json()["pictures"]
    assert sorted(written) == sorted(p["id"] for p in listed)  # each exactly once
    assert set(written.values()) == {1}
    # Writes were still coming when the server went away: they waited in the pool (or got a
    # retryable 503 and were sent again) and all landed.
    assert left_at_stop > 0, "the burst was over before the restart: the test proved nothing"
