"""How the frontend serves bytes from the store (an original, a thumbnail, the collage): with the
type their first bytes say (``imaging.served_type``), never the type stored with the object,
and a policy under which they can never act as a page or a script."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from picadaily.imaging import MAGIC, served_type

from .errors import http_error
from .security_headers import BYTES_POLICY


def image_responses(*types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a bytes route: the image types it can serve."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": "the image's bytes", "content": {t: binary for t in types}}}


SERVED_TYPES = tuple(sorted({mime for _, _, mime in MAGIC}))


def image_response(data: bytes, media_type: str | None, name: str,
                   cache: str = "private, max-age=60",
                   headers: dict[str, str] | None = None) -> Response:
    """``media_type`` None (bytes of no type we serve): 403, never the bytes."""
    if media_type is None:
        raise http_error(403, "the stored object is not a picture we serve")
    extension = media_type.split("/")[1]
    return Response(data, media_type=media_type, headers={
        "Cache-Control": cache, "Content-Security-Policy": BYTES_POLICY,
        "Content-Disposition": f'inline; filename="{name}.{extension}"', **(headers or {})})


__all__ = ["image_response", "served_type"]
