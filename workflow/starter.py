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
