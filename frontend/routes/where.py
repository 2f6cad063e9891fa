"""``/api/pictures/{id}/where``: where is this picture now? The question each style answers very
differently, answered the way each one can.

- orchestration: one query to Temporal. The workflow's history knows the step that is stuck,
  its attempt and its last failure (a step's first, local attempts are not in it until they are
  done: see ``workflow.process_picture``, local first).
- choreography: no one knows. The timeline's last entry says what finished; the next step is the
  one after it; the consumer that would run it can only say how many messages wait for it (not
  whether this picture's is among them).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from picadaily.choreography import consumer_doing
from picadaily.ids import is_valid_picture_id, workflow_id_for
from picadaily.steps import PIPELINE, Status

from ..auth import require_admin_for_hidden
from ..deps import Frontend, FrontendDep
from ..errors import error_responses, http_error, upstream_error

router = APIRouter(prefix="/api/pictures", tags=["where"],
                   responses=error_responses(400, 401, 404, 422, 502, 503))


@router.get("/{picture_id}/where")
async def where(picture_id: str, fe: FrontendDep, request: Request) -> dict[str, Any]:
    if not is_valid_picture_id(picture_id):
        raise http_error(404, "no such picture")
    resp = await fe.metadata.get(f"/pictures/{picture_id}")
    if not resp.is_success:
        raise await upstream_error(resp)
    picture = resp.json()
    await require_admin_for_hidden(request, fe, picture["status"])
    out: dict[str, Any] = {"picture_id": picture_id, "mode": picture["mode"],
                           "status": picture["status"], "version": picture.get("version", 1)}
    if picture["mode"] == "orchestration":
        out.update(await _from_workflow(fe, picture_id, out["version"]))
    else:
        out.update(await _from_timeline_and_consumers(fe, picture))
    return out


async def _from_workflow(fe: Frontend, picture_id: str, version: int) -> dict[str, Any]:
    client = await fe.temporal()
    run = workflow_id_for(picture_id, version)
    desc = await client.get_workflow_handle(run).describe()
    pending = [{"step": a.activity_type.name, "attempt": a.attempt,
                "state": _activity_state(a.state),
                "last_failure": a.last_failure.message or None}
               for a in desc.raw_description.pending_activities]
    out: dict[str, Any] = {
        "answered_by": f"the history of workflow {run} (one query to Temporal)",
        "workflow_status": desc.status.name if desc.status else None, "running": pending}
    if not pending and desc.status is not None and desc.status.name == "RUNNING":
        # Local first: a step's first attempts are local activities the history shows only
        # once they are done; a step that keeps failing becomes an ordinary one (listed above).
        out["note"] = ("no step is waiting in the history: the worker is running this "
                       "picture's steps as local activities (or it waits for a review), and a "
                       "step shows here once its local attempts have failed")
    elif pending:
        out["note"] = ("run local first (the default), a step listed here failed two local "
                       "attempts before: its attempts here count from the ordinary activity's")
    return out


def _activity_state(state: Any) -> str:
    from temporalio.api.enums.v1 import PendingActivityState

    name: str = PendingActivityState.Name(state)
    return name.removeprefix("PENDING_ACTIVITY_STATE_").lower()


async def _from_timeline_and_consumers(fe: Frontend, picture: dict[str, Any]) -> dict[str, Any]:
    done = [e["step"] for e in picture["timeline"] if e["outcome"] == "ok"]
    last = picture["timeline"][-1] if picture["timeline"] else None
    out: dict[str, Any] = {
        "answered_by": "pieced together: the timeline's last entry and the next step's consumer "
                       "in NATS (no process knows where a picture is)",
        "last_recorded": last}
    if picture["status"] != Status.PROCESSING:
        return out
    next_step = next((s for s in PIPELINE if s.value not in done), None)
    if next_step is None:
        return out
    doing = consumer_doing(next_step)  # the consumer that runs it (picadaily.choreography)
    if doing is None:
        return out
    durable = doing.durable
    out["next_step"] = next_step.value
    try:
        info = await fe.nats.jetstream().consumer_info(fe.settings.events_stream, durable)
        out["next_consumer"] = {"name": durable, "waiting": info.num_pending,
                                "being_handled": info.num_ack_pending,
                                "redelivered": info.num_redelivered}
    except Exception as exc:
        out["next_consumer"] = {"name": durable, "error": f"unavailable: {exc!r}"}
    return out
