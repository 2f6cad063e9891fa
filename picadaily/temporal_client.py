"""How every PicaDaily process reaches Temporal, once: the pydantic data converter (models in,
models out: the workflow's inputs and results) and the namespace of the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.contrib.pydantic import pydantic_data_converter

from picadaily.settings import Settings
from picadaily.tracing import temporal_interceptors

if TYPE_CHECKING:
    from temporalio.client import Client

data_converter = pydantic_data_converter


async def connect_temporal(settings: Settings, *, traced: bool = False) -> Client:
    """A client of the settings' server and namespace. ``traced``: with the tracing interceptor
    (when tracing is on), for the processes whose workflows and activities are traced: the
    trigger that starts them and the worker that runs them."""
    from temporalio.client import Client

    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter,
                                interceptors=temporal_interceptors() if traced else [])
