"""Participation spaces: where proposals live, and the numbers their state machine runs on.

Seoul's Democracy Seoul (민주주의 서울) opens a public forum when a proposal gathers 100 supports and obliges the
city to answer when 1,000 citizens take part in the forum; CONSUL archives proposals that reach nothing within
a year. Each space sets its own thresholds, periods, the verification a supporter needs, and the answer states
operators may use (the four kinds, extended with states of their own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from sotong_common.errors import FieldViolation, InvalidArgument
from sotong_community import verification

SUPPORT_THRESHOLD = 100
ANSWER_THRESHOLD = 1_000
ANSWER_PERIOD = timedelta(days=30)
ARCHIVE_AFTER = timedelta(days=365)
ANSWER_KINDS = ("evaluating", "accepted", "partially_accepted", "rejected")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class AnswerState:
    code: str
    kind: str
    label: str


DEFAULT_ANSWER_STATES = (
    AnswerState("evaluating", "evaluating", "검토 중"),
    AnswerState("accepted", "accepted", "수용"),
    AnswerState("partially_accepted", "partially_accepted", "부분 수용"),
    AnswerState("rejected", "rejected", "불수용"),
)


@dataclass(frozen=True)
class Space:
    space_id: str
    title: str
    support_threshold: int = SUPPORT_THRESHOLD
    answer_threshold: int = ANSWER_THRESHOLD
    answer_period: timedelta = ANSWER_PERIOD
    archive_after: timedelta = ARCHIVE_AFTER
    support_verification: str = "identity"
    answer_states: tuple[AnswerState, ...] = field(default=DEFAULT_ANSWER_STATES)
    department: str = ""

    def answer_state(self, code: str) -> AnswerState | None:
        return next((s for s in self.answer_states if s.code == code), None)

    def validated(self) -> Space:
        """This space if every value makes sense, else INVALID_ARGUMENT naming each wrong field."""
        problems: list[FieldViolation] = []
        if not self.title.strip() or len(self.title) > 150:
            problems.append(FieldViolation("space.title", "space.title must be 1..150 characters"))
        if not 1 <= self.support_threshold <= 10_000_000:
            problems.append(FieldViolation("space.support_threshold", "must be between 1 and 10,000,000"))
        if not self.support_threshold <= self.answer_threshold <= 10_000_000:
            problems.append(
                FieldViolation("space.answer_threshold", "must be at least the support threshold (and ≤ 10,000,000)")
            )
        for name, period in (("space.answer_period", self.answer_period), ("space.archive_after", self.archive_after)):
            if not timedelta(seconds=1) <= period <= timedelta(days=3650):
                problems.append(FieldViolation(name, f"{name} must be between 1 second and 10 years"))
        try:
            verification.check_level("space.support_verification", self.support_verification)
        except InvalidArgument as error:
            problems.extend(error.violations)
        seen: set[str] = set()
        for i, state in enumerate(self.answer_states):
            where = f"space.answer_states[{i}]"
            if not _CODE.fullmatch(state.code):
                problems.append(FieldViolation(where + ".code", "a code is lower-case letters, digits and '_'"))
            elif state.code in seen:
                problems.append(FieldViolation(where + ".code", f"answer state {state.code!r} is listed twice"))
            seen.add(state.code)
            if state.kind not in ANSWER_KINDS:
                problems.append(FieldViolation(where + ".kind", "kind must be one of " + ", ".join(ANSWER_KINDS)))
            if not state.label.strip() or len(state.label) > 80:
                problems.append(FieldViolation(where + ".label", "a label is 1..80 characters"))
        if not self.answer_states:
            problems.append(FieldViolation("space.answer_states", "a space needs at least one answer state"))
        if len(self.department) > 100:
            problems.append(FieldViolation("space.department", "at most 100 characters"))
        if problems:
            raise InvalidArgument(problems)
        return self
