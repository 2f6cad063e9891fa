"""Server-rendered pages: a shell per page; /static/app.js fills it from the public API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from picadaily.steps import STEP_TITLES

router = APIRouter(include_in_schema=False)
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
# The step order and names the pages use, from the one list the workflow and timeline share.
STEPS_JSON = json.dumps([[step.value, title] for step, title in STEP_TITLES.items()])


def _page(request: Request, template: str, page: str, heading: str,
          **data: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {
        "page": page, "title": heading, "heading": heading,
        "lab": request.app.state.frontend.settings.lab,
        "data": {"steps": STEPS_JSON, **data}})


@router.get("/", response_class=HTMLResponse)
async def gallery(request: Request) -> HTMLResponse:
    return _page(request, "gallery.html", "gallery", "Gallery")


@router.get("/upload", response_class=HTMLResponse)
async def upload(request: Request) -> HTMLResponse:
    return _page(request, "upload.html", "upload", "Upload photos")


@router.get("/pictures/{picture_id}", response_class=HTMLResponse)
async def picture(request: Request, picture_id: str) -> HTMLResponse:
    trace_ui = request.app.state.frontend.settings.trace_ui_url
    return _page(request, "picture.html", "picture", "Picture",
                 **{"picture-id": picture_id, "trace-ui": trace_ui})


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request) -> HTMLResponse:
    return _page(request, "login.html", "login", "Log in")


@router.get("/collage", response_class=HTMLResponse)
async def collage(request: Request) -> HTMLResponse:
    return _page(request, "collage.html", "collage", "Collage")


@router.get("/compare", response_class=HTMLResponse)
async def compare(request: Request) -> HTMLResponse:
    return _page(request, "compare.html", "compare", "Orchestration and choreography compared")


@router.get("/review", response_class=HTMLResponse)
async def review(request: Request) -> HTMLResponse:
    return _page(request, "review.html", "review", "Pictures waiting for review")


@router.get("/lab", response_class=HTMLResponse)
async def lab(request: Request) -> HTMLResponse:
    return _page(request, "lab.html", "lab", "Failure lab")
