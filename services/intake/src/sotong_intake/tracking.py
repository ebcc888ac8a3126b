"""Submission ids and tracking ids: what a citizen reads out to the 120 call centre, and what makes a repeat the
same submission.

A channel that names its messages (a KakaoTalk skill call, an SNS mention, a portal record, a partner webhook, an
app that sends its own message id) gets ids derived from (channel, message id): every repeat of the message,
whenever and through whichever replica it arrives, is the same submission with the same tracking id, before any
database is asked (acceptance does not wait for PostgreSQL). Without a message id the ids are random, and a
client that retries may file twice (clients send `channel_message_id`, or an idempotency key at the gateway).

A tracking id is the acceptance date (UTC) and 8 characters a person can read over the phone: no 0/O, no 1/I.
A message first accepted just before midnight and repeated after it gets a second tracking id for the same
submission; the store records it as an alias, so both find the report.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sotong_intake.submission import Submission

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone to the 120 call centre
_NAMESPACE = uuid.UUID("9d4b7c1e-2f60-4a8b-8e35-0c6f1d2a7b94")


def idempotency_key(submission: Submission) -> str | None:
    """The stored channel message id: a message id is unique only within its source (partner, SNS platform)."""
    if not submission.channel_message_id:
        return None
    if submission.source and submission.channel == "webhook":
        return f"{submission.source}:{submission.channel_message_id}"
    return submission.channel_message_id


def _code(bits: int) -> str:
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(8))


def new_tracking_id(now: datetime) -> str:
    """A random tracking id: date plus 8 unambiguous characters (40 random bits)."""
    return f"{now:%y%m%d}-" + _code(int.from_bytes(secrets.token_bytes(5), "big"))


def ids_for(submission: Submission, now: datetime) -> tuple[uuid.UUID, str]:
    """(submission id, tracking id): derived from the channel's message id when there is one, else random."""
    key = idempotency_key(submission)
    if key is None:
        return uuid.uuid4(), new_tracking_id(now)
    name = f"{submission.channel}|{key}"
    digest = hashlib.sha256(name.encode()).digest()
    return uuid.uuid5(_NAMESPACE, name), f"{now:%y%m%d}-" + _code(int.from_bytes(digest[:5], "big"))


def recently_issued(tracking_id: str, now: datetime) -> bool:
    """True when the id's date prefix (YYMMDD, UTC) is today or yesterday: a report that may not be stored yet."""
    prefix = tracking_id.partition("-")[0]
    today = now.astimezone(UTC).date()
    return prefix in {today.strftime("%y%m%d"), (today - timedelta(days=1)).strftime("%y%m%d")}
