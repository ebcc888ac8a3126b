"""Free SNS classes for seniors and other groups (task 8 of the plan): seats, the first-come waitlist, offers of
freed seats, eligibility, completion.

Seoul's 디지털 배움터 ran about 135 sites and 98 courses a year; a popular class fills in minutes. The rules:

- **Never more enrolled than seats**: a class's `enrolled + offered` (a seat held for someone) never exceeds its
  capacity. Enrolments are decided one at a time per class (the class row is locked), so 500 people arriving at
  once for 20 seats end as 20 enrolled and 480 waitlisted, in the order their enrolments reached the class.
- **First come, first offered**: the waitlist keeps its positions; when a seat frees (a cancellation, an offer
  not taken), the first waitlisted person is offered it, by SMS or KakaoTalk, and holds it for the class's
  `offer_hold` (24 hours by default). Accepting enrols them; not answering in time passes the seat on.
- **Eligibility per course**: e.g. 65 and older, the age counted at the first session from the birth year the
  person states (the year is used for the check and not stored).
- **Completion**: attending 80 % of the sessions (rounded up).

Statuses: waitlisted ─offer─▶ offered ─accept─▶ enrolled; offered ─expire─▶ offer_expired; any live ─cancel─▶
cancelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

ENROLLED, WAITLISTED, OFFERED, CANCELLED, OFFER_EXPIRED = (
    "enrolled",
    "waitlisted",
    "offered",
    "cancelled",
    "offer_expired",
)
LIVE = frozenset({ENROLLED, WAITLISTED, OFFERED})
HOLDS_SEAT = frozenset({ENROLLED, OFFERED})
LEVELS = ("beginner", "intermediate", "advanced")
CHANNELS = ("app", "kakao", "phone")
DEFAULT_OFFER_HOLD = timedelta(hours=24)
MIN_OFFER_HOLD = timedelta(seconds=1)
MAX_OFFER_HOLD = timedelta(days=7)
MAX_CAPACITY = 1_000
MAX_SESSIONS = 60
COMPLETION_SHARE = 0.8


@dataclass(frozen=True)
class Seats:
    capacity: int
    enrolled: int
    offered: int
    waitlisted: int

    @property
    def free(self) -> int:
        return self.capacity - self.enrolled - self.offered


def placement(seats: Seats, keeps_waitlist: bool) -> str | None:
    """Where a new enrolment goes: a free seat (only when nobody waits before it), the waitlist, or nowhere."""
    if seats.free > 0 and seats.waitlisted == 0:
        return ENROLLED
    if keeps_waitlist:
        return WAITLISTED
    return None


def age_at(birth_year: int, when: datetime) -> int:
    """The age someone born in `birth_year` reaches in the year of `when` (Korea's 만 나이 by year, the most a
    birth year alone can tell: a person not yet past their birthday counts a year older, in their favour)."""
    return when.year - birth_year


def eligibility_problem(min_age: int, birth_year: int, first_session: datetime) -> str | None:
    if min_age <= 0:
        return None
    if birth_year <= 0:
        return f"birth_year: this class is for {min_age} and older; give the birth year"
    if age_at(birth_year, first_session) < min_age:
        return f"birth_year: this class is for {min_age} and older (born {first_session.year - min_age} or earlier)"
    return None


def sessions_to_complete(sessions: int) -> int:
    return math.ceil(sessions * COMPLETION_SHARE) if sessions else 0


def completed(attended: int, sessions: int) -> bool:
    return sessions > 0 and attended >= sessions_to_complete(sessions)


def phone_digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def valid_mobile(phone: str) -> bool:
    """A Korean mobile number (010-1234-5678): what an SMS offer needs."""
    digits = phone_digits(phone)
    return len(digits) in (10, 11) and digits.startswith("01")


def offer_text(title: str, expires_at: datetime) -> str:
    from sotong_community.audit import SEOUL

    return (
        f"[서울시 SNS 교실] 대기하신 '{title}' 수업에 자리가 났습니다. "
        f"{expires_at.astimezone(SEOUL):%m월 %d일 %H:%M}까지 신청을 확정해 주세요. "
        "확정하지 않으면 다음 분께 넘어갑니다."
    )


def reminder_text(title: str, starts_at: datetime, venue: str) -> str:
    from sotong_community.audit import SEOUL

    where = f" ({venue})" if venue else ""
    return f"[서울시 SNS 교실] 내일 {starts_at.astimezone(SEOUL):%H:%M} '{title}' 수업이 있습니다{where}."
