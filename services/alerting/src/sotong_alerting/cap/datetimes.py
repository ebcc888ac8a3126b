"""CAP 1.2 date-times: always with a numeric offset, never "Z", and UTC written as "-00:00".

CAP 1.2 section 3.3.2 ("dateTime Data Type"): values take the form "2002-05-24T16:49:00-07:00";
alphabetic time zone designators such as "Z" MUST NOT be used, and the time zone for UTC MUST be represented
as "-00:00". The XSD pattern cannot say the last part (and, through a bug in its character class "[-,+]",
even lets a comma through), so the rules live here.
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


def cap_datetime_problem(text: str) -> str | None:
    """Why `text` is not a CAP 1.2 date-time, or None when it is one."""
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
    if match["sign"] == "+" and match["hh"] == "00" and match["mm"] == "00":
        return f"date-time {text!r} writes UTC as +00:00; CAP 1.2 requires -00:00"
    if int(match["hh"]) > 14 or int(match["mm"]) > 59:
        return f"date-time {text!r} has an impossible time zone offset"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"date-time {text!r} is not a real calendar date and time"
    return None


def parse_cap_datetime(text: str) -> datetime:
    """Read a CAP date-time into an aware datetime; ValueError with the reason when it is not one."""
    problem = cap_datetime_problem(text)
    if problem is not None:
        raise ValueError(problem)
    parsed = datetime.fromisoformat(text)
    if parsed.utcoffset() == timedelta(0):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_seoul(moment: datetime) -> datetime:
    """The same instant on Seoul's wall clock, for texts people read."""
    return moment.astimezone(SEOUL)
