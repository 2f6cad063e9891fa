"""Two stacks on one machine at the same time, told apart by nothing but their home and their
port (every other port derives from it): each finishes its own picture, neither sees the
other's, nothing of theirs is written to ``/tmp``, and a stopped stack leaves no socket, temporary
file or credential behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from cli.stack_process import RunningStack
from picadaily.imaging import sample_jpeg
from picadaily.storage import S3ObjectStore

from .client import wait_final

pytestmark = pytest.mark.e2e
TMP = Path(tempfile.gettempdir())
# What the test run itself keeps in /tmp (pytest's folders) is not the stacks'.
NOT_THEIRS = ("pytest-of-",)


def _tmp_entries() -> set[str]:
    return {p.name for p in TMP.iterdir() if not p.name.startswith(NOT_THEIRS)}


def _upload(api: httpx.Client, name: str) -> str:
    resp = api.post("/api/pictures", files=[("pictures", (name, sample_jpeg(len(name) * 20),
                                                          "image/jpeg"))])
    assert resp.status_code == 202, resp.text
    picture_id: str = resp.json()["accepted"][0]["id"]
    return picture_id


def test_two_stacks_side_by_side_share_nothing(
        stack: RunningStack, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> None:
    before = _tmp_entries()
    other = RunningStack(tmp_path_factory.mktemp("second-stack") / "home").start()
    try:
        assert other.port != stack.port
        with other.client() as other_api:
            mine, theirs = _upload(api, "first.jpg"), _upload(other_api, "second.jpg")
            assert wait_final(api, [mine])[mine]["status"] == "done"
            assert wait_final(other_api, [theirs])[theirs]["status"] == "done"
            # each store holds its own picture only
            for running, own, foreign in ((stack, mine, theirs), (other, theirs, mine)):
                settings = running.settings()
                keys = set(S3ObjectStore.from_settings(settings).list_keys(
                    settings.pictures_bucket, ""))
                assert own in keys and foreign not in keys
            assert other_api.get(f"/api/pictures/{mine}").status_code == 404
            assert api.get(f"/api/pictures/{theirs}").status_code == 404
        new = _tmp_entries() - before
        assert not new, f"the stacks wrote to {TMP}: {sorted(new)}"
        assert not [p for p in TMP.iterdir() if p.name.startswith(("seaweedfs-", "weed."))]
    finally:
        assert other.stop() == 0
    home = other.home
    for leftover in (home / "tmp", home / "storage" / "sockets", home / "secrets"):
        assert not leftover.exists(), f"{leftover} is left after the stack stopped"
    assert list((home / "storage").iterdir())  # the data stays
    assert (home.stat().st_mode & 0o077) == 0, "the home is for its user only"
