"""Talking to the running stack's public API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from picadaily.steps import FINAL_STATUSES


def wait_final(api: httpx.Client, ids: list[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    docs: dict[str, Any] = {}
    while time.monotonic() < deadline:
        docs = {i: api.get(f"/api/pictures/{i}").json() for i in ids}
        if all(d.get("status") in FINAL_STATUSES for d in docs.values()):
            return docs
        time.sleep(0.2)
    pending = {i: d.get("status") for i, d in docs.items() if d.get("status") not in FINAL_STATUSES}
    raise AssertionError(f"not final after {timeout} s: {pending}")


def upload(api: httpx.Client, paths: list[Path], **data: str) -> httpx.Response:
    files = [("pictures", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    return api.post("/api/pictures", files=files, data=data)


def wait_gone(api: httpx.Client, picture_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        collage = api.get("/api/collage")
        members = collage.headers.get("x-picadaily-collage-pictures", "").split(",")
        if api.get(f"/api/pictures/{picture_id}").status_code == 404 and \
                picture_id not in members:
            return
        time.sleep(0.2)
    raise AssertionError(f"{picture_id} was not garbage-collected within {timeout} s")
