import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from sotong.intake.v1 import intake_events_pb2
from sotong_common import events, topics, tracing


def test_headers_round_trip_with_trace_context() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("produce") as span:
        meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "sotong.test")
        headers = meta.headers()
    names = [k for k, _ in headers]
    for required in ("ce_id", "ce_type", "ce_source", "ce_time", "ce_schemaversion", "traceparent"):
        assert required in names
    back = events.EventMetadata.from_headers(headers)
    assert back.event_id == meta.event_id
    assert back.event_type == "intake.submission-received.v1"
    assert back.schema_version == 1
    extracted = trace.get_current_span(tracing.extract_headers(headers)).get_span_context()
    assert extracted.trace_id == span.get_span_context().trace_id


def test_missing_id_is_reported() -> None:
    with pytest.raises(events.MissingMetadata, match="ce_id"):
        events.EventMetadata.from_headers([("ce_type", b"x.v1")])


def test_derived_ids_are_deterministic_and_distinct_per_purpose() -> None:
    a = events.derived_event_id("e1", "decision")
    assert a == events.derived_event_id("e1", "decision")
    assert a != events.derived_event_id("e1", "status")
    assert a != events.derived_event_id("e2", "decision")


def test_derived_ids_are_the_uuid5_of_purpose_and_source() -> None:
    """Ids already stored and announced were made with uuid.uuid5: the fast path must give the same ones."""
    for source in ("e1", "3f0c3b8e-6a0e-4f5b-9a57-5e0b1b1f6d21", "한글 id", ""):
        for purpose in ("moderation.decision", "intake.status"):
            expected = str(uuid.uuid5(events._DERIVED, f"{purpose}:{source}"))
            assert events.derived_event_id(source, purpose) == expected


def test_encode_is_deterministic() -> None:
    message = intake_events_pb2.SubmissionReceived(submission_id="s", text="광화문")
    assert events.encode(message) == events.encode(
        intake_events_pb2.SubmissionReceived.FromString(events.encode(message))
    )


def test_schema_version_from_type() -> None:
    assert events.schema_version_of("moderation.decision-made.v2") == 2
