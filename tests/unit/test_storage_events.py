"""Converting S3 event records to MinIO's format, and reading MinIO's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picadaily.storage_events import MalformedStorageEvent, ObjectHead, minio_event, parse

DATA = Path(__file__).resolve().parents[1] / "data"

AWS_RECORD = {
    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
    "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
    "userIdentity": {"principalId": "AWS:1"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
    "responseElements": {"x-amz-request-id": "r", "x-amz-id-2": "i"},
    "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
           "bucket": {"name": "pictures", "arn": "arn:aws:s3:::pictures"},
           "object": {"key": "my+cat%21.jpg", "size": 5, "eTag": "\"abc\"", "sequencer": "1"}},
}


def test_created_record_becomes_minio_event_with_head_details() -> None:
    event = minio_event(AWS_RECORD, ObjectHead("image/jpeg", {"filename": "cat.jpg"}))
    assert event["EventName"] == "s3:ObjectCreated:Put"
    assert event["Key"] == "pictures/my cat!.jpg"
    obj = event["Records"][0]["s3"]["object"]
    assert obj == {"key": "my+cat%21.jpg", "size": 5, "eTag": "abc", "contentType": "image/jpeg",
                   "userMetadata": {"content-type": "image/jpeg",
                                    "X-Amz-Meta-Filename": "cat.jpg"},
                   "sequencer": "1"}
    assert event["Records"][0]["eventSource"] == "minio:s3"


def test_removed_record_carries_no_size_etag_type_or_metadata() -> None:
    record = {**AWS_RECORD, "eventName": "ObjectRemoved:Delete"}
    obj = minio_event(record, None)["Records"][0]["s3"]["object"]
    assert set(obj) == {"key", "sequencer"}


@pytest.mark.parametrize("sample", ["minio_event_created.json", "minio_event_removed.json"])
def test_minio_samples_parse(sample: str) -> None:
    [event] = parse((DATA / sample).read_bytes())
    assert event.bucket == "pictures" and event.key == "holiday photo.jpg"
    if event.kind == "created":
        assert event.user_metadata == {"filename": "holiday%20photo.jpg"}
        assert event.content_type == "image/jpeg"
    else:
        assert event.kind == "removed" and event.size is None


@pytest.mark.parametrize("body", [b"not json", b"{}", json.dumps({"Records": [{}]}).encode()])
def test_malformed_events_are_reported(body: bytes) -> None:
    with pytest.raises(MalformedStorageEvent):
        parse(body)
