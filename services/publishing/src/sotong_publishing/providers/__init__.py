"""One adapter per channel kind, each speaking its provider's real API over HTTP (or SMTP).

Every adapter implements `Provider` (`base.py`): `send(job, targets)` delivers one message to up to
`max_batch` targets and answers one `ItemResult` per target, or raises `TransientError` / `PermanentError`
for the whole request. The same adapter class serves the primary and the fallback provider of a channel; only
the base URL differs, and production points them at the real endpoints through configuration.
"""

from sotong_publishing.providers.base import (
    ItemResult,
    ItemStatus,
    Job,
    PermanentError,
    Provider,
    TransientError,
)

__all__ = ["ItemResult", "ItemStatus", "Job", "PermanentError", "Provider", "TransientError"]
