"""Object storage: the port the cores use, its S3 adapter, the S3/SQS client factories every
process uses, and an in-memory fake for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from picadaily.settings import Settings


class ObjectMissing(Exception):
    """The object does not exist (deleted, or never written)."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    metadata: dict[str, str]


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
    return _aws_client("s3", settings.s3_endpoint, settings, s3={"addressing_style": "path"},
                       retries={"max_attempts": 3, "mode": "standard"},
                       max_pool_connections=32)


def sqs_client(settings: Settings) -> Any:
    """The queue S3 bucket notifications go to (AWS S3, or moto in the tests)."""
    return _aws_client("sqs", settings.sqs_endpoint, settings)


def queue_url(settings: Settings) -> str:
    url: str = sqs_client(settings).get_queue_url(QueueName=settings.sqs_queue)["QueueUrl"]
    return url


class S3ObjectStore:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                       Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        return cls(s3_client(settings))

    def get(self, bucket: str, key: str) -> StoredObject:
        try:
            resp = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.NoSuchKey as exc:
            raise ObjectMissing(f"{bucket}/{key} does not exist") from exc
        return StoredObject(
            data=resp["Body"].read(),
            content_type=resp.get("ContentType", "application/octet-stream"),
            metadata=dict(resp.get("Metadata", {})),
        )

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._s3.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )

    def delete(self, bucket: str, key: str) -> None:
        self._s3.delete_object(Bucket=bucket, Key=key)

    def head_metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        from botocore.exceptions import ClientError

        try:
            resp = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return dict(resp.get("Metadata", {}))


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
