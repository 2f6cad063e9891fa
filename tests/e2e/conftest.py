"""One running stack for all end-to-end tests (started by the stack runner, as a user would)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from cli.stack_process import RunningStack

log = logging.getLogger(__name__)
MAX_UPLOAD = 8_000_000


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = RunningStack(tmp_path_factory.mktemp("stack") / "home",
                           {"PICADAILY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}).start()
    log.info("stack started in %.1f s", running.start_seconds)
    yield running
    if running.proc and running.proc.poll() is None:
        assert running.stop() == 0


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        yield client
