"""Picture identity: generated at upload, never the file name."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def new_picture_id() -> str:
    """A time-ordered id (48-bit milliseconds + 80 random bits, base32): sorts by upload time."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def picture_id_for_key(key: str) -> str:
    """An object's key in the pictures bucket is its picture id (also for objects put directly).

    A key that cannot travel in a URL path or a workflow id as it is (slashes, spaces, other
    characters) gets a stable id derived from it; the document keeps the key itself.
    """
    if is_valid_picture_id(key):
        return key
    return "k-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def is_valid_picture_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def workflow_id_for(picture_id: str, version: int = 1) -> str:
    """One workflow per picture version: a duplicated storage event cannot start a second run;
    a new original under the same key (an overwrite, a re-put after deletion) starts its own."""
    return f"picture-{picture_id}" if version == 1 else f"picture-{picture_id}-v{version}"
