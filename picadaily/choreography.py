"""The choreographed flow, stated once: who reacts to which event, under which durable consumer,
doing which step, publishing what. Read it as the choreography's counterpart of
``workflow.process_picture.ProcessPicture.run``.

Everything else is derived from it: the consumers each service's event edge creates in NATS
(``picadaily.consumer.EventEdge.on`` takes a reaction from here, and a service that handles
other reactions, or leaves one of its own unhandled, does not start), what each service may
publish, ``/where``'s step-to-consumer map, the lab's poison scenario, the AsyncAPI document
(``picadaily.asyncapi``), and the ``/flows`` page.

Drawn from this declaration: ``docs/architecture.md`` ("The choreography, drawn from its
declaration", by ``picadaily.flow_drawing``) and the ``/flows`` page.
"""

from __future__ import annotations

from dataclasses import dataclass

from picadaily.event_data import (
    CollageUpdated,
    EventData,
    PictureAnalyzed,
    PictureDeleted,
    PictureExifExtracted,
    PictureFailed,
    PictureReviewDecided,
    PictureReviewed,
    PictureReviewRequested,
    PictureUploaded,
    ThumbnailCreated,
)
from picadaily.steps import Step


@dataclass(frozen=True)
class Reaction:
    """One durable consumer: ``service`` reacts to events of the ``on`` types by doing ``step``
    (the step a failure is reported against) and may publish ``publishes``. With ``timed``, the
    runtime records the step's timeline entry (a reaction that only records what others did,
    or cleans up, records none); ``also`` names the steps the handler times itself."""

    service: str
    name: str
    on: tuple[type[EventData], ...]
    step: Step
    publishes: tuple[type[EventData], ...] = ()
    timed: bool = True
    also: tuple[Step, ...] = ()  # further steps the handler does (and records) after ``step``
    does: str = ""  # in words, for the pages and the AsyncAPI document

    @property
    def durable(self) -> str:
        """The JetStream durable consumer's name."""
        return f"{self.service}-{self.name}"

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(model.TYPE for model in self.on)


@dataclass(frozen=True)
class Publisher:
    """A process that starts or ends pictures' flows without consuming domain events."""

    service: str
    publishes: tuple[type[EventData], ...]
    why: str


CLEAN_UP_ON = (PictureFailed, PictureDeleted)

REACTIONS: tuple[Reaction, ...] = (
    Reaction("vision", "uploaded", (PictureUploaded,), Step.ANALYSE_IMAGE, (PictureAnalyzed,),
             also=(Step.CHECK_SAFETY,),
             does="analyse the image (labels, colours, safety), then check safety"),
    Reaction("exif", "uploaded", (PictureUploaded,), Step.EXTRACT_EXIF,
             (PictureExifExtracted,), does="read the camera, the time and the place"),
    Reaction("metadata", "analyzed", (PictureAnalyzed,), Step.STORE_METADATA,
             (PictureReviewRequested, PictureReviewDecided), timed=False,
             also=(Step.STORE_METADATA,),  # (timed by the handler: not for a rejected picture)
             does="store the analysis; a rejected picture ends here, a borderline one waits for "
                  "a person (and schedules the timeout's decision)"),
    Reaction("thumbnails", "analyzed", (PictureAnalyzed,), Step.MAKE_THUMBNAIL,
             (ThumbnailCreated,), does="make the thumbnail of a safe picture"),
    Reaction("metadata", "review", (PictureReviewDecided,), Step.REVIEW, (PictureReviewed,),
             timed=False, does="apply the first decision about a waiting picture"),
    Reaction("thumbnails", "reviewed", (PictureReviewed,), Step.MAKE_THUMBNAIL,
             (ThumbnailCreated,), does="make the thumbnail of an approved picture"),
    Reaction("collage", "thumbnails", (ThumbnailCreated,), Step.UPDATE_COLLAGE,
             (CollageUpdated,), does="rebuild the collage of the newest four"),
    Reaction("metadata", "thumbnails", (ThumbnailCreated,), Step.MAKE_THUMBNAIL, timed=False,
             does="record the thumbnail"),
    Reaction("metadata", "exif", (PictureExifExtracted,), Step.EXTRACT_EXIF, timed=False,
             does="record the EXIF"),
    Reaction("metadata", "collage", (CollageUpdated,), Step.UPDATE_COLLAGE, timed=False,
             does="record the collage step: the picture is done once every step reported"),
    Reaction("metadata", "failed", (PictureFailed,), Step.CLEAN_UP, timed=False,
             does="the picture ends failed"),
    Reaction("metadata", "deleted", (PictureDeleted,), Step.CLEAN_UP, timed=False,
             does="forget the picture"),
    Reaction("thumbnails", "gc", CLEAN_UP_ON, Step.CLEAN_UP, timed=False,
             does="delete the thumbnail"),
    Reaction("collage", "gc", CLEAN_UP_ON, Step.CLEAN_UP, (CollageUpdated,), timed=False,
             does="rebuild the collage without the picture"),
)

PUBLISHERS: tuple[Publisher, ...] = (
    Publisher("trigger", (PictureUploaded, PictureDeleted, PictureFailed),
              "a storage event: a new original starts a flow (choreography), a deletion fans "
              "out (both modes); a workflow run ended from outside fails its picture"),
    Publisher("reconciler", (PictureFailed, PictureDeleted, PictureReviewDecided),
              "a picture stuck past its time, a deletion whose event was lost, a review whose "
              "timeout was lost"),
    Publisher("frontend", (PictureReviewDecided,), "a person decides a waiting picture"),
)

# The trigger's consumer of storage events (not a domain event: the store's own notification).
STORAGE_CONSUMER = "trigger-storage"


def reactions_of(service: str) -> tuple[Reaction, ...]:
    return tuple(r for r in REACTIONS if r.service == service)


def reaction(service: str, name: str) -> Reaction:
    try:
        return next(r for r in REACTIONS if r.service == service and r.name == name)
    except StopIteration:
        raise KeyError(f"the choreography declares no reaction {service}-{name}") from None


def may_publish(service: str) -> frozenset[str]:
    """The event types ``service`` is declared to publish."""
    models = [m for r in reactions_of(service) for m in r.publishes]
    models += [m for p in PUBLISHERS if p.service == service for m in p.publishes]
    if reactions_of(service):  # its consumer runtime fails a picture whose step gave up
        models.append(PictureFailed)
    return frozenset(m.TYPE for m in models)


def durable_consumers() -> frozenset[str]:
    """Every durable consumer the choreography has in NATS (the events and storage streams)."""
    return frozenset({r.durable for r in REACTIONS} | {STORAGE_CONSUMER})


def consumer_doing(step: Step) -> Reaction | None:
    """The reaction that does ``step`` first in the flow (where a picture waiting for that step
    waits); None for a step no reaction does."""
    return next((r for r in REACTIONS if step in r.also or (r.timed and step == r.step)), None)


def event_types() -> tuple[type[EventData], ...]:
    """Every domain event type, in the order of the flow."""
    seen: dict[str, type[EventData]] = {}
    for model in [m for r in REACTIONS for m in (*r.on, *r.publishes)] + \
            [m for p in PUBLISHERS for m in p.publishes]:
        seen.setdefault(model.TYPE, model)
    return tuple(seen.values())
