"""The one way every process connects to NATS, and closes the connection."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from picadaily.settings import Settings, address_list

log = logging.getLogger(__name__)
RECONNECT_WAIT_S = 2


EXAMPLE_PASSWORD = ":change-me-"  # .env.example's NATS passwords all start so
# What to call after a connection of ``connect_nats`` has reconnected (``when_reconnected``).
_reconnect_listeners: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = \
    weakref.WeakKeyDictionary()


def when_reconnected(nc: Any, listener: Callable[[], None]) -> Callable[[], None]:
    """Have ``listener`` called after each reconnection of ``nc`` (a connection made by
    ``connect_nats``; others never call it). Returns the function that stops it."""
    listeners = _reconnect_listeners.setdefault(nc, [])
    listeners.append(listener)

    def forget() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return forget


# A server that stops answering without closing the connection (cut off, its host gone) is
# left for another after PING_INTERVAL_S * MAX_OUTSTANDING_PINGS seconds at most. nats-py's
# defaults (120 s, 2) kept a client on a cut-off server of a cluster for up to four minutes;
# measured with the cluster drill (a 20 s cut: uploads' longest wait 32.8 s with the defaults).
PING_INTERVAL_S = 5
MAX_OUTSTANDING_PINGS = 2


async def connect_nats(settings: Settings, name: str) -> Any:
    """A connection that never gives up: NATS restarting costs a pause, not the process.

    Reconnects forever (``max_reconnect_attempts=-1``) every ``RECONNECT_WAIT_S`` seconds once
    connected. The first connection must succeed (the process fails at start, loudly, if NATS is
    not there; the stack runner starts NATS first and restarts what fails)."""
    import nats

    if EXAMPLE_PASSWORD in settings.nats_url:
        raise ValueError("PICADAILY_NATS_URL carries an example password from .env.example: "
                         "choose your own NATS_*_PASSWORD values")
    client: list[Any] = []

    async def on_disconnected() -> None:
        if client and (client[0].is_closed or client[0].is_draining):
            return  # our own shutdown
        log.warning("%s: disconnected from NATS; reconnecting", name)

    async def on_reconnected() -> None:
        log.info("%s: reconnected to NATS", name)
        for listener in list(_reconnect_listeners.get(client[0], [])) if client else []:
            listener()

    async def on_error(exc: Exception) -> None:
        log.warning("%s: NATS: %r", name, exc)

    nc = await nats.connect(
        address_list(settings.nats_url), name=name, max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT_S, allow_reconnect=True, connect_timeout=2,
        ping_interval=PING_INTERVAL_S, max_outstanding_pings=MAX_OUTSTANDING_PINGS,
        disconnected_cb=on_disconnected, reconnected_cb=on_reconnected, error_cb=on_error,
    )
    client.append(nc)
    return nc


async def close_nats(nc: Any, grace: float = 5.0) -> None:
    """Drain (finish in-flight work), but never hang shutdown on a stuck subscription."""
    if nc.is_closed:
        return
    try:
        await asyncio.wait_for(nc.drain(), grace)
    except (TimeoutError, Exception) as exc:
        log.warning("NATS drain did not finish (%r); closing", exc)
        await nc.close()
