"""Protection of reporters' personal data: encryption at rest, masking for logs, and the retention rule.

A reporter's name, phone, email and channel user id are needed only to answer them. They are therefore:

- stored encrypted with AES-256-GCM under a key ring from config (`sotong_common.at_rest`, shared with the
  partner service). The newest key encrypts; every key in the ring decrypts, so a key is rotated by adding a new
  one in front, re-encrypting at leisure (`needs_rekey`, `rekey`), and removing the old one once nothing uses it.
  The submission id is the associated data, so a ciphertext copied onto another submission's row fails to
  decrypt instead of showing the wrong person.
- masked whenever they might reach a log line (`mask_phone`, `mask_email`, `mask_name`). Text citizens type is
  never logged, and the public reads it only as moderation published it (masked by moderation's pipeline).
- purged after the retention period (`past_retention` decides; the purge statement is the store's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sotong_common import at_rest
from sotong_common.at_rest import KeyRing
from sotong_intake.submission import Contact

_AAD_PREFIX = b"sotong.intake.contact.v1|"

ContactDecryptionError = at_rest.OpenError
"""A sealed contact cannot be opened: unknown key id, corrupted data or a different submission id."""

SealedContact = at_rest.Sealed
"""An encrypted contact as stored (the shared at-rest layout: version, key id, nonce, ciphertext)."""


def _context(submission_id: str) -> bytes:
    return _AAD_PREFIX + submission_id.encode("utf-8")


def seal_contact(contact: Contact, ring: KeyRing, submission_id: str) -> SealedContact:
    """Encrypt with the ring's current key and a fresh random nonce, bound to the submission id."""
    plaintext = json.dumps(
        {
            "name": contact.name,
            "phone": contact.phone,
            "email": contact.email,
            "channel_user_id": contact.channel_user_id,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return at_rest.seal(plaintext, ring, _context(submission_id))


def open_contact(sealed: SealedContact, ring: KeyRing, submission_id: str) -> Contact:
    """Decrypt with whichever ring key sealed it; raises `ContactDecryptionError` rather than returning junk."""
    fields = json.loads(at_rest.open_sealed(sealed, ring, _context(submission_id), what="contact"))
    return Contact(
        name=fields.get("name"),
        phone=fields.get("phone"),
        email=fields.get("email"),
        channel_user_id=fields.get("channel_user_id"),
    )


def needs_rekey(sealed: SealedContact, ring: KeyRing) -> bool:
    """Whether a stored contact is under an older key; a background job re-seals these before a key is dropped."""
    return at_rest.needs_rekey(sealed, ring)


def rekey(sealed: SealedContact, ring: KeyRing, submission_id: str) -> SealedContact:
    return seal_contact(open_contact(sealed, ring, submission_id), ring, submission_id)


# -- masking ---------------------------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    """010-1234-5678 -> 010-****-5678; keeps the carrier prefix and last four digits that staff use to confirm."""
    groups = re.split(r"([\s\-.])", phone.strip())
    parts = groups[::2]
    if len(parts) >= 3:
        masked = [parts[0]] + ["*" * len(p) for p in parts[1:-1]] + [parts[-1]]
        seps = groups[1::2]
        out = masked[0]
        for sep, part in zip(seps, masked[1:], strict=True):
            out += sep + part
        return out
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(email: str) -> str:
    """hong@example.com -> h***@example.com; the domain helps support staff and identifies nobody."""
    local, at, domain = email.strip().partition("@")
    if not at:
        return "***"
    return (local[:1] or "*") + "***@" + domain


def mask_name(name: str) -> str:
    """김민수 -> 김*수, 이수 -> 이*, 남궁민수 -> 남**수: the usual Korean masking of personal names."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "".join(" " if ch == " " else "*" for ch in name[1:-1]) + name[-1]


def mask_contact(contact: Contact) -> dict[str, str]:
    """A loggable view of a contact: only masked fields that are present."""
    view: dict[str, str] = {}
    if contact.name:
        view["name"] = mask_name(contact.name)
    if contact.phone:
        view["phone"] = mask_phone(contact.phone)
    if contact.email:
        view["email"] = mask_email(contact.email)
    if contact.channel_user_id:
        view["channel_user_id"] = contact.channel_user_id[:2] + "***"
    return view


# -- retention -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long contacts are kept.

    A contact is needed while the city may still answer: until the submission is closed, plus `after_closed`
    for follow-up questions and appeals. Submissions that are never closed (an opinion nobody answers) keep the
    contact at most `max_open`. Both are configurable; the defaults are a conservative reading of the
    data-minimisation rule of 개인정보 보호법 (destroy once the purpose is met), not legal advice.
    """

    after_closed: timedelta = timedelta(days=365)
    max_open: timedelta = timedelta(days=3 * 365)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """What the store knows about a stored contact, enough to decide on its purge."""

    submission_id: str
    stored_at: datetime
    closed_at: datetime | None = None
    legal_hold: bool = False


def past_retention(records: Iterable[ContactRecord], now: datetime, policy: RetentionPolicy) -> list[str]:
    """Submission ids whose contact must be purged now; a legal hold (dispute, investigation) always keeps it."""
    due: list[str] = []
    for record in records:
        if record.legal_hold:
            continue
        if record.closed_at is not None:
            expired = now - record.closed_at >= policy.after_closed
        else:
            expired = now - record.stored_at >= policy.max_open
        if expired:
            due.append(record.submission_id)
    return due


def purge_cutoffs(now: datetime, policy: RetentionPolicy) -> tuple[datetime, datetime]:
    """(closed_before, stored_before) timestamps for the store's purge query, the SQL twin of `past_retention`."""
    return now - policy.after_closed, now - policy.max_open


__all__: Sequence[str] = (
    "ContactDecryptionError",
    "ContactRecord",
    "KeyRing",
    "RetentionPolicy",
    "SealedContact",
    "mask_contact",
    "mask_email",
    "mask_name",
    "mask_phone",
    "needs_rekey",
    "open_contact",
    "past_retention",
    "purge_cutoffs",
    "rekey",
    "seal_contact",
)
