"""Filer-log entries as SeaweedFS's ``SubscribeMetadata`` stream sends them, for the event
source's tests."""

from __future__ import annotations

from functions.seaweedfs import filer_pb2 as pb

TS = 1_795_630_000_123_456_789


def response(directory: str, old: pb.Entry | None = None, new: pb.Entry | None = None,
             new_parent: str = "", ts: int = TS) -> pb.SubscribeMetadataResponse:
    event = pb.EventNotification(new_parent_path=new_parent)
    if old is not None:
        event.old_entry.CopyFrom(old)
    if new is not None:
        event.new_entry.CopyFrom(new)
    return pb.SubscribeMetadataResponse(directory=directory, event_notification=event, ts_ns=ts)


def entry(name: str, **kwargs: object) -> pb.Entry:
    return pb.Entry(name=name, **kwargs)  # type: ignore[arg-type]
