"""The public shape of a picture: the metadata document plus links and plain-words notes."""

from __future__ import annotations

from pydantic import BaseModel

from picadaily.contracts import Picture
from picadaily.ids import workflow_id_for
from picadaily.settings import Settings
from picadaily.steps import Status


class PictureView(Picture):
    image_url: str | None = None
    thumbnail_url: str | None = None
    workflow_url: str | None = None
    notes: list[str] = []


class PictureList(BaseModel):
    pictures: list[PictureView]
    next_cursor: str | None = None


def picture_view(picture: Picture, settings: Settings) -> PictureView:
    view = PictureView.model_validate(picture.model_dump())
    base = f"/api/pictures/{picture.id}"
    if picture.status == Status.DONE:  # judged safe: only then is the original shown
        view.image_url = f"{base}/image"
    if picture.status != Status.REJECTED and picture.thumbnail is not None:
        view.thumbnail_url = f"{base}/thumbnail"
    if picture.mode == "orchestration":
        ns = settings.temporal_namespace
        run = workflow_id_for(picture.id, picture.version)
        view.workflow_url = f"{settings.temporal_ui_url}/namespaces/{ns}/workflows/{run}"
    if picture.status != Status.PROCESSING or picture.colours is not None:
        if picture.labels is None and picture.colours is not None:
            view.notes.append("labels were not computed: no label backend is configured")
        if picture.safety is not None and not picture.safety.computed:
            view.notes.append("safety was not judged: no safety backend is configured")
    return view
