"""An incident's log entries: lifecycle events (replayed into `Incident`) and audit entries, one shape for both.

The log in PostgreSQL stores every entry as (event type, who, when, the stage after it, payload). Lifecycle
events round-trip exactly through the payload so that `Incident.from_events` can rebuild the aggregate from the
stored log; audit entries (a draft, an approval, an escalation, an acknowledgement) sit in the same log, so the
situation room reads one timeline, but are not replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.alerting.v1 import alerting_events_pb2 as events_pb
from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong_alerting.incident import (
    AllClearDeclared,
    FirstMessageIssued,
    IncidentCancelled,
    IncidentEvent,
    IncidentReported,
    InternalSharingOpened,
    NoteAdded,
    SecondMessageIssued,
    UpdateIssued,
)

LIFECYCLE: Mapping[str, type[IncidentEvent]] = {
    cls.event_type: cls
    for cls in (
        IncidentReported,
        InternalSharingOpened,
        FirstMessageIssued,
        SecondMessageIssued,
        UpdateIssued,
        AllClearDeclared,
        IncidentCancelled,
        NoteAdded,
    )
}

ALERT_DRAFTED = "alerting.alert-drafted.v1"
ALERT_APPROVED = "alerting.alert-approved.v1"
DRILL_ISSUED = "alerting.drill-issued.v1"
"""A Test or Exercise alert went out: recorded on the incident's timeline, but never a lifecycle transition."""
PAGE_ESCALATED = "alerting.page-escalated.v1"
PAGE_ACKNOWLEDGED = "alerting.page-acknowledged.v1"

_BASE = {"incident_id", "actor", "occurred_at", "event_id"}
_DETAIL_KEYS = ("summary", "reason", "note", "detail")


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry before or after storing (`sequence` and `stage` are known once stored)."""

    incident_id: str
    event_type: str
    actor: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence: int = 0
    stage: str = ""

    @property
    def lifecycle(self) -> bool:
        return self.event_type in LIFECYCLE


def from_event(event: IncidentEvent) -> Entry:
    """The log entry of a lifecycle event."""
    payload = {}
    for item in fields(event):
        if item.name in _BASE:
            continue
        value = getattr(event, item.name)
        payload[item.name] = list(value) if isinstance(value, tuple) else value
    return Entry(event.incident_id, event.event_type, event.actor, event.occurred_at, payload, event.event_id)


def audit(incident_id: str, event_type: str, actor: str, at: datetime, **payload: Any) -> Entry:
    """An audit entry (not a lifecycle transition)."""
    return Entry(incident_id, event_type, actor, at, payload)


def to_event(entry: Entry) -> IncidentEvent:
    """The lifecycle event a stored entry records (KeyError for audit entries)."""
    cls = LIFECYCLE[entry.event_type]
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.payload.items()}
    event: IncidentEvent = cls(
        incident_id=entry.incident_id,
        actor=entry.actor,
        occurred_at=entry.occurred_at,
        event_id=entry.event_id,
        **values,
    )
    return event


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _detail(payload: Mapping[str, Any]) -> str:
    return next((str(payload[k]) for k in _DETAIL_KEYS if payload.get(k)), "")


def to_timeline(entry: Entry) -> pb.TimelineEntry:
    payload = entry.payload
    return pb.TimelineEntry(
        sequence=entry.sequence,
        event_type=entry.event_type,
        actor=entry.actor,
        occurred_at=_stamp(entry.occurred_at),
        stage=entry.stage,
        alert_identifier=str(payload.get("alert_identifier") or ""),
        channels=[str(c) for c in payload.get("channels", [])],
        departments=[str(d) for d in payload.get("departments", [])],
        detail=_detail(payload),
    )


def to_changed(entry: Entry, hazard: str, area_codes: list[str]) -> events_pb.IncidentChanged:
    """The alerting.incident-changed.v1 payload of a stored entry."""
    line = to_timeline(entry)
    return events_pb.IncidentChanged(
        incident_id=entry.incident_id,
        event_id=entry.event_id,
        sequence=entry.sequence,
        event_type=entry.event_type,
        actor=entry.actor,
        occurred_at=line.occurred_at,
        stage=entry.stage,
        hazard=hazard,
        area_codes=area_codes,
        alert_identifier=line.alert_identifier,
        channels=list(line.channels),
        departments=list(line.departments),
        detail=line.detail,
    )
