"""The disaster incident lifecycle as an explicit, event-sourced state machine.

Seoul's three-stage flow: a report arrives (reported), the response group shares it internally (stage 0),
the first official message goes out (stage 1: press notice, complaint-portal emergency message), then the
second (stage 2: the city's SNS accounts, the news app, KakaoTalk), followed by updates, and finally an
all-clear or a cancellation, both terminal.

`Incident` is immutable. Command methods check the rules and return the events they would record; `apply`
folds an event into a new `Incident`. The service stores the events (outbox, Kafka) and rebuilds an incident
with `Incident.from_events`. The same transition table guards commands and replay, so a stored stream that
breaks the rules is refused rather than silently accepted. Every event records who, what and when.

    reported --open_internal_sharing--> stage_0 --issue_first_message--> stage_1
    stage_1 --issue_second_message--> stage_2 --issue_update--> updating --issue_update--> updating
    stage_1 --issue_update--> stage_1 (a correction before the second message)
    stage_1 | stage_2 | updating --declare_all_clear--> all_clear
    any non-terminal --cancel--> cancelled
    any non-terminal --add_note--> (same stage)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import ClassVar


class Stage(StrEnum):
    """Where an incident is in the flow."""

    REPORTED = "reported"
    STAGE_0 = "stage_0"
    STAGE_1 = "stage_1"
    STAGE_2 = "stage_2"
    UPDATING = "updating"
    ALL_CLEAR = "all_clear"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in {Stage.ALL_CLEAR, Stage.CANCELLED}


class IncidentError(Exception):
    """A command or event that the incident's rules refuse; the message says why, for the operator."""


class IllegalTransition(IncidentError):
    """The event is not allowed from the incident's current stage."""

    def __init__(self, incident_id: str, stage: Stage, event_type: str, allowed: Iterable[Stage]) -> None:
        self.incident_id = incident_id
        self.stage = stage
        self.event_type = event_type
        names = ", ".join(sorted(s.value for s in allowed)) or "no stage"
        super().__init__(f"incident {incident_id} is {stage.value}; {event_type} is only allowed from {names}")


def _new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentEvent:
    """Base of all incident events: who (actor), what (event_type and fields), when (occurred_at)."""

    event_type: ClassVar[str] = "incident.event"

    incident_id: str
    actor: str
    occurred_at: datetime
    event_id: str = field(default_factory=_new_event_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentReported(IncidentEvent):
    """A disaster report arrived (staff, 120 call centre, upstream CAP feed, citizens)."""

    event_type: ClassVar[str] = "alerting.incident-reported.v1"
    hazard: str
    area_codes: tuple[str, ...] = ()
    summary: str = ""
    source: str = "staff"


@dataclass(frozen=True, kw_only=True, slots=True)
class InternalSharingOpened(IncidentEvent):
    """Stage 0: the response group of the relevant departments was opened and duty officers paged."""

    event_type: ClassVar[str] = "alerting.internal-sharing-opened.v1"
    departments: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class FirstMessageIssued(IncidentEvent):
    """Stage 1: the first official message (press notice, complaint-portal emergency message) was issued."""

    event_type: ClassVar[str] = "alerting.first-message-issued.v1"
    alert_identifier: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SecondMessageIssued(IncidentEvent):
    """Stage 2: the second official message (SNS accounts, news app, KakaoTalk, portal) was issued."""

    event_type: ClassVar[str] = "alerting.second-message-issued.v1"
    alert_identifier: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateIssued(IncidentEvent):
    """An update or correction was issued as a new alert that references the earlier ones."""

    event_type: ClassVar[str] = "alerting.update-issued.v1"
    alert_identifier: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class AllClearDeclared(IncidentEvent):
    """The danger is over; the all-clear alert was issued. Terminal."""

    event_type: ClassVar[str] = "alerting.all-clear-declared.v1"
    alert_identifier: str


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentCancelled(IncidentEvent):
    """The incident was a false report or was issued in error. Terminal.

    Once official messages went out, the cancellation is itself an alert (msgType Cancel), named here.
    """

    event_type: ClassVar[str] = "alerting.incident-cancelled.v1"
    reason: str
    alert_identifier: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NoteAdded(IncidentEvent):
    """A timeline entry that does not move the incident (citizens' feedback, a call-centre note)."""

    event_type: ClassVar[str] = "alerting.incident-note-added.v1"
    note: str


_ACTIVE = frozenset({Stage.REPORTED, Stage.STAGE_0, Stage.STAGE_1, Stage.STAGE_2, Stage.UPDATING})
_OFFICIAL = frozenset({Stage.STAGE_1, Stage.STAGE_2, Stage.UPDATING})

ALLOWED_FROM: Mapping[type[IncidentEvent], frozenset[Stage]] = {
    InternalSharingOpened: frozenset({Stage.REPORTED}),
    FirstMessageIssued: frozenset({Stage.STAGE_0}),
    SecondMessageIssued: frozenset({Stage.STAGE_1}),
    UpdateIssued: _OFFICIAL,
    AllClearDeclared: _OFFICIAL,
    IncidentCancelled: _ACTIVE,
    NoteAdded: _ACTIVE,
}
"""The transition table: from which stages each event may happen. Commands and replay both obey it."""


def _target(stage: Stage, event: IncidentEvent) -> Stage:
    if isinstance(event, InternalSharingOpened):
        return Stage.STAGE_0
    if isinstance(event, FirstMessageIssued):
        return Stage.STAGE_1
    if isinstance(event, SecondMessageIssued):
        return Stage.STAGE_2
    if isinstance(event, UpdateIssued):
        return Stage.STAGE_1 if stage is Stage.STAGE_1 else Stage.UPDATING
    if isinstance(event, AllClearDeclared):
        return Stage.ALL_CLEAR
    if isinstance(event, IncidentCancelled):
        return Stage.CANCELLED
    return stage


@dataclass(frozen=True, slots=True)
class Incident:
    """The incident aggregate: current stage, the alerts issued for it and the full timeline."""

    incident_id: str
    hazard: str
    area_codes: tuple[str, ...]
    stage: Stage
    reported_at: datetime
    reported_by: str
    alert_identifiers: tuple[str, ...] = ()
    timeline: tuple[IncidentEvent, ...] = ()

    @property
    def version(self) -> int:
        """Number of events applied: the expected version for optimistic concurrency when storing."""
        return len(self.timeline)

    @property
    def last_change(self) -> datetime:
        return self.timeline[-1].occurred_at if self.timeline else self.reported_at

    # --- creation and replay ----------------------------------------------------------------------------

    @staticmethod
    def report(
        incident_id: str,
        *,
        actor: str,
        at: datetime,
        hazard: str,
        area_codes: Iterable[str] = (),
        summary: str = "",
        source: str = "staff",
    ) -> IncidentReported:
        """Command: record a new report. Returns the event that starts the incident."""
        _require_who_when(actor, at)
        if not incident_id.strip():
            raise IncidentError("an incident needs an identifier")
        if not hazard.strip():
            raise IncidentError("a report must name the hazard (e.g. 호우, 지진, 화재)")
        return IncidentReported(
            incident_id=incident_id,
            actor=actor,
            occurred_at=at,
            hazard=hazard,
            area_codes=tuple(area_codes),
            summary=summary,
            source=source,
        )

    @classmethod
    def start(cls, event: IncidentReported) -> Incident:
        """The incident as it is right after its report."""
        return cls(
            incident_id=event.incident_id,
            hazard=event.hazard,
            area_codes=event.area_codes,
            stage=Stage.REPORTED,
            reported_at=event.occurred_at,
            reported_by=event.actor,
            timeline=(event,),
        )

    @classmethod
    def from_events(cls, events: Iterable[IncidentEvent]) -> Incident:
        """Rebuild an incident from its stored events (the first must be IncidentReported)."""
        iterator = iter(events)
        first = next(iterator, None)
        if not isinstance(first, IncidentReported):
            raise IncidentError("an incident's history must start with IncidentReported")
        incident = cls.start(first)
        for event in iterator:
            incident = incident.apply(event)
        return incident

    # --- folding events ---------------------------------------------------------------------------------

    def apply(self, event: IncidentEvent) -> Incident:
        """The incident after `event`; IncidentError when the event breaks the lifecycle rules."""
        if event.incident_id != self.incident_id:
            raise IncidentError(f"event for incident {event.incident_id} applied to incident {self.incident_id}")
        if isinstance(event, IncidentReported):
            raise IncidentError(f"incident {self.incident_id} was already reported")
        allowed = ALLOWED_FROM.get(type(event))
        if allowed is None:
            raise IncidentError(f"unknown incident event {type(event).__name__}")
        if self.stage not in allowed:
            raise IllegalTransition(self.incident_id, self.stage, event.event_type, allowed)
        _require_who_when(event.actor, event.occurred_at)
        if event.occurred_at < self.last_change:
            raise IncidentError(
                f"{event.event_type} at {event.occurred_at.isoformat()} is earlier than the incident's last "
                f"change at {self.last_change.isoformat()}"
            )
        identifier = getattr(event, "alert_identifier", None)
        identifiers = self.alert_identifiers
        if identifier is not None:
            if identifier in identifiers:
                raise IncidentError(
                    f"alert {identifier} was already issued for incident {self.incident_id}; an issued alert "
                    "never changes: issue a new alert that references it"
                )
            identifiers = (*identifiers, identifier)
        return replace(
            self,
            stage=_target(self.stage, event),
            alert_identifiers=identifiers,
            timeline=(*self.timeline, event),
        )

    def _decide(self, event: IncidentEvent) -> tuple[IncidentEvent, ...]:
        self.apply(event)  # the same rules as replay; raises when refused
        return (event,)

    # --- commands ---------------------------------------------------------------------------------------

    def open_internal_sharing(
        self, *, actor: str, at: datetime, departments: Iterable[str] = ()
    ) -> tuple[IncidentEvent, ...]:
        """Stage 0: open the response group and page the duty officers."""
        return self._decide(
            InternalSharingOpened(
                incident_id=self.incident_id, actor=actor, occurred_at=at, departments=tuple(departments)
            )
        )

    def issue_first_message(
        self, *, actor: str, at: datetime, alert_identifier: str, channels: Iterable[str] = ()
    ) -> tuple[IncidentEvent, ...]:
        """Stage 1: the first official message (its approved CAP alert's identifier)."""
        return self._decide(
            FirstMessageIssued(
                incident_id=self.incident_id,
                actor=actor,
                occurred_at=at,
                alert_identifier=alert_identifier,
                channels=tuple(channels),
            )
        )

    def issue_second_message(
        self, *, actor: str, at: datetime, alert_identifier: str, channels: Iterable[str] = ()
    ) -> tuple[IncidentEvent, ...]:
        """Stage 2: the second official message."""
        return self._decide(
            SecondMessageIssued(
                incident_id=self.incident_id,
                actor=actor,
                occurred_at=at,
                alert_identifier=alert_identifier,
                channels=tuple(channels),
            )
        )

    def issue_update(
        self, *, actor: str, at: datetime, alert_identifier: str, reason: str = ""
    ) -> tuple[IncidentEvent, ...]:
        """An update or correction, as a new alert referencing the earlier ones."""
        return self._decide(
            UpdateIssued(
                incident_id=self.incident_id,
                actor=actor,
                occurred_at=at,
                alert_identifier=alert_identifier,
                reason=reason,
            )
        )

    def declare_all_clear(self, *, actor: str, at: datetime, alert_identifier: str) -> tuple[IncidentEvent, ...]:
        """The all-clear; ends the incident."""
        return self._decide(
            AllClearDeclared(
                incident_id=self.incident_id, actor=actor, occurred_at=at, alert_identifier=alert_identifier
            )
        )

    def cancel(
        self, *, actor: str, at: datetime, reason: str, alert_identifier: str | None = None
    ) -> tuple[IncidentEvent, ...]:
        """Cancel a false or mistaken incident. After official messages a Cancel alert must be named."""
        if not reason.strip():
            raise IncidentError("a cancellation needs a reason")
        if self.alert_identifiers and alert_identifier is None:
            raise IncidentError(
                f"incident {self.incident_id} already issued alerts {', '.join(self.alert_identifiers)}; "
                "cancelling it needs a Cancel alert that references them"
            )
        return self._decide(
            IncidentCancelled(
                incident_id=self.incident_id,
                actor=actor,
                occurred_at=at,
                reason=reason,
                alert_identifier=alert_identifier,
            )
        )

    def add_note(self, *, actor: str, at: datetime, note: str) -> tuple[IncidentEvent, ...]:
        """Record feedback or a note on the timeline without changing the stage."""
        if not note.strip():
            raise IncidentError("a note cannot be empty")
        return self._decide(NoteAdded(incident_id=self.incident_id, actor=actor, occurred_at=at, note=note))


def _require_who_when(actor: str, at: datetime) -> None:
    if not actor.strip():
        raise IncidentError("every incident event needs the person or system that caused it (actor)")
    if at.utcoffset() is None:
        raise IncidentError("incident times must be timezone-aware")
