"""SeaweedFS filer-log events -> MinIO's storage-event format (``picadaily.storage_events``).

The filer logs every change under ``/buckets/<bucket>/``: an entry created or overwritten
(``new_entry``), or removed (``old_entry`` only), with ``ts_ns``. Object user metadata is in the
entry's ``extended`` attributes as ``X-Amz-Meta-<Name>``; the S3 ETag as ``Seaweed-X-Amz-ETag``
(else the content MD5).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from picadaily.storage_events import escape_key, minio_notification

from . import filer_pb2

USER_METADATA_PREFIX = "x-amz-meta-"
ETAG_ATTRIBUTE = "Seaweed-X-Amz-ETag"
# Multipart uploads keep their parts under the bucket's ".uploads/" until completed.
INTERNAL_PREFIXES = (".uploads/",)
DEPLOYMENT_ID = "picadaily-seaweedfs-source"


class MalformedFilerEvent(ValueError):
    pass


@dataclass(frozen=True)
class Notification:
    body: dict[str, Any]  # MinIO's JSON
    msg_id: str  # the same filer event always gets the same id (JetStream drops repeats)


def bucket_dir(bucket: str) -> str:
    return f"/buckets/{bucket}"


def to_notifications(resp: filer_pb2.SubscribeMetadataResponse, bucket: str,
                     endpoint: str = "") -> list[Notification]:
    """The storage events one filer-log entry means for this bucket (none, one, or two for a
    move: removed at the old place, created at the new)."""
    event = resp.event_notification
    old = event.old_entry if event.HasField("old_entry") else None
    new = event.new_entry if event.HasField("new_entry") else None
    if old is None and new is None:
        if not resp.directory:
            # A filer of its own (not inside `weed server`) sends a bare time stamp now and
            # then to a subscriber it has nothing for: progress, no change.
            return []
        raise MalformedFilerEvent(f"filer event {resp.ts_ns} has neither an old nor a new entry")
    if resp.ts_ns <= 0:
        raise MalformedFilerEvent("filer event without a time")
    out: list[Notification] = []
    new_dir = event.new_parent_path or resp.directory
    moved = old is not None and new is not None and (new_dir != resp.directory
                                                       or new.name != old.name)
    if old is not None and (new is None or moved) and not old.is_directory:
        key = _key(resp.directory, old.name, bucket)
        if key is not None:
            out.append(_notification("s3:ObjectRemoved:Delete", bucket, key, resp.ts_ns,
                                     None, endpoint))
    if new is not None and not new.is_directory:
        key = _key(new_dir, new.name, bucket)
        if key is not None:
            out.append(_notification("s3:ObjectCreated:Put", bucket, key, resp.ts_ns, new,
                                     endpoint))
    return out


def _key(directory: str, name: str, bucket: str) -> str | None:
    """The object key of an entry, or None when it is not an object of this bucket."""
    if not name:
        raise MalformedFilerEvent(f"an entry in {directory!r} has no name")
    root = bucket_dir(bucket)
    if directory == root:
        key = name
    elif directory.startswith(root + "/"):
        key = f"{directory[len(root) + 1:]}/{name}"
    else:
        return None
    return None if key.startswith(INTERNAL_PREFIXES) else key


def _notification(event_name: str, bucket: str, key: str, ts_ns: int,
                  entry: filer_pb2.Entry | None, endpoint: str) -> Notification:
    time = datetime.fromtimestamp(ts_ns / 1e9, UTC)
    fields: dict[str, Any] = {}
    if entry is not None:
        extended = {k: v.decode("utf-8", "replace") for k, v in entry.extended.items()}
        fields = {
            "size": entry.attributes.file_size,
            "etag": extended.get(ETAG_ATTRIBUTE) or entry.attributes.md5.hex(),
            "content_type": entry.attributes.mime or "application/octet-stream",
            "user_metadata": {k[len(USER_METADATA_PREFIX):].lower(): v
                              for k, v in extended.items()
                              if k.lower().startswith(USER_METADATA_PREFIX)},
        }
    body = minio_notification(
        event_name=event_name, bucket=bucket, escaped_key=escape_key(key),
        time=time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        sequencer=f"{ts_ns:016X}", deployment_id=DEPLOYMENT_ID, endpoint=endpoint, **fields)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Notification(body, f"seaweedfs:{bucket}:{ts_ns}:{event_name[3:]}:{digest}")
