"""The JetStream streams every process relies on, defined once.

- ``storage_stream``: storage events of the pictures bucket (``storage.events.<bucket>``, MinIO's
  format), published by MinIO itself or by one of our event sources;
- ``events_stream``: domain events (``<prefix>.>``, CloudEvents), and scheduled ones waiting
  under ``<prefix>.schedules.<key>`` (the review timeout);
- ``dead_letter_stream``: what a consumer gave up on (``<prefix>_dead.<consumer>``).

``provision_streams`` creates them or brings them up to date; every process that consumes or
publishes calls it at start, so no process depends on another having started first.
"""

from __future__ import annotations

import logging
from typing import Any

from picadaily.settings import Settings
from picadaily.storage_events import subject_for

log = logging.getLogger(__name__)
WEEK_S = 7 * 24 * 3600
DUPLICATE_WINDOW_S = 120
STORAGE_REDRIVE_PREFIX = "storage.redrive"


def dead_letter_subject(settings: Settings, consumer: str) -> str:
    return f"{settings.event_prefix}_dead.{consumer}"


def redrive_subject(settings: Settings, stream: str, consumer: str) -> str:
    """Where a redriven dead letter of this consumer is published: a subject only it consumes,
    in the stream it consumes from (domain events, or the storage events)."""
    if stream == settings.storage_stream:
        return f"{STORAGE_REDRIVE_PREFIX}.{settings.pictures_bucket}.{consumer}"
    return f"{settings.event_prefix}.redrive.{consumer}"


def stream_configs(settings: Settings) -> list[Any]:
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig

    return [
        StreamConfig(
            name=settings.storage_stream,
            subjects=[subject_for(settings.pictures_bucket),
                      f"{STORAGE_REDRIVE_PREFIX}.{settings.pictures_bucket}.>"],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=WEEK_S,
            duplicate_window=DUPLICATE_WINDOW_S, num_replicas=settings.stream_replicas,
        ),
        StreamConfig(
            name=settings.events_stream, subjects=[f"{settings.event_prefix}.>"],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=WEEK_S,
            duplicate_window=DUPLICATE_WINDOW_S, num_replicas=settings.stream_replicas,
            # the review timeout of choreography is a scheduled message (nats-server >= 2.12)
            allow_msg_schedules=True, allow_rollup_hdrs=True,
        ),
        StreamConfig(
            name=settings.dead_letter_stream, subjects=[f"{settings.event_prefix}_dead.>"],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=4 * WEEK_S,
            duplicate_window=DUPLICATE_WINDOW_S, num_replicas=settings.stream_replicas,
        ),
    ]


async def provision_streams(js: Any, settings: Settings) -> None:
    for config in stream_configs(settings):
        await _ensure_stream(js, config)


async def _ensure_stream(js: Any, config: Any) -> None:
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
    else:
        await js.update_stream(config)


async def open_kv(js: Any, settings: Settings) -> Any:
    """The NATS KV bucket of small shared state (the mode switch, event-source positions)."""
    from nats.js.api import KeyValueConfig
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(settings.kv_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(
            bucket=settings.kv_bucket, history=5, replicas=settings.stream_replicas))
