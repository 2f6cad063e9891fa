"""Orchestration, local first: the timeline entries of a picture's local steps travel with its
final status instead of a request each (bench.requests: 6 timeline requests per picture before).

A local step that succeeded holds its entry here, in the worker that runs the picture's
workflow (local activities run there); ``finish_picture`` sends them with the final status. An
error, an ordinary activity (it may run in another worker) and a picture starting to wait for a
review send what is held at once, with their own entry, in one request.

Held in memory, so: a worker killed before the workflow task that ran these local steps
completed loses nothing that matters — the new worker replays the task, runs the local steps
again and holds their entries again. Only a workflow task completed in the middle of the steps
(the SDK does so after ~8 s of local work) can take held entries down with the worker: the
picture still ends as it should; its timeline then misses those steps' entries.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from picadaily.contracts import TimelineEntry
from picadaily.timeline import HttpTimeline, TimelineRecorder

from .inputs import PictureInput

log = logging.getLogger(__name__)
# Pictures whose entries are held at once, at most (a run moved to another worker leaves its
# entries behind; the oldest go first).
HELD_PICTURES = 4096


class HeldTimeline:
    def __init__(self, http: HttpTimeline, limit: int = HELD_PICTURES) -> None:
        self._http = http
        self._limit = limit
        self._held: OrderedDict[tuple[str, int], list[TimelineEntry]] = OrderedDict()

    def hold(self, picture: PictureInput, entry: TimelineEntry) -> None:
        key = (picture.picture_id, picture.version)
        self._held.setdefault(key, []).append(entry)
        self._held.move_to_end(key)
        while len(self._held) > self._limit:
            (picture_id, version), dropped = self._held.popitem(last=False)
            log.warning("%s version %d: %d timeline entries dropped (held too long)",
                        picture_id, version, len(dropped))

    def held(self, picture: PictureInput) -> list[TimelineEntry]:
        return list(self._held.get((picture.picture_id, picture.version), []))

    def forget(self, picture: PictureInput) -> None:
        self._held.pop((picture.picture_id, picture.version), None)

    async def send(self, picture: PictureInput, *entries: TimelineEntry) -> None:
        """What is held for this picture and these entries, in one request, now."""
        out = [*self._held.pop((picture.picture_id, picture.version), []), *entries]
        if out:
            await self._http.record_many(picture.picture_id, out)

    def recorder(self, picture: PictureInput, *, hold: bool) -> TimelineRecorder:
        return _Recorder(self, picture, hold)


class _Recorder:
    def __init__(self, timeline: HeldTimeline, picture: PictureInput, hold: bool) -> None:
        self._timeline = timeline
        self._picture = picture
        self._hold = hold

    async def record(self, picture_id: str, entry: TimelineEntry) -> None:
        if self._hold and entry.outcome == "ok":
            self._timeline.hold(self._picture, entry)
        else:
            await self._timeline.send(self._picture, entry)
