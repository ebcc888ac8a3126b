"""The one path every channel takes in: validate, resolve the place, store once.

gRPC, Open311, the channel webhooks and the raw topic all call `Reception.receive`, so a submission is judged by
the same rules whichever door it came through, and the same (channel, message id) is stored only once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sotong_common.geo import Place, Seoul
from sotong_intake.group_commit import GroupCommit
from sotong_intake.store import Accepted, SubmissionStore
from sotong_intake.submission import FieldViolation, Submission, validate_submission


class Refused(ValueError):
    """The submission broke content rules; `violations` name the fields in the domain's terms."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)


class Reception:
    """`group`, when given, stores submissions without a webhook delivery through group commit."""

    def __init__(self, store: SubmissionStore, seoul: Seoul, group: GroupCommit | None = None) -> None:
        self.store = store
        self.seoul = seoul
        self.group = group

    def check(self, submission: Submission) -> tuple[list[FieldViolation], Place | None]:
        violations = validate_submission(submission, self.seoul)
        return violations, (None if violations else self.resolve(submission))

    def resolve(self, submission: Submission) -> Place | None:
        """District and neighbourhood of a point; of address text where it can be told (else left unresolved)."""
        location = submission.location
        if location is None:
            return None
        if location.point is not None:
            return self.seoul.resolve_point(location.point.lat, location.point.lng)
        if location.address:
            return self.seoul.resolve_address(location.address)
        return None

    async def receive(self, submission: Submission, webhook: tuple[str, str] | None = None) -> Accepted:
        violations, place = self.check(submission)
        if violations:
            raise Refused(violations)
        if self.group is not None and webhook is None:
            return await self.group.accept(submission, place)
        return await self.store.accept(submission, place, webhook)
