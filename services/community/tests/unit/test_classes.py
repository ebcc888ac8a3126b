"""Class seats, the waitlist's placement, eligibility and completion, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from sotong_community import classes

FIRST = datetime(2027, 3, 2, 1, 0, tzinfo=UTC)


def test_a_seat_goes_to_a_newcomer_only_when_nobody_waits() -> None:
    assert classes.placement(classes.Seats(20, 19, 0, 0), True) == classes.ENROLLED
    assert classes.placement(classes.Seats(20, 20, 0, 0), True) == classes.WAITLISTED
    assert classes.placement(classes.Seats(20, 19, 1, 0), True) == classes.WAITLISTED  # a seat held by an offer
    assert classes.placement(classes.Seats(20, 18, 0, 3), True) == classes.WAITLISTED  # the line goes first
    assert classes.placement(classes.Seats(20, 20, 0, 0), False) is None


def test_eligibility_counts_the_age_at_the_first_session() -> None:
    assert classes.eligibility_problem(65, 1962, FIRST) is None  # 65 in 2027
    assert classes.eligibility_problem(65, 1963, FIRST) == (
        "birth_year: this class is for 65 and older (born 1962 or earlier)"
    )
    assert (classes.eligibility_problem(65, 0, FIRST) or "").startswith("birth_year:")
    assert classes.eligibility_problem(0, 0, FIRST) is None


def test_completion_is_eighty_percent_of_the_sessions() -> None:
    assert classes.sessions_to_complete(5) == 4
    assert classes.sessions_to_complete(8) == 7
    assert classes.completed(4, 5) and not classes.completed(3, 5)
    assert not classes.completed(0, 0)


def test_offers_need_a_korean_mobile_number() -> None:
    assert classes.valid_mobile("010-1234-5678") and classes.valid_mobile("01012345678")
    assert not classes.valid_mobile("02-2133-1234") and not classes.valid_mobile("010-12")
    assert "03월 02일 10:00" in classes.offer_text("SNS 첫걸음", FIRST)  # Seoul time
