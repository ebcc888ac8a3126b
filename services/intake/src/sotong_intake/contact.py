"""Protection of reporters' personal data: encryption at rest, masking for logs, and the retention rule.

A reporter's name, phone, email and channel user id are needed only to answer them. They are therefore:

- stored encrypted with AES-256-GCM under a key ring from config. The newest key encrypts; every key in the
  ring decrypts, so a key is rotated by adding a new one in front, re-encrypting at leisure (`needs_rekey`,
  `rekey`), and removing the old one once nothing uses it. The submission id is the associated data, so a
  ciphertext copied onto another submission's row fails to decrypt instead of showing the wrong person.
- masked whenever they might reach a log line (`mask_phone`, `mask_email`, `mask_name`). Text citizens type is
  never logged, and the public reads it only as moderation published it (masked by moderation's pipeline).
- purged after the retention period (`past_retention` decides; the purge statement is the store's).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sotong_intake.submission import Contact

_FORMAT = b"\x01"  # version of the sealed layout, so it can change without guessing
_NONCE_BYTES = 12
_AAD_PREFIX = b"sotong.intake.contact.v1|"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")


class ContactDecryptionError(Exception):
    """A sealed contact cannot be opened: unknown key id, corrupted data or a different submission id."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Named AES-256 keys; `current` encrypts, all decrypt."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"key id {key_id!r} must be 1-32 characters of A-Z a-z 0-9 _ . -")
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")

    @classmethod
    def from_config(cls, spec: str) -> KeyRing:
        """Parse "id:base64key,id:base64key,…" with the newest (encrypting) key first.

        This is the value of one environment variable (e.g. SOTONG_INTAKE_CONTACT_KEYS); errors name the entry
        but never echo key material.
        """
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for position, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise ValueError(f"key entry {position + 1} must look like id:base64key")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {key_id!r} is not valid base64") from None
            if key_id in keys:
                raise ValueError(f"key id {key_id!r} appears twice")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise ValueError("the contact key ring is empty")
        return cls(keys, order[0])

    @staticmethod
    def generate_key() -> str:
        """A fresh base64 key for config, for operators rotating keys."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


@dataclass(frozen=True, slots=True)
class SealedContact:
    """An encrypted contact as stored: which key, the nonce, and ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """Self-describing layout for a bytea column: version, key id length, key id, nonce, ciphertext."""
        kid = self.key_id.encode("ascii")
        return _FORMAT + bytes([len(kid)]) + kid + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedContact:
        if len(data) < 2 or data[:1] != _FORMAT:
            raise ContactDecryptionError("unknown sealed-contact format")
        kid_len = data[1]
        kid_end = 2 + kid_len
        if len(data) < kid_end + _NONCE_BYTES + 16:
            raise ContactDecryptionError("sealed contact is truncated")
        return cls(
            data[2:kid_end].decode("ascii"),
            data[kid_end : kid_end + _NONCE_BYTES],
            data[kid_end + _NONCE_BYTES :],
        )


def _aad(submission_id: str, key_id: str) -> bytes:
    return _AAD_PREFIX + submission_id.encode("utf-8") + b"|" + key_id.encode("ascii")


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
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(ring.keys[ring.current]).encrypt(nonce, plaintext, _aad(submission_id, ring.current))
    return SealedContact(ring.current, nonce, ciphertext)


def open_contact(sealed: SealedContact, ring: KeyRing, submission_id: str) -> Contact:
    """Decrypt with whichever ring key sealed it; raises `ContactDecryptionError` rather than returning junk."""
    key = ring.keys.get(sealed.key_id)
    if key is None:
        raise ContactDecryptionError(f"key {sealed.key_id!r} is no longer in the key ring")
    try:
        plaintext = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, _aad(submission_id, sealed.key_id))
    except InvalidTag:
        raise ContactDecryptionError("contact does not decrypt: corrupted, or sealed for another submission") from None
    fields = json.loads(plaintext)
    return Contact(
        name=fields.get("name"),
        phone=fields.get("phone"),
        email=fields.get("email"),
        channel_user_id=fields.get("channel_user_id"),
    )


def needs_rekey(sealed: SealedContact, ring: KeyRing) -> bool:
    """Whether a stored contact is under an older key; a background job re-seals these before a key is dropped."""
    return sealed.key_id != ring.current


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
