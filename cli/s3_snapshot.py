"""Keeping the local S3 endpoint's objects across restarts.

moto keeps objects in memory. The stack runner restores them from ``PICADAILY_HOME/objects``
before the bucket notification is configured (so a restore emits no events), mirrors changes
every few seconds, and once more after every other process stopped. MinIO (docker compose) or
real S3 need none of this.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

log = logging.getLogger(__name__)


def _paths(root: Path, bucket: str, key: str) -> tuple[Path, Path]:
    name = quote(key, safe="")
    folder = root / bucket
    return folder / name, folder / f"{name}.meta.json"


def restore(s3: Any, root: Path, buckets: list[str]) -> int:
    count = 0
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        folder = root / bucket
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        if not folder.is_dir():
            continue
        for meta_path in folder.glob("*.meta.json"):
            data_path = meta_path.with_name(meta_path.name[: -len(".meta.json")])
            if not data_path.exists():
                continue
            meta = json.loads(meta_path.read_text())
            s3.put_object(Bucket=bucket, Key=unquote(data_path.name), Body=data_path.read_bytes(),
                          ContentType=meta["content_type"], Metadata=meta["metadata"])
            count += 1
    return count


def snapshot(s3: Any, root: Path, buckets: list[str]) -> int:
    """Mirror the buckets to disk; returns how many objects were written or removed."""
    changed = 0
    for bucket in buckets:
        folder = root / bucket
        folder.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                data_path, meta_path = _paths(root, bucket, key)
                seen.add(data_path.name)
                etag = item["ETag"]
                if meta_path.exists() and json.loads(meta_path.read_text()).get("etag") == etag:
                    continue
                obj = s3.get_object(Bucket=bucket, Key=key)
                data_path.write_bytes(obj["Body"].read())
                meta_path.write_text(json.dumps({
                    "etag": etag, "content_type": obj.get("ContentType"),
                    "metadata": obj.get("Metadata", {}),
                }))
                changed += 1
        for meta_path in folder.glob("*.meta.json"):
            name = meta_path.name[: -len(".meta.json")]
            if name not in seen:
                meta_path.unlink(missing_ok=True)
                (folder / name).unlink(missing_ok=True)
                changed += 1
    return changed
