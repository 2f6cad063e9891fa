"""The object calls (GET, PUT, HEAD, DELETE, and listings), as plain signed HTTP.

boto3 costs 1.4-5.5 ms of CPU a call (measured against the local SeaweedFS: HEAD 1.4, PUT of
60 KB 1.9, GET of 2 MB 3.1, PUT of 2 MB 5.5, most of it its request pipeline and the payload's
SHA-256), and a picture makes about nine: the largest cost the stack added to the image work
after the conductor. These are signed with AWS Signature Version 4 (the payload left unsigned,
``UNSIGNED-PAYLOAD``, as S3 allows) and sent on one pooled, thread-safe ``urllib3`` pool per
process. Listings came here too (the reconciler held 22 MB more while its boto3 client lived);
what is left for boto3 (buckets, notifications, SQS) runs only when provisioning or on AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from picadaily.settings import address_list

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# A cluster's store retries a write's volume assignment itself for 30 s, then answers 500
# (SeaweedFS: weed/operation/assign_file_id.go); while its master leader fails over, that is
# what a write gets ("master is warming up, topology is still loading"). So with several
# gateways a call waits longer than that for its answer, and a 5xx is sent again for up to
# twice that: the write gets the store's second try (the cluster drill: the master leader cut
# off, 6 of 60 uploads refused with 30 s, their only answer coming at the budget's end).
GATEWAYS_RETRY_BUDGET_S = 60.0
GATEWAYS_READ_TIMEOUT_S = 40.0
META_PREFIX = "x-amz-meta-"
tracer = trace.get_tracer("picadaily.s3")


class S3Error(Exception):
    """The store answered with an error (worth retrying unless the caller knows better)."""

    def __init__(self, operation: str, status: int, body: bytes) -> None:
        super().__init__(f"S3 {operation} answered {status}: {body[:300]!r}")
        self.status = status


class SigV4:
    """AWS Signature Version 4 for one set of credentials (the day's signing key cached)."""

    def __init__(self, access_key: str, secret_key: str, region: str,
                 service: str = "s3") -> None:
        self.access_key = access_key
        self._secret = secret_key
        self.region = region
        self.service = service
        self._day: tuple[str, bytes] | None = None
        self._lock = threading.Lock()

    def _signing_key(self, day: str) -> bytes:
        with self._lock:
            if self._day is None or self._day[0] != day:
                key = f"AWS4{self._secret}".encode()
                for part in (day, self.region, self.service, "aws4_request"):
                    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
                self._day = (day, key)
            return self._day[1]

    def sign(self, method: str, host: str, path: str, query: str, headers: dict[str, str],
             payload_hash: str = UNSIGNED_PAYLOAD, now: datetime | None = None) -> dict[str, str]:
        """``headers`` plus the ones that make the request signed (every one given is signed).
        ``path`` is already URI-encoded; ``query`` already canonical (sorted, encoded)."""
        now = now or datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        signed = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
        signed.update({"host": host, "x-amz-content-sha256": payload_hash,
                       "x-amz-date": stamp})
        names = sorted(signed)
        canonical = "\n".join([
            method, path, query, "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names), payload_hash])
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(self._signing_key(day), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        out = {**headers, "x-amz-content-sha256": payload_hash, "x-amz-date": stamp}
        out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
        return out


def _never_sent(exc: Exception) -> bool:
    import urllib3

    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError | ConnectionRefusedError)


class _Gateway:
    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint.strip())
        self.host = parts.netloc
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")


class Response:
    def __init__(self, status: int, headers: Any, data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data

    def user_metadata(self) -> dict[str, str]:
        return {k.lower()[len(META_PREFIX):]: v for k, v in self.headers.items()
                if k.lower().startswith(META_PREFIX)}


class S3Objects:
    """Object calls on a path-style S3 endpoint (``http://host:port/bucket/key``), or on any of
    several gateways of one store (``endpoint`` comma-separated: a cluster's). With several, a
    call that cannot reach its gateway (refused, no connection within 1 s) or that its gateway
    answers with a server error (5xx: its filer, a volume server gone) goes to the next gateway,
    round after round, for up to ``GATEWAYS_RETRY_BUDGET_S``, and the calls after it stay there.
    A call sent and not answered (silence, a reset) is not sent again (``_never_sent``).
    The cluster drill measured what that buys (with three volumes per collection): a volume
    server cut off refused 38 of 60 uploads before, 6-11 after; a gateway killed, none."""

    def __init__(self, endpoint: str, signer: SigV4, pool_size: int = 32,
                 timeout_s: float = 30.0) -> None:
        import urllib3

        self._gateways = [_Gateway(url) for url in address_list(endpoint)]
        self._current = 0
        self._signer = signer
        several = len(self._gateways) > 1
        # With another gateway to go to, one that takes no connection is left after 1 s. A call
        # sent is waited for at least as long as with one gateway (30 s; 40 s, past the store's
        # own retries): it is never sent again, so a shorter wait only refused what a gateway
        # slow under load would have stored (make test: 7 of 24 uploads refused after 10 s of
        # silence, beside the drills on two cores).
        self._pool = urllib3.PoolManager(
            maxsize=pool_size, block=False,
            timeout=urllib3.Timeout(connect=1.0 if several else 5.0,
                                    read=max(timeout_s, GATEWAYS_READ_TIMEOUT_S) if several
                                    else timeout_s),
            retries=urllib3.Retry(total=0 if several else 2, connect=0 if several else 2,
                                  read=0, status=0, redirect=0, allowed_methods=None,
                                  raise_on_status=False))

    def request(self, operation: str, method: str, bucket: str, key: str,
                body: bytes | None = None, headers: dict[str, str] | None = None,
                query: dict[str, str] | None = None) -> Response:
        """``key`` "" addresses the bucket itself (a listing)."""
        import urllib3

        # the canonical query: names sorted, names and values encoded (a "/" too)
        canonical = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                             for k, v in sorted((query or {}).items()))
        several = len(self._gateways) > 1
        deadline = time.monotonic() + GATEWAYS_RETRY_BUDGET_S
        with tracer.start_as_current_span(
                f"S3.{operation}", kind=SpanKind.CLIENT,
                attributes={"rpc.system": "aws-api", "rpc.service": "S3",
                            "rpc.method": operation, "aws.s3.bucket": bucket}):
            for attempt in itertools.count():
                at = self._current
                gateway = self._gateways[at]
                path = f"{gateway.prefix}/{quote(bucket, safe='')}" + \
                    (f"/{quote(key, safe='/~')}" if key else "")
                signed = self._signer.sign(method, gateway.host, path, canonical,
                                           headers or {})
                url = gateway.origin + path + (f"?{canonical}" if canonical else "")
                try:
                    resp = self._pool.request(method, url, body=body, headers=signed,
                                              preload_content=True, redirect=False)
                except urllib3.exceptions.HTTPError as exc:
                    # Only a call that never reached its gateway is sent again: one sent and
                    # not answered may still land, later than a deletion that came after it
                    # (the cluster drill: a PUT sent again after 10 s of silence, its first copy
                    # written 4 s after the picture's deletion, brought the picture back).
                    if not several or time.monotonic() > deadline or not _never_sent(exc):
                        raise
                else:
                    if resp.status < 500 or not several or time.monotonic() > deadline:
                        return Response(resp.status, resp.headers, resp.data)
                self._current = (at + 1) % len(self._gateways)  # the next gateway
                if (attempt + 1) % len(self._gateways) == 0:  # a round: none answered
                    time.sleep(min(2.0, 0.2 * 2 ** (attempt // len(self._gateways))))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.clear()
