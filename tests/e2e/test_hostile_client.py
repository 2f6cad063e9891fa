"""What a hostile web client tried that the stack now answers plainly: a reused
``Idempotency-Key`` with another body, more live streams than one client needs, a broken value in
a list filter, a file name too long to keep."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from frontend.routes.live import MAX_LIVE_PER_CLIENT
from harness.stack import RunningStack
from picadaily.drills import sample_jpeg

pytestmark = pytest.mark.e2e


def _upload(api: httpx.Client, body: bytes, key: str, name: str = "a.jpg") -> httpx.Response:
    return api.post("/api/pictures", headers={"Idempotency-Key": key},
                    files=[("pictures", (name, body, "image/jpeg"))])


def test_a_key_reused_with_another_body_is_refused_and_says_so(api: httpx.Client) -> None:
    first = _upload(api, sample_jpeg(11), "key-reused-1")
    assert first.status_code == 202
    assert _upload(api, sample_jpeg(11), "key-reused-1").json() == first.json()  # a retry
    other = _upload(api, sample_jpeg(12), "key-reused-1")
    assert other.status_code == 422 and "another upload" in other.json()["error"]
    # a refused upload's key, corrected: another body, so another key is needed (never the old
    # answer replayed as if it were this one's)
    refused = _upload(api, b"not an image", "key-reused-2")
    assert refused.status_code == 422
    corrected = _upload(api, sample_jpeg(13), "key-reused-2")
    assert corrected.status_code == 422 and "another upload" in corrected.json()["error"]


def test_one_client_cannot_take_every_live_stream(stack: RunningStack) -> None:
    with contextlib.ExitStack() as streams, httpx.Client(
            base_url=stack.url, timeout=30,
            limits=httpx.Limits(max_connections=MAX_LIVE_PER_CLIENT + 5)) as client:
        for _ in range(MAX_LIVE_PER_CLIENT):
            resp = streams.enter_context(client.stream("GET", "/api/events"))
            assert resp.status_code == 200
        one_more = client.get("/api/events")
        assert one_more.status_code == 429 and "live connections" in one_more.json()["error"]
    with httpx.Client(base_url=stack.url, timeout=30) as client, \
            client.stream("GET", "/api/events") as again:
        assert again.status_code == 200  # closed streams are given back


@pytest.mark.parametrize("query", [{"mode": "bogus"}, {"status": "bogus"},
                                   {"limit": "0"}, {"label": "x" * 201}])
def test_a_bad_list_filter_is_a_422_with_its_reason(api: httpx.Client,
                                                   query: dict[str, str]) -> None:
    resp = api.get("/api/pictures", params=query)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]


def test_a_file_name_too_long_is_refused_with_the_reason(api: httpx.Client) -> None:
    resp = api.post("/api/pictures",
                    files=[("pictures", ("x" * 5000 + ".jpg", sample_jpeg(5), "image/jpeg"))])
    assert resp.status_code in (400, 413, 422), resp.text
    assert "name" in resp.json()["error"]
