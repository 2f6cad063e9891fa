"""``picadaily review list|approve ID|reject ID``: moderation from a terminal, through the public
API as an admin (the token of PICADAILY_ADMIN_TOKEN, or the one the local runner left)."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime

import httpx

from picadaily.contracts import utcnow
from picadaily.settings import Settings

from .lab import admin_headers

log = logging.getLogger("picadaily.review")


def review(settings: Settings, args: argparse.Namespace) -> int:
    base = f"http://{settings.host}:{settings.port}"
    try:
        with httpx.Client(base_url=base, timeout=30, headers=admin_headers(settings)) as api:
            if args.action == "list":
                return _list(api)
            resp = api.post(f"/api/pictures/{args.picture_id}/review",
                            json={"decision": args.action, "reason": args.reason})
    except httpx.HTTPError as exc:
        log.error("the frontend at %s did not answer (%r): is the stack running?", base, exc)
        return 1
    body = resp.json()
    if not resp.is_success:
        log.error("%s: %s", args.picture_id, body.get("error", resp.text))
        return 1
    log.info("%s: %s (%s: applied %s)", body["id"], "approved" if args.action == "approve"
             else "rejected", body["mode"], body["applied"])
    return 0


def _list(api: httpx.Client) -> int:
    resp = api.get("/api/pictures", params={"status": "awaiting_review", "limit": 100})
    resp.raise_for_status()
    waiting = resp.json()["pictures"]
    if not waiting:
        log.info("no picture waits for review")
    for p in waiting:
        since = utcnow() - datetime.fromisoformat(p["review"]["requested"])
        log.info("%s  %-14s %-13s waiting %5.0f min  %s", p["id"], (p["original_name"] or "")[:14],
                 p["mode"], since.total_seconds() / 60, p["review"]["reason"])
    return 0
