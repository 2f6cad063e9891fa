"""``Idempotency-Key`` on uploads: a retried upload (the client timed out, the connection
dropped, the frontend restarted) gets the same picture ids back, never a second copy.

The ids are chosen and stored (NATS KV, shared by every frontend replica) *before* any object is
written, so a retry after a crash mid-upload writes the same objects under the same keys again
(an overwrite with the same bytes: the trigger and the workflow id make it a no-op); once the
upload is answered, the answer itself is stored and replayed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

MAX_KEY_LENGTH = 200


class IdempotencyMismatch(ValueError):
    pass


@dataclass(frozen=True)
class UploadRecord:
    ids: list[str]
    answer: dict[str, Any] | None = None  # the response body once answered
    status: int | None = None
    # What was sent under the key (``fingerprint``): the same key with another body is refused
    # (422), as the IETF draft on Idempotency-Key says, never answered with the first one's.
    fingerprint: str = ""


class UploadKeys:
    def __init__(self, kv: Any) -> None:
        self._kv = kv

    @staticmethod
    def _kv_key(key: str) -> str:
        return "upload." + hashlib.sha256(key.encode()).hexdigest()[:48]

    async def get(self, key: str) -> UploadRecord | None:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._kv.get(self._kv_key(key))
        except KeyNotFoundError:
            return None
        doc = json.loads(bytes(entry.value or b"{}"))
        return UploadRecord(ids=doc["ids"], answer=doc.get("answer"), status=doc.get("status"),
                            fingerprint=doc.get("fingerprint", ""))

    async def put(self, key: str, record: UploadRecord) -> None:
        await self._kv.put(self._kv_key(key), json.dumps(
            {"ids": record.ids, "answer": record.answer, "status": record.status,
             "fingerprint": record.fingerprint}).encode())


async def fingerprint(files: list[Any], mode: str | None) -> str:
    """A digest of an upload's files (names and bytes, in order) and its mode; each file is
    read again from its start afterwards."""
    digest = hashlib.sha256(f"mode={mode}".encode())
    for upload in files:
        name = (upload.filename or "").encode()
        digest.update(len(name).to_bytes(4, "big") + name)
        while chunk := await upload.read(1024 * 1024):
            digest.update(chunk)
        digest.update(b"\x00end")
        await upload.seek(0)
    return digest.hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyMismatch(
            f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters long")
    return key
