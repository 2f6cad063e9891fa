"""Nobody gets in by a side door: a local client without the stack's credentials, on loopback
beside the running stack, tries every inner door the public API does not open — the object
store's S3, filer, volume server and master, NATS, the services' own routes, the trace store and
the runner's control endpoint — and changes nothing. (Temporal's dev server has no authorisation
of its own: see ``test_temporal``'s run ended from outside.)"""

from __future__ import annotations

import json
import socket

import grpc
import httpx
import pytest

from functions.seaweedfs import filer_pb2
from functions.seaweedfs.source import SUBSCRIBE
from harness.stack import RunningStack
from infra import seaweedfs
from picadaily.drills import sample_jpeg
from picadaily.settings import Settings

from .client import wait_final

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def picture(api: httpx.Client) -> str:
    """A picture whose original exists (done, so its document is complete)."""
    resp = api.post("/api/pictures", files=[("pictures", ("door.jpg", sample_jpeg(90),
                                                          "image/jpeg"))])
    assert resp.status_code == 202, resp.text
    picture_id: str = resp.json()["accepted"][0]["id"]
    assert wait_final(api, [picture_id])[picture_id]["status"] == "done"
    return picture_id


def _settings(stack: RunningStack) -> Settings:
    return stack.settings()


def test_the_store_takes_no_anonymous_or_unknown_s3_caller(
        stack: RunningStack, api: httpx.Client, picture: str) -> None:
    s3 = _settings(stack).s3_endpoint
    assert httpx.get(f"{s3}/pictures/{picture}").status_code == 403
    assert httpx.get(f"{s3}/pictures?list-type=2").status_code == 403
    assert httpx.delete(f"{s3}/pictures/{picture}").status_code == 403
    assert httpx.put(f"{s3}/thumbnails/thumbnails/{picture}.jpg", content=b"<html>",
                     headers={"Content-Type": "text/html"}).status_code == 403
    forged = httpx.get(f"{s3}/pictures/{picture}", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=picadaily/20261201/us-east-1/s3/"
                         "aws4_request, SignedHeaders=host, Signature=" + "0" * 64})
    assert forged.status_code in (400, 403)  # (a malformed signature: 400)
    assert api.get(f"/api/pictures/{picture}/image").status_code == 200  # still there


def test_each_component_key_does_only_its_part(stack: RunningStack, picture: str) -> None:
    """The keys the runner made (``seaweedfs.S3_RIGHTS``): vision reads originals and writes
    nothing; the thumbnails service cannot touch an original."""
    import json

    from picadaily.storage import S3ObjectStore

    settings = _settings(stack)
    identities = json.loads((settings.secrets_dir() / "s3-identities.json").read_text())
    keys = {i["name"]: i["credentials"][0] for i in identities["identities"]}

    def store(name: str) -> S3ObjectStore:
        key = keys[name]
        return S3ObjectStore.from_settings(settings.model_copy(update={
            "s3_access_key": key["accessKey"], "s3_secret_key": key["secretKey"]}))

    from picadaily.s3_objects import S3Error

    assert store("vision").get(settings.pictures_bucket, picture).data
    with pytest.raises(S3Error, match="AccessDenied"):
        store("vision").delete(settings.pictures_bucket, picture)
    with pytest.raises(S3Error, match="AccessDenied"):
        store("thumbnails").put(settings.pictures_bucket, picture, b"x", "image/jpeg")
    with pytest.raises(S3Error, match="AccessDenied"):
        store("collage").get(settings.pictures_bucket, picture)


def test_the_store_parts_behind_s3_take_no_caller_without_the_runs_credentials(
        stack: RunningStack, picture: str) -> None:
    settings = _settings(stack)
    p = seaweedfs.ports(settings)
    master, volume, filer = (f"http://127.0.0.1:{p[k]}" for k in ("master", "volume", "filer"))
    # The master's and the filer's HTTP APIs are off (the master's port serves its status page)
    for url in (f"{master}/dir/assign", f"{master}/col/delete?collection=pictures",
                f"{master}/vol/grow?collection=pictures", f"{filer}/buckets/pictures/{picture}"):
        assert _status(url) in (404, None), url
    assert _status(f"{filer}/buckets/pictures/{picture}", "DELETE") in (404, None)
    # the volume server writes and deletes only with a JWT the master signed
    for method in ("POST", "PUT", "DELETE"):
        assert _status(f"{volume}/1,01637037d6", method) == 401
    # gRPC is mutual TLS: neither a plain client nor one without the run's certificate gets in
    for credentials in (None, grpc.ssl_channel_credentials(
            (settings.storage_tls_dir() / "ca.crt").read_bytes())):
        with pytest.raises(grpc.RpcError):
            _subscribe(settings.seaweedfs_filer_grpc, credentials)


def _status(url: str, method: str = "GET") -> int | None:
    try:
        return httpx.request(method, url, content=b"x", timeout=5).status_code
    except httpx.TransportError:
        return None  # not listening at all


def _subscribe(address: str, credentials: grpc.ChannelCredentials | None) -> None:
    channel = grpc.secure_channel(address, credentials) if credentials else \
        grpc.insecure_channel(address)
    with channel:
        call = channel.unary_stream(
            SUBSCRIBE, request_serializer=filer_pb2.SubscribeMetadataRequest.SerializeToString,
            response_deserializer=filer_pb2.SubscribeMetadataResponse.FromString)
        next(iter(call(filer_pb2.SubscribeMetadataRequest(
            client_name="intruder", path_prefix="/buckets/", since_ns=0), timeout=3)))


def test_nats_takes_no_client_without_its_users_password(stack: RunningStack) -> None:
    """So nobody publishes a review decision, a deletion or the mode key from outside. Spoken
    as the protocol itself: CONNECT, then PING; the server answers -ERR and hangs up."""
    address = Settings(port=stack.port).nats_url.split("://", 1)[1]  # the address, no user
    host, port = address.rsplit(":", 1)
    for credentials in ({}, {"user": "frontend", "pass": "guess"},
                        {"user": "admin", "pass": "admin"}):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            reader = conn.makefile("rb")
            assert reader.readline().startswith(b"INFO ")
            connect = {"verbose": False, "pedantic": False, "protocol": 1, **credentials}
            conn.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
                         b"PUB picadaily.picture.review_decided 2\r\n{}\r\nPING\r\n")
            answer = reader.readline()
            assert answer.startswith(b"-ERR") and b"Authorization" in answer, answer


@pytest.mark.parametrize(("method", "service", "path", "body"), [
    ("DELETE", "metadata", "/pictures/{id}", None),
    ("GET", "metadata", "/pictures/{id}", None),
    ("PUT", "metadata", "/pictures/{id}/status", {"status": "done"}),
    ("POST", "vision", "/admin/faults", {"step": "analyse_image"}),
    ("DELETE", "thumbnails", "/thumbnails/{id}", None),
    ("POST", "collage", "/admin/faults", {"step": "update_collage"}),
    ("POST", "exif", "/admin/faults", {"step": "extract_exif"}),
    ("GET", "traces", "/pictures/{id}/traces", None),
    ("POST", "traces", "/v1/traces", None),
])
def test_the_services_take_calls_only_from_the_stack(
        stack: RunningStack, api: httpx.Client, picture: str, method: str, service: str,
        path: str, body: dict[str, object] | None) -> None:
    base = getattr(_settings(stack), f"{service}_url")
    refused = httpx.request(method, base + path.format(id=picture), json=body)
    assert refused.status_code == 401, refused.text
    assert "internal" in refused.json()["error"]
    assert httpx.get(f"{base}/healthz").status_code == 200  # health stays open
    assert api.get(f"/api/pictures/{picture}").json()["status"] == "done"  # nothing changed


def test_the_runners_control_endpoint_takes_calls_only_from_the_stack(
        stack: RunningStack, api: httpx.Client) -> None:
    control = _settings(stack).lab_control_url
    assert httpx.get(f"{control}/processes").status_code == 401
    assert httpx.post(f"{control}/processes/collage/stop").status_code == 401
    assert httpx.post(f"{control}/processes/collage/kill").status_code == 401
    states = {p["name"]: p["state"] for p in api.get("/api/stack").json()["processes"]}
    assert states["collage"] == "running"
