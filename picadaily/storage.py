"""Object storage: the port the cores use, its S3 adapter, the S3/SQS client factories every
process uses, and an in-memory fake for unit tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from picadaily.s3_objects import META_PREFIX, S3Error

if TYPE_CHECKING:
    from picadaily.s3_objects import Response, S3Objects
    from picadaily.settings import Settings


class ObjectMissing(Exception):
    """The object does not exist (deleted, or never written)."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    metadata: dict[str, str]
    etag: str = ""  # (quotes stripped; the fake of the unit tests leaves it empty)


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD says about an object (a listing: no type, no metadata)."""

    key: str
    size: int
    etag: str
    modified: datetime
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    def get(self, bucket: str, key: str) -> StoredObject: ...
    def put(
        self, bucket: str, key: str, data: bytes, content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None: ...
    def delete(self, bucket: str, key: str) -> None: ...
    def head_metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        """The object's user metadata without its bytes; None when it does not exist."""
        ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...


def _aws_client(service: Literal["s3", "sqs"], endpoint: str, settings: Settings,
                **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        config=Config(**config),
    )


def s3_client(settings: Settings) -> Any:
    from picadaily.settings import first_address

    # (boto3 takes one endpoint: a cluster's first gateway, for provisioning)
    return _aws_client("s3", first_address(settings.s3_endpoint), settings,
                       s3={"addressing_style": "path"},
                       retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32)


def sqs_client(settings: Settings) -> Any:
    """The queue S3 bucket notifications go to (AWS S3, or moto in the tests)."""
    return _aws_client("sqs", settings.sqs_endpoint, settings)


def queue_url(settings: Settings) -> str:
    url: str = sqs_client(settings).get_queue_url(QueueName=settings.sqs_queue)["QueueUrl"]
    return url


class S3ObjectStore:
    """Every object call as signed plain HTTP (``s3_objects``: a third of boto3's CPU, and none
    of its memory in a process that never makes buckets)."""

    def __init__(self, objects: S3Objects) -> None:
        self._objects = objects

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        from picadaily.s3_objects import S3Objects, SigV4

        signer = SigV4(settings.s3_access_key, settings.s3_secret_key, settings.s3_region)
        return cls(S3Objects(settings.s3_endpoint, signer))

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return [o.key for o in self.list_objects(bucket, prefix)]

    def list_objects(self, bucket: str, prefix: str = "",
                     page_size: int = 1000) -> list[ObjectInfo]:
        """Every object under ``prefix`` (ListObjectsV2, page after page)."""
        found: list[ObjectInfo] = []
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
        while True:
            resp = self._objects.request("ListObjectsV2", "GET", bucket, "", query=query)
            _raise_for_status("ListObjectsV2", resp)
            page = ET.fromstring(resp.data)
            ns = page.tag[:page.tag.index("}") + 1] if page.tag.startswith("{") else ""
            found += [ObjectInfo(
                key=item.findtext(f"{ns}Key", ""), size=int(item.findtext(f"{ns}Size", "0")),
                etag=item.findtext(f"{ns}ETag", "").strip('"'),
                modified=datetime.fromisoformat(item.findtext(f"{ns}LastModified", "")
                                                .replace("Z", "+00:00")).astimezone(UTC))
                for item in page.iter(f"{ns}Contents")]
            token = page.findtext(f"{ns}NextContinuationToken")
            if page.findtext(f"{ns}IsTruncated") != "true" or not token:
                return found
            query = {**query, "continuation-token": token}

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """What the store says of the object (None when it does not exist)."""
        resp = self._head(bucket, key)
        if resp is None:
            return None
        modified = resp.headers.get("Last-Modified")
        if not modified:  # every S3 store sends it; the reconciler's ages depend on it
            raise S3Error("HeadObject", resp.status, b"no Last-Modified header")
        return ObjectInfo(
            key=key, size=int(resp.headers.get("Content-Length", "0")),
            etag=resp.headers.get("ETag", "").strip('"'),
            modified=parsedate_to_datetime(modified).astimezone(UTC),
            content_type=resp.headers.get("Content-Type", "application/octet-stream"),
            metadata=resp.user_metadata())

    def _head(self, bucket: str, key: str) -> Response | None:
        resp = self._objects.request("HeadObject", "HEAD", bucket, key)
        if resp.status == 404:
            return None
        _raise_for_status("HeadObject", resp)
        return resp

    def get(self, bucket: str, key: str) -> StoredObject:
        resp = self._objects.request("GetObject", "GET", bucket, key)
        if resp.status == 404:
            raise ObjectMissing(f"{bucket}/{key} does not exist")
        _raise_for_status("GetObject", resp)
        return StoredObject(
            data=resp.data,
            content_type=resp.headers.get("Content-Type", "application/octet-stream"),
            metadata=resp.user_metadata(),
            etag=resp.headers.get("ETag", "").strip('"'),
        )

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": content_type,
                   **{f"{META_PREFIX}{k.lower()}": v for k, v in (metadata or {}).items()}}
        _raise_for_status("PutObject", self._objects.request(
            "PutObject", "PUT", bucket, key, body=data, headers=headers))

    def delete(self, bucket: str, key: str) -> None:
        resp = self._objects.request("DeleteObject", "DELETE", bucket, key)
        if resp.status != 404:  # (S3 answers 204 for a missing key; some stores 404)
            _raise_for_status("DeleteObject", resp)

    def head_metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        # (the collage asks on every rebuild: its metadata only, no date parsed)
        resp = self._head(bucket, key)
        return None if resp is None else resp.user_metadata()


def _raise_for_status(operation: str, resp: Response) -> None:
    if not 200 <= resp.status < 300:
        raise S3Error(operation, resp.status, resp.data)


@dataclass
class InMemoryObjectStore:
    """For unit tests of the cores only."""

    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)

    def get(self, bucket: str, key: str) -> StoredObject:
        try:
            return self.objects[(bucket, key)]
        except KeyError as exc:
            raise ObjectMissing(f"{bucket}/{key} does not exist") from exc

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.objects[(bucket, key)] = StoredObject(data, content_type, dict(metadata or {}))

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def head_metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        obj = self.objects.get((bucket, key))
        return None if obj is None else dict(obj.metadata)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))
