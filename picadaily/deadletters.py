"""Dead letters: events a consumer gave up on. List them; redrive one once its fault is gone.

Redriving reopens the picture (status back to ``processing``), publishes the original event
again to its subject (with a fresh message id, so JetStream does not drop it as a duplicate),
and removes the dead letter.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from picadaily.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    subject: str
    picture_id: str
    step: str
    error: str
    deliveries: int
    failed_at: str
    event: dict[str, Any]


class DeadLetterNotFound(LookupError):
    pass


async def list_dead_letters(js: Any, settings: Settings, limit: int = 100) -> list[DeadLetter]:
    info = await js.stream_info(settings.dead_letter_stream)
    letters: list[DeadLetter] = []
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq and len(letters) < limit:
        with contextlib.suppress(DeadLetterNotFound):  # redriven (deleted) earlier
            letters.append(await get_dead_letter(js, settings, seq))
        seq += 1
    return letters


async def get_dead_letter(js: Any, settings: Settings, seq: int) -> DeadLetter:
    from nats.js.errors import NotFoundError

    try:
        raw = await js.get_msg(settings.dead_letter_stream, seq)
    except NotFoundError as exc:
        raise DeadLetterNotFound(f"no dead letter {seq}") from exc
    body = json.loads(raw.data)
    return DeadLetter(seq=seq, consumer=body["consumer"], subject=body["subject"],
                      picture_id=body["picture_id"], step=body["step"], error=body["error"],
                      deliveries=body["deliveries"], failed_at=body["failed_at"],
                      event=body["event"])


async def redrive(js: Any, settings: Settings, metadata: httpx.AsyncClient,
                  seq: int) -> DeadLetter:
    letter = await get_dead_letter(js, settings, seq)
    resp = await metadata.post(f"/pictures/{letter.picture_id}/reopen")
    if resp.status_code not in (200, 404):  # 404: deleted since; the event is still redriven
        resp.raise_for_status()
    await js.publish(letter.subject, json.dumps(letter.event).encode(),
                     headers={"Nats-Msg-Id": f"redrive:{settings.dead_letter_stream}:{seq}"})
    await js.delete_msg(settings.dead_letter_stream, seq)
    return letter
