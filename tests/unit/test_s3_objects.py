"""The object calls' signature (AWS Signature Version 4) agrees with botocore's own signer, for
every kind of request the stores make: a local SeaweedFS does not check signatures, AWS and MinIO
do. (The calls themselves run against the real SeaweedFS in tests/integration/test_storage.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from picadaily.s3_objects import UNSIGNED_PAYLOAD, SigV4

NOW = datetime(2026, 11, 26, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(("method", "key", "headers"), [
    ("GET", "originals/01JABCDEF", {}),
    ("HEAD", "collage.jpg", {}),
    ("DELETE", "thumbnails/01JABCDEF.jpg", {}),
    ("PUT", "originals/a key with spaces/é~ü.jpg",
     {"Content-Type": "image/jpeg", "x-amz-meta-filename": "caf%C3%A9%20%281%29.jpg",
      "x-amz-meta-mode": "choreography", "x-amz-meta-traceparent":
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
])
def test_the_signature_is_botocore_s(method: str, key: str, headers: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
    path = f"/pictures/{quote(key, safe='/~')}"
    reference = AWSRequest(method=method, url=f"https://127.0.0.1:8333{path}",
                           headers={**headers, "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD},
                           data=b"x" if method == "PUT" else None)
    # (botocore leaves a payload unsigned only over TLS, when told; the signing is the same)
    reference.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials("picadaily", "s3cr3t/key+"), "s3", "eu-west-3").add_auth(reference)

    ours = SigV4("picadaily", "s3cr3t/key+", "eu-west-3").sign(
        method, "127.0.0.1:8333", path, "", headers, now=NOW)
    assert ours["Authorization"] == reference.headers["Authorization"]
    assert ours["x-amz-date"] == reference.headers["X-Amz-Date"] == "20261126T030405Z"
