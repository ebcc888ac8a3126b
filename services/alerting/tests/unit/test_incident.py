from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sotong_alerting.cap import SEOUL
from sotong_alerting.incident import (
    AllClearDeclared,
    FirstMessageIssued,
    IllegalTransition,
    Incident,
    IncidentCancelled,
    IncidentError,
    IncidentEvent,
    IncidentReported,
    InternalSharingOpened,
    NoteAdded,
    SecondMessageIssued,
    Stage,
    UpdateIssued,
)

T0 = datetime(2026, 7, 14, 13, 50, tzinfo=SEOUL)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def reported() -> Incident:
    return Incident.start(
        Incident.report("INC-1", actor="duty-kim", at=T0, hazard="호우", area_codes=("11320",), source="120")
    )


def advance(incident: Incident, events: tuple[IncidentEvent, ...]) -> Incident:
    for event in events:
        incident = incident.apply(event)
    return incident


def to_stage_2() -> Incident:
    incident = reported()
    incident = advance(incident, incident.open_internal_sharing(actor="duty-kim", at=at(1), departments=("물순환",)))
    incident = advance(incident, incident.issue_first_message(actor="lee", at=at(5), alert_identifier="A-1"))
    return advance(incident, incident.issue_second_message(actor="lee", at=at(10), alert_identifier="A-2"))


def test_full_lifecycle_records_who_what_when() -> None:
    incident = to_stage_2()
    assert incident.stage is Stage.STAGE_2
    incident = advance(incident, incident.issue_update(actor="lee", at=at(30), alert_identifier="A-3", reason="확대"))
    assert incident.stage is Stage.UPDATING
    incident = advance(incident, incident.issue_update(actor="lee", at=at(40), alert_identifier="A-4"))
    assert incident.stage is Stage.UPDATING
    incident = advance(incident, incident.add_note(actor="intake", at=at(41), note="시민 제보: 우이천 범람"))
    assert incident.stage is Stage.UPDATING
    incident = advance(incident, incident.declare_all_clear(actor="park", at=at(300), alert_identifier="A-5"))
    assert incident.stage is Stage.ALL_CLEAR
    assert incident.stage.terminal
    assert incident.alert_identifiers == ("A-1", "A-2", "A-3", "A-4", "A-5")
    kinds = [type(event) for event in incident.timeline]
    assert kinds == [
        IncidentReported,
        InternalSharingOpened,
        FirstMessageIssued,
        SecondMessageIssued,
        UpdateIssued,
        UpdateIssued,
        NoteAdded,
        AllClearDeclared,
    ]
    assert [event.actor for event in incident.timeline][:3] == ["duty-kim", "duty-kim", "lee"]
    assert incident.timeline[-1].occurred_at == at(300)
    assert incident.timeline[-1].event_type == "alerting.all-clear-declared.v1"
    assert incident.version == 8


def test_replay_rebuilds_the_same_incident() -> None:
    incident = to_stage_2()
    assert Incident.from_events(incident.timeline) == incident


def test_commands_do_not_change_the_incident() -> None:
    incident = reported()
    events = incident.open_internal_sharing(actor="duty-kim", at=at(1))
    assert incident.stage is Stage.REPORTED
    assert len(events) == 1
    assert events[0].incident_id == "INC-1"


def test_correction_before_the_second_message_stays_in_stage_1() -> None:
    incident = reported()
    incident = advance(incident, incident.open_internal_sharing(actor="a", at=at(1)))
    incident = advance(incident, incident.issue_first_message(actor="a", at=at(2), alert_identifier="A-1"))
    incident = advance(incident, incident.issue_update(actor="a", at=at(3), alert_identifier="A-1b"))
    assert incident.stage is Stage.STAGE_1


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ("reported", lambda i: i.issue_first_message(actor="a", at=at(60), alert_identifier="X")),
        ("reported", lambda i: i.declare_all_clear(actor="a", at=at(60), alert_identifier="X")),
        ("reported", lambda i: i.issue_update(actor="a", at=at(60), alert_identifier="X")),
        ("stage_2", lambda i: i.open_internal_sharing(actor="a", at=at(60))),
        ("stage_2", lambda i: i.issue_second_message(actor="a", at=at(60), alert_identifier="X")),
    ],
)
def test_illegal_transitions_are_refused(setup: str, command: object) -> None:
    incident = reported() if setup == "reported" else to_stage_2()
    with pytest.raises(IllegalTransition, match="only allowed from") as refused:
        command(incident)  # type: ignore[operator]
    assert refused.value.stage.value == setup


def test_terminal_stages_refuse_everything() -> None:
    incident = to_stage_2()
    closed = advance(incident, incident.declare_all_clear(actor="p", at=at(60), alert_identifier="A-9"))
    with pytest.raises(IllegalTransition, match="all_clear"):
        closed.issue_update(actor="p", at=at(61), alert_identifier="A-10")
    with pytest.raises(IllegalTransition):
        closed.cancel(actor="p", at=at(61), reason="x", alert_identifier="A-11")
    with pytest.raises(IllegalTransition):
        closed.add_note(actor="p", at=at(61), note="late feedback")


def test_cancel_before_and_after_official_messages() -> None:
    early = reported()
    cancelled = advance(early, early.cancel(actor="kim", at=at(2), reason="오인 신고"))
    assert cancelled.stage is Stage.CANCELLED
    late = to_stage_2()
    with pytest.raises(IncidentError, match="needs a Cancel alert"):
        late.cancel(actor="kim", at=at(20), reason="오발령")
    done = advance(late, late.cancel(actor="kim", at=at(20), reason="오발령", alert_identifier="A-C"))
    assert done.stage is Stage.CANCELLED
    with pytest.raises(IncidentError, match="needs a reason"):
        early.cancel(actor="kim", at=at(2), reason=" ")


def test_an_issued_alert_identifier_cannot_be_reused() -> None:
    incident = to_stage_2()
    with pytest.raises(IncidentError, match="never changes"):
        incident.issue_update(actor="lee", at=at(20), alert_identifier="A-2")


def test_events_need_who_and_an_aware_when_in_order() -> None:
    incident = reported()
    with pytest.raises(IncidentError, match="actor"):
        incident.open_internal_sharing(actor="", at=at(1))
    with pytest.raises(IncidentError, match="timezone-aware"):
        incident.open_internal_sharing(actor="a", at=datetime(2026, 7, 14, 14, 0))
    with pytest.raises(IncidentError, match="earlier than"):
        incident.open_internal_sharing(actor="a", at=at(-5))


def test_replay_refuses_a_broken_history() -> None:
    start = Incident.report("INC-1", actor="a", at=T0, hazard="지진")
    jump = SecondMessageIssued(incident_id="INC-1", actor="a", occurred_at=at(1), alert_identifier="A")
    with pytest.raises(IllegalTransition):
        Incident.from_events([start, jump])
    with pytest.raises(IncidentError, match="must start"):
        Incident.from_events([jump])
    other = InternalSharingOpened(incident_id="INC-2", actor="a", occurred_at=at(1))
    with pytest.raises(IncidentError, match="applied to incident INC-1"):
        Incident.start(start).apply(other)
    with pytest.raises(IncidentError, match="already reported"):
        Incident.start(start).apply(start)


def test_report_needs_a_hazard() -> None:
    with pytest.raises(IncidentError, match="hazard"):
        Incident.report("INC-1", actor="a", at=T0, hazard="")


def test_cancelled_event_carries_reason() -> None:
    incident = reported()
    (event,) = incident.cancel(actor="kim", at=at(3), reason="훈련 상황 오입력")
    assert isinstance(event, IncidentCancelled)
    assert event.reason == "훈련 상황 오입력"
    assert event.event_id
