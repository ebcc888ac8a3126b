"""Rendering pages and fragments: Jinja2 with autoescaping on everything, the words in the person's language.

Citizens' text reaches these templates (reports, comments, evidence spans). Autoescaping is on for every template
and nothing is ever marked safe: a `<script>` or `<img onerror>` in a report is shown as those characters.
The Content-Security-Policy (web.py) forbids inline scripts and scripts from anywhere but the console itself,
and htmx is configured to never evaluate code or run scripts it swaps in, so even a mistake in a template
could not make a citizen's text run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jinja2
from google.protobuf.timestamp_pb2 import Timestamp

from sotong_console import words
from sotong_console.seoulmap import seoul, shade

SEOUL_TZ = timezone(timedelta(hours=9), "KST")


def moment(stamp: Timestamp | datetime | None) -> datetime | None:
    if stamp is None:
        return None
    if isinstance(stamp, datetime):
        return stamp
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def kst(stamp: Timestamp | datetime | None) -> str:
    """A time as the city reads it: Seoul time, to the second."""
    at = moment(stamp)
    return at.astimezone(SEOUL_TZ).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def iso(stamp: Timestamp | datetime | None) -> str:
    at = moment(stamp)
    return at.isoformat() if at else ""


def ago(stamp: Timestamp | datetime | None, language: str, now: datetime | None = None) -> str:
    """How long ago, in whole units a duty officer reads at a glance."""
    at = moment(stamp)
    if at is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - at).total_seconds())
    if seconds < 5:
        return words.say("just_now", language)
    if seconds < 60:
        return words.say("seconds_ago", language, n=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return words.say("minutes_ago", language, n=minutes)
    if minutes < 48 * 60:
        return words.say("hours_ago", language, n=minutes // 60, m=minutes % 60)
    return words.say("days_ago", language, n=minutes // (24 * 60))


MEASURE = re.compile(r"^(?P<used>\d+)/(?P<limit>\d+) (?P<unit>[^,]+)(?:, (?P<kind>.+))?$")
UNITS = {"characters": "자", "EUC-KR bytes": "바이트(EUC-KR)", "weighted characters": "자(가중치)", "items": "개"}


def measure(text: str, language: str) -> str:
    """Alerting's measure of a rendering ("20/78 characters, UCS-2") in the person's language.

    The service writes it in English for every client; a Korean page reads "20/78자, UCS-2". A unit the
    console does not know is left as the service wrote it.
    """
    found = MEASURE.match(text)
    if language != "ko" or found is None or found["unit"] not in UNITS:
        return text
    unit = UNITS[found["unit"]]
    kind = f", {found['kind']}" if found["kind"] else ""
    return f"{found['used']}/{found['limit']}{'' if unit.startswith('자') else ' '}{unit}{kind}"


class Pages:
    """The templates of the console, rendered in one language per request."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("sotong_console", "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(kst=kst, iso=iso, seoul=seoul, shade=shade)

    def render(self, template: str, language: str, **context: Any) -> str:
        def t(key: str, **values: object) -> str:
            return words.say(key, language, **values)

        def n(table: str, value: str) -> str:
            return words.name(table, value, language)

        since: Callable[[Timestamp | datetime | None], str] = lambda stamp: ago(stamp, language)  # noqa: E731

        def measured(text: str) -> str:
            return measure(text, language)

        return self._env.get_template(template).render(lang=language, t=t, n=n, ago=since, measured=measured, **context)
