"""Partner notifications: merchant changes sent to partner platforms as Standard Webhooks.

Each `partner.merchant-changed.v1` event becomes one delivery per active endpoint that wants its type and whose
platform the merchant consented to (a withdrawal of consent is still told to the platform it withdraws from, so
it can take the merchant down). A delivery's webhook-id is derived from the event and the endpoint: the same on
every attempt and every replay, so the receiver's dedup holds.

Attempts follow the spec's example schedule (https://www.standardwebhooks.com/, "Deliverability and
reliability"): at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the previous failure,
each delay with ±10 % random jitter so endpoints recovering from an outage are not hit in lockstep; a
`Retry-After` answer is a floor. 2xx delivers; 410 Gone disables the endpoint (and discards what is queued for
it); anything else (3xx, 4xx, 5xx, timeouts, refused connections) is retried. When the schedule is exhausted the
delivery is dead: the dead-letter queue, replayed with `ReplayWebhookDeliveries` or `sotong-partner webhooks
replay`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sotong.partner.v1 import partner_events_pb2 as ev

SCHEDULE_S: tuple[float, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
"""The delay before each attempt (attempt 1 at once); len = the number of attempts."""
JITTER = 0.10
RETRY_AFTER_CAP_S = 24 * 3600
_NAMESPACE = uuid.UUID("b2d5f0a8-1c47-4e39-8a6b-73e0d4c2f915")

TYPES: dict[int, str] = {
    ev.MERCHANT_CHANGE_REGISTERED: "merchant.registered",
    ev.MERCHANT_CHANGE_VERIFIED: "merchant.verified",
    ev.MERCHANT_CHANGE_REJECTED: "merchant.rejected",
    ev.MERCHANT_CHANGE_SUSPENDED: "merchant.suspended",
    ev.MERCHANT_CHANGE_REINSTATED: "merchant.reinstated",
    ev.MERCHANT_CHANGE_CONSENT_CHANGED: "merchant.consent_changed",
}
EVENT_TYPES = frozenset(TYPES.values())

DELIVERED = "delivered"
GONE = "gone"
RETRY = "retry"


def event_type(change: int) -> str:
    found = TYPES.get(change)
    if found is None:
        raise ValueError(f"merchant change {change} has no webhook type")
    return found


def message_id(event_id: str, endpoint_id: str) -> str:
    return "msg_" + uuid.uuid5(_NAMESPACE, f"{event_id}|{endpoint_id}").hex


def wants(endpoint_platform: str, endpoint_types: Sequence[str], event: ev.MerchantChanged, kind: str) -> bool:
    """Whether an endpoint receives this event (its types, and the merchant's consent to its platform)."""
    if endpoint_types and kind not in endpoint_types:
        return False
    consented = any(c.platform == endpoint_platform and c.granted for c in event.consents)
    withdrawn_here = event.change == ev.MERCHANT_CHANGE_CONSENT_CHANGED and event.platform == endpoint_platform
    return consented or withdrawn_here


def payload(event: ev.MerchantChanged, kind: str) -> bytes:
    """The body: `{type, timestamp, data}` as the spec recommends; never personal data."""
    data = {
        "merchant_id": event.merchant_id,
        "slug": event.slug,
        "name": event.name,
        "kind": ev.MerchantKind.Name(event.kind).removeprefix("MERCHANT_KIND_").lower(),
        "status": ev.MerchantStatus.Name(event.status).removeprefix("MERCHANT_STATUS_").lower(),
        "street_code": event.street_code or None,
        "feed_group": event.feed_group,
        "homepage_url": event.homepage_url,
        "consents": {c.platform: c.granted for c in event.consents},
        "version": event.version,
    }
    if event.platform:
        data["platform"] = event.platform
    changed_at = event.changed_at.ToDatetime().isoformat(timespec="milliseconds") + "Z"
    return json.dumps(
        {"type": kind, "timestamp": changed_at, "data": data}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def outcome(status: int | None) -> str:
    """What an attempt's answer means (None: no answer: timeout, refused, reset)."""
    if status is not None and 200 <= status < 300:
        return DELIVERED
    if status == 410:
        return GONE
    return RETRY


def next_delay(
    attempts_made: int, scale: float = 1.0, retry_after_s: float | None = None, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones, or None when the schedule is over."""
    if attempts_made >= len(SCHEDULE_S):
        return None
    base = SCHEDULE_S[attempts_made] * scale
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after_s is not None:
        jittered = max(jittered, min(retry_after_s, RETRY_AFTER_CAP_S) * min(scale, 1.0))
    return max(0.0, jittered)


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date), if any."""
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class EndpointUrl:
    url: str


def check_endpoint_url(url: str, insecure_hosts: frozenset[str]) -> str | None:
    """Why `url` cannot be an endpoint, or None: https only (http for the configured local hosts), no userinfo."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "url is not a valid URL"
    if len(url) > 500 or any(c.isspace() or ord(c) < 0x20 for c in url):
        return "url must be at most 500 characters without spaces"
    if parts.username or parts.password or not parts.hostname:
        return "url must name a host and carry no user name or password"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in insecure_hosts:
        return None
    return "url must be https (webhooks carry merchants' data)"
