"""The choreography's declaration (``picadaily.choreography``) against everything derived from
it: each service's event edge handles exactly its declared reactions, the AsyncAPI document is
valid AsyncAPI 3.0 (the official schema, offline) and says what the declaration says, and the
events keep their shape on the wire."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from picadaily import choreography
from picadaily.asyncapi import document
from picadaily.consumer import EventEdge
from picadaily.contracts import Analysis, TimelineEntry
from picadaily.event_data import (
    DATA_MODELS,
    PictureAnalyzed,
    PictureDeleted,
    PictureFailed,
    PictureUploaded,
)
from picadaily.events import Event, parse_event
from picadaily.safety import SafetyVerdict
from picadaily.settings import Settings
from picadaily.steps import Step
from tests.fakes import FakeJetStream

SETTINGS = Settings(event_prefix="pd")
SPECS = Path(__file__).resolve().parents[2] / ".venv" / "npm" / "node_modules" / "@asyncapi" / \
    "specs" / "schemas" / "3.0.0-without-$id.json"


def _edges() -> dict[str, EventEdge]:
    from services.collage import events as collage
    from services.exif import events as exif
    from services.metadata import events as metadata
    from services.thumbnails import events as thumbnails
    from services.vision import events as vision

    made = {}
    for service, module in (("vision", vision), ("exif", exif), ("metadata", metadata),
                            ("thumbnails", thumbnails), ("collage", collage)):
        edge = EventEdge(FakeJetStream(), SETTINGS, service)
        if service == "metadata":
            module.subscriptions(edge, None)  # type: ignore[attr-defined, arg-type]
        else:
            module.subscriptions(edge, None, None)  # type: ignore[attr-defined, arg-type]
        made[service] = edge
    return made


def test_every_service_handles_exactly_the_reactions_declared_for_it() -> None:
    edges = _edges()
    for edge in edges.values():
        edge.check_declared()  # raises when the code and the declaration differ
    declared = {r.service for r in choreography.REACTIONS}
    assert declared == set(edges)
    assert {f"{s}-{n}" for s, e in edges.items() for n in e.handled} | \
        {choreography.STORAGE_CONSUMER} == choreography.durable_consumers()


def test_every_event_type_is_declared_and_every_step_has_its_consumer() -> None:
    assert {m.TYPE for m in choreography.event_types()} == set(DATA_MODELS)
    waiting_at = {step: choreography.consumer_doing(step) for step in (
        Step.ANALYSE_IMAGE, Step.CHECK_SAFETY, Step.EXTRACT_EXIF, Step.STORE_METADATA,
        Step.MAKE_THUMBNAIL, Step.UPDATE_COLLAGE)}
    assert {s.value: r.durable for s, r in waiting_at.items() if r} == {
        "analyse_image": "vision-uploaded", "check_safety": "vision-uploaded",
        "extract_exif": "exif-uploaded", "store_metadata": "metadata-analyzed",
        "make_thumbnail": "thumbnails-analyzed", "update_collage": "collage-thumbnails"}
    assert choreography.may_publish("vision") == {"picture.analyzed", "picture.failed"}
    assert choreography.may_publish("frontend") == {"picture.review_decided"}


def _official_schema() -> dict[str, Any]:
    if not SPECS.is_file():
        message = (f"the official AsyncAPI schema is not installed ({SPECS}): `make install` "
                   "fetches it with npm (apt-get install npm)")
        if os.environ.get("CI"):
            pytest.fail(message + " — in CI nothing may skip")
        pytest.skip(message)
    loaded: dict[str, Any] = json.loads(SPECS.read_text())
    return loaded


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    import jsonschema

    validator = jsonschema.Draft7Validator(_official_schema())
    doc = document(SETTINGS)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(doc)]
    assert problems == []
    broken = json.loads(json.dumps(doc))
    broken["operations"]["vision-uploaded"]["action"] = "eat"
    assert list(validator.iter_errors(broken))  # the check can fail


def test_the_asyncapi_document_says_what_the_declaration_says() -> None:
    doc = document(SETTINGS)
    assert {name: ch["address"] for name, ch in doc["channels"].items()} == \
        {t: f"pd.{t}" for t in DATA_MODELS}
    receives = {(op["x-picadaily-consumer"], op["channel"]["$ref"].rsplit("/", 1)[-1])
                for op in doc["operations"].values() if op["action"] == "receive"}
    assert receives == {(r.durable, t) for r in choreography.REACTIONS for t in r.types}
    sends = {(key.split(".sends.")[0], op["channel"]["$ref"].rsplit("/", 1)[-1])
             for key, op in doc["operations"].items() if op["action"] == "send"}
    assert sends == {(r.service, m.TYPE) for r in choreography.REACTIONS for m in r.publishes} | \
        {(p.service, m.TYPE) for p in choreography.PUBLISHERS for m in p.publishes}
    for model in DATA_MODELS.values():  # each message's data is its model's schema
        envelope = doc["components"]["schemas"][f"{model.__name__}Event"]
        assert envelope["properties"]["type"] == {"const": f"pd.{model.TYPE}"}
        assert set(doc["components"]["schemas"][model.__name__]["properties"]) == \
            set(model.model_fields)


WHEN = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def test_events_keep_their_shape_on_the_wire() -> None:
    """What an outside consumer reads (golden): the CloudEvent envelope, and the data's fields
    with the ISO times Python writes."""
    uploaded = Event(PictureUploaded(bucket="pictures", key="p1.jpg", created=WHEN), "p1",
                     "choreography", version=2, id="e1", source="picadaily/trigger",
                     time=WHEN.isoformat(), traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert uploaded.to_cloudevent("pd") == {
        "specversion": "1.0", "id": "e1", "source": "picadaily/trigger",
        "type": "pd.picture.uploaded", "subject": "p1", "time": "2026-12-01T10:30:00+00:00",
        "datacontenttype": "application/json",
        "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "data": {"picture_id": "p1", "mode": "choreography", "version": 2,
                 "bucket": "pictures", "key": "p1.jpg", "created": "2026-12-01T10:30:00+00:00"}}
    entry = TimelineEntry(step="analyse_image", started=WHEN, ended=WHEN, outcome="ok")
    analyzed = uploaded.follow(PictureAnalyzed(
        **uploaded.data.model_dump(), analysis=Analysis(), verdict=SafetyVerdict(safe=True),
        timeline=[entry]), "picadaily/vision").to_cloudevent("pd")
    assert set(analyzed["data"]) == {"picture_id", "mode", "version", "bucket", "key", "created",
                                     "analysis", "verdict", "timeline"}
    assert analyzed["data"]["timeline"][0]["started"] == "2026-12-01T10:30:00Z"
    assert analyzed["traceparent"].split("-")[1] == "a" * 32  # the same trace
    failed = Event(PictureFailed(step="register", reason="gone"), "p1", None).to_cloudevent("pd")
    assert failed["data"] == {"picture_id": "p1", "mode": None, "step": "register",
                              "reason": "gone", "run_ended": False}
    deleted = Event(PictureDeleted(bucket="b", key="k"), "p1", None).to_cloudevent("pd")
    assert deleted["data"] == {"picture_id": "p1", "mode": None, "bucket": "b", "key": "k",
                               "deleted_at": None}
    # and each reads back as it was written
    for event in (uploaded, Event(PictureFailed(step="register", reason="gone"), "p1", None)):
        back = parse_event(json.dumps(event.to_cloudevent("pd")).encode(), "pd")
        assert back.data == event.data and back.picture_id == "p1"
