"""The activities: each calls one service's HTTP edge (the worker's ``TimelineInterceptor``
records its timeline entry around it).

Service errors map to Temporal errors through the one error shape (``service_errors``): an error
the service calls not retryable (422 bad image, 404 missing object) is not retried, everything
else is, and the workflow's retry policy decides how often.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from picadaily.contracts import Analysis, CollageResult, Thumbnail
from picadaily.http_client import service_client
from picadaily.internal_auth import internal_headers
from picadaily.safety import SafetyVerdict, check_safety
from picadaily.service_api import (
    CollageRequest,
    Decision,
    DecisionOut,
    FinalStatus,
    ImageRequest,
    ReviewRequest,
)
from picadaily.service_errors import ServiceError, read_service_error
from picadaily.settings import Settings
from picadaily.steps import Status, Step

from .held_timeline import HeldTimeline
from .inputs import (
    AnalysisInput,
    CleanUpInput,
    FinishInput,
    PictureInput,
    ReviewInput,
    ReviewResult,
    SafetyInput,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# Error types the workflow never retries (its retry policies name them).
NOT_RETRYABLE_TYPES = ("NotRetryable",)


class ServiceClients:
    """One pooled HTTP client per service, shared by all activity executions of a worker."""

    def __init__(self, settings: Settings) -> None:
        timeout = httpx.Timeout(30.0, connect=5.0)
        headers = internal_headers(settings.internal_token)
        self.vision = service_client(settings.vision_url, timeout, headers=headers)
        self.metadata = service_client(settings.metadata_url, timeout, headers=headers)
        self.thumbnails = service_client(settings.thumbnails_url, timeout, headers=headers)
        self.collage = service_client(settings.collage_url, timeout, headers=headers)
        self.exif = service_client(settings.exif_url, timeout, headers=headers)

    async def aclose(self) -> None:
        for client in (self.vision, self.metadata, self.thumbnails, self.collage, self.exif):
            await client.aclose()


def as_activity_error(error: ServiceError) -> ApplicationError:
    if not error.retryable:
        return ApplicationError(error.reason, type="NotRetryable", non_retryable=True)
    return ApplicationError(f"{error.reason} ({error.where} answered {error.status})",
                            type="ServiceError")


def raise_for_service_error(resp: httpx.Response) -> None:
    error = read_service_error(resp)
    if error is not None:
        raise as_activity_error(error)


def _version(picture: PictureInput) -> dict[str, int]:
    """Writes name the version they are about: the metadata refuses a replaced one (409)."""
    return {"version": picture.version}


def _image(picture: PictureInput) -> ImageRequest:
    return ImageRequest(picture_id=picture.picture_id, bucket=picture.bucket, key=picture.key)


class PictureActivities:
    def __init__(self, clients: ServiceClients, timeline: HeldTimeline) -> None:
        self._c = clients
        self._timeline = timeline  # what finish_picture sends with the final status

    async def _post(self, client: httpx.AsyncClient, path: str, body: BaseModel) -> Any:
        resp = await client.post(path, json=body.model_dump(mode="json"))
        raise_for_service_error(resp)
        return resp.json()

    @activity.defn(name=Step.ANALYSE_IMAGE.value)
    async def analyse_image(self, picture: PictureInput) -> Analysis:
        return Analysis.model_validate(await self._post(self._c.vision, "/analyse",
                                                        _image(picture)))

    @activity.defn(name=Step.EXTRACT_EXIF.value)
    async def extract_exif(self, picture: PictureInput) -> None:
        exif = await self._post(self._c.exif, "/exif", _image(picture))
        resp = await self._c.metadata.put(f"/pictures/{picture.picture_id}/exif", json=exif,
                                          params=_version(picture))
        raise_for_service_error(resp)

    @activity.defn(name=Step.CHECK_SAFETY.value)
    async def check_safety(self, req: SafetyInput) -> SafetyVerdict:
        return check_safety(req.safety)

    @activity.defn(name=Step.STORE_METADATA.value)
    async def store_metadata(self, req: AnalysisInput) -> None:
        pid = req.picture.picture_id
        if req.review_reason is None:
            resp = await self._c.metadata.put(f"/pictures/{pid}/analysis",
                                              json=req.analysis.model_dump(mode="json"),
                                              params=_version(req.picture))
        else:  # borderline: stored, and the picture waits for a person
            resp = await self._c.metadata.put(
                f"/pictures/{pid}/review-request", params=_version(req.picture),
                json=ReviewRequest(analysis=req.analysis, reason=req.review_reason)
                .model_dump(mode="json"))
        raise_for_service_error(resp)

    @activity.defn(name=Step.REVIEW.value)
    async def review(self, req: ReviewInput) -> ReviewResult:
        """Record the decision the workflow received (the metadata adds the ``review`` timeline
        entry, spanning the wait, and sets the status)."""
        resp = await self._c.metadata.put(
            f"/pictures/{req.picture.picture_id}/review", params=_version(req.picture),
            json=Decision(decision=req.decision, decision_id=req.decision_id)
            .model_dump(mode="json"))
        if resp.status_code in (404, 409):
            gone = "the picture was deleted or replaced while it waited"
            return ReviewResult(outcome="refused", reason=gone, error=gone)
        raise_for_service_error(resp)
        out = DecisionOut.model_validate(resp.json())
        return ReviewResult(outcome=out.outcome, status=Status(out.picture.status),
                            error=out.picture.error, reason=out.reason)

    @activity.defn(name=Step.MAKE_THUMBNAIL.value)
    async def make_thumbnail(self, picture: PictureInput) -> Thumbnail:
        thumb = Thumbnail.model_validate(await self._post(self._c.thumbnails, "/thumbnails",
                                                          _image(picture)))
        resp = await self._c.metadata.put(f"/pictures/{picture.picture_id}/thumbnail",
                                          json=thumb.model_dump(), params=_version(picture))
        raise_for_service_error(resp)
        return thumb

    @activity.defn(name=Step.UPDATE_COLLAGE.value)
    async def update_collage(self, picture: PictureInput) -> CollageResult:
        return CollageResult.model_validate(await self._post(
            self._c.collage, "/collage", CollageRequest(picture_id=picture.picture_id)))

    @activity.defn(name=Step.CLEAN_UP.value)
    async def clean_up(self, req: CleanUpInput) -> None:
        """Undo what a failed picture's earlier steps made: thumbnail, collage membership."""
        pid = req.picture.picture_id
        resp = await self._c.metadata.delete(f"/pictures/{pid}/thumbnail",
                                             params=_version(req.picture))
        if resp.status_code == 409:
            log.info("%s: nothing to clean up, a newer version replaced this one", pid)
            return
        if resp.status_code != 404:
            raise_for_service_error(resp)
        resp = await self._c.thumbnails.delete(f"/thumbnails/{pid}")
        raise_for_service_error(resp)
        if req.had_thumbnail:
            await self._post(self._c.collage, "/collage", CollageRequest())

    @activity.defn(name="finish_picture")
    async def finish_picture(self, req: FinishInput) -> None:
        """The final status, with the timeline entries held for it (sent again if this fails)."""
        final = FinalStatus(status=req.status, error=req.error,
                            timeline=self._timeline.held(req.picture))
        resp = await self._c.metadata.put(
            f"/pictures/{req.picture.picture_id}/status", params=_version(req.picture),
            json=final.model_dump(mode="json"))
        if resp.status_code == 404:
            log.info("%s was deleted while it was processed", req.picture.picture_id)
        elif resp.status_code == 409:
            log.info("%s version %d was replaced while it was processed: its outcome is moot",
                     req.picture.picture_id, req.picture.version)
        else:
            raise_for_service_error(resp)
        self._timeline.forget(req.picture)

    def all(self) -> list[Callable[..., Any]]:
        return [self.analyse_image, self.extract_exif, self.check_safety, self.store_metadata,
                self.review, self.make_thumbnail, self.update_collage, self.clean_up,
                self.finish_picture]
