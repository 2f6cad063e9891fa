"""End to end: the stack runner starts everything; photos go through the public API."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from harness.stack import RunningStack
from picadaily.steps import PIPELINE
from picadaily.storage import s3_client
from tests.conftest import photos
from tests.e2e.client import upload, wait_final
from tests.e2e.conftest import MAX_UPLOAD

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


def test_every_good_photo_ends_done_with_an_upright_thumbnail_and_a_colour(
    api: httpx.Client,
) -> None:
    good = photos("good")
    t0 = time.monotonic()
    resp = upload(api, good)
    assert resp.status_code == 202, resp.text
    accepted = resp.json()["accepted"]
    assert [a["name"] for a in accepted] == [p.name for p in good]
    docs = wait_final(api, [a["id"] for a in accepted])
    log.info("%d photos done in %.2f s", len(good), time.monotonic() - t0)

    for item in accepted:
        doc = docs[item["id"]]
        assert doc["status"] == "done", (item["name"], doc["error"])
        assert doc["mode"] == "orchestration"
        assert doc["original_name"] == item["name"]
        assert doc["colours"], item["name"]
        assert doc["labels"] is not None and doc["safety"]["judged"] == ["adult"]
        assert doc["notes"] == []
        thumb = api.get(doc["thumbnail_url"])
        assert thumb.status_code == 200
        with Image.open(io.BytesIO(thumb.content)) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert max(image.size) <= 400
            assert (image.width, image.height) == (doc["thumbnail"]["width"],
                                                   doc["thumbnail"]["height"])
        assert api.get(doc["image_url"]).content == (next(
            p for p in good if p.name == item["name"])).read_bytes()
        steps = [t["step"] for t in doc["timeline"] if t["outcome"] == "ok"]
        assert steps == list(PIPELINE)

    coffee = next(docs[a["id"]] for a in accepted if a["name"] == "coffee.png")
    assert {"coffee", "drink"} <= {label["name"] for label in coffee["labels"]}
    by_label = api.get("/api/pictures", params={"label": "coffee", "limit": 50}).json()
    assert {p["original_name"] for p in by_label["pictures"]} == {
        "coffee.png", "coffee_cmyk.jpg", "coffee_progressive.jpg"}
    rotated = next(docs[a["id"]] for a in accepted if a["name"] == "chelsea_exif_rotated.jpg")
    assert rotated["thumbnail"]["width"] > rotated["thumbnail"]["height"], "not upright"
    hubble = next(docs[a["id"]] for a in accepted if a["name"] == "hubble_deep_field.jpg")
    first = hubble["colours"][0]
    assert first["red"] + first["green"] + first["blue"] < 3 * 60, "the hubble photo is dark"


def test_the_collage_holds_the_newest_four_done_pictures(api: httpx.Client) -> None:
    done = api.get("/api/pictures", params={"status": "done", "limit": 4}).json()["pictures"]
    resp = api.get("/api/collage")
    assert resp.status_code == 200
    assert resp.headers["x-picadaily-collage-pictures"].split(",") == [p["id"] for p in done]
    with Image.open(io.BytesIO(resp.content)) as image:
        assert image.size == (800, 800)


def _broken_files(tmp: Path) -> list[Path]:
    """The shared bad files plus more of the same classes."""
    made = {
        "page.html.jpg": b"<!doctype html><html><body>not a picture</body></html>",
        "header_only.png": b"\x89PNG\r\n\x1a\n",
        "document.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\n",
        "zeros.gif": bytes(2048),
    }
    paths = []
    for name, data in made.items():
        (tmp / name).write_bytes(data)
        paths.append(tmp / name)
    half = tmp / "half_coffee.png"
    half.write_bytes((photos("good")[0].parent / "coffee.png").read_bytes()[:60_000])
    paths.append(half)
    return photos("bad") + paths


def test_every_bad_file_is_refused_or_failed_with_a_reason_and_nothing_else_changes(
    api: httpx.Client, tmp_path: Path,
) -> None:
    before = api.get("/api/pictures", params={"limit": 100}).json()["pictures"]
    collage_before = api.get("/api/collage").headers["x-picadaily-collage-pictures"]
    failed_ids = []
    for path in _broken_files(tmp_path):
        resp = upload(api, [path])
        if resp.status_code == 202:
            failed_ids.append(resp.json()["accepted"][0]["id"])
            continue
        assert 400 <= resp.status_code < 500, (path.name, resp.status_code)
        body = resp.json()
        assert body["refused"][0]["reason"], path.name
        assert path.name in body["error"]
    for picture_id, doc in wait_final(api, failed_ids).items():
        assert doc["status"] == "failed", picture_id
        assert doc["error"] and "analyse_image" in doc["error"]
        assert doc["thumbnail"] is None

    after = api.get("/api/pictures", params={"limit": 100}).json()["pictures"]
    unchanged = {p["id"]: (p["status"], p["thumbnail"]) for p in before}
    assert {p["id"]: (p["status"], p["thumbnail"]) for p in after if p["id"] in unchanged} \
        == unchanged
    assert len(after) == len(before) + len(failed_ids)
    assert api.get("/api/collage").headers["x-picadaily-collage-pictures"] == collage_before


def test_upload_requests_that_are_wrong_as_a_whole_get_a_reason(api: httpx.Client) -> None:
    coffee = photos("good")[0].parent / "coffee.png"
    wrong_field = api.post("/api/pictures", files=[("file", ("c.png", coffee.read_bytes()))])
    assert wrong_field.status_code == 400
    assert "'pictures'" in wrong_field.json()["error"]
    fine = upload(api, [coffee], mode="orchestration")  # the same file, sent right, is accepted
    assert fine.status_code == 202
    big = api.post("/api/pictures", files=[("pictures", ("big.jpg", b"\xff" * (MAX_UPLOAD + 1)))])
    assert big.status_code == 413
    assert "too large" in big.json()["error"]
    bad_mode = upload(api, [coffee], mode="telepathy")
    assert bad_mode.status_code == 422 and "mode" in bad_mode.json()["error"]


def test_a_paging_cursor_this_server_did_not_give_out_gets_a_sentence(api: httpx.Client) -> None:
    resp = api.get("/api/pictures", params={"cursor": "garbage"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "the paging cursor is not one this server gave out; "
                                    "start again without it"}


def test_an_object_put_as_a_web_page_is_never_served_and_every_page_forbids_sniffing(
    api: httpx.Client, stack: RunningStack,
) -> None:
    settings = stack.settings()
    page = b"<html><script>alert(document.cookie)</script></html>"
    s3_client(settings).put_object(Bucket=settings.pictures_bucket, Key="evil-page",
                                   Body=page, ContentType="text/html")
    doc = wait_final(api, ["evil-page"])["evil-page"]
    assert doc["status"] == "failed" and doc["image_url"] is None
    resp = api.get("/api/pictures/evil-page/image")
    assert resp.status_code == 403 and "text/html" not in resp.headers["content-type"]
    for path in ("/", "/api/pictures", "/api/pictures/evil-page/image", "/static/app.js"):
        headers = api.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "script-src 'self'" in headers["content-security-policy"], path


def test_a_script_put_under_a_thumbnail_or_the_collage_key_is_never_served(
    api: httpx.Client, stack: RunningStack,
) -> None:
    """Whoever can write the thumbnails bucket (a component's key, a leak) cannot make our
    origin serve a page or a script: those routes serve a JPEG of our own making or nothing,
    and every stored byte is sandboxed."""
    from picadaily.layout import COLLAGE_KEY, thumbnail_key

    coffee = next(p for p in photos("good") if p.name == "coffee.png")
    [accepted] = upload(api, [coffee]).json()["accepted"]
    doc = wait_final(api, [accepted["id"]])[accepted["id"]]
    for route in (doc["image_url"], doc["thumbnail_url"], "/api/collage"):
        shown = api.get(route)
        assert shown.status_code == 200 and shown.headers["content-type"].startswith("image/")
        assert shown.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert shown.headers["content-disposition"].startswith("inline; filename=")
    settings = stack.settings()
    s3 = s3_client(settings)
    for key, body, kind in ((thumbnail_key(accepted["id"]), b"<html><script src=/x></script>",
                             "text/html"),
                            (COLLAGE_KEY, b"fetch('/api/mode',{method:'PUT'})",
                             "application/javascript")):
        s3.put_object(Bucket=settings.thumbnails_bucket, Key=key, Body=body, ContentType=kind)
    for route in (doc["thumbnail_url"], "/api/collage"):
        resp = api.get(route)
        assert resp.status_code == 403, route
        assert "html" not in resp.headers["content-type"]
        assert "javascript" not in resp.headers["content-type"]


def test_a_picture_is_shown_only_once_it_is_done(api: httpx.Client) -> None:
    coffee = next(p for p in photos("good") if p.name == "coffee.png")
    [accepted] = upload(api, [coffee]).json()["accepted"]
    early = api.get(f"/api/pictures/{accepted['id']}/image")
    status_after = api.get(f"/api/pictures/{accepted['id']}").json()["status"]
    # Served only if it was done by then (done is final, so it is still done after).
    assert early.status_code == 403 or (early.status_code == 200 and status_after == "done")
    doc = wait_final(api, [accepted["id"]])[accepted["id"]]
    shown = api.get(doc["image_url"])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"


def test_ids_the_project_never_issues_are_404_at_the_edge(api: httpx.Client) -> None:
    for bad in ("a b", "x" * 300, "%00", "-leading-dash", "caf%C3%A9"):
        resp = api.get(f"/api/pictures/{bad}")
        assert resp.status_code == 404, bad
        assert resp.json() == {"error": "there is no picture with that id"}, bad


def test_an_unknown_address_answers_in_the_same_error_shape(api: httpx.Client) -> None:
    resp = api.get("/api/nothing-here")
    assert resp.status_code == 404 and resp.json() == {"error": "Not Found"}
