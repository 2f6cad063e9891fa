"""The consumer runtime's policy, against an in-memory fake of the message port: retry with
back-off, dead letter on the last delivery, poison payloads set aside, nothing that fails while
settling one message escapes; the books it keeps (timeline entries carried in the event the
handler returns) and the choreography's declaration it holds every edge to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from picadaily.consumer import Delivery, EventEdge, Subscription
from picadaily.contracts import Analysis, TimelineEntry
from picadaily.event_data import PictureAnalyzed, PictureUploaded, ThumbnailCreated
from picadaily.events import Event
from picadaily.imaging import ImageRejected
from picadaily.safety import SafetyVerdict
from picadaily.settings import Settings
from picadaily.streams import dead_letter_subject
from picadaily.timeline import CarriedTimeline, timed
from tests.fakes import FakeJetStream


@dataclass
class FakeMessage:
    data: bytes
    delivered: int = 1
    seq: int = 7
    subject: str = "pd.picture.uploaded"
    settled: list[tuple[str, float | None]] = field(default_factory=list)
    fail_settling: bool = False

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(num_delivered=self.delivered,
                               sequence=SimpleNamespace(stream=self.seq))

    async def _settle(self, how: str, delay: float | None = None) -> None:
        if self.fail_settling:
            raise ConnectionError("NATS went away")
        self.settled.append((how, delay))

    async def ack(self) -> None:
        await self._settle("ack")

    async def nak(self, delay: float | None = None) -> None:
        await self._settle("nak", delay)

    async def term(self) -> None:
        await self._settle("term")


SETTINGS = Settings(event_prefix="pd", event_max_deliver=3, event_backoff_s=[0.5, 1.0])


def cloud_event(picture_id: str = "p1", **overrides: Any) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "e1", "source": "test",
                       "type": "pd.picture.uploaded", "subject": picture_id,
                       "data": {"picture_id": picture_id, "mode": "choreography",
                                "bucket": "pictures", "key": f"{picture_id}.jpg"},
                       **overrides}).encode()


class Recorded:
    def __init__(self) -> None:
        self.entries: list[TimelineEntry] = []

    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        self.entries.append(entry)


def edge_and_subscription(handler: Any, timeline: Any = None
                          ) -> tuple[EventEdge, Subscription[Event[Any]], FakeJetStream]:
    js = FakeJetStream()
    edge = EventEdge(js, SETTINGS, "vision")
    return edge, edge.on("uploaded", handler, timeline), js


async def failing(event: Event[Any], delivery: Delivery) -> None:
    raise RuntimeError(f"down (attempt {delivery.attempt})")


async def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered_once() -> None:
    edge, sub, js = edge_and_subscription(failing)
    first, second = FakeMessage(cloud_event(), 1), FakeMessage(cloud_event(), 2)
    await edge.handle(sub, first)
    await edge.handle(sub, second)
    assert first.settled == [("nak", 0.5)] and second.settled == [("nak", 1.0)]
    assert js.published == []
    last = FakeMessage(cloud_event(), 3)
    await edge.handle(sub, last)
    assert last.settled == [("ack", None)]
    [(dead_subject, letter, headers), (failed_subject, failed, _)] = js.published
    assert dead_subject == dead_letter_subject(SETTINGS, "vision-uploaded")
    assert headers == {"Nats-Msg-Id": "dead:vision-uploaded:7"}  # once, even after a crash
    assert (letter["picture_id"], letter["deliveries"], letter["malformed"]) == ("p1", 3, False)
    assert failed_subject == "pd.picture.failed"
    assert failed["data"]["reason"] == "analyse_image failed after 3 attempts: down (attempt 3)"
    assert failed["data"]["mode"] == "choreography"


async def test_a_not_retryable_error_fails_the_picture_at_once() -> None:
    async def rejected(event: Event[Any], delivery: Delivery) -> None:
        raise ImageRejected("the file is not an image we can read")

    edge, sub, js = edge_and_subscription(rejected)
    msg = FakeMessage(cloud_event(), 1)
    await edge.handle(sub, msg)
    assert msg.settled == [("ack", None)]
    [(_, failed, _)] = js.published
    assert failed["data"]["reason"] == \
        "analyse_image failed: the file is not an image we can read"


@pytest.mark.parametrize("payload", [
    b"[]", b'"x"', b"42", b"not json", b"\xff\xfe", b"{}",
    cloud_event(type=7), cloud_event(id=None), cloud_event(data=[1]),
    cloud_event(subject=None, data={"mode": "choreography"}),
    cloud_event(data={"picture_id": "p1", "mode": "sideways"}),
    # the envelope is right, the data is not what its type's model says
    cloud_event(data={"picture_id": "p1", "mode": "choreography"}),
    cloud_event(data={"picture_id": "p1", "mode": "choreography", "bucket": ["b"], "key": "k"}),
    # a type this consumer does not read (a redriven letter of another's), or nobody's
    cloud_event(type="pd.picture.deleted", data={"picture_id": "p1", "mode": None}),
    cloud_event(type="pd.picture.renamed"),
])
async def test_a_poison_payload_is_terminated_and_dead_lettered_never_handled(
        payload: bytes) -> None:
    handled: list[Event[Any]] = []

    async def handler(event: Event[Any], delivery: Delivery) -> None:
        handled.append(event)

    edge, sub, js = edge_and_subscription(handler)
    msg = FakeMessage(payload)
    await edge.handle(sub, msg)
    assert msg.settled == [("term", None)] and handled == []
    [(_, letter, _)] = js.published
    assert letter["malformed"] is True and letter["picture_id"] is None and letter["error"]


async def test_nothing_that_fails_while_settling_a_message_escapes_the_runtime() -> None:
    edge, sub, js = edge_and_subscription(failing)
    js.fail = True  # the dead letter and picture.failed cannot be published
    await edge.handle(sub, FakeMessage(cloud_event(), 3))
    await edge.handle(sub, FakeMessage(b"[]"))
    msg = FakeMessage(cloud_event(), 1, fail_settling=True)  # nor can the nak reach NATS
    await edge.handle(sub, msg)
    assert edge.problem is None


async def test_giving_up_on_a_clean_up_event_does_not_fail_the_picture() -> None:
    js = FakeJetStream()
    edge = EventEdge(js, SETTINGS, "thumbnails")
    sub = edge.on("gc", failing)
    body = cloud_event(type="pd.picture.deleted", data={"picture_id": "p1", "mode": None})
    await edge.handle(sub, FakeMessage(body, 3))
    assert [subject for subject, _, _ in js.published] == [
        dead_letter_subject(SETTINGS, "thumbnails-gc")]


def test_a_redriven_event_is_a_new_event_for_the_consumer_that_gave_up_only() -> None:
    from picadaily.deadletters import NotRedrivable, fresh_copy

    event = json.loads(cloud_event())
    again = fresh_copy(event, 7)
    assert again["id"] != event["id"] and again["data"] == event["data"]
    storage = {"EventName": "s3:ObjectCreated:Put", "Records": [
        {"s3": {"object": {"key": "k", "sequencer": "AB"}}}]}
    assert fresh_copy(storage, 9)["Records"][0]["s3"]["object"]["sequencer"] == "redrive-9-AB"
    with pytest.raises(NotRedrivable):
        fresh_copy("not an event", 3)
    edge, sub, _ = edge_and_subscription(failing)
    assert edge.redrive_subject(sub) == "pd.redrive.vision-uploaded"


async def test_the_runtime_times_the_step_and_the_next_event_carries_its_entries() -> None:
    """The handler calls the core and returns the next event; the runtime times the declared
    step (and ``also`` the handler's further one), publishes the event in the same trace and
    version, the entries in it, once per handled event (its dedupe key)."""
    timeline = Recorded()

    async def analyse(event: Event[PictureUploaded], delivery: Delivery) -> PictureAnalyzed:
        async def verdict() -> SafetyVerdict:
            return SafetyVerdict(safe=True)

        return PictureAnalyzed(**event.data.model_dump(), analysis=Analysis(),
                               verdict=await delivery.also("check_safety", verdict))

    edge, sub, js = edge_and_subscription(analyse, timeline)
    body = json.loads(cloud_event())
    body["data"]["version"] = 2
    body["data"]["unheard_of"] = "a newer publisher's field: ignored"
    msg = FakeMessage(json.dumps(body).encode())
    await edge.handle(sub, msg)
    assert msg.settled == [("ack", None)]
    [(subject, analyzed, headers)] = js.published
    assert subject == "pd.picture.analyzed"
    assert headers["Nats-Msg-Id"] == "p1:picture.analyzed:e1"
    assert analyzed["data"]["version"] == 2 and analyzed["data"]["key"] == "p1.jpg"
    assert analyzed["traceparent"].split("-")[1] == body.get("traceparent", analyzed[
        "traceparent"]).split("-")[1]
    assert [(e["step"], e["outcome"], e["version"]) for e in analyzed["data"]["timeline"]] == [
        ("analyse_image", "ok", 2), ("check_safety", "ok", 2)]
    assert timeline.entries == []  # they travel in the event


async def test_an_error_is_recorded_at_once_and_a_handler_that_returns_no_event_did_no_step(
        ) -> None:
    timeline = Recorded()
    edge, sub, js = edge_and_subscription(failing, timeline)
    await edge.handle(sub, FakeMessage(cloud_event(), 1))
    assert [(e.step, e.outcome) for e in timeline.entries] == [("analyse_image", "error")]

    async def nothing_next(event: Event[Any], delivery: Delivery) -> None:
        return None

    timeline.entries.clear()
    edge, sub, js = edge_and_subscription(nothing_next, timeline)
    await edge.handle(sub, FakeMessage(cloud_event(), 1))
    assert timeline.entries == [] and js.published == []  # no event: the step was not done

    async def only_also(event: Event[Any], delivery: Delivery) -> None:
        async def check() -> bool:
            return True

        await delivery.also("check_safety", check)

    edge, sub, js = edge_and_subscription(only_also, timeline)
    await edge.handle(sub, FakeMessage(cloud_event(), 1))
    assert [(e.step, e.outcome) for e in timeline.entries] == [("check_safety", "ok")]


async def test_an_edge_publishes_only_what_the_choreography_declares_and_handles_all_of_it(
        ) -> None:
    async def wrong(event: Event[PictureUploaded], delivery: Delivery) -> ThumbnailCreated:
        return ThumbnailCreated(bucket="b", key="k", width=1, height=1)

    edge, sub, js = edge_and_subscription(wrong)
    msg = FakeMessage(cloud_event(), 1)
    await edge.handle(sub, msg)
    assert msg.settled == [("nak", 0.5)] and js.published == []  # a bug: retried, then a letter
    with pytest.raises(KeyError, match="no reaction vision-analyzed"):
        edge.on("analyzed", failing)
    thumbnails = EventEdge(FakeJetStream(), SETTINGS, "thumbnails")
    thumbnails.on("analyzed", failing)
    with pytest.raises(RuntimeError, match=r"declares \['analyzed', 'gc', 'reviewed'\]"):
        thumbnails.check_declared()


async def test_an_error_has_no_event_to_travel_with_and_is_recorded_at_once() -> None:
    recorded = Recorded()
    carried = CarriedTimeline(recorded)

    async def works() -> int:
        return 1

    async def fails() -> int:
        raise RuntimeError("down")

    assert await timed(carried, "make_thumbnail", "p1", "choreography", 1, works, 2) == 1
    with pytest.raises(RuntimeError):
        await timed(carried, "update_collage", "p1", "choreography", 1, fails, 2)
    assert [e.step for e in recorded.entries] == ["update_collage"]
    [entry] = carried.entries
    assert (entry.step, entry.outcome, entry.version) == ("make_thumbnail", "ok", 2)
