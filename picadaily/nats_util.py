"""Small NATS helpers shared by the event edges."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def close_nats(nc: Any, grace: float = 5.0) -> None:
    """Drain (finish in-flight work), but never hang shutdown on a stuck subscription."""
    if nc.is_closed:
        return
    try:
        await asyncio.wait_for(nc.drain(), grace)
    except (TimeoutError, Exception) as exc:
        log.warning("NATS drain did not finish (%r); closing", exc)
        await nc.close()
