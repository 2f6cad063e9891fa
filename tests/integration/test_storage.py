"""The object calls every picture makes (signed plain HTTP, ``picadaily.s3_objects``) against the
real SeaweedFS: what boto3 writes they read and the other way round, keys and user metadata of
every shape, a missing object, and a store that is not there."""

from __future__ import annotations

import pytest

from cli.ports import free_port
from picadaily.settings import Settings
from picadaily.storage import ObjectMissing, S3ObjectStore, s3_client

KEYS = ["originals/01JABCDEFGH", "a key with spaces/and+plus&amp=equals", "é/ü/日本.jpg",
        "tilde~and%percent"]


@pytest.mark.parametrize("key", KEYS)
def test_what_is_put_is_got_back_with_its_metadata_by_either_client(
        provisioned: Settings, key: str) -> None:
    store = S3ObjectStore.from_settings(provisioned)
    boto = s3_client(provisioned)
    bucket = provisioned.pictures_bucket
    data = bytes(range(256)) * 1000
    metadata = {"filename": "caf%C3%A9%20%281%29.jpg", "mode": "choreography"}
    store.put(bucket, key, data, "image/png", metadata)
    got = store.get(bucket, key)
    assert (got.data, got.content_type, got.metadata) == (data, "image/png", metadata)
    assert store.head_metadata(bucket, key) == metadata
    head = store.head(bucket, key)
    assert head is not None and (head.key, head.size, head.content_type, head.metadata) == (
        key, len(data), "image/png", metadata)
    listed = {o.key: o for o in store.list_objects(bucket, key.split("/")[0])}
    assert (listed[key].size, listed[key].etag, listed[key].modified) == (
        head.size, head.etag, head.modified)
    by_boto = boto.get_object(Bucket=bucket, Key=key)
    assert by_boto["Body"].read() == data and by_boto["Metadata"] == metadata
    assert key in store.list_keys(bucket, key.split("/")[0])

    boto.put_object(Bucket=bucket, Key=key, Body=b"by boto3", ContentType="image/jpeg",
                    Metadata={"picture-id": "p1"})
    assert store.get(bucket, key).metadata == {"picture-id": "p1"}

    store.delete(bucket, key)
    store.delete(bucket, key)  # deleting what is gone is fine
    assert store.head_metadata(bucket, key) is None and store.head(bucket, key) is None
    with pytest.raises(ObjectMissing, match="does not exist"):
        store.get(bucket, key)


def test_a_store_that_is_not_there_raises_a_connection_error(provisioned: Settings) -> None:
    gone = provisioned.model_copy(update={"s3_endpoint": f"http://127.0.0.1:{free_port()}"})
    store = S3ObjectStore.from_settings(gone)
    with pytest.raises(Exception, match=r"(?i)connect") as info:
        store.get(provisioned.pictures_bucket, "anything")
    assert not isinstance(info.value, ObjectMissing)  # retryable, not "missing"


def test_a_listing_goes_on_page_after_page(provisioned: Settings) -> None:
    store = S3ObjectStore.from_settings(provisioned)
    bucket = provisioned.pictures_bucket
    keys = [f"listing/{n:02d} é+~" for n in range(7)]
    for key in keys:
        store.put(bucket, key, b"x", "image/jpeg")
    store.put(bucket, "listing-other/not this", b"x", "image/jpeg")
    assert [o.key for o in store.list_objects(bucket, "listing/", page_size=3)] == keys
    assert store.list_keys(bucket, "nothing/") == []


def test_a_call_goes_on_to_the_next_gateway_when_one_is_gone(provisioned: Settings) -> None:
    """A cluster's gateways, the first of them not there: every call reaches the store through
    the second, and later calls stay there."""
    dead = f"http://127.0.0.1:{free_port()}"
    both = provisioned.model_copy(update={"s3_endpoint": f"{dead},{provisioned.s3_endpoint}"})
    store = S3ObjectStore.from_settings(both)
    bucket = provisioned.pictures_bucket
    store.put(bucket, "gateways/one", b"x", "image/jpeg")
    assert store.get(bucket, "gateways/one").data == b"x"
    assert store.list_keys(bucket, "gateways/") == ["gateways/one"]
    store.delete(bucket, "gateways/one")
    assert store.head(bucket, "gateways/one") is None
