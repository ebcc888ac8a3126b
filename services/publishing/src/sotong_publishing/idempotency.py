"""Idempotency keys: one per (message, channel, target), derived, never minted.

`dispatch_id` is unique per (alert or message, channel), so `dispatch_id:target` names one delivery. Deriving the
key (rather than drawing a random one per attempt) is what makes a retry, a crash-and-redeliver, a DLQ replay or a
fallback provider's attempt the *same* delivery to the provider's dedup. Batch APIs take a base key and append
`:<target>` themselves (push multicast, SENS SMS/KakaoTalk), so the base is the bare dispatch id and the
per-recipient key comes out identical to the one a single send would use.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+\-]")


def base_key(dispatch_id: str) -> str:
    """The key batch APIs extend with `:<target>`."""
    return _UNSAFE.sub("_", dispatch_id)


def delivery_key(dispatch_id: str, target: str) -> str:
    """The key of one delivery, as sent in an Idempotency-Key header or as a batch item's key."""
    return f"{base_key(dispatch_id)}:{target}"


def message_id(dispatch_id: str, domain: str) -> str:
    """Mail's idempotency key is its Message-ID (the relay keys each recipient as `<Message-ID>:<address>`)."""
    return f"<{base_key(dispatch_id)}@{domain}>"
