"""The choreography's contract, as ``/openapi.json`` is the HTTP API's: ``/asyncapi.json`` (an
AsyncAPI 3.0 document generated from ``picadaily.choreography`` and ``picadaily.event_data``) and
``/asyncapi``, the same document as a page (server-rendered: it reads offline, no script)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from picadaily import choreography
from picadaily.asyncapi import document

from ..deps import FrontendDep
from .pages import TEMPLATES

router = APIRouter(tags=["events"])


@router.get("/asyncapi.json", summary="The AsyncAPI 3.0 document of the domain events")
async def asyncapi_document(fe: FrontendDep) -> dict[str, Any]:
    return document(fe.settings)


@router.get("/asyncapi", response_class=HTMLResponse, include_in_schema=False)
async def asyncapi_page(request: Request, fe: FrontendDep) -> HTMLResponse:
    doc = document(fe.settings)
    schemas = doc["components"]["schemas"]
    events = []
    for model in choreography.event_types():
        channel = doc["channels"][model.TYPE]
        events.append({
            "type": model.TYPE, "address": channel["address"],
            "summary": (model.__doc__ or "").strip(),
            "schema": json.dumps(schemas[model.__name__], indent=1),
            "consumers": [r for r in choreography.REACTIONS if model in r.on],
            "publishers": sorted({r.service for r in choreography.REACTIONS
                                  if model in r.publishes}
                                 | {p.service for p in choreography.PUBLISHERS
                                    if model in p.publishes})})
    return TEMPLATES.TemplateResponse(request, "asyncapi.html", {
        "page": "asyncapi", "title": doc["info"]["title"], "heading": doc["info"]["title"],
        "lab": fe.settings.lab, "data": {}, "info": doc["info"], "events": events})
