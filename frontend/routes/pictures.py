"""``/api/pictures``: upload, list, detail, bytes."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, StatusCode
from pydantic import BaseModel

from picadaily.contracts import Picture, Registration
from picadaily.ids import is_valid_picture_id, new_picture_id
from picadaily.imaging import ImageRejected
from picadaily.layout import original_key, thumbnail_key
from picadaily.mode import UnknownMode, parse_mode
from picadaily.settings import Mode
from picadaily.steps import Status
from picadaily.storage import ObjectMissing, StoredObject
from picadaily.tracing import PICTURE_ATTRIBUTE, current_traceparent, tracer

from ..auth import AdminOnly, is_admin, require_admin
from ..deps import Frontend, FrontendDep, inspect_image
from ..errors import error_responses, http_error, upstream_error
from ..idempotency import (
    IdempotencyMismatch,
    UploadKeys,
    UploadRecord,
    check_key,
    fingerprint,
)
from ..image_response import SERVED_TYPES, image_response, image_responses, served_type
from ..views import PictureList, PictureView, picture_view

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/pictures", tags=["pictures"],
                   responses=error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503))


def _valid_id(picture_id: str) -> str:
    """Only the id formats the project issues reach a service: anything else is a 404 here."""
    if not is_valid_picture_id(picture_id):
        raise http_error(404, "there is no picture with that id")
    return picture_id


PictureId = Annotated[str, Depends(_valid_id)]


class Accepted(BaseModel):
    id: str
    name: str
    url: str


class Refused(BaseModel):
    name: str
    reason: str
    status: int


class UploadResult(BaseModel):
    accepted: list[Accepted]
    refused: list[Refused]


async def _read_limited(upload: UploadFile, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than ``limit``."""
    chunks = []
    size = 0
    while chunk := await upload.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _accept_one(fe: Frontend, upload: UploadFile, mode: Mode | None,
                      picture_id: str) -> Accepted | Refused:
    """One file of an upload, in its own trace (linked to the request's): one trace per picture,
    carried on as the object's ``traceparent`` user metadata through the storage event."""
    request_span = trace.get_current_span().get_span_context()
    with tracer.start_as_current_span(
            "accept picture", context=Context(), kind=SpanKind.SERVER,
            links=[Link(request_span)] if request_span.is_valid else [],
            attributes={PICTURE_ATTRIBUTE: picture_id}) as span:
        result = await _accept(fe, upload, mode, picture_id)
        if isinstance(result, Refused):
            span.set_status(StatusCode.ERROR, result.reason)
        return result


async def _accept(fe: Frontend, upload: UploadFile, mode: Mode | None,
                  picture_id: str) -> Accepted | Refused:
    name = upload.filename or "unnamed"
    settings = fe.settings
    data = await _read_limited(upload, settings.max_upload_bytes)
    if data is None:
        limit_mb = settings.max_upload_bytes / 1024 / 1024
        return Refused(name=name, status=413,
                       reason=f"the file is too large (the limit is {limit_mb:.0f} MB)")
    try:
        info = await inspect_image(fe, data)
    except ImageRejected as exc:
        return Refused(name=name, status=422, reason=exc.reason)
    key = original_key(picture_id)
    metadata = {"filename": quote(name, safe="")}
    if traceparent := current_traceparent():
        metadata["traceparent"] = traceparent
    if mode:
        metadata["mode"] = mode
    try:
        await asyncio.to_thread(fe.store.put, settings.pictures_bucket, key, data,
                                info.mime_type, metadata)
    except Exception as exc:
        log.warning("storing %s (%s) failed: %r", picture_id, name, exc)
        return Refused(name=name, status=503,
                       reason="the picture could not be stored just now; try again")
    # Registered only after the object is stored: a frontend that dies before this line leaves
    # no document behind, and the storage event registers the picture all the same.
    reg = Registration(object_key=key, original_name=name, content_type=info.mime_type,
                       size=len(data), mode=mode)
    try:
        resp = await fe.metadata.put(f"/pictures/{picture_id}", json=reg.model_dump(mode="json"))
        if not resp.is_success:
            log.warning("registering %s failed (%s); its storage event will", picture_id,
                        resp.status_code)
    except httpx.HTTPError as exc:
        log.warning("registering %s failed (%r); its storage event will", picture_id, exc)
    return Accepted(id=picture_id, name=name, url=f"/api/pictures/{picture_id}")


@router.post("", status_code=202, response_model=UploadResult)
async def upload_pictures(
    fe: FrontendDep,
    request: Request,
    pictures: Annotated[list[UploadFile] | None, File()] = None,
    mode: Annotated[Mode | None, Form()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    if not pictures:
        form = await request.form()
        fields = ", ".join(sorted(set(form.keys()))) or "none"
        raise http_error(400, f"send the files in the multipart field 'pictures' "
                              f"(fields received: {fields})")
    if len(pictures) > fe.settings.max_files_per_upload:
        raise http_error(413, f"too many files in one upload: {len(pictures)} "
                              f"(at most {fe.settings.max_files_per_upload})")
    chosen = None
    if mode:
        try:
            chosen = parse_mode(mode)
        except UnknownMode as exc:
            raise http_error(400, str(exc)) from exc
    ids = [new_picture_id() for _ in pictures]
    sent = ""
    keys = UploadKeys(fe.kv) if idempotency_key is not None else None
    if keys is not None and idempotency_key is not None:
        try:
            idempotency_key = check_key(idempotency_key)
        except IdempotencyMismatch as exc:
            raise http_error(400, str(exc)) from exc
        record = await keys.get(idempotency_key)
        sent = await fingerprint(pictures, chosen)
        if record is not None and len(record.ids) != len(pictures):
            raise http_error(409, "this Idempotency-Key was used for an upload of "
                                  f"{len(record.ids)} files, not {len(pictures)}")
        if record is not None and record.fingerprint and record.fingerprint != sent:
            raise http_error(422, "this Idempotency-Key was used for another upload (other "
                                  "files or mode): a new upload needs a new key")
        if record is not None and record.answer is not None and record.status is not None:
            return JSONResponse(record.answer, status_code=record.status)
        if record is not None:
            ids = record.ids  # a retry after a crash: the same ids, the same objects
        else:
            await keys.put(idempotency_key, UploadRecord(ids=ids, fingerprint=sent))
    results = [await _accept_one(fe, upload, chosen, picture_id)
               for upload, picture_id in zip(pictures, ids, strict=True)]
    accepted = [r for r in results if isinstance(r, Accepted)]
    refused = [r for r in results if isinstance(r, Refused)]
    body = UploadResult(accepted=accepted, refused=refused).model_dump()
    status = 202
    if not accepted:
        status = refused[0].status if len({r.status for r in refused}) == 1 else 422
        body["error"] = "; ".join(f"{r.name}: {r.reason}" for r in refused)
    if keys is not None and idempotency_key is not None and status != 503:
        # (an upload the store refused is not answered for good: a retry may store it)
        await keys.put(idempotency_key, UploadRecord(ids=ids, answer=body, status=status,
                                                     fingerprint=sent))
    return JSONResponse(body, status_code=status)


@router.get("", response_model=PictureList)
async def list_pictures(
    fe: FrontendDep,
    request: Request,
    label: Annotated[str | None, Query(max_length=200)] = None,
    mode: Mode | None = None,
    status: Status | None = None,
    camera: Annotated[str | None, Query(max_length=200)] = None,
    year: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
    cursor: str | None = None,
) -> PictureList:
    """Pictures waiting for a person are listed to admins only (``status=awaiting_review``
    asks for them: 401 to anybody else)."""
    admin = await is_admin(request, fe)
    if status == Status.AWAITING_REVIEW and not admin:
        await require_admin(request, fe)
    params = {k: v for k, v in {"label": label, "mode": mode, "status": status,
                                "camera": camera, "year": year,
                                "limit": limit, "cursor": cursor}.items() if v is not None}
    resp = await fe.metadata.get("/pictures", params=params)
    if not resp.is_success:
        raise await upstream_error(resp)
    page = resp.json()
    return PictureList(
        pictures=[picture_view(p, fe.settings) for p in map(Picture.model_validate,
                                                               page["pictures"])
                  if admin or p.status != Status.AWAITING_REVIEW],
        next_cursor=page["next_cursor"],
    )


async def fetch_picture(fe: Frontend, picture_id: str) -> Picture:
    resp = await fe.metadata.get(f"/pictures/{picture_id}")
    if not resp.is_success:
        raise await upstream_error(resp)
    return Picture.model_validate(resp.json())


@router.get("/{picture_id}", response_model=PictureView)
async def get_picture(picture_id: PictureId, fe: FrontendDep) -> PictureView:
    return picture_view(await fetch_picture(fe, picture_id), fe.settings)


async def _stored(fe: Frontend, bucket: str, key: str, what: str) -> StoredObject:
    try:
        return await asyncio.to_thread(fe.store.get, bucket, key)
    except ObjectMissing as exc:
        raise http_error(404, f"{what} does not exist") from exc


@router.delete("/{picture_id}", status_code=202, dependencies=[AdminOnly])
async def delete_picture(picture_id: PictureId, fe: FrontendDep) -> dict[str, str]:
    """Deletes the original; thumbnail, document and collage place are garbage-collected
    through events (the response comes before they are gone)."""
    picture = await fetch_picture(fe, picture_id)
    await asyncio.to_thread(fe.store.delete, fe.settings.pictures_bucket, picture.object_key)
    return {"deleted": picture_id}


@router.get("/{picture_id}/image", response_class=Response,
            responses=image_responses(*SERVED_TYPES))
async def get_image(picture_id: PictureId, fe: FrontendDep, request: Request) -> Response:
    """The original, only once it was judged and processed (``done``), or to an admin while it
    waits for review; served with the type its decoded header says, never the type a client
    claimed when it put the object."""
    picture = await fetch_picture(fe, picture_id)
    if picture.status == Status.AWAITING_REVIEW:
        await require_admin(request, fe)  # the reviewer sees it; nobody else yet
    elif picture.status == Status.REJECTED:
        raise http_error(403, f"this picture was rejected ({picture.error}) and is not shown")
    elif picture.status != Status.DONE:
        raise http_error(403, f"this picture is not shown: it is {picture.status}"
                              + (f" ({picture.error})" if picture.error else ""))
    obj = await _stored(fe, fe.settings.pictures_bucket, picture.object_key, "the image")
    if picture.etag and obj.etag and obj.etag != picture.etag:
        # Other bytes than the ones judged: a new version, not yet processed.
        raise http_error(403, "the original changed since it was judged: it is being "
                              "processed again")
    # The verdict is stored (this version was decoded and judged): the bytes are not inspected
    # again, only their type read off their first bytes.
    return image_response(obj.data, served_type(obj.data), picture_id)


@router.get("/{picture_id}/thumbnail", response_class=Response,
            responses=image_responses("image/jpeg"))
async def get_thumbnail(picture_id: PictureId, fe: FrontendDep) -> Response:
    picture = await fetch_picture(fe, picture_id)
    if picture.thumbnail is None:
        raise http_error(404, f"picture {picture_id} has no thumbnail ({picture.status})")
    obj = await _stored(fe, fe.settings.thumbnails_bucket, thumbnail_key(picture_id),
                        "the thumbnail")
    # Always a JPEG of our own making: anything else under its key is not served.
    return image_response(obj.data, "image/jpeg" if served_type(obj.data) == "image/jpeg"
                          else None, f"{picture_id}-thumbnail")


__all__ = ["PictureView", "router"]
