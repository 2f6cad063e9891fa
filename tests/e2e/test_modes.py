"""Both architectures in the running stack: same photos, same outcomes; flipping the mode while
uploading; deletion through garbage collection in both modes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from harness.stack import RunningStack
from picadaily.steps import FINAL_STATUSES
from picadaily.storage import s3_client
from tests.conftest import photos
from tests.e2e.client import upload, wait_final, wait_gone

pytestmark = pytest.mark.e2e
MODES = ("orchestration", "choreography")


def outcome(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal in both modes, apart from ids and times."""
    return (doc["status"], doc["error"], tuple(sorted(x["name"] for x in doc["labels"] or [])),
            tuple((c["red"], c["green"], c["blue"]) for c in doc["colours"] or []),
            doc["thumbnail"], doc["safety"])


def test_both_modes_give_the_same_outcomes_on_the_same_photos(api: httpx.Client) -> None:
    good = photos("good")
    results: dict[str, dict[str, Any]] = {}
    collages: dict[str, list[str]] = {}
    for mode in MODES:
        resp = upload(api, good, mode=mode)
        assert resp.status_code == 202, resp.text
        accepted = resp.json()["accepted"]
        docs = wait_final(api, [a["id"] for a in accepted])
        assert all(d["mode"] == mode for d in docs.values())
        results[mode] = {a["name"]: outcome(docs[a["id"]]) for a in accepted}
        names = {a["id"]: a["name"] for a in accepted}
        members = api.get("/api/collage").headers["x-picadaily-collage-pictures"].split(",")
        collages[mode] = [names[m] for m in members]
    differ = {name: (results["orchestration"][name], results["choreography"][name])
              for name in results["orchestration"]
              if results["orchestration"][name] != results["choreography"][name]}
    assert not differ
    assert all(o[0] == "done" for o in results["choreography"].values())
    assert collages["orchestration"] == collages["choreography"]
    assert collages["choreography"] == [p.name for p in good][::-1][:4]


def test_a_broken_picture_fails_with_the_same_reason_in_both_modes(api: httpx.Client,
                                                                    tmp_path: Any) -> None:
    broken = tmp_path / "half.png"
    coffee = next(p for p in photos("good") if p.name == "coffee.png")
    broken.write_bytes(coffee.read_bytes()[:60_000])
    reasons = {}
    for mode in MODES:
        [accepted] = upload(api, [broken], mode=mode).json()["accepted"]
        doc = wait_final(api, [accepted["id"]])[accepted["id"]]
        assert doc["status"] == "failed" and doc["mode"] == mode
        assert doc["thumbnail"] is None
        reasons[mode] = doc["error"]
    assert reasons["orchestration"] == reasons["choreography"]
    assert reasons["choreography"].startswith("analyse_image failed: the image data is damaged")


def test_flipping_the_mode_during_a_burst_strands_no_picture(api: httpx.Client) -> None:
    few = photos("good")[:4]
    ids = []
    for i in range(4):
        flipped = api.put("/api/mode", json={"mode": MODES[i % 2]})
        assert flipped.status_code == 200 and flipped.json()["mode"] == MODES[i % 2]
        ids += [a["id"] for a in upload(api, few).json()["accepted"]]
    docs = wait_final(api, ids)
    assert {d["status"] for d in docs.values()} == {"done"}
    assert {d["mode"] for d in docs.values()} == set(MODES)
    assert api.get("/api/mode").json()["mode"] == "choreography"
    api.put("/api/mode", json={"mode": "orchestration"})


@pytest.mark.parametrize("mode", MODES)
def test_deleting_a_picture_leaves_no_thumbnail_no_document_and_no_collage_place(
    api: httpx.Client, mode: str,
) -> None:
    coffee = next(p for p in photos("good") if p.name == "coffee.png")
    [accepted] = upload(api, [coffee], mode=mode).json()["accepted"]
    picture_id = accepted["id"]
    assert wait_final(api, [picture_id])[picture_id]["status"] == "done"
    members = api.get("/api/collage").headers["x-picadaily-collage-pictures"].split(",")
    assert members[0] == picture_id

    resp = api.delete(f"/api/pictures/{picture_id}")
    assert resp.status_code == 202
    wait_gone(api, picture_id)
    assert api.get(f"/api/pictures/{picture_id}/thumbnail").status_code == 404
    assert api.get(f"/api/pictures/{picture_id}/image").status_code == 404
    assert api.delete(f"/api/pictures/{picture_id}").status_code == 404


def test_dead_letters_can_be_listed(api: httpx.Client) -> None:
    resp = api.get("/api/dead-letters")
    assert resp.status_code == 200 and resp.json()["dead_letters"] == []
    assert api.post("/api/dead-letters/999999/redrive").status_code == 404


@pytest.mark.parametrize("mode", MODES)
def test_an_overwritten_original_is_processed_again_as_a_new_version(
    api: httpx.Client, stack: RunningStack, mode: str,
) -> None:
    """Other bytes put under a done picture's key are judged again (version 2: its own workflow
    run, its own analysis and thumbnail); the old verdict never covers them."""
    good = {p.name: p for p in photos("good")}
    [accepted] = upload(api, [good["coffee.png"]], mode=mode).json()["accepted"]
    picture_id = accepted["id"]
    first = wait_final(api, [picture_id])[picture_id]
    assert (first["status"], first["version"]) == ("done", 1)

    settings = stack.settings()
    s3_client(settings).put_object(Bucket=settings.pictures_bucket, Key=picture_id,
                                   Body=good["chelsea_exif_rotated.jpg"].read_bytes(),
                                   ContentType="image/jpeg",
                                   Metadata={"mode": mode, "filename": "chelsea_exif_rotated.jpg"})
    second = wait_version(api, picture_id, 2)
    assert second["status"] == "done" and second["mode"] == mode
    assert second["original_name"] == "chelsea_exif_rotated.jpg"  # the new bytes' own name
    assert second["thumbnail"] != first["thumbnail"]  # made from the new bytes
    assert second["colours"] != first["colours"]
    assert [e["step"] for e in second["timeline"] if e["outcome"] == "ok"].count(
        "analyse_image") == 1  # the first version's timeline went with it
    assert api.get(second["image_url"]).headers["content-type"] == "image/jpeg"
    if mode == "orchestration":
        assert second["workflow_url"].endswith(f"/workflows/picture-{picture_id}-v2")


def wait_version(api: httpx.Client, picture_id: str, version: int,
                 timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = api.get(f"/api/pictures/{picture_id}").json()
        if doc.get("version") == version and doc["status"] in FINAL_STATUSES:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"{picture_id} did not reach a final version {version}: {doc}")
