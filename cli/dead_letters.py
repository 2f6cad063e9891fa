"""``picadaily dead-letters list|redrive N``."""

from __future__ import annotations

import logging

import httpx

from picadaily.deadletters import DeadLetterNotFound, NotRedrivable, list_dead_letters, redrive
from picadaily.nats_util import close_nats, connect_nats
from picadaily.settings import Settings

log = logging.getLogger("picadaily.dead_letters")


async def dead_letters(settings: Settings, action: str, seq: int | None) -> int:
    nc = await connect_nats(settings, "dead-letters-cli")
    try:
        js = nc.jetstream()
        if action == "list":
            letters = await list_dead_letters(js, settings)
            if not letters:
                log.info("no dead letters")
            for x in letters:
                log.info("%5d  %-22s %-28s %s  after %d deliveries: %s%s", x.seq, x.consumer,
                         x.picture_id or "-", x.failed_at[:19], x.deliveries, x.error,
                         "  (malformed: cannot be redriven)" if x.malformed else "")
            return 0
        assert seq is not None
        async with httpx.AsyncClient(base_url=settings.metadata_url, timeout=15) as metadata:
            try:
                letter = await redrive(js, settings, metadata, seq)
            except (DeadLetterNotFound, NotRedrivable) as exc:
                log.error("%s", exc)
                return 1
        log.info("redriven: %s of %s back on %s", letter.step, letter.picture_id, letter.subject)
        return 0
    finally:
        await close_nats(nc)
