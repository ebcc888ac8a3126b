"""OpenTelemetry set-up and W3C trace context over gRPC metadata and Kafka headers.

One citizen report should be one trace from intake to the decision and the notification (DESIGN.md). The
propagator is W3C TraceContext; the carriers are gRPC metadata (lower-case keys) and Kafka headers (bytes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import IO, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

Headers = list[tuple[str, bytes]]

_propagator = TraceContextTextMapPropagator()


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file.

    Local runs and the e2e tests use it so that spans from several processes can be collected without a
    collector; production uses OTLP.
    """

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:
                continue
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": format(ctx.trace_id, "032x"),
                        "span_id": format(ctx.span_id, "016x"),
                        "parent_id": format(parent.span_id, "016x") if parent else None,
                        "kind": span.kind.name,
                        "service": span.resource.attributes.get("service.name"),
                        "start": span.start_time,
                        "end": span.end_time,
                        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
                    },
                    ensure_ascii=False,
                )
            )
        with self._lock:
            self._file.write("".join(line + "\n" for line in lines))
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


FILE_EXPORT_DELAY_MS = 100
"""How long a finished span may wait before the file exporter writes it (with whatever else finished meanwhile)."""


def configure(service: str, exporter: str = "none", file: str = "", endpoint: str = "") -> TracerProvider:
    """Install a tracer provider for this process; `exporter` is none, file or otlp.

    Both exporters batch: a synchronous write and flush per span cost a busy API a system call per request on its
    event loop. The file exporter writes every `FILE_EXPORT_DELAY_MS`, so a test that reads the file sees a span a
    fraction of a second after it ended. The provider flushes what is queued when the process exits normally
    (`shutdown_on_exit`, an atexit hook; SIGTERM ends every process normally); a killed process loses at most that
    last fraction of a second of spans, never an event.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service}), shutdown_on_exit=True)
    if exporter == "file" and file:
        provider.add_span_processor(
            BatchSpanProcessor(
                JsonLinesSpanExporter(file),
                max_queue_size=16384,
                schedule_delay_millis=FILE_EXPORT_DELAY_MS,
                max_export_batch_size=1024,
            )
        )
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint or None)))
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(_propagator)
    return provider


class _HeaderGetter(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        found = [v.decode("latin-1") for k, v in carrier if k.lower() == key]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


class _HeaderSetter(Setter[Headers]):
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier.append((key, value.encode("latin-1")))


class _MetadataGetter(Getter[Sequence[tuple[str, str | bytes]]]):
    def get(self, carrier: Sequence[tuple[str, str | bytes]], key: str) -> list[str] | None:
        found = [v if isinstance(v, str) else v.decode("latin-1") for k, v in carrier if k == key]
        return found or None

    def keys(self, carrier: Sequence[tuple[str, str | bytes]]) -> list[str]:
        return [k for k, _ in carrier]


class _MetadataSetter(Setter[list[tuple[str, str]]]):
    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


def inject_headers(headers: Headers) -> Headers:
    """Add traceparent/tracestate of the current context to Kafka headers (in place, and returned)."""
    _propagator.inject(headers, setter=_HeaderSetter())
    return headers


def extract_headers(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context a Kafka message carries (an empty context when it carries none)."""
    return _propagator.extract(list(headers or []), getter=_HeaderGetter())


def inject_metadata(metadata: list[tuple[str, str]]) -> list[tuple[str, str]]:
    _propagator.inject(metadata, setter=_MetadataSetter())
    return metadata


def extract_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> otel_context.Context:
    """The caller's trace context; an empty one, at once, when the call carries none (most calls under load)."""
    if not metadata or not any(k == "traceparent" for k, _ in metadata):
        return otel_context.Context()
    return _propagator.extract(list(metadata), getter=_MetadataGetter())


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
