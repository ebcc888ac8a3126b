"""Prometheus metrics every process exposes: request and processing latency, outcomes, outbox and DLQ counts."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

GRPC_LATENCY = Histogram(
    "sotong_grpc_server_handling_seconds", "gRPC request handling time", ["service", "method", "code"]
)
EVENTS_PROCESSED = Counter("sotong_events_processed_total", "Kafka events processed", ["topic", "outcome"])
PROCESSING_LATENCY = Histogram("sotong_event_processing_seconds", "Kafka event processing time", ["topic"])
CONSUMER_FAILURES = Counter(
    "sotong_consumer_failures_total",
    "failed attempts at a record, by kind (transient, poison, unexpected)",
    ["topic", "kind"],
)
CONSUMER_RESTARTS = Counter(
    "sotong_consumer_restarts_total", "consumer sessions started over with new Kafka clients", ["group", "reason"]
)
DEAD_LETTERS = Counter("sotong_dead_letters_total", "messages sent to a dead-letter topic", ["topic"])
OUTBOX_PUBLISHED = Counter("sotong_outbox_published_total", "outbox rows published to Kafka", ["schema"])
OUTBOX_RECONNECTS = Counter(
    "sotong_outbox_reconnects_total", "times the outbox relay lost its database connection and reconnected", ["schema"]
)


def serve(port: int, host: str = "127.0.0.1") -> int:
    """Expose /metrics on `host:port` (port 0 = any free port); returns the port."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
