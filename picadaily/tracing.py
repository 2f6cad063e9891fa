"""OpenTelemetry for every process, configured the standard way.

``setup_tracing(name)`` turns tracing on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not ``true``): spans go over OTLP/HTTP to that endpoint, named by
``OTEL_SERVICE_NAME`` (default ``picadaily-<name>``), sampled by ``OTEL_TRACES_SAMPLER``. It
instruments httpx and botocore; FastAPI apps are instrumented by ``instrument_app``; Temporal by
its ``TracingInterceptor`` (``temporal_interceptors``). NATS has no instrumentation for pull
consumers: ``nats_headers`` / ``extracted`` carry the context in message headers, used by the one
publish helper (``events.EventBus``) and the one consumer runtime (``consumer``).

Without the SDK every call here is a cheap no-op, and a context that arrived in a message is
still passed on unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

log = logging.getLogger(__name__)
PICTURE_ATTRIBUTE = "picadaily.picture_id"
# Polled endpoints that would drown every trace: health checks, live pages, the stack banner.
UNTRACED_URLS = "healthz,api/events,api/stack,api/lab"
tracer = trace.get_tracer("picadaily")
_provider: Any = None


def tracing_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")) and \
        os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


def setup_tracing(name: str) -> bool:
    """Configure the SDK for this process; False (and nothing done) when tracing is off."""
    global _provider
    if not tracing_enabled() or _provider is not None:
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or f"picadaily-{name}"
    _provider = TracerProvider(resource=Resource.create({"service.name": service}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(),
                                                    schedule_delay_millis=1000))
    trace.set_tracer_provider(_provider)
    HTTPXClientInstrumentor().instrument()
    BotocoreInstrumentor().instrument()
    log.info("tracing to %s as %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"], service)
    return True


def instrument_client(client: Any) -> None:
    """Trace an httpx client whose transport is not httpx's own (``http_client``): the global
    instrumentation only wraps httpx's transports."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)


def shutdown_tracing() -> None:
    """Export what is buffered (before a process exits)."""
    if _provider is not None:
        _provider.shutdown()


def instrument_app(app: Any) -> None:
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One server span per request: the ASGI "receive"/"send" spans cost more than they tell.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS,
                                       exclude_spans=["receive", "send"])


def temporal_interceptors() -> list[Any]:
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def nats_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the current trace context (``traceparent``, ``tracestate``)."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def current_traceparent() -> str:
    return nats_headers().get("traceparent", "")


def extracted(headers: Mapping[str, str] | None, traceparent: str = "") -> otel_context.Context:
    """The context a message carries: its headers, else the traceparent in its body."""
    carrier = dict(headers or {})
    if "traceparent" not in carrier and traceparent:
        carrier["traceparent"] = traceparent
    return propagate.extract(carrier)
