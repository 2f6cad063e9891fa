"""Idempotent set-up of what the processes expect to exist: buckets, the storage-event queue
and its bucket notification, the JetStream streams (defined in ``picadaily.streams``). The stack
runner calls it once at start; docker-compose's one-shot job does the same for MinIO."""

from __future__ import annotations

import logging

from picadaily.settings import Settings
from picadaily.storage import s3_client, sqs_client
from picadaily.streams import provision_streams

log = logging.getLogger(__name__)

NOTIFICATION_ID = "picadaily-storage-events"


def provision_storage(settings: Settings) -> None:
    """The buckets; with the "sqs" event source also the queue and the pictures bucket's
    notification to it. (SeaweedFS needs no notification: its source follows the filer log;
    MinIO's NATS target is configured by its own environment.)"""
    s3 = s3_client(settings)
    for bucket in (settings.pictures_bucket, settings.thumbnails_bucket):
        try:
            s3.create_bucket(Bucket=bucket)
            log.info("created bucket %s", bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass  # (a store may not list buckets another identity created)
    if settings.event_source == "sqs":
        provision_sqs_notification(settings)


def provision_sqs_notification(settings: Settings) -> None:
    """The SQS queue and the pictures bucket's notification to it (AWS S3, moto)."""
    s3 = s3_client(settings)
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


def provision(settings: Settings, *, streams: bool, storage: bool) -> None:
    """``picadaily provision``: what docker-compose's one-shot job (and a fresh deployment) runs."""
    import asyncio

    if storage:
        provision_storage(settings)
    if streams:
        asyncio.run(_provision_streams_once(settings))


async def _provision_streams_once(settings: Settings) -> None:
    from picadaily.mode import ModeSwitch
    from picadaily.nats_util import close_nats, connect_nats

    nc = await connect_nats(settings, "provision")
    try:
        await provision_streams(nc.jetstream(), settings)
        await ModeSwitch.open(nc.jetstream(), settings)
    finally:
        await close_nats(nc)
