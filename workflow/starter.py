"""Starting ``ProcessPicture`` for a picture: one run per picture version, ever."""

from __future__ import annotations

import logging
from typing import Any

from picadaily.ids import workflow_id_for
from picadaily.settings import Settings

from .inputs import PictureInput
from .process_picture import ProcessPicture

log = logging.getLogger(__name__)


async def start_processing(client: Any, settings: Settings, picture: PictureInput) -> bool:
    """Start the picture's workflow; False when it exists already (a duplicated event)."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    workflow_id = workflow_id_for(picture.picture_id, picture.version)
    try:
        await client.start_workflow(
            ProcessPicture.run, picture, id=workflow_id,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        log.info("workflow %s already exists: duplicate storage event ignored", workflow_id)
        return False
    log.info("started workflow %s", workflow_id)
    return True


async def ended_without_finishing(client: Any, picture_id: str, version: int) -> str | None:
    """Why the picture's run is over although the picture is not final (someone terminated or
    cancelled it through Temporal's own API or UI, a timeout, a run that failed), or None while
    it runs (or completed: a run completes only after it wrote the final status, so a picture
    still processing then is a read that came before that write)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    workflow_id = workflow_id_for(picture_id, version)
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        log.warning("cannot describe workflow %s: %s", workflow_id, exc)
        return None
    if described.status in (None, WorkflowExecutionStatus.RUNNING,
                            WorkflowExecutionStatus.COMPLETED,
                            WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return None
    return (f"its workflow run {workflow_id} ended without finishing it "
            f"({described.status.name.lower().replace('_', ' ')}, from outside the app)")
