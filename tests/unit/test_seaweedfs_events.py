"""Filer-log entries -> MinIO storage events: which entries are events, and malformed ones."""

from __future__ import annotations

import pytest

from functions.seaweedfs import filer_pb2 as pb
from functions.seaweedfs.events import MalformedFilerEvent, to_notifications
from tests.filer_events import entry, response


def test_a_put_is_a_created_event_with_its_metadata_and_a_stable_message_id() -> None:
    new = entry("cat.jpg", attributes=pb.FuseAttributes(file_size=5, mime="image/jpeg",
                                                        md5=bytes.fromhex("00ff")),
                extended={"X-Amz-Meta-Filename": b"my%20cat.jpg"})
    [n] = to_notifications(response("/buckets/pictures", new=new), "pictures")
    obj = n.body["Records"][0]["s3"]["object"]
    assert n.body["EventName"] == "s3:ObjectCreated:Put"
    assert n.body["Records"][0]["eventTime"] == "2026-11-25T18:06:40.123Z"
    assert (obj["key"], obj["size"], obj["eTag"], obj["contentType"]) == (
        "cat.jpg", 5, "00ff", "image/jpeg")
    assert obj["userMetadata"]["X-Amz-Meta-Filename"] == "my%20cat.jpg"
    [again] = to_notifications(response("/buckets/pictures", new=new), "pictures")
    assert again.msg_id == n.msg_id


def test_directories_internal_uploads_and_other_buckets_are_no_events() -> None:
    assert to_notifications(response("/buckets/pictures", new=entry("d", is_directory=True)),
                            "pictures") == []
    assert to_notifications(response("/buckets/pictures/.uploads/x", new=entry("0001.part")),
                            "pictures") == []
    assert to_notifications(response("/buckets/other", new=entry("a.jpg")), "pictures") == []
    assert to_notifications(response("/buckets/pictures-2", new=entry("a.jpg")),
                            "pictures") == []


def test_a_removal_and_a_move() -> None:
    [removed] = to_notifications(response("/buckets/pictures/a", old=entry("b.jpg")),
                                 "pictures")
    assert (removed.body["EventName"], removed.body["Key"]) == (
        "s3:ObjectRemoved:Delete", "pictures/a/b.jpg")
    moved = to_notifications(response("/buckets/pictures", old=entry("x.jpg"),
                                      new=entry("y.jpg"), new_parent="/buckets/pictures/z"),
                             "pictures")
    assert [(n.body["EventName"], n.body["Key"]) for n in moved] == [
        ("s3:ObjectRemoved:Delete", "pictures/x.jpg"),
        ("s3:ObjectCreated:Put", "pictures/z/y.jpg")]
    assert moved[0].msg_id != moved[1].msg_id


@pytest.mark.parametrize("bad", [
    response("/buckets/pictures"),  # neither entry
    response("/buckets/pictures", new=entry("")),  # no name
    response("/buckets/pictures", new=entry("a"), ts=0),  # no time
])
def test_malformed_filer_events_are_refused_with_a_reason(
        bad: pb.SubscribeMetadataResponse) -> None:
    with pytest.raises(MalformedFilerEvent):
        to_notifications(bad, "pictures")


def test_a_bare_time_stamp_from_the_filer_is_progress_not_an_event() -> None:
    """A filer process of its own sends ``ts_ns`` alone (no directory, no entry) to an idle
    subscriber: nothing happened, nothing is set aside."""
    assert to_notifications(response(""), "pictures") == []
