"""CAP 1.2 date-times: always with a numeric offset, never "Z", and UTC written as "-00:00".

CAP 1.2 section 3.3.2 ("dateTime Data Type"): values take the form "2002-05-24T16:49:00-07:00";
alphabetic time zone designators such as "Z" MUST NOT be used, and the time zone for UTC MUST be represented
as "-00:00". The XSD pattern cannot say the last part (and, through a bug in its character class "[-,+]",
even lets a comma through), so the rules live here.

Real feeds write UTC as "+00:00" (the widely used Google CAP library accepts it and writes it itself), and the
instant is unambiguous, so on input it is a warning, not a refusal: dropping a real earthquake alert over the
sign of a zero offset would be the wrong trade. `strict=True` keeps the letter of the standard (`sotong-cap
validate --strict`). What Sotong writes is always "-00:00". "Z" and other letters stay refused: the standard
forbids them outright.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

SEOUL = timezone(timedelta(hours=9), "KST")
"""Seoul's time zone for texts people read. A fixed +09:00 is exact (Korea has had no daylight saving since
1988) and, unlike zoneinfo's "Asia/Seoul", needs no tz database in slim container images."""

_CAP_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<sign>[-+])(?P<hh>\d{2}):(?P<mm>\d{2})$"
)


def format_cap_datetime(moment: datetime) -> str:
    """Write an aware datetime the way CAP requires (seconds precision, numeric offset, UTC as -00:00).

    Naive datetimes are refused: guessing a zone for a disaster alert's expiry is how alerts end an hour
    early or late.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"CAP date-times need a time zone; got naive {moment.isoformat()}")
    text = moment.replace(microsecond=0).isoformat()
    if offset == timedelta(0):
        text = text[: -len("+00:00")] + "-00:00"
    return text


def cap_datetime_problem(text: str, *, strict: bool = False) -> str | None:
    """Why `text` is not a CAP 1.2 date-time, or None when it is one (UTC as +00:00 only refused when strict)."""
    value = text.strip()
    if value != text:
        return f"date-time {text!r} has surrounding whitespace"
    if value.endswith(("Z", "z")):
        return f"date-time {text!r} uses 'Z'; CAP 1.2 forbids alphabetic time zones (write UTC as -00:00)"
    match = _CAP_DATETIME.match(value)
    if match is None:
        return (
            f"date-time {text!r} is not in the CAP 1.2 form YYYY-MM-DDThh:mm:ss+hh:mm "
            "(seconds, no fraction, numeric offset)"
        )
    if strict and _utc_as_plus(match):
        return f"date-time {text!r} writes UTC as +00:00; CAP 1.2 requires -00:00"
    if int(match["hh"]) > 14 or int(match["mm"]) > 59:
        return f"date-time {text!r} has an impossible time zone offset"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"date-time {text!r} is not a real calendar date and time"
    return None


def cap_datetime_warning(text: str) -> str | None:
    """What a reader should hear about a date-time that is accepted but not as CAP 1.2 prescribes."""
    match = _CAP_DATETIME.match(text)
    if match is not None and _utc_as_plus(match):
        return f"date-time {text!r} writes UTC as +00:00; CAP 1.2 prescribes -00:00 (accepted; refused with strict)"
    return None


def _utc_as_plus(match: re.Match[str]) -> bool:
    return match["sign"] == "+" and match["hh"] == "00" and match["mm"] == "00"


def parse_cap_datetime(text: str, *, strict: bool = False) -> datetime:
    """Read a CAP date-time into an aware datetime; ValueError with the reason when it is not one."""
    problem = cap_datetime_problem(text, strict=strict)
    if problem is not None:
        raise ValueError(problem)
    parsed = datetime.fromisoformat(text)
    if parsed.utcoffset() == timedelta(0):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_seoul(moment: datetime) -> datetime:
    """The same instant on Seoul's wall clock, for texts people read."""
    return moment.astimezone(SEOUL)
