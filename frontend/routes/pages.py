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


@router.get("/flows", response_class=HTMLResponse)
async def flows(request: Request) -> HTMLResponse:
    return _page(request, "flows.html", "flows", "The two flows, as the code states them",
                 **{"temporal-ui": request.app.state.frontend.settings.temporal_ui_url})


@router.get("/review", response_class=HTMLResponse)
async def review(request: Request) -> HTMLResponse:
    return _page(request, "review.html", "review", "Pictures waiting for review")


# The docs a page links to, shown as they are written (Markdown is plain text worth reading).
DOCS = {"adding-a-service": "adding-a-service.md", "architecture": "architecture.md",
        "scaling": "scaling.md"}


def _doc_text(name: str) -> str | None:
    file = DOCS.get(name)
    if file is None:
        return None
    for folder in (Path(__file__).resolve().parents[2] / "docs", Path.cwd() / "docs"):
        if (folder / file).is_file():
            return (folder / file).read_text(encoding="utf-8")
    return None


@router.get("/docs/{name}", response_class=HTMLResponse)
async def doc(request: Request, name: str) -> HTMLResponse:
    text = _doc_text(name)
    if text is None:
        return HTMLResponse("no such document", status_code=404)
    return TEMPLATES.TemplateResponse(request, "doc.html", {
        "page": "doc", "title": DOCS[name], "heading": DOCS[name], "text": text,
        "lab": request.app.state.frontend.settings.lab, "data": {"steps": STEPS_JSON}})


@router.get("/lab", response_class=HTMLResponse)
async def lab(request: Request) -> HTMLResponse:
    return _page(request, "lab.html", "lab", "Failure lab")
