"""Sealed targets: a citizen's contact travels to the publishing engine without being readable on the way.

A status reply must reach the phone number, device token or KakaoTalk bot user key a report came from, but that
contact must never be in clear on a Kafka topic, in a log line or in a span. So the requesting service seals it
to the publishing service's public key with HPKE (RFC 9180, base mode: X25519, HKDF-SHA256, AES-256-GCM) and
only the engine, which holds the private key, opens it, at the moment it delivers. A requester can seal but not
open: a leaked intake secret does not open what community or partner sealed, and a topic dump opens nothing.

The `ref` the requester chooses (e.g. `intake:contact:<submission id>`) is bound into the HPKE info string, so a
ciphertext copied next to another ref does not open; receipts, logs and the delivery record show the ref.

Keys rotate as key rings: `id:base64` entries, newest first. Requesters seal with the newest public key; the
engine opens with whichever private key the sealed target names. `python -m sotong_common.sealing` prints a new
pair for configuration.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

INFO_PREFIX = b"sotong.publishing.sealed-target.v1|"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
MAX_TARGET_BYTES = 512


class SealingError(ValueError):
    """A target cannot be sealed, or a sealed target cannot be opened (unknown key, wrong ref, tampered)."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    ciphertext: bytes
    ref: str


def _ring(spec: str, what: str) -> list[tuple[str, bytes]]:
    entries: list[tuple[str, bytes]] = []
    for position, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ValueError(f"{what} entry {position + 1} must look like id:base64key (id: 1-32 of A-Z a-z 0-9 _ . -)")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{what} {key_id!r} is not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"{what} {key_id!r} must be 32 bytes (X25519), got {len(raw)}")
        if any(key_id == k for k, _ in entries):
            raise ValueError(f"{what} id {key_id!r} appears twice")
        entries.append((key_id, raw))
    if not entries:
        raise ValueError(f"the {what} ring is empty")
    return entries


@dataclass(frozen=True)
class Sealer:
    """Seals targets for the publishing engine (what a requesting service holds: public keys only)."""

    key_id: str
    public_key: X25519PublicKey

    @classmethod
    def from_config(cls, spec: str) -> Sealer:
        """`id:base64(public key)[,...]`, newest first; the newest seals."""
        key_id, raw = _ring(spec, "public key")[0]
        return cls(key_id, X25519PublicKey.from_public_bytes(raw))

    def seal(self, target: str, ref: str) -> Sealed:
        data = target.encode()
        if not target or len(data) > MAX_TARGET_BYTES:
            raise SealingError(f"a target must be 1..{MAX_TARGET_BYTES} bytes")
        if not ref:
            raise SealingError("a sealed target needs a ref")
        return Sealed(self.key_id, _SUITE.encrypt(data, self.public_key, info=INFO_PREFIX + ref.encode()), ref)


@dataclass(frozen=True)
class Opener:
    """Opens sealed targets (what the publishing engine holds: the private keys)."""

    keys: dict[str, X25519PrivateKey]

    @classmethod
    def from_config(cls, spec: str) -> Opener:
        """`id:base64(private key)[,...]`; every key in the ring opens what it sealed."""
        return cls({key_id: X25519PrivateKey.from_private_bytes(raw) for key_id, raw in _ring(spec, "private key")})

    def open(self, key_id: str, ciphertext: bytes, ref: str) -> str:
        key = self.keys.get(key_id)
        if key is None:
            raise SealingError(f"no private key {key_id!r} to open the target {ref!r}")
        try:
            return _SUITE.decrypt(ciphertext, key, info=INFO_PREFIX + ref.encode()).decode()
        except Exception:  # InvalidTag, bad length, bad UTF-8: all say the same thing to the caller
            raise SealingError(f"the sealed target {ref!r} does not open with key {key_id!r}") from None

    def sealer(self) -> Sealer:
        """A sealer for the first key (for tests and the local stack)."""
        key_id, key = next(iter(self.keys.items()))
        return Sealer(key_id, key.public_key())


def new_pair(key_id: str = "k1") -> tuple[str, str]:
    """A fresh (private, public) key-ring entry pair as configuration values."""
    key = X25519PrivateKey.generate()
    private = base64.b64encode(key.private_bytes_raw()).decode()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    return f"{key_id}:{private}", f"{key_id}:{public}"


if __name__ == "__main__":  # pragma: no cover - a tool for operators
    private, public = new_pair(sys.argv[1] if len(sys.argv) > 1 else "k1")
    print(f"SOTONG_PUBLISHING_SEAL_KEYS={private}")
    print(f"SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS={public}")
