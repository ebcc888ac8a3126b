"""Opinion-leader briefings (task 7 of the plan): who may be briefed, what the publishing service is asked, and
how receipts and replies find their way back.

A briefing is drafted by staff, approved by a department admin, and handed to the publishing service (routine
lane) in the approval's transaction with `not_before` = the embargo: the engine holds it and delivers it at that
time, once per leader. Each leader is a sealed target whose ref (`community:leader:<id>`) is what receipts
carry, so delivery is reported per leader without their contact leaving the schema. A leader whose consent
expired by the embargo is not briefed. A leader's reply, recorded by staff, is filed with intake as an opinion
(once per text), and intake's tracking id is kept on the recipient.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

CHANNELS = ("sms", "kakao", "mail")
LEADER_REF = "community:leader:"
MESSAGE_PREFIX = "briefing:"
REPLY_PREFIX = "community:briefing-reply:"
RSVPS = ("yes", "no", "maybe")
_MAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_BODY = 5_000


def leader_ref(leader_id: str) -> str:
    return LEADER_REF + leader_id


def leader_of(ref: str) -> str | None:
    return ref[len(LEADER_REF) :] if ref.startswith(LEADER_REF) else None


def message_id(briefing_id: str) -> str:
    return MESSAGE_PREFIX + briefing_id


def briefing_of(message_id_: str) -> str | None:
    return message_id_[len(MESSAGE_PREFIX) :] if message_id_.startswith(MESSAGE_PREFIX) else None


def contact_problem(channel: str, contact: str) -> str | None:
    """Why `contact` cannot reach a leader on `channel` (None when it can)."""
    if channel == "sms":
        digits = "".join(ch for ch in contact if ch.isdigit())
        return None if len(digits) in (10, 11) and digits.startswith("01") else "a mobile number such as 010-1234-5678"
    if channel == "mail":
        return None if _MAIL.fullmatch(contact) else "a mail address"
    if channel == "kakao":
        return (
            None if contact and len(contact) <= 128 and not any(c.isspace() for c in contact) else "a chatbot user key"
        )
    return "a channel first"


def address(channel: str, contact: str) -> str:
    return "".join(ch for ch in contact if ch.isdigit()) if channel == "sms" else contact


def consented(expires_at: datetime, embargo_until: datetime) -> bool:
    """The consent must still be in force when the briefing is delivered."""
    return expires_at > embargo_until


def reply_channel_message_id(briefing_id: str, leader_id: str, text: str) -> str:
    digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]
    return f"{REPLY_PREFIX}{briefing_id}:{leader_id}:{digest}"


def reply_of(channel_message_id: str) -> tuple[str, str] | None:
    """(briefing id, leader id) of a submission filed from a leader's reply."""
    if not channel_message_id.startswith(REPLY_PREFIX):
        return None
    parts = channel_message_id[len(REPLY_PREFIX) :].split(":")
    return (parts[0], parts[1]) if len(parts) == 3 else None
