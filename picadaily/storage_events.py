"""Storage events in MinIO's notification format: building them (bridge) and reading them
(trigger). Subject: ``storage.events.<bucket>``. Every event source (MinIO itself, the SQS
bridge, the SeaweedFS filer-log source) emits exactly this, so the trigger cannot tell them
apart.

MinIO publishes to NATS a JSON body ``{"EventName", "Key", "Records"}`` where ``Key`` is
``bucket/object`` (unescaped) and each record is S3's event record with MinIO's additions
(``eventSource: minio:s3``, ``s3:``-prefixed event names, ``contentType`` and ``userMetadata`` on
created objects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote_plus, unquote_plus

SUBJECT_PREFIX = "storage.events"
USER_METADATA_PREFIX = "x-amz-meta-"


def subject_for(bucket: str) -> str:
    return f"{SUBJECT_PREFIX}.{bucket}"


@dataclass(frozen=True)
class ObjectHead:
    """What a HEAD of the object adds to an S3 record (S3 events carry neither)."""

    content_type: str
    user_metadata: dict[str, str]  # without the x-amz-meta- prefix, as boto3 returns it


def minio_event(record: dict[str, Any], head: ObjectHead | None, *,
                endpoint: str = "") -> dict[str, Any]:
    """One S3 event record (AWS/moto shape) as a MinIO NATS notification body."""
    s3 = record["s3"]
    name = record["eventName"]
    created = "ObjectCreated" in name
    principal = record.get("userIdentity", {}).get("principalId", "")
    return minio_notification(
        event_name=name if name.startswith("s3:") else f"s3:{name}",
        bucket=s3["bucket"]["name"],
        escaped_key=s3["object"]["key"],
        time=record["eventTime"],
        size=s3["object"].get("size", 0) if created else None,
        etag=s3["object"].get("eTag", "") if created else None,
        content_type=head.content_type if created and head else None,
        user_metadata=head.user_metadata if created and head else None,
        sequencer=s3["object"].get("sequencer", ""),
        principal=principal,
        region=record.get("awsRegion", ""),
        source_ip=record.get("requestParameters", {}).get("sourceIPAddress", ""),
        request_id=record.get("responseElements", {}).get("x-amz-request-id", ""),
        host_id=record.get("responseElements", {}).get("x-amz-id-2", ""),
        configuration_id=s3.get("configurationId", "Config"),
        deployment_id="picadaily-storage-bridge",
        endpoint=endpoint,
    )


def minio_notification(
    *, event_name: str, bucket: str, escaped_key: str, time: str, sequencer: str,
    size: int | None = None, etag: str | None = None, content_type: str | None = None,
    user_metadata: dict[str, str] | None = None, principal: str = "", region: str = "",
    source_ip: str = "", request_id: str = "", host_id: str = "",
    configuration_id: str = "Config", deployment_id: str = "", endpoint: str = "",
) -> dict[str, Any]:
    """A MinIO NATS notification body: ``event_name`` like ``s3:ObjectCreated:Put``,
    ``escaped_key`` URL-escaped as MinIO does, ``user_metadata`` without the ``x-amz-meta-``
    prefix. A removal carries no size, eTag, content type or user metadata."""
    obj: dict[str, Any] = {"key": escaped_key}
    if event_name.startswith("s3:ObjectCreated:"):
        obj["size"] = size or 0
        obj["eTag"] = (etag or "").strip('"')
        if content_type is not None:
            obj["contentType"] = content_type
            user = {"content-type": content_type}
            for k, v in (user_metadata or {}).items():
                user["X-Amz-Meta-" + _canonical(k)] = v
            obj["userMetadata"] = user
    obj["sequencer"] = sequencer
    minio_record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": region,
        "eventTime": time,
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"principalId": principal, "region": region,
                              "sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-id-2": host_id,
            "x-amz-request-id": request_id,
            "x-minio-deployment-id": deployment_id,
            "x-minio-origin-endpoint": endpoint,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": principal},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
        "source": {"host": "", "port": "", "userAgent": ""},
    }
    return {
        "EventName": event_name,
        "Key": f"{bucket}/{unquote_plus(escaped_key)}",
        "Records": [minio_record],
    }


def escape_key(key: str) -> str:
    """An object key as MinIO writes it in events (Go's url.QueryEscape)."""
    return quote_plus(key, safe="")


def _canonical(header: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in header.split("-"))


@dataclass(frozen=True)
class StorageEvent:
    kind: Literal["created", "removed", "other"]
    name: str
    bucket: str
    key: str  # unescaped
    size: int | None = None
    content_type: str | None = None
    user_metadata: dict[str, str] = field(default_factory=dict)  # lower-case, prefix stripped
    time: str | None = None
    etag: str = ""
    sequencer: str = ""


class MalformedStorageEvent(ValueError):
    pass


def parse(body: bytes) -> list[StorageEvent]:
    """Read a MinIO notification body (from MinIO itself or from our bridge)."""
    try:
        doc = json.loads(body)
        records = doc["Records"]
        events = []
        for record in records:
            name = record["eventName"]
            s3 = record["s3"]
            obj = s3["object"]
            kind: Literal["created", "removed", "other"] = (
                "created" if "ObjectCreated:" in name
                else "removed" if "ObjectRemoved:" in name
                else "other"
            )
            meta = {}
            for k, v in (obj.get("userMetadata") or {}).items():
                lk = k.lower()
                if lk.startswith(USER_METADATA_PREFIX):
                    meta[lk[len(USER_METADATA_PREFIX):]] = v
            events.append(StorageEvent(
                kind=kind, name=name, bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]), size=obj.get("size"),
                content_type=obj.get("contentType"), user_metadata=meta,
                time=record.get("eventTime"), etag=obj.get("eTag", ""),
                sequencer=obj.get("sequencer", ""),
            ))
        return events
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedStorageEvent(f"not a MinIO storage notification: {exc}") from exc

