"""The choreography's AsyncAPI 3.0 document, generated from its declaration
(``picadaily.choreography``) and its event models (``picadaily.event_data``), as FastAPI
generates OpenAPI from the routes: served at ``/asyncapi.json`` by the frontend.

A channel per event type (its NATS subject), a message per channel (the CloudEvent, its data
the type's model), a ``receive`` operation per durable consumer and a ``send`` operation per
publisher and event type. ``x-picadaily-*`` fields carry what AsyncAPI has no word for: the
step a consumer does, the stream it reads.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from picadaily import choreography
from picadaily.event_data import EventData
from picadaily.settings import MODES, Settings

SCHEMAS = "#/components/schemas/"


def _package_version() -> str:
    try:
        return version("picadaily")
    except PackageNotFoundError:  # a checkout run without installing
        return "0.0.0"


def _message_name(model: type[EventData]) -> str:
    return model.__name__


def _envelope(settings: Settings, model: type[EventData]) -> dict[str, Any]:
    """The CloudEvent (structured JSON) that carries ``model`` as its data."""
    text = {"type": "string"}
    return {
        "type": "object",
        "title": f"{model.TYPE} (CloudEvent)",
        "required": ["specversion", "id", "source", "type", "subject", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": text, "source": text,
            "type": {"const": f"{settings.event_prefix}.{model.TYPE}"},
            "subject": {"type": "string", "description": "the picture id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "traceparent": {"type": "string", "description": "W3C trace context"},
            "data": {"allOf": [{"$ref": f"{SCHEMAS}PictureRef"},
                               {"$ref": f"{SCHEMAS}{model.__name__}"}]},
        },
    }


def _picture_ref() -> dict[str, Any]:
    return {
        "type": "object", "title": "PictureRef",
        "description": "what every event's data says of its picture",
        "required": ["picture_id", "mode"],
        "properties": {
            "picture_id": {"type": "string"},
            "mode": {"anyOf": [{"enum": list(MODES)}, {"type": "null"}],
                     "description": "null: the same in both modes (a deletion)"},
            "version": {"type": "integer", "minimum": 1,
                        "description": "the picture version the event is about"},
        },
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    schemas: dict[str, Any] = {"PictureRef": _picture_ref()}
    for model in choreography.event_types():
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        schemas[f"{model.__name__}Event"] = _envelope(settings, model)
    return schemas


def _channel_ref(model: type[EventData]) -> dict[str, str]:
    return {"$ref": f"#/channels/{model.TYPE}"}


def _message_ref(model: type[EventData]) -> dict[str, str]:
    return {"$ref": f"#/channels/{model.TYPE}/messages/{_message_name(model)}"}


def document(settings: Settings) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in choreography.event_types():
        name = _message_name(model)
        messages[name] = {
            "name": name, "title": model.TYPE, "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {
                "Nats-Msg-Id": {"type": "string",
                                "description": "JetStream drops a repeat within its window"},
                "traceparent": {"type": "string"}}},
            "payload": {"$ref": f"{SCHEMAS}{name}Event"},
        }
        channels[model.TYPE] = {
            "address": f"{settings.event_prefix}.{model.TYPE}",
            "title": model.TYPE,
            "description": f"JetStream stream {settings.events_stream}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    operations: dict[str, Any] = {}
    for r in choreography.REACTIONS:
        for model in r.on:
            key = r.durable if len(r.on) == 1 else f"{r.durable}.{model.TYPE}"
            operations[key] = {
                "action": "receive", "channel": _channel_ref(model),
                "title": f"{r.service}: {r.step}", "summary": r.does,
                "messages": [_message_ref(model)],
                "x-picadaily-consumer": r.durable, "x-picadaily-step": str(r.step),
                "x-picadaily-publishes": [m.TYPE for m in r.publishes],
            }
    senders: dict[tuple[str, str], type[EventData]] = {}
    for r in choreography.REACTIONS:
        for model in r.publishes:
            senders[(r.service, model.TYPE)] = model
    for p in choreography.PUBLISHERS:
        for model in p.publishes:
            senders[(p.service, model.TYPE)] = model
    for (service, type_), model in sorted(senders.items()):
        operations[f"{service}.sends.{type_}"] = {
            "action": "send", "channel": _channel_ref(model),
            "title": f"{service} publishes {type_}", "messages": [_message_ref(model)],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PicaDaily choreography",
            "version": _package_version(),
            "description": (
                "The events the services react to in choreography mode (and the deletions and "
                "failures both modes fan out), generated from picadaily.choreography and "
                "picadaily.event_data. Each message is a CloudEvent 1.0 in structured JSON."),
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {
            "host": settings.nats_url.split("://", 1)[-1].rsplit("@", 1)[-1],
            "protocol": "nats", "description": "NATS JetStream (each component its own user)"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas(settings)},
    }
