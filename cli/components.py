"""Running one component as a process: ``picadaily run <component>``.

HTTP components run under uvicorn; event components run an async ``main(settings, stop)`` until
SIGTERM or SIGINT sets ``stop``. Either way the process exits cleanly on those signals.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from picadaily.runtime import configure_logging, freeze_startup_objects, release_free_memory
from picadaily.settings import Settings
from picadaily.tracing import instrument_app, setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Component:
    name: str
    target: str  # "module:function"
    kind: str  # "http" (create_app(settings)) or "async" (main(settings, stop))

    def bind(self, settings: Settings) -> tuple[str, int]:
        """Where an HTTP component listens: what ``run_component`` hands uvicorn."""
        port = self.port(settings)
        if port is None:
            raise ValueError(f"{self.name} does not serve HTTP")
        return settings.host, port

    def port(self, settings: Settings) -> int | None:
        if self.kind != "http":
            return None
        return settings.http_port(self.name)


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("metadata", "services.metadata.http:create_app", "http"),
        Component("vision", "services.vision.http:create_app", "http"),
        Component("thumbnails", "services.thumbnails.http:create_app", "http"),
        Component("collage", "services.collage.http:create_app", "http"),
        Component("exif", "services.exif.http:create_app", "http"),
        Component("traces", "services.traces.http:create_app", "http"),
        Component("worker", "workflow.worker:main", "async"),
        Component("trigger", "functions.trigger:main", "async"),
        Component("reconciler", "functions.reconciler:main", "async"),
        Component("source", "functions.seaweedfs.source:main", "async"),
        Component("bridge", "functions.bridge:main", "async"),
        Component("frontend", "frontend.app:create_app", "http"),
    )
}


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return fn


def run_component(name: str, settings: Settings | None = None) -> None:
    component = COMPONENTS[name]
    settings = settings or Settings()
    configure_logging(name)
    setup_tracing(name)
    if component.kind == "http":
        from cli.http_protocol import guarded_protocol
        from cli.http_server import serve

        app = _load(component.target)(settings)
        instrument_app(app)
        freeze_startup_objects()
        release_free_memory()  # what building the app (vision: its models) left free
        host, port = component.bind(settings)
        serve(app, host, port, replica_port=settings.replica_port, log_config=None,
              access_log=False, timeout_graceful_shutdown=10,
              http=guarded_protocol(settings.max_connections, settings.header_timeout_s,
                                    settings.body_idle_timeout_s),
              proxy_headers=bool(settings.forwarded_allow_ips),
              forwarded_allow_ips=settings.forwarded_allow_ips or None)
        shutdown_tracing()
    else:
        main: Callable[[Settings, asyncio.Event], Awaitable[None]] = _load(component.target)
        freeze_startup_objects()
        code = 0
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(_run_until_signalled(main, settings))
            log.info("%s stopped", name)
        except Exception:
            log.exception("%s failed", name)
            code = 1
        shutdown_tracing()
        # The Temporal SDK's native runtime threads can keep an interpreter from exiting (and
        # sometimes crash it at exit); everything is flushed and closed by now, so leave at once.
        logging.shutdown()
        os._exit(code)
    log.info("%s stopped", name)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (as uvicorn picks it for the HTTP components)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _run_until_signalled(
    main: Callable[[Settings, asyncio.Event], Awaitable[None]], settings: Settings
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(settings, stop)
