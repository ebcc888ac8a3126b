"""What citizens and staff may send: text lengths, ids, request ids, districts. Each rule names its field.

Every RPC checks its input here before touching the database, so a bad value is INVALID_ARGUMENT with a
BadRequest field violation (never INTERNAL from a failed cast or insert).
"""

from __future__ import annotations

import functools
import re
import uuid

from sotong_common.errors import FieldViolation
from sotong_common.geo import Seoul

_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")
_SPACE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

MAX_TITLE = 150
MAX_BODY = 10_000
MAX_COMMENT = 3_000
MAX_REASON = 1_000
MAX_NAME = 80
MAX_DESCRIPTION = 2_000
MAX_STATEMENT = 300
MAX_ANSWER = 10_000


@functools.cache
def districts() -> frozenset[str]:
    """The 25 district codes (SIG_CD), loaded once."""
    return frozenset(d.code for d in Seoul.load().districts())


class Violations:
    """Collects every broken rule of one request, so the caller hears about all of them at once."""

    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, field: str, why: str) -> None:
        self.found.append(FieldViolation(field, why))

    def text(self, field: str, value: str, *, required: bool = True, limit: int, single_line: bool = False) -> str:
        cleaned = value.strip()
        if required and not cleaned:
            self.add(field, f"{field} must not be empty")
        elif len(cleaned) > limit:
            self.add(field, f"{field} must be at most {limit} characters")
        elif single_line and ("\n" in cleaned or "\r" in cleaned):
            self.add(field, f"{field} must be one line")
        return cleaned

    def required_id(self, field: str, value: str) -> uuid.UUID:
        """A required UUID (the nil UUID stands in when it is wrong: `raise_if_any` refuses before it is used)."""
        found = self.optional_id(field, value)
        if found is None:
            if not value:
                self.add(field, f"{field} must not be empty")
            return uuid.UUID(int=0)
        return found

    def optional_id(self, field: str, value: str) -> uuid.UUID | None:
        if not value:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            self.add(field, f"{field} must be a UUID")
            return None

    def request_id(self, field: str, value: str) -> str:
        if not _REQUEST_ID.fullmatch(value):
            self.add(field, f"{field} must be 1..64 printable ASCII characters without spaces (an idempotency key)")
        return value

    def district(self, field: str, value: str, *, required: bool = False) -> str:
        if not value:
            if required:
                self.add(field, f"{field} must be a district code (SIG_CD)")
            return ""
        if value not in districts():
            self.add(field, f"{field} {value[:20]!r} is not one of Seoul's 25 district codes (SIG_CD, e.g. 11440)")
        return value

    def space_id(self, field: str, value: str) -> str:
        if not _SPACE_ID.fullmatch(value or "seoul"):
            self.add(field, f"{field} must be lower-case letters, digits and '-' (at most 63)")
        return value or "seoul"

    def category(self, field: str, value: str) -> str:
        if value and not _CATEGORY.fullmatch(value):
            self.add(field, f"{field} must be lower-case letters, digits and '-' (at most 63)")
        return value

    def page_size(self, field: str, value: int, default: int = 50, limit: int = 200) -> int:
        if value < 0 or value > limit:
            self.add(field, f"{field} must be between 0 and {limit}")
        return value or default

    def raise_if_any(self) -> None:
        from sotong_common.errors import InvalidArgument

        if self.found:
            raise InvalidArgument(self.found)
