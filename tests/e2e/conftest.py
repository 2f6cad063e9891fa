"""One running stack for all end-to-end tests (started by the stack runner, as a user would)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.stack import RunningStack

log = logging.getLogger(__name__)
MAX_UPLOAD = 8_000_000


@pytest.fixture(scope="session")
def tmp_before() -> set[str]:
    """What /tmp held before any stack of this session started (another program's, or an older
    checkout's leftovers, are not this code's)."""
    return set(os.listdir(tempfile.gettempdir()))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory,
          tmp_before: set[str]) -> Iterator[RunningStack]:
    running = RunningStack(tmp_path_factory.mktemp("stack") / "home",
                           {"PICADAILY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
                            "PICADAILY_TRACING": "true"}).start()
    log.info("stack started in %.1f s", running.start_seconds)
    yield running
    if running.proc and running.proc.poll() is None:
        assert running.stop() == 0


@pytest.fixture(scope="session")
def drill_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The stack the failure drills kill parts of (test_chaos, then test_durability, whose
    runner's kill comes last): the lab on, the chaos settings. One for both modules: a stack
    costs ~15 s to start. Each drill checks only its own pictures, and that nothing anywhere is
    still processing."""
    from bench.chaos import CHAOS_ENV

    stack = RunningStack(tmp_path_factory.mktemp("drills") / "home",
                         {**CHAOS_ENV, "PICADAILY_LAB": "true"}).start()
    try:
        yield stack
    finally:
        if stack.proc:
            stack.discard()  # its home is thrown away: no graceful stop needed


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    with stack.client(timeout=30) as client:
        yield client


CHROMIUM = os.environ.get("PICADAILY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module. Not per session: Playwright's sync API keeps its event loop
    running in this thread while it lives, and a later test's ``asyncio.run`` then fails
    ("cannot be called from a running event loop")."""
    if not Path(CHROMIUM).exists():
        message = ("Chromium is not installed: on Debian/Ubuntu run 'sudo apt-get install "
                   "chromium' (or set PICADAILY_CHROMIUM to a Chromium binary)")
        if os.environ.get("CI"):
            pytest.fail(message + " — in CI nothing may skip; .ci/run installs it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
