"""Storage events in MinIO's notification format: building them (bridge) and reading them
(trigger). Subject: ``storage.events.<bucket>``.

MinIO publishes to NATS a JSON body ``{"EventName", "Key", "Records"}`` where ``Key`` is
``bucket/object`` (unescaped) and each record is S3's event record with MinIO's additions
(``eventSource: minio:s3``, ``s3:``-prefixed event names, ``contentType`` and ``userMetadata`` on
created objects). The bridge turns S3 (moto or AWS) records into exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

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
    bucket = s3["bucket"]["name"]
    escaped_key = s3["object"]["key"]
    name = record["eventName"]
    event_name = name if name.startswith("s3:") else f"s3:{name}"
    obj: dict[str, Any] = {"key": escaped_key}
    if event_name.startswith("s3:ObjectCreated:"):
        obj["size"] = s3["object"].get("size", 0)
        obj["eTag"] = s3["object"].get("eTag", "").strip('"')
        if head is not None:
            obj["contentType"] = head.content_type
            user = {"content-type": head.content_type}
            for k, v in head.user_metadata.items():
                user["X-Amz-Meta-" + _canonical(k)] = v
            obj["userMetadata"] = user
    obj["sequencer"] = s3["object"].get("sequencer", "")
    principal = record.get("userIdentity", {}).get("principalId", "")
    minio_record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": record.get("awsRegion", ""),
        "eventTime": record["eventTime"],
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {
            "principalId": principal,
            "region": record.get("awsRegion", ""),
            "sourceIPAddress": record.get("requestParameters", {}).get("sourceIPAddress", ""),
        },
        "responseElements": {
            "x-amz-id-2": record.get("responseElements", {}).get("x-amz-id-2", ""),
            "x-amz-request-id": record.get("responseElements", {}).get("x-amz-request-id", ""),
            "x-minio-deployment-id": "picadaily-storage-bridge",
            "x-minio-origin-endpoint": endpoint,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": s3.get("configurationId", "Config"),
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

