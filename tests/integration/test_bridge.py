"""The storage-event bridge against real moto (S3 + SQS) and a real NATS server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats
import pytest

from functions.bridge import StorageBridge
from picadaily.deadletters import list_dead_letters
from picadaily.settings import Settings
from picadaily.storage import queue_url, s3_client, sqs_client
from picadaily.storage_events import parse, subject_for
from picadaily.streams import provision_streams

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def settings_override(settings: Settings, moto_url: str) -> Settings:
    """AWS S3 + SQS (moto stands in for AWS here, and only here)."""
    return settings.model_copy(update={"s3_endpoint": moto_url, "sqs_endpoint": moto_url,
                                       "event_source": "sqs"})


def shape(value: Any) -> Any:
    """The structure of a JSON document: keys and value types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


async def _collect(bridge: StorageBridge, sub: Any, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(40):
        await bridge.pump_once(wait_seconds=0)
        while len(events) < count:
            try:
                msg = await sub.next_msg(timeout=0.1)
            except TimeoutError:
                break
            assert not msg.headers, "MinIO publishes no NATS headers"
            events.append(json.loads(msg.data))
        if len(events) >= count:
            return events
    raise AssertionError(f"the bridge forwarded {len(events)} of {count} events")


async def test_bridge_emits_minio_format_for_created_and_removed(provisioned: Settings) -> None:
    s3 = s3_client(provisioned)
    bucket = provisioned.pictures_bucket
    key = "holiday photo.jpg"

    nc = await nats.connect(provisioned.nats_url)
    try:
        js = nc.jetstream()
        await provision_streams(js, provisioned)
        sub = await js.subscribe(subject_for(bucket), stream=provisioned.storage_stream)
        bridge = StorageBridge(provisioned, js, sqs_client(provisioned), queue_url(provisioned))
        s3.put_object(Bucket=bucket, Key=key, Body=b"\xff\xd8 not really",
                      ContentType="image/jpeg", Metadata={"filename": "holiday%20photo.jpg"})
        [created] = await _collect(bridge, sub, 1)
        s3.delete_object(Bucket=bucket, Key=key)
        [removed] = await _collect(bridge, sub, 1)
    finally:
        await nc.drain()

    sample_created = json.loads((DATA / "minio_event_created.json").read_text())
    sample_removed = json.loads((DATA / "minio_event_removed.json").read_text())
    assert shape(created) == shape(sample_created)
    assert shape(removed) == shape(sample_removed)

    assert created["EventName"] == "s3:ObjectCreated:Put"
    assert created["Key"] == f"{bucket}/{key}"
    obj = created["Records"][0]["s3"]["object"]
    assert obj["key"] == "holiday+photo.jpg"  # URL-escaped, as MinIO does
    assert obj["contentType"] == "image/jpeg"
    assert obj["userMetadata"]["X-Amz-Meta-Filename"] == "holiday%20photo.jpg"
    assert removed["EventName"] == "s3:ObjectRemoved:Delete"
    assert set(removed["Records"][0]["s3"]["object"]) == {"key", "sequencer"}

    # The trigger reads our events and MinIO's the same way.
    for ours, theirs in ((created, sample_created), (removed, sample_removed)):
        a, b = parse(json.dumps(ours).encode())[0], parse(json.dumps(theirs).encode())[0]
        assert (a.kind, a.key, a.content_type, a.user_metadata) == \
               (b.kind, b.key, b.content_type, b.user_metadata)


async def test_a_message_leaves_the_queue_only_after_nats_acknowledged(
    provisioned: Settings,
) -> None:
    s3 = s3_client(provisioned)
    sqs = sqs_client(provisioned)
    url = queue_url(provisioned)
    s3.put_object(Bucket=provisioned.pictures_bucket, Key="kept", Body=b"x",
                  ContentType="image/jpeg")

    # A real NATS server with no stream for this bucket's subject: JetStream refuses the publish.
    nc = await nats.connect(provisioned.nats_url)
    try:
        bridge = StorageBridge(provisioned, nc.jetstream(timeout=0.5), sqs, url)
        with pytest.raises(Exception, match=r"(?i)timeout|no respon"):
            for _ in range(20):
                await bridge.pump_once(wait_seconds=0)
    finally:
        await nc.drain()
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    in_queue = int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])
    assert in_queue >= 1, "the event was deleted from SQS although NATS never took it"


async def test_a_malformed_message_is_set_aside_and_the_rest_of_its_batch_goes_on(
    provisioned: Settings,
) -> None:
    sqs = sqs_client(provisioned)
    url = queue_url(provisioned)
    for body in ("not json", '{"Records": "nope"}', "[]"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    s3_client(provisioned).put_object(Bucket=provisioned.pictures_bucket, Key="fine",
                                      Body=b"x", ContentType="image/jpeg")
    nc = await nats.connect(provisioned.nats_url)
    try:
        js = nc.jetstream()
        await provision_streams(js, provisioned)
        sub = await js.subscribe(subject_for(provisioned.pictures_bucket),
                                 stream=provisioned.storage_stream)
        bridge = StorageBridge(provisioned, js, sqs, url)
        [created] = await _collect(bridge, sub, 1)
        assert created["Key"].endswith("/fine")
        for _ in range(5):
            await bridge.pump_once(wait_seconds=0)
        letters = await list_dead_letters(js, provisioned)
        assert sorted(x.event for x in letters) == sorted(["not json", '{"Records": "nope"}',
                                                           "[]"])
        assert all(x.malformed and x.consumer == "storage-bridge" for x in letters)
    finally:
        await nc.drain()
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) == 0


def test_the_minio_notification_is_set_with_the_minio_sdk(
        provisioned: Settings, moto_url: str) -> None:
    """What compose's provisioning job sends MinIO, checked against moto's S3 (no MinIO server
    installs here): the bucket's events go to the target named by ``minio_nats_arn`` — in
    compose MinIO's NATS target, here an SQS queue's ARN, the only kind moto accepts."""
    from infra.provision import NOTIFICATION_ID, provision_storage
    from picadaily.storage import s3_client, sqs_client

    sqs = sqs_client(provisioned)
    url = sqs.create_queue(QueueName=f"{provisioned.sqs_queue}-minio")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    as_minio = provisioned.model_copy(update={"event_source": "minio", "minio_nats_arn": arn})
    provision_storage(as_minio)
    config = s3_client(as_minio).get_bucket_notification_configuration(
        Bucket=as_minio.pictures_bucket)
    [queue] = config["QueueConfigurations"]
    assert (queue["Id"], queue["QueueArn"]) == (NOTIFICATION_ID, arn)
    assert set(queue["Events"]) == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
