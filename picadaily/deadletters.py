"""Dead letters: events a consumer gave up on. List them; redrive one once its fault is gone.

Redriving reopens the picture (status back to ``processing``) and publishes the original event
again to the redrive subject of the one consumer that gave up (no other consumer sees it again),
as a new event (a fresh CloudEvent id or storage-event sequencer, a fresh message id), so that the
events that follow from it are not dropped as duplicates of the first attempt's. Then the dead
letter is removed. A malformed message is listed as such and cannot be redriven.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from picadaily.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    subject: str
    picture_id: str | None
    step: str
    error: str
    deliveries: int
    failed_at: str
    event: Any
    malformed: bool = False
    redrive_subject: str | None = None


class DeadLetterNotFound(LookupError):
    pass


class NotRedrivable(ValueError):
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
    try:
        body = json.loads(raw.data)
        if not isinstance(body, dict):
            raise TypeError("not an object")
        return DeadLetter(
            seq=seq, consumer=str(body["consumer"]), subject=str(body["subject"]),
            picture_id=body.get("picture_id"), step=str(body.get("step", "")),
            error=str(body.get("error", "")), deliveries=int(body.get("deliveries", 0)),
            failed_at=str(body.get("failed_at", "")), event=body.get("event"),
            malformed=bool(body.get("malformed", False)),
            redrive_subject=body.get("redrive_subject"))
    except (KeyError, TypeError, ValueError) as exc:
        return DeadLetter(seq=seq, consumer="?", subject=getattr(raw, "subject", "?"),
                          picture_id=None, step="", deliveries=0, failed_at="",
                          error=f"the dead letter itself cannot be read: {exc!r}",
                          event=raw.data.decode("utf-8", "replace"), malformed=True)


def fresh_copy(event: Any, seq: int) -> dict[str, Any]:
    """The event again, as a new event: CloudEvents get a new id; MinIO storage events a new
    sequencer (what follow-up events' message ids are derived from)."""
    if not isinstance(event, dict):
        raise NotRedrivable("the dead letter holds no event object")
    copy = json.loads(json.dumps(event))
    if copy.get("specversion") == "1.0":
        copy["id"] = str(uuid.uuid4())
    for record in copy.get("Records") or []:
        obj = record.get("s3", {}).get("object", {})
        obj["sequencer"] = f"redrive-{seq}-{obj.get('sequencer', '')}"
    return copy


async def redrive(js: Any, settings: Settings, metadata: httpx.AsyncClient,
                  seq: int) -> DeadLetter:
    letter = await get_dead_letter(js, settings, seq)
    if letter.malformed or letter.redrive_subject is None:
        raise NotRedrivable(f"dead letter {seq} is a malformed message (or from an older "
                            "version without a redrive subject): it cannot be redriven")
    body = fresh_copy(letter.event, seq)
    if letter.picture_id:
        resp = await metadata.post(f"/pictures/{letter.picture_id}/reopen")
        if resp.status_code not in (200, 404):  # 404: deleted since; the event is still redriven
            resp.raise_for_status()
    await js.publish(letter.redrive_subject, json.dumps(body).encode(),
                     headers={"Nats-Msg-Id": f"redrive:{settings.dead_letter_stream}:{seq}"})
    await js.delete_msg(settings.dead_letter_stream, seq)
    return letter
