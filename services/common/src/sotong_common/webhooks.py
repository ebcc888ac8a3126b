"""Webhooks signed the Standard Webhooks way (https://www.standardwebhooks.com/), received and sent.

Shared by every service with a webhook door: intake (partner systems posting reports) and partner (partner
platforms pushing catalogues in, and partner notifications sent out). Anyone can reach a receiving endpoint, so a
delivery is accepted only if:

- `webhook-signature` holds at least one `v1,<base64 HMAC-SHA256>` over "{webhook-id}.{webhook-timestamp}.{body}"
  made with one of the partner's active secrets (`whsec_<base64 key>`). Several signatures may be sent,
  space-separated, and several secrets may be active, which is how a key is rotated without downtime: add the
  new secret, let the partner switch, then remove the old one. Unknown signature versions (e.g. `v1a`) are
  skipped, not failed, as the spec asks.
- `webhook-timestamp` is within 5 minutes of now in either direction, which bounds how long a captured request
  can be replayed and rejects clocks far in the future.
- `webhook-id` was not seen before (replay within the window). Remembering ids is storage, which is the
  caller's: pass `seen=` to have it checked here, and record `VerifiedWebhook.id` after the delivery is stored.

Signatures are compared with `hmac.compare_digest`, so timing reveals nothing about how much of a guess matched.

The sending side: `new_secret()` makes an endpoint's secret (24 random bytes, the spec's minimum for
symmetric keys) and `signed_headers()` the three headers of one attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 5 * 60
MAX_ID_CHARS = 128


class Reason(StrEnum):
    MISSING_HEADER = "missing_header"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    NO_SIGNATURE = "no_signature"
    SIGNATURE_MISMATCH = "signature_mismatch"
    REPLAYED = "replayed"
    BAD_ID = "bad_id"


class WebhookVerificationError(Exception):
    """The delivery must be refused; `reason` says why in a form fit for metrics and a 400/401 answer."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A delivery whose origin and freshness were proven; `id` is the key to remember against replays."""

    id: str
    timestamp: int
    body: bytes


def parse_secret(secret: str) -> bytes:
    """Key bytes of a `whsec_<base64>` secret; raises ValueError with the reason for a malformed one.

    A bare base64 string is accepted too, since some partners' consoles show the key without the prefix.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after the whsec_ prefix") from exc
    if len(key) < 16:
        raise ValueError("webhook secret is shorter than 16 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of a delivery: used by tests, stand-ins and our own outgoing webhooks."""
    key = parse_secret(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def new_secret(size: int = 24) -> str:
    """A fresh `whsec_` secret for a new endpoint (the spec asks for at least 24 random bytes)."""
    if size < 24:
        raise ValueError("a webhook secret needs at least 24 bytes")
    return SECRET_PREFIX + base64.b64encode(os.urandom(size)).decode("ascii")


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with every active secret (rotation sends both).

    `msg_id` stays the same on every retry and replay of a message (the receiver's idempotency key); the
    timestamp is the attempt's, so a receiver's tolerance window bounds replays of captured requests.
    """
    if not secrets:
        raise ValueError("signing needs at least one secret")
    if "." in msg_id or not msg_id or len(msg_id) > MAX_ID_CHARS:
        raise ValueError("a webhook id is 1-128 characters without '.' (the signed content is dot-delimited)")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets),
        "content-type": "application/json",
    }


class WebhookVerifier:
    """Checks deliveries from one partner against its currently active secrets (newest first, order is free)."""

    def __init__(self, secrets: Sequence[str], tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
        if not secrets:
            raise ValueError("a webhook verifier needs at least one active secret")
        self._keys = [parse_secret(s) for s in secrets]
        self._tolerance_s = tolerance_s

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
        seen: Callable[[str], bool] | None = None,
    ) -> VerifiedWebhook:
        """Return the verified delivery or raise `WebhookVerificationError`.

        Checks run cheapest first, and the replay check runs last so an attacker cannot probe which ids exist
        without a valid signature.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id = _required(lowered, "webhook-id")
        raw_timestamp = _required(lowered, "webhook-timestamp")
        signatures = _required(lowered, "webhook-signature")
        if len(msg_id) > MAX_ID_CHARS or not msg_id.isprintable():
            raise WebhookVerificationError(Reason.BAD_ID, "webhook-id is too long or not printable")

        try:
            timestamp = int(raw_timestamp)
        except ValueError:
            raise WebhookVerificationError(Reason.BAD_TIMESTAMP, "webhook-timestamp is not an integer") from None
        current = time.time() if now is None else now
        if timestamp < current - self._tolerance_s:
            raise WebhookVerificationError(
                Reason.TIMESTAMP_TOO_OLD,
                f"timestamp is {int(current - timestamp)} s old; the limit is {self._tolerance_s} s",
            )
        if timestamp > current + self._tolerance_s:
            raise WebhookVerificationError(
                Reason.TIMESTAMP_IN_FUTURE, f"timestamp is {int(timestamp - current)} s ahead of this server's clock"
            )

        offered = [_decode_v1(s) for s in signatures.split()]
        candidates = [sig for sig in offered if sig is not None]
        if not candidates:
            raise WebhookVerificationError(Reason.NO_SIGNATURE, "no v1 signature in webhook-signature")
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._keys]
        # Compare every pair without stopping early, so timing does not tell which secret or signature matched.
        matched = False
        for sig in candidates:
            for want in expected:
                matched |= hmac.compare_digest(sig, want)
        if not matched:
            raise WebhookVerificationError(Reason.SIGNATURE_MISMATCH, "no signature matches an active secret")

        if seen is not None and seen(msg_id):
            raise WebhookVerificationError(Reason.REPLAYED, f"webhook-id {msg_id!r} was already delivered")
        return VerifiedWebhook(msg_id, timestamp, body)


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise WebhookVerificationError(Reason.MISSING_HEADER, f"header {name} is missing or empty")
    return value


def _decode_v1(token: str) -> bytes | None:
    version, _, encoded = token.partition(",")
    if version != "v1" or not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


class RecentDeliveries:
    """Delivery ids this process has answered lately, so a replay is refused at once.

    The database remembers deliveries too, but only once the intake worker has stored the report (acceptance does
    not wait for it) and only while it answers; this window covers the milliseconds before and an outage. A
    replay that escapes both (another replica, the database away) is accepted again and still counts once: the
    submission id is derived from the message.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._size = size

    def __contains__(self, delivery: object) -> bool:
        return delivery in self._seen

    def add(self, source: str, webhook_id: str) -> None:
        self._seen[(source, webhook_id)] = None
        self._seen.move_to_end((source, webhook_id))
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
