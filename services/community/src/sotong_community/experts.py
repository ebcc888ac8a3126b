"""The SNS expert network (task 6 of the plan): domestic and international experts the city consults, what makes
an entry valid, and whose consent allows them to be found or invited.

Experts are searched by field and language (an expert matches a search when they list the field and speak the
language). Consent has a purpose and an expiry: past it the expert is neither found nor invited, though their
entry stays until it is purged, so a renewed consent brings them back.
"""

from __future__ import annotations

import re
from datetime import datetime

from sotong_community.input_rules import Violations

_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}")
_FIELD = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_MAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_LIST = 10


def check_country(v: Violations, field: str, value: str) -> str:
    if not _COUNTRY.fullmatch(value):
        v.add(field, f"{field} must be an ISO 3166-1 alpha-2 code such as KR or US")
    return value


def check_languages(v: Violations, field: str, values: list[str], *, required: bool = True) -> list[str]:
    if required and not values:
        v.add(field, f"{field} must list at least one language")
    if len(values) > MAX_LIST:
        v.add(field, f"{field} must list at most {MAX_LIST}")
    for index, value in enumerate(values[:MAX_LIST]):
        if not _LANGUAGE.fullmatch(value):
            v.add(f"{field}[{index}]", f"{field}[{index}] must be an ISO 639-1 code such as ko or en")
    return sorted(set(values))


def check_fields(v: Violations, field: str, values: list[str], *, required: bool = True) -> list[str]:
    if required and not values:
        v.add(field, f"{field} must list at least one field")
    if len(values) > MAX_LIST:
        v.add(field, f"{field} must list at most {MAX_LIST}")
    for index, value in enumerate(values[:MAX_LIST]):
        if not _FIELD.fullmatch(value):
            v.add(f"{field}[{index}]", f"{field}[{index}] must be lower-case letters, digits and '-'")
    return sorted(set(values))


def check_email(v: Violations, field: str, value: str) -> str:
    if not _MAIL.fullmatch(value):
        v.add(field, f"{field} must be a mail address")
    return value


def in_force(expires_at: datetime, at: datetime) -> bool:
    return expires_at > at


def matches(fields: list[str], languages: list[str], field: str, language: str) -> bool:
    return (not field or field in fields) and (not language or language in languages)
