"""Fixtures: real NATS, S3 (moto) and Temporal servers on loopback, started once per session;
per test, fresh buckets, queue, stream and task queue so tests cannot see each other."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.local_postgres import PostgresServer
from picadaily.settings import Settings
from tests.servers import (
    SeaweedStore,
    ThreadedServer,
    free_port,
    moto_server,
    nats_server,
    seaweedfs_server,
    temporal_server,
)

# The shared photos live beside the checkout (../shared/photos), in CI as on a developer machine.
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"


def photos(kind: str) -> list[Path]:
    folder = PHOTOS / kind
    if not folder.is_dir():
        raise FileNotFoundError(f"the shared test photos are missing: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".md")


# The drills: each runs a stack of its own and kills parts of it (or waits out a review
# timeout). Beside each other on two cores they starve each other's stacks; one after the
# other, on one worker, they hold as they do alone.
DRILLS = frozenset({"tests/e2e/test_restart.py", "tests/e2e/test_durability.py",
                    "tests/e2e/test_review.py", "tests/e2e/test_chaos.py"})
# The cluster's drill is short (24 uploads, a 15 s cut): it runs on the other worker, started as
# early as the drills (on the drills' worker it made that worker's run 8 min, past the budget).
EARLY = DRILLS | {"tests/e2e/test_cluster.py"}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test``'s two workers: a test file whole on one worker (its module's stack, its
    order), and all the drills as one unit of work, one after the other on one worker, while
    the other worker runs everything else."""
    from xdist.scheduler import LoadScopeScheduling

    class DrillsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "drills" if path in DRILLS else path

    return DrillsTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order the workers take the files in: the time-skipping workflow tests first (beside
    the drills' stacks their test server once stopped answering), the other unit tests, then
    the drills (the longest unit of work, so started early), then the rest around them."""
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        if path == "tests/unit/test_workflow.py":
            return 0
        if path.startswith("tests/unit/"):
            return 1
        if path in EARLY:
            return 2
        return 3

    items.sort(key=rank)  # (stable: each file's tests stay in their order)


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def nats_url(server_dir: Path) -> Iterator[str]:
    with nats_server(server_dir) as url:
        yield url


@pytest.fixture(scope="session")
def store(server_dir: Path) -> Iterator[SeaweedStore]:
    with seaweedfs_server(server_dir) as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Debian's PostgreSQL, started once per session (each test gets its own database)."""
    try:
        server = PostgresServer().start()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} — in CI nothing may skip; .ci/run installs it")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh database of its own for this test."""
    return postgres.database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def moto_url(server_dir: Path) -> Iterator[str]:
    """moto (S3 + SQS): only for the tests of the AWS S3 -> SQS -> bridge path."""
    with moto_server(server_dir) as url:
        yield url


@pytest.fixture(scope="session")
def temporal_address(server_dir: Path) -> Iterator[str]:
    with temporal_server(server_dir) as address:
        yield address


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, store: SeaweedStore,
             temporal_address: str) -> Settings:
    """Settings for one test: its own buckets, queue, stream, task queue and home."""
    tag = uuid.uuid4().hex[:10]
    return Settings(
        home=tmp_path / "home",
        nats_url=nats_url,
        s3_endpoint=store.s3_url,
        s3_access_key=store.access_key,
        s3_secret_key=store.secret_key,
        seaweedfs_port_base=store.port_base,
        seaweedfs_filer_grpc=store.filer_grpc,
        temporal_address=temporal_address,
        pictures_bucket=f"pictures-{tag}",
        thumbnails_bucket=f"thumbnails-{tag}",
        sqs_queue=f"events-{tag}",
        storage_stream=f"STORAGE_{tag.upper()}",
        event_prefix=f"pd{tag}",
        kv_bucket=f"kv{tag}",
        events_stream=f"EVENTS_{tag.upper()}",
        dead_letter_stream=f"DEAD_{tag.upper()}",
        event_backoff_s=[0.1, 0.2, 0.3, 0.4],
        event_max_deliver=4,
        step_retry_budget_s=3.0,
        temporal_task_queue=f"pictures-{tag}",
        fault_injection=True,
        vision_url=f"http://127.0.0.1:{free_port()}",
        metadata_url=f"http://127.0.0.1:{free_port()}",
        thumbnails_url=f"http://127.0.0.1:{free_port()}",
        collage_url=f"http://127.0.0.1:{free_port()}",
        exif_url=f"http://127.0.0.1:{free_port()}",
    )


@pytest.fixture
def settings_override(settings: Settings) -> Settings:
    """A test module may override this to change the settings its services run with."""
    return settings


@pytest.fixture
def provisioned(settings_override: Settings) -> Settings:
    from infra.provision import provision_storage

    provision_storage(settings_override)
    return settings_override


@pytest.fixture
def services(provisioned: Settings) -> Iterator[Settings]:
    """Our five HTTP services, really served on loopback, with fault injection on."""
    from picadaily.settings import service_port
    from services.collage.http import create_app as collage_app
    from services.exif.http import create_app as exif_app
    from services.metadata.http import create_app as metadata_app
    from services.thumbnails.http import create_app as thumbnails_app
    from services.vision.http import create_app as vision_app

    s = provisioned
    with contextlib.ExitStack() as stack:
        for factory, url in ((metadata_app, s.metadata_url), (vision_app, s.vision_url),
                             (thumbnails_app, s.thumbnails_url), (collage_app, s.collage_url),
                             (exif_app, s.exif_url)):
            stack.enter_context(ThreadedServer(factory(s), port=service_port(url)))
        yield s


@pytest.fixture
async def temporal_client(temporal_address: str) -> AsyncIterator[object]:
    from temporalio.client import Client

    from picadaily.temporal_client import data_converter

    yield await Client.connect(temporal_address, data_converter=data_converter)
