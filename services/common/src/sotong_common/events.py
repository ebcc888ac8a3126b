"""Event metadata in Kafka headers.

Payloads are bare protobuf messages; what a consumer needs before decoding (which event, of what type and schema
version, produced when, by whom, in which trace) travels in headers. The names follow the CloudEvents Kafka
protocol binding (binary mode, `ce_` prefix) so that generic tools can read them; `traceparent`/`tracestate`
are W3C Trace Context.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import Message

from sotong_common import topics, tracing

H_ID = "ce_id"
H_TYPE = "ce_type"
H_SOURCE = "ce_source"
H_TIME = "ce_time"
H_SPECVERSION = "ce_specversion"
H_SCHEMA_VERSION = "ce_schemaversion"
H_CONTENT_TYPE = "content-type"
H_ERROR = "sotong_error"
H_ERROR_STAGE = "sotong_error_stage"
H_ERROR_ATTEMPTS = "sotong_error_attempts"
H_ORIGINAL_TOPIC = "sotong_original_topic"
H_ORIGINAL_PARTITION = "sotong_original_partition"
H_ORIGINAL_OFFSET = "sotong_original_offset"

CONTENT_TYPE = "application/protobuf"

Headers = list[tuple[str, bytes]]

# A namespace for deterministic event ids: an event derived from another gets the same id on every retry,
# so a consumer's dedup recognises the copy a crash-and-redeliver produced.
_DERIVED = uuid.UUID("3f0c3b8e-6a0e-4f5b-9a57-5e0b1b1f6d21")
_DERIVED_BYTES = _DERIVED.bytes


class MissingMetadata(ValueError):
    """A message lacks a header every Sotong event must carry."""


@dataclass(frozen=True)
class EventMetadata:
    event_id: str
    event_type: str
    source: str
    produced_at: datetime
    schema_version: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, event_type: str, source: str, *, event_id: str | None = None) -> EventMetadata:
        """Metadata for a new event; `event_type` may be given as the (possibly prefixed) topic name."""
        event_type = topics.event_type(event_type)
        return cls(
            event_id=event_id or str(uuid.uuid4()),
            event_type=event_type,
            source=source,
            produced_at=datetime.now(UTC),
            schema_version=schema_version_of(event_type),
        )

    def headers(self, *, with_trace: bool = True) -> Headers:
        """Kafka headers for this event, with the current trace context injected."""
        headers: Headers = [
            (H_ID, self.event_id.encode()),
            (H_TYPE, self.event_type.encode()),
            (H_SOURCE, self.source.encode()),
            (H_TIME, self.produced_at.isoformat().encode()),
            (H_SPECVERSION, b"1.0"),
            (H_SCHEMA_VERSION, str(self.schema_version).encode()),
            (H_CONTENT_TYPE, CONTENT_TYPE.encode()),
        ]
        headers.extend((k, v.encode()) for k, v in self.extra.items())
        if with_trace:
            tracing.inject_headers(headers)
        return headers

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]] | None) -> EventMetadata:
        found = {k: v for k, v in (headers or [])}
        try:
            event_id = found[H_ID].decode()
            event_type = found[H_TYPE].decode()
        except KeyError as exc:
            raise MissingMetadata(f"header {exc.args[0]} is missing") from None
        raw_time = found.get(H_TIME)
        produced = datetime.fromisoformat(raw_time.decode()) if raw_time else datetime.now(UTC)
        return cls(
            event_id=event_id,
            event_type=event_type,
            source=found.get(H_SOURCE, b"").decode(),
            produced_at=produced,
            schema_version=int(found.get(H_SCHEMA_VERSION, b"1").decode() or 1),
        )


def dead_letter_headers(
    headers: Iterable[tuple[str, bytes]] | None,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    stage: str,
    attempts: int = 1,
) -> Headers:
    """Headers of a dead-lettered copy: the original's (minus earlier error headers) plus why and where from.

    Every consumer writes dead letters the same way, so one replay tool and one dashboard read them all.
    """
    out = [(k, v) for k, v in (headers or ()) if not k.startswith("sotong_")]
    out += [
        (H_ERROR, reason[:1000].encode()),
        (H_ERROR_STAGE, stage.encode()),
        (H_ERROR_ATTEMPTS, str(attempts).encode()),
        (H_ORIGINAL_TOPIC, topic.encode()),
        (H_ORIGINAL_PARTITION, str(partition).encode()),
        (H_ORIGINAL_OFFSET, str(offset).encode()),
    ]
    return out


def schema_version_of(event_type: str) -> int:
    """`intake.submission-received.v1` -> 1: the version is part of the topic and type name."""
    tail = event_type.rsplit(".", 1)[-1]
    return int(tail[1:]) if tail.startswith("v") and tail[1:].isdigit() else 1


def derived_event_id(source_event_id: str, purpose: str) -> str:
    """A deterministic id for the event produced in answer to `source_event_id`: `uuid5(_DERIVED, purpose:id)`.

    Computed directly from SHA-1 (the same value as `uuid.uuid5`, tested) because hot consumers call it per event
    and `uuid.UUID` construction and formatting cost more than the hash.
    """
    b = bytearray(hashlib.sha1(_DERIVED_BYTES + f"{purpose}:{source_event_id}".encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def encode(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or []:
        if key == name:
            return value.decode("utf-8", "replace")
    return None
