"""Google Cloud Vision backend: one annotate request with LABEL_DETECTION, IMAGE_PROPERTIES and
SAFE_SEARCH_DETECTION, mapped to the same ``Analysis`` as the local backend.

Credentials come the usual Google way (``GOOGLE_APPLICATION_CREDENTIALS``). The client does not
retry on its own: the workflow's retry policy (or the event consumer's redelivery) decides.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from picadaily.contracts import SAFETY_CATEGORIES, Analysis, Colour, Label, Safety
from picadaily.imaging import ImageRejected
from picadaily.settings import Settings

from .core import VisionUnavailable

SEND_SIDE = 640  # Cloud Vision needs no more than this for labels and colours
MAX_LABELS = 10
INVALID_ARGUMENT = 3  # google.rpc.Code


class CloudVision:
    name = "google-cloud-vision"
    decode_side = SEND_SIDE

    def __init__(self, client: Any, timeout_s: float = 20.0) -> None:
        self._client = client
        self._timeout = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudVision:
        from google.api_core.client_options import ClientOptions
        from google.cloud import vision

        options = ClientOptions(api_endpoint=settings.google_vision_endpoint) \
            if settings.google_vision_endpoint else None
        credentials = None
        if settings.google_vision_anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        client = vision.ImageAnnotatorClient(credentials=credentials, transport="rest",
                                             client_options=options)
        return cls(client)

    def analyse(self, image: Image.Image) -> Analysis:
        from google.api_core import exceptions as gexc
        from google.cloud import vision

        small = image.copy()
        small.thumbnail((SEND_SIDE, SEND_SIDE))
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=90)
        feature = vision.Feature.Type
        request = vision.AnnotateImageRequest(
            image=vision.Image(content=buffer.getvalue()),
            features=[vision.Feature(type_=feature.LABEL_DETECTION, max_results=MAX_LABELS),
                      vision.Feature(type_=feature.IMAGE_PROPERTIES),
                      vision.Feature(type_=feature.SAFE_SEARCH_DETECTION)],
        )
        try:
            batch = self._client.batch_annotate_images(requests=[request], retry=None,
                                                       timeout=self._timeout)
        except (gexc.TooManyRequests, gexc.ResourceExhausted, gexc.ServerError,
                gexc.DeadlineExceeded, gexc.ServiceUnavailable) as exc:
            raise VisionUnavailable(f"Cloud Vision is unavailable now: {exc.message}") from exc
        except gexc.GoogleAPICallError as exc:
            raise VisionUnavailable(f"Cloud Vision refused the request: {exc.message}") from exc
        except OSError as exc:  # connection errors
            raise VisionUnavailable(f"Cloud Vision could not be reached: {exc}") from exc
        return to_analysis(batch.responses[0])


def to_analysis(response: Any) -> Analysis:
    if response.error.code:
        message = response.error.message or f"error code {response.error.code}"
        if response.error.code == INVALID_ARGUMENT:
            raise ImageRejected(f"Cloud Vision cannot read the image: {message}")
        raise VisionUnavailable(f"Cloud Vision failed on the image: {message}")
    labels = [Label(name=a.description.lower(), score=round(a.score, 4))
              for a in response.label_annotations]
    colours = [
        Colour(red=round(c.color.red), green=round(c.color.green), blue=round(c.color.blue),
               pixel_fraction=round(c.pixel_fraction, 4), score=round(c.score, 4))
        for c in response.image_properties_annotation.dominant_colors.colors
    ]
    annotation = response.safe_search_annotation
    likelihoods = {c: getattr(annotation, c).name for c in SAFETY_CATEGORIES}
    safety = Safety(judged=list(SAFETY_CATEGORIES), likelihoods=likelihoods,
                    backend=CloudVision.name)
    return Analysis(labels=labels, colours=colours, safety=safety, backend=CloudVision.name)
