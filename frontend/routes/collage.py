"""``/api/collage``: the current collage and which pictures it shows."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from picadaily.layout import COLLAGE_KEY, COLLAGE_MEMBERS_METADATA
from picadaily.storage import ObjectMissing

from ..deps import FrontendDep
from ..errors import error_responses, http_error
from ..image_response import image_response, image_responses, served_type

router = APIRouter(prefix="/api/collage", tags=["collage"],
                   responses=error_responses(400, 404, 502, 503))
MEMBERS_HEADER = "X-Picadaily-Collage-Pictures"


@router.get("", response_class=Response, responses=image_responses("image/jpeg"))
async def get_collage(fe: FrontendDep) -> Response:
    try:
        obj = await asyncio.to_thread(fe.store.get, fe.settings.thumbnails_bucket, COLLAGE_KEY)
    except ObjectMissing as exc:
        raise http_error(404, "there is no collage yet: no picture has been processed") from exc
    # Always a JPEG of our own making: anything else under its key is not served.
    return image_response(obj.data, "image/jpeg" if served_type(obj.data) == "image/jpeg"
                          else None, "collage", cache="no-cache",
                          headers={MEMBERS_HEADER: obj.metadata.get(COLLAGE_MEMBERS_METADATA, "")})
