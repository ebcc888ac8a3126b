"""The one path every channel takes in: validate, resolve the place, make it durable, answer.

gRPC, Open311, the Kakao skill, the signed webhooks and the raw topic all call `Reception.receive`, so a submission
is judged by the same rules whichever door it came through. Accepting does not need PostgreSQL: the submission,
its contact sealed, is written to `intake.submission-accepted.v1` and the citizen is answered once the broker has
acknowledged it (acks=all). A citizen can therefore report while the database restarts, as disasters tend to
arrange; the intake worker stores each accepted submission exactly once (`store.SubmissionStore.store_accepted`),
links near-duplicates and announces `intake.submission-received.v1` when the database is there.

What that means for a caller (docs/architecture.md, "Accepting without the database"):
- the tracking id is final at once; ids are derived from the channel's message id, so a repeat of the same message
  is the same submission with the same tracking id whenever and wherever it arrives;
- `created` is False when this process has already accepted the same message recently; the store keeps the
  first, whatever `created` said;
- a GetSubmission right after the answer may find nothing for a few tens of milliseconds (longer while the
  database is away): the report is durable, not yet stored.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from sotong_common import events, topics
from sotong_common.errors import Unavailable
from sotong_common.geo import Place, Seoul
from sotong_common.producer import Acknowledged
from sotong_intake import tracking
from sotong_intake.contact import KeyRing, seal_contact
from sotong_intake.contract import accepted_event
from sotong_intake.submission import FieldViolation, Submission, validate_submission

SOURCE = "sotong.intake"
DEFAULT_WAIT_S = 10.0
RETRY_AFTER_S = 2.0
RECENT_KEYS = 100_000


class Refused(ValueError):
    """The submission broke content rules; `violations` name the fields in the domain's terms."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)


@dataclass(frozen=True)
class Accepted:
    submission_id: str
    tracking_id: str
    created: bool


class Reception:
    """Validation, place and acceptance for every door of one process."""

    def __init__(self, seoul: Seoul, producer: Acknowledged, keys: KeyRing | None) -> None:
        self.seoul = seoul
        self._producer = producer
        self._keys = keys
        self._recent: OrderedDict[str, None] = OrderedDict()

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

    async def receive(
        self,
        submission: Submission,
        webhook: tuple[str, str] | None = None,
        synced: tuple[str, str] | None = None,
        wait_s: float | None = None,
    ) -> Accepted:
        """Validate and accept one submission; Refused with the fields, or Unavailable when it cannot be made
        durable within `wait_s` (default 10 s; a caller with a deadline passes what is left of it)."""
        violations, place = self.check(submission)
        if violations:
            raise Refused(violations)
        return (await self.accept([(submission, place)], webhook, synced, wait_s))[0]

    async def accept(
        self,
        items: Sequence[tuple[Submission, Place | None]],
        webhook: tuple[str, str] | None = None,
        synced: tuple[str, str] | None = None,
        wait_s: float | None = None,
    ) -> list[Accepted]:
        """Accept validated submissions: each written to the acceptance topic, all acknowledged before returning."""
        if not self._producer.reachable:
            # Nothing is queued: a record sent now would reach the broker after the caller was told it failed,
            # and a retry without a message id (Open311) would then file the report twice.
            raise Unavailable(
                "the report could not be accepted now (the message broker is unavailable); nothing was filed, retry",
                retry_after_s=RETRY_AFTER_S,
            )
        now = datetime.now(UTC)
        sends = []
        ids: list[tuple[str, str]] = []
        for submission, place in items:
            submission_id, tracking_id = tracking.ids_for(submission, now)
            sid = str(submission_id)
            sealed = None
            contact = submission.contact
            if contact is not None and not contact.is_empty and self._keys is not None:
                sealed = seal_contact(contact, self._keys, sid).to_bytes()
            event = accepted_event(
                submission,
                sid,
                tracking_id,
                _district(submission, place),
                place.neighbourhood_code if place else None,
                sealed,
                now,
                webhook,
                synced,
            )
            metadata = events.EventMetadata.new(
                topics.SUBMISSION_ACCEPTED, SOURCE, event_id=events.derived_event_id(sid, f"accepted:{tracking_id}")
            )
            sends.append(
                self._producer.send(
                    topics.SUBMISSION_ACCEPTED, _key(submission, place), events.encode(event), metadata.headers()
                )
            )
            ids.append((sid, tracking_id))
        try:
            await asyncio.wait_for(asyncio.gather(*sends), timeout=wait_s if wait_s is not None else DEFAULT_WAIT_S)
        except (TimeoutError, KafkaException) as exc:
            raise Unavailable(
                "the report could not be confirmed durable (the message broker is unavailable); retry: a retry of "
                f"the same message is the same report ({type(exc).__name__})",
                retry_after_s=RETRY_AFTER_S,
            ) from None
        # Counted only once acknowledged: a report whose acceptance failed is `created` when the client retries.
        return [Accepted(sid, tracking_id, self._first_time(sid)) for sid, tracking_id in ids]

    def _first_time(self, submission_id: str) -> bool:
        """False when this process accepted the same submission (the same message) recently."""
        if submission_id in self._recent:
            self._recent.move_to_end(submission_id)
            return False
        self._recent[submission_id] = None
        if len(self._recent) > RECENT_KEYS:
            self._recent.popitem(last=False)
        return True


def _district(submission: Submission, place: Place | None) -> str | None:
    """The district a place resolved to, else the one the submission names (a report with only a district)."""
    if place is not None:
        return place.district_code
    return submission.location.district_code if submission.location else None


def _key(submission: Submission, place: Place | None) -> bytes:
    """Keyed by district, so the reports of one place are stored in the order they were accepted: the first of
    several near-duplicate reports is the one the others link to (a link is looked for only within a district's
    reach). A repeat of a message has the same place, hence the same partition as its first acceptance."""
    return (_district(submission, place) or "unplaced").encode()
