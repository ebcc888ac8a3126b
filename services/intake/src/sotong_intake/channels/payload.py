"""Typed access to untrusted JSON, shared by the channel adapters.

Channel payloads are JSON from outside; reading them with `payload["a"]["b"]` turns a malformed request into a
KeyError deep in a handler. These readers instead record a `FieldViolation` with the JSON path and carry on, so
an adapter reports everything wrong with a payload at once, the way submission validation does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sotong_intake.submission import FieldViolation, GeoPoint

KST = timezone(timedelta(hours=9), "KST")
"""Korea Standard Time; Korean systems (응답소, Kakao) write local times without an offset."""


class ChannelPayloadError(ValueError):
    """A channel payload whose structure cannot be mapped; `violations` name the JSON paths."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)


class Reader:
    """Collects violations while reading fields of nested JSON objects."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def raise_if_failed(self) -> None:
        if self.violations:
            raise ChannelPayloadError(self.violations)

    def obj(self, data: Any, key: str, path: str, *, required: bool = False) -> Mapping[str, Any]:
        value = data.get(key) if isinstance(data, Mapping) else None
        if value is None:
            if required:
                self.fail(path, "is required")
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, "must be an object")
            return {}
        return value

    def text(self, data: Any, key: str, path: str, *, required: bool = False) -> str | None:
        value = data.get(key) if isinstance(data, Mapping) else None
        if value is None or value == "":
            if required:
                self.fail(path, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(path, "must be a string")
            return None
        return str(value)

    def number(self, data: Any, key: str, path: str) -> float | None:
        value = data.get(key) if isinstance(data, Mapping) else None
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.fail(path, "must be a number")
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(path, "must be a number")
            return None
        if not math.isfinite(number):
            self.fail(path, "must be a finite number")
            return None
        return number

    def strings(self, data: Any, key: str, path: str) -> tuple[str, ...]:
        value = data.get(key) if isinstance(data, Mapping) else None
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(path, "must be a list of strings")
            return ()
        return tuple(value)

    def point(self, lat: float | None, lng: float | None, path: str) -> GeoPoint | None:
        """A point only when both coordinates are given; one without the other is a mistake worth reporting."""
        if lat is None and lng is None:
            return None
        if lat is None or lng is None:
            self.fail(path, "needs both latitude and longitude")
            return None
        return GeoPoint(lat, lng)

    def timestamp(self, data: Any, key: str, path: str, *, naive_zone: timezone = KST) -> datetime | None:
        """ISO 8601 or "YYYY-MM-DD HH:MM:SS"; a time without offset is taken in `naive_zone` and kept aware."""
        raw = self.text(data, key, path)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            self.fail(path, "must be an ISO 8601 date-time")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=naive_zone)
        return parsed.astimezone(UTC)
