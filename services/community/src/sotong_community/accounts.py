"""The city's official SNS accounts: what a valid account is, and the statuses it moves through.

The 2015 plan counts about 150 official accounts run by 115 departments; nobody knew which were still alive.
Each account here has a platform, a handle checked against that platform's own rules, a public https address on
the platform's own host that names the handle (so a typo or a phishing look-alike is refused at registration),
the owning department, its managers, purpose and audience, and a status:

    active ─(audit: no post for 90 days)─▶ dormant ─(a post / an operator)─▶ active
    active | dormant ─merged (into another live account)─▶ merged          (terminal)
    active | dormant ─closed─▶ closed                                         (terminal)

Active and dormant accounts are official: both are in the publishing service's list `sns:official`, so an alert
still reaches a dormant account's followers. Merged and closed accounts are not.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from sotong_community.input_rules import Violations


@dataclass(frozen=True)
class Platform:
    name: str
    handle: re.Pattern[str]
    handle_rule: str
    hosts: frozenset[str]


def _platform(name: str, handle: str, rule: str, *hosts: str) -> Platform:
    return Platform(name, re.compile(handle), rule, frozenset(hosts))


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        _platform("x", r"[A-Za-z0-9_]{1,15}", "1-15 letters, digits or _", "x.com", "twitter.com"),
        _platform(
            "instagram",
            r"(?!.*\.\.)(?!\.)[A-Za-z0-9._]{1,30}(?<!\.)",
            "1-30 letters, digits, _ or . (not first, last or twice in a row)",
            "instagram.com",
        ),
        _platform(
            "threads",
            r"(?!.*\.\.)(?!\.)[A-Za-z0-9._]{1,30}(?<!\.)",
            "1-30 letters, digits, _ or . (not first, last or twice in a row)",
            "threads.net",
            "threads.com",
        ),
        _platform("facebook", r"[A-Za-z0-9.]{5,50}", "5-50 letters, digits or .", "facebook.com"),
        _platform("youtube", r"@?[A-Za-z0-9._-]{3,30}", "3-30 letters, digits, _, - or . (an @handle)", "youtube.com"),
        _platform("naver_blog", r"[a-z0-9_-]{5,20}", "5-20 lower-case letters, digits, _ or -", "blog.naver.com"),
        _platform("kakao_channel", r"_[A-Za-z0-9]{4,12}", "_ and 4-12 letters or digits", "pf.kakao.com"),
    )
}

ACTIVE, DORMANT, MERGED, CLOSED = "active", "dormant", "merged", "closed"
STATUSES = (ACTIVE, DORMANT, MERGED, CLOSED)
LIVE = frozenset({ACTIVE, DORMANT})
# Which statuses each status may be reached from (an operator's change; the audit only does active -> dormant).
REACHABLE_FROM: dict[str, frozenset[str]] = {
    ACTIVE: frozenset({DORMANT}),
    DORMANT: frozenset({ACTIVE}),
    MERGED: LIVE,
    CLOSED: LIVE,
}
UPDATABLE = (
    "handle",
    "url",
    "department",
    "department_name",
    "managers",
    "purpose",
    "audience",
    "publishing_target",
    "district_code",
    "language",
)
OFFICIAL_LIST = "sns:official"
_DEPARTMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TARGET = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
MAX_URL = 300
MAX_PURPOSE = 500
MAX_MANAGERS = 20


def in_directory(status: str) -> bool:
    """Whether an account in this status is a target of the publishing service's official accounts."""
    return status in LIVE


def transition_problem(current: str, wanted: str) -> str | None:
    """Why `current` cannot become `wanted` (None when it can, or when nothing changes)."""
    if current == wanted:
        return None
    if current not in REACHABLE_FROM[wanted]:
        return f"a {current} account cannot become {wanted}"
    return None


def canonical_handle(platform: str, handle: str) -> str:
    """Handles are case-insensitive on every platform here; the registry refuses a second account per handle."""
    return handle.lstrip("@").lower() if platform == "youtube" else handle.lower()


def check_platform(v: Violations, field: str, value: str) -> str:
    if value not in PLATFORMS:
        v.add(field, f"{field} must be one of {', '.join(sorted(PLATFORMS))}")
    return value


def check_handle(v: Violations, field: str, platform: str, value: str) -> str:
    rules = PLATFORMS.get(platform)
    if not value:
        v.add(field, f"{field} must not be empty")
    elif rules is not None and not rules.handle.fullmatch(value):
        v.add(field, f"{field} is not a valid {platform} handle: {rules.handle_rule}")
    return value


def check_url(v: Violations, field: str, platform: str, handle: str, value: str) -> str:
    """An https address on the platform's own host (or a subdomain such as www. or m.) whose path names the handle."""
    rules = PLATFORMS.get(platform)
    if not value:
        v.add(field, f"{field} must not be empty")
        return value
    if len(value) > MAX_URL or any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        v.add(field, f"{field} must be one address without spaces, at most {MAX_URL} characters")
        return value
    try:
        parts = urllib.parse.urlsplit(value)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        v.add(field, f"{field} is not a valid URL")
        return value
    if parts.scheme != "https":
        v.add(field, f"{field} must be an https address")
    elif parts.username or parts.password or port not in (None, 443):
        v.add(field, f"{field} must not carry credentials or a port")
    elif rules is not None and not any(host == h or host.endswith("." + h) for h in rules.hosts):
        v.add(field, f"{field} must be on {' or '.join(sorted(rules.hosts))} for a {platform} account")
    elif rules is not None and handle and canonical_handle(platform, handle) not in _path_names(parts.path):
        v.add(field, f"{field} must name the handle {handle!r} in its path")
    return value


def _path_names(path: str) -> set[str]:
    segments = [urllib.parse.unquote(s) for s in path.split("/") if s]
    return {s.lstrip("@").lower() for s in segments} | {s.lower() for s in segments}


def check_department(v: Violations, field: str, value: str) -> str:
    if not _DEPARTMENT.fullmatch(value):
        v.add(field, f"{field} must be a department id: lower-case letters, digits and '-' (at most 63)")
    return value


def check_target(v: Violations, field: str, value: str) -> str:
    if value and not _TARGET.fullmatch(value):
        v.add(field, f"{field} must be 1-64 letters, digits, '_', '.', '@' or '-' (the provider's account id)")
    return value


def check_language(v: Violations, field: str, value: str) -> str:
    if value and not _LANGUAGE.fullmatch(value):
        v.add(field, f"{field} must be a language tag such as ko or en")
    return value or "ko"


def check_managers(v: Violations, field: str, values: list[str]) -> list[str]:
    from sotong_common import auth

    if len(values) > MAX_MANAGERS:
        v.add(field, f"{field} must name at most {MAX_MANAGERS} staff members")
        return []
    for index, value in enumerate(values):
        problem = auth.subject_problem(value)
        if problem is not None:
            v.add(f"{field}[{index}]", f"{field}[{index}] must be a staff subject id: {problem}")
    return sorted(set(values))
