"""Idempotent set-up of what the processes expect to exist: buckets, the storage-event queue
and its bucket notification, the JetStream streams. The stack runner calls it once at start;
docker-compose's one-shot job does the same for MinIO."""

from __future__ import annotations

import logging
from typing import Any

from picadaily.settings import Settings
from picadaily.storage import s3_client

log = logging.getLogger(__name__)

NOTIFICATION_ID = "picadaily-storage-events"


def sqs_client(settings: Settings) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=settings.sqs_endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
    )


def queue_url(settings: Settings) -> str:
    url: str = sqs_client(settings).get_queue_url(QueueName=settings.sqs_queue)["QueueUrl"]
    return url


def provision_storage(settings: Settings) -> None:
    """Buckets, the SQS queue, and the pictures bucket's notification to it."""
    s3 = s3_client(settings)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (settings.pictures_bucket, settings.thumbnails_bucket):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            log.info("created bucket %s", bucket)
    sqs = sqs_client(settings)
    url = sqs.create_queue(
        QueueName=settings.sqs_queue,
        Attributes={"VisibilityTimeout": "30", "MessageRetentionPeriod": "1209600"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=settings.pictures_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": NOTIFICATION_ID,
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    log.info("bucket %s notifies queue %s", settings.pictures_bucket, settings.sqs_queue)


async def provision_streams(js: Any, settings: Settings) -> None:
    """JetStream streams: storage events of the pictures bucket (what MinIO or the bridge
    publish), domain events, dead letters."""
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig

    from functions.storage_events import subject_for

    week = 7 * 24 * 3600
    await _ensure_stream(js, StreamConfig(
        name=settings.storage_stream, subjects=[subject_for(settings.pictures_bucket)],
        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=week,
        duplicate_window=120,
    ))
    await _ensure_stream(js, StreamConfig(
        name=settings.events_stream, subjects=[f"{settings.event_prefix}.>"],
        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=week,
        duplicate_window=120,
    ))
    await _ensure_stream(js, StreamConfig(
        name=settings.dead_letter_stream, subjects=[f"{settings.event_prefix}_dead.>"],
        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=4 * week,
    ))


async def _ensure_stream(js: Any, config: Any) -> None:
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
    else:
        await js.update_stream(config)


def provision(settings: Settings, *, streams: bool, storage: bool) -> None:
    """``picadaily provision``: what docker-compose's one-shot job (and a fresh deployment) runs."""
    import asyncio

    if storage:
        provision_storage(settings)
    if streams:
        asyncio.run(_provision_streams_once(settings))


async def _provision_streams_once(settings: Settings) -> None:
    import nats

    from picadaily.mode import ModeSwitch
    from picadaily.nats_util import close_nats

    nc = await nats.connect(settings.nats_url, name="provision")
    try:
        await provision_streams(nc.jetstream(), settings)
        await ModeSwitch.open(nc.jetstream(), settings)
    finally:
        await close_nats(nc)
