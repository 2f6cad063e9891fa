"""``picadaily dead-letters list|redrive N``: through the public API as an admin (the token of
PICADAILY_ADMIN_TOKEN, or the one the local runner left), like ``picadaily review``: the CLI
holds no NATS credential of its own."""

from __future__ import annotations

import logging

import httpx

from picadaily.settings import Settings

from .lab import admin_headers

log = logging.getLogger("picadaily.dead_letters")


async def dead_letters(settings: Settings, action: str, seq: int | None) -> int:
    base = f"http://{settings.host}:{settings.port}"
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers=admin_headers(settings)) as api:
        try:
            if action == "list":
                resp = await api.get("/api/dead-letters")
            else:
                assert seq is not None
                resp = await api.post(f"/api/dead-letters/{seq}/redrive")
        except httpx.HTTPError as exc:
            log.error("the frontend at %s did not answer (%r): is the stack running?", base, exc)
            return 1
    body = resp.json()
    if not resp.is_success:
        log.error("%s", body.get("error", resp.text))
        return 1
    if action == "list":
        if not body["dead_letters"]:
            log.info("no dead letters")
        for x in body["dead_letters"]:
            log.info("%5d  %-22s %-28s %s  after %d deliveries: %s%s", x["seq"], x["consumer"],
                     x["picture_id"] or "-", x["failed_at"][:19], x["deliveries"], x["error"],
                     "  (malformed: cannot be redriven)" if x["malformed"] else "")
        return 0
    letter = body["redriven"]
    log.info("redriven: %s of %s back on %s", letter["step"], letter["picture_id"],
             letter["subject"])
    return 0
