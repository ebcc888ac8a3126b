"""Staff social-media guidelines and training: who is compliant, per department.

A staff member is compliant when they acknowledged the current version of the guidelines (an acknowledgement
of an older version does not carry over: the text changed) and attended a training session within the
validity period (a year by default). The view counts both per department and lists each staff member's state,
so a department's SNS manager sees whom to remind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class StaffState:
    staff: str
    department: str
    acknowledged_version: int
    last_trained_at: datetime | None


@dataclass(frozen=True)
class StaffCompliance:
    staff: str
    acknowledged_version: int
    acknowledged_current: bool
    last_trained_at: datetime | None
    trained_recently: bool

    @property
    def compliant(self) -> bool:
        return self.acknowledged_current and self.trained_recently


@dataclass(frozen=True)
class DepartmentCompliance:
    department: str
    current_version: int
    staff: tuple[StaffCompliance, ...]

    @property
    def acknowledged_current(self) -> int:
        return sum(1 for s in self.staff if s.acknowledged_current)

    @property
    def trained_recently(self) -> int:
        return sum(1 for s in self.staff if s.trained_recently)

    @property
    def compliant(self) -> int:
        return sum(1 for s in self.staff if s.compliant)


def judge(state: StaffState, current_version: int, now: datetime, valid: timedelta) -> StaffCompliance:
    acknowledged = current_version > 0 and state.acknowledged_version == current_version
    trained = state.last_trained_at is not None and now - state.last_trained_at <= valid
    return StaffCompliance(state.staff, state.acknowledged_version, acknowledged, state.last_trained_at, trained)


def by_department(
    states: Iterable[StaffState], current_version: int, now: datetime, valid: timedelta
) -> list[DepartmentCompliance]:
    grouped: dict[str, list[StaffCompliance]] = {}
    for state in states:
        grouped.setdefault(state.department, []).append(judge(state, current_version, now, valid))
    return [
        DepartmentCompliance(department, current_version, tuple(sorted(members, key=lambda s: s.staff)))
        for department, members in sorted(grouped.items())
    ]


def acknowledgement_problem(version: int, current_version: int) -> str | None:
    """Only the current version can be acknowledged (an old text is no longer what staff must follow)."""
    if current_version == 0:
        return "no guidelines are published yet"
    if version != current_version:
        return f"version: the current guidelines are version {current_version}; acknowledge that one"
    return None


def unknown_staff(requested: Sequence[str], registered: Iterable[str]) -> list[str]:
    known = set(registered)
    return [s for s in requested if s not in known]
