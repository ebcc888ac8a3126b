"""Personal data encrypted at rest under a key ring: what intake does with reporters' contacts and partner with
merchants' contact persons and webhook secrets.

- AES-256-GCM with a fresh random nonce per value. The newest key of the ring encrypts; every key decrypts, so a
  key is rotated by adding a new one in front, re-sealing at leisure (`needs_rekey`), and removing the old one
  once nothing uses it.
- The caller's `context` (e.g. "sotong.intake.contact.v1|<submission id>") is the associated data, together with
  the key id: a ciphertext copied onto another row fails to open instead of showing the wrong person.
- A stored value is self-describing (`Sealed.to_bytes`: version, key id, nonce, ciphertext), for a bytea column.

Opening failures raise `OpenError` with the reason and never the key material or the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = b"\x01"  # version of the sealed layout, so it can change without guessing
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")


class OpenError(Exception):
    """A sealed value cannot be opened: unknown key id, corrupted data or another row's value."""


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
            raise ValueError("the key ring is empty")
        return cls(keys, order[0])

    @staticmethod
    def generate_key() -> str:
        """A fresh base64 key for config, for operators rotating keys."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted value as stored: which key, the nonce, and ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """Self-describing layout for a bytea column: version, key id length, key id, nonce, ciphertext."""
        kid = self.key_id.encode("ascii")
        return _FORMAT + bytes([len(kid)]) + kid + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> Sealed:
        if len(data) < 2 or data[:1] != _FORMAT:
            raise OpenError("unknown sealed-value format")
        kid_len = data[1]
        kid_end = 2 + kid_len
        if len(data) < kid_end + NONCE_BYTES + 16:
            raise OpenError("sealed value is truncated")
        return cls(
            data[2:kid_end].decode("ascii"),
            data[kid_end : kid_end + NONCE_BYTES],
            data[kid_end + NONCE_BYTES :],
        )


def _aad(context: bytes, key_id: str) -> bytes:
    return context + b"|" + key_id.encode("ascii")


def seal(plaintext: bytes, ring: KeyRing, context: bytes) -> Sealed:
    """Encrypt with the ring's current key and a fresh random nonce, bound to `context`."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(ring.keys[ring.current]).encrypt(nonce, plaintext, _aad(context, ring.current))
    return Sealed(ring.current, nonce, ciphertext)


def open_sealed(sealed: Sealed, ring: KeyRing, context: bytes, *, what: str = "value") -> bytes:
    """Decrypt with whichever ring key sealed it; raises `OpenError` rather than returning junk."""
    key = ring.keys.get(sealed.key_id)
    if key is None:
        raise OpenError(f"key {sealed.key_id!r} is no longer in the key ring")
    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, _aad(context, sealed.key_id))
    except InvalidTag:
        raise OpenError(f"{what} does not decrypt: corrupted, or sealed for another row") from None


def needs_rekey(sealed: Sealed, ring: KeyRing) -> bool:
    """Whether a stored value is under an older key; a background job re-seals these before a key is dropped."""
    return sealed.key_id != ring.current
