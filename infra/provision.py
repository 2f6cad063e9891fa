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
    notification to it; with "minio" the notification to MinIO's NATS target (which MinIO's
    own environment defines). SeaweedFS needs none: its source follows the filer log."""
    s3 = s3_client(settings)
    for bucket in (settings.pictures_bucket, settings.thumbnails_bucket):
        try:
            s3.create_bucket(Bucket=bucket)
            log.info("created bucket %s", bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass  # (a store may not list buckets another identity created)
    if settings.event_source == "sqs":
        provision_sqs_notification(settings)
    elif settings.event_source == "minio":
        provision_minio_notification(settings)


def provision_minio_notification(settings: Settings) -> None:
    """The pictures bucket's events to MinIO's NATS target (``settings.minio_nats_arn``, the
    target MinIO's own environment defines), with the MinIO SDK: no ``mc`` container."""
    from urllib.parse import urlsplit

    from minio import Minio
    from minio.notificationconfig import NotificationConfig, QueueConfig

    where = urlsplit(settings.s3_endpoint)
    client = Minio(where.netloc, access_key=settings.s3_access_key,
                   secret_key=settings.s3_secret_key, secure=where.scheme == "https",
                   region=settings.s3_region)
    client.set_bucket_notification(settings.pictures_bucket, NotificationConfig(
        queue_config_list=[QueueConfig(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                                       config_id=NOTIFICATION_ID,
                                       queue=settings.minio_nats_arn)]))
    log.info("bucket %s notifies MinIO target %s", settings.pictures_bucket,
             settings.minio_nats_arn)


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
