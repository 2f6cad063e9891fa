"""``/api/pictures/{id}/trace``: the picture's trace as a waterfall, read from the trace store.

One row per span (process, name, offset and duration from the trace's start, depth in the tree),
and the gaps between hops: time a message or a task waited between one process handing it on and
the next picking it up (NATS queueing, Temporal task dispatch) is what no timeline shows.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request

from picadaily.ids import is_valid_picture_id

from ..auth import require_admin_for_hidden
from ..deps import FrontendDep
from ..errors import error_responses, http_error, upstream_error
from ..trace_view import waterfall

router = APIRouter(prefix="/api/pictures", tags=["traces"],
                   responses=error_responses(400, 401, 404, 422, 502, 503))


@router.get("/{picture_id}/trace")
async def picture_trace(picture_id: str, fe: FrontendDep, request: Request) -> dict[str, Any]:
    if not is_valid_picture_id(picture_id):
        raise http_error(404, "no such picture")
    resp = await fe.metadata.get(f"/pictures/{picture_id}")
    if not resp.is_success:
        raise await upstream_error(resp)
    await require_admin_for_hidden(request, fe, resp.json()["status"])
    if not fe.settings.tracing:
        raise http_error(404, "tracing is off (PICADAILY_TRACING=false)")
    assert fe.traces is not None
    try:
        resp = await fe.traces.get(f"/pictures/{picture_id}/traces")
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise http_error(502, f"the trace store did not answer: {exc!r}") from exc
    traces = resp.json()["traces"]
    if not traces:
        raise http_error(404, "no trace of this picture (yet, or it was not sampled)")
    return {"picture_id": picture_id, "traces": [waterfall(t["trace_id"], t["spans"])
                                                 for t in traces]}
