from __future__ import annotations

from datetime import timedelta

import pytest

from sotong_alerting.approval import (
    PERMISSION_APPROVE_OWN_DRILL,
    ApprovalRefused,
    Person,
    approval_refusals,
    approve,
    derive_cancel,
    derive_update,
    duplicate_warnings,
)
from sotong_alerting.cap import MsgType, Reference, Status, validate_alert
from sotong_alerting.channels import Channel

from .factories import SENT, english_info, korean_info, make_alert

DRAFTER = Person("kim", frozenset({"approver"}))
APPROVER = Person("lee", frozenset({"approver"}))
OPERATOR = Person("choi", frozenset({"operator"}))


def test_actual_alert_approved_by_a_second_person() -> None:
    approved = approve(make_alert(), DRAFTER, APPROVER, SENT)
    assert (approved.drafted_by, approved.approved_by, approved.approved_at) == ("kim", "lee", SENT)


def test_drafter_cannot_approve_their_own_actual_alert() -> None:
    with pytest.raises(ApprovalRefused, match="second person") as refused:
        approve(make_alert(), DRAFTER, DRAFTER, SENT)
    assert len(refused.value.reasons) == 1


def test_actual_alert_needs_the_approver_permission() -> None:
    reasons = approval_refusals(make_alert(), DRAFTER, OPERATOR)
    assert reasons == ["choi may not approve Actual alerts (needs alert.approve.actual)"]


@pytest.mark.parametrize("status", [Status.TEST, Status.EXERCISE, Status.SYSTEM])
def test_drills_need_their_own_permission_and_a_second_person(status: Status) -> None:
    alert = make_alert(status=status)
    assert approval_refusals(alert, OPERATOR, Person("park", frozenset({"operator"}))) == []
    assert approval_refusals(alert, OPERATOR, OPERATOR) == [
        f"a {status.value} alert needs a second person's approval too; choi drafted it "
        "(approving one's own drill needs alert.approve.own-drill)"
    ]
    citizen = Person("someone", frozenset({"citizen"}))
    assert approval_refusals(alert, DRAFTER, citizen) == [
        f"someone may not approve {status.value} alerts (needs alert.approve.drill)"
    ]


@pytest.mark.parametrize("status", [Status.TEST, Status.EXERCISE])
def test_the_separate_own_drill_permission_lets_a_drafter_approve_a_drill_and_marks_it(status: Status) -> None:
    solo = Person("choi", frozenset({"operator"}), grants=frozenset({PERMISSION_APPROVE_OWN_DRILL}))
    approved = approve(make_alert(status=status), OPERATOR, solo, SENT)
    assert approved.own_drill
    assert not approve(make_alert(status=status), OPERATOR, APPROVER, SENT).own_drill
    # It is a drill permission only: a real alert still needs a second person.
    solo_approver = Person("kim", frozenset({"approver"}), grants=frozenset({PERMISSION_APPROVE_OWN_DRILL}))
    with pytest.raises(ApprovalRefused, match="second person"):
        approve(make_alert(), DRAFTER, solo_approver, SENT)


def test_draft_is_never_approved() -> None:
    assert "not actionable" in approval_refusals(make_alert(status=Status.DRAFT), DRAFTER, APPROVER)[0]


def test_an_approved_alert_never_changes() -> None:
    original = make_alert()
    changed = make_alert(infos=(korean_info(headline="도봉구 호우경보 해제"),))
    reasons = approval_refusals(changed, DRAFTER, APPROVER, approved={original.identifier: original})
    assert any("never changes" in reason for reason in reasons)
    assert approval_refusals(original, DRAFTER, APPROVER, approved={original.identifier: original}) == []


def test_update_and_cancel_are_new_alerts_referencing_the_original() -> None:
    original = make_alert()
    update = derive_update(
        original,
        identifier="SEOUL-2026-0002",
        sent=SENT + timedelta(hours=1),
        infos=(korean_info(headline="도봉구 호우경보 유지"), english_info()),
    )
    assert update.msg_type is MsgType.UPDATE
    assert update.references == (original.reference,)
    assert original.msg_type is MsgType.ALERT  # untouched
    assert validate_alert(update) == []
    cancel = derive_cancel(update, identifier="SEOUL-2026-0003", sent=SENT + timedelta(hours=2), note="오발령")
    assert cancel.msg_type is MsgType.CANCEL
    assert cancel.references == (original.reference, update.reference)
    assert validate_alert(cancel) == []
    approved = {original.identifier: original, update.identifier: update}
    assert approval_refusals(cancel, DRAFTER, APPROVER, approved=approved) == []
    with pytest.raises(ValueError, match="new identifier"):
        derive_update(original, identifier=original.identifier, sent=SENT)


def test_update_of_an_unapproved_alert_is_refused() -> None:
    stray = make_alert(
        identifier="SEOUL-2026-0009",
        msg_type=MsgType.UPDATE,
        references=(Reference("alert@seoul.go.kr", "NOPE", "2026-07-14T13:00:00+09:00"),),
    )
    reasons = approval_refusals(stray, DRAFTER, APPROVER, approved={})
    assert any("never approved" in reason for reason in reasons)


def test_invalid_cap_and_channel_limits_block_approval() -> None:
    invalid = make_alert(msg_type=MsgType.UPDATE)
    assert any(r.startswith("invalid CAP:") for r in approval_refusals(invalid, DRAFTER, APPROVER))
    wordy = make_alert(infos=(korean_info(instruction="가" * 100), english_info()))
    reasons = approval_refusals(wordy, DRAFTER, APPROVER, channels=[Channel.CELL_BROADCAST])
    assert reasons == [reasons[0]]
    assert reasons[0].startswith("channel limit: cell_broadcast text:")


def test_second_alert_for_same_hazard_and_area_within_24h_warns() -> None:
    first = make_alert()
    second = make_alert(identifier="SEOUL-2026-0002", sent=SENT + timedelta(hours=23))
    warnings = duplicate_warnings(second, [first])
    assert len(warnings) == 1
    assert warnings[0].other == first.reference
    assert "23.0 h apart" in warnings[0].message
    # a warning, not a refusal: approval still goes through
    assert approval_refusals(second, DRAFTER, APPROVER) == []


def test_no_duplicate_warning_outside_window_other_area_hazard_or_own_chain() -> None:
    first = make_alert()
    later = make_alert(identifier="B", sent=SENT + timedelta(hours=24))
    assert duplicate_warnings(later, [first]) == []
    elsewhere = make_alert(identifier="C", infos=(korean_info(areas=()),))
    assert duplicate_warnings(elsewhere, [first]) == []
    other_hazard = make_alert(identifier="D", infos=(korean_info(event="지진"),))
    assert duplicate_warnings(other_hazard, [first]) == []
    update = derive_update(first, identifier="E", sent=SENT + timedelta(hours=1))
    assert duplicate_warnings(update, [first]) == []
    drill = make_alert(identifier="F", status=Status.EXERCISE)
    assert duplicate_warnings(drill, [first]) == []
